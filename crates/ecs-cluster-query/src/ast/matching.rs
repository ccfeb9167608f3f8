//! Full-match patterns (`=~`): compiled once, with a fast path for the common ECS shapes that
//! means exactly what the regex means.

use super::*;

/// A compiled full-match pattern. The common ECS shapes get a fast path with exactly the
/// regex's meaning: a plain literal (`t2.micro` is not one: `.` is a class) and
/// `LITERAL.*` (a prefix, then anything without a line feed, as `.` excludes `\n`).
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// The pattern is a literal string.
    Exact(String),
    /// `PREFIX.*`: starts with the prefix and the rest has no `\n`.
    PrefixThenAnyExceptLf(String),
    /// Anything else, anchored as `^(?:PATTERN)$`.
    Regex(Regex),
}

impl Matcher {
    pub(crate) fn is_match(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(lit) => value == lit,
            Matcher::PrefixThenAnyExceptLf(prefix) => value
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| !rest.contains('\n')),
            Matcher::Regex(re) => re.is_match(value),
        }
    }
}

pub(super) fn literal_text(hir: &regex_syntax::hir::Hir) -> Option<String> {
    match hir.kind() {
        regex_syntax::hir::HirKind::Literal(lit) => {
            std::str::from_utf8(&lit.0).ok().map(str::to_string)
        }
        regex_syntax::hir::HirKind::Empty => Some(String::new()),
        _ => None,
    }
}

pub(super) fn fast_matcher(hir: &regex_syntax::hir::Hir) -> Option<Matcher> {
    use regex_syntax::hir::{Dot, HirKind};
    if let Some(lit) = literal_text(hir) {
        return Some(Matcher::Exact(lit));
    }
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let [prefix, tail] = parts.as_slice() else {
        return None;
    };
    let HirKind::Repetition(rep) = tail.kind() else {
        return None;
    };
    let any_except_lf = regex_syntax::hir::Hir::dot(Dot::AnyCharExceptLF);
    if rep.min == 0 && rep.max.is_none() && *rep.sub == any_except_lf {
        return literal_text(prefix).map(Matcher::PrefixThenAnyExceptLf);
    }
    None
}

/// Compiles `src` so that it must match the whole value (`^(?:src)$`). `src` is first parsed
/// alone (syntax check only) so that it cannot escape the group (e.g. `a)|(b`); the parsed form
/// also selects a fast path for literals and `LITERAL.*`.
pub(super) fn compile_full_match(src: &str) -> Result<Matcher, String> {
    const SIZE_LIMIT: usize = 1 << 20;
    fn describe(msg: &str) -> String {
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .trim_start_matches("error: ")
            .to_string();
        format!("a valid regular expression ({last})")
    }
    let hir = regex_syntax::Parser::new()
        .parse(src)
        .map_err(|e| describe(&e.to_string()))?;
    // Still compiled, so that size limits and every other check apply uniformly.
    let re = regex::RegexBuilder::new(&format!("^(?:{src})$"))
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| describe(&e.to_string()))?;
    Ok(fast_matcher(&hir).unwrap_or(Matcher::Regex(re)))
}

/// For tests: does the fast path (if any) agree with the regex?
#[doc(hidden)]
pub fn full_match_agrees(pattern: &str, value: &str) -> Option<bool> {
    let m = compile_full_match(pattern).ok()?;
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).ok()?;
    Some(m.is_match(value) == re.is_match(value))
}
