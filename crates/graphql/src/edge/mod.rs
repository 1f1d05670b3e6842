//! The public edge: every limit an anonymous or hostile client meets, in one place.
//!
//! Amity faces the open internet, so each request is checked cheaply before anything expensive
//! happens to it, and each limit has a default (and a setting where an operator may need one):
//!
//! | limit | default | setting |
//! |---|---|---|
//! | request body | 256 KiB, `application/json` only | |
//! | operations per batch | 10 | |
//! | nesting of brackets, values, variables and selections | 64 levels | |
//! | selections with fragments expanded | 10,000 | |
//! | query depth / complexity (async-graphql) | 12 / 20,000 | |
//! | request time | 10 s | `AMITY_REQUEST_TIMEOUT_MS` |
//! | sign-in, sign-up and authenticate attempts per client address | 30 a minute | `AMITY_RATE_AUTH_PER_ADDRESS` |
//! | failed sign-ins per handle and address (all addresses: 10x) | 10 per 15 minutes | `AMITY_RATE_SIGNIN_FAILURES_PER_HANDLE` |
//! | mutations per user | 50 a second | `AMITY_RATE_MUTATIONS_PER_USER` |
//! | password hashes at once (waiting at most 2 s) | one per core | |
//! | open HTTP connections | 10,000 | `AMITY_MAX_CONNECTIONS` |
//! | request headers (also a kept-alive connection's next request) | within 10 s | `AMITY_HTTP_HEADER_TIMEOUT_MS` |
//! | a connection moving no byte | closed after 60 s | `AMITY_HTTP_IDLE_TIMEOUT_MS` |
//! | websocket message | 64 KiB | |
//! | subscriptions per websocket | 20 | `AMITY_WEBSOCKET_MAX_SUBSCRIPTIONS` |
//! | websockets per user and node | 10 | `AMITY_MAX_CONNECTIONS_PER_USER` |
//! | metadata JSON | 16 KiB, 32 levels | |
//!
//! - [`document`]: the scans and the expanded-size walk that run before async-graphql parses
//!   or validates anything.
//! - [`rate`]: rate limits; [`address`]: who the client is (behind trusted proxies too).
//! - [`listener`]: the HTTP server loop with the connection limits.
//! - [`hostile`]: the documents that crashed or stalled the server before, for tests and the
//!   bench tool.
//!
//! [`Edge::admit`] is the one gate every GraphQL request passes, whichever way it came (HTTP
//! POST, a batch item, either websocket protocol).

pub mod address;
pub mod document;
#[cfg(test)]
mod fuzz;
pub mod hostile;
mod label;
pub mod listener;
pub mod rate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amity_domain::UserId;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{BatchRequest, Positioned, Request, Value};

use crate::auth::Caller;
use crate::edge::address::TrustedProxies;
use crate::edge::document::DocumentRefusal;
use crate::edge::rate::{RateLimited, RateLimits, RateSettings};
use crate::error::{ApiError, ErrorCode};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most operations in one batched request.
pub const MAX_BATCH: usize = 10;
/// How long request headers may take to arrive.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a kept-alive connection may sit idle.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `/readyz` waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_millis(1500);
/// Documents longer than this are parsed and checked on a blocking thread, at most one per
/// core at once, so that a flood of large documents cannot keep the async workers (and with
/// them every other request, `/healthz` included) busy.
pub const LARGE_DOCUMENT_BYTES: usize = 16 * 1024;
pub use crate::error::UNAVAILABLE_RETRY_AFTER_SECS;
pub use label::field_label;

/// The edge's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSettings {
    /// Requests running longer are cancelled (`AMITY_REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Rate limits.
    pub rates: RateSettings,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Most open HTTP connections (`AMITY_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// How long request headers may take.
    pub header_read_timeout: Duration,
    /// How long a connection may go without a byte either way.
    pub idle_timeout: Duration,
    /// Which other web origins may call the API from a browser (`AMITY_CORS_ALLOWED_ORIGINS`).
    pub cors: CorsOrigins,
}

/// The web origins whose pages may call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// None but the server's own (no CORS headers are sent): no other page can drive
    /// sign-ups or sign-in attempts from its visitors' browsers.
    #[default]
    SameOrigin,
    /// Any origin (`*`).
    Any,
    /// These origins (`https://app.example.com`, ...).
    List(Vec<String>),
}

