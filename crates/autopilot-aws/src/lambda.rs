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
    autopilot_core::log::configure_from_env();
    init_json_subscriber();
    let config = C::from_env()?;
    let aws = CountedAws {
        sdk: aws_config::load_from_env().await,
        calls: CallCounter::new(),
    };
    Ok((config, aws))
}

/// `tracing` events (the runtime's, the SDK's, the handlers' own) become the same JSON lines as
/// the decision lines ([`autopilot_core::log`]): `timestamp`, `level`, `requestId`, `message`,
/// the event's fields and its `target`, at or above `AWS_LAMBDA_LOG_LEVEL`. The runtime's
/// `init_default_subscriber` writes no timestamp and nests the fields, so Lambda would file its
/// lines as INFO whatever their level; and it does not know Lambda's FATAL.
fn init_json_subscriber() {
    use tracing::subscriber::filter::LevelFilter;
    use tracing::subscriber::layer::SubscriberExt;
    use tracing::subscriber::util::SubscriberInitExt;
    use tracing::subscriber::Layer;

    let filter = match autopilot_core::log::min_level() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" => LevelFilter::WARN,
        _ => LevelFilter::ERROR,
    };
    // A second cold start in one process (tests) keeps the first subscriber.
    let _ = tracing::subscriber::registry()
        .with(JsonLines.with_filter(filter))
        .try_init();
}

/// The `tracing` layer of [`init_json_subscriber`].
struct JsonLines;

impl<S: tracing::Subscriber> tracing::subscriber::Layer<S> for JsonLines {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _context: tracing::subscriber::layer::Context<'_, S>,
    ) {
        let level = match *event.metadata().level() {
            tracing::Level::TRACE => "TRACE",
            tracing::Level::DEBUG => "DEBUG",
            tracing::Level::INFO => "INFO",
            tracing::Level::WARN => "WARN",
            tracing::Level::ERROR => "ERROR",
        };
        let mut fields = EventFields::default();
        event.record(&mut fields);
        fields.map.insert(
            "target".into(),
            event.metadata().target().to_string().into(),
        );
        autopilot_core::log::json_line(level, &fields.message, &fields.map);
    }
}

/// An event's `message` and its other fields as JSON values.
#[derive(Default)]
struct EventFields {
    message: String,
    map: serde_json::Map<String, serde_json::Value>,
}

impl EventFields {
    fn insert(&mut self, field: &tracing::field::Field, value: serde_json::Value) {
        if field.name() == "message" {
            self.message = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.map.insert(field.name().to_string(), value);
        }
    }
}

impl tracing::field::Visit for EventFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.insert(field, format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.insert(field, value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.insert(field, value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.insert(field, value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.insert(field, value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.insert(field, value.into());
    }
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
                // Every line of the invocation, its `aws usage` line included, names it.
                autopilot_core::log::set_request_id(Some(&event.context.request_id));
                let before = calls.usage();
                let result = handler(event).await;
                calls.log_since(function, before);
                autopilot_core::log::set_request_id(None);
                result
            },
        )))
        .await
    }
}

#[cfg(test)]
mod tests {
    use lambda_runtime::tracing;
    use lambda_runtime::tracing::subscriber::layer::SubscriberExt;

    /// A `tracing` event becomes the decision lines' JSON: timestamp, Lambda's level name, the
    /// request id, the message and the fields at the top level.
    #[test]
    fn tracing_events_are_json_lines_with_level_timestamp_and_request_id() {
        let capture = autopilot_core::log::capture::start();
        autopilot_core::log::configure(Some("WARN"), false);
        autopilot_core::log::set_request_id(Some("req-1"));
        let subscriber = tracing::subscriber::registry().with(super::JsonLines);
        ::tracing::subscriber::with_default(subscriber, || {
            tracing::info!(cluster = "prod", "below the level: not written");
            tracing::error!(cluster = "prod", attempts = 3_u64, "cluster not reconciled");
        });
        autopilot_core::log::set_request_id(None);
        autopilot_core::log::configure(None, false);
        let lines = capture.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v: serde_json::Value = serde_json::from_str(&lines[0]).expect("JSON");
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["message"], "cluster not reconciled");
        assert_eq!(v["requestId"], "req-1");
        assert_eq!(v["cluster"], "prod");
        assert_eq!(v["attempts"], 3);
        let ts = v["timestamp"].as_str().expect("timestamp");
        assert!(chrono_like_rfc3339(ts), "{ts}");
    }

    /// `2026-12-04T21:00:00.000Z`: date, `T`, time with milliseconds, `Z`.
    fn chrono_like_rfc3339(ts: &str) -> bool {
        let b = ts.as_bytes();
        ts.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && ts.ends_with('Z')
    }
}
