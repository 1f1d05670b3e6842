//! The schema: query and mutation roots, and the limits every request runs under.

mod account;
mod mutation;
mod query;
mod subscription;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Schema, SchemaBuilder};

/// The query root: every query field.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(query::CoreQueries, account::AccountQueries);

/// The mutation root: every mutation field.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(mutation::CoreMutations, account::AccountMutations);
pub use subscription::SubscriptionRoot;

use crate::Services;
use crate::auth::{Caller, Session};
use crate::edge::Edge;
use crate::edge::address::ClientAddress;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The Amity schema type.
pub type AmitySchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Highest allowed query complexity (list fields count once per requested item). The depth
/// limit is the edge's ([`crate::edge::document::MAX_DEPTH`]): it leaves introspection out.
pub const MAX_COMPLEXITY: usize = 20_000;

/// Builds the schema on these services, behind this edge; introspection (`__schema`,
/// `__type`) answers anonymous callers unless `introspection` is false.
pub fn build_schema(services: Services, edge: Arc<Edge>, introspection: bool) -> AmitySchema {
    let loaders = crate::loaders::Loaders::new(services.clone());
    let builder = limited().data(services).data(edge).data(loaders);
    if introspection {
        builder.finish()
    } else {
        builder.disable_introspection().finish()
    }
}

/// The schema's types with the limits every request runs under, before any data is attached.
pub(crate) fn limited() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .limit_complexity(MAX_COMPLEXITY)
}

/// The schema as SDL, as kept in `schema.graphql`.
pub fn export_sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .finish()
    .sdl()
}

pub(crate) fn services<'a>(ctx: &Context<'a>) -> ApiResult<&'a Services> {
    ctx.data::<Services>()
        .map_err(|_| ApiError::new(ErrorCode::InternalServerError, "services missing"))
}

pub(crate) fn edge<'a>(ctx: &Context<'a>) -> ApiResult<&'a Edge> {
    ctx.data::<Arc<Edge>>()
        .map(AsRef::as_ref)
        .map_err(|_| ApiError::new(ErrorCode::InternalServerError, "edge missing"))
}

/// The client's address (unspecified for requests made in process, without one).
pub(crate) fn client(ctx: &Context<'_>) -> ClientAddress {
    ctx.data::<ClientAddress>()
        .copied()
        .unwrap_or_else(|_| ClientAddress::from_ip(std::net::IpAddr::from([0, 0, 0, 0])))
}

pub(crate) fn session(ctx: &Context<'_>) -> ApiResult<Session> {
    match ctx.data::<Caller>() {
        Ok(caller) => caller.session(),
        Err(_) => Caller::Anonymous.session(),
    }
}

/// A page size argument as the domain takes it; out-of-range values are left to the domain's
/// check, which names the allowed range (a negative one becomes `u32::MAX`, out of every
/// range, rather than 0, which some fields allow).
pub(crate) fn page_size(first: Option<i32>, default: u32) -> u32 {
    match first {
        None => default,
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
    }
}

/// Complexity of a list field: its children once per requested item.
pub(crate) fn list_complexity(first: Option<i32>, default: i32, child: usize) -> usize {
    let n = first.unwrap_or(default).clamp(1, 1000);
    usize::try_from(n).unwrap_or(1).saturating_mul(child.max(1))
}