impl std::str::FromStr for CorsOrigins {
    type Err = String;

    /// Empty for none, `*` for any, or comma-separated origins (`scheme://host[:port]`).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::SameOrigin);
        }
        if text == "*" {
            return Ok(Self::Any);
        }
        text.split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let rest = origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"));
                match rest {
                    Some(host) if !host.is_empty() && !host.contains(['/', ' ', '*']) => {
                        Ok(origin.to_owned())
                    }
                    _ => Err(format!(
                        "\"{origin}\" is not an origin: write scheme://host[:port], e.g. \
                         https://app.example.com, or * for any"
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self::List)
    }
}

impl Default for EdgeSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            rates: RateSettings::default(),
            trusted_proxies: TrustedProxies::none(),
            max_connections: 10_000,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            cors: CorsOrigins::SameOrigin,
        }
    }
}

/// Open websockets per user on this node.
/// Open websockets per user on this node, and a signal each time one closes.
#[derive(Debug, Default)]
struct Sockets {
    counts: Mutex<HashMap<UserId, usize>>,
    released: tokio::sync::Notify,
}

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, usize>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type SocketCounts = Arc<Sockets>;

/// The edge of one node: its settings and the state its limits keep.
#[derive(Debug)]
pub struct Edge {
    settings: EdgeSettings,
    rates: RateLimits,
    sockets: SocketCounts,
    /// Turns to check a large document off the async workers.
    parse_turns: Arc<tokio::sync::Semaphore>,
}

/// One of a user's websockets on this node, counted until dropped.
#[derive(Debug)]
pub struct SocketSlot {
    user: UserId,
    sockets: SocketCounts,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        {
            let mut sockets = self.sockets.lock();
            if let Some(count) = sockets.get_mut(&self.user) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    sockets.remove(&self.user);
                    crate::observe::adjust(crate::observe::USERS_ONLINE, -1.0);
                }
            }
        }
        self.sockets.released.notify_waiters();
    }
}

