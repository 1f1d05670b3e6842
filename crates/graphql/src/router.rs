//! The HTTP routes: `POST /graphql`; `GET /graphql`, which is GraphiQL for a browser (see
//! [`crate::graphiql`]), a websocket for an upgrade request (see [`crate::websocket`]) and
//! otherwise a query executed as GraphQL over HTTP specifies; `/healthz` and `/readyz`.
//!
//! Every GraphQL request passes [`Edge::admit`] before async-graphql sees it, and runs under
//! the request timeout; see [`crate::edge`] for the limits.

use std::sync::Arc;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Response};
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

use crate::Services;
use crate::auth::Caller;
use crate::edge::address::ClientAddress;
use crate::edge::listener::PeerAddr;
use crate::edge::{CorsOrigins, Edge, MAX_BODY_BYTES, READY_TIMEOUT};
use crate::error::{ApiError, ErrorCode, ensure_codes};
use crate::observe::{self, Transport};
use crate::schema::AmitySchema;
use crate::websocket::{self, WebSocketSettings};

#[derive(Clone)]
struct AppState {
    schema: AmitySchema,
    services: Arc<Services>,
    edge: Arc<Edge>,
    websockets: WebSocketSettings,
    shutdown: watch::Receiver<bool>,
}

/// The router serving the API. Websockets close when `shutdown` turns true.
pub fn router(
    schema: AmitySchema,
    services: Services,
    edge: Arc<Edge>,
    websockets: WebSocketSettings,
    shutdown: watch::Receiver<bool>,
) -> Router {
    let state = AppState {
        schema,
        services: Arc::new(services),
        edge,
        websockets,
        shutdown,
    };
    let cors = cors_layer(&state.edge.settings().cors);
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphiql/{file}", get(crate::graphiql::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(axum::middleware::from_fn(access_log))
        .with_state(state)
}

/// Runs a request in a `request` span (method, path; the GraphQL handlers add the operation,
/// the user id and the outcome) and writes one access line when it is answered: at info for
/// `/graphql`, at debug for health checks, scrapes and GraphiQL's files. The query string is
/// never logged (it may carry variables), nor is any header.
async fn access_log(request: Request, next: axum::middleware::Next) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "request",
        %method,
        path = %path,
        operation = tracing::field::Empty,
        user_id = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    // Microsecond precision is plenty for a log line.
    let duration_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    let _entered = span.enter();
    if path == "/graphql" {
        tracing::info!(target: "amity::access", status, duration_ms, "answered");
    } else {
        tracing::debug!(target: "amity::access", status, duration_ms, "answered");
    }
    response
}

/// Notes in the current request span what ran, for whom, and how it ended.
fn record_in_span(caller: &Caller, operations: &[(Option<String>, &'static str)]) {
    let span = tracing::Span::current();
    if let Caller::User(session) = caller {
        span.record("user_id", tracing::field::display(session.user_id));
    }
    let names: Vec<&str> = operations
        .iter()
        .map(|(name, _)| name.as_deref().unwrap_or("-"))
        .collect();
    let outcomes: Vec<&str> = operations.iter().map(|(_, outcome)| *outcome).collect();
    span.record("operation", names.join(",").as_str());
    span.record("outcome", outcomes.join(",").as_str());
}

/// The CORS layer for the allowed origins; none (no CORS headers, same origin only) by default.
fn cors_layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    let allow = match origins {
        CorsOrigins::SameOrigin => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
    )
}

/// The client of a request: its TCP peer, or behind a trusted proxy the forwarded address.
fn client_of(edge: &Edge, request: &Request) -> ClientAddress {
    let peer = request
        .extensions()
        .get::<PeerAddr>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.0.ip());
    ClientAddress::of(peer, request.headers(), &edge.settings().trusted_proxies)
}

/// The parameters of a GraphQL-over-HTTP GET: `?query=...&operationName=...&variables=...`
/// (variables and extensions as JSON text).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// What a GET on `/graphql` asks for.
enum GetKind {
    /// A websocket upgrade.
    Websocket,
    /// GraphiQL, for a browser (`Accept: text/html`) or a GET without a query.
    GraphiQl,
    /// A query to execute (GraphQL over HTTP).
    Execute,
}

fn get_kind(headers: &HeaderMap, has_query: bool) -> GetKind {
    let wants_websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if wants_websocket {
        GetKind::Websocket
    } else if accept.contains("text/html") || (!has_query && !accept.contains("json")) {
        GetKind::GraphiQl
    } else {
        GetKind::Execute
    }
}

