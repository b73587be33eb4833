//! Model-based test: random appends, batches, reopens and reads against a `Vec` model.

mod storage_support;

use coffre_log::{Durability, Log, LogOptions, Preallocation};
use proptest::prelude::*;
use storage_support::small_options;

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<u8>),
    Batch(Vec<Vec<u8>>),
    Reopen,
    Read(u64),
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        6 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => proptest::collection::vec(any::<u8>(), 256..=256),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => payload().prop_map(Op::Append),
        3 => proptest::collection::vec(payload(), 0..12).prop_map(Op::Batch),
        1 => Just(Op::Reopen),
        3 => any::<u64>().prop_map(Op::Read),
    ]
}

fn options(prealloc: u8, periodic: bool) -> LogOptions {
    let mut o = small_options();
    o.preallocation = [Preallocation::None, Preallocation::SetLen, Preallocation::ZeroFill]
        [prealloc as usize % 3];
    if periodic {
        o.durability = Durability::Periodic { interval: std::time::Duration::from_millis(5) };
    }
    o
}

fn check_all(log: &Log, model: &[Vec<u8>]) {
    assert_eq!(log.len(), model.len() as u64);
    for (i, (r, want)) in log.iter(..).zip(model).enumerate() {
        let r = r.unwrap();
        assert_eq!(r.index, i as u64);
        assert_eq!(&r.payload, want, "record {i}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_records_read_back_identically_across_reopens(
        ops in proptest::collection::vec(op(), 1..40),
        prealloc in 0u8..3,
        periodic in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = options(prealloc, periodic);
        let mut log = Log::create(dir.path(), opts.clone()).unwrap();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut last_ts = None;
        for op in ops {
            match op {
                Op::Append(p) => {
                    let r = log.append(&p).unwrap();
                    prop_assert_eq!(r.index, model.len() as u64);
                    prop_assert!(last_ts.is_none_or(|t: u64| r.timestamp.earliest_ns() >= t));
                    last_ts = Some(r.timestamp.earliest_ns());
                    model.push(p);
                }
                Op::Batch(ps) => {
                    let rs = log.append_batch(&ps).unwrap();
                    prop_assert_eq!(rs.len(), ps.len());
                    for (k, r) in rs.iter().enumerate() {
                        prop_assert_eq!(r.index, (model.len() + k) as u64);
                    }
                    model.extend(ps);
                }
                Op::Reopen => {
                    drop(log);
                    let (l, report) = Log::open(dir.path(), opts.clone()).unwrap();
                    prop_assert_eq!(report.records, model.len() as u64);
                    prop_assert_eq!(report.torn_tail, None);
                    log = l;
                    check_all(&log, &model);
                }
                Op::Read(i) => {
                    let len = model.len() as u64;
                    if len > 0 {
                        let i = i % len;
                        let r = log.read(i).unwrap();
                        prop_assert_eq!(&r.payload, &model[i as usize]);
                    }
                    prop_assert!(log.read(len).is_err());
                }
            }
        }
        check_all(&log, &model);
        let root = log.root(log.len()).unwrap();
        drop(log);
        let (log, _) = Log::open(dir.path(), opts).unwrap();
        check_all(&log, &model);
        prop_assert_eq!(log.root(log.len()).unwrap(), root);
    }
}
