//! A civil date (proleptic Gregorian, UTC) with day-count conversions and `YYYY-MM-DD` parsing.
//!
//! Small on purpose: the domain needs birth dates, date ranges and "which UTC day is this
//! instant", nothing that justifies a calendar dependency.

use std::fmt;

/// Nanoseconds in one civil day (UTC, leap seconds not counted, as in `coffre_clock`).
pub const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;

/// Why a date is not a valid civil date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateReason {
    /// Not of the form `YYYY-MM-DD` (four, two and two ASCII digits).
    #[error("expected YYYY-MM-DD")]
    Syntax,
    /// Year outside 1..=9999.
    #[error("year out of range 1..=9999")]
    Year,
    /// Month outside 1..=12.
    #[error("month out of range 1..=12")]
    Month,
    /// Day 0 or past the end of the month.
    #[error("day out of range for the month")]
    Day,
    /// Before the earliest plausible birth date (1900-01-01).
    #[error("before 1900-01-01")]
    TooOld,
    /// Less than the minimum age before the reference date.
    #[error("less than 2 years before the reference date")]
    TooRecent,
}

/// A valid civil date between 0001-01-01 and 9999-12-31.
///
/// ```
/// use coffre_attendance::identity::Date;
/// let d = Date::parse("2024-02-29").unwrap();
/// assert_eq!(d.to_string(), "2024-02-29");
/// assert_eq!(Date::from_days(d.days_since_epoch()), d);
/// assert!(Date::parse("2023-02-29").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

const fn is_leap(year: u16) -> bool {
    // Remainders named first: `is_multiple_of` is newer than the workspace's rust-version.
    let (r4, r100, r400) = (year % 4, year % 100, year % 400);
    r4 == 0 && (r100 != 0 || r400 == 0)
}

const fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// The earliest plausible birth date.
    pub const BIRTH_MIN: Date = Date { year: 1900, month: 1, day: 1 };

    /// Builds a date, checking year, month and day.
    pub const fn new(year: u16, month: u8, day: u8) -> Result<Date, DateReason> {
        if year < 1 || year > 9999 {
            return Err(DateReason::Year);
        }
        if month < 1 || month > 12 {
            return Err(DateReason::Month);
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(DateReason::Day);
        }
        Ok(Date { year, month, day })
    }

    /// Parses exactly `YYYY-MM-DD` (surrounding whitespace is trimmed).
    pub fn parse(text: &str) -> Result<Date, DateReason> {
        let b = text.trim().as_bytes();
        let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *b else {
            return Err(DateReason::Syntax);
        };
        let digits = [y0, y1, y2, y3, m0, m1, d0, d1];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(DateReason::Syntax);
        }
        let v = |c: u8| u16::from(c - b'0');
        let year = v(y0) * 1000 + v(y1) * 100 + v(y2) * 10 + v(y3);
        // Two decimal digits are at most 99: the narrowing cannot truncate.
        let month = (v(m0) * 10 + v(m1)) as u8;
        let day = (v(d0) * 10 + v(d1)) as u8;
        Date::new(year, month, day)
    }

    /// Year (1..=9999).
    pub const fn year(self) -> u16 {
        self.year
    }

    /// Month (1..=12).
    pub const fn month(self) -> u8 {
        self.month
    }

    /// Day of month (1..=31).
    pub const fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before), Howard Hinnant's `days_from_civil`.
    pub const fn days_since_epoch(self) -> i64 {
        let m = self.month as i64;
        let y = self.year as i64 - if m <= 2 { 1 } else { 0 };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + self.day as i64 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01, clamped to 0001-01-01..=9999-12-31.
    pub const fn from_days(days: i64) -> Date {
        const MIN: i64 = Date { year: 1, month: 1, day: 1 }.days_since_epoch();
        const MAX: i64 = Date { year: 9999, month: 12, day: 31 }.days_since_epoch();
        let z = if days < MIN {
            MIN
        } else if days > MAX {
            MAX
        } else {
            days
        } + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + if month <= 2 { 1 } else { 0 }) as u16;
        Date { year, month, day }
    }

    /// The UTC date of an instant in nanoseconds since the Unix epoch.
    pub const fn from_unix_ns(ns: u64) -> Date {
        Date::from_days((ns / NS_PER_DAY) as i64)
    }

    /// Nanoseconds since the Unix epoch at 00:00 UTC of this date; 0 before 1970.
    pub const fn start_unix_ns(self) -> u64 {
        let days = self.days_since_epoch();
        if days < 0 {
            0
        } else {
            days as u64 * NS_PER_DAY
        }
    }

    /// The same day `years` earlier (29 February becomes 28 February in a common year);
    /// 0001-01-01 at the lower end.
    pub const fn years_earlier(self, years: u16) -> Date {
        if self.year <= years {
            return Date { year: 1, month: 1, day: 1 };
        }
        let year = self.year - years;
        let max = days_in_month(year, self.month);
        let day = if self.day > max { max } else { self.day };
        Date { year, month: self.month, day }
    }

    /// Checks that `self` is a plausible birth date seen from `reference` (today, or an
    /// explicit date): on or after 1900-01-01 and at least two years before `reference`.
    pub fn check_birth_date(self, reference: Date) -> Result<(), DateReason> {
        if self < Date::BIRTH_MIN {
            return Err(DateReason::TooOld);
        }
        if self > reference.years_earlier(2) {
            return Err(DateReason::TooRecent);
        }
        Ok(())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl bincode::Encode for Date {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.year.encode(encoder)?;
        self.month.encode(encoder)?;
        self.day.encode(encoder)
    }
}

