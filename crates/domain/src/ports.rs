//! The traits adapters implement. Services hold them as `Arc<dyn ...>`.
//!
//! The store is split by role, so that each service names only what it uses:
//!
//! | service | reads through | writes through |
//! |---|---|---|
//! | [`crate::accounts::AccountService`] | [`UserStore`] | [`UserStore`] |
//! | [`crate::friends::FriendService`] | [`FriendStore`], [`UserStore`] | [`EdgeTransaction`] |
//! | [`crate::messages::DirectMessageService`] | [`MessageStore`] | [`MessageTransaction`] |
//! | [`crate::moderation::ModerationService`], [`crate::moderation::AccessControl`] | [`ModerationStore`] | [`ModerationTransaction`] |
//! | [`crate::notifications::NotificationService`] | [`NotificationStore`] | [`NotificationStore`] |
//! | [`crate::social::ImportService`] | [`SocialLinkStore`] | [`LinkTransaction`] |
//! | [`crate::presence::PresenceService`] | [`PresenceStore`] | [`PresenceStore`] |
//! | [`crate::accounts::sessions::SessionService`] | [`SessionStore`] | [`SessionStore`] |
//! | [`crate::realtime::Hub`] | [`Store`] (all of the above) | |
//!
//! [`Store`] is all of them at once. Every write transaction shares [`WriteTransaction`]
//! (finding and locking users, reading pairs, storing notifications, committing).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::accounts::{NewUser, ProfileChange, Role, User};
use crate::friends::{FriendCounts, FriendListQuery, FriendView, state::FriendState, state::Pair};
use crate::input::{Metadata, Password};
use crate::messages::DirectMessage;
use crate::moderation::{AccessStatus, Ban, ModerationEntry};
use crate::notifications::{Notification, NotificationCode};
use crate::social::Network;
use crate::{
    Handle, JobId, MessageId, ModerationEntryId, NodeId, NotificationId, Result, SessionId, UserId,
};

/// Hashes and checks passwords (argon2id in production).
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A self-describing (PHC) hash of the password.
    async fn hash(&self, password: &Password) -> Result<String>;
    /// Whether `password` matches `hash`. With no hash, does the same work and answers false.
    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool>;
}

/// Makes and fingerprints opaque secrets (refresh tokens, guest device ids).
pub trait SecretDigest: Send + Sync {
    /// A new random secret (256 bits), URL-safe text.
    fn generate(&self) -> String;
    /// A one-way fingerprint of a secret, as stored (a high-entropy secret needs no salt or
    /// slow hash: SHA-256 in production).
    fn digest(&self, secret: &str) -> String;
}

