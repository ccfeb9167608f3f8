//! # ecs-cluster-query
//!
//! A parser and evaluator for the Amazon ECS **cluster query language** (the expressions of
//! `memberOf` placement constraints and of `ListContainerInstances --filter`), and a
//! deterministic simulation of ECS **task placement** ([`placement`]). No AWS dependency: the
//! project evaluates expressions itself (moto, for one, ignores `--filter`).
//!
//! ```
//! use ecs_cluster_query::{parse, Host};
//!
//! let expr = parse("attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d")?;
//! let host = Host::new("i-0123")
//!     .with_attribute("ecs.instance-type", "t2.micro")
//!     .with_attribute("ecs.availability-zone", "us-east-1a");
//! assert!(expr.evaluate(&host));
//! # Ok::<(), ecs_cluster_query::ParseError>(())
//! ```
//!
//! ## Grammar
//!
//! ```text
//! expression := and_expr ( ("or" | "||") and_expr )*
//! and_expr   := unary ( ("and" | "&&") unary )*
//! unary      := ("not" | "!") unary | primary
//! primary    := "(" expression ")" | predicate
//! predicate  := subject operator [value | "[" value ("," value)* "]"]
//! subject    := "attribute:" NAME | "ec2InstanceId" | "agentConnected" | "agentVersion"
//!             | "registeredAt" | "runningTasksCount" | "task:group"
//! operator   := "==" | "equals" | "!=" | "not_equals" | ">" | "greater_than"
//!             | ">=" | "greater_than_equal" | "<" | "less_than" | "<=" | "less_than_equal"
//!             | "exists" | "!exists" | "not_exists" | "in" | "!in" | "not_in"
//!             | "=~" | "matches" | "!~" | "not_matches"
//! value      := bare-word | '...' | "..."
//! ```
//!
//! ## Decisions
//!
//! The ECS documentation leaves several points open. Each choice below is tested.
//!
//! | Topic | Decision |
//! |---|---|
//! | Precedence | `not` > `and` > `or` (conventional): `a or b and c` is `a or (b and c)`. `and` and `or` are left-associative. |
//! | `not` scope | `not`/`!` applies to the **next primary** (a predicate or a parenthesised group): `not a == x and b == y` is `(not a == x) and b == y`. `not(task:group == database)` works with or without a space. |
//! | Keyword case | Operator words (`equals`, `not_in`, ...), `and`/`or`/`not`, and `true`/`false` for `agentConnected` are **case-insensitive**. Subjects (`agentConnected`, `attribute:`, `task:group`), attribute names and values are **case-sensitive**, as ECS attribute names and values are. |
//! | Attribute names | ASCII letters, digits, `.`, `-`, `_`, `/`, `:`. |
//! | Bare values | Any run of characters except whitespace and `( ) [ ] , ' " & \| ! = < >`; so `t2.*`, `us-east-1a`, `2018-06-18T22:28:28Z`, `service:production` need no quotes. Anything else is quoted with `'...'` or `"..."`; inside quotes `\\`, `\'`, `\"` are escapes and any other backslash is kept literally (so regexes like `'t2\.(micro\|small)'` read naturally). |
//! | Length | At most 2000 characters (Unicode scalar values); longer input is a [`ParseError`] at column 2001. Parentheses and `not` nest at most [`MAX_NESTING`] deep. |
//! | Errors | [`ParseError`] has a 1-based character column, what was expected, what was found, and a message: `column 17: expected an operator (==, !=, in, exists, ...), found 'foo'`. Invalid arguments (a bad date, a non-integer count, an invalid regex) are parse errors at the argument's column. An operator the subject does not accept is reported at the operator's column, before its arguments are read: `column 14: operator =~ is not valid for subject agentVersion; valid: ==, !=, >, >=, <, <=`. |
//! | Valid operators | [`Subject::valid_operators`]: the docs' "Valid operators" lists for `agentConnected`, `ec2InstanceId` (`==` `!=` `in` `!in` `=~` `!~`) and `agentVersion`, `registeredAt`, `runningTasksCount` (`==` `!=` `>` `>=` `<` `<=`). The docs give no list for `attribute:NAME` (every operator; the only subject with `exists`/`!exists`) nor for `task:group` (our choice: the six of `ec2InstanceId`). |
//! | Regex match | **Full match** (our decision: the docs only say "Java regular expression syntax"; we assume ECS uses Java's `Matcher.matches()`). The pattern is compiled once, at parse time, as `^(?:PATTERN)$` (after checking that `PATTERN` parses on its own, so it cannot escape the group; an invalid pattern is a parse error at its column). `t2.*` matches `t2.micro`; `t2` does not. |
//! | Missing value | For the single-valued subjects (everything but `task:group`), a host **without a value** (attribute absent or present without a value, field unknown) satisfies **no** comparison: `==`, `in`, `=~`, the orderings **and** `!=`, `not_in`, `!~` are all false; only `exists`/`not_exists` look at presence. The docs describe `attribute:stack != prod` as listing "the instances with the custom attribute stack unless the attribute value is prod"; and daemon-count would otherwise count hosts where ECS never places the task, leaving the extra tasks PENDING. Among hosts with a value, `!=`/`not_in`/`!~` are exactly the negation of `==`/`in`/`=~`; an explicit `not (attribute:x == y)` is the plain negation (true for hosts without `x`). |
//! | Value-less attribute | `exists` is true, `not_exists` false; for every other operator it has no value (row above). |
//! | `==` on attributes, `ec2InstanceId` | String equality (case-sensitive, no numeric normalisation: `1.0 != 1`). |
//! | Ordering on attributes | **Numeric** when both the argument and the host's value are plain decimals (`-?\d+(\.\d+)?`), else **lexicographic** by bytes. |
//! | `runningTasksCount` | Integer; the argument must be a non-negative integer. |
//! | `agentVersion` | Dotted version numbers compared part by part, missing parts are 0: `1.10.0 > 1.9.0`, `1.10 == 1.10.0`. The argument must be `N(.N)*`; a host value that is not one is false for `==`/orderings (true for `!=`). |
//! | `registeredAt` | Arguments `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SS` with `Z`, `+HH:MM`/`-HH:MM`, or nothing (UTC); fractions of a second are truncated. Compared in whole seconds against [`HostView::registered_at`]. `==` means that exact second. |
//! | `agentConnected` | `== true` / `== false` (any case; also `in`, `!=`, `=~` on the text `true`/`false`). |
//! | `task:group` | A set (the groups of the host's tasks): `== X` / `in [..]`: some task has that group; `!= X` / `not_in`: no task has it (so a host without tasks satisfies them); `=~`: some group matches; `!~`: none does. |
//! | Canonical form | `Display` prints symbol operators, `and`/`or`/`not`, bare values where possible and `'...'` otherwise, and only the parentheses the precedence needs; it parses back to an equal [`Expression`]. |
//! | Evaluation cost | Arguments are typed and regexes compiled at parse time (literal and `LITERAL.*` patterns, the usual ECS shapes, get an exact string fast path, property-tested against the regex); [`Expression::evaluate`] allocates nothing for [`Host`] (the [`HostView::any_task_group`] hook avoids the `Vec` of [`HostView::task_groups`]). |
//!
//! ## Regex differences from Java
//!
//! ECS documents Java `java.util.regex.Pattern` syntax; this crate uses the `regex` crate, which
//! guarantees linear-time matching and therefore does **not** support: backreferences (`\1`),
//! lookahead/lookbehind (`(?=`, `(?!`, `(?<=`, `(?<!`), possessive quantifiers (`a*+`) and atomic
//! groups (`(?>...)`), `\Q...\E` quoting, Java-specific classes (`\p{javaLowerCase}`,
//! `\p{Lower}`), `\G`/`\Z`, or Java's `\h`, `\R` and `\X`. Such patterns are a [`ParseError`].
//! Patterns both accept can still differ: Java's `.` excludes every line terminator (`\n`, `\r`,
//! `\u{85}`, `\u{2028}`, `\u{2029}`) where the `regex` crate's excludes only `\n`; `(?i)` is
//! ASCII-only in Java (unless `(?u)`) but Unicode-aware here; `\d`, `\w`, `\s` and `\b` are
//! Unicode-aware here but ASCII-only in Java unless `(?U)`. ECS values are ASCII without line
//! breaks, so none of this matters for real container instances.
//!
//! ## Placement
//!
//! See [`placement`]: resources fit (CPU, memory, host ports; hosts with a disconnected agent
//! are skipped) → constraints (binding) → strategies (best effort, chained) → first host wins.
//! `spread` counts tasks placed in this call **plus** existing tasks of the request's group
//! ([`placement::TaskRequest::group`]); without a group only tasks placed in this call count.
//! Hosts lacking a spread attribute share one bucket. `random` is a splitmix64 hash of the seed,
//! the task index and the host index. Final ties go to the earlier host in the input.

mod ast;
mod date;
mod host;
mod parser;
pub mod placement;

#[doc(hidden)]
pub use ast::full_match_agrees;
pub use ast::{Argument, Expression, Operator, Predicate, Subject};
/// The `registeredAt` date forms the language accepts, as Unix seconds (also how capacity-recorder
/// reads the `registeredAt` of container instance events, so both sides compare alike).
pub use date::parse_timestamp;
pub use host::{Host, HostView};
pub use parser::{is_bare_char, parse, ParseError, MAX_EXPRESSION_CHARS, MAX_NESTING};
