//! [`MemoryStore`](crate::memory::MemoryStore): every port of [`crate::ports`] kept in
//! memory. It is the reference for anyone implementing the ports (it answers exactly as the
//! SQL store of `amity-persistence` does) and the fake the services' tests run on. Enabled by
//! the `memory` feature (off for the server; the domain's own tests turn it on).
//!
//! # How it works
//!
//! - The committed data is one `State` value (an ordered map per SQL table, in `state.rs`)
//!   behind a [`std::sync::RwLock`], held as an [`Arc`](std::sync::Arc). A read takes the
//!   lock only long enough to clone the `Arc`, then answers from that snapshot: reads never
//!   wait for a write to finish, and always see committed data.
//! - A write transaction ([`MemoryTransaction`](crate::memory::MemoryTransaction)) holds the
//!   store's writer lock, an owned guard of a [`tokio::sync::Mutex`], from its start to its
//!   end, so write transactions run one at a time. It works on its own copy of the state
//!   (cloned on its first write) and swaps it in at commit; dropped without a commit, the
//!   copy is thrown away: a rollback. Single-call writes (a profile change, marking
//!   notifications read, presence) take the same lock for their duration, as one-statement
//!   transactions.
//! - Because writes are serialized, [`crate::ports::WriteTransaction::lock_users`] has
//!   nothing left to do, and no write ever fails with [`crate::DomainError::Conflict`]
//!   (except a network account linked twice, reported as the SQL store reports it).
//! - What the SQL schema refuses is refused here too, and reported the same way: a taken
//!   handle (case-insensitively) is [`crate::DomainError::HandleTaken`], a row naming a user
//!   who does not exist is a [`crate::DomainError::Storage`] failure, a network account
//!   linked twice is a [`crate::DomainError::Conflict`]. Times are kept to the microsecond,
//!   as the SQL store keeps them.
//! - Queries (`queries.rs`) give what the SQL store's statements give, in the same order:
//!   the friend listing and its keyset paging, counts that leave out banned users,
//!   recommendations (computed exactly: no sampling), mutual friends, notification,
//!   message and audit-log pages. Presence is in `presence.rs`.
//!
//! As with the SQL store on SQLite, a task that holds a transaction must not make another
//! write on the same store before it ends: that write would wait for the transaction, which
//! waits for the task.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> amity_domain::Result<()> {
//! use std::sync::Arc;
//!
//! use amity_domain::events::InProcessBus;
//! use amity_domain::friends::{FriendLimits, FriendService, FriendState, Targets};
//! use amity_domain::memory::MemoryStore;
//! use amity_domain::time::SystemClock;
//!
//! let store = Arc::new(MemoryStore::new());
//! let ada = store.add_user("ada").await?;
//! let bob = store.add_user("bob").await?;
//! let friends = FriendService::new(
//!     store.clone(),
//!     store.clone(),
//!     Arc::new(InProcessBus::new()),
//!     Arc::new(SystemClock),
//!     FriendLimits::default(),
//! );
//! friends.add_friends(ada.id, &Targets::parse(&[], &["bob".into()])?, None).await?;
//! friends.add_friends(bob.id, &Targets::parse(&[ada.id.to_string()], &[])?, None).await?;
//! let views = friends.views_of(ada.id, &[bob.id]).await?;
//! assert_eq!(views.get(&bob.id), Some(&FriendState::Friend));
//! # Ok(())
//! # }
//! ```

mod accounts;
mod presence;
mod queries;
mod sessions;
mod state;
mod transaction;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::accounts::{NewUser, ProfileChange, Role, User};
use crate::friends::{FriendCounts, FriendListQuery, FriendState, FriendView, RecommendationRow};
use crate::input::Metadata;
use crate::messages::DirectMessage;
use crate::moderation::{AccessStatus, ModerationEntry};
use crate::notifications::Notification;
use crate::ports::{
    Adjacency, EdgeTransaction, FriendStore, LinkTransaction, MessageStore, MessageTransaction,
    ModerationStore, ModerationTransaction, NotificationJob, NotificationStore, SignInMethods,
    SocialLinkStore, Store, Unlinked, UserStore,
};
use crate::social::Network;
use crate::time::{Clock, SystemClock};
use crate::{
    DomainError, Handle, JobId, MessageId, ModerationEntryId, NotificationId, Result, SessionId,
    UserId,
};

pub use sessions::TestSecrets;
use state::{State, stored};
pub use transaction::MemoryTransaction;