/// Sessions and their refresh tokens: what [`crate::accounts::sessions::SessionService`] needs.
/// Every method is one transaction.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session and its first refresh token; if the user then has more than
    /// `keep_at_most` live sessions, ends the least recently used ones. Returns the ended ones.
    async fn start_session(
        &self,
        session: &crate::accounts::session_data::NewSession,
        keep_at_most: u32,
    ) -> Result<Vec<SessionId>>;
    /// Exchanges the refresh token with digest `presented` for one with digest `next`, moving
    /// the session's end to `expires_at` and its last use to `now`; a token used before ends
    /// its session ([`crate::accounts::session_data::Refreshed::Reused`]).
    async fn refresh_session(
        &self,
        presented: &str,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<crate::accounts::session_data::Refreshed>;
    /// Marks every refresh token of a live session used and stores one with digest `next`;
    /// `None` if the session has ended.
    async fn replace_refresh_token(
        &self,
        session: SessionId,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<crate::accounts::session_data::SessionInfo>>;
    /// The user's sessions that end after `now`, in no particular order.
    async fn sessions_of(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::accounts::session_data::SessionInfo>>;
    /// Ends sessions of `user` (deletes them with their tokens); returns the ended ones.
    async fn end_sessions(
        &self,
        user: UserId,
        scope: crate::accounts::session_data::SessionScope,
    ) -> Result<Vec<SessionId>>;
}

/// Users and their credentials: what [`crate::accounts::AccountService`] needs.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user; [`crate::DomainError::HandleTaken`] if the handle is in use.
    async fn insert_user(&self, user: NewUser) -> Result<User>;
    /// One user by id.
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    /// One user by handle, case-insensitively.
    async fn user_by_handle(&self, handle: &Handle) -> Result<Option<User>>;
    /// Users by id; unknown ids are skipped; order unspecified.
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>>;
    /// A user and their password hash, by handle.
    async fn credentials_by_handle(
        &self,
        handle: &Handle,
    ) -> Result<Option<(User, Option<String>)>>;
    /// Applies a profile change; `None` if there is no such user.
    async fn update_profile(&self, id: UserId, change: &ProfileChange) -> Result<Option<User>>;
    /// A user and their password hash, by id; `None` for no such user or a deleted one.
    async fn credentials_by_id(&self, id: UserId) -> Result<Option<(User, Option<String>)>>;
    /// How the user can sign in; `None` for no such user or a deleted one.
    async fn sign_in_methods(&self, id: UserId) -> Result<Option<SignInMethods>>;
    /// Sets the password hash and, with `keep`, ends every other session of the user in the
    /// same transaction (returning them); `None` if there is no such (live) user.
    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<SessionId>,
    ) -> Result<Option<Vec<SessionId>>>;
    /// Changes the handle ([`crate::DomainError::HandleTaken`] if someone has it); `None` if
    /// there is no such (live) user.
    async fn change_handle(&self, id: UserId, handle: &Handle) -> Result<Option<User>>;
    /// The guest account of a device, by [`SecretDigest::digest`] of its id.
    async fn user_by_device(&self, device_key: &str) -> Result<Option<User>>;
    /// Stores a new guest user for a device; `None` if the device already has an account (a
    /// concurrent first sign-in won), [`crate::DomainError::HandleTaken`] on a handle clash.
    async fn insert_device_user(&self, user: NewUser, device_key: &str) -> Result<Option<User>>;
    /// Deletes an account in one transaction: its edges on both sides, dismissals, linked
    /// networks, sessions, presence, notifications received and sent, and direct messages
    /// both ways; the row stays as a tombstone (no handle, profile or credentials). Returns
    /// the users who had an edge with it (their lists changed); `None` if there is no such
    /// live user.
    async fn delete_user(&self, id: UserId, at: DateTime<Utc>) -> Result<Option<Vec<UserId>>>;
    /// Live users whose lower-cased handle or display name starts with `prefix` (already
    /// lower-cased), not banned at `now`, by handle, at most `limit`.
    async fn search_users(&self, prefix: &str, limit: u32, now: DateTime<Utc>)
    -> Result<Vec<User>>;
}

/// The ways an account can sign in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignInMethods {
    /// It has a password.
    pub password: bool,
    /// It is a guest account of a device.
    pub device: bool,
    /// The networks linked to it, with their ids of the account.
    pub networks: Vec<(Network, String)>,
}

impl SignInMethods {
    /// How many ways in there are.
    pub fn count(&self) -> usize {
        usize::from(self.password) + usize::from(self.device) + self.networks.len()
    }
}

