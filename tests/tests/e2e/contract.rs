//! Contract tests: the checked-in SDL, the fixed API names, and the crate layering.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn schema_graphql_is_the_exported_sdl() {
    let checked_in = std::fs::read_to_string(repo_root().join("schema.graphql")).unwrap();
    let exported = amity_graphql::export_sdl();
    assert!(
        checked_in == exported,
        "schema.graphql is stale: run `cargo run -p amity -- export-schema --output schema.graphql`"
    );
}

/// SPEC section 11, the parts the foundation, realtime, moderation, importers and recommendations cover: every type, field, argument (with its type
/// and default) and enum value here must exist, unchanged, in the exported schema.
const SPEC_SUBSET: &str = r#"
enum FriendState { FRIEND INVITE_SENT INVITE_RECEIVED BLOCKED }
enum Role { USER MODERATOR ADMIN }
enum NotificationCode { FRIEND_REQUEST FRIEND_ACCEPTED FRIEND_REMOVED FRIEND_JOINED DIRECT_MESSAGE SYSTEM }
type User { id: ID! handle: String! displayName: String avatarUrl: String metadata: JSON
            role: Role! createdAt: DateTime! online: Boolean lastSeenAt: DateTime }
type AuthPayload { token: String! user: User! }
type Friend { user: User! state: FriendState! updatedAt: DateTime! metadata: JSON }
type FriendEdge { cursor: String! node: Friend! }
type PageInfo { hasNextPage: Boolean! endCursor: String }
type FriendConnection { edges: [FriendEdge!]! pageInfo: PageInfo! }
type Notification { id: ID! code: NotificationCode! subject: String! content: JSON!
                    sender: User createdAt: DateTime! readAt: DateTime }
type NotificationEdge { cursor: String! node: Notification! }
type NotificationConnection { edges: [NotificationEdge!]! pageInfo: PageInfo! }
type PresenceEvent { user: User! online: Boolean! lastSeenAt: DateTime }
type DirectMessage { id: ID! sender: User! recipient: User! body: String! createdAt: DateTime! }
type DirectMessageEdge { cursor: String! node: DirectMessage! }
type DirectMessageConnection { edges: [DirectMessageEdge!]! pageInfo: PageInfo! }
type ModerationEntry { id: ID! actor: User target: User! action: String! reason: String createdAt: DateTime! }
type FriendRecommendation { user: User! mutualFriendCount: Int! mutualFriends(first: Int = 3): [User!]! }
type Query {
  me: User!
  user(id: ID, handle: String): User
  friends(states: [FriendState!], first: Int = 100, after: String): FriendConnection!
  notifications(first: Int = 100, after: String): NotificationConnection!
  directMessages(with: ID!, first: Int = 50, before: String): DirectMessageConnection!
  moderationLog(first: Int = 100, after: String): [ModerationEntry!]!
  friendRecommendations(first: Int = 20): [FriendRecommendation!]!
}
type Mutation {
  signUp(handle: String!, password: String!, displayName: String): AuthPayload!
  signIn(handle: String!, password: String!): AuthPayload!
  addFriends(ids: [ID!], handles: [String!]): [Friend!]!
  removeFriends(ids: [ID!], handles: [String!]): Boolean!
  blockUsers(ids: [ID!], handles: [String!]): [Friend!]!
  markNotificationsRead(ids: [ID!]!): Boolean!
  deleteNotifications(ids: [ID!]!): Boolean!
  sendDirectMessage(to: ID!, body: String!): DirectMessage!
  banUsers(ids: [ID!], handles: [String!], reason: String, until: DateTime): Boolean!
  authenticateFacebook(accessToken: String!): AuthPayload!
  authenticateSteam(ticket: String!): AuthPayload!
  linkFacebook(accessToken: String!, importFriends: Boolean = true): User!
  linkSteam(ticket: String!, importFriends: Boolean = true): User!
  importFacebookFriends(accessToken: String!, reset: Boolean = false): [Friend!]!
  importSteamFriends(reset: Boolean = false): [Friend!]!
  unbanUsers(ids: [ID!], handles: [String!]): Boolean!
}
type Subscription {
  notifications(after: String): Notification!
  presence: PresenceEvent!
  directMessages: DirectMessage!
}
scalar DateTime
scalar JSON
"#;

/// Every name as "Type", "Type.field: TYPE", "Type.field(arg: TYPE = default)", "Enum.VALUE".
fn signatures(sdl: &str) -> HashSet<String> {
    let doc = parse_schema(sdl).unwrap();
    let mut out = HashSet::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(ty) = def else {
            continue;
        };
        let ty = ty.node;
        let name = ty.name.node.to_string();
        out.insert(name.clone());
        match ty.kind {
            TypeKind::Object(obj) => {
                for field in obj.fields {
                    let f = field.node;
                    out.insert(format!("{name}.{}: {}", f.name.node, f.ty.node));
                    for arg in f.arguments {
                        let a = arg.node;
                        let default = a
                            .default_value
                            .map(|d| format!(" = {}", d.node))
                            .unwrap_or_default();
                        out.insert(format!(
                            "{name}.{}({}: {}{default})",
                            f.name.node, a.name.node, a.ty.node
                        ));
                    }
                }
            }
            TypeKind::Enum(e) => {
                for v in e.values {
                    out.insert(format!("{name}.{}", v.node.value.node));
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_sdl_has_every_fixed_name_of_the_spec() {
    let exported = signatures(&amity_graphql::export_sdl());
    let mut missing: Vec<String> = signatures(SPEC_SUBSET)
        .difference(&exported)
        .cloned()
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "missing or changed in the schema: {missing:#?}"
    );
}

/// The dependency closure of each workspace package, from `cargo metadata`.
fn dependency_closure(package: &str) -> HashSet<String> {
    // Only this platform's dependencies: the ones built here, so all are on disk offline.
    let rustc = Command::new("rustc").arg("-vV").output().unwrap();
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV names the host");
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let name_of = |id: &str| -> String {
        meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let root = nodes
        .iter()
        .find(|n| name_of(n["id"].as_str().unwrap()) == package)
        .unwrap_or_else(|| panic!("{package} not in the workspace"));
    let mut stack = vec![root["id"].as_str().unwrap().to_owned()];
    let mut seen = HashSet::new();
    while let Some(id) = stack.pop() {
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            // Only normal dependencies count; dev-dependencies are for tests.
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap().to_owned();
            if normal && seen.insert(dep_id.clone()) {
                stack.push(dep_id);
            }
        }
    }
    seen.iter().map(|id| name_of(id)).collect()
}

#[test]
fn domain_and_graphql_never_depend_on_the_database_layer() {
    for package in ["amity-domain", "amity-graphql"] {
        let deps = dependency_closure(package);
        for forbidden in [
            "sea-orm",
            "sqlx",
            "sqlx-core",
            "sea-query",
            "amity-persistence",
        ] {
            assert!(
                !deps.contains(forbidden),
                "{package} depends on {forbidden}"
            );
        }
    }
    let persistence = dependency_closure("amity-persistence");
    assert!(
        !persistence.contains("async-graphql"),
        "amity-persistence depends on async-graphql"
    );
    let domain = dependency_closure("amity-domain");
    for forbidden in ["axum", "async-graphql", "reqwest", "hyper"] {
        assert!(
            !domain.contains(forbidden),
            "amity-domain depends on {forbidden}"
        );
    }
}
