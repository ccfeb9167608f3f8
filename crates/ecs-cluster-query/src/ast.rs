//! The expression tree, its canonical printer and its evaluator.

use std::cmp::Ordering;
use std::fmt;

use regex::Regex;

use crate::host::HostView;
use crate::parser::{self, ParseError};

mod matching;
mod print;
mod values;

pub use matching::full_match_agrees;
use matching::*;
use values::*;

/// A parsed cluster query expression.
///
/// Build one with [`crate::parse`]; `Display` prints the canonical form, which parses back to an
/// equal expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expression {
    /// `subject operator [argument]`.
    Predicate(Predicate),
    /// `not X` / `!X`.
    Not(Box<Expression>),
    /// `X and Y` / `X && Y`.
    And(Box<Expression>, Box<Expression>),
    /// `X or Y` / `X || Y`.
    Or(Box<Expression>, Box<Expression>),
}

/// What a predicate looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// `attribute:NAME` (the name without the `attribute:` prefix).
    Attribute(String),
    /// `ec2InstanceId`.
    Ec2InstanceId,
    /// `agentConnected`.
    AgentConnected,
    /// `agentVersion`.
    AgentVersion,
    /// `registeredAt`.
    RegisteredAt,
    /// `runningTasksCount`.
    RunningTasksCount,
    /// `task:group`.
    TaskGroup,
}

impl Subject {
    /// Characters allowed in an attribute name (ASCII letters, digits, `.`, `-`, `_`, `/`, `:`).
    pub fn is_attribute_name_char(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':')
    }

    /// The operators this subject accepts.
    ///
    /// For the five built-in fields these are the docs' "Valid operators" lists (cluster query
    /// language page). The docs give no list for `attribute:NAME` and `task:group`: attributes
    /// accept every operator (the operator table's `exists`/`!exists` only make sense there, as
    /// every built-in field exists on every container instance), and `task:group`, a string
    /// compared against each task's group, accepts the same six as the other string subject,
    /// `ec2InstanceId` (orderings and `exists` have no meaning over a set of groups).
    pub fn valid_operators(&self) -> &'static [Operator] {
        use Operator::*;
        const STRING_LIKE: &[Operator] = &[Eq, Ne, In, NotIn, Matches, NotMatches];
        const ORDERED: &[Operator] = &[Eq, Ne, Gt, Ge, Lt, Le];
        match self {
            Subject::Attribute(_) => &Operator::ALL,
            Subject::AgentConnected | Subject::Ec2InstanceId | Subject::TaskGroup => STRING_LIKE,
            Subject::AgentVersion | Subject::RegisteredAt | Subject::RunningTasksCount => ORDERED,
        }
    }

    /// Whether `op` is accepted for this subject (see [`Subject::valid_operators`]).
    pub fn supports(&self, op: Operator) -> bool {
        self.valid_operators().contains(&op)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Attribute(name) => write!(f, "attribute:{name}"),
            Subject::Ec2InstanceId => f.write_str("ec2InstanceId"),
            Subject::AgentConnected => f.write_str("agentConnected"),
            Subject::AgentVersion => f.write_str("agentVersion"),
            Subject::RegisteredAt => f.write_str("registeredAt"),
            Subject::RunningTasksCount => f.write_str("runningTasksCount"),
            Subject::TaskGroup => f.write_str("task:group"),
        }
    }
}

/// A comparison operator (symbol and word forms parse to the same variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `==`, `equals`
    Eq,
    /// `!=`, `not_equals`
    Ne,
    /// `>`, `greater_than`
    Gt,
    /// `>=`, `greater_than_equal`
    Ge,
    /// `<`, `less_than`
    Lt,
    /// `<=`, `less_than_equal`
    Le,
    /// `exists`
    Exists,
    /// `!exists`, `not_exists`
    NotExists,
    /// `in [a, b]`
    In,
    /// `!in`, `not_in`
    NotIn,
    /// `=~`, `matches`
    Matches,
    /// `!~`, `not_matches`
    NotMatches,
}

