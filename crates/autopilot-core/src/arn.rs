//! ECS ARNs and names: the one place that takes them apart. Everything that compares a cluster,
//! a service or a resource with another goes through here.

/// The last `/`-separated segment of an ARN (`.../cluster/prod` → `prod`), or the input when it has none.
pub fn arn_resource_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The cluster's name, given its name or ARN (the capacity table's partition key).
pub fn cluster_name(cluster: &str) -> &str {
    arn_resource_id(cluster)
}

/// Whether two cluster references (names or ARNs) name the same cluster.
pub fn same_cluster_name(a: &str, b: &str) -> bool {
    a == b || cluster_name(a) == cluster_name(b)
}

/// Splits `arn:PARTITION:ecs:REGION:ACCOUNT:TYPE/REST` into (`arn:PARTITION:ecs:REGION:ACCOUNT`, TYPE, REST).
fn split_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut colons = arn.match_indices(':').map(|(i, _)| i);
    let fifth = colons.nth(4)?;
    let (prefix, rest) = (&arn[..fifth], &arn[fifth + 1..]);
    let (kind, tail) = rest.split_once('/')?;
    Some((prefix, kind, tail))
}

/// A resource ARN of type `kind` belongs to `cluster_arn` when it shares its partition, region and
/// account, and — in the long ARN format (`container-instance/CLUSTER/ID`, `task/CLUSTER/ID`) —
/// names the same cluster. Names and ids (not ARNs) have nothing to compare against: true.
pub fn same_cluster(arn: &str, kind: &str, cluster_arn: &str) -> bool {
    let (Some((c_prefix, "cluster", c_name)), Some((r_prefix, r_kind, r_tail))) =
        (split_arn(cluster_arn), split_arn(arn))
    else {
        return true;
    };
    if c_prefix != r_prefix || r_kind != kind {
        return false;
    }
    match r_tail.split_once('/') {
        Some((r_cluster, _)) => r_cluster == c_name,
        None => true,
    }
}

/// The cluster ARN that a container instance ARN implies (`arn:…:container-instance/…` →
/// `arn:…:cluster/NAME`), for a cluster known by `name` only.
pub fn cluster_arn_from_instance(container_instance_arn: &str, name: &str) -> Option<String> {
    container_instance_arn
        .split_once(":container-instance/")
        .map(|(prefix, _)| format!("{prefix}:cluster/{name}"))
}

/// Whether a configured service entry (a name, or a service ARN) applies to `cluster`: bare names
/// apply to every cluster; a long-format service ARN (`service/CLUSTER/NAME`) only to its own.
pub fn service_entry_in_cluster(entry: &str, cluster: &str) -> bool {
    let Some((_, resource)) = entry
        .strip_prefix("arn:")
        .and_then(|_| entry.split_once(":service/"))
    else {
        return true;
    };
    match resource.split_once('/') {
        Some((svc_cluster, _)) => svc_cluster == cluster_name(cluster),
        // Old short ARN format has no cluster segment: let ECS decide.
        None => true,
    }
}

/// The kinds of ARN an event's identity fields hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnKind {
    Cluster,
    ContainerInstance,
    Task,
}

impl ArnKind {
    fn resource_type(self) -> &'static str {
        match self {
            ArnKind::Cluster => "cluster",
            ArnKind::ContainerInstance => "container-instance",
            ArnKind::Task => "task",
        }
    }

    pub(crate) fn expected(self) -> &'static str {
        match self {
            ArnKind::Cluster => "an ECS cluster ARN (arn:PARTITION:ecs:REGION:ACCOUNT:cluster/NAME)",
            ArnKind::ContainerInstance => {
                "an ECS container instance ARN (arn:PARTITION:ecs:REGION:ACCOUNT:container-instance/[CLUSTER/]ID)"
            }
            ArnKind::Task => "an ECS task ARN (arn:PARTITION:ecs:REGION:ACCOUNT:task/[CLUSTER/]ID)",
        }
    }
}

/// Whether `value` is a well-formed ECS ARN of `kind` (the capacity rules' identity table,
/// `crate::capacity::decide`). Every item
/// key comes from these fields: a blank or free-text identity would create a partition (or an
/// item) no sweep ever reads.
pub fn is_ecs_arn(value: &str, kind: ArnKind) -> bool {
    fn name_ok(s: &str) -> bool {
        (1..=255).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
    fn partition_ok(s: &str) -> bool {
        s == "aws"
            || s.strip_prefix("aws-").is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            })
    }
    fn region_ok(s: &str) -> bool {
        // us-east-1, us-gov-west-1, cn-north-1, us-isob-east-1: letters, then dash-separated
        // lowercase words, then a number.
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() >= 3
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
            && parts
                .last()
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    }
    let mut fields = value.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("ecs"), Some(region), Some(account), Some(resource)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return false;
    };
    if !partition_ok(partition)
        || !region_ok(region)
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
    {
        return false;
    }
    let Some(rest) = resource
        .strip_prefix(kind.resource_type())
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    match (kind, segments.as_slice()) {
        (ArnKind::Cluster, [name]) => name_ok(name),
        (ArnKind::ContainerInstance | ArnKind::Task, [id]) => name_ok(id),
        (ArnKind::ContainerInstance | ArnKind::Task, [cluster, id]) => {
            name_ok(cluster) && name_ok(id)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_from_another_cluster_region_or_account_are_refused() {
        let c = "arn:aws:ecs:us-east-1:111:cluster/prod";
        assert!(same_cluster(
            "arn:aws:ecs:us-east-1:111:task/prod/abc",
            "task",
            c
        ));
        assert!(
            same_cluster("arn:aws:ecs:us-east-1:111:task/abc", "task", c),
            "short format"
        );
        assert!(!same_cluster(
            "arn:aws:ecs:us-east-1:111:task/staging/abc",
            "task",
            c
        ));
        assert!(!same_cluster(
            "arn:aws:ecs:eu-west-1:111:task/prod/abc",
            "task",
            c
        ));
        assert!(!same_cluster(
            "arn:aws:ecs:us-east-1:222:task/prod/abc",
            "task",
            c
        ));
        assert!(!same_cluster(
            "arn:aws:ecs:us-east-1:111:container-instance/prod/abc",
            "task",
            c
        ));
        assert!(
            same_cluster("abc", "task", "prod"),
            "ids and names are not checked"
        );
    }

    #[test]
    fn names_and_arns_of_one_cluster_are_the_same_cluster() {
        assert!(same_cluster_name(
            "prod",
            "arn:aws:ecs:us-east-1:1:cluster/prod"
        ));
        assert!(!same_cluster_name(
            "prod",
            "arn:aws:ecs:us-east-1:1:cluster/staging"
        ));
        assert_eq!(
            cluster_arn_from_instance("arn:aws:ecs:us-east-1:1:container-instance/prod/x", "prod")
                .as_deref(),
            Some("arn:aws:ecs:us-east-1:1:cluster/prod")
        );
    }
}
