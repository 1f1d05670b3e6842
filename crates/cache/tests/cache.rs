//! The graph cache against the store it decorates: two "nodes" (two caches over one memory
//! store, sharing one bus) take random writes and reads, and at quiescent points every read of
//! every user on both nodes must equal the store's. Also: read-your-writes on the writing node
//! without waiting for the bus, warm reads that cost no store call, and a bus that loses its
//! link.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use amity_cache::{CacheSettings, CachedStore};
use amity_domain::accounts::{AccountService, NewUser, ProfileChange, Role};
use amity_domain::events::{Event, EventBus, InProcessBus};
use amity_domain::friends::{FriendLimits, FriendListQuery, FriendService, Targets};
use amity_domain::input::{DisplayName, Metadata, Password};
use amity_domain::memory::MemoryStore;
use amity_domain::moderation::{Actor, ModerationService};
use amity_domain::ports::{FriendStore, PasswordHasher, PresenceStore, Store, UserStore};
use amity_domain::time::{Clock, ManualClock};
use amity_domain::{Handle, NodeId, Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use tokio::sync::{broadcast, watch};

struct NoHasher;

#[async_trait]
impl PasswordHasher for NoHasher {
    async fn hash(&self, password: &Password) -> Result<String> {
        Ok(password.expose().to_owned())
    }

    async fn verify(&self, _password: &str, _hash: Option<&str>) -> Result<bool> {
        Ok(false)
    }
}

/// A bus inside one process whose link a test can cut.
struct CuttableBus {
    local: InProcessBus,
    link: watch::Sender<bool>,
}

impl CuttableBus {
    fn new() -> Self {
        Self {
            local: InProcessBus::new(),
            link: watch::channel(true).0,
        }
    }
}

impl EventBus for CuttableBus {
    fn publish(&self, events: Vec<Event>) {
        self.local.publish(events);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }

    fn connected(&self) -> watch::Receiver<bool> {
        self.link.subscribe()
    }
}

/// One node: a cache over the shared store, and the services on it.
struct Node {
    id: NodeId,
    cache: CachedStore,
    friends: FriendService,
    accounts: AccountService,
    moderation: ModerationService,
}

struct World {
    store: Arc<MemoryStore>,
    bus: Arc<CuttableBus>,
    clock: Arc<ManualClock>,
    nodes: Vec<Node>,
    users: Vec<UserId>,
}

impl World {
    async fn new(nodes: usize, users: usize) -> Self {
        let store = Arc::new(MemoryStore::new());
        let bus = Arc::new(CuttableBus::new());
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
        ));
        let nodes = (0..nodes)
            .map(|_| {
                let id = NodeId::new();
                let (cache, follower) =
                    CachedStore::new(store.clone(), bus.clone(), id, CacheSettings::megabytes(8));
                tokio::spawn(follower);
                let shared: Arc<dyn Store> = Arc::new(cache.clone());
                Node {
                    id,
                    friends: FriendService::new(
                        shared.clone(),
                        shared.clone(),
                        bus.clone(),
                        clock.clone(),
                        FriendLimits::default(),
                    ),
                    accounts: AccountService::new(
                        shared.clone(),
                        Arc::new(NoHasher),
                        clock.clone(),
                    ),
                    moderation: ModerationService::new(shared, bus.clone(), clock.clone()),
                    cache,
                }
            })
            .collect();
        let mut ids = Vec::new();
        for i in 0..users {
            let user = store
                .insert_user(NewUser {
                    id: UserId::new(),
                    handle: Handle::parse("handle", &format!("user{i}")).unwrap(),
                    display_name: None,
                    password_hash: None,
                    role: Role::User,
                    created_at: clock.now(),
                })
                .await
                .unwrap();
            ids.push(user.id);
        }
        Self {
            store,
            bus,
            clock,
            nodes,
            users: ids,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Lets every node's follower apply what the bus holds.
    async fn settle(&self) {
        for _ in 0..64 {
            tokio::task::yield_now().await;
        }
    }
}

fn one(id: UserId) -> Targets {
    Targets {
        ids: vec![id],
        ..Targets::default()
    }
}

fn everything(limit: u32, now: DateTime<Utc>) -> FriendListQuery {
    FriendListQuery {
        states: vec![],
        after: None,
        limit,
        visible_at: now,
    }
}

/// Every read through `cache` equals the store's (the users in `context` are the ones the
/// caller cares about; every user is compared).
async fn agrees(world: &World, cache: &CachedStore, context: &str) {
    let differences = cache.audit(&world.users, world.now()).await.unwrap();
    assert!(differences.is_empty(), "{context}: {differences:#?}");
}

/// A small deterministic generator (xorshift), so that a failure replays from its seed.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// One random write on a random node; returns the users whose reads it may change on that
/// node (checked at once: read-your-writes).
async fn random_write(world: &World, dice: &mut Dice) -> (usize, Vec<UserId>) {
    let n = dice.roll(world.nodes.len());
    let node = &world.nodes[n];
    let a = world.users[dice.roll(world.users.len())];
    let b = world.users[dice.roll(world.users.len())];
    let admin = Actor::System("cache tests".into());
    // Refusals (self-targets, limits, banning a banned user) are part of the mix: they must
    // change nothing.
    let _ = match dice.roll(12) {
        0..=3 => node.friends.add_friends(a, &one(b), None).await.map(|_| ()),
        4 | 5 => node.friends.remove_friends(a, &one(b)).await,
        6 => node.friends.block_users(a, &one(b)).await.map(|_| ()),
        7 => {
            let metadata =
                Metadata::parse("metadata", serde_json::json!({ "n": dice.roll(100) })).ok();
            node.friends.set_metadata(a, b, metadata).await.map(|_| ())
        }
        8 => node.friends.dismiss_recommendation(a, b).await,
        9 => {
            let until = world.now() + Duration::seconds(1 + dice.roll(20) as i64);
            node.moderation
                .ban(&admin, &one(a), None, Some(until))
                .await
                .map(|_| ())
        }
        10 => node.moderation.unban(&admin, &one(a)).await.map(|_| ()),
        _ => {
            let name =
                DisplayName::parse_optional(Some(&format!("name {}", dice.roll(1000)))).unwrap();
            node.accounts
                .update_profile(
                    a,
                    ProfileChange {
                        display_name: Some(name),
                        ..ProfileChange::default()
                    },
                )
                .await
                .map(|_| ())
        }
    };
    (n, vec![a, b])
}

/// A random read on a random node, so that caches are warm when writes come.
async fn random_read(world: &World, dice: &mut Dice) {
    let node = &world.nodes[dice.roll(world.nodes.len())];
    let a = world.users[dice.roll(world.users.len())];
    let now = world.now();
    match dice.roll(4) {
        0 => drop(node.cache.list_friends(a, &everything(100, now)).await),
        1 => drop(node.cache.friend_recommendations(a, 10, now).await),
        2 => drop(node.cache.mutual_friend_counts(a, &world.users, now).await),
        _ => drop(node.cache.friend_counts(a, Some(now)).await),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn two_nodes_agree_with_the_store_through_random_writes_and_reads() {
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 42, 7_777_777] {
        let world = World::new(2, 9).await;
        let mut dice = Dice(seed);
        for step in 0..600 {
            // Other nodes' earlier changes are applied first, so that what is checked below
            // is this write alone.
            world.settle().await;
            let (n, touched) = random_write(&world, &mut dice).await;
            // Read-your-writes: the writing node is right at once, without the bus.
            agrees(
                &world,
                &world.nodes[n].cache,
                &format!("seed {seed} step {step}, writing node, touching {touched:?}"),
            )
            .await;
            for _ in 0..3 {
                random_read(&world, &mut dice).await;
            }
            if step % 3 == 0 {
                world.clock.advance(Duration::seconds(1));
            }
            if step % 50 == 49 {
                world.settle().await;
                for (i, node) in world.nodes.iter().enumerate() {
                    agrees(
                        &world,
                        &node.cache,
                        &format!("seed {seed} step {step}, node {i}"),
                    )
                    .await;
                }
            }
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_warm_page_costs_no_store_call() {
    let world = World::new(1, 4).await;
    let node = &world.nodes[0];
    let [a, b, c, _] = world.users[..] else {
        unreachable!()
    };
    for other in [b, c] {
        node.friends
            .add_friends(a, &one(other), None)
            .await
            .unwrap();
        node.friends
            .add_friends(other, &one(a), None)
            .await
            .unwrap();
    }
    let now = world.now();
    node.cache
        .list_friends(a, &everything(100, now))
        .await
        .unwrap();
    let (adjacency, profiles) = (
        world.store.calls("adjacency"),
        world.store.calls("users_by_ids"),
    );
    for _ in 0..5 {
        let page = node
            .cache
            .list_friends(a, &everything(100, now))
            .await
            .unwrap();
        assert_eq!(page.len(), 2);
        node.cache.friend_counts(a, Some(now)).await.unwrap();
        node.cache.online_among(&[b, c], now).await.unwrap();
    }
    node.cache.online_among(&[b, c], now).await.unwrap();
    let online_loads = world.store.calls("online_among");
    node.cache.online_among(&[b, c], now).await.unwrap();
    assert_eq!(world.store.calls("list_friends"), 0);
    assert_eq!(world.store.calls("friend_counts"), 0);
    assert_eq!(world.store.calls("adjacency"), adjacency);
    assert_eq!(world.store.calls("users_by_ids"), profiles);
    assert_eq!(world.store.calls("online_among"), online_loads);
}

#[tokio::test(flavor = "current_thread")]
async fn a_lost_bus_link_drops_everything_and_nothing_is_kept_until_it_is_back() {
    let world = World::new(2, 3).await;
    let [a, b, _] = world.users[..] else {
        unreachable!()
    };
    let (writer, reader) = (&world.nodes[0], &world.nodes[1]);
    let now = world.now();
    reader
        .cache
        .list_friends(a, &everything(10, now))
        .await
        .unwrap();
    assert!(reader.cache.weight() > 0);

    world.bus.link.send_replace(false);
    world.settle().await;
    assert_eq!(reader.cache.weight(), 0, "dropped when the link went");
    // While the link is down, the writer's events would be lost: the reader keeps nothing.
    writer.friends.add_friends(a, &one(b), None).await.unwrap();
    reader
        .cache
        .list_friends(a, &everything(10, now))
        .await
        .unwrap();
    assert_eq!(
        reader.cache.weight(),
        0,
        "nothing kept while the link is down"
    );
    world.bus.link.send_replace(true);
    world.settle().await;
    let page = reader
        .cache
        .list_friends(a, &everything(10, now))
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert!(
        reader.cache.weight() > 0,
        "kept again once the link is back"
    );
    agrees(&world, &reader.cache, "after the link came back").await;
}

#[tokio::test(flavor = "current_thread")]
async fn another_node_sees_a_change_once_the_bus_delivers_it() {
    let world = World::new(2, 2).await;
    let [a, b] = world.users[..] else {
        unreachable!()
    };
    let (writer, reader) = (&world.nodes[0], &world.nodes[1]);
    let now = world.now();
    assert!(
        reader
            .cache
            .list_friends(a, &everything(10, now))
            .await
            .unwrap()
            .is_empty()
    );
    writer.friends.add_friends(b, &one(a), None).await.unwrap();
    world.settle().await;
    let page = reader
        .cache
        .list_friends(a, &everything(10, now))
        .await
        .unwrap();
    assert_eq!(page.len(), 1, "the invitation shows on the other node");
    assert_ne!(writer.id, reader.id);
    let online: HashSet<UserId> = reader.cache.online_among(&[a, b], now).await.unwrap();
    assert!(online.is_empty());
}
