//! [`CachedStore`]: every port of the domain over the real store, friend-graph reads served
//! from memory, writes passed through and invalidated.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use amity_domain::accounts::sessions::{NewSession, Refreshed, SessionInfo, SessionScope};
use amity_domain::accounts::{NewUser, ProfileChange, User};
use amity_domain::events::{CachedPart, EventBus};
use amity_domain::friends::state::FriendState;
use amity_domain::friends::{FriendCounts, FriendListQuery, FriendView, RecommendationRow};
use amity_domain::input::Metadata;
use amity_domain::messages::DirectMessage;
use amity_domain::moderation::{AccessStatus, ModerationEntry};
use amity_domain::notifications::Notification;
use amity_domain::ports::{
    Adjacency, EdgeTransaction, FriendStore, LinkTransaction, MessageStore, MessageTransaction,
    ModerationStore, ModerationTransaction, NotificationJob, NotificationStore, PresenceStore,
    SessionStore, SignInMethods, SocialLinkStore, Store, Unlinked, UserStore,
};
use amity_domain::social::Network;
use amity_domain::{
    Handle, JobId, MessageId, ModerationEntryId, NodeId, NotificationId, Result, SessionId, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::entries::{Graph, Key, Value, profile_weight};
use crate::shared::Shared;
use crate::tracked::Tracked;
use crate::versions::{Entries, Origin, Stamp};
use crate::{CACHE_HITS, CACHE_MISSES, CacheSettings};

/// Most users whose graphs one statement loads.
pub(crate) const LOAD_CHUNK: usize = 100;

/// The graph cache over a store: implements every port, so it stands wherever the store
/// does. Cheap to clone.
#[derive(Clone)]
pub struct CachedStore {
    pub(crate) inner: Arc<dyn Store>,
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("bytes", &self.shared.entries.weight())
            .finish_non_exhaustive()
    }
}

impl CachedStore {
    /// A cache of `settings`' size over `inner` for node `node`, which publishes its writes on
    /// `bus`. Run the returned future (spawn it) for as long as the store is used: it follows
    /// the bus. It subscribes at once, so nothing published after this call is missed.
    pub fn new(
        inner: Arc<dyn Store>,
        bus: Arc<dyn EventBus>,
        node: NodeId,
        settings: CacheSettings,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let events = bus.subscribe();
        let connected = bus.connected();
        let vouching = *connected.borrow();
        let shared = Arc::new(Shared {
            entries: Entries::new(settings.memory_bytes, vouching),
            bus,
            node,
        });
        let follower = shared.clone().follow(events, connected);
        (Self { inner, shared }, follower)
    }

    /// Estimated bytes the entries hold.
    pub fn weight(&self) -> u64 {
        self.shared.entries.weight()
    }

    /// Kept values of `key(user)` for `users` (each once), and stamps for the others, which the
    /// caller loads.
    fn split<T>(
        &self,
        users: &[UserId],
        key: fn(UserId) -> Key,
        take: fn(Value) -> Option<T>,
    ) -> (FxHashMap<UserId, T>, Vec<(UserId, Stamp)>) {
        let mut hits = FxHashMap::default();
        let mut misses = Vec::new();
        let mut seen = FxHashSet::default();
        for &user in users {
            if !seen.insert(user) {
                continue;
            }
            match self.shared.entries.get(&key(user)).and_then(take) {
                Some(value) => {
                    hits.insert(user, value);
                }
                None => misses.push((user, self.shared.entries.stamp(user))),
            }
        }
        let Some(kind) = users.first().map(|u| key(*u).kind()) else {
            return (hits, misses);
        };
        if !hits.is_empty() {
            metrics::counter!(CACHE_HITS, "kind" => kind).increment(hits.len() as u64);
        }
        if !misses.is_empty() {
            metrics::counter!(CACHE_MISSES, "kind" => kind).increment(misses.len() as u64);
        }
        (hits, misses)
    }