/// The friend graph outside a transaction, and the transactions that change it: what
/// [`crate::friends::FriendService`] needs (with [`UserStore`]).
#[async_trait]
pub trait FriendStore: Send + Sync {
    /// Starts a write transaction for friend-graph changes.
    async fn begin_edges(&self) -> Result<Box<dyn EdgeTransaction>>;
    /// How `viewer` sees each of `others` (absent: no edge).
    async fn views_of(
        &self,
        viewer: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, FriendState>>;
    /// A page of `owner`'s edges in listing order, at most `query.limit` rows.
    async fn list_friends(&self, owner: UserId, query: &FriendListQuery)
    -> Result<Vec<FriendView>>;
    /// How many edges of each state `owner` has; with `visible_at`, leaving out users banned
    /// then.
    async fn friend_counts(
        &self,
        owner: UserId,
        visible_at: Option<DateTime<Utc>>,
    ) -> Result<FriendCounts>;
    /// Replaces the metadata of `owner`'s edge to `other`; `None` if there is no such edge.
    async fn set_edge_metadata(
        &self,
        owner: UserId,
        other: UserId,
        metadata: Option<&Metadata>,
    ) -> Result<Option<FriendView>>;
    /// The ids of all of `user`'s friends (FRIEND edges; there may be more than the friend
    /// limit allows now, when it was lowered after they were made).
    async fn friend_ids(&self, user: UserId) -> Result<Vec<UserId>>;
    /// Friends `a` and `b` have in common (banned ones left out), most recent first, at most
    /// `limit`; with the total.
    async fn mutual_friends(
        &self,
        a: UserId,
        b: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<User>, u32)>;
    /// "People you may know" for `me`: friends of my friends who are not me, have no edge with
    /// me in any state, did not block me, were not dismissed by me and are not banned at `now`
    /// (nor is the mutual friend), each once with all its mutual friends; ranked by their
    /// number, then by the most recent of those friendships; at most `limit`. A store may
    /// find the candidates by a bounded walk that samples each friend's most recent friends
    /// (it must say so), but the mutual friends it returns for them are exact.
    async fn friend_recommendations(
        &self,
        me: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<crate::friends::RecommendationRow>>;
    /// How many friends `viewer` has in common with each of `others` (banned ones left out, as
    /// in [`FriendStore::mutual_friends`]), counted by the store; others with none may be
    /// absent.
    async fn mutual_friend_counts(
        &self,
        viewer: UserId,
        others: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<UserId, u32>>;
    /// Leaves `other` out of `me`'s recommendations from now on.
    async fn dismiss_recommendation(
        &self,
        me: UserId,
        other: UserId,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Everything each of `owners` has in the graph (their edges, who blocked them, whom they
    /// dismissed), as a graph cache keeps it; every owner is in the answer, with nothing for
    /// an unknown user. One round trip for all of them.
    async fn adjacency(&self, owners: &[UserId]) -> Result<HashMap<UserId, Adjacency>>;
}

/// Roles, bans and the audit log: what [`crate::moderation::ModerationService`] and
/// [`crate::moderation::AccessControl`] need.
#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// Starts a write transaction for bans, roles and the audit log.
    async fn begin_moderation(&self) -> Result<Box<dyn ModerationTransaction>>;
    /// What decides whether the user's sessions are still good; `None` if there is no such
    /// user.
    async fn access_status(&self, user: UserId) -> Result<Option<AccessStatus>>;
    /// The audit log before `before` (exclusive), newest first, at most `limit`.
    async fn moderation_log(
        &self,
        before: Option<ModerationEntryId>,
        limit: u32,
    ) -> Result<Vec<ModerationEntry>>;
    /// Log entries made at or after `since` (another process may have made them): their ids
    /// and targets.
    async fn moderation_targets_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(ModerationEntryId, UserId, DateTime<Utc>)>>;
}

/// Stored notifications: what [`crate::notifications::NotificationService`] needs.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// The recipient's notifications after `after` (exclusive), oldest first, at most `limit`.
    async fn list_notifications(
        &self,
        recipient: UserId,
        after: Option<NotificationId>,
        limit: u32,
    ) -> Result<Vec<Notification>>;
    /// Marks the recipient's notifications read; returns how many changed.
    async fn mark_notifications_read(
        &self,
        recipient: UserId,
        ids: &[NotificationId],
        at: DateTime<Utc>,
    ) -> Result<u64>;
    /// Deletes the recipient's notifications; returns how many were deleted.
    async fn delete_notifications(&self, recipient: UserId, ids: &[NotificationId]) -> Result<u64>;
    /// Notifications by id (realtime delivery); unknown ids are skipped.
    async fn notifications_by_ids(&self, ids: &[NotificationId]) -> Result<Vec<Notification>>;
    /// How many of the recipient's notifications are unread, and how many there are.
    async fn notification_counts(&self, recipient: UserId) -> Result<(u64, u64)>;
    /// Records a job that sends a notification to every user; returns how many live users
    /// there are now (whom it will reach, give or take sign-ups and deletions meanwhile).
    async fn insert_notification_job(&self, job: &NotificationJob) -> Result<u64>;
    /// Jobs not finished yet, oldest first.
    async fn unfinished_notification_jobs(&self) -> Result<Vec<NotificationJob>>;
    /// Runs the next batch of a job in one transaction: locks the job, stores a notification
    /// (ids from `new_id`, stamped `at`) for each of the next `batch` live users after its
    /// cursor in id order, and moves the cursor past them (finishing the job when none are
    /// left). Returns the recipients and their notifications' ids; `None` if the job is
    /// finished or unknown. A batch is stored once or not at all, so no user gets the
    /// notification twice, whichever node runs which batch.
    async fn run_notification_batch(
        &self,
        job: JobId,
        batch: u32,
        at: DateTime<Utc>,
        new_id: &(dyn Fn() -> NotificationId + Send + Sync),
    ) -> Result<Option<Vec<(UserId, NotificationId)>>>;
}

/// A system notification to every user, delivered in batches in the background.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationJob {
    /// Its id.
    pub id: JobId,
    /// The notification's subject.
    pub subject: String,
    /// The notification's content (a JSON object).
    pub content: serde_json::Value,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// How many notifications it has stored so far.
    pub delivered: u64,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Direct messages: what [`crate::messages::DirectMessageService`] needs.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Starts a write transaction that stores a message and its notification.
    async fn begin_messages(&self) -> Result<Box<dyn MessageTransaction>>;
    /// The conversation between `a` and `b` before `before` (exclusive), newest first, at most
    /// `limit`.
    async fn direct_messages(
        &self,
        a: UserId,
        b: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<DirectMessage>>;
    /// Direct messages by id (realtime delivery); unknown ids are skipped.
    async fn direct_messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<DirectMessage>>;
    /// Every message `user` sent or received after `after` (exclusive), oldest first, at most
    /// `limit` (data export).
    async fn direct_messages_of(
        &self,
        user: UserId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<DirectMessage>>;
}

/// Links to Facebook and Steam accounts: what [`crate::social::ImportService`] needs.
#[async_trait]
pub trait SocialLinkStore: Send + Sync {
    /// Starts a write transaction for sign-in through a network, links and imports.
    async fn begin_links(&self) -> Result<Box<dyn LinkTransaction>>;
    /// The user linked to this network account.
    async fn user_by_external(&self, network: Network, external_id: &str) -> Result<Option<User>>;
    /// The network account linked to this user.
    async fn external_id_of(&self, user: UserId, network: Network) -> Result<Option<String>>;
    /// Unlinks the user's account on `network`, in one transaction that first checks it
    /// would leave another way to sign in.
    async fn unlink_external(&self, user: UserId, network: Network) -> Result<Unlinked>;
}

/// What [`SocialLinkStore::unlink_external`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    /// The link is gone.
    Done,
    /// Nothing was linked on that network.
    NotLinked,
    /// Refused: it is the account's only way to sign in.
    LastWayIn,
    /// No such (live) user.
    NoUser,
}

/// Every role at once: what a server wires its services on. Implemented by the SQL store of
/// `amity-persistence` and by `memory::MemoryStore` (feature `memory`), the reference
/// for anyone implementing the ports.
#[async_trait]
pub trait Store:
    UserStore
    + FriendStore
    + ModerationStore
    + NotificationStore
    + MessageStore
    + SocialLinkStore
    + PresenceStore
    + SessionStore
{
    /// Whether the store answers (readiness probes).
    async fn is_ready(&self) -> bool;
}

/// Where presence is kept, so that every node agrees who is online.
///
/// A user is online while a presence row of theirs belongs to a live node: one whose heartbeat
/// is later than `live_after`. Changes to one user's presence are serialized across nodes (the
/// user's row is locked), so exactly one node sees each online and offline transition.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Announces a node that has just started.
    async fn register_node(&self, node: NodeId, now: DateTime<Utc>) -> Result<()>;
    /// Renews a node's heartbeat; false if the node is no longer registered (it was swept as
    /// dead) and must register again.
    async fn heartbeat(&self, node: NodeId, now: DateTime<Utc>) -> Result<bool>;
    /// Records that `user` holds a connection on `node`; true if the user was offline on every
    /// live node before.
    async fn connect(
        &self,
        node: NodeId,
        user: UserId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<bool>;
    /// Records that `user` holds no connection on `node` any more; true if the user is now
    /// offline everywhere, in which case their last-seen time is set to `now`.
    async fn disconnect(
        &self,
        node: NodeId,
        user: UserId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<bool>;
    /// Removes a stopping node and its presence; returns the users now offline everywhere
    /// (their last-seen time set to `now`).
    async fn deregister_node(
        &self,
        node: NodeId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<Vec<UserId>>;
    /// Removes nodes whose heartbeat is not later than `live_after` (they died without
    /// stopping); returns the users now offline everywhere, with the last-seen time set to
    /// their dead node's last heartbeat.
    async fn sweep_dead_nodes(
        &self,
        live_after: DateTime<Utc>,
    ) -> Result<Vec<(UserId, DateTime<Utc>)>>;
    /// Which of `users` are online.
    async fn online_among(
        &self,
        users: &[UserId],
        live_after: DateTime<Utc>,
    ) -> Result<HashSet<UserId>>;
}

/// One change to write to an edge.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeWrite {
    /// Whose view.
    pub owner: UserId,
    /// Of whom.
    pub other: UserId,
    /// The new state; `None` deletes the edge.
    pub state: Option<FriendState>,
    /// New metadata for a new edge; `None` keeps what an existing edge has.
    pub metadata: Option<Metadata>,
    /// The network an imported friendship came from; `None` for a hand-made change (which
    /// also clears an earlier import's mark).
    pub source: Option<Network>,
}

/// A notification to store with the change that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Its id.
    pub id: NotificationId,
    /// Who gets it.
    pub recipient: UserId,
    /// What it is about.
    pub code: NotificationCode,
    /// A short human-readable line.
    pub subject: String,
    /// Detail as a JSON object.
    pub content: serde_json::Value,
    /// Who caused it.
    pub sender: Option<UserId>,
}

/// A pair as stored, with the details of my edge.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredPair {
    /// Both views.
    pub pair: Pair,
    /// When my edge last changed, if I have one.
    pub my_updated_at: Option<DateTime<Utc>>,
    /// My edge's metadata.
    pub my_metadata: Option<Metadata>,
    /// The network my edge was imported from, if it was.
    pub my_source: Option<Network>,
}

/// One of a user's edges, as [`Adjacency`] holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdjacentEdge {
    /// The other user.
    pub other: UserId,
    /// How the owner sees them.
    pub state: FriendState,
    /// When the edge last changed (metadata edits do not count).
    pub updated_at: DateTime<Utc>,
    /// The owner's private metadata.
    pub metadata: Option<Metadata>,
    /// The network an imported friendship came from.
    pub source: Option<Network>,
}

/// One user's place in the graph: all that friend pages, counts, mutual friends and
/// recommendations read about them, apart from profiles and presence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Adjacency {
    /// Every edge the user owns, in no particular order.
    pub edges: Vec<AdjacentEdge>,
    /// Users who blocked this user (their BLOCKED edges to them).
    pub blocked_by: Vec<UserId>,
    /// Users this user dismissed from their recommendations.
    pub dismissed: Vec<UserId>,
}

