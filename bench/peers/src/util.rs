//! Small helpers shared by the cells: argument parsing, payloads, percentiles, memory figures,
//! and the one-line result protocol between a cell (child process) and the orchestrator.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `key=value` arguments of a cell.
pub struct CellArgs(BTreeMap<String, String>);

impl CellArgs {
    /// Parses `key=value` words.
    pub fn parse(words: &[String]) -> Result<CellArgs, String> {
        let mut map = BTreeMap::new();
        for w in words {
            let (k, v) = w.split_once('=').ok_or_else(|| format!("expected key=value, got {w}"))?;
            map.insert(k.to_string(), v.to_string());
        }
        Ok(CellArgs(map))
    }

    /// A string argument.
    pub fn str(&self, key: &str) -> Result<&str, String> {
        self.0.get(key).map(String::as_str).ok_or_else(|| format!("missing argument {key}"))
    }

    /// A numeric argument.
    pub fn num<T: std::str::FromStr>(&self, key: &str) -> Result<T, String> {
        self.str(key)?.parse().map_err(|_| format!("argument {key} is not a number"))
    }
}

/// What a cell measured: printed as one `RESULT k=v ...` line on stdout.
#[derive(Default)]
pub struct CellResult(pub BTreeMap<String, f64>);

impl CellResult {
    /// Records one figure.
    pub fn set(&mut self, key: &str, value: f64) -> &mut Self {
        self.0.insert(key.to_string(), value);
        self
    }

    /// The line the orchestrator parses.
    pub fn to_line(&self) -> String {
        let mut s = String::from("RESULT");
        for (k, v) in &self.0 {
            let _ = write!(s, " {k}={v}");
        }
        s
    }

    /// Parses the `RESULT` line out of a child's stdout.
    pub fn from_stdout(out: &str) -> Option<CellResult> {
        let line = out.lines().rev().find(|l| l.starts_with("RESULT"))?;
        let mut r = CellResult::default();
        for word in line.split_whitespace().skip(1) {
            let (k, v) = word.split_once('=')?;
            r.0.insert(k.to_string(), v.parse().ok()?);
        }
        Some(r)
    }

    /// A figure, NaN when the cell did not report it.
    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(f64::NAN)
    }
}

/// Incompressible bytes (xorshift64), different for every seed.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// A small deterministic PRNG for query indexes (no dependency needed).
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `[lo, hi)` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// Value at quantile `q` (0..=1) of sorted samples (nearest rank); NaN if empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Median of unsorted values, ignoring NaN; NaN if none.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A `kB` field of /proc/self/status (VmHWM: peak RSS, VmRSS: current RSS), in bytes.
pub fn proc_status_bytes(field: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return f64::NAN;
    };
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb * 1024.0)
}

/// Coffre's frame length for a payload: 56-byte header plus payload, padded to 8 bytes
/// (mirrors `coffre_log::record::frame_len`, which is crate-private). The raw floor writes
/// frames of exactly this size so it moves the same bytes as Coffre.
pub fn coffre_frame_len(payload_len: usize) -> usize {
    (56 + payload_len).div_ceil(8) * 8
}