    /// The graphs of `users` (unknown users have an empty one).
    pub(crate) async fn graphs(&self, users: &[UserId]) -> Result<FxHashMap<UserId, Arc<Graph>>> {
        let (mut found, misses) = self.split(users, Key::Edges, |v| match v {
            Value::Edges(g) => Some(g),
            _ => None,
        });
        // In chunks, so that the rows of one statement and the graphs they become are in
        // memory together only for a few users (the friends of a user at the friend limit may
        // have a million edges between them).
        for chunk in misses.chunks(LOAD_CHUNK) {
            let ids: Vec<UserId> = chunk.iter().map(|(u, _)| *u).collect();
            let mut loaded = self.inner.adjacency(&ids).await?;
            for &(user, stamp) in chunk {
                let graph = Arc::new(Graph::new(loaded.remove(&user).unwrap_or_default()));
                self.shared
                    .entries
                    .install(Key::Edges(user), Value::Edges(graph.clone()), stamp);
                found.insert(user, graph);
            }
        }
        Ok(found)
    }

    /// One user's graph.
    pub(crate) async fn graph(&self, user: UserId) -> Result<Arc<Graph>> {
        let mut graphs = self.graphs(&[user]).await?;
        Ok(graphs
            .remove(&user)
            .unwrap_or_else(|| Arc::new(Graph::new(Adjacency::default()))))
    }

    /// The profiles of `users` that exist.
    pub(crate) async fn profiles(&self, users: &[UserId]) -> Result<FxHashMap<UserId, Arc<User>>> {
        let (mut found, misses) = self.split(users, Key::Profile, |v| match v {
            Value::Profile(u, _) => Some(u),
            _ => None,
        });
        if !misses.is_empty() {
            let ids: Vec<UserId> = misses.iter().map(|(u, _)| *u).collect();
            let mut loaded: FxHashMap<UserId, User> = self
                .inner
                .users_by_ids(&ids)
                .await?
                .into_iter()
                .map(|u| (u.id, u))
                .collect();
            for (id, stamp) in misses {
                // Absent users are not kept: a user made later is found by the next read.
                if let Some(user) = loaded.remove(&id) {
                    let weight = profile_weight(&user);
                    let user = Arc::new(user);
                    self.shared.entries.install(
                        Key::Profile(id),
                        Value::Profile(user.clone(), weight),
                        stamp,
                    );
                    found.insert(id, user);
                }
            }
        }
        Ok(found)
    }

    /// After a store call (not a transaction) changed these.
    fn changed(&self, changes: &[(UserId, CachedPart)]) {
        self.shared.changed(changes);
    }

    /// Forgets the presence of users whose presence this node just wrote, and their profile
    /// too when they may have gone offline (which sets the last-seen time); other nodes hear of
    /// it through the presence events.
    fn presence_written(&self, users: impl IntoIterator<Item = UserId>, offline: bool) {
        for user in users {
            let keys = [Key::Online(user), Key::Profile(user)];
            let keys = if offline { &keys[..] } else { &keys[..1] };
            self.shared.entries.invalidate(keys, Origin::Local);
        }
    }
}

#[async_trait]
impl UserStore for CachedStore {
    async fn insert_user(&self, user: NewUser) -> Result<User> {
        self.inner.insert_user(user).await
    }

