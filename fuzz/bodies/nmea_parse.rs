//! Target `nmea_parse`: NMEA 0183 time sentences (`parse_nmea_time`), one line at a time as
//! the GPS source reads them. A time that parses is a Unix time in ns after 2000 (RMC years
//! are 20yy, ZDA years 4 digits).

use coffre_clock::gps::parse_nmea_time;

/// Lines parsed per input at most.
const LINES_MAX: usize = 64;

/// The fuzz body.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.split('\n').take(LINES_MAX) {
        if let Err(e) = parse_nmea_time(line) {
            let _ = e.to_string();
        }
    }
}

/// Seeds: valid RMC and ZDA sentences, a no-fix RMC, and an unrelated sentence.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let lines: [(&str, &str); 4] = [
        ("rmc", "$GPRMC,085039.79,A,4851.0000,N,00221.0000,E,0.0,0.0,301126,,,A*6C\r\n"),
        ("zda", "$GPZDA,085039.79,30,11,2026,00,00*6D\r\n"),
        ("rmc-no-fix", "$GPRMC,085039.79,V,,,,,,,301126,,,N*57\r\n"),
        ("gga", "$GPGGA,085039.79,4851.0000,N,00221.0000,E,1,08,0.9,35.0,M,47.0,M,,*40\r\n"),
    ];
    let mut out: Vec<(String, Vec<u8>)> =
        lines.iter().map(|(n, l)| (n.to_string(), l.as_bytes().to_vec())).collect();
    out.push((
        "stream".to_string(),
        lines.iter().map(|(_, l)| *l).collect::<String>().into_bytes(),
    ));
    out
}
