//! Counts the HTTP requests an SDK client sends, per operation (retries included), and the
//! throttling answers among them.
//!
//! Attached to every client a function builds ([`CallCounter::ecs`], ...), it makes "how many
//! AWS calls did this event cost, and how many were throttled?" a number: the tests assert it and
//! each invocation logs it as metrics ([`CallCounter::log_since`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use autopilot_core::log::{json_line_with_metrics, Metrics};
use aws_config::SdkConfig;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::http::Response;

use crate::error::THROTTLING_ERRORS;

#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
    throttles: Arc<AtomicU64>,
}

/// Requests sent and throttling answers received, so far or between two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub calls: u64,
    pub throttles: u64,
}

impl Usage {
    /// What was used after `earlier` was taken.
    pub fn since(self, earlier: Usage) -> Usage {
        Usage {
            calls: self.calls.saturating_sub(earlier.calls),
            throttles: self.throttles.saturating_sub(earlier.throttles),
        }
    }
}

/// Builds a client of `$sdk` whose requests `$counter` counts.
macro_rules! counted_client {
    ($name:ident, $sdk:ident) => {
        #[doc = concat!("A `", stringify!($sdk), "` client counted by this counter.")]
        pub fn $name(&self, sdk: &SdkConfig) -> $sdk::Client {
            $sdk::Client::from_conf(
                $sdk::config::Builder::from(sdk)
                    .interceptor(self.clone())
                    .build(),
            )
        }
    };
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    counted_client!(ecs, aws_sdk_ecs);
    counted_client!(dynamodb, aws_sdk_dynamodb);
    counted_client!(autoscaling, aws_sdk_autoscaling);
    counted_client!(sqs, aws_sdk_sqs);

    /// Requests sent so far, per operation name (`"UpdateService"`, ...).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn get(&self, operation: &str) -> u64 {
        self.snapshot().get(operation).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Throttling answers received so far (codes of the SDK's own throttling list).
    pub fn throttles(&self) -> u64 {
        self.throttles.load(Ordering::Relaxed)
    }

    pub fn usage(&self) -> Usage {
        Usage {
            calls: self.total(),
            throttles: self.throttles(),
        }
    }

    pub fn reset(&self) {
        if let Ok(mut m) = self.counts.lock() {
            m.clear();
        }
        self.throttles.store(0, Ordering::Relaxed);
    }

    /// Logs what the invocation used since `before` as one EMF line (`AwsCalls`, `Throttles`
    /// per function): an invocation of any function costs a number an alarm can watch.
    pub fn log_since(&self, function: &'static str, before: Usage) -> Usage {
        let used = self.usage().since(before);
        let metrics = Metrics::new(function, None)
            .count("AwsCalls", used.calls as usize)
            .count("Throttles", used.throttles as usize);
        json_line_with_metrics(
            if used.throttles > 0 { "WARN" } else { "INFO" },
            "aws usage",
            &serde_json::json!({"aws_calls": used.calls, "throttles": used.throttles}),
            &metrics,
        );
        used
    }
}

/// The error code of an AWS answer, whatever the protocol: `x-amzn-query-error` (`Code;Sender`),
/// `x-amzn-ErrorType` (`Code:uri`), a JSON body's `__type`/`code` (`namespace#Code`), or a Query
/// (XML) body's `<Code>`. `None` for a success.
pub fn error_code(response: &Response) -> Option<String> {
    if response.status().as_u16() < 400 {
        return None;
    }
    let headers = response.headers();
    if let Some(v) = headers.get("x-amzn-query-error") {
        return v.split(';').next().map(str::to_string);
    }
    if let Some(v) = headers.get("x-amzn-errortype") {
        return v.split(':').next().map(str::to_string);
    }
    let body = response.body().bytes()?;
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        let code = map.get("__type").or_else(|| map.get("code"))?.as_str()?;
        return code.rsplit('#').next().map(str::to_string);
    }
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].trim().to_string())
}

/// Whether an answer is throttling: HTTP 429, or a code of the SDK's throttling list.
pub fn is_throttling(response: &Response) -> bool {
    response.status().as_u16() == 429
        || error_code(response).is_some_and(|c| THROTTLING_ERRORS.contains(&c.as_str()))
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        if let Ok(mut m) = self.counts.lock() {
            *m.entry(name).or_insert(0) += 1;
        }
        Ok(())
    }

    // Once per attempt, after its answer was read: the SDK's retries of a throttled call are
    // counted one by one, as CloudWatch would count them.
    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_some_and(is_throttling) {
            self.throttles.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;

    fn answer(
        status: u16,
        headers: &[(&'static str, &'static str)],
        body: &'static str,
    ) -> Response {
        let mut r = Response::new(status.try_into().expect("status"), SdkBody::from(body));
        for (k, v) in headers {
            r.headers_mut().insert(*k, *v);
        }
        r
    }

    type Case = (
        u16,
        &'static [(&'static str, &'static str)],
        &'static str,
        Option<&'static str>,
        bool,
    );

    #[test]
    fn error_codes_of_every_protocol() {
        // (status, headers, body, the code read, throttling?)
        let cases: &[Case] = &[
            (200, &[], r#"{"__type": "ThrottlingException"}"#, None, false),
            (400, &[], r#"{"__type": "ThrottlingException", "message": "Rate exceeded"}"#, Some("ThrottlingException"), true),
            (400, &[], r#"{"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}"#, Some("ProvisionedThroughputExceededException"), true),
            (400, &[], r#"{"__type": "ClientException", "message": "Throttling is not this"}"#, Some("ClientException"), false),
            (400, &[], "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code></Error></ErrorResponse>", Some("Throttling"), true),
            (400, &[("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender")], "{}", Some("AWS.SimpleQueueService.NonExistentQueue"), false),
            (400, &[("x-amzn-errortype", "ThrottlingException:http://internal")], "", Some("ThrottlingException"), true),
            (429, &[], "", None, true),
            (500, &[], r#"{"__type": "ServerException"}"#, Some("ServerException"), false),
        ];
        for (status, headers, body, code, throttling) in cases {
            let r = answer(*status, headers, body);
            assert_eq!(error_code(&r).as_deref(), *code, "{status} {body}");
            assert_eq!(is_throttling(&r), *throttling, "{status} {body}");
        }
    }

    #[test]
    fn usage_since_an_earlier_snapshot() {
        let later = Usage {
            calls: 7,
            throttles: 2,
        };
        let earlier = Usage {
            calls: 3,
            throttles: 2,
        };
        assert_eq!(
            later.since(earlier),
            Usage {
                calls: 4,
                throttles: 0
            }
        );
        assert_eq!(
            earlier.since(later),
            Usage::default(),
            "a reset never goes negative"
        );
    }
}
