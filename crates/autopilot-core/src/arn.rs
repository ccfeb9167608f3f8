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
