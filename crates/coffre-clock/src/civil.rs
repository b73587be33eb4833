//! UTC calendar dates to and from Unix nanoseconds, so receivers' dates can be parsed and
//! stamps printed without a date crate (proleptic Gregorian, leap seconds not counted).

const NS_PER_S: u64 = 1_000_000_000;

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// A UTC calendar instant, as receivers report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CivilTime {
    /// Full year (e.g. 2026).
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=60 (60 only during a leap second; it reads as the next minute's 0).
    pub second: u32,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl CivilTime {
    /// Nanoseconds since the Unix epoch; `None` if a field is out of range or the instant is
    /// before 1970 or beyond what a u64 holds.
    pub fn to_unix_ns(&self) -> Option<u64> {
        let valid = (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second <= 60
            && self.nanos < 1_000_000_000;
        if !valid {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days.checked_mul(86_400)?.checked_add(
            i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second),
        )?;
        let secs = u64::try_from(secs).ok()?;
        secs.checked_mul(NS_PER_S)?.checked_add(u64::from(self.nanos))
    }

    /// The calendar instant of `unix_ns`.
    pub fn from_unix_ns(unix_ns: u64) -> CivilTime {
        let secs = unix_ns / NS_PER_S;
        let nanos = (unix_ns % NS_PER_S) as u32;
        let days = (secs / 86_400) as i64;
        let rem = (secs % 86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        CivilTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            nanos,
        }
    }
}

/// Formats `unix_ns` as RFC 3339 UTC with nanoseconds: `2026-11-30T08:50:39.790000000Z`.
pub fn format_utc(unix_ns: u64) -> String {
    let c = CivilTime::from_unix_ns(unix_ns);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.nanos
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` (what gpsd sends) into Unix ns.
pub fn parse_rfc3339_utc(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > 40 || b.last() != Some(&b'Z') {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<u32> {
        let s = text.get(from..from + len)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let frac = text.get(19..b.len() - 1)?;
    let nanos = parse_fraction(frac)?;
    CivilTime {
        year: i64::from(num(0, 4)?),
        month: num(5, 2)?,
        day: num(8, 2)?,
        hour: num(11, 2)?,
        minute: num(14, 2)?,
        second: num(17, 2)?,
        nanos,
    }
    .to_unix_ns()
}

/// Parses an optional `.ddd` fraction (empty, or a dot and 1..=9 digits) into nanoseconds.
pub(crate) fn parse_fraction(frac: &str) -> Option<u32> {
    if frac.is_empty() {
        return Some(0);
    }
    let digits = frac.strip_prefix('.')?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let value: u32 = digits.parse().ok()?;
    Some(value * 10u32.pow(9 - digits.len() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_rejects_malformed_dates() {
        let ns = parse_rfc3339_utc("2026-11-30T08:50:39.790Z").unwrap();
        assert_eq!(ns, 1_796_028_639_790_000_000);
        assert_eq!(format_utc(ns), "2026-11-30T08:50:39.790000000Z");
        assert_eq!(parse_rfc3339_utc("2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000_000));
        assert_eq!(parse_rfc3339_utc("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_utc("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_utc("2026-11-30 08:50:39Z"), None);
        assert_eq!(parse_rfc3339_utc("2026-11-30T08:50:39.Z"), None);
        assert_eq!(parse_rfc3339_utc("1969-12-31T23:59:59Z"), None);
    }

    #[test]
    fn civil_conversion_matches_known_days() {
        for days in [-1i64, 0, 59, 365, 11_016, 20_000, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }
}