impl Edge {
    /// An edge with these settings.
    pub fn new(settings: EdgeSettings) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            rates: RateLimits::new(settings.rates),
            settings,
            sockets: SocketCounts::default(),
            parse_turns: Arc::new(tokio::sync::Semaphore::new(cores)),
        }
    }

    /// How many websockets `user` has open on this node.
    pub fn websockets_of(&self, user: UserId) -> usize {
        self.sockets.lock().get(&user).copied().unwrap_or(0)
    }

    /// Returns once `user` has at most `at_most` websockets open on this node (a closed
    /// connection's place is freed when the server has finished with it, a moment after the
    /// client saw it close).
    pub async fn wait_for_websockets_of(&self, user: UserId, at_most: usize) {
        loop {
            let released = self.sockets.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if self.websockets_of(user) <= at_most {
                return;
            }
            released.await;
        }
    }

    /// A place for one more websocket of `user`, unless they have `max` open on this node.
    pub fn websocket_slot(&self, user: UserId, max: usize) -> Option<SocketSlot> {
        let mut sockets = self.sockets.lock();
        let count = sockets.entry(user).or_insert(0);
        if *count >= max {
            return None;
        }
        if *count == 0 {
            crate::observe::adjust(crate::observe::USERS_ONLINE, 1.0);
        }
        *count += 1;
        Some(SocketSlot {
            user,
            sockets: self.sockets.clone(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &EdgeSettings {
        &self.settings
    }

    /// The rate limits.
    pub fn rates(&self) -> &RateLimits {
        &self.rates
    }

    /// Checks a request before async-graphql sees it: nesting of the text and variables, the
    /// document's expanded size, and the caller's mutation allowance (one per top-level field).
    /// The parsed document is kept in the request, so it is parsed once. Returns the type of
    /// the operation that will run (`None` when validation will refuse it as ambiguous).
    pub fn admit(
        &self,
        request: &mut Request,
        caller: &Caller,
    ) -> Result<Option<OperationType>, ApiError> {
        document::check_nesting(&request.query).map_err(refused)?;
        document::check_variables(&request.variables).map_err(refused)?;
        let doc = match async_graphql::parser::parse_query(&request.query) {
            Ok(doc) => doc,
            Err(e) => {
                let error = async_graphql::ServerError::from(e);
                return Err(ApiError::new(ErrorCode::BadUserInput, error.message));
            }
        };
        document::check_cost(&doc).map_err(refused)?;
        let operation = operation_to_run(&doc, request.operation_name.as_deref());
        let kind = operation.map(|op| op.node.ty);
        if let (Caller::User(session), Some(op)) = (caller, operation)
            && op.node.ty == OperationType::Mutation
        {
            let writes = top_fields(&doc, &op.node.selection_set, 0);
            self.rates
                .mutations(session.user_id, writes)
                .map_err(rate_limited)?;
        }
        request.set_parsed_query(doc);
        Ok(kind)
    }

    /// [`Edge::admit`], on a blocking thread for a document over [`LARGE_DOCUMENT_BYTES`]
    /// (waiting for a turn without holding a worker). Returns the request, parsed when
    /// admitted.
    pub async fn admit_request(
        self: &Arc<Self>,
        mut request: Request,
        caller: &Caller,
    ) -> (Request, Result<Option<OperationType>, ApiError>) {
        if request.query.len() <= LARGE_DOCUMENT_BYTES {
            let admitted = self.admit(&mut request, caller);
            return (request, admitted);
        }
        let Ok(turn) = self.parse_turns.clone().acquire_owned().await else {
            let admitted = self.admit(&mut request, caller);
            return (request, admitted);
        };
        let edge = self.clone();
        let caller = caller.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let admitted = edge.admit(&mut request, &caller);
            drop(turn);
            (request, admitted)
        })
        .await;
        match checked {
            Ok(checked) => checked,
            Err(e) => {
                tracing::error!(error = %amity_domain::error::chain(&e), "checking a document failed");
                let error = ApiError::new(
                    ErrorCode::InternalServerError,
                    "internal server error; the details are in the server log",
                );
                (Request::new(""), Err(error))
            }
        }
    }

    /// The error for a request that ran past [`EdgeSettings::request_timeout`].
    pub fn timed_out(&self) -> ApiError {
        ApiError::unavailable(format!(
            "the request took longer than {} ms and was cancelled; nothing it had not finished \
             was kept",
            self.settings.request_timeout.as_millis()
        ))
    }
}

/// Reads a request body as one GraphQL request or a batch: nesting is checked on the raw
/// bytes before they are parsed, then the JSON, then the batch size.
pub fn parse_batch(body: &[u8]) -> Result<BatchRequest, ApiError> {
    // A batch of requests with variables: three levels of envelope around a variable's value.
    if document::json_nesting(body) > document::MAX_NESTING + 3 {
        return Err(ApiError::new(
            ErrorCode::BadUserInput,
            format!(
                "the request is nested too deep: at most {} levels of arrays and objects in \
                 variables",
                document::MAX_NESTING
            ),
        ));
    }
    let batch: BatchRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::BadUserInput,
            format!("the body must be a GraphQL request in JSON: {e}"),
        )
    })?;
    if let BatchRequest::Batch(items) = &batch
        && items.len() > MAX_BATCH
    {
        return Err(ApiError::new(
            ErrorCode::BadUserInput,
            format!(
                "at most {MAX_BATCH} operations per batch, {} given",
                items.len()
            ),
        ));
    }
    Ok(batch)
}

fn refused(refusal: DocumentRefusal) -> ApiError {
    ApiError::new(ErrorCode::BadUserInput, refusal.to_string())
}

/// The GraphQL error for a rate limit.
pub fn rate_limited(limited: RateLimited) -> ApiError {
    crate::observe::record_rate_limited(limited.limit);
    let secs = limited.retry_after_secs();
    let mut error = ApiError::new(
        ErrorCode::RateLimited,
        format!("too many {}; try again in {secs} s", limited.what),
    );
    error.set("retryAfter", Value::from(secs));
    error
}

/// The operation a request runs: the named one, or the only one (`None` when validation will
/// refuse the request as ambiguous or naming no operation).
pub fn operation_to_run<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    }
}

/// How many fields a selection set has at its top, counting through spreads and inline
/// fragments (every alias and repeat counts).
fn top_fields(doc: &ExecutableDocument, set: &Positioned<SelectionSet>, level: usize) -> u32 {
    let mut names = Vec::new();
    top_field_names(doc, set, level, &mut names);
    u32::try_from(names.len()).unwrap_or(u32::MAX)
}

