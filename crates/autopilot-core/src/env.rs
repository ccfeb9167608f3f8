//! Settings from environment variables: the value parsers every function's config uses, and
//! [`ClusterScope`] ("these clusters, or all").
//!
//! The lookup is injected ([`FromEnv::from_lookup`]) so every rule is unit-tested without touching
//! the process environment; [`FromEnv::from_env`] is the production entry point. Invalid values fail
//! fast with a message that names the variable, so a bad deployment fails on its first invocation,
//! visibly. Blank values count as unset everywhere (SAM passes empty parameters as empty strings).

use thiserror::Error;

use crate::arn::same_cluster_name;
use crate::ports::ecs::{EcsError, EcsRead};

pub const ENV_CLUSTERS: &str = "CLUSTERS";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    Invalid {
        var: &'static str,
        value: String,
        reason: String,
    },
}

/// A configuration read from the environment.
pub trait FromEnv: Sized {
    /// Reads the settings through `lookup` (a variable name → its value).
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;

    /// Reads the settings from the process environment.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// `CLUSTERS`: the clusters a function covers — the listed ones (names or ARNs), or every cluster
/// of the account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClusterScope {
    #[default]
    All,
    Only(Vec<String>),
}

impl ClusterScope {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(match list(ENV_CLUSTERS, lookup(ENV_CLUSTERS))? {
            Some(list) => ClusterScope::Only(list),
            None => ClusterScope::All,
        })
    }

    /// Whether a cluster (name or ARN) is in scope.
    pub fn includes(&self, cluster: &str) -> bool {
        match self {
            ClusterScope::All => true,
            ClusterScope::Only(list) => list.iter().any(|c| same_cluster_name(c, cluster)),
        }
    }

    /// The configured list, when there is one.
    pub fn listed(&self) -> Option<&[String]> {
        match self {
            ClusterScope::All => None,
            ClusterScope::Only(list) => Some(list),
        }
    }

    /// How a log line names the scope.
    pub fn describe(&self) -> &'static str {
        match self {
            ClusterScope::All => "every cluster",
            ClusterScope::Only(_) => "CLUSTERS",
        }
    }

    /// The clusters to visit: the list, or every cluster ECS has (ListClusters).
    pub async fn resolve<E: EcsRead>(&self, ecs: &E) -> Result<Vec<String>, EcsError> {
        match self {
            ClusterScope::Only(list) => Ok(list.clone()),
            ClusterScope::All => ecs.list_cluster_arns().await,
        }
    }
}

/// A required value (trimmed); blank counts as missing. `what` says what it should be.
pub fn required(
    var: &'static str,
    value: Option<String>,
    what: &str,
) -> Result<String, ConfigError> {
    let raw = value.unwrap_or_default();
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::Invalid {
            var,
            value: raw,
            reason: format!("required: {what}"),
        });
    }
    Ok(trimmed.to_string())
}

/// A comma-separated list; blank = unset; empty items and surrounding spaces are dropped.
pub fn list(var: &'static str, value: Option<String>) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(raw) = value else { return Ok(None) };
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let items: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if items.is_empty() {
        return Err(ConfigError::Invalid {
            var,
            value: raw,
            reason: "expected a comma-separated list of names or ARNs".into(),
        });
    }
    if let Some(bad) = items.iter().find(|s| s.chars().any(char::is_whitespace)) {
        return Err(ConfigError::Invalid {
            var,
            value: raw.clone(),
            reason: format!("item {bad:?} contains whitespace; separate items with commas"),
        });
    }
    Ok(Some(items))
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, any case); blank = unset.
pub fn boolean(var: &'static str, value: Option<String>) -> Result<Option<bool>, ConfigError> {
    let Some(raw) = value else { return Ok(None) };
    match raw.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "1" | "yes" => Ok(Some(true)),
        "false" | "0" | "no" => Ok(Some(false)),
        _ => Err(ConfigError::Invalid {
            var,
            value: raw,
            reason: "expected true or false".into(),
        }),
    }
}

/// An integer in `min..=max`; blank = unset.
pub fn number(
    var: &'static str,
    value: Option<String>,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    let Some(raw) = value else { return Ok(None) };
    if raw.trim().is_empty() {
        return Ok(None);
    }
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ConfigError::Invalid {
            var,
            value: raw,
            reason: format!("expected an integer between {min} and {max}"),
        }),
    }
}

/// One of `choices` (`(word, value)`, matched in any case); blank = unset.
pub fn choice<T: Copy>(
    var: &'static str,
    value: Option<String>,
    choices: &[(&str, T)],
) -> Result<Option<T>, ConfigError> {
    let Some(raw) = value else { return Ok(None) };
    let wanted = raw.trim().to_ascii_lowercase();
    if wanted.is_empty() {
        return Ok(None);
    }
    match choices.iter().find(|(word, _)| *word == wanted) {
        Some((_, v)) => Ok(Some(*v)),
        None => Err(ConfigError::Invalid {
            var,
            value: raw,
            reason: format!(
                "expected {}",
                choices
                    .iter()
                    .map(|(w, _)| *w)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_scope_matches_names_and_arns() {
        let scope = ClusterScope::from_lookup(|_| Some("prod, staging".into())).expect("ok");
        assert!(scope.includes("arn:aws:ecs:us-east-1:1:cluster/prod"));
        assert!(!scope.includes("arn:aws:ecs:us-east-1:1:cluster/dev"));
        assert!(ClusterScope::All.includes("anything"));
        assert_eq!(
            ClusterScope::from_lookup(|_| Some(" ".into())),
            Ok(ClusterScope::All)
        );
    }

    #[test]
    fn choice_and_required_name_the_variable() {
        let choices = [("stop", 1), ("wait", 2)];
        assert_eq!(choice("X", Some(" WAIT ".into()), &choices), Ok(Some(2)));
        assert_eq!(choice("X", Some("".into()), &choices), Ok(None));
        let err = choice("X", Some("maybe".into()), &choices).expect_err("invalid");
        assert!(err.to_string().contains("stop or wait"), "{err}");
        let err = required("Y", Some("  ".into()), "a name").expect_err("blank");
        assert!(err.to_string().contains('Y'), "{err}");
        assert_eq!(required("Y", Some(" t ".into()), "a name"), Ok("t".into()));
    }
}
