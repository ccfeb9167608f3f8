//! Typed arguments: the decimals, versions and integers a predicate's argument is read as, by
//! subject.

use super::*;

/// A plain decimal number: optional `-`/`+`, digits, optional `.digits`. (No exponents, no
/// `inf`/`NaN`, so `"1e3"` and `"nan"` stay strings.)
pub(crate) fn parse_decimal(s: &str) -> Option<f64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        s.parse().ok()
    } else {
        None
    }
}

/// A dotted version `N(.N)*` with each part fitting in a u64.
pub(crate) fn parse_version(s: &str) -> Option<Vec<u64>> {
    s.split('.')
        .map(|p| {
            if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect()
}

/// Compares a host's version string with a parsed version, padding the shorter with zeros
/// (`1.10` == `1.10.0`). `None` when the host's string is not a dotted version. No allocation.
pub(crate) fn compare_version(host: &str, arg: &[u64]) -> Option<Ordering> {
    let mut parts = host.split('.');
    let mut args = arg.iter();
    let mut result = Ordering::Equal;
    loop {
        let h = match parts.next() {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u64>().ok()?)
            }
            Some(_) => return None,
            None => None,
        };
        let a = args.next().copied();
        if h.is_none() && a.is_none() {
            return Some(result);
        }
        if result == Ordering::Equal {
            result = h.unwrap_or(0).cmp(&a.unwrap_or(0));
        }
    }
}

pub(super) fn type_argument(subject: &Subject, text: &str) -> Result<Typed, String> {
    match subject {
        Subject::Attribute(_) | Subject::Ec2InstanceId | Subject::TaskGroup => Ok(Typed::Text {
            number: parse_decimal(text),
        }),
        Subject::AgentConnected => {
            if text.eq_ignore_ascii_case("true") {
                Ok(Typed::Bool(true))
            } else if text.eq_ignore_ascii_case("false") {
                Ok(Typed::Bool(false))
            } else {
                Err("true or false".to_string())
            }
        }
        Subject::AgentVersion => parse_version(text)
            .map(Typed::Version)
            .ok_or_else(|| "a version number like 1.21.0".to_string()),
        Subject::RegisteredAt => crate::date::parse_timestamp(text)
            .map(Typed::Instant)
            .ok_or_else(|| "a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)".to_string()),
        Subject::RunningTasksCount => text
            .parse::<i64>()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
            .map(Typed::Integer)
            .ok_or_else(|| "a non-negative integer".to_string()),
    }
}
