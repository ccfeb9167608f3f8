//! Hand-written, context-sensitive recursive-descent parser.
//!
//! Grammar (whitespace = any Unicode whitespace, allowed between all tokens):
//!
//! ```text
//! expression := and_expr ( ("or" | "||") and_expr )*
//! and_expr   := unary ( ("and" | "&&") unary )*
//! unary      := ("not" | "!") unary | primary
//! primary    := "(" expression ")" | predicate
//! predicate  := subject operator [argument | "[" value ("," value)* "]"]
//! value      := bare-word | '...' | "..."
//! ```

use thiserror::Error;

use crate::ast::{Expression, Invalid, Operator, OperatorNotValid, Predicate, Subject};

/// Maximum expression length, in characters (ECS's documented limit).
pub const MAX_EXPRESSION_CHARS: usize = 2000;

/// Maximum nesting of parentheses and `not`s (keeps recursion bounded on hostile input).
pub const MAX_NESTING: usize = 64;

const EXPECTED_SUBJECT: &str = "a subject (attribute:NAME, ec2InstanceId, agentConnected, \
agentVersion, registeredAt, runningTasksCount, task:group), '(' or 'not'";
const EXPECTED_OPERATOR: &str = "an operator (==, !=, in, exists, ...)";

/// A syntax or validation error, located at a 1-based character column of the input.
///
/// `Display` is `column N: MESSAGE`. For most errors the message is `expected X, found Y`; an
/// operator that the subject does not accept reads `operator X is not valid for subject Y;
/// valid: ...` instead, because "expected an operator" would wrongly suggest a syntax error
/// (`expected` and `found` are filled in either way, for programs).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based column, counted in Unicode scalar values (0 when there is no source text).
    pub column: usize,
    /// What the parser was looking for.
    pub expected: String,
    /// What it found instead: a quoted excerpt like `'foo'`, or `end of input`.
    pub found: String,
    /// The human-readable message (without the column).
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(column: usize, expected: impl Into<String>, found: String) -> Self {
        let expected = expected.into();
        let message = format!("expected {expected}, found {found}");
        ParseError {
            column,
            expected,
            found,
            message,
        }
    }

    /// An error whose message is not of the `expected X, found Y` shape.
    pub(crate) fn with_message(
        column: usize,
        expected: impl Into<String>,
        found: String,
        message: String,
    ) -> Self {
        ParseError {
            column,
            expected: expected.into(),
            found,
            message,
        }
    }
}

/// Parses a cluster query expression.
///
/// ```
/// let e = ecs_cluster_query::parse("attribute:ecs.instance-type =~ t2.* and not(task:group == database)")?;
/// assert_eq!(
///     e.to_string(),
///     "attribute:ecs.instance-type =~ t2.* and not task:group == database"
/// );
/// # Ok::<(), ecs_cluster_query::ParseError>(())
/// ```
pub fn parse(input: &str) -> Result<Expression, ParseError> {
    let chars = input.chars().count();
    if chars > MAX_EXPRESSION_CHARS {
        return Err(ParseError::new(
            MAX_EXPRESSION_CHARS + 1,
            format!("at most {MAX_EXPRESSION_CHARS} characters"),
            format!("{chars} characters"),
        ));
    }
    let mut p = Parser {
        src: input,
        pos: 0,
        depth: 0,
    };
    let e = p.expression()?;
    p.skip_ws();
    if p.pos < p.src.len() {
        return Err(p.error_here("'and', 'or' or end of input"));
    }
    Ok(e)
}

/// Characters a bare (unquoted) value may contain: anything but whitespace and
/// `( ) [ ] , ' " & | ! = < >`.
pub fn is_bare_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '(' | ')' | '[' | ']' | ',' | '\'' | '"' | '&' | '|' | '!' | '=' | '<' | '>'
        )
}

