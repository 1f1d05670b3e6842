//! The edges of a friends page, resolved in one synchronous pass when the query allows it.
//!
//! async-graphql resolves every field of every object as its own boxed future, joined per
//! object; a page of 100 friends with a dozen fields each is more than a thousand of them,
//! which cost the server more CPU than reading the page from the database. The selections a
//! friends page is read with are plain, though: fields without arguments or directives, the
//! same few on every edge. For those, [`FriendEdges`] plans the selection once per request and
//! fills every edge's value directly, with the same scalar and enum encodings the derived
//! resolvers use. Anything else (fragments, directives left in the document, a response key
//! used twice, arguments, fields that need the database such as `mutualFriends`) takes
//! async-graphql's own path, so the
//! answer is the same either way: `tests/schema.rs` compares the two over generated selections
//! (aliases, repeated keys, fragments, every field, every kind of edge) and checks which path
//! each took through a [`FriendsPageProbe`], and the end-to-end tests compare them over HTTP. (The schema registers
//! no extensions: one that watches every field resolve would not see these.)

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, InputType, Name, OutputType, Positioned, ScalarType, ServerResult, Value,
};

use crate::types::user::OnlineShown;
use crate::types::{FriendEdge, FriendGql, UserGql};

/// Put an `Arc<FriendsPageProbe>` in a request's data (`async_graphql::Request::data`) to see
/// which path its friends pages took, or to make them all take the general one (differential
/// tests). Without it, nothing is recorded.
#[derive(Debug, Default)]
pub struct FriendsPageProbe {
    /// Resolve every friends page through async-graphql's own resolvers.
    pub force_general: bool,
    fast: std::sync::atomic::AtomicU32,
    general: std::sync::atomic::AtomicU32,
}

impl FriendsPageProbe {
    /// A probe that sends every friends page down the general path.
    pub fn forcing_general() -> Self {
        Self {
            force_general: true,
            ..Self::default()
        }
    }