/// The names of the fields at the top of a selection set entered at nesting `level`, through
/// spreads and inline fragments, one per selection (an admitted document's size was checked,
/// so this is bounded).
pub fn top_field_names<'a>(
    doc: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    level: usize,
    into: &mut Vec<&'a str>,
) {
    if level > document::MAX_NESTING {
        return;
    }
    for selection in &set.node.items {
        match &selection.node {
            Selection::Field(field) => into.push(field.node.name.node.as_str()),
            Selection::InlineFragment(inline) => {
                top_field_names(doc, &inline.node.selection_set, level + 1, into);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    top_field_names(doc, &fragment.node.selection_set, level + 1, into);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Session;
    use amity_domain::UserId;
    use amity_domain::accounts::Role;

    fn user() -> Caller {
        Caller::User(Session {
            user_id: UserId::new(),
            role: Role::User,
            session_id: amity_domain::SessionId::new(),
        })
    }

    #[test]
    fn admitted_requests_keep_their_parsed_document() {
        let edge = Edge::new(EdgeSettings::default());
        let mut request = Request::new("{ me { id } }");
        assert!(edge.admit(&mut request, &Caller::Anonymous).is_ok());
        let mut bad = Request::new("{ me { id ");
        let err = edge.admit(&mut bad, &Caller::Anonymous).unwrap_err();
        assert_eq!(err.code().as_deref(), Some("BAD_USER_INPUT"));
        let err = edge
            .admit(
                &mut Request::new(hostile::list_literal(1_600)),
                &Caller::Anonymous,
            )
            .unwrap_err();
        assert!(
            err.message().contains("nested too deep"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn cors_origins_are_parsed_strictly() {
        assert_eq!("".parse(), Ok(CorsOrigins::SameOrigin));
        assert_eq!(" * ".parse(), Ok(CorsOrigins::Any));
        assert_eq!(
            "https://a.example, http://localhost:3000".parse(),
            Ok(CorsOrigins::List(vec![
                "https://a.example".into(),
                "http://localhost:3000".into()
            ]))
        );
        for bad in [
            "a.example",
            "https://",
            "https://a.example/path",
            "ftp://x",
            "https://*.x",
        ] {
            assert!(bad.parse::<CorsOrigins>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_top_level_mutation_field_counts() {
        let edge = Edge::new(EdgeSettings {
            rates: RateSettings {
                mutations_per_user: 5,
                ..RateSettings::off()
            },
            ..EdgeSettings::default()
        });
        let caller = user();
        let five = "mutation { a: removeFriends(ids: []) ...M ... on Mutation { d: removeFriends(ids: []) e: removeFriends(ids: []) } } \
                    fragment M on Mutation { b: removeFriends(ids: []) c: removeFriends(ids: []) }";
        let doc = async_graphql::parser::parse_query(five).unwrap();
        let op = operation_to_run(&doc, None).unwrap();
        assert_eq!(top_fields(&doc, &op.node.selection_set, 0), 5);
        assert!(edge.admit(&mut Request::new(five), &caller).is_ok());
        let err = edge
            .admit(
                &mut Request::new("mutation { removeFriends(ids: []) }"),
                &caller,
            )
            .unwrap_err();
        assert_eq!(err.code().as_deref(), Some("RATE_LIMITED"));
        // Queries are not mutations, and anonymous callers have no allowance to spend.
        assert!(
            edge.admit(&mut Request::new("{ me { id } }"), &caller)
                .is_ok()
        );
        assert!(
            edge.admit(
                &mut Request::new("mutation { signIn(handle: \"a\", password: \"b\") { token } }"),
                &Caller::Anonymous
            )
            .is_ok()
        );
        let named = "query A { me { id } } mutation B { x: removeFriends(ids: []) }";
        let mut request = Request::new(named).operation_name("A");
        assert_eq!(
            edge.admit(&mut request, &user()).unwrap(),
            Some(OperationType::Query)
        );
        let mut request = Request::new(named).operation_name("B");
        assert_eq!(
            edge.admit(&mut request, &user()).unwrap(),
            Some(OperationType::Mutation)
        );
        assert_eq!(edge.admit(&mut Request::new(named), &user()).unwrap(), None);
    }
}
