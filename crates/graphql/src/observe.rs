//! What the API tells its operators: the Prometheus metrics it records (every name begins
//! `amity_`; the binary installs the exporter and serves `GET /metrics`) and the access log.
//!
//! Labels have bounded values only, whatever clients send: operation types, the error codes
//! of [`ErrorCode`], close codes the server knows, and the top-level fields of the schema
//! (anything else is `unknown`), so that no request can grow a metric without bound.

use std::time::Duration;

use async_graphql::parser::types::OperationType;
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::error::ErrorCode;

/// GraphQL operations by transport (`http`, `websocket`), operation type and outcome code.
pub const REQUESTS: &str = "amity_requests_total";
/// How long operations over HTTP took, by top-level field.
pub const OPERATION_SECONDS: &str = "amity_operation_duration_seconds";
/// Open GraphQL websockets.
pub const WEBSOCKETS_OPEN: &str = "amity_websockets_open";
/// Websockets closed by the server, by close code.
pub const WEBSOCKET_CLOSES: &str = "amity_websocket_closes_total";
/// Live subscriptions over all websockets.
pub const SUBSCRIPTIONS_LIVE: &str = "amity_subscriptions_live";
/// Users with at least one websocket on this node.
pub const USERS_ONLINE: &str = "amity_users_online";
/// Requests refused by a rate limit, by limit.
pub const RATE_LIMITED: &str = "amity_rate_limited_total";
/// Sign-ins refused for a wrong handle or password.
pub const SIGNIN_FAILURES: &str = "amity_signin_failures_total";
/// Open HTTP connections (websockets included).
pub const HTTP_CONNECTIONS_OPEN: &str = "amity_http_connections_open";

/// Buckets of [`OPERATION_SECONDS`]: half a millisecond to ten seconds (the request timeout).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Describes this crate's metrics to the installed recorder (help text and units).
pub fn describe() {
    describe_counter!(
        REQUESTS,
        Unit::Count,
        "GraphQL operations by transport, operation type and outcome code (OK or the first \
         error's extensions.code)"
    );
    describe_histogram!(
        OPERATION_SECONDS,
        Unit::Seconds,
        "Time to answer a GraphQL operation over HTTP, by top-level field (multiple, \
         __introspection or unknown when not one field of the schema)"
    );
    describe_gauge!(WEBSOCKETS_OPEN, Unit::Count, "Open GraphQL websockets");
    describe_counter!(
        WEBSOCKET_CLOSES,
        Unit::Count,
        "Websockets closed by the server, by close code (none: the peer went away)"
    );
    describe_gauge!(
        SUBSCRIPTIONS_LIVE,
        Unit::Count,
        "Live subscriptions over all websockets of this node"
    );
    describe_gauge!(
        USERS_ONLINE,
        Unit::Count,
        "Users with at least one websocket on this node"
    );
    describe_counter!(
        RATE_LIMITED,
        Unit::Count,
        "Requests refused with RATE_LIMITED, by limit"
    );
    describe_counter!(
        SIGNIN_FAILURES,
        Unit::Count,
        "Sign-ins refused for a wrong handle or password"
    );
    describe_gauge!(
        HTTP_CONNECTIONS_OPEN,
        Unit::Count,
        "Open HTTP connections, websockets included"
    );
    // Shown from the first scrape, at zero, rather than from their first change: a dashboard
    // or an alert on them needs no "absent" special case.
    for name in [
        WEBSOCKETS_OPEN,
        SUBSCRIPTIONS_LIVE,
        USERS_ONLINE,
        HTTP_CONNECTIONS_OPEN,
    ] {
        gauge!(name).increment(0.0);
    }
    counter!(SIGNIN_FAILURES).increment(0);
}

/// How an operation arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `POST` or `GET /graphql`.
    Http,
    /// A websocket subscribe (or legacy start) message.
    Websocket,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Websocket => "websocket",
        }
    }
}

/// The label of an operation type (`unknown` before the document is understood).
pub fn operation_label(kind: Option<OperationType>) -> &'static str {
    match kind {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "unknown",
    }
}

/// The outcome of a response: `OK`, or the code of its first error.
pub fn outcome(response: &async_graphql::Response) -> &'static str {
    match response.errors.first() {
        None => "OK",
        Some(error) => code_label(
            error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .and_then(|code| match code {
                    async_graphql::Value::String(code) => Some(code.as_str()),
                    _ => None,
                }),
        ),
    }
}

/// A code as a label: one of [`ErrorCode`]'s, or `OTHER`.
pub fn code_label(code: Option<&str>) -> &'static str {
    code.and_then(|code| {
        ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .find(|known| *known == code)
    })
    .unwrap_or("OTHER")
}

/// Counts one operation.
pub fn record_operation(transport: Transport, kind: Option<OperationType>, outcome: &'static str) {
    counter!(
        REQUESTS,
        "transport" => transport.label(),
        "operation" => operation_label(kind),
        "code" => outcome
    )
    .increment(1);
}

/// Records how long an operation on `field` took.
pub fn record_latency(field: &'static str, took: Duration) {
    histogram!(OPERATION_SECONDS, "field" => field).record(took.as_secs_f64());
}

/// Counts a request refused by `limit`.
pub fn record_rate_limited(limit: &'static str) {
    counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

/// Counts a failed sign-in.
pub fn record_signin_failure() {
    counter!(SIGNIN_FAILURES).increment(1);
}

/// Counts a websocket the server closed with `code` (`None`: the peer went away).
pub fn record_websocket_close(code: Option<u16>) {
    let label = match code {
        None => "none",
        Some(1000) => "1000",
        Some(1001) => "1001",
        Some(1009) => "1009",
        Some(1011) => "1011",
        Some(1013) => "1013",
        Some(3008) => "3008",
        Some(4400) => "4400",
        Some(4401) => "4401",
        Some(4403) => "4403",
        Some(4408) => "4408",
        Some(4409) => "4409",
        Some(4429) => "4429",
        Some(_) => "other",
    };
    counter!(WEBSOCKET_CLOSES, "code" => label).increment(1);
}

/// Adds `delta` to a gauge of this module.
pub fn adjust(gauge_name: &'static str, delta: f64) {
    gauge!(gauge_name).increment(delta);
}

/// Sets a gauge of this module.
pub fn set(gauge_name: &'static str, value: f64) {
    gauge!(gauge_name).set(value);
}

/// A count kept in a gauge for as long as this value lives (an open websocket, a connection).
#[derive(Debug)]
pub struct Held(&'static str);

impl Held {
    /// Adds one to `gauge_name` until the value is dropped.
    pub fn new(gauge_name: &'static str) -> Self {
        adjust(gauge_name, 1.0);
        Self(gauge_name)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        adjust(self.0, -1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_outside_the_list_are_other() {
        assert_eq!(code_label(Some("UNAVAILABLE")), "UNAVAILABLE");
        assert_eq!(code_label(Some("SOMETHING_A_CLIENT_MADE_UP")), "OTHER");
        assert_eq!(code_label(None), "OTHER");
    }
}
