//! What every test here shares: a world of services on one [`MemoryStore`], a password hasher
//! for tests, and a way to read everything a user can see, to compare before and after.

use std::collections::BTreeMap;
use std::sync::Arc;

use amity_domain::accounts::{AccountService, NewUser, Role, User};
use amity_domain::events::{Event, EventBus, InProcessBus};
use amity_domain::friends::{
    FriendCounts, FriendLimits, FriendListQuery, FriendService, FriendView, Targets,
};
use amity_domain::input::Password;
use amity_domain::memory::MemoryStore;
use amity_domain::messages::DirectMessageService;
use amity_domain::moderation::ModerationService;
use amity_domain::notifications::{Notification, NotificationService};
use amity_domain::ports::{FriendStore, NotificationStore, PasswordHasher, UserStore};
use amity_domain::time::{Clock, ManualClock};
use amity_domain::{Handle, Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::broadcast;

/// The moment every test world starts at.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

/// A "hash" that is the password with a prefix: enough to tell right from wrong.
pub struct PlainHasher;

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<String> {
        Ok(format!("plain${}", password.expose()))
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        Ok(hash == Some(format!("plain${password}").as_str()))
    }
}

/// Every service on one store, bus and manual clock.
pub struct World {
    pub store: Arc<MemoryStore>,
    pub bus: Arc<InProcessBus>,
    pub clock: Arc<ManualClock>,
    pub friends: FriendService,
    pub accounts: AccountService,
    pub notifications: NotificationService,
    pub messages: DirectMessageService,
    pub moderation: ModerationService,
}

impl World {
    /// A world with the default limits.
    pub fn new() -> Self {
        Self::with_limits(FriendLimits::default())
    }

    /// A world whose friend service has these limits.
    pub fn with_limits(limits: FriendLimits) -> Self {
        let store = Arc::new(MemoryStore::new());
        let bus = Arc::new(InProcessBus::new());
        let clock = Arc::new(ManualClock::new(t0()));
        Self {
            friends: FriendService::new(
                store.clone(),
                store.clone(),
                bus.clone(),
                clock.clone(),
                limits,
            ),
            accounts: AccountService::new(store.clone(), Arc::new(PlainHasher), clock.clone()),
            notifications: NotificationService::new(store.clone(), clock.clone()),
            messages: DirectMessageService::new(store.clone(), bus.clone(), clock.clone()),
            moderation: ModerationService::new(store.clone(), bus.clone(), clock.clone()),
            store,
            bus,
            clock,
        }
    }

    /// Another friend service on the same store, with other limits (as after a
    /// configuration change).
    pub fn friends_with(&self, limits: FriendLimits) -> FriendService {
        FriendService::new(
            self.store.clone(),
            self.store.clone(),
            self.bus.clone(),
            self.clock.clone(),
            limits,
        )
    }

    /// A new user with role USER and no password.
    pub async fn user(&self, handle: &str) -> User {
        self.user_with_role(handle, Role::User).await
    }

    /// New users with these handles, in order.
    pub async fn users(&self, handles: &[&str]) -> Vec<User> {
        let mut users = Vec::new();
        for handle in handles {
            users.push(self.user(handle).await);
        }
        users
    }

    /// A new user with this role and no password.
    pub async fn user_with_role(&self, handle: &str, role: Role) -> User {
        self.store
            .insert_user(NewUser {
                id: UserId::new(),
                handle: Handle::parse("handle", handle).unwrap(),
                display_name: None,
                password_hash: None,
                role,
                created_at: self.clock.now(),
            })
            .await
            .unwrap()
    }

    /// Moves the clock one second on (so that changes get distinct times).
    pub fn tick(&self) {
        self.clock.advance(chrono::Duration::seconds(1));
    }

    /// `from` adds `to` (asks, or accepts a request); the call must succeed.
    pub async fn add(&self, from: &User, to: &[&User]) {
        self.friends
            .add_friends(from.id, &ids(to), None)
            .await
            .unwrap();
    }

    /// Makes `a` and `b` friends (a asks, b accepts).
    pub async fn befriend(&self, a: &User, b: &User) {
        self.add(a, &[b]).await;
        self.add(b, &[a]).await;
    }

    /// What `users` see: their edges, counts and notifications.
    pub async fn seen_by(&self, users: &[&User]) -> Seen {
        seen_by(&self.store, &users.iter().map(|u| u.id).collect::<Vec<_>>()).await
    }

    /// A receiver of every event published from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.bus.subscribe()
    }
}

/// Targets naming these users by id.
pub fn ids(users: &[&User]) -> Targets {
    let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    Targets::parse(&ids, &[]).unwrap()
}

/// Targets naming users by handle.
pub fn handles(handles: &[&str]) -> Targets {
    let handles: Vec<String> = handles.iter().map(|h| h.to_string()).collect();
    Targets::parse(&[], &handles).unwrap()
}

/// Everything some users see of the graph: every edge (with time and metadata), the counts
/// and every notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub edges: BTreeMap<UserId, Vec<FriendView>>,
    pub counts: BTreeMap<UserId, FriendCounts>,
    pub notifications: BTreeMap<UserId, Vec<Notification>>,
}

/// What `users` see in `store`. The listing is read as of the Unix epoch, so every user with
/// a ban not yet over (whenever it started) is left out, as any listing leaves them out.
pub async fn seen_by(store: &MemoryStore, users: &[UserId]) -> Seen {
    let mut seen = Seen {
        edges: BTreeMap::new(),
        counts: BTreeMap::new(),
        notifications: BTreeMap::new(),
    };
    for &user in users {
        let query = FriendListQuery {
            states: Vec::new(),
            after: None,
            limit: 1000,
            visible_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        seen.edges
            .insert(user, store.list_friends(user, &query).await.unwrap());
        seen.counts
            .insert(user, store.friend_counts(user, None).await.unwrap());
        seen.notifications.insert(
            user,
            store.list_notifications(user, None, 1000).await.unwrap(),
        );
    }
    seen
}

/// The events received so far, without waiting.
pub fn drain(events: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut received = Vec::new();
    while let Ok(event) = events.try_recv() {
        received.push(event);
    }
    received
}

/// Publishes nothing: for services whose events a test does not want on the shared bus.
pub struct SilentBus(InProcessBus);

impl SilentBus {
    pub fn new() -> Self {
        Self(InProcessBus::new())
    }
}

impl EventBus for SilentBus {
    fn publish(&self, _events: Vec<Event>) {}

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.subscribe()
    }

    fn connected(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.connected()
    }
}
