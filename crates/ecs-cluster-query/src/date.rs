//! The `registeredAt` argument's timestamp: a strict reader of its few forms, with the calendar
//! (month lengths, leap years, days since the epoch) left to `chrono`.
//!
//! Accepted forms (all UTC unless an offset is given):
//! `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DDTHH:MM:SSZ`,
//! `YYYY-MM-DDTHH:MM:SS+HH:MM` / `-HH:MM`. An optional fraction (`.123`) after the seconds is
//! accepted and truncated (the comparison is at whole-second precision). `T`/`Z` may be lowercase.

use chrono::{NaiveDate, NaiveTime};

/// Reads exactly `n` ASCII digits at `pos`.
fn digits(b: &[u8], pos: usize, n: usize) -> Option<u32> {
    let s = b.get(pos..pos + n)?;
    let mut v: u32 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses a `registeredAt` argument into Unix epoch seconds (UTC). `None` when malformed.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = i32::try_from(digits(b, 0, 4)?).ok()?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    // `None` for a month or day the calendar does not have (2018-02-29, 2018-06-31).
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if b.len() == 10 {
        return Some(date.and_time(NaiveTime::MIN).and_utc().timestamp());
    }
    if !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    // `None` past 23:59:59 (no leap second either).
    let time = NaiveTime::from_hms_opt(hour, minute, second)?;
    let mut pos = 19;
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        if pos == start {
            return None;
        }
    }
    let offset = match b.get(pos) {
        None => 0,
        Some(b'Z' | b'z') if b.len() == pos + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == pos + 6 && b.get(pos + 3) == Some(&b':') => {
            let oh = digits(b, pos + 1, 2)?;
            let om = digits(b, pos + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = i64::from(oh * 3600 + om * 60);
            if sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    Some(date.and_time(time).and_utc().timestamp() - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(parse_timestamp("1970-01-01"), Some(0));
        assert_eq!(parse_timestamp("2018-06-18"), Some(1_529_280_000));
        assert_eq!(parse_timestamp("2018-06-18T22:28:28Z"), Some(1_529_360_908));
        assert_eq!(parse_timestamp("2018-06-18T22:28:28"), Some(1_529_360_908));
        assert_eq!(
            parse_timestamp("2018-06-18T22:28:28+00:00"),
            Some(1_529_360_908)
        );
        assert_eq!(
            parse_timestamp("2018-06-19T00:28:28+02:00"),
            Some(1_529_360_908)
        );
        assert_eq!(
            parse_timestamp("2018-06-18T22:28:28.999Z"),
            Some(1_529_360_908)
        );
        assert_eq!(parse_timestamp("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2018",
            "2018-6-18",
            "2018-13-01",
            "2018-02-29",
            "1900-02-29",
            "2018-06-31",
            "2018-06-18T24:00:00Z",
            "2018-06-18T22:28",
            "2018-06-18T22:28:28ZZ",
            "2018-06-18T22:28:28+0000",
            "2018-06-18T22:28:28.Z",
            "2018-06-18 22:28:28",
            "２０１８-06-18",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }
}