    /// From the store: one's own account (`me`, sign-in flows) is read fresh, so that an
    /// account removed even behind the server's back is gone at once; lists and pages use the
    /// cached profiles.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.inner.user_by_id(id).await
    }

    async fn user_by_handle(&self, handle: &Handle) -> Result<Option<User>> {
        self.inner.user_by_handle(handle).await
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        Ok(self
            .profiles(ids)
            .await?
            .into_values()
            .map(Arc::unwrap_or_clone)
            .collect())
    }

    async fn credentials_by_handle(
        &self,
        handle: &Handle,
    ) -> Result<Option<(User, Option<String>)>> {
        self.inner.credentials_by_handle(handle).await
    }

    async fn update_profile(&self, id: UserId, change: &ProfileChange) -> Result<Option<User>> {
        let result = self.inner.update_profile(id, change).await;
        self.changed(&[(id, CachedPart::Profile)]);
        result
    }

    async fn credentials_by_id(&self, id: UserId) -> Result<Option<(User, Option<String>)>> {
        self.inner.credentials_by_id(id).await
    }

    async fn sign_in_methods(&self, id: UserId) -> Result<Option<SignInMethods>> {
        self.inner.sign_in_methods(id).await
    }

    /// Passwords and sessions are nothing the cache keeps.
    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<SessionId>,
    ) -> Result<Option<Vec<SessionId>>> {
        self.inner.set_password_hash(id, hash, keep).await
    }

    async fn change_handle(&self, id: UserId, handle: &Handle) -> Result<Option<User>> {
        let result = self.inner.change_handle(id, handle).await;
        self.changed(&[(id, CachedPart::Profile)]);
        result
    }

    async fn user_by_device(&self, device_key: &str) -> Result<Option<User>> {
        self.inner.user_by_device(device_key).await
    }

    async fn insert_device_user(&self, user: NewUser, device_key: &str) -> Result<Option<User>> {
        self.inner.insert_device_user(user, device_key).await
    }

    /// The deleted user's edges and profile are forgotten, and the edges of everyone who had
    /// an edge with them (their lists, counts and recommendations lose the user), on this node
    /// at once and on the others through the bus.
    async fn delete_user(&self, id: UserId, at: DateTime<Utc>) -> Result<Option<Vec<UserId>>> {
        let result = self.inner.delete_user(id, at).await;
        let mut parts = vec![(id, CachedPart::Edges), (id, CachedPart::Profile)];
        if let Ok(Some(others)) = &result {
            parts.extend(others.iter().map(|other| (*other, CachedPart::Edges)));
        }
        self.changed(&parts);
        // Their presence rows went with the account.
        self.presence_written([id], true);
        result
    }

    async fn search_users(
        &self,
        prefix: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<User>> {
        self.inner.search_users(prefix, limit, now).await
    }
}

#[async_trait]
impl FriendStore for CachedStore {
    async fn begin_edges(&self) -> Result<Box<dyn EdgeTransaction>> {
        Ok(Box::new(Tracked::new(
            self.inner.begin_edges().await?,
            self.shared.clone(),
        )))
    }

