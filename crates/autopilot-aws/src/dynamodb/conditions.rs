//! Write conditions in DynamoDB's words: the ConditionExpression of a [`WriteCondition`], and the
//! [`Outcome`] of a conditional request, classified from the item a failed condition hands back.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use autopilot_core::capacity::{outcome, Outcome, StoredVersion, WriteCondition};
use autopilot_core::ports::capacity_store::{schema, StoreError};

use super::item::{as_i64, n, Item};
use super::store::store_err;

/// The ConditionExpression of a [`WriteCondition`], with its attribute names (`#v` = the version
/// attribute) and values — the same rule as [`outcome`], in DynamoDB's words.
pub(super) struct ConditionParts {
    pub(super) expression: String,
    pub(super) names: Option<HashMap<String, String>>,
    pub(super) values: Option<HashMap<String, AttributeValue>>,
}

pub(super) fn condition_parts(condition: WriteCondition) -> ConditionParts {
    let absent = format!("attribute_not_exists({})", schema::PARTITION_KEY);
    let (expression, value) = match condition {
        WriteCondition::NewerThanStored(v) => (
            format!("{absent} OR attribute_not_exists(#v) OR #v < :v"),
            Some(v),
        ),
        WriteCondition::AtLeastStored(v) => (
            format!("{absent} OR attribute_not_exists(#v) OR #v <= :v"),
            Some(v),
        ),
        WriteCondition::Unchanged(None) => (absent, None),
        WriteCondition::Unchanged(Some(None)) => (
            format!(
                "attribute_exists({}) AND attribute_not_exists(#v)",
                schema::PARTITION_KEY
            ),
            None,
        ),
        WriteCondition::Unchanged(Some(Some(v))) => ("#v = :v".to_string(), Some(v)),
    };
    let uses_version = expression.contains("#v");
    ConditionParts {
        expression,
        names: uses_version
            .then(|| HashMap::from([("#v".to_string(), schema::VERSION_ATTRIBUTE.to_string())])),
        values: value.map(|v| HashMap::from([(":v".to_string(), n(v))])),
    }
}

/// Turns a conditional request's result into an [`Outcome`]: success = applied; a failed
/// condition is classified from the stored item DynamoDB returned (`old_item` extracts it from
/// the operation's ConditionalCheckFailed error, `None` for any other error); any other error is
/// the store's error.
pub(super) fn conditional_outcome<O, E, R>(
    operation: &'static str,
    condition: WriteCondition,
    result: Result<O, SdkError<E, R>>,
    old_item: impl Fn(&E) -> Option<Option<&Item>>,
) -> Result<Outcome, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(Outcome::Applied),
        Err(SdkError::ServiceError(e)) if old_item(e.err()).is_some() => {
            Ok(refused(condition, old_item(e.err()).flatten()))
        }
        Err(e) => Err(store_err(operation, &e)),
    }
}

/// Classifies a refused write from the stored item DynamoDB returned.
fn refused(condition: WriteCondition, old: Option<&Item>) -> Outcome {
    let stored: StoredVersion =
        old.map(|item| item.get(schema::VERSION_ATTRIBUTE).and_then(as_i64));
    match outcome(condition, stored) {
        // The condition failed, so the rule cannot say Applied; if it does, the item changed
        // between the check and our read of it (or the backend returned no item): a conflict.
        Outcome::Applied => Outcome::Conflict,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::{metadata, service_error};
    use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
    use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;

    type UpdateResult = Result<
        UpdateItemOutput,
        SdkError<UpdateItemError, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    >;

    fn classify(result: UpdateResult) -> Result<Outcome, StoreError> {
        conditional_outcome(
            "UpdateItem",
            WriteCondition::NewerThanStored(5),
            result,
            |e| match e {
                UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item()),
                _ => None,
            },
        )
    }

    #[test]
    fn a_failed_condition_is_classified_from_the_returned_item() {
        let failed = ConditionalCheckFailedException::builder()
            .item(schema::VERSION_ATTRIBUTE, n(9))
            .build();
        let result = classify(Err(service_error(
            UpdateItemError::ConditionalCheckFailedException(failed),
        )));
        // Stored 9 against a write of 5: an out-of-order delivery, not an error.
        assert_eq!(result, Ok(Outcome::Stale));
    }

    #[test]
    fn throttling_is_a_backend_error_that_says_throttled() {
        let throttled = UpdateItemError::generic(metadata(
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded.",
        ));
        match classify(Err(service_error(throttled))) {
            Err(StoreError::Backend { operation, message }) => {
                assert_eq!(operation, "UpdateItem");
                assert!(message.starts_with("throttled"), "{message}");
                assert!(message.contains("provisioned throughput"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
