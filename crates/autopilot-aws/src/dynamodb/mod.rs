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