    async fn views_of(
        &self,
        viewer: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, FriendState>> {
        let graph = self.graph(viewer).await?;
        Ok(others
            .iter()
            .filter_map(|o| graph.edge(*o).map(|e| (*o, e.state)))
            .collect())
    }

    async fn list_friends(
        &self,
        owner: UserId,
        query: &FriendListQuery,
    ) -> Result<Vec<FriendView>> {
        let graph = self.graph(owner).await?;
        self.page(&graph, query).await
    }

    async fn friend_counts(
        &self,
        owner: UserId,
        visible_at: Option<DateTime<Utc>>,
    ) -> Result<FriendCounts> {
        let graph = self.graph(owner).await?;
        match visible_at {
            None => Ok(graph.counts),
            Some(at) => self.visible_counts(&graph, at).await,
        }
    }

    async fn set_edge_metadata(
        &self,
        owner: UserId,
        other: UserId,
        metadata: Option<&Metadata>,
    ) -> Result<Option<FriendView>> {
        let result = self.inner.set_edge_metadata(owner, other, metadata).await;
        self.changed(&[(owner, CachedPart::Edges)]);
        result
    }

    async fn friend_ids(&self, user: UserId) -> Result<Vec<UserId>> {
        Ok(self.graph(user).await?.friends_in_order())
    }

    async fn mutual_friends(
        &self,
        a: UserId,
        b: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<User>, u32)> {
        self.mutual(a, b, limit, now).await
    }

    async fn mutual_friend_counts(
        &self,
        viewer: UserId,
        others: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<UserId, u32>> {
        self.mutual_counts(viewer, others, now).await
    }

    async fn friend_recommendations(
        &self,
        me: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<RecommendationRow>> {
        self.recommendations(me, limit, now).await
    }

    async fn dismiss_recommendation(
        &self,
        me: UserId,
        other: UserId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let result = self.inner.dismiss_recommendation(me, other, at).await;
        self.changed(&[(me, CachedPart::Edges)]);
        result
    }

    async fn adjacency(&self, owners: &[UserId]) -> Result<HashMap<UserId, Adjacency>> {
        self.inner.adjacency(owners).await
    }
}

#[async_trait]
impl ModerationStore for CachedStore {
    async fn begin_moderation(&self) -> Result<Box<dyn ModerationTransaction>> {
        Ok(Box::new(Tracked::new(
            self.inner.begin_moderation().await?,
            self.shared.clone(),
        )))
    }

    async fn access_status(&self, user: UserId) -> Result<Option<AccessStatus>> {
        self.inner.access_status(user).await
    }

    async fn moderation_log(
        &self,
        before: Option<ModerationEntryId>,
        limit: u32,
    ) -> Result<Vec<ModerationEntry>> {
        self.inner.moderation_log(before, limit).await
    }

    async fn moderation_targets_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(ModerationEntryId, UserId, DateTime<Utc>)>> {
        self.inner.moderation_targets_since(since).await
    }
}

#[async_trait]
impl NotificationStore for CachedStore {
    async fn list_notifications(
        &self,
        recipient: UserId,
        after: Option<NotificationId>,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        self.inner.list_notifications(recipient, after, limit).await
    }

    async fn mark_notifications_read(
        &self,
        recipient: UserId,
        ids: &[NotificationId],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        self.inner.mark_notifications_read(recipient, ids, at).await
    }

    async fn delete_notifications(&self, recipient: UserId, ids: &[NotificationId]) -> Result<u64> {
        self.inner.delete_notifications(recipient, ids).await
    }

    async fn notifications_by_ids(&self, ids: &[NotificationId]) -> Result<Vec<Notification>> {
        self.inner.notifications_by_ids(ids).await
    }

    async fn notification_counts(&self, recipient: UserId) -> Result<(u64, u64)> {
        self.inner.notification_counts(recipient).await
    }

    async fn insert_notification_job(&self, job: &NotificationJob) -> Result<u64> {
        self.inner.insert_notification_job(job).await
    }

    async fn unfinished_notification_jobs(&self) -> Result<Vec<NotificationJob>> {
        self.inner.unfinished_notification_jobs().await
    }

    async fn run_notification_batch(
        &self,
        job: JobId,
        batch: u32,
        at: DateTime<Utc>,
        new_id: &(dyn Fn() -> NotificationId + Send + Sync),
    ) -> Result<Option<Vec<(UserId, NotificationId)>>> {
        self.inner
            .run_notification_batch(job, batch, at, new_id)
            .await
    }
}

#[async_trait]
impl MessageStore for CachedStore {
    /// Messages change nothing the cache keeps.
    async fn begin_messages(&self) -> Result<Box<dyn MessageTransaction>> {
        self.inner.begin_messages().await
    }

    async fn direct_messages(
        &self,
        a: UserId,
        b: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<DirectMessage>> {
        self.inner.direct_messages(a, b, before, limit).await
    }

    async fn direct_messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<DirectMessage>> {
        self.inner.direct_messages_by_ids(ids).await
    }

    async fn direct_messages_of(
        &self,
        user: UserId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<DirectMessage>> {
        self.inner.direct_messages_of(user, after, limit).await
    }
}

#[async_trait]
impl SocialLinkStore for CachedStore {
    async fn begin_links(&self) -> Result<Box<dyn LinkTransaction>> {
        Ok(Box::new(Tracked::new(
            self.inner.begin_links().await?,
            self.shared.clone(),
        )))
    }

    async fn user_by_external(&self, network: Network, external_id: &str) -> Result<Option<User>> {
        self.inner.user_by_external(network, external_id).await
    }

    async fn external_id_of(&self, user: UserId, network: Network) -> Result<Option<String>> {
        self.inner.external_id_of(user, network).await
    }

    /// Links are nothing the cache keeps (imported edges keep their mark).
    async fn unlink_external(&self, user: UserId, network: Network) -> Result<Unlinked> {
        self.inner.unlink_external(user, network).await
    }
}

#[async_trait]
impl PresenceStore for CachedStore {
    async fn register_node(&self, node: NodeId, now: DateTime<Utc>) -> Result<()> {
        self.inner.register_node(node, now).await
    }

    async fn heartbeat(&self, node: NodeId, now: DateTime<Utc>) -> Result<bool> {
        self.inner.heartbeat(node, now).await
    }

    async fn connect(
        &self,
        node: NodeId,
        user: UserId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<bool> {
        let result = self.inner.connect(node, user, now, live_after).await;
        self.presence_written([user], false);
        result
    }

    async fn disconnect(
        &self,
        node: NodeId,
        user: UserId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<bool> {
        let result = self.inner.disconnect(node, user, now, live_after).await;
        self.presence_written([user], true);
        result
    }

    async fn deregister_node(
        &self,
        node: NodeId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<Vec<UserId>> {
        let offline = self.inner.deregister_node(node, now, live_after).await?;
        self.presence_written(offline.iter().copied(), true);
        Ok(offline)
    }

    async fn sweep_dead_nodes(
        &self,
        live_after: DateTime<Utc>,
    ) -> Result<Vec<(UserId, DateTime<Utc>)>> {
        let offline = self.inner.sweep_dead_nodes(live_after).await?;
        self.presence_written(offline.iter().map(|(u, _)| *u), true);
        Ok(offline)
    }

    async fn online_among(
        &self,
        users: &[UserId],
        live_after: DateTime<Utc>,
    ) -> Result<HashSet<UserId>> {
        let (found, misses) = self.split(users, Key::Online, |v| match v {
            Value::Online(o) => Some(o),
            _ => None,
        });
        let mut online: HashSet<UserId> = found
            .into_iter()
            .filter(|(_, o)| *o)
            .map(|(u, _)| u)
            .collect();
        if !misses.is_empty() {
            let ids: Vec<UserId> = misses.iter().map(|(u, _)| *u).collect();
            let live = self.inner.online_among(&ids, live_after).await?;
            for (user, stamp) in misses {
                let is_online = live.contains(&user);
                self.shared
                    .entries
                    .install(Key::Online(user), Value::Online(is_online), stamp);
                if is_online {
                    online.insert(user);
                }
            }
        }
        Ok(online)
    }
}

/// Sessions change nothing the cache keeps.
#[async_trait]
impl SessionStore for CachedStore {
    async fn start_session(&self, new: &NewSession, keep_at_most: u32) -> Result<Vec<SessionId>> {
        self.inner.start_session(new, keep_at_most).await
    }

    async fn refresh_session(
        &self,
        presented: &str,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Refreshed> {
        self.inner
            .refresh_session(presented, next, now, expires_at)
            .await
    }

    async fn replace_refresh_token(
        &self,
        session: SessionId,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>> {
        self.inner
            .replace_refresh_token(session, next, now, expires_at)
            .await
    }

    async fn sessions_of(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<SessionInfo>> {
        self.inner.sessions_of(user, now).await
    }

    async fn end_sessions(&self, user: UserId, scope: SessionScope) -> Result<Vec<SessionId>> {
        self.inner.end_sessions(user, scope).await
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn is_ready(&self) -> bool {
        self.inner.is_ready().await
    }
}
