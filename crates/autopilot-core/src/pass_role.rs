//! Which IAM roles a job may carry: RunTask passes the task definition's task role and execution
//! role (and any `overrides.taskRoleArn` / `overrides.executionRoleArn`) to ECS, and is refused
//! unless the caller may `iam:PassRole` each of them (ECS developer guide, "Task IAM role" and
//! "Amazon ECS task execution IAM role"; Service Authorization Reference, IAM: PassRole on the
//! role ARN). The template grants task-dispatcher PassRole on the role names of two parameters
//! and hands the same patterns to the code (`JOB_PASS_ROLE_PATTERNS`), so a job the policy would
//! refuse at RunTask is refused at submit, with the role and the parameter to change.
//!
//! Matching is IAM's for a Resource ARN (`arn:…:role/<pattern>`): `*` any run of characters,
//! `/` included, `?` one character, case-sensitive, against the role's path and name.
//!
//! | role of the job | patterns | verdict |
//! |---|---|---|
//! | none | any | allowed (nothing is passed) |
//! | `…:role/ecsTaskExecutionRole` | `ecs-autopilot-job-*,ecsTaskExecutionRole` | allowed |
//! | `…:role/ecs-autopilot-job-etl` | same | allowed |
//! | `…:role/service-role/ecs-autopilot-job-x` | same | refused (the path is part of the name) |
//! | `…:role/admin` | same | refused, naming the role |
//! | `…:role/anything` | `*` | allowed |
//! | any | unset (`JOB_PASS_ROLE_PATTERNS` empty: the CLI, tests) | allowed (no check) |

use serde_json::Value;

use crate::model::TaskDefinition;

/// The environment variable of the patterns, comma-separated (empty or unset = no check).
pub const ENV_JOB_PASS_ROLE_PATTERNS: &str = "JOB_PASS_ROLE_PATTERNS";

/// The role name patterns the function may pass; empty = no check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassRolePatterns(pub Vec<String>);

impl PassRolePatterns {
    /// From the comma-separated value of [`ENV_JOB_PASS_ROLE_PATTERNS`].
    pub fn parse(value: Option<&str>) -> Self {
        PassRolePatterns(
            value
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }

    /// Why RunTask would be refused for these roles, or `None`. `overrides` is the job's RunTask
    /// `overrides` (its `taskRoleArn` / `executionRoleArn` replace the task definition's).
    pub fn refusal(&self, td: &TaskDefinition, overrides: Option<&Value>) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let replaced = |key: &str| {
            overrides
                .and_then(|o| o.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let roles = [
            (
                "task role",
                replaced("taskRoleArn").or_else(|| td.task_role_arn.clone()),
            ),
            (
                "execution role",
                replaced("executionRoleArn").or_else(|| td.execution_role_arn.clone()),
            ),
        ];
        for (what, role) in roles {
            let Some(role) = role else { continue };
            let name = role_name(&role);
            if !self.0.iter().any(|p| iam_wildcard_match(p, name)) {
                return Some(format!(
                    "invalid job: task-dispatcher may not pass the {what} {role} to ECS \
                     (iam:PassRole allows role names {}): name the role to match, or widen the \
                     stack's JobRoleNamePattern / JobExecutionRoleNamePattern parameter",
                    self.0.join(", ")
                ));
            }
        }
        None
    }
}

/// The path and name of a role ARN (`arn:aws:iam::1:role/path/name` → `path/name`); a bare name
/// as it is.
pub fn role_name(role: &str) -> &str {
    role.split_once(":role/").map_or(role, |(_, name)| name)
}

/// IAM's wildcard match: `*` any run of characters (`/` included), `?` exactly one.
pub fn iam_wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative glob with one backtrack point (the last `*`).
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_ONE: &str = "ecs-autopilot-job-*,ecsTaskExecutionRole";

    /// (patterns, task role, execution role, overrides, what the refusal names or `None`).
    type Case = (
        &'static str,
        Option<String>,
        Option<String>,
        Option<Value>,
        Option<&'static str>,
    );

    fn td(task: Option<&str>, execution: Option<&str>) -> TaskDefinition {
        TaskDefinition {
            arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/etl:3".into(),
            task_role_arn: task.map(str::to_string),
            execution_role_arn: execution.map(str::to_string),
            ..Default::default()
        }
    }

    fn role(name: &str) -> String {
        format!("arn:aws:iam::123456789012:role/{name}")
    }

    #[test]
    fn the_table_of_the_module_doc() {
        let exec = role("ecsTaskExecutionRole");
        let cases: Vec<Case> = vec![
            (DAY_ONE, None, None, None, None),
            (DAY_ONE, None, Some(exec.clone()), None, None),
            (
                DAY_ONE,
                Some(role("ecs-autopilot-job-etl")),
                Some(exec.clone()),
                None,
                None,
            ),
            (
                DAY_ONE,
                Some(role("service-role/ecs-autopilot-job-x")),
                None,
                None,
                Some("service-role/ecs-autopilot-job-x"),
            ),
            (
                DAY_ONE,
                Some(role("admin")),
                Some(exec.clone()),
                None,
                Some(":role/admin"),
            ),
            (
                DAY_ONE,
                None,
                Some(role("legacyExecution")),
                None,
                Some("execution role"),
            ),
            (
                "*",
                Some(role("anything/at/all")),
                Some(role("x")),
                None,
                None,
            ),
            ("", Some(role("admin")), None, None, None),
            // RunTask's overrides replace the task definition's roles.
            (
                DAY_ONE,
                Some(role("ecs-autopilot-job-etl")),
                None,
                Some(serde_json::json!({"taskRoleArn": role("admin")})),
                Some(":role/admin"),
            ),
            (
                DAY_ONE,
                Some(role("admin")),
                None,
                Some(serde_json::json!({"taskRoleArn": role("ecs-autopilot-job-ok")})),
                None,
            ),
            (
                "ecs-autopilot-job-?",
                Some(role("ecs-autopilot-job-1")),
                None,
                None,
                None,
            ),
            (
                "ecs-autopilot-job-?",
                Some(role("ecs-autopilot-job-12")),
                None,
                None,
                Some("job-12"),
            ),
            (
                "EcsTaskExecutionRole",
                None,
                Some(exec.clone()),
                None,
                Some("ecsTaskExecutionRole"),
            ),
        ];
        for (patterns, task, execution, overrides, refused) in cases {
            let verdict = PassRolePatterns::parse(Some(patterns)).refusal(
                &td(task.as_deref(), execution.as_deref()),
                overrides.as_ref(),
            );
            match (refused, verdict) {
                (None, None) => {}
                (Some(part), Some(reason)) => {
                    assert!(reason.contains(part), "{patterns}: {reason}");
                    assert!(reason.contains("JobRoleNamePattern"), "{reason}");
                }
                (want, got) => {
                    panic!("{patterns} {task:?} {execution:?}: want {want:?}, got {got:?}")
                }
            }
        }
    }

    #[test]
    fn iam_wildcards() {
        for (pattern, text, matches) in [
            ("*", "", true),
            ("a*c", "abbbc", true),
            ("a*c", "ab/bc", true),
            ("a*c", "abcd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*job*", "my-job-role", true),
            ("ecsTaskExecutionRole", "ecsTaskExecutionRole", true),
            ("ecsTaskExecutionRole", "ecsTaskExecutionRole2", false),
        ] {
            assert_eq!(
                iam_wildcard_match(pattern, text),
                matches,
                "{pattern} {text}"
            );
        }
        assert_eq!(role_name("arn:aws:iam::1:role/a/b"), "a/b");
        assert_eq!(role_name("plain"), "plain");
    }
}
