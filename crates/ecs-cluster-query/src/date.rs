//! Small, dependency-free civil-date code for `registeredAt` arguments.
//!
//! Accepted forms (all UTC unless an offset is given):
//! `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DDTHH:MM:SSZ`,
//! `YYYY-MM-DDTHH:MM:SS+HH:MM` / `-HH:MM`. An optional fraction (`.123`) after the seconds is
//! accepted and truncated (the comparison is at whole-second precision). `T`/`Z` may be lowercase.

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let d = i64::from(d);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

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
    let year = i64::from(digits(b, 0, 4)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let midnight = days_from_civil(year, month, day) * 86_400;
    if b.len() == 10 {
        return Some(midnight);
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
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
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
    Some(midnight + i64::from(hour * 3600 + minute * 60 + second) - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
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