/// `GET /graphql`: a websocket for an upgrade request, GraphiQL for a browser, otherwise a
/// query executed as GraphQL over HTTP specifies (mutations and subscriptions: 405).
async fn graphql_get(State(state): State<AppState>, request: Request) -> axum::response::Response {
    let params = axum::extract::Query::<GetParams>::try_from_uri(request.uri()).map(|q| q.0);
    match get_kind(
        request.headers(),
        params.as_ref().is_ok_and(|p| p.query.is_some()),
    ) {
        GetKind::Websocket => websocket_upgrade(state, request).await,
        GetKind::GraphiQl => crate::graphiql::page(),
        GetKind::Execute => {
            let params = match params {
                Ok(params) => params,
                Err(e) => {
                    return bad_request(
                        StatusCode::BAD_REQUEST,
                        format!("the query string could not be read: {}", e.body_text()),
                    );
                }
            };
            let limit = state.edge.settings().request_timeout;
            match tokio::time::timeout(limit, execute_get(&state, request, params)).await {
                Ok(response) => response,
                Err(_) => timed_out(&state, limit),
            }
        }
    }
}

/// A GraphQL request from the parameters of a GET.
fn request_from_get(params: GetParams) -> Result<async_graphql::Request, ApiError> {
    let Some(query) = params.query else {
        return Err(ApiError::new(
            ErrorCode::BadUserInput,
            "a GET on /graphql needs a ?query= parameter (or send a POST)",
        ));
    };
    // serde_json refuses nesting past 128 levels without recursing further; the edge then
    // holds variables to its own 64 levels, as for a POST.
    let json = |name: &str, text: Option<String>| -> Result<Option<serde_json::Value>, ApiError> {
        let Some(text) = text else { return Ok(None) };
        serde_json::from_str(&text).map(Some).map_err(|e| {
            ApiError::new(
                ErrorCode::BadUserInput,
                format!("the {name} parameter must be JSON: {e}"),
            )
        })
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = json("variables", params.variables)? {
        request = request.variables(async_graphql::Variables::from_json(variables));
    }
    if let Some(serde_json::Value::Object(extensions)) = json("extensions", params.extensions)? {
        for (key, value) in extensions {
            if let Ok(value) = async_graphql::Value::from_json(value) {
                request.extensions.insert(key, value);
            }
        }
    }
    Ok(request)
}

async fn execute_get(
    state: &AppState,
    request: Request,
    params: GetParams,
) -> axum::response::Response {
    let graphql = match request_from_get(params) {
        Ok(graphql) => graphql,
        Err(refusal) => return error_response(StatusCode::BAD_REQUEST, refusal),
    };
    let client = client_of(&state.edge, &request);
    let caller = caller_of(state, request.headers()).await;
    let ran = execute_one(state, graphql, &caller, client, Method::Get).await;
    let name = ran.operation;
    match ran.executed {
        Executed::Done(response) => {
            record_in_span(&caller, &[(name, observe::outcome(&response))]);
            GraphQLResponse::from(*response).into_response()
        }
        Executed::WrongMethod => {
            record_in_span(&caller, &[(name, ErrorCode::BadUserInput.as_str())]);
            let mut response = error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                ApiError::new(
                    ErrorCode::BadUserInput,
                    "only queries may be sent with GET; send mutations and subscriptions with \
                     POST or over the websocket",
                ),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            response
        }
    }
}

/// A GraphQL websocket for an upgrade request.
async fn websocket_upgrade(state: AppState, request: Request) -> axum::response::Response {
    let client = client_of(&state.edge, &request);
    let protocol = request
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        });
    let (mut parts, _) = request.into_parts();
    let Some(protocol) = protocol else {
        return error_response(
            StatusCode::BAD_REQUEST,
            ApiError::new(
                ErrorCode::BadUserInput,
                "ask for the graphql-transport-ws (or legacy graphql-ws) websocket subprotocol",
            ),
        );
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(websocket::READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(4 * 1024 * 1024)
        .max_message_size(websocket::MAX_MESSAGE_BYTES)
        .max_frame_size(websocket::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            websocket::serve(
                socket,
                websocket::Connection {
                    schema: state.schema,
                    services: state.services,
                    edge: state.edge,
                    protocol,
                    settings: state.websockets,
                    client,
                },
                state.shutdown,
            )
        })
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match tokio::time::timeout(READY_TIMEOUT, state.services.store.is_ready()).await {
        Ok(true) => (StatusCode::OK, "ready"),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable (no answer in time)",
        ),
    }
}

/// A response made of one request-level error.
fn error_response(status: StatusCode, error: ApiError) -> axum::response::Response {
    let body = GraphQLResponse::from(Response::from_errors(vec![error.into_server_error()]));
    let mut response = (status, body).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::edge::UNAVAILABLE_RETRY_AFTER_SECS),
        );
    }
    response
}

fn bad_request(status: StatusCode, message: impl Into<String>) -> axum::response::Response {
    error_response(status, ApiError::new(ErrorCode::BadUserInput, message))
}

/// Whether a request says its body is JSON (`application/json`, any parameters).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

async fn graphql_post(State(state): State<AppState>, request: Request) -> axum::response::Response {
    let limit = state.edge.settings().request_timeout;
    match tokio::time::timeout(limit, execute_post(&state, request)).await {
        Ok(response) => response,
        Err(_) => timed_out(&state, limit),
    }
}

