//! The canonical printer: an expression printed and parsed again is the same expression.

use super::*;

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.subject, self.operator)?;
        match self.operator {
            Operator::Exists | Operator::NotExists => Ok(()),
            Operator::In | Operator::NotIn => {
                f.write_str(" [")?;
                for (i, a) in self.arguments.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_value(f, &a.text)?;
                }
                f.write_str("]")
            }
            _ => {
                f.write_str(" ")?;
                write_value(f, self.first_text())
            }
        }
    }
}

/// Prints a value bare when it would be read back as the same bare word, else single-quoted
/// with `\\` and `\'` escaped.
pub(super) fn write_value(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if !text.is_empty() && text.chars().all(parser::is_bare_char) {
        return f.write_str(text);
    }
    f.write_str("'")?;
    for c in text.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            c => fmt::Write::write_char(f, c)?,
        }
    }
    f.write_str("'")
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expression::Predicate(p) => p.fmt(f),
            Expression::Not(inner) => match inner.as_ref() {
                Expression::Predicate(_) | Expression::Not(_) => write!(f, "not {inner}"),
                _ => write!(f, "not ({inner})"),
            },
            Expression::And(l, r) => {
                // `and` is left-associative and binds tighter than `or`.
                match l.as_ref() {
                    Expression::Or(..) => write!(f, "({l})")?,
                    _ => write!(f, "{l}")?,
                }
                f.write_str(" and ")?;
                match r.as_ref() {
                    Expression::Or(..) | Expression::And(..) => write!(f, "({r})"),
                    _ => write!(f, "{r}"),
                }
            }
            Expression::Or(l, r) => {
                write!(f, "{l} or ")?;
                match r.as_ref() {
                    Expression::Or(..) => write!(f, "({r})"),
                    _ => write!(f, "{r}"),
                }
            }
        }
    }
}
