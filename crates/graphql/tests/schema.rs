//! The schema run in process on the domain's in-memory store (no database, no HTTP): the
//! friends page's fast path checked against async-graphql's own resolvers over generated
//! selections, and the reads that lists make counted (one per page, never one per item).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use amity_domain::accounts::{ProfileChange, Role};
use amity_domain::events::{EventBus, InProcessBus};
use amity_domain::friends::{FriendLimits, FriendState, Targets};
use amity_domain::input::{AvatarUrl, DisplayName, Metadata};
use amity_domain::memory::MemoryStore;
use amity_domain::messages::MessageBody;
use amity_domain::ports::{EdgeWrite, FriendStore, SocialLinkStore};
use amity_domain::presence::{PresenceGuard, PresenceService, PresenceSettings};
use amity_domain::social::Network;
use amity_domain::time::{Clock, SystemClock};
use amity_domain::{NodeId, UserId};
use amity_graphql::auth::tokens::TokenService;
use amity_graphql::auth::{Caller, Session};
use amity_graphql::cursor::CursorCodec;
use amity_graphql::edge::{Edge, EdgeSettings};
use amity_graphql::types::FriendsPageProbe;
use amity_graphql::{AmitySchema, Services, build_schema};
use amity_passwords::{Argon2Hasher, HashCost};
use async_graphql::Request;
use proptest::prelude::*;
use serde_json::{Value, json};

const SECRET: &[u8] = b"schema-test-secret-schema-test-secret";

/// A node on a [`MemoryStore`]: the owner has friends of every kind (imported or not, with and
/// without metadata and profiles, online and not) and a conversation with one of them.
struct World {
    store: Arc<MemoryStore>,
    bus: Arc<InProcessBus>,
    schema: AmitySchema,
    services: Services,
    owner: UserId,
    friend: UserId,
    _online: Vec<PresenceGuard>,
}

