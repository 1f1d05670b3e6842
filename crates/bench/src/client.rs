//! The HTTP side: GraphQL over `POST /graphql` with JSON, and the few operations the benchmarks
//! send.
//!
//! A response is a success only when it is HTTP 2xx, valid JSON, has no (or an empty) `errors`
//! array and has `data`; anything else is a [`RequestError`], which the benchmarks count by
//! [`RequestError::kind`].

use std::time::Duration;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};

/// Every benchmark user's password (the server requires at least 8 characters).
pub const PASSWORD: &str = "amity-bench-password";

/// Why a GraphQL request failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request did not complete (connection refused, reset, timed out...).
    #[error("the request did not complete: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server answered with an `errors` array.
    #[error("GraphQL error {code}: {message}")]
    Graphql {
        /// `extensions.code` of the first error, or `NO_CODE`.
        code: String,
        /// The messages of all errors, joined.
        message: String,
    },
    /// The server answered with a non-2xx status and no GraphQL errors.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer was not a GraphQL response, or lacked what was asked for.
    #[error("unexpected response: {0}")]
    Malformed(String),
}

impl RequestError {
    /// A short label to count errors by: the GraphQL code, `HTTP <status>`, `transport` or
    /// `malformed`.
    pub fn kind(&self) -> String {
        match self {
            Self::Transport(_) => "transport".to_owned(),
            Self::Graphql { code, .. } => code.clone(),
            Self::Status { status, .. } => format!("HTTP {status}"),
            Self::Malformed(_) => "malformed".to_owned(),
        }
    }
}

/// A signed-up benchmark user.
#[derive(Debug, Clone)]
pub struct Account {
    /// The user's id.
    pub id: String,
    /// The user's handle.
    pub handle: String,
    /// A session token for `Authorization: Bearer`.
    pub token: String,
}

/// A GraphQL client for one server endpoint; cheap to clone (connections are pooled).
#[derive(Debug, Clone)]
pub struct GraphqlClient {
    http: reqwest::Client,
    url: reqwest::Url,
}