impl Operator {
    /// Every operator, for generators and tables.
    pub const ALL: [Operator; 12] = [
        Operator::Eq,
        Operator::Ne,
        Operator::Gt,
        Operator::Ge,
        Operator::Lt,
        Operator::Le,
        Operator::Exists,
        Operator::NotExists,
        Operator::In,
        Operator::NotIn,
        Operator::Matches,
        Operator::NotMatches,
    ];

    /// The canonical (symbol) spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Eq => "==",
            Operator::Ne => "!=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Exists => "exists",
            Operator::NotExists => "!exists",
            Operator::In => "in",
            Operator::NotIn => "!in",
            Operator::Matches => "=~",
            Operator::NotMatches => "!~",
        }
    }

    /// `>`, `>=`, `<`, `<=`.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            Operator::Gt | Operator::Ge | Operator::Lt | Operator::Le
        )
    }

    /// The positive operator this one negates (`!=` → `==`, ...), if it is a negated form.
    pub fn negated_form_of(self) -> Option<Operator> {
        match self {
            Operator::Ne => Some(Operator::Eq),
            Operator::NotExists => Some(Operator::Exists),
            Operator::NotIn => Some(Operator::In),
            Operator::NotMatches => Some(Operator::Matches),
            _ => None,
        }
    }

    /// How many arguments the operator takes: `(min, max)`.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Operator::Exists | Operator::NotExists => (0, 0),
            Operator::In | Operator::NotIn => (1, usize::MAX),
            _ => (1, 1),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// The typed form of an argument, computed once at parse time for the predicate's subject.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed {
    /// Strings; `number` is set when the text is a plain decimal number (attribute ordering).
    Text {
        number: Option<f64>,
    },
    Bool(bool),
    Version(Vec<u64>),
    Instant(i64),
    Integer(i64),
}