async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(InProcessBus::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let presence = PresenceService::new(
        store.clone(),
        bus.clone(),
        clock.clone(),
        NodeId::new(),
        PresenceSettings::default(),
    );
    presence.start().await.unwrap();
    let hasher = Argon2Hasher::new(HashCost {
        memory_kib: 64,
        iterations: 1,
    })
    .unwrap();
    let services = Services::new(
        store.clone(),
        bus.clone(),
        presence.clone(),
        Arc::new(hasher),
        clock.clone(),
        FriendLimits::default(),
        TokenService::new(SECRET, Duration::from_secs(3600), clock),
        CursorCodec::new(SECRET),
        Vec::new(),
        Arc::new(amity_domain::memory::TestSecrets::default()),
        amity_domain::accounts::sessions::SessionSettings::default(),
    );
    let schema = build_schema(
        services.clone(),
        Arc::new(Edge::new(EdgeSettings::default())),
        true,
    );

    let owner = store.add_user("owner").await.unwrap().id;
    let mut others = Vec::new();
    for i in 0..8 {
        others.push(store.add_user(&format!("other{i}")).await.unwrap().id);
    }
    let friends = &services.friends;
    let by_id = |id: UserId| Targets::parse(&[id.to_string()], &[]).unwrap();
    // Friends 0..3; 4 asked the owner; the owner asked 5; the owner blocked 6.
    for &other in &others[..4] {
        friends
            .add_friends(owner, &by_id(other), None)
            .await
            .unwrap();
        friends
            .add_friends(other, &by_id(owner), None)
            .await
            .unwrap();
    }
    friends
        .add_friends(others[4], &by_id(owner), None)
        .await
        .unwrap();
    friends
        .add_friends(owner, &by_id(others[5]), None)
        .await
        .unwrap();
    friends.block_users(owner, &by_id(others[6])).await.unwrap();
    // 7 arrives through a Steam import.
    let mut tx = store.begin_links().await.unwrap();
    let imported = |owner, other| EdgeWrite {
        owner,
        other,
        state: Some(FriendState::Friend),
        metadata: None,
        source: Some(Network::Steam),
    };
    tx.write_edges(
        &[imported(owner, others[7]), imported(others[7], owner)],
        SystemClock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Mutual friends: 0 and 1 are friends too.
    friends
        .add_friends(others[0], &by_id(others[1]), None)
        .await
        .unwrap();
    friends
        .add_friends(others[1], &by_id(others[0]), None)
        .await
        .unwrap();
    // Metadata on some edges, profiles on some users, two of them online.
    let meta = |v: Value| Metadata::parse("metadata", v).unwrap();
    store
        .set_edge_metadata(owner, others[0], Some(&meta(json!({ "level": 3 }))))
        .await
        .unwrap();
    store
        .set_edge_metadata(owner, others[4], Some(&meta(json!({ "note": "hi" }))))
        .await
        .unwrap();
    let profile = ProfileChange {
        display_name: Some(DisplayName::parse_optional(Some("Zero")).unwrap()),
        avatar_url: Some(Some(AvatarUrl::parse("https://example.com/0.png").unwrap())),
        metadata: Some(Some(meta(json!({ "title": "first" })))),
    };
    services
        .accounts
        .update_profile(others[0], profile)
        .await
        .unwrap();
    let online = vec![
        presence.connect(others[0]).await.unwrap(),
        presence.connect(others[4]).await.unwrap(),
    ];
    // A conversation of ten messages between the owner and friend 1.
    for i in 0..10 {
        let (from, to) = if i % 2 == 0 {
            (owner, others[1])
        } else {
            (others[1], owner)
        };
        services
            .messages
            .send(
                from,
                to,
                MessageBody::parse(&format!("message {i}")).unwrap(),
            )
            .await
            .unwrap();
    }
    World {
        store,
        bus,
        schema,
        services,
        owner,
        friend: others[1],
        _online: online,
    }
}

impl World {
    /// Runs `query` as `user`, with `probe` in the request's data when given.
    async fn run(&self, user: UserId, query: &str, probe: Option<Arc<FriendsPageProbe>>) -> Value {
        let mut request = Request::new(query).data(Caller::User(Session {
            user_id: user,
            role: Role::User,
            session_id: amity_domain::SessionId::new(),
        }));
        if let Some(probe) = probe {
            request = request.data(probe);
        }
        let response = self.schema.execute(request).await;
        assert!(response.errors.is_empty(), "{query}: {:?}", response.errors);
        response.data.into_json().unwrap()
    }
}

/// One field of a generated selection.
#[derive(Debug, Clone)]
struct Pick {
    name: &'static str,
    alias: Option<String>,
    /// Asked for twice under the same response key.
    twice: bool,
}

/// A generated selection of `FriendEdge` and whether the fast path can serve it.
#[derive(Debug, Clone)]
struct Selection {
    text: String,
    plain: bool,
}

const EDGE_FIELDS: &[&str] = &["__typename", "cursor"];
const NODE_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "state",
    "updatedAt",
    "metadata",
    "source",
];
const USER_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "handle",
    "displayName",
    "avatarUrl",
    "metadata",
    "role",
    "createdAt",
    "online",
    "lastSeenAt",
];
/// User fields that need more than the loaded user: always the general path.
const USER_FIELDS_LOADED: &[&str] = &["mutualFriendCount", "mutualFriends { handle }"];