impl GraphqlClient {
    /// A client for the endpoint at `url` (`http://host:port/graphql`).
    pub fn new(url: &reqwest::Url) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            url: url.clone(),
        })
    }

    /// A client for the endpoint given as `--url`.
    pub fn for_url(url: &str) -> anyhow::Result<Self> {
        Self::new(&endpoint_url(url)?)
    }

    /// Runs one operation and returns its `data`.
    pub async fn execute(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Result<Value, RequestError> {
        let mut request = self
            .http
            .post(self.url.clone())
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        parse_response(status.as_u16(), &body)
    }

    /// Sends a request body made beforehand (`{"query": ...}` as JSON) and reads `data` as
    /// `T`: the load benchmarks' path, which neither builds nor keeps a JSON tree per request
    /// (`IgnoredAny` skips what is not counted), but still fails on any GraphQL error.
    pub async fn execute_prepared<T: DeserializeOwned>(
        &self,
        token: &str,
        body: &str,
    ) -> Result<T, RequestError> {
        let response = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .bearer_auth(token)
            .body(body.to_owned())
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        parse_response(status.as_u16(), &body)
    }

    /// Signs up a user.
    pub async fn sign_up(&self, handle: &str) -> Result<Account, RequestError> {
        const SIGN_UP: &str = "mutation SignUp($handle: String!, $password: String!) {
            signUp(handle: $handle, password: $password) { token user { id } } }";
        let data = self
            .execute(
                None,
                SIGN_UP,
                json!({ "handle": handle, "password": PASSWORD }),
            )
            .await?;
        let field = |pointer: &str| {
            data.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| RequestError::Malformed(format!("signUp lacks {pointer}")))
        };
        Ok(Account {
            id: field("/signUp/user/id")?,
            handle: handle.to_owned(),
            token: field("/signUp/token")?,
        })
    }

    /// `addFriends(ids)` as the holder of `token`: sends requests, or accepts received ones.
    /// Returns the resulting state of each edge (`FRIEND`, `INVITE_SENT`, ...).
    pub async fn add_friends(
        &self,
        token: &str,
        ids: &[String],
    ) -> Result<Vec<String>, RequestError> {
        const ADD_FRIENDS: &str =
            "mutation AddFriends($ids: [ID!]) { addFriends(ids: $ids) { state } }";
        let data = self
            .execute(Some(token), ADD_FRIENDS, json!({ "ids": ids }))
            .await?;
        let edges = data
            .get("addFriends")
            .and_then(Value::as_array)
            .ok_or_else(|| RequestError::Malformed("addFriends is not a list".to_owned()))?;
        edges
            .iter()
            .map(|edge| {
                edge.get("state")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| RequestError::Malformed("addFriends lacks a state".to_owned()))
            })
            .collect()
    }

    /// Signs in; returns a fresh session token.
    pub async fn sign_in(&self, handle: &str, password: &str) -> Result<String, RequestError> {
        const SIGN_IN: &str = "mutation SignIn($handle: String!, $password: String!) {
            signIn(handle: $handle, password: $password) { token } }";
        let data = self
            .execute(
                None,
                SIGN_IN,
                json!({ "handle": handle, "password": password }),
            )
            .await?;
        data.pointer("/signIn/token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| RequestError::Malformed("signIn lacks the token".to_owned()))
    }

    /// `banUsers(ids)` (permanent) or `unbanUsers(ids)` as the moderator holding `token`.
    pub async fn set_banned(
        &self,
        token: &str,
        ids: &[String],
        banned: bool,
    ) -> Result<(), RequestError> {
        let (query, field) = if banned {
            (
                "mutation Ban($ids: [ID!]) { banUsers(ids: $ids, reason: \"amity-bench\") }",
                "banUsers",
            )
        } else {
            (
                "mutation Unban($ids: [ID!]) { unbanUsers(ids: $ids) }",
                "unbanUsers",
            )
        };
        let data = self
            .execute(Some(token), query, json!({ "ids": ids }))
            .await?;
        match data.get(field).and_then(Value::as_bool) {
            Some(true) => Ok(()),
            other => Err(RequestError::Malformed(format!(
                "{field} returned {other:?}"
            ))),
        }
    }

    /// `sendDirectMessage(to, body)` as the holder of `token`.
    pub async fn send_direct_message(
        &self,
        token: &str,
        to: &str,
        body: &str,
    ) -> Result<(), RequestError> {
        const SEND: &str = "mutation Send($to: ID!, $body: String!) {
            sendDirectMessage(to: $to, body: $body) { id } }";
        let data = self
            .execute(Some(token), SEND, json!({ "to": to, "body": body }))
            .await?;
        match data.pointer("/sendDirectMessage/id") {
            Some(Value::String(_)) => Ok(()),
            _ => Err(RequestError::Malformed(
                "sendDirectMessage lacks the message id".to_owned(),
            )),
        }
    }
}

/// The endpoint given as `--url`, parsed.
pub fn endpoint_url(url: &str) -> anyhow::Result<reqwest::Url> {
    reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("--url {url} is not an address: {e}"))
}

/// A GraphQL response with `data` read as `T`.
#[derive(serde::Deserialize)]
struct Envelope<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Option<Vec<Value>>,
}