/// Renders a piece of input for "found ...": quoted and cut to 40 characters.
pub(crate) fn quote_found(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().nth(40).is_some() {
        out.push('…');
    }
    format!("'{out}'")
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Parser<'a> {
    src: &'a str,
    /// Byte offset, always on a char boundary.
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
    }

    fn column_at(&self, pos: usize) -> usize {
        self.src.get(..pos).map_or(0, |s| s.chars().count()) + 1
    }

    /// Describes the token starting at `pos`.
    fn found_at(&self, pos: usize) -> String {
        let rest = self.src.get(pos..).unwrap_or("");
        let Some(first) = rest.chars().next() else {
            return "end of input".to_string();
        };
        if first.is_whitespace() {
            return "whitespace".to_string();
        }
        if matches!(first, '(' | ')' | '[' | ']' | ',' | '\'' | '"') {
            return format!("'{first}'");
        }
        let end = rest
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | ',' | '\'' | '"')
            })
            .unwrap_or(rest.len());
        quote_found(rest.get(..end).unwrap_or(rest))
    }

    fn error_at(&self, pos: usize, expected: impl Into<String>) -> ParseError {
        ParseError::new(self.column_at(pos), expected, self.found_at(pos))
    }

    fn error_here(&self, expected: impl Into<String>) -> ParseError {
        self.error_at(self.pos, expected)
    }

    /// Reads a run of characters satisfying `f`, returning it (possibly empty).
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += end;
        rest.get(..end).unwrap_or("")
    }

    /// If the next word (letters, digits, `_`) equals `kw` ignoring ASCII case, consumes it.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        let rest = self.rest();
        let end = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
        if rest.get(..end).is_some_and(|w| w.eq_ignore_ascii_case(kw)) {
            self.pos += end;
            true
        } else {
            false
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error_here(format!(
                "at most {MAX_NESTING} levels of parentheses and 'not'"
            )));
        }
        Ok(())
    }

    fn expression(&mut self) -> Result<Expression, ParseError> {
        let mut left = self.and_expr()?;
        loop {
            self.skip_ws();
            if self.eat("||") || self.eat_keyword("or") {
                let right = self.and_expr()?;
                left = Expression::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self) -> Result<Expression, ParseError> {
        let mut left = self.unary()?;
        loop {
            self.skip_ws();
            if self.eat("&&") || self.eat_keyword("and") {
                let right = self.unary()?;
                left = Expression::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Expression, ParseError> {
        self.skip_ws();
        if self.eat("!") || self.eat_keyword("not") {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expression::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expression, ParseError> {
        self.skip_ws();
        if self.eat("(") {
            self.enter()?;
            let inner = self.expression()?;
            self.skip_ws();
            if !self.eat(")") {
                return Err(self.error_here("'and', 'or' or ')'"));
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.predicate().map(Expression::Predicate)
    }

    fn subject(&mut self) -> Result<Subject, ParseError> {
        let start = self.pos;
        let word = self.take_while(Subject::is_attribute_name_char);
        let subject = match word {
            "ec2InstanceId" => Subject::Ec2InstanceId,
            "agentConnected" => Subject::AgentConnected,
            "agentVersion" => Subject::AgentVersion,
            "registeredAt" => Subject::RegisteredAt,
            "runningTasksCount" => Subject::RunningTasksCount,
            "task:group" => Subject::TaskGroup,
            _ => match word.strip_prefix("attribute:") {
                Some("") => return Err(self.error_here("an attribute name after 'attribute:'")),
                Some(name) => Subject::Attribute(name.to_string()),
                None => return Err(self.error_at(start, EXPECTED_SUBJECT)),
            },
        };
        Ok(subject)
    }

    fn operator(&mut self) -> Result<Operator, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let symbols = [
            ("==", Operator::Eq),
            ("=~", Operator::Matches),
            ("!=", Operator::Ne),
            ("!~", Operator::NotMatches),
            (">=", Operator::Ge),
            ("<=", Operator::Le),
            (">", Operator::Gt),
            ("<", Operator::Lt),
        ];
        for (sym, op) in symbols {
            if self.eat(sym) {
                return Ok(op);
            }
        }
        let bang = self.eat("!");
        let word = self.take_while(is_word_char).to_ascii_lowercase();
        let op = match (bang, word.as_str()) {
            (true, "exists") | (false, "not_exists") => Some(Operator::NotExists),
            (true, "in") | (false, "not_in") => Some(Operator::NotIn),
            (false, "equals") => Some(Operator::Eq),
            (false, "not_equals") => Some(Operator::Ne),
            (false, "greater_than") => Some(Operator::Gt),
            (false, "greater_than_equal") => Some(Operator::Ge),
            (false, "less_than") => Some(Operator::Lt),
            (false, "less_than_equal") => Some(Operator::Le),
            (false, "exists") => Some(Operator::Exists),
            (false, "in") => Some(Operator::In),
            (false, "matches") => Some(Operator::Matches),
            (false, "not_matches") => Some(Operator::NotMatches),
            _ => None,
        };
        op.ok_or_else(|| self.error_at(start, EXPECTED_OPERATOR))
    }

    /// Reads one value, returning it and its starting byte offset.
    fn value(&mut self) -> Result<(String, usize), ParseError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                self.pos += 1;
                let mut out = String::new();
                let mut chars = self.rest().char_indices();
                while let Some((i, c)) = chars.next() {
                    if c == q {
                        self.pos += i + 1;
                        return Ok((out, start));
                    }
                    if c == '\\' {
                        match chars.next() {
                            Some((_, e @ ('\\' | '\'' | '"'))) => out.push(e),
                            Some((_, e)) => {
                                out.push('\\');
                                out.push(e);
                            }
                            None => out.push('\\'),
                        }
                    } else {
                        out.push(c);
                    }
                }
                Err(ParseError::new(
                    self.column_at(start),
                    format!("a closing {q} for the value starting here"),
                    "end of input".to_string(),
                ))
            }
            _ => {
                let word = self.take_while(is_bare_char);
                if word.is_empty() {
                    Err(self.error_here("a value"))
                } else {
                    Ok((word.to_string(), start))
                }
            }
        }
    }

    fn predicate(&mut self) -> Result<Predicate, ParseError> {
        let subject = self.subject()?;
        let op_start = {
            let rest = self.rest();
            self.pos + (rest.len() - rest.trim_start().len())
        };
        let operator = self.operator()?;
        // Checked before reading the arguments, so that the first error reported is the
        // operator (e.g. `registeredAt in [` complains about `in`, not about the list).
        if let Some(e) = OperatorNotValid::check(&subject, operator) {
            return Err(ParseError::with_message(
                self.column_at(op_start),
                e.expected,
                e.found,
                e.message,
            ));
        }
        let mut args: Vec<(String, usize)> = Vec::new();
        match operator {
            Operator::Exists | Operator::NotExists => {}
            Operator::In | Operator::NotIn => {
                self.skip_ws();
                if !self.eat("[") {
                    return Err(self.error_here("'[' to start the list of values"));
                }
                loop {
                    args.push(self.value()?);
                    self.skip_ws();
                    if self.eat("]") {
                        break;
                    }
                    if !self.eat(",") {
                        return Err(self.error_here("',' or ']'"));
                    }
                }
            }
            _ => args.push(self.value()?),
        }
        let starts: Vec<usize> = args.iter().map(|(_, s)| *s).collect();
        Predicate::build(
            subject,
            operator,
            args.into_iter().map(|(v, _)| v).collect(),
        )
        .map_err(
            |Invalid {
                 argument,
                 expected,
                 found,
                 message,
             }| {
                let pos = argument
                    .and_then(|i| starts.get(i).copied())
                    .unwrap_or(op_start);
                match message {
                    Some(m) => ParseError::with_message(self.column_at(pos), expected, found, m),
                    None => ParseError::new(self.column_at(pos), expected, found),
                }
            },
        )
    }
}