/// A host's value for a single-valued subject, borrowed from the host (no allocation).
#[derive(Debug, Clone, Copy)]
enum HostValue<'h> {
    /// Attributes and `ec2InstanceId`.
    Text(&'h str),
    /// `agentConnected`.
    Bool(bool),
    /// `agentVersion`, as reported (compared as dotted numbers).
    Version(&'h str),
    /// `registeredAt`, Unix seconds.
    Instant(i64),
    /// `runningTasksCount`.
    Integer(i64),
}

/// One literal argument of a predicate.
#[derive(Debug, Clone)]
pub struct Argument {
    text: String,
    pub(crate) typed: Typed,
}

impl Argument {
    /// The argument as written (quotes removed, escapes resolved).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Argument {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// `subject operator [argument]`, validated and with its arguments pre-typed (and its regular
/// expression pre-compiled) so that evaluation allocates nothing.
#[derive(Debug, Clone)]
pub struct Predicate {
    subject: Subject,
    operator: Operator,
    arguments: Vec<Argument>,
    pattern: Option<Matcher>,
}

impl PartialEq for Predicate {
    fn eq(&self, other: &Self) -> bool {
        self.subject == other.subject
            && self.operator == other.operator
            && self.arguments == other.arguments
    }
}

/// Why an argument or operator does not fit a subject; turned into a [`ParseError`] by callers.
pub(crate) struct Invalid {
    /// Index of the offending argument, or `None` when the operator itself is the problem.
    pub(crate) argument: Option<usize>,
    pub(crate) expected: String,
    /// The offending text, rendered for "found ...".
    pub(crate) found: String,
    /// A message replacing `expected X, found Y`, when that shape reads wrongly.
    pub(crate) message: Option<String>,
}

/// An operator the subject does not accept (see [`Subject::valid_operators`]).
pub(crate) struct OperatorNotValid {
    pub(crate) expected: String,
    pub(crate) found: String,
    pub(crate) message: String,
}

impl OperatorNotValid {
    /// `None` when `subject` accepts `op`.
    pub(crate) fn check(subject: &Subject, op: Operator) -> Option<OperatorNotValid> {
        if subject.supports(op) {
            return None;
        }
        let valid: Vec<&str> = subject
            .valid_operators()
            .iter()
            .map(|o| o.symbol())
            .collect();
        let valid = valid.join(", ");
        Some(OperatorNotValid {
            expected: format!("an operator valid for {subject} ({valid})"),
            found: format!("'{op}'"),
            message: format!("operator {op} is not valid for subject {subject}; valid: {valid}"),
        })
    }
}

impl Predicate {
    /// Builds a predicate from parts, validating it exactly like the parser does.
    ///
    /// Errors carry column 0 (there is no source text); the parser reports real columns.
    pub fn new(
        subject: Subject,
        operator: Operator,
        arguments: Vec<String>,
    ) -> Result<Predicate, ParseError> {
        Predicate::build(subject, operator, arguments).map_err(|inv| match inv.message {
            Some(m) => ParseError::with_message(0, inv.expected, inv.found, m),
            None => ParseError::new(0, inv.expected, inv.found),
        })
    }

    pub(crate) fn build(
        subject: Subject,
        operator: Operator,
        arguments: Vec<String>,
    ) -> Result<Predicate, Invalid> {
        if let Some(e) = OperatorNotValid::check(&subject, operator) {
            return Err(Invalid {
                argument: None,
                expected: e.expected,
                found: e.found,
                message: Some(e.message),
            });
        }
        let (min, max) = operator.arity();
        if arguments.len() < min || arguments.len() > max {
            return Err(Invalid {
                argument: None,
                found: format!("{} argument(s)", arguments.len()),
                expected: format!(
                    "{} argument(s) for {operator}",
                    if max == usize::MAX {
                        format!("at least {min}")
                    } else {
                        min.to_string()
                    }
                ),
                message: None,
            });
        }
        let is_match = matches!(operator, Operator::Matches | Operator::NotMatches);
        let mut typed_args = Vec::with_capacity(arguments.len());
        for (i, text) in arguments.into_iter().enumerate() {
            let typed = if is_match {
                Typed::Text { number: None }
            } else {
                type_argument(&subject, &text).map_err(|expected| Invalid {
                    argument: Some(i),
                    expected,
                    found: parser::quote_found(&text),
                    message: None,
                })?
            };
            typed_args.push(Argument { text, typed });
        }
        let pattern = if is_match {
            let src = typed_args.first().map(|a| a.text.as_str()).unwrap_or("");
            Some(compile_full_match(src).map_err(|expected| Invalid {
                argument: Some(0),
                expected,
                found: parser::quote_found(src),
                message: None,
            })?)
        } else {
            None
        };
        Ok(Predicate {
            subject,
            operator,
            arguments: typed_args,
            pattern,
        })
    }

    /// The subject.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The arguments (empty for `exists`, one for most operators, one or more for `in`).
    pub fn arguments(&self) -> &[Argument] {
        &self.arguments
    }

    /// Evaluates the predicate on one host.
    ///
    /// A predicate on a single-valued subject (`attribute:NAME`, `ec2InstanceId`,
    /// `agentConnected`, `agentVersion`, `registeredAt`, `runningTasksCount`) compares the
    /// host's value; when the host has **no value** (attribute absent, or present without a
    /// value; field unknown) every operator is false, the negated ones (`!=`, `!in`, `!~`)
    /// included, and only `exists`/`!exists` look at presence. This follows the docs' example
    /// `attribute:stack != prod`, which "lists the instances with the custom attribute stack
    /// unless the attribute value is prod": hosts without `stack` are not listed. It also keeps
    /// daemon-count from counting a host where ECS would not place the task (the extra task
    /// would stay PENDING). Among hosts that have a value, `!=`/`!in`/`!~` are exactly the
    /// negation of `==`/`in`/`=~`; `not (attribute:x == y)` stays the plain negation and is
    /// true for hosts without `x`.
    ///
    /// `task:group` is a set (the groups of the host's tasks): `==`/`in`/`=~` ask whether some
    /// task's group matches, `!=`/`!in`/`!~` whether none does, so a host without tasks
    /// satisfies the negated forms (the docs' task anti-affinity example).
    pub fn evaluate(&self, host: &impl HostView) -> bool {
        if self.subject == Subject::TaskGroup {
            return match self.operator.negated_form_of() {
                Some(positive) => !self.any_task_group_matches(positive, host),
                None => self.any_task_group_matches(self.operator, host),
            };
        }
        match self.operator {
            Operator::Exists => self.is_present(host),
            Operator::NotExists => !self.is_present(host),
            op => {
                let Some(value) = self.host_value(host) else {
                    return false;
                };
                match op.negated_form_of() {
                    Some(positive) => !self.compare(positive, value),
                    None => self.compare(op, value),
                }
            }
        }
    }

    /// Presence, for `exists`/`!exists` (only attributes accept them; an attribute without a
    /// value is present).
    fn is_present(&self, host: &impl HostView) -> bool {
        match &self.subject {
            Subject::Attribute(name) => host.attribute(name).is_some(),
            _ => self.host_value(host).is_some(),
        }
    }

    /// The host's value for a single-valued subject, `None` when it has none.
    fn host_value<'h>(&self, host: &'h impl HostView) -> Option<HostValue<'h>> {
        match &self.subject {
            Subject::Attribute(name) => host.attribute(name).flatten().map(HostValue::Text),
            Subject::Ec2InstanceId => host.ec2_instance_id().map(HostValue::Text),
            Subject::AgentConnected => host.agent_connected().map(HostValue::Bool),
            Subject::AgentVersion => host.agent_version().map(HostValue::Version),
            Subject::RegisteredAt => host.registered_at().map(HostValue::Instant),
            Subject::RunningTasksCount => host.running_tasks_count().map(HostValue::Integer),
            Subject::TaskGroup => None,
        }
    }

    /// A positive operator (`==`, `in`, `=~`, orderings) applied to a present value.
    fn compare(&self, op: Operator, value: HostValue<'_>) -> bool {
        match value {
            HostValue::Text(text) => self.eval_text(op, text),
            HostValue::Bool(b) => match op {
                Operator::Matches => self.regex_match(if b { "true" } else { "false" }),
                _ => self.eval_ordered(op, |t| match t {
                    Typed::Bool(arg) => Some(b.cmp(arg)),
                    _ => None,
                }),
            },
            HostValue::Version(text) => match op {
                Operator::Matches => self.regex_match(text),
                _ => self.eval_ordered(op, |t| match t {
                    Typed::Version(v) => compare_version(text, v),
                    _ => None,
                }),
            },
            HostValue::Instant(at) => self.eval_ordered(op, |t| match t {
                Typed::Instant(i) => Some(at.cmp(i)),
                _ => None,
            }),
            HostValue::Integer(n) => self.eval_ordered(op, |t| match t {
                Typed::Integer(i) => Some(n.cmp(i)),
                _ => None,
            }),
        }
    }

    /// `task:group` with a positive operator: does some task's group match?
    fn any_task_group_matches(&self, op: Operator, host: &impl HostView) -> bool {
        match op {
            Operator::Matches => host.any_task_group(&mut |g| self.regex_match(g)),
            Operator::Eq | Operator::In => {
                host.any_task_group(&mut |g| self.arguments.iter().any(|a| a.text == g))
            }
            // Rejected at parse time (see `Subject::valid_operators`).
            _ => false,
        }
    }

    fn regex_match(&self, value: &str) -> bool {
        self.pattern.as_ref().is_some_and(|m| m.is_match(value))
    }

    fn eval_text(&self, op: Operator, value: &str) -> bool {
        match op {
            Operator::Matches => self.regex_match(value),
            Operator::Eq | Operator::In => self.arguments.iter().any(|a| a.text == value),
            _ => {
                let host_number = parse_decimal(value);
                self.eval_ordered(op, |t| match (t, host_number) {
                    (Typed::Text { number: Some(n) }, Some(m)) => m.partial_cmp(n),
                    (Typed::Text { .. }, _) => Some(value.cmp(self.first_text())),
                    _ => None,
                })
            }
        }
    }

    fn first_text(&self) -> &str {
        self.arguments
            .first()
            .map(|a| a.text.as_str())
            .unwrap_or("")
    }

    /// `==`/`in` (any argument equal) and the orderings, given a comparison of the host value
    /// against one typed argument (`None` = incomparable, which is false).
    fn eval_ordered(&self, op: Operator, cmp: impl Fn(&Typed) -> Option<Ordering>) -> bool {
        match op {
            Operator::Eq | Operator::In => self
                .arguments
                .iter()
                .any(|a| cmp(&a.typed) == Some(Ordering::Equal)),
            Operator::Gt | Operator::Ge | Operator::Lt | Operator::Le => {
                let Some(first) = self.arguments.first() else {
                    return false;
                };
                match cmp(&first.typed) {
                    Some(o) => match op {
                        Operator::Gt => o == Ordering::Greater,
                        Operator::Ge => o != Ordering::Less,
                        Operator::Lt => o == Ordering::Less,
                        _ => o != Ordering::Greater,
                    },
                    None => false,
                }
            }
            _ => false,
        }
    }
}