/// Every port of the domain, in memory. Cheap to clone: clones share the same data, as
/// clones of a connection pool share one database.
#[derive(Clone, Default)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The committed state; replaced whole at each commit.
    committed: RwLock<Arc<State>>,
    /// Held by every write from start to end.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Calls of the port methods, by name.
    calls: Calls,
}

/// How many times each port method was called: what tests of N+1 reads count.
#[derive(Default)]
struct Calls(std::sync::Mutex<HashMap<&'static str, u64>>);

impl Calls {
    fn record(&self, method: &'static str) {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(method)
            .or_default() += 1;
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.snapshot();
        f.debug_struct("MemoryStore")
            .field("users", &state.users.len())
            .field("nodes", &state.nodes.len())
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times the port method `method` (e.g. `"online_among"`) has been called on
    /// this store: tests count reads with it (one per page, not one per item).
    pub fn calls(&self, method: &str) -> u64 {
        let calls = self
            .shared
            .calls
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        calls.get(method).copied().unwrap_or(0)
    }

    /// Creates a user with this handle, role USER, no password and no display name, made
    /// now: a shortcut for tests and examples ([`UserStore::insert_user`] takes every field).
    pub async fn add_user(&self, handle: &str) -> Result<User> {
        let handle = Handle::parse("handle", handle)?;
        self.insert_user(NewUser {
            id: UserId::new(),
            handle,
            display_name: None,
            password_hash: None,
            role: Role::User,
            created_at: SystemClock.now(),
        })
        .await
    }

    /// The committed state as of now; later commits do not change it.
    fn snapshot(&self) -> Arc<State> {
        self.shared
            .committed
            .read()
            // Only whole `Arc`s are ever stored: a panicking holder cannot leave half a state.
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `state` the committed state.
    fn replace(&self, state: Arc<State>) {
        *self
            .shared
            .committed
            .write()
            .unwrap_or_else(PoisonError::into_inner) = state;
    }

    /// The lock every write holds.
    fn writer(&self) -> Arc<tokio::sync::Mutex<()>> {
        self.shared.writer.clone()
    }

    /// Starts a write transaction (waiting for the one in progress, if any).
    async fn begin(&self) -> MemoryTransaction {
        MemoryTransaction::begin(self).await
    }

    /// One write as its own transaction: `change` applies to a copy that replaces the state
    /// if it succeeds, and is dropped if it fails.
    async fn write<T>(&self, change: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut tx = self.begin().await;
        let value = change(tx.state_mut())?;
        tx.publish();
        Ok(value)
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(&self, user: NewUser) -> Result<User> {
        self.shared.calls.record("insert_user");
        self.write(|state| state.insert_user(&user)).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.shared.calls.record("user_by_id");
        Ok(self.snapshot().user(id).cloned())
    }

    async fn user_by_handle(&self, handle: &Handle) -> Result<Option<User>> {
        self.shared.calls.record("user_by_handle");
        Ok(self
            .snapshot()
            .row_by_handle(handle)
            .map(|row| row.user.clone()))
    }

    /// Each user once, in id order.
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        self.shared.calls.record("users_by_ids");
        Ok(self.snapshot().users_in(ids))
    }

    async fn credentials_by_handle(
        &self,
        handle: &Handle,
    ) -> Result<Option<(User, Option<String>)>> {
        self.shared.calls.record("credentials_by_handle");
        Ok(self
            .snapshot()
            .row_by_handle(handle)
            .map(|row| (row.user.clone(), row.password_hash.clone())))
    }

    async fn update_profile(&self, id: UserId, change: &ProfileChange) -> Result<Option<User>> {
        self.shared.calls.record("update_profile");
        self.write(|state| {
            let Some(row) = state.users.get_mut(&id) else {
                return Ok(None);
            };
            let user = &mut row.user;
            if let Some(name) = &change.display_name {
                user.display_name = name.as_ref().map(|n| n.as_str().to_owned());
            }
            if let Some(url) = &change.avatar_url {
                user.avatar_url = url.as_ref().map(|u| u.as_str().to_owned());
            }
            if let Some(metadata) = &change.metadata {
                user.metadata = metadata.clone();
            }
            Ok(Some(user.clone()))
        })
        .await
    }

    async fn credentials_by_id(&self, id: UserId) -> Result<Option<(User, Option<String>)>> {
        self.shared.calls.record("credentials_by_id");
        Ok(self
            .snapshot()
            .live_row(id)
            .map(|row| (row.user.clone(), row.password_hash.clone())))
    }

    async fn sign_in_methods(&self, id: UserId) -> Result<Option<SignInMethods>> {
        self.shared.calls.record("sign_in_methods");
        Ok(self.snapshot().sign_in_methods(id))
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<SessionId>,
    ) -> Result<Option<Vec<SessionId>>> {
        self.shared.calls.record("set_password_hash");
        self.write(|state| Ok(state.set_password_hash(id, hash, keep)))
            .await
    }

    async fn change_handle(&self, id: UserId, handle: &Handle) -> Result<Option<User>> {
        self.shared.calls.record("change_handle");
        self.write(|state| state.change_handle(id, handle)).await
    }

    async fn user_by_device(&self, device_key: &str) -> Result<Option<User>> {
        self.shared.calls.record("user_by_device");
        let state = self.snapshot();
        Ok(state
            .device_keys
            .get(device_key)
            .and_then(|id| state.user(*id).cloned()))
    }

    async fn insert_device_user(&self, user: NewUser, device_key: &str) -> Result<Option<User>> {
        self.shared.calls.record("insert_device_user");
        self.write(|state| state.insert_device_user(&user, device_key))
            .await
    }

    async fn delete_user(&self, id: UserId, at: DateTime<Utc>) -> Result<Option<Vec<UserId>>> {
        self.shared.calls.record("delete_user");
        self.write(|state| Ok(state.delete_user(id, at))).await
    }

    async fn search_users(
        &self,
        prefix: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<User>> {
        self.shared.calls.record("search_users");
        Ok(self.snapshot().search_users(prefix, limit, now))
    }
}

#[async_trait]
impl FriendStore for MemoryStore {
    async fn begin_edges(&self) -> Result<Box<dyn EdgeTransaction>> {
        self.shared.calls.record("begin_edges");
        Ok(Box::new(self.begin().await))
    }

    async fn views_of(
        &self,
        viewer: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, FriendState>> {
        self.shared.calls.record("views_of");
        let state = self.snapshot();
        Ok(others
            .iter()
            .filter_map(|other| Some((*other, state.edge(viewer, *other)?.state)))
            .collect())
    }

    async fn list_friends(
        &self,
        owner: UserId,
        query: &FriendListQuery,
    ) -> Result<Vec<FriendView>> {
        self.shared.calls.record("list_friends");
        Ok(self.snapshot().list_friends(owner, query))
    }

    async fn friend_counts(
        &self,
        owner: UserId,
        visible_at: Option<DateTime<Utc>>,
    ) -> Result<FriendCounts> {
        self.shared.calls.record("friend_counts");
        Ok(self.snapshot().counts(owner, visible_at))
    }

    /// Leaves the edge's time as it is: metadata is not a change of the edge's state.
    async fn set_edge_metadata(
        &self,
        owner: UserId,
        other: UserId,
        metadata: Option<&Metadata>,
    ) -> Result<Option<FriendView>> {
        self.shared.calls.record("set_edge_metadata");
        self.write(|state| {
            let Some(edge) = state
                .edges
                .get_mut(&owner)
                .and_then(|edges| edges.get_mut(&other))
            else {
                return Ok(None);
            };
            edge.metadata = metadata.cloned();
            Ok(state.friend_view(owner, other))
        })
        .await
    }

    /// In id order.
    async fn friend_ids(&self, user: UserId) -> Result<Vec<UserId>> {
        self.shared.calls.record("friend_ids");
        Ok(self
            .snapshot()
            .friend_edges_of(user)
            .map(|(other, _)| other)
            .collect())
    }

    async fn mutual_friends(
        &self,
        a: UserId,
        b: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<User>, u32)> {
        self.shared.calls.record("mutual_friends");
        let state = self.snapshot();
        let ids = state.mutual_friend_ids(a, b, now);
        let total = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let first: Vec<UserId> = ids
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        Ok((state.users_in_order(&first), total))
    }

    async fn mutual_friend_counts(
        &self,
        viewer: UserId,
        others: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<UserId, u32>> {
        self.shared.calls.record("mutual_friend_counts");
        let state = self.snapshot();
        Ok(others
            .iter()
            .map(|other| {
                let n = state.mutual_friend_ids(viewer, *other, now).len();
                (*other, u32::try_from(n).unwrap_or(u32::MAX))
            })
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    /// Exact: every friend of every friend is considered (no sampling).
    async fn friend_recommendations(
        &self,
        me: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<RecommendationRow>> {
        self.shared.calls.record("friend_recommendations");
        Ok(self.snapshot().recommendations(me, limit, now))
    }

    /// A second dismissal keeps the first one's time. Like the SQL store (whose foreign keys
    /// refuse the row), an unknown user on either side is reported as the caller's account
    /// no longer existing.
    async fn dismiss_recommendation(
        &self,
        me: UserId,
        other: UserId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.shared.calls.record("dismiss_recommendation");
        self.write(|state| {
            if state.user(me).is_none() || state.user(other).is_none() {
                return Err(DomainError::Unauthenticated(
                    "the account no longer exists".into(),
                ));
            }
            state.dismissed.entry((me, other)).or_insert(stored(at));
            Ok(())
        })
        .await
    }

    async fn adjacency(&self, owners: &[UserId]) -> Result<HashMap<UserId, Adjacency>> {
        self.shared.calls.record("adjacency");
        Ok(self.snapshot().adjacency(owners))
    }
}

#[async_trait]
impl ModerationStore for MemoryStore {
    async fn begin_moderation(&self) -> Result<Box<dyn ModerationTransaction>> {
        self.shared.calls.record("begin_moderation");
        Ok(Box::new(self.begin().await))
    }

    async fn access_status(&self, user: UserId) -> Result<Option<AccessStatus>> {
        self.shared.calls.record("access_status");
        Ok(self.snapshot().users.get(&user).map(|row| AccessStatus {
            role: row.user.role,
            ban: row.user.ban.clone(),
            sessions_valid_after: row.sessions_valid_after,
            sessions: self
                .snapshot()
                .sessions
                .values()
                .filter(|session| session.user == user)
                .map(|session| (session.id, session.expires_at))
                .collect(),
        }))
    }

    async fn moderation_log(
        &self,
        before: Option<ModerationEntryId>,
        limit: u32,
    ) -> Result<Vec<ModerationEntry>> {
        self.shared.calls.record("moderation_log");
        let state = self.snapshot();
        let entries = match before {
            Some(before) => state.moderation_log.range(..before),
            None => state.moderation_log.range(..),
        };
        Ok(entries
            .rev()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(_, entry)| entry.clone())
            .collect())
    }

    /// In id order.
    async fn moderation_targets_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(ModerationEntryId, UserId, DateTime<Utc>)>> {
        self.shared.calls.record("moderation_targets_since");
        let since = stored(since);
        Ok(self
            .snapshot()
            .moderation_log
            .values()
            .filter(|entry| entry.created_at >= since)
            .map(|entry| (entry.id, entry.target, entry.created_at))
            .collect())
    }
}

#[async_trait]
impl NotificationStore for MemoryStore {
    async fn list_notifications(
        &self,
        recipient: UserId,
        after: Option<NotificationId>,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        self.shared.calls.record("list_notifications");
        let state = self.snapshot();
        Ok(state
            .notifications
            .values()
            .filter(|n| n.recipient == recipient && after.is_none_or(|after| n.id > after))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn mark_notifications_read(
        &self,
        recipient: UserId,
        ids: &[NotificationId],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        self.shared.calls.record("mark_notifications_read");
        let ids: BTreeSet<NotificationId> = ids.iter().copied().collect();
        self.write(|state| {
            let mut changed = 0;
            for id in ids {
                if let Some(n) = state.notifications.get_mut(&id)
                    && n.recipient == recipient
                    && n.read_at.is_none()
                {
                    n.read_at = Some(stored(at));
                    changed += 1;
                }
            }
            Ok(changed)
        })
        .await
    }

    async fn delete_notifications(&self, recipient: UserId, ids: &[NotificationId]) -> Result<u64> {
        self.shared.calls.record("delete_notifications");
        let ids: BTreeSet<NotificationId> = ids.iter().copied().collect();
        self.write(|state| {
            let mut deleted = 0;
            for id in ids {
                if state
                    .notifications
                    .get(&id)
                    .is_some_and(|n| n.recipient == recipient)
                {
                    state.notifications.remove(&id);
                    deleted += 1;
                }
            }
            Ok(deleted)
        })
        .await
    }

    /// In id order.
    async fn notifications_by_ids(&self, ids: &[NotificationId]) -> Result<Vec<Notification>> {
        self.shared.calls.record("notifications_by_ids");
        let state = self.snapshot();
        let ids: BTreeSet<NotificationId> = ids.iter().copied().collect();
        Ok(ids
            .iter()
            .filter_map(|id| state.notifications.get(id).cloned())
            .collect())
    }

    async fn notification_counts(&self, recipient: UserId) -> Result<(u64, u64)> {
        self.shared.calls.record("notification_counts");
        let state = self.snapshot();
        let (mut unread, mut total) = (0, 0);
        for n in state
            .notifications
            .values()
            .filter(|n| n.recipient == recipient)
        {
            total += 1;
            if n.read_at.is_none() {
                unread += 1;
            }
        }
        Ok((unread, total))
    }

    async fn insert_notification_job(&self, job: &NotificationJob) -> Result<u64> {
        self.shared.calls.record("insert_notification_job");
        let mut job = job.clone();
        job.created_at = stored(job.created_at);
        self.write(|state| {
            state
                .jobs
                .insert(job.id, accounts::JobRow { job, cursor: None });
            Ok(state
                .users
                .values()
                .filter(|row| row.user.deleted_at.is_none())
                .count() as u64)
        })
        .await
    }

    async fn unfinished_notification_jobs(&self) -> Result<Vec<NotificationJob>> {
        self.shared.calls.record("unfinished_notification_jobs");
        Ok(self
            .snapshot()
            .jobs
            .values()
            .filter(|row| row.job.finished_at.is_none())
            .map(|row| row.job.clone())
            .collect())
    }

    async fn run_notification_batch(
        &self,
        job: JobId,
        batch: u32,
        at: DateTime<Utc>,
        new_id: &(dyn Fn() -> NotificationId + Send + Sync),
    ) -> Result<Option<Vec<(UserId, NotificationId)>>> {
        self.shared.calls.record("run_notification_batch");
        self.write(|state| state.run_notification_batch(job, batch, at, new_id))
            .await
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn begin_messages(&self) -> Result<Box<dyn MessageTransaction>> {
        self.shared.calls.record("begin_messages");
        Ok(Box::new(self.begin().await))
    }

    async fn direct_messages(
        &self,
        a: UserId,
        b: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<DirectMessage>> {
        self.shared.calls.record("direct_messages");
        let state = self.snapshot();
        let older = match before {
            Some(before) => state.messages.range(..before),
            None => state.messages.range(..),
        };
        let between = |m: &DirectMessage| {
            (m.sender == a && m.recipient == b) || (m.sender == b && m.recipient == a)
        };
        Ok(older
            .rev()
            .map(|(_, m)| m)
            .filter(|m| between(m))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    /// In id order.
    async fn direct_messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<DirectMessage>> {
        self.shared.calls.record("direct_messages_by_ids");
        let state = self.snapshot();
        let ids: BTreeSet<MessageId> = ids.iter().copied().collect();
        Ok(ids
            .iter()
            .filter_map(|id| state.messages.get(id).cloned())
            .collect())
    }

    async fn direct_messages_of(
        &self,
        user: UserId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<DirectMessage>> {
        self.shared.calls.record("direct_messages_of");
        let state = self.snapshot();
        Ok(state
            .messages
            .values()
            .filter(|m| after.is_none_or(|after| m.id > after))
            .filter(|m| m.sender == user || m.recipient == user)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }
}

#[async_trait]
impl SocialLinkStore for MemoryStore {
    async fn begin_links(&self) -> Result<Box<dyn LinkTransaction>> {
        self.shared.calls.record("begin_links");
        Ok(Box::new(self.begin().await))
    }

    async fn user_by_external(&self, network: Network, external_id: &str) -> Result<Option<User>> {
        self.shared.calls.record("user_by_external");
        let state = self.snapshot();
        Ok(state
            .links
            .get(&(network, external_id.to_owned()))
            .and_then(|link| state.user(link.user).cloned()))
    }

    async fn external_id_of(&self, user: UserId, network: Network) -> Result<Option<String>> {
        self.shared.calls.record("external_id_of");
        Ok(self.snapshot().external_id_of(user, network))
    }

    async fn unlink_external(&self, user: UserId, network: Network) -> Result<Unlinked> {
        self.shared.calls.record("unlink_external");
        self.write(|state| Ok(state.unlink_external(user, network)))
            .await
    }
}

#[async_trait]
impl Store for MemoryStore {
    /// Always: there is nothing to reach.
    async fn is_ready(&self) -> bool {
        self.shared.calls.record("is_ready");
        true
    }
}
