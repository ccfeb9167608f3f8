//! What every function's `main` shares (feature `lambda`): one cold start — logging, the
//! function's settings, the SDK configuration — and the invocation loop that logs each
//! invocation's AWS usage. Modelled on aws-lambda-rust-runtime's `basic-shared-resource`: state is
//! built once and shared by reference into `run(service_fn(...))`.

use std::fmt;
use std::future::Future;

use autopilot_core::env::FromEnv;
use aws_config::SdkConfig;
use lambda_runtime::{run, service_fn, tracing, Diagnostic, Error, LambdaEvent};
use serde::Serialize;

use crate::CallCounter;

/// The SDK configuration of a cold start, and the counter every client built from it goes through.
pub struct CountedAws {
    sdk: SdkConfig,
    calls: CallCounter,
}

/// One cold start: logging first, then the function's settings — a bad one fails the cold start,
/// naming the variable, rather than run with a half-read config — then the SDK configuration.
pub async fn cold_start<C: FromEnv>() -> Result<(C, CountedAws), Error> {
    tracing::init_default_subscriber();
    let config = C::from_env()?;
    let aws = CountedAws {
        sdk: aws_config::load_from_env().await,
        calls: CallCounter::new(),
    };
    Ok((config, aws))
}

impl CountedAws {
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        self.calls.ecs(&self.sdk)
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        self.calls.dynamodb(&self.sdk)
    }

    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        self.calls.autoscaling(&self.sdk)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        self.calls.sqs(&self.sdk)
    }

    /// Runs the Lambda loop: each invocation goes to `handler`, and then its AWS calls and
    /// throttles are logged as `function`'s metrics (`AwsCalls`, `Throttles`).
    pub async fn serve<H, Fut, R, E>(&self, function: &'static str, handler: H) -> Result<(), Error>
    where
        H: Fn(LambdaEvent<serde_json::Value>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
        R: Serialize,
        E: Into<Diagnostic> + fmt::Debug,
    {
        let (calls, handler) = (&self.calls, &handler);
        // Boxed once per cold start: the runtime's future nests deep enough that computing the
        // layout of `main`'s future inline passes the compiler's default recursion limit.
        Box::pin(run(service_fn(
            move |event: LambdaEvent<serde_json::Value>| async move {
                let before = calls.usage();
                let result = handler(event).await;
                calls.log_since(function, before);
                result
            },
        )))
        .await
    }
}
