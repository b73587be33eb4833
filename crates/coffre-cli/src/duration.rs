//! Retention durations on the command line: `5y`, `90d`, `36h`, `3600s`.

/// Seconds in a mean Gregorian year (365.2425 days), the unit of the library's default
/// retention (`coffre_log::options::DEFAULT_RETENTION_SECONDS` is exactly 5 of them).
pub const YEAR_SECONDS: u64 = 31_556_952;
/// Seconds in a day.
pub const DAY_SECONDS: u64 = 86_400;

/// Parses `<number><unit>` with unit `y` (mean Gregorian year), `d`, `h` or `s`. Retention
/// shorter than one day is refused: it is always an operator's typo, never a legal period.
pub fn parse_retention(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|e: std::num::ParseIntError| match e.kind() {
        std::num::IntErrorKind::PosOverflow => format!("{text:?} is too long"),
        _ => format!("{text:?} is not a duration like 5y, 90d, 36h or 86400s"),
    })?;
    let unit_seconds = match unit {
        "y" => YEAR_SECONDS,
        "d" => DAY_SECONDS,
        "h" => 3_600,
        "s" => 1,
        _ => return Err(format!("unknown unit {unit:?} in {text:?}: use y, d, h or s")),
    };
    let seconds =
        number.checked_mul(unit_seconds).ok_or_else(|| format!("{text:?} is too long"))?;
    if seconds < DAY_SECONDS {
        return Err(format!("retention {text:?} is shorter than one day"));
    }
    Ok(seconds)
}

/// Clap value parser for [`parse_retention`].
pub fn retention_arg(text: &str) -> Result<u64, String> {
    parse_retention(text)
}

/// A duration in seconds as the largest whole unit that divides it (`5y`, `90d`, `36h`).
pub fn format_seconds(seconds: u64) -> String {
    if seconds > 0 && seconds.is_multiple_of(YEAR_SECONDS) {
        format!("{}y", seconds / YEAR_SECONDS)
    } else if seconds > 0 && seconds.is_multiple_of(DAY_SECONDS) {
        format!("{}d", seconds / DAY_SECONDS)
    } else if seconds > 0 && seconds.is_multiple_of(3_600) {
        format!("{}h", seconds / 3_600)
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_parse_and_short_durations_are_refused() {
        assert_eq!(parse_retention("5y"), Ok(157_784_760));
        assert_eq!(parse_retention("90d"), Ok(90 * DAY_SECONDS));
        assert_eq!(parse_retention("36h"), Ok(36 * 3_600));
        assert_eq!(parse_retention("86400s"), Ok(DAY_SECONDS));
        assert!(parse_retention("23h").is_err());
        assert!(parse_retention("0d").is_err());
        assert!(parse_retention("5").is_err());
        assert!(parse_retention("5w").is_err());
        assert!(parse_retention("y").is_err());
        assert!(parse_retention("99999999999999999y").is_err());
        assert_eq!(
            parse_retention("99999999999999999999999y"),
            Err("\"99999999999999999999999y\" is too long".into())
        );
        assert!(parse_retention("-1y").is_err());
        assert!(parse_retention("1.5y").is_err());
    }

    #[test]
    fn formatting_picks_the_largest_whole_unit() {
        assert_eq!(format_seconds(157_784_760), "5y");
        assert_eq!(format_seconds(90 * DAY_SECONDS), "90d");
        assert_eq!(format_seconds(36 * 3_600), "36h");
        assert_eq!(format_seconds(90_061), "90061s");
    }
}
