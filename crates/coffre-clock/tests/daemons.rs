//! Real daemons, as issue 4 asks: one `chronyd` serving NTP on 127.0.0.1 (`local stratum 10`,
//! serving this host's clock, `-x` so it never touches it) and one `gpsd` fed NMEA over UDP by
//! the test, plus the arbiter's quartz. The arbiter must synchronise from both, then reject
//! the GPS as a falseticker once its feed lies by ten minutes: NTP and the disciplined quartz
//! are 2 of 3 voters. The feed is this host's clock, so every honest source agrees by
//! construction.
//!
//! Missing `chronyd`/`gpsd`: with `COFFRE_REQUIRE_DAEMONS=1` the tests fail, otherwise they
//! print a notice and pass vacuously. Every wait is bounded; daemons are killed on drop.

use coffre_clock::gps::{GpsConfig, GpsdSource};
use coffre_clock::ntp::{NtpConfig, SntpSource};
use coffre_clock::{
    query_status, Arbiter, ArbiterConfig, Clock, ClockError, ClockEventKind, MonotonicClock,
    Source, SourceError, SourceOutcome, StatusQuery, SystemMonotonic, TimeSource, TimeStatus,
};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TEN_MINUTES_NS: i64 = 600_000_000_000;

fn find_binary(name: &str) -> Option<String> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|p| Path::new(p).exists())
}

