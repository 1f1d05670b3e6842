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
//! answer is the same either way; the end-to-end tests compare the two. (The schema registers
//! no extensions: one that watches every field resolve would not see these.)

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{
    ContextSelectionSet, InputType, Name, OutputType, Positioned, ScalarType, ServerResult, Value,
};

use crate::types::{FriendEdge, FriendGql, RoleGql, UserGql};

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

fn user_value(fields: &[(Name, UserField)], user: &UserGql) -> Value {
    let (u, visible) = (user.user(), user.presence_visible());
    object(fields, |field| match field {
        UserField::Typename => text("User"),
        UserField::Id => Value::String(u.id.to_string()),
        UserField::Handle => text(u.handle.as_str()),
        UserField::DisplayName => or_null(u.display_name.as_deref(), text),
        UserField::AvatarUrl => or_null(u.avatar_url.as_deref(), text),
        UserField::Metadata => or_null(u.metadata.as_ref(), |m| json(&m.to_value())),
        UserField::Role => InputType::to_value(&RoleGql::from(u.role)),
        UserField::CreatedAt => ScalarType::to_value(&u.created_at),
        // Planned only when every visible user's presence is known (see `fast_path_fits`).
        UserField::Online => or_null(
            visible.then(|| user.known_online()).flatten(),
            Value::Boolean,
        ),
        UserField::LastSeenAt => or_null(visible.then_some(u.last_seen_at).flatten(), |t| {
            ScalarType::to_value(&t)
        }),
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
            || self.0.iter().all(|edge| {
                let user = &edge.node.user;
                !user.presence_visible() || user.known_online().is_some()
            })
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
        match plan_set(&field.node.selection_set, plan_edge) {
            Some(plan) if self.fast_path_fits(&plan) => Ok(Value::List(
                self.0.iter().map(|edge| edge_value(&plan, edge)).collect(),
            )),
            _ => <Vec<FriendEdge> as OutputType>::resolve(&self.0, ctx, field).await,
        }
    }
}