impl Expression {
    /// True when the host satisfies the expression. Allocates nothing for owned [`crate::Host`]s.
    pub fn evaluate(&self, host: &impl HostView) -> bool {
        match self {
            Expression::Predicate(p) => p.evaluate(host),
            Expression::Not(e) => !e.evaluate(host),
            Expression::And(l, r) => l.evaluate(host) && r.evaluate(host),
            Expression::Or(l, r) => l.evaluate(host) || r.evaluate(host),
        }
    }

    /// True when any predicate's subject is `task:group` (its value then depends on which tasks
    /// run where, not only on the host).
    pub fn references_task_group(&self) -> bool {
        self.any_subject(&|s| *s == Subject::TaskGroup)
    }

    /// True when the value can change as tasks are placed (`task:group`, `runningTasksCount`).
    pub fn depends_on_tasks(&self) -> bool {
        self.any_subject(&|s| matches!(s, Subject::TaskGroup | Subject::RunningTasksCount))
    }

    fn any_subject(&self, f: &dyn Fn(&Subject) -> bool) -> bool {
        match self {
            Expression::Predicate(p) => f(&p.subject),
            Expression::Not(e) => e.any_subject(f),
            Expression::And(l, r) | Expression::Or(l, r) => l.any_subject(f) || r.any_subject(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            compare_version("1.10.0", &[1, 9, 0]),
            Some(Ordering::Greater)
        );
        assert_eq!(compare_version("1.10", &[1, 10, 0]), Some(Ordering::Equal));
        assert_eq!(compare_version("1.9.9", &[1, 10]), Some(Ordering::Less));
        assert_eq!(compare_version("2", &[1, 99, 99]), Some(Ordering::Greater));
        assert_eq!(compare_version("1.x", &[1]), None);
        assert_eq!(compare_version("", &[1]), None);
        assert_eq!(parse_version("1..2"), None);
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("10"), Some(10.0));
        assert_eq!(parse_decimal("-1.5"), Some(-1.5));
        assert_eq!(parse_decimal("1e3"), None);
        assert_eq!(parse_decimal("nan"), None);
        assert_eq!(parse_decimal("1."), None);
        assert_eq!(parse_decimal("."), None);
    }
}