impl<C> bincode::Decode<C> for Date {
    fn decode<D: bincode::de::Decoder<Context = C>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let year = u16::decode(decoder)?;
        let month = u8::decode(decoder)?;
        let day = u8::decode(decoder)?;
        Date::new(year, month, day)
            .map_err(|r| bincode::error::DecodeError::OtherString(format!("date: {r}")))
    }
}
bincode::impl_borrow_decode!(Date);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn epoch_and_known_days() {
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(d("1969-12-31").days_since_epoch(), -1);
        assert_eq!(d("1900-01-01").days_since_epoch(), -25_567);
        assert_eq!(Date::from_unix_ns(1_700_000_000 * 1_000_000_000), d("2023-11-14"));
    }

    #[test]
    fn parse_rejects_bad_shapes_and_days() {
        assert_eq!(Date::parse("2024-2-29"), Err(DateReason::Syntax));
        assert_eq!(Date::parse("2024/02/29"), Err(DateReason::Syntax));
        assert_eq!(Date::parse("+024-02-29"), Err(DateReason::Syntax));
        assert_eq!(Date::parse("2023-02-29"), Err(DateReason::Day));
        assert_eq!(Date::parse("1900-02-29"), Err(DateReason::Day));
        assert_eq!(Date::parse("2000-02-29"), Ok(Date::new(2000, 2, 29).unwrap()));
        assert_eq!(Date::parse("2024-13-01"), Err(DateReason::Month));
        assert_eq!(Date::parse("2024-00-01"), Err(DateReason::Month));
        assert_eq!(Date::parse("2024-04-31"), Err(DateReason::Day));
        assert_eq!(Date::parse("0000-01-01"), Err(DateReason::Year));
        assert_eq!(Date::parse(" 2024-04-30\n"), Ok(Date::new(2024, 4, 30).unwrap()));
    }

    #[test]
    fn birth_dates_outside_plausible_range_are_rejected() {
        let today = d("2025-09-01");
        assert_eq!(d("1899-12-31").check_birth_date(today), Err(DateReason::TooOld));
        assert_eq!(d("1900-01-01").check_birth_date(today), Ok(()));
        assert_eq!(d("2023-09-01").check_birth_date(today), Ok(()));
        assert_eq!(d("2023-09-02").check_birth_date(today), Err(DateReason::TooRecent));
        assert_eq!(d("2030-01-01").check_birth_date(today), Err(DateReason::TooRecent));
        // A leap-day reference: two years earlier is 28 February.
        let leap = d("2024-02-29");
        assert_eq!(d("2022-02-28").check_birth_date(leap), Ok(()));
        assert_eq!(d("2022-03-01").check_birth_date(leap), Err(DateReason::TooRecent));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn days_round_trip(days in -719_162i64..2_932_896) {
            let date = Date::from_days(days);
            prop_assert_eq!(date.days_since_epoch(), days);
            prop_assert_eq!(Date::parse(&date.to_string()), Ok(date));
        }
    }
}