/// The users named by a batch operation, as found in the store.
#[derive(Debug, Clone, Default)]
pub struct FoundUsers {
    /// Users found by id.
    pub by_id: Vec<User>,
    /// Users found by handle.
    pub by_handle: Vec<User>,
}

/// A write transaction: every change made through it becomes visible at commit, all at once,
/// or not at all. Dropping it without [`WriteTransaction::commit`] rolls everything back.
///
/// The role traits below add what each service writes; a store's transaction usually
/// implements all of them.
#[async_trait]
pub trait WriteTransaction: Send {
    /// Finds users by ids and handles.
    async fn find_users(&mut self, ids: &[UserId], handles: &[Handle]) -> Result<FoundUsers>;
    /// Finds users by ids and handles and locks those found, as [`WriteTransaction::lock_users`]
    /// does; a store may do both in one round trip (the default does one after the other).
    async fn find_and_lock_users(
        &mut self,
        ids: &[UserId],
        handles: &[Handle],
    ) -> Result<FoundUsers> {
        let found = self.find_users(ids, handles).await?;
        let mut lock: Vec<UserId> = found
            .by_id
            .iter()
            .chain(&found.by_handle)
            .map(|u| u.id)
            .collect();
        lock.sort();
        lock.dedup();
        self.lock_users(&lock).await?;
        Ok(found)
    }
    /// Locks these users against concurrent friend-graph changes until commit, always in the
    /// same order, so that two transactions on overlapping users never deadlock.
    async fn lock_users(&mut self, ids: &[UserId]) -> Result<()>;
    /// Both views of each pair (me, other), with my edge's details; pairs with no edge at all
    /// may be absent.
    async fn pairs(&mut self, me: UserId, others: &[UserId])
    -> Result<HashMap<UserId, StoredPair>>;
    /// Stores notifications, all stamped `at`.
    async fn insert_notifications(
        &mut self,
        items: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Makes everything permanent.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Writes to the friend graph.
#[async_trait]
pub trait EdgeTransaction: WriteTransaction {
    /// How many edges of each state each of `owners` has (one round trip for all of them);
    /// owners with no edge may be absent.
    async fn counts_of(&mut self, owners: &[UserId]) -> Result<HashMap<UserId, FriendCounts>>;
    /// Writes edge changes, all stamped `at`.
    async fn write_edges(&mut self, writes: &[EdgeWrite], at: DateTime<Utc>) -> Result<()>;
}

/// Stores a direct message with its notification.
#[async_trait]
pub trait MessageTransaction: WriteTransaction {
    /// Stores a direct message.
    async fn insert_direct_message(&mut self, message: &DirectMessage) -> Result<()>;
}

/// Bans, roles and the audit log.
#[async_trait]
pub trait ModerationTransaction: WriteTransaction {
    /// Bans `users` with `ban` (revoking every session issued at or before `ban.since`), or
    /// lifts their bans with `None` (revocations stay).
    async fn set_ban(&mut self, users: &[UserId], ban: Option<&Ban>) -> Result<()>;
    /// Sets a user's role.
    async fn set_role(&mut self, user: UserId, role: Role) -> Result<()>;
    /// Appends entries to the audit log.
    async fn insert_moderation_entries(&mut self, entries: &[ModerationEntry]) -> Result<()>;
}

/// Sign-in through a network (creating the user), links and imported friendships.
#[async_trait]
pub trait LinkTransaction: EdgeTransaction {
    /// Stores a new user; [`crate::DomainError::HandleTaken`] if the handle is in use.
    async fn insert_user(&mut self, user: &NewUser) -> Result<User>;
    /// Links a network account to a user (the caller has checked it is not linked elsewhere).
    async fn link_external(
        &mut self,
        user: UserId,
        network: Network,
        external_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// The users linked to these network accounts (unknown ids are skipped).
    async fn users_by_external(&mut self, network: Network, ids: &[String]) -> Result<Vec<User>>;
    /// Who `owner` is FRIEND with through an import from `network`.
    async fn imported_friends(&mut self, owner: UserId, network: Network) -> Result<Vec<UserId>>;
}