    /// How many pages took the fast path and how many the general one.
    pub fn taken(&self) -> (u32, u32) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.fast.load(Relaxed), self.general.load(Relaxed))
    }

    fn record(&self, fast: bool) {
        let counter = if fast { &self.fast } else { &self.general };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The edges of a friends page (the GraphQL type `[FriendEdge!]!`).
#[derive(Debug, Clone, Default)]
pub struct FriendEdges(pub Vec<FriendEdge>);

/// A field of `FriendEdge`, by response key.
enum EdgeField {
    Typename,
    Cursor,
    Node(Vec<(Name, NodeField)>),
}

/// A field of `Friend`.
enum NodeField {
    Typename,
    Id,
    State,
    UpdatedAt,
    Metadata,
    Source,
    User(Vec<(Name, UserField)>),
}

/// A field of `User` that needs nothing but the loaded user.
enum UserField {
    Typename,
    Id,
    Handle,
    DisplayName,
    AvatarUrl,
    Metadata,
    Role,
    CreatedAt,
    Online,
    LastSeenAt,
}

/// The plain fields of `set` (no fragments, directives or arguments, no key twice), each
/// planned by `plan`; `None` when anything else is there.
fn plan_set<T>(
    set: &Positioned<SelectionSet>,
    mut plan: impl FnMut(&Positioned<Field>) -> Option<T>,
) -> Option<Vec<(Name, T)>> {
    let mut fields: Vec<(Name, T)> = Vec::with_capacity(set.node.items.len());
    for item in &set.node.items {
        let Selection::Field(field) = &item.node else {
            return None;
        };
        if !field.node.directives.is_empty() || !field.node.arguments.is_empty() {
            return None;
        }
        let key = field.node.response_key().node.clone();
        if fields.iter().any(|(k, _)| *k == key) {
            return None;
        }
        fields.push((key, plan(field)?));
    }
    Some(fields)
}

/// A leaf field has no selection set; an object field has one.
fn is_leaf(field: &Positioned<Field>) -> bool {
    field.node.selection_set.node.items.is_empty()
}

fn plan_edge(field: &Positioned<Field>) -> Option<EdgeField> {
    match (field.node.name.node.as_str(), is_leaf(field)) {
        ("__typename", true) => Some(EdgeField::Typename),
        ("cursor", true) => Some(EdgeField::Cursor),
        ("node", false) => plan_set(&field.node.selection_set, plan_node).map(EdgeField::Node),
        _ => None,
    }
}

fn plan_node(field: &Positioned<Field>) -> Option<NodeField> {
    match (field.node.name.node.as_str(), is_leaf(field)) {
        ("__typename", true) => Some(NodeField::Typename),
        ("id", true) => Some(NodeField::Id),
        ("state", true) => Some(NodeField::State),
        ("updatedAt", true) => Some(NodeField::UpdatedAt),
        ("metadata", true) => Some(NodeField::Metadata),
        ("source", true) => Some(NodeField::Source),
        ("user", false) => plan_set(&field.node.selection_set, plan_user).map(NodeField::User),
        _ => None,
    }
}

fn plan_user(field: &Positioned<Field>) -> Option<UserField> {
    if !is_leaf(field) {
        return None;
    }
    Some(match field.node.name.node.as_str() {
        "__typename" => UserField::Typename,
        "id" => UserField::Id,
        "handle" => UserField::Handle,
        "displayName" => UserField::DisplayName,
        "avatarUrl" => UserField::AvatarUrl,
        "metadata" => UserField::Metadata,
        "role" => UserField::Role,
        "createdAt" => UserField::CreatedAt,
        "online" => UserField::Online,
        "lastSeenAt" => UserField::LastSeenAt,
        _ => return None,
    })
}

/// A `JSON` scalar as its output resolver gives it: the value itself, not its text.
fn json(value: &serde_json::Value) -> Value {
    async_graphql::to_value(value).unwrap_or_default()
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn or_null<T>(value: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
    value.map_or(Value::Null, f)
}

fn object<F>(fields: &[(Name, F)], mut value: impl FnMut(&F) -> Value) -> Value {
    let mut map = IndexMap::with_capacity(fields.len());
    for (key, field) in fields {
        map.insert(key.clone(), value(field));
    }
    Value::Object(map)
}

/// Each value is what the `#[Object]` resolver of the same field returns (the same
/// `UserGql` accessor), encoded the way async-graphql encodes that type.
fn user_value(fields: &[(Name, UserField)], user: &UserGql) -> Value {
    let u = user.user();
    object(fields, |field| match field {
        UserField::Typename => text("User"),
        UserField::Id => Value::String(user.id_shown()),
        UserField::Handle => text(u.handle.as_str()),
        UserField::DisplayName => or_null(u.display_name.as_deref(), text),
        UserField::AvatarUrl => or_null(u.avatar_url.as_deref(), text),
        UserField::Metadata => or_null(user.metadata_shown().as_ref(), json),
        UserField::Role => InputType::to_value(&user.role_shown()),
        UserField::CreatedAt => ScalarType::to_value(&u.created_at),
        UserField::Online => match user.online_shown() {
            OnlineShown::Known(online) => Value::Boolean(online),
            // Planned only when no visible user's presence is unknown (`fast_path_fits`).
            OnlineShown::Hidden | OnlineShown::Unknown => Value::Null,
        },
        UserField::LastSeenAt => or_null(user.last_seen_shown(), |t| ScalarType::to_value(&t)),
    })
}

fn node_value(fields: &[(Name, NodeField)], node: &FriendGql) -> Value {
    object(fields, |field| match field {
        NodeField::Typename => text("Friend"),
        NodeField::Id => text(&node.id),
        NodeField::State => InputType::to_value(&node.state),
        NodeField::UpdatedAt => ScalarType::to_value(&node.updated_at),
        NodeField::Metadata => or_null(node.metadata.as_ref(), |m| json(&m.0)),
        NodeField::Source => or_null(node.source.as_ref(), InputType::to_value),
        NodeField::User(fields) => user_value(fields, &node.user),
    })
}

fn edge_value(fields: &[(Name, EdgeField)], edge: &FriendEdge) -> Value {
    object(fields, |field| match field {
        EdgeField::Typename => text("FriendEdge"),
        EdgeField::Cursor => text(&edge.cursor),
        EdgeField::Node(fields) => node_value(fields, &edge.node),
    })
}

impl FriendEdges {
    /// Whether a planned selection can be filled from what is loaded: `online` of a user whose
    /// presence the viewer may see must have been loaded with the page.
    fn fast_path_fits(&self, plan: &[(Name, EdgeField)]) -> bool {
        let asks_online = plan.iter().any(|(_, f)| match f {
            EdgeField::Node(node) => node.iter().any(|(_, f)| match f {
                NodeField::User(user) => user.iter().any(|(_, f)| matches!(f, UserField::Online)),
                _ => false,
            }),
            _ => false,
        });
        !asks_online
            || self
                .0
                .iter()
                .all(|edge| !matches!(edge.node.user.online_shown(), OnlineShown::Unknown))
    }
}

impl OutputType for FriendEdges {
    fn type_name() -> Cow<'static, str> {
        <Vec<FriendEdge> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Vec<FriendEdge> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Vec<FriendEdge> as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let probe = ctx.data_opt::<std::sync::Arc<FriendsPageProbe>>();
        let plan = plan_set(&field.node.selection_set, plan_edge)
            .filter(|plan| self.fast_path_fits(plan))
            .filter(|_| !probe.is_some_and(|p| p.force_general));
        if let Some(probe) = probe {
            probe.record(plan.is_some());
        }
        match plan {
            Some(plan) => Ok(Value::List(
                self.0.iter().map(|edge| edge_value(&plan, edge)).collect(),
            )),
            None => <Vec<FriendEdge> as OutputType>::resolve(&self.0, ctx, field).await,
        }
    }
}
