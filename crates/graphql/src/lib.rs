//! Amity's GraphQL edge: the schema, its resolvers, authentication, error codes and the axum
//! router.
//!
//! - [`schema`]: the query and mutation roots, and [`schema::build_schema`] with the
//!   complexity limit.
//! - [`types`]: GraphQL object types, separate from domain and storage types.
//! - [`auth`]: session tokens (HS256 JWT) and the session check.
//! - [`cursor`]: opaque, HMAC-signed page cursors.
//! - [`error`]: [`error::ApiError`], which gives every error a stable `extensions.code`.
//! - [`edge`]: every limit hostile clients meet (sizes, nesting, rates, timeouts, connections).
//! - [`mod@router`]: the HTTP routes; [`websocket`]: subscriptions over websockets; [`graphiql`]:
//!   the embedded GraphiQL page; [`observe`]: the metrics it records and the access log.
//!
//! This crate never names a database library; it sees storage only through the domain's ports.

pub mod auth;
pub mod cursor;
pub mod edge;
pub mod error;
pub mod graphiql;
pub mod loaders;
pub mod observe;
pub mod router;
pub mod schema;
mod services;
pub mod types;
pub mod websocket;

pub use router::router;
pub use schema::{AmitySchema, build_schema, export_sdl};
pub use services::Services;