/// Turns an HTTP answer into `data` read as `T`, or the error it carries. Any `errors` array
/// makes it a failure, whatever the status and `data`.
fn parse_response<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, RequestError> {
    let parsed = serde_json::from_slice::<Envelope<T>>(body);
    let errors = match &parsed {
        Ok(envelope) => envelope.errors.as_deref(),
        // `data` may not have the expected shape because of the errors: read them alone.
        Err(_) => None,
    };
    let errors = match (errors, &parsed) {
        (Some(errors), _) => Some(errors.to_vec()),
        (None, Err(_)) => serde_json::from_slice::<Envelope<IgnoredAny>>(body)
            .ok()
            .and_then(|e| e.errors),
        (None, Ok(_)) => None,
    };
    if let Some(errors) = errors.filter(|errors| !errors.is_empty()) {
        return Err(graphql_error(&errors));
    }
    if !(200..300).contains(&status) {
        let body = String::from_utf8_lossy(body);
        return Err(RequestError::Status {
            status,
            body: body.chars().take(200).collect(),
        });
    }
    match parsed {
        Ok(Envelope {
            data: Some(data), ..
        }) => Ok(data),
        Ok(_) => Err(RequestError::Malformed("no data and no errors".to_owned())),
        Err(e) => Err(RequestError::Malformed(format!(
            "the body is not the expected GraphQL response: {e}"
        ))),
    }
}

/// The error for a non-empty GraphQL `errors` array (also used for subscription payloads).
pub fn graphql_error(errors: &[Value]) -> RequestError {
    let code = errors
        .first()
        .and_then(|e| e.pointer("/extensions/code"))
        .and_then(Value::as_str)
        .unwrap_or("NO_CODE")
        .to_owned();
    let message = errors
        .iter()
        .map(|e| e.get("message").and_then(Value::as_str).unwrap_or("?"))
        .collect::<Vec<_>>()
        .join("; ");
    RequestError::Graphql { code, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_without_errors_is_a_success() -> anyhow::Result<()> {
        let data = parse_response::<Value>(200, br#"{"data":{"x":true}}"#)?;
        assert_eq!(data, json!({"x": true}));
        let data = parse_response::<Value>(200, br#"{"data":{"x":1},"errors":[]}"#)?;
        assert_eq!(data, json!({"x": 1}));
        Ok(())
    }

    #[test]
    fn an_errors_array_is_a_failure_even_with_http_200_and_data() {
        let body = br#"{"data":null,"errors":[{"message":"no such user","extensions":{"code":"BAD_USER_INPUT"}},{"message":"two"}]}"#;
        let error = parse_response::<Value>(200, body).err();
        assert!(
            matches!(&error, Some(RequestError::Graphql { code, message })
                if code == "BAD_USER_INPUT" && message == "no such user; two"),
            "{error:?}"
        );
        let body = br#"{"data":{"x":1},"errors":[{"message":"partial"}]}"#;
        assert_eq!(
            parse_response::<Value>(200, body).err().map(|e| e.kind()),
            Some("NO_CODE".to_owned())
        );
    }

    #[test]
    fn other_answers_are_failures() {
        let kind = |status, body: &[u8]| {
            parse_response::<Value>(status, body)
                .err()
                .map(|e| e.kind())
        };
        assert_eq!(kind(502, b"bad gateway"), Some("HTTP 502".to_owned()));
        assert_eq!(kind(200, b"not json"), Some("malformed".to_owned()));
        assert_eq!(kind(200, br#"{"data":null}"#), Some("malformed".to_owned()));
    }

    #[test]
    fn typed_data_is_read_and_errors_win_over_its_shape() -> anyhow::Result<()> {
        #[derive(serde::Deserialize)]
        struct Friends {
            edges: Vec<IgnoredAny>,
        }
        #[derive(serde::Deserialize)]
        struct Data {
            friends: Friends,
        }
        let data: Data = parse_response(200, br#"{"data":{"friends":{"edges":[{"a":1},{}]}}}"#)?;
        assert_eq!(data.friends.edges.len(), 2);
        let body = br#"{"data":{"friends":null},"errors":[{"message":"x","extensions":{"code":"FORBIDDEN"}}]}"#;
        let kind = parse_response::<Data>(200, body).err().map(|e| e.kind());
        assert_eq!(kind, Some("FORBIDDEN".to_owned()));
        let kind = parse_response::<Data>(200, br#"{"data":{"friends":3}}"#)
            .err()
            .map(|e| e.kind());
        assert_eq!(kind, Some("malformed".to_owned()));
        Ok(())
    }
}
