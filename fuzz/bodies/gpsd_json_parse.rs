//! Target `gpsd_json_parse`: gpsd's JSON report lines (`parse_gpsd_line`), one line at a
//! time. An ERROR report's message is capped at 200 characters.

use coffre_clock::gps::{parse_gpsd_line, GpsdReport};

/// Lines parsed per input at most.
const LINES_MAX: usize = 64;

/// The fuzz body.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n').take(LINES_MAX) {
        if let GpsdReport::Error(message) = parse_gpsd_line(line) {
            assert!(message.chars().count() <= 200, "gpsd error message not capped");
        }
    }
}

/// Seeds: TPV, TOFF, PPS, ERROR and VERSION reports.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let lines: [(&str, &str); 5] = [
        (
            "tpv",
            r#"{"class":"TPV","device":"/dev/ttyS0","mode":3,"time":"2026-11-30T08:50:39.790Z","lat":48.85}"#,
        ),
        (
            "toff",
            r#"{"class":"TOFF","device":"/dev/ttyS0","real_sec":1796028639,"real_nsec":0,"clock_sec":1796028639,"clock_nsec":1200}"#,
        ),
        (
            "pps",
            r#"{"class":"PPS","device":"/dev/pps0","real_sec":1796028640,"real_nsec":0,"clock_sec":1796028639,"clock_nsec":999999000,"precision":-20}"#,
        ),
        ("error", r#"{"class":"ERROR","message":"unrecognized request"}"#),
        (
            "version",
            r#"{"class":"VERSION","release":"3.25","rev":"3.25","proto_major":3,"proto_minor":15}"#,
        ),
    ];
    let mut out: Vec<(String, Vec<u8>)> =
        lines.iter().map(|(n, l)| (n.to_string(), format!("{l}\n").into_bytes())).collect();
    let stream: String = lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    out.push(("stream".to_string(), stream.into_bytes()));
    out
}