/// The answer to a request cancelled after `limit`.
fn timed_out(state: &AppState, limit: std::time::Duration) -> axum::response::Response {
    tracing::warn!(
        timeout_ms = limit.as_millis() as u64,
        "a request ran out of time and was cancelled"
    );
    error_response(StatusCode::SERVICE_UNAVAILABLE, state.edge.timed_out())
}

/// The caller named by a request's `Authorization` header.
async fn caller_of(state: &AppState, headers: &HeaderMap) -> Caller {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    crate::auth::authenticate(&state.services, auth).await
}

async fn execute_post(state: &AppState, request: Request) -> axum::response::Response {
    if !is_json(request.headers()) {
        return bad_request(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as JSON, with \"Content-Type: application/json\"",
        );
    }
    let client = client_of(&state.edge, &request);
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
            return if too_large {
                bad_request(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body refused: larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                bad_request(
                    StatusCode::BAD_REQUEST,
                    format!("request body could not be read: {e}"),
                )
            };
        }
    };
    let batch = match crate::edge::parse_batch(&body) {
        Ok(batch) => batch,
        Err(refusal) => return error_response(StatusCode::BAD_REQUEST, refusal),
    };
    let caller = caller_of(state, &parts.headers).await;
    let response = match batch {
        BatchRequest::Single(request) => {
            let ran = execute_one(state, request, &caller, client, Method::Post).await;
            let (name, response) = ran.into_parts();
            record_in_span(&caller, &[(name, observe::outcome(&response))]);
            BatchResponse::Single(response)
        }
        BatchRequest::Batch(requests) => {
            let runs = requests
                .into_iter()
                .map(|request| execute_one(state, request, &caller, client, Method::Post));
            let ran = async_graphql::futures_util::future::join_all(runs).await;
            let (names, responses): (Vec<_>, Vec<_>) = ran.into_iter().map(Ran::into_parts).unzip();
            let operations: Vec<_> = names
                .into_iter()
                .zip(responses.iter().map(observe::outcome))
                .collect();
            record_in_span(&caller, &operations);
            BatchResponse::Batch(responses)
        }
    };
    GraphQLResponse::from(response).into_response()
}

/// How an operation arrived over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Any operation.
    Post,
    /// Queries only.
    Get,
}

/// What became of one operation.
enum Executed {
    /// It ran, or was refused with an error in its response.
    Done(Box<Response>),
    /// A mutation or subscription sent with GET: not run.
    WrongMethod,
}

/// One operation after [`execute_one`]: its name (for the access log) and what became of it.
struct Ran {
    /// The operation's name, from the request or the document; `None` when anonymous.
    operation: Option<String>,
    executed: Executed,
}

impl Ran {
    /// The name and the response of an operation sent with POST (which takes every kind).
    fn into_parts(self) -> (Option<String>, Response) {
        let response = match self.executed {
            Executed::Done(response) => *response,
            Executed::WrongMethod => Response::default(),
        };
        (self.operation, response)
    }
}

/// One operation: admitted by the edge, then executed with the caller and client attached.
async fn execute_one(
    state: &AppState,
    request: async_graphql::Request,
    caller: &Caller,
    client: ClientAddress,
    method: Method,
) -> Ran {
    let started = std::time::Instant::now();
    let mut operation = request.operation_name.clone();
    let (mut request, admitted) = state.edge.admit_request(request, caller).await;
    let kind = match admitted {
        Err(refusal) => {
            let response = Response::from_errors(vec![refusal.into_server_error()]);
            observe::record_operation(Transport::Http, None, observe::outcome(&response));
            let executed = Executed::Done(Box::new(response));
            return Ran {
                operation,
                executed,
            };
        }
        Ok(kind @ Some(OperationType::Mutation | OperationType::Subscription))
            if method == Method::Get =>
        {
            observe::record_operation(Transport::Http, kind, ErrorCode::BadUserInput.as_str());
            let executed = Executed::WrongMethod;
            return Ran {
                operation,
                executed,
            };
        }
        Ok(kind) => kind,
    };
    let field = match request.parsed_query() {
        Ok(doc) => {
            if operation.is_none() {
                // The only operation of the document, named there.
                operation = doc
                    .operations
                    .iter()
                    .next()
                    .and_then(|(name, _)| name.map(|n| n.to_string()));
            }
            crate::edge::field_label(doc, operation.as_deref())
        }
        Err(_) => "unknown",
    };
    let request = request.data(caller.clone()).data(client);
    let mut response = state.schema.execute(request).await;
    ensure_codes(&mut response);
    observe::record_operation(Transport::Http, kind, observe::outcome(&response));
    observe::record_latency(field, started.elapsed());
    let executed = Executed::Done(Box::new(response));
    Ran {
        operation,
        executed,
    }
}
