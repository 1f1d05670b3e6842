//! The HTTP routes: `POST /graphql`, GraphiQL on `GET /graphql` (or a websocket there, see
//! [`crate::websocket`]), `/healthz` and `/readyz`.

use std::sync::Arc;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use async_graphql::{BatchRequest, BatchResponse, Response, ServerError};
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tower_http::cors::{Any, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::Services;
use crate::error::{ErrorCode, ensure_codes};
use crate::schema::AmitySchema;
use crate::websocket::{self, WebSocketSettings};
use tokio::sync::watch;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Most operations in one batched request.
pub const MAX_BATCH: usize = 10;

#[derive(Clone)]
struct AppState {
    schema: AmitySchema,
    services: Arc<Services>,
    websockets: WebSocketSettings,
    shutdown: watch::Receiver<bool>,
}

/// The router serving the API. Websockets close when `shutdown` turns true.
pub fn router(
    schema: AmitySchema,
    services: Services,
    websockets: WebSocketSettings,
    shutdown: watch::Receiver<bool>,
) -> Router {
    let state = AppState {
        schema,
        services: Arc::new(services),
        websockets,
        shutdown,
    };
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        )
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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
        return request_error(
            StatusCode::BAD_REQUEST,
            "ask for the graphql-transport-ws (or legacy graphql-ws) websocket subprotocol"
                .to_owned(),
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
                state.schema,
                state.services,
                protocol,
                state.websockets,
                state.shutdown,
            )
        })
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.services.store.is_ready().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}

/// A response made of one request-level error.
fn request_error(status: StatusCode, message: String) -> axum::response::Response {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", ErrorCode::BadUserInput.as_str());
    let body = GraphQLResponse::from(Response::from_errors(vec![error]));
    (status, body).into_response()
}

async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> axum::response::Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return request_error(
                rejection.status(),
                format!("request body refused: {}", rejection.body_text()),
            );
        }
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                format!("the body must be a GraphQL request in JSON: {e}"),
            );
        }
    };
    if let BatchRequest::Batch(items) = &batch
        && items.len() > MAX_BATCH
    {
        return request_error(
            StatusCode::BAD_REQUEST,
            format!(
                "at most {MAX_BATCH} operations per batch, {} given",
                items.len()
            ),
        );
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = crate::auth::authenticate(&state.services, auth).await;
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(r.data(caller)),
        BatchRequest::Batch(rs) => {
            BatchRequest::Batch(rs.into_iter().map(|r| r.data(caller.clone())).collect())
        }
    };
    let mut response = state.schema.execute_batch(batch).await;
    match &mut response {
        BatchResponse::Single(r) => ensure_codes(r),
        BatchResponse::Batch(rs) => rs.iter_mut().for_each(ensure_codes),
    }
    GraphQLResponse::from(response).into_response()
}
