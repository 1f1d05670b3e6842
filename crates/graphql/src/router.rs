//! The HTTP routes: `POST /graphql`, GraphiQL on `GET /graphql` (or a websocket there, see
//! [`crate::websocket`]), `/healthz` and `/readyz`.
//!
//! Every GraphQL request passes [`Edge::admit`] before async-graphql sees it, and runs under
//! the request timeout; see [`crate::edge`] for the limits.

use std::sync::Arc;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use async_graphql::{BatchRequest, BatchResponse, Response};
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::Services;
use crate::auth::Caller;
use crate::edge::address::ClientAddress;
use crate::edge::listener::PeerAddr;
use crate::edge::{CorsOrigins, Edge, MAX_BODY_BYTES, READY_TIMEOUT};
use crate::error::{ApiError, ErrorCode, ensure_codes};
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
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(TraceLayer::new_for_http()).with_state(state)
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

/// GraphiQL for a browser, or a GraphQL websocket for an upgrade request.
async fn graphql_get(State(state): State<AppState>, request: Request) -> axum::response::Response {
    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !wants_websocket {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql")
                .title("Amity GraphQL")
                .finish(),
        )
        .into_response();
    }
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
        Err(_) => {
            tracing::warn!(
                timeout_ms = limit.as_millis() as u64,
                "a request ran out of time and was cancelled"
            );
            error_response(StatusCode::SERVICE_UNAVAILABLE, state.edge.timed_out())
        }
    }
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
    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = crate::auth::authenticate(&state.services, auth).await;
    let response = match batch {
        BatchRequest::Single(request) => {
            BatchResponse::Single(execute_one(state, request, &caller, client).await)
        }
        BatchRequest::Batch(requests) => {
            let runs = requests
                .into_iter()
                .map(|request| execute_one(state, request, &caller, client));
            BatchResponse::Batch(async_graphql::futures_util::future::join_all(runs).await)
        }
    };
    GraphQLResponse::from(response).into_response()
}

/// One operation: admitted by the edge, then executed with the caller and client attached.
async fn execute_one(
    state: &AppState,
    request: async_graphql::Request,
    caller: &Caller,
    client: ClientAddress,
) -> Response {
    let (request, admitted) = state.edge.admit_request(request, caller).await;
    if let Err(refusal) = admitted {
        return Response::from_errors(vec![refusal.into_server_error()]);
    }
    let request = request.data(caller.clone()).data(client);
    let mut response = state.schema.execute(request).await;
    ensure_codes(&mut response);
    response
}
