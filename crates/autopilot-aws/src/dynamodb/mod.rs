//! The capacity store over DynamoDB: table schema, write conditions, item mapping and the store;
//! and the job queue's table ([`DynamoJobStore`]).

mod conditions;
mod item;
mod job_store;
mod schema;
mod store;

pub use item::{
    from_item, to_item, RecordItem, CLUSTER_ATTRIBUTES, INSTANCE_ATTRIBUTES, KEPT_WHEN_ABSENT,
    TASK_ATTRIBUTES,
};
pub use job_store::DynamoJobStore;
pub use store::DynamoCapacityStore;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use item::Item;

/// Every item a Query returns, all pages (the SDK's paginator), for the small partitions read
/// whole: the cluster registry and one cluster's jobs.
async fn all_items(
    query: QueryFluentBuilder,
) -> Result<Vec<Item>, SdkError<QueryError, HttpResponse>> {
    query.into_paginator().items().send().collect().await
}
