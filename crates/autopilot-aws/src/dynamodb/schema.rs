//! The capacity table's definition as CreateTable / UpdateTimeToLive input, from
//! [`autopilot_core::ports::capacity_store::schema`] (production creates the table from the template instead).

use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use autopilot_core::ports::capacity_store::schema;

/// The table's billing mode.
pub(super) fn billing_mode() -> BillingMode {
    BillingMode::from(schema::BILLING_MODE)
}

/// Partition key (HASH) then sort key (RANGE).
pub(super) fn key_schema() -> Result<Vec<KeySchemaElement>, BuildError> {
    [
        (schema::PARTITION_KEY, KeyType::Hash),
        (schema::SORT_KEY, KeyType::Range),
    ]
    .into_iter()
    .map(|(name, kind)| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    })
    .collect()
}

/// The sparse live index: partition key (HASH) and [`schema::LIVE_SORT_KEY`] (RANGE), every
/// attribute projected (a live read needs the whole item).
pub(super) fn live_index() -> Result<GlobalSecondaryIndex, BuildError> {
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    GlobalSecondaryIndex::builder()
        .index_name(schema::LIVE_INDEX)
        .key_schema(key(schema::PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(schema::LIVE_SORT_KEY, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
}

/// Every key attribute (the table's and the live index's) is a string.
pub(super) fn attribute_definitions() -> Result<Vec<AttributeDefinition>, BuildError> {
    [
        schema::PARTITION_KEY,
        schema::SORT_KEY,
        schema::LIVE_SORT_KEY,
    ]
    .into_iter()
    .map(|name| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    })
    .collect()
}

/// TTL on [`schema::TTL_ATTRIBUTE`].
pub(super) fn time_to_live() -> Result<TimeToLiveSpecification, BuildError> {
    TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(schema::TTL_ATTRIBUTE)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_the_schemas_string_keys() -> Result<(), BuildError> {
        let keys = key_schema()?;
        let names: Vec<(&str, &KeyType)> = keys
            .iter()
            .map(|k| (k.attribute_name(), k.key_type()))
            .collect();
        assert_eq!(
            names,
            [
                (schema::PARTITION_KEY, &KeyType::Hash),
                (schema::SORT_KEY, &KeyType::Range)
            ]
        );
        assert!(attribute_definitions()?
            .iter()
            .all(|a| a.attribute_type() == &ScalarAttributeType::S));
        Ok(())
    }
}