fn picks(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<Pick>> {
    proptest::sample::subsequence(fields.to_vec(), 0..=fields.len()).prop_flat_map(|names| {
        let n = names.len();
        (
            Just(names),
            proptest::collection::vec((proptest::option::weighted(0.25, "[a-z]{1,6}"), 0u8..20), n),
        )
            .prop_map(|(names, extras)| {
                names
                    .into_iter()
                    .zip(extras)
                    .enumerate()
                    .map(|(i, (name, (alias, roll)))| Pick {
                        name,
                        // Aliases are made unique per level, so only `twice` repeats a key.
                        alias: alias.map(|a| format!("{a}{i}")),
                        twice: roll == 0,
                    })
                    .collect()
            })
    })
}

fn render(picks: &[Pick], nested: Option<(&str, String)>) -> (String, bool) {
    let mut text = String::new();
    let mut plain = true;
    for pick in picks {
        let field = match &pick.alias {
            Some(alias) => format!("{alias}: {}", pick.name),
            None => pick.name.to_owned(),
        };
        text.push_str(&field);
        text.push(' ');
        if pick.twice {
            text.push_str(&field);
            text.push(' ');
            plain = false;
        }
    }
    if let Some((name, inner)) = nested {
        text.push_str(&format!("{name} {{ {inner} }} "));
    }
    if text.is_empty() {
        text.push_str("__typename ");
    }
    (text, plain)
}

fn selections() -> impl Strategy<Value = Selection> {
    (
        picks(EDGE_FIELDS),
        picks(NODE_FIELDS),
        picks(USER_FIELDS),
        proptest::sample::subsequence(USER_FIELDS_LOADED.to_vec(), 0..=1),
        0u8..8,
    )
        .prop_map(|(edge, node, user, loaded, shape)| {
            let (mut user_text, user_plain) = render(&user, None);
            for field in &loaded {
                user_text.push_str(field);
                user_text.push(' ');
            }
            let (node_text, node_plain) = render(&node, Some(("user", user_text)));
            let (mut text, edge_plain) = render(&edge, Some(("node", node_text)));
            // Now and then, the same selection behind a fragment (served by the general path).
            let fragment = shape == 0;
            if fragment {
                text = format!("... on FriendEdge {{ {text}}}");
            }
            Selection {
                text,
                plain: edge_plain && node_plain && user_plain && loaded.is_empty() && !fragment,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the selection, the fast path answers exactly what async-graphql's resolvers
    /// answer, and it is taken exactly when the selection is plain.
    #[test]
    fn the_fast_path_answers_as_the_resolvers_do(selection in selections()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let world = world().await;
            let query = format!("{{ friends(first: 20) {{ edges {{ {} }} }} }}", selection.text);

            let probe = Arc::new(FriendsPageProbe::default());
            let fast = world.run(world.owner, &query, Some(probe.clone())).await;
            let expected_path = if selection.plain { (1, 0) } else { (0, 1) };
            prop_assert_eq!(probe.taken(), expected_path, "{}", query);

            let general = Arc::new(FriendsPageProbe::forcing_general());
            let reference = world.run(world.owner, &query, Some(general.clone())).await;
            prop_assert_eq!(general.taken(), (0, 1));
            prop_assert_eq!(fast, reference, "{}", query);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn every_field_of_every_kind_of_edge_matches_on_both_paths() {
    let world = world().await;
    let every = format!(
        "__typename cursor node {{ {} user {{ {} }} }}",
        NODE_FIELDS.join(" "),
        USER_FIELDS.join(" ")
    );
    let query = format!("{{ friends(first: 20) {{ edges {{ {every} }} }} }}");
    let probe = Arc::new(FriendsPageProbe::default());
    let fast = world.run(world.owner, &query, Some(probe.clone())).await;
    assert_eq!(probe.taken(), (1, 0));
    let general = Arc::new(FriendsPageProbe::forcing_general());
    assert_eq!(
        fast,
        world.run(world.owner, &query, Some(general)).await,
        "{query}"
    );
    // The page holds every kind of edge the world made, so the comparison covered them.
    let edges = fast["friends"]["edges"].as_array().unwrap();
    let states: Vec<&str> = edges
        .iter()
        .map(|e| e["node"]["state"].as_str().unwrap())
        .collect();
    for state in ["FRIEND", "INVITE_SENT", "INVITE_RECEIVED", "BLOCKED"] {
        assert!(states.contains(&state), "{state} missing from {states:?}");
    }
    assert!(edges.iter().any(|e| e["node"]["source"] == "STEAM"));
    assert!(edges.iter().any(|e| !e["node"]["metadata"].is_null()));
    assert!(edges.iter().any(|e| e["node"]["user"]["online"] == true));
    assert!(edges.iter().any(|e| e["node"]["user"]["online"] == false));
    assert!(
        edges
            .iter()
            .any(|e| !e["node"]["user"]["displayName"].is_null())
    );
}

#[tokio::test]
async fn a_conversation_page_reads_presence_once_not_once_per_message() {
    let world = world().await;
    let query = format!(
        r#"{{ directMessages(with: "{}", first: 10) {{ edges {{ node {{ body sender {{ handle online }} recipient {{ online }} }} }} }} }}"#,
        world.friend
    );
    let before = world.store.calls("online_among");
    let data = world.run(world.owner, &query, None).await;
    assert_eq!(
        data["directMessages"]["edges"].as_array().unwrap().len(),
        10
    );
    assert_eq!(world.store.calls("online_among") - before, 1);
}

#[tokio::test]
async fn mutual_friend_counts_of_a_list_are_one_counted_read() {
    let world = world().await;
    let query = "{ friends(first: 20) { edges { node { user { handle mutualFriendCount } } } } }";
    let (counts, lists) = (
        world.store.calls("mutual_friend_counts"),
        world.store.calls("mutual_friends"),
    );
    let data = world.run(world.owner, query, None).await;
    assert_eq!(world.store.calls("mutual_friend_counts") - counts, 1);
    assert_eq!(world.store.calls("mutual_friends") - lists, 0);
    let edges = data["friends"]["edges"].as_array().unwrap();
    let count_of = |handle: &str| {
        edges
            .iter()
            .find(|e| e["node"]["user"]["handle"] == handle)
            .map(|e| e["node"]["user"]["mutualFriendCount"].clone())
            .unwrap()
    };
    // The owner and other0 share other1; the owner and other7 share nobody.
    assert_eq!(count_of("other0"), 1);
    assert_eq!(count_of("other1"), 1);
    assert_eq!(count_of("other7"), 0);
}

#[tokio::test]
async fn live_notification_senders_are_loaded_in_batches() {
    let world = world().await;
    let hub = world.services.hub.clone();
    let hub_task = tokio::spawn(hub.clone().run(world.bus.subscribe()));
    let recipient = world.store.add_user("recipient").await.unwrap().id;
    let mut stream = world.schema.execute_stream(
        Request::new("subscription { notifications { code sender { handle online } } }").data(
            Caller::User(Session {
                user_id: recipient,
                role: Role::User,
                session_id: amity_domain::SessionId::new(),
            }),
        ),
    );
    use futures::StreamExt;
    // Start the subscription, then wait for it to register with the hub.
    let first = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < 5 {
            got.push(stream.next().await.unwrap().data.into_json().unwrap());
        }
        got
    });
    tokio::time::timeout(Duration::from_secs(10), hub.wait_for_subscriptions(1))
        .await
        .unwrap();
    let (by_id, views) = (
        world.store.calls("user_by_id"),
        world.store.calls("views_of"),
    );
    let mut senders = Vec::new();
    for i in 0..5 {
        senders.push(
            world
                .store
                .add_user(&format!("sender{i}"))
                .await
                .unwrap()
                .id,
        );
    }
    let target = Targets::parse(&[recipient.to_string()], &[]).unwrap();
    for sender in &senders {
        world
            .services
            .friends
            .add_friends(*sender, &target, None)
            .await
            .unwrap();
    }
    let got = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .unwrap()
        .unwrap();
    for event in &got {
        assert_eq!(event["notifications"]["code"], "FRIEND_REQUEST");
        assert!(event["notifications"]["sender"]["handle"].is_string());
    }
    // Senders come through the batching loader (users_by_ids), never one user_by_id each,
    // and their friendship with the recipient at most once per event.
    assert_eq!(world.store.calls("user_by_id") - by_id, 0);
    assert!(world.store.calls("views_of") - views <= 5);
    hub_task.abort();
}

#[tokio::test]
async fn a_batch_mixing_viewers_answers_each_viewer() {
    let world = world().await;
    let other0 = world
        .services
        .accounts
        .user_by_handle("other0")
        .await
        .unwrap()
        .unwrap()
        .id;
    let query = "{ friends(first: 20) { edges { node { user { handle mutualFriendCount } } } } }";
    let before = world.store.calls("mutual_friend_counts");
    // Both pages resolve at once, so their counts share the loader's batches.
    let (mine, theirs) = tokio::join!(
        world.run(world.owner, query, None),
        world.run(other0, query, None)
    );
    let count = |data: &Value, handle: &str| {
        data["friends"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["user"]["handle"] == handle)
            .map(|e| e["node"]["user"]["mutualFriendCount"].clone())
            .unwrap()
    };
    // The owner and other0 share other1; other0 and other1 share the owner.
    assert_eq!(count(&mine, "other0"), 1);
    assert_eq!(count(&theirs, "other1"), 1);
    assert_eq!(count(&theirs, "owner"), 1);
    // One counted read per viewer at most, however the batches fell.
    assert!(world.store.calls("mutual_friend_counts") - before <= 2);
}