/// The daemons' paths, or `None` (after a loud notice) when they are missing and not required.
fn daemons() -> Option<(String, String)> {
    match (find_binary("chronyd"), find_binary("gpsd")) {
        (Some(c), Some(g)) => Some((c, g)),
        _ if std::env::var("COFFRE_REQUIRE_DAEMONS").as_deref() == Ok("1") => {
            panic!("chronyd and gpsd are required (COFFRE_REQUIRE_DAEMONS=1): apt-get install chrony gpsd")
        }
        _ => {
            eprintln!(
                "\n*** NOTICE: chronyd or gpsd missing; real-daemon clock tests NOT RUN ***\n"
            );
            None
        }
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A child process killed and reaped on drop.
struct Daemon {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chronyd(binary: &str) -> (Daemon, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let conf = dir.path().join("chrony.conf");
    let d = dir.path().display();
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 10\ncmdport 0\n\
             driftfile {d}/drift\npidfile {d}/chronyd.pid\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(binary);
    // -x: never touch the host clock. -d: foreground, log to stderr.
    cmd.arg("-x").arg("-d");
    if running_as_root() {
        // Stay root: the unprivileged _chrony user cannot read a private temp dir.
        cmd.args(["-u", "root"]);
    } else {
        cmd.arg("-U");
    }
    cmd.arg("-f").arg(&conf).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd.spawn().expect("spawn chronyd");
    (Daemon { child, _dir: dir }, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// gpsd reading NMEA from a UDP port; returns the daemon, its JSON TCP address and the UDP
/// address to feed.
fn start_gpsd(binary: &str) -> (Daemon, SocketAddr, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let (tcp, udp) = (free_tcp_port(), free_udp_port());
    let child = Command::new(binary)
        .args(["-N", "-n", "-b", "-S", &tcp.to_string(), &format!("udp://127.0.0.1:{udp}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gpsd");
    (
        Daemon { child, _dir: dir },
        SocketAddr::from(([127, 0, 0, 1], tcp)),
        SocketAddr::from(([127, 0, 0, 1], udp)),
    )
}

fn nmea(body: &str) -> String {
    let sum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{sum:02X}\r\n")
}

/// RMC and ZDA for `unix_ns`, with correct checksums.
fn sentences(unix_ns: u64) -> String {
    let c = coffre_clock::CivilTime::from_unix_ns(unix_ns);
    let hms = format!("{:02}{:02}{:02}.{:02}", c.hour, c.minute, c.second, c.nanos / 10_000_000);
    let rmc = format!(
        "GPRMC,{hms},A,4851.000,N,00221.000,E,0.0,0.0,{:02}{:02}{:02},,,A",
        c.day,
        c.month,
        c.year % 100
    );
    let zda = format!("GPZDA,{hms},{:02},{:02},{:04},00,00", c.day, c.month, c.year);
    nmea(&rmc) + &nmea(&zda)
}

/// Sends the host's time (plus an adjustable lie) to gpsd four times a second.
struct Feeder {
    stop: Arc<AtomicBool>,
    lie_ns: Arc<AtomicI64>,
    thread: Option<JoinHandle<()>>,
}

impl Feeder {
    fn start(to: SocketAddr) -> Feeder {
        let stop = Arc::new(AtomicBool::new(false));
        let lie_ns = Arc::new(AtomicI64::new(0));
        let (s, l) = (Arc::clone(&stop), Arc::clone(&lie_ns));
        let thread = std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            while !s.load(Ordering::SeqCst) {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
                let t = now.checked_add_signed(l.load(Ordering::SeqCst)).unwrap();
                let _ = socket.send_to(sentences(t).as_bytes(), to);
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        Feeder { stop, lie_ns, thread: Some(thread) }
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn system_now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Samples `source` until it answers (daemon start-up), at most `within`.
fn wait_for(
    source: &mut dyn TimeSource,
    within: Duration,
) -> Result<coffre_clock::Sample, SourceError> {
    let mono = SystemMonotonic::new();
    let start = Instant::now();
    loop {
        match source.sample(&mono) {
            Ok(s) => return Ok(s),
            Err(e) if start.elapsed() >= within => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn ntp_config() -> NtpConfig {
    NtpConfig { timeout: Duration::from_millis(500), ..NtpConfig::default() }
}

fn gps_config() -> GpsConfig {
    GpsConfig { read_timeout: Duration::from_secs(2), ..GpsConfig::default() }
}

#[test]
fn sntp_client_reads_chronyd_time_within_its_bound() {
    let Some((chronyd, _)) = daemons() else { return };
    let (_daemon, addr) = start_chronyd(&chronyd);
    let mut source = SntpSource::new(addr, ntp_config());
    let before = system_now_ns();
    let sample = wait_for(&mut source, Duration::from_secs(10)).expect("chronyd answers");
    let after = system_now_ns();
    // chronyd serves this host's clock: the interval must meet [before, after].
    assert!(sample.earliest_ns() <= after && before <= sample.latest_ns(), "{sample:?}");
    assert!(sample.uncertainty_ns() < 50_000_000, "loopback NTP is tight: {sample:?}");
}

#[test]
fn sntp_client_times_out_on_a_port_nobody_answers() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut source = SntpSource::new(silent.local_addr().unwrap(), ntp_config());
    let start = Instant::now();
    let result = source.sample(&SystemMonotonic::new());
    assert!(matches!(result, Err(SourceError::Timeout { .. })), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn gpsd_source_reads_the_fed_nmea_time() {
    let Some((_, gpsd)) = daemons() else { return };
    let (_daemon, json, feed) = start_gpsd(&gpsd);
    let _feeder = Feeder::start(feed);
    let mut source = GpsdSource::new(json, gps_config());
    let sample = wait_for(&mut source, Duration::from_secs(10)).expect("gpsd reports TPV");
    let now = system_now_ns();
    let mono_now = SystemMonotonic::new().now_ns();
    let carried = sample.at(mono_now, 50);
    assert!(carried.earliest_ns() <= now && now <= carried.latest_ns(), "{carried:?} vs {now}");
}

fn outcome_of(arbiter: &Arbiter, kind: Source) -> SourceOutcome {
    arbiter.sources().into_iter().find(|s| s.kind == kind).map(|s| s.outcome).unwrap()
}

/// One chronyd, one gpsd fed by a [`Feeder`], both answering; the gpsd feed starts `lie_ns`
/// off.
struct Daemons {
    _ntp: Daemon,
    _gpsd: Daemon,
    ntp: SocketAddr,
    json: SocketAddr,
    feeder: Feeder,
}

fn start_one_of_each(lie_ns: i64) -> Option<Daemons> {
    let (chronyd, gpsd) = daemons()?;
    let (ntp_daemon, ntp) = start_chronyd(&chronyd);
    let (gpsd_daemon, json, feed) = start_gpsd(&gpsd);
    let feeder = Feeder::start(feed);
    feeder.lie_ns.store(lie_ns, Ordering::SeqCst);
    wait_for(&mut SntpSource::new(ntp, ntp_config()), Duration::from_secs(10)).expect("chronyd up");
    wait_for(&mut GpsdSource::new(json, gps_config()), Duration::from_secs(10)).expect("gpsd up");
    Some(Daemons { _ntp: ntp_daemon, _gpsd: gpsd_daemon, ntp, json, feeder })
}

fn gps_ntp_arbiter(d: &Daemons) -> Arbiter {
    Arbiter::new(ArbiterConfig::default(), Arc::new(SystemMonotonic::new()))
        .with_source(GpsdSource::new(d.json, gps_config()), Duration::ZERO)
        .with_source(SntpSource::new(d.ntp, ntp_config()), Duration::ZERO)
}

#[test]
fn arbiter_synchronises_from_chronyd_and_gpsd_then_rejects_a_gps_lying_by_ten_minutes() {
    let Some(d) = start_one_of_each(0) else { return };
    let arbiter = gps_ntp_arbiter(&d);

    // GPS and NTP agree first (the quartz cannot vote before it is disciplined), then the
    // quartz joins them.
    let all_agree =
        |a: &Arbiter| a.sources().iter().all(|s| matches!(s.outcome, SourceOutcome::Agreed(_)));
    let mut polls = 0;
    while !all_agree(&arbiter) {
        assert!(polls < 10, "no agreement from the daemons: {:?}", arbiter.sources());
        arbiter.poll();
        polls += 1;
    }
    let stamp = arbiter.stamp().unwrap();
    let now = system_now_ns();
    let ts = stamp.timestamp();
    assert_eq!((stamp.quorum(), stamp.voters()), (2, 3), "{stamp:?}");
    assert_eq!(ts.status(), TimeStatus::Synchronized);
    for kind in [Source::Gps, Source::Ntp, Source::Quartz] {
        assert!(ts.agreed().contains(kind), "{kind:?} in {ts:?}");
    }
    assert!(ts.earliest_ns() <= now && now <= ts.latest_ns() + 1_000_000, "{ts:?} vs {now}");

    d.feeder.lie_ns.store(-TEN_MINUTES_NS, Ordering::SeqCst);
    let mut polls = 0;
    while !matches!(outcome_of(&arbiter, Source::Gps), SourceOutcome::Falseticker(_)) {
        assert!(polls < 10, "lying GPS not rejected: {:?}", arbiter.sources());
        arbiter.poll();
        polls += 1;
    }
    let lie = outcome_of(&arbiter, Source::Gps).sample().unwrap();
    let truth = system_now_ns();
    assert!(lie.latest_ns() + 500_000_000_000 < truth, "gpsd relayed the lie: {lie:?}");
    // Several stamps: each Synchronized from NTP + quartz, each containing the host's time.
    for _ in 0..3 {
        arbiter.poll();
        let before = system_now_ns();
        let stamp = arbiter.stamp().unwrap();
        let after = system_now_ns();
        let ts = stamp.timestamp();
        assert_eq!(ts.status(), TimeStatus::Synchronized, "{stamp:?}");
        assert!(ts.rejected().contains(Source::Gps) && !ts.agreed().contains(Source::Gps));
        assert!(ts.agreed().contains(Source::Ntp) && ts.agreed().contains(Source::Quartz));
        // The stamp is taken between the two readings of the host clock.
        assert!(ts.earliest_ns() <= after && before <= ts.latest_ns() + 1_000_000, "{ts:?}");
        assert!(matches!(outcome_of(&arbiter, Source::Gps), SourceOutcome::Falseticker(_)));
    }
    assert!(arbiter.events().iter().any(|e| matches!(
        &e.kind,
        ClockEventKind::Falseticker { source, .. } if source.starts_with("gpsd")
    )));
}

#[test]
fn chronyd_and_a_gpsd_lying_from_the_start_refuse_to_stamp() {
    // Before any agreement the quartz has nothing to say: GPS and NTP disagreeing are a tie,
    // and no record may be dated.
    let Some(d) = start_one_of_each(-TEN_MINUTES_NS) else { return };
    let arbiter = gps_ntp_arbiter(&d);
    for _ in 0..3 {
        arbiter.poll();
        let refused = arbiter.stamp().unwrap_err();
        let ClockError::Unsynchronized { reason } = refused else { panic!("{refused:?}") };
        assert!(reason.contains("disagree"), "{reason}");
    }
    assert!(matches!(outcome_of(&arbiter, Source::Gps), SourceOutcome::NoMajority(_)));
    assert!(matches!(outcome_of(&arbiter, Source::Ntp), SourceOutcome::NoMajority(_)));
    assert_eq!(outcome_of(&arbiter, Source::Quartz), SourceOutcome::NotPolled);
    // The feed turns honest: synchronized.
    d.feeder.lie_ns.store(0, Ordering::SeqCst);
    let mut polls = 0;
    while arbiter.now().is_err() {
        assert!(polls < 10, "no agreement after the feed turned honest: {:?}", arbiter.sources());
        arbiter.poll();
        polls += 1;
    }
    assert_eq!(arbiter.now().unwrap().status(), TimeStatus::Synchronized);
}

#[test]
fn status_query_reports_every_source_and_the_stamp() {
    let Some(d) = start_one_of_each(0) else { return };
    let query = StatusQuery {
        ntp: vec![d.ntp.to_string()],
        gpsd: vec![d.json.to_string()],
        ntp_config: ntp_config(),
        gps_config: gps_config(),
        ..StatusQuery::default()
    };
    let report = query_status(&query);
    let text = report.to_string();
    // GPS, NTP and the (one-shot, so never disciplined) quartz.
    assert_eq!(report.sources.len(), 3, "{text}");
    assert!(report.stamp.is_ok(), "{text}");
    assert!(text.contains("Synchronized") && text.contains(&format!("ntp {}", d.ntp)), "{text}");
    assert!(text.contains("quartz") && text.contains("quorum 2/2"), "{text}");
    assert!(Arbiter::now(&Arbiter::new(
        ArbiterConfig::default(),
        Arc::new(SystemMonotonic::new())
    ))
    .is_err());
}
