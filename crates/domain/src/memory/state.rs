//! The data of a [`super::MemoryStore`]: one ordered map per SQL table, and the writes that
//! both the store and its transactions make on them.
//!
//! Every write checks what the SQL schema would check (unique handles, foreign keys, primary
//! keys) before it changes anything, so that a refused statement leaves the state as it was,
//! as a refused SQL statement does.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::accounts::sessions::SessionInfo;
use crate::accounts::{NewUser, Role, User};
use crate::friends::{FriendCounts, FriendState, Pair};
use crate::input::Metadata;
use crate::messages::DirectMessage;
use crate::moderation::{Ban, ModerationEntry};
use crate::notifications::Notification;
use crate::ports::{EdgeWrite, FoundUsers, NewNotification, StoredPair};
use crate::social::Network;
use crate::time::{from_micros, to_micros};
use crate::{
    DomainError, Fault, Handle, MessageId, ModerationEntryId, NodeId, NotificationId, Result,
    SessionId, UserId,
};

/// A time as it is stored: to the microsecond, as the SQL store keeps every timestamp (so that
/// keyset cursors and comparisons agree with it).
pub(super) fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    from_micros(to_micros(at))
}

/// What the SQL store reports when a foreign key or primary key refuses a row.
fn refused(what: String) -> DomainError {
    DomainError::Storage(Fault::new(what))
}

/// One row of the `users` table.
#[derive(Debug, Clone)]
pub(super) struct UserRow {
    /// The user as everyone sees it (role, ban and last-seen time included).
    pub(super) user: User,
    /// The password hash, if the account has a password.
    pub(super) password_hash: Option<String>,
    /// Sessions issued at or before this are refused.
    pub(super) sessions_valid_after: Option<DateTime<Utc>>,
    /// The digest of the guest device id, for guest accounts.
    pub(super) device_key: Option<String>,
}

/// One directed edge: how its owner sees the other user.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EdgeRow {
    /// The owner's view.
    pub(super) state: FriendState,
    /// When the edge last changed (metadata edits do not count).
    pub(super) updated_at: DateTime<Utc>,
    /// The owner's private metadata.
    pub(super) metadata: Option<Metadata>,
    /// The network an imported friendship came from.
    pub(super) source: Option<Network>,
}

/// One link from a network account to a user.
#[derive(Debug, Clone)]
pub(super) struct LinkRow {
    /// The linked user.
    pub(super) user: UserId,
}

/// One registered server node.
#[derive(Debug, Clone)]
pub(super) struct NodeRow {
    /// Its last heartbeat.
    pub(super) heartbeat_at: DateTime<Utc>,
}

/// Everything the store holds. Cloned whole by the first write of a transaction (copy on
/// write), which is cheap enough for tests and small deployments.
#[derive(Debug, Clone, Default)]
pub(super) struct State {
    /// Users by id.
    pub(super) users: BTreeMap<UserId, UserRow>,
    /// The unique index on lower-cased handles.
    pub(super) handle_keys: BTreeMap<String, UserId>,
    /// Edges by owner, then by the other user.
    pub(super) edges: BTreeMap<UserId, BTreeMap<UserId, EdgeRow>>,
    /// Dismissed recommendations: (who dismissed, whom) and when.
    pub(super) dismissed: BTreeMap<(UserId, UserId), DateTime<Utc>>,
    /// Notifications by (time-ordered) id.
    pub(super) notifications: BTreeMap<NotificationId, Notification>,
    /// Direct messages by (time-ordered) id.
    pub(super) messages: BTreeMap<MessageId, DirectMessage>,
    /// The audit log by (time-ordered) id.
    pub(super) moderation_log: BTreeMap<ModerationEntryId, ModerationEntry>,
    /// Network links by (network, the network's id of the account).
    pub(super) links: BTreeMap<(Network, String), LinkRow>,
    /// Registered nodes.
    pub(super) nodes: BTreeMap<NodeId, NodeRow>,
    /// Presence rows: (user, node) and when the user connected there.
    pub(super) presence: BTreeMap<(UserId, NodeId), DateTime<Utc>>,
    /// Sessions by id.
    pub(super) sessions: BTreeMap<SessionId, SessionInfo>,
    /// Refresh-token digests: their session, and whether they were used.
    pub(super) session_tokens: BTreeMap<String, (SessionId, bool)>,
    /// The unique index on guest device digests.
    pub(super) device_keys: BTreeMap<String, UserId>,
    /// Notification jobs by id.
    pub(super) jobs: BTreeMap<crate::JobId, super::accounts::JobRow>,
}

impl State {
    // --- users ---

    /// The user with this id.
    pub(super) fn user(&self, id: UserId) -> Option<&User> {
        self.users.get(&id).map(|row| &row.user)
    }

    /// The user with this handle, case-insensitively, and their row.
    pub(super) fn row_by_handle(&self, handle: &Handle) -> Option<&UserRow> {
        let id = self.handle_keys.get(&handle.key())?;
        self.users.get(id)
    }

    /// Whether the user exists and is not banned at `at` (what every listing shows).
    pub(super) fn is_visible_at(&self, id: UserId, at: DateTime<Utc>) -> bool {
        self.user(id).is_some_and(|u| !u.is_banned_at(at))
    }

    /// Users by id, each once, in id order; unknown ids are skipped.
    pub(super) fn users_in<'a>(&self, ids: impl IntoIterator<Item = &'a UserId>) -> Vec<User> {
        let ids: BTreeSet<UserId> = ids.into_iter().copied().collect();
        ids.iter()
            .filter_map(|id| self.user(*id).cloned())
            .collect()
    }

    /// Stores a new user. Like the SQL store, any clash with the table's unique keys (the
    /// handle, case-insensitively, or the id) is reported as a taken handle.
    pub(super) fn insert_user(&mut self, new: &NewUser) -> Result<User> {
        let key = new.handle.key();
        if self.handle_keys.contains_key(&key) || self.users.contains_key(&new.id) {
            return Err(DomainError::HandleTaken(new.handle.to_string()));
        }
        let user = User {
            id: new.id,
            handle: new.handle.clone(),
            display_name: new.display_name.clone(),
            avatar_url: None,
            metadata: None,
            role: new.role,
            created_at: stored(new.created_at),
            last_seen_at: None,
            ban: None,
            deleted_at: None,
        };
        self.handle_keys.insert(key, new.id);
        self.users.insert(
            new.id,
            UserRow {
                user: user.clone(),
                password_hash: new.password_hash.clone(),
                sessions_valid_after: None,
                device_key: None,
            },
        );
        Ok(user)
    }

    /// Users by ids and by handles, each list in id order.
    pub(super) fn find_users(&self, ids: &[UserId], handles: &[Handle]) -> FoundUsers {
        let by_handle: Vec<UserId> = handles
            .iter()
            .filter_map(|h| self.handle_keys.get(&h.key()).copied())
            .collect();
        // A deleted account (a tombstone) is nobody's target.
        let live = |users: Vec<User>| users.into_iter().filter(|u| !u.is_deleted()).collect();
        FoundUsers {
            by_id: live(self.users_in(ids)),
            by_handle: live(self.users_in(&by_handle)),
        }
    }

    /// Bans `users` (revoking their sessions issued at or before the ban) or lifts their bans
    /// (revocations stay). Unknown users are skipped, as an `UPDATE` skips them.
    pub(super) fn set_ban(&mut self, users: &[UserId], ban: Option<&Ban>) {
        let ban = ban.map(|b| Ban {
            since: stored(b.since),
            until: b.until.map(stored),
            reason: b.reason.clone(),
        });
        for id in users {
            if let Some(row) = self.users.get_mut(id) {
                if let Some(ban) = &ban {
                    row.sessions_valid_after = Some(ban.since);
                }
                row.user.ban = ban.clone();
            }
        }
    }

    /// Sets a user's role (nothing if there is no such user).
    pub(super) fn set_role(&mut self, user: UserId, role: Role) {
        if let Some(row) = self.users.get_mut(&user) {
            row.user.role = role;
        }
    }

    /// Sets the last-seen time of `users` to `at`, unless a later one is recorded.
    pub(super) fn set_last_seen(&mut self, users: &[UserId], at: DateTime<Utc>) {
        let at = stored(at);
        for id in users {
            if let Some(row) = self.users.get_mut(id)
                && row.user.last_seen_at.is_none_or(|seen| seen < at)
            {
                row.user.last_seen_at = Some(at);
            }
        }
    }

    // --- edges ---

    /// How `owner` sees `other`.
    pub(super) fn edge(&self, owner: UserId, other: UserId) -> Option<&EdgeRow> {
        self.edges.get(&owner)?.get(&other)
    }

    /// Every edge of `owner`, by the other user's id.
    pub(super) fn edges_of(&self, owner: UserId) -> impl Iterator<Item = (UserId, &EdgeRow)> {
        self.edges
            .get(&owner)
            .into_iter()
            .flat_map(|edges| edges.iter().map(|(other, edge)| (*other, edge)))
    }

    /// `owner`'s FRIEND edges.
    pub(super) fn friend_edges_of(
        &self,
        owner: UserId,
    ) -> impl Iterator<Item = (UserId, &EdgeRow)> {
        self.edges_of(owner)
            .filter(|(_, edge)| edge.state == FriendState::Friend)
    }

    /// Whether `owner` has a FRIEND edge to `other`.
    pub(super) fn is_friend(&self, owner: UserId, other: UserId) -> bool {
        self.edge(owner, other)
            .is_some_and(|edge| edge.state == FriendState::Friend)
    }

    /// Both views of each pair (me, other) that has an edge either way, with my edge's
    /// details.
    pub(super) fn pairs(&self, me: UserId, others: &[UserId]) -> HashMap<UserId, StoredPair> {
        let mut pairs = HashMap::new();
        for &other in others {
            let mine = self.edge(me, other);
            let theirs = self.edge(other, me);
            if mine.is_none() && theirs.is_none() {
                continue;
            }
            pairs.insert(
                other,
                StoredPair {
                    pair: Pair::new(mine.map(|e| e.state), theirs.map(|e| e.state)),
                    my_updated_at: mine.map(|e| e.updated_at),
                    my_metadata: mine.and_then(|e| e.metadata.clone()),
                    my_source: mine.and_then(|e| e.source),
                },
            );
        }
        pairs
    }

    /// How many edges of each state `owner` has; with `visible_at`, only those to users not
    /// banned then.
    pub(super) fn counts(&self, owner: UserId, visible_at: Option<DateTime<Utc>>) -> FriendCounts {
        let visible_at = visible_at.map(stored);
        let mut counts = FriendCounts::default();
        for (other, edge) in self.edges_of(owner) {
            if visible_at.is_none_or(|at| self.is_visible_at(other, at)) {
                counts.add(edge.state, 1);
            }
        }
        counts
    }

    /// Writes edge changes stamped `at`, in the SQL store's order: every deletion first, then
    /// the upserts that set metadata, then those that keep an existing edge's metadata. An
    /// upsert replaces the state, the time and the source.
    pub(super) fn write_edges(&mut self, writes: &[EdgeWrite], at: DateTime<Utc>) -> Result<()> {
        for w in writes.iter().filter(|w| w.state.is_some()) {
            for id in [w.owner, w.other] {
                if !self.users.contains_key(&id) {
                    return Err(refused(format!(
                        "an edge names user {id}, who does not exist"
                    )));
                }
            }
        }
        let at = stored(at);
        for w in writes.iter().filter(|w| w.state.is_none()) {
            self.remove_edge(w.owner, w.other);
        }
        for with_metadata in [true, false] {
            for w in writes
                .iter()
                .filter(|w| w.metadata.is_some() == with_metadata)
            {
                let Some(state) = w.state else { continue };
                let edge = self
                    .edges
                    .entry(w.owner)
                    .or_default()
                    .entry(w.other)
                    .or_insert_with(|| EdgeRow {
                        state,
                        updated_at: at,
                        metadata: None,
                        source: None,
                    });
                edge.state = state;
                edge.updated_at = at;
                edge.source = w.source;
                if with_metadata {
                    edge.metadata = w.metadata.clone();
                }
            }
        }
        Ok(())
    }

    fn remove_edge(&mut self, owner: UserId, other: UserId) {
        if let Some(edges) = self.edges.get_mut(&owner) {
            edges.remove(&other);
            if edges.is_empty() {
                self.edges.remove(&owner);
            }
        }
    }

    // --- notifications, messages, the audit log ---

    /// Stores notifications stamped `at`, unread; all or none.
    pub(super) fn insert_notifications(
        &mut self,
        items: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut ids = HashSet::new();
        for n in items {
            if self.notifications.contains_key(&n.id) || !ids.insert(n.id) {
                return Err(refused(format!("notification {} already exists", n.id)));
            }
            for user in std::iter::once(n.recipient).chain(n.sender) {
                if !self.users.contains_key(&user) {
                    return Err(refused(format!(
                        "notification {} names user {user}, who does not exist",
                        n.id
                    )));
                }
            }
        }
        let at = stored(at);
        for n in items {
            self.notifications.insert(
                n.id,
                Notification {
                    id: n.id,
                    recipient: n.recipient,
                    code: n.code,
                    subject: n.subject.clone(),
                    content: n.content.clone(),
                    sender: n.sender,
                    created_at: at,
                    read_at: None,
                },
            );
        }
        Ok(())
    }

    /// Stores a direct message.
    pub(super) fn insert_direct_message(&mut self, message: &DirectMessage) -> Result<()> {
        if self.messages.contains_key(&message.id) {
            return Err(refused(format!("message {} already exists", message.id)));
        }
        for user in [message.sender, message.recipient] {
            if !self.users.contains_key(&user) {
                return Err(refused(format!(
                    "message {} names user {user}, who does not exist",
                    message.id
                )));
            }
        }
        let mut message = message.clone();
        message.created_at = stored(message.created_at);
        self.messages.insert(message.id, message);
        Ok(())
    }

    /// Appends entries to the audit log; all or none.
    pub(super) fn insert_moderation_entries(&mut self, entries: &[ModerationEntry]) -> Result<()> {
        let mut ids = HashSet::new();
        for e in entries {
            if self.moderation_log.contains_key(&e.id) || !ids.insert(e.id) {
                return Err(refused(format!("moderation entry {} already exists", e.id)));
            }
            for user in std::iter::once(e.target).chain(e.actor) {
                if !self.users.contains_key(&user) {
                    return Err(refused(format!(
                        "moderation entry {} names user {user}, who does not exist",
                        e.id
                    )));
                }
            }
        }
        for e in entries {
            let mut entry = e.clone();
            entry.created_at = stored(e.created_at);
            entry.until = e.until.map(stored);
            self.moderation_log.insert(entry.id, entry);
        }
        Ok(())
    }

    // --- network links ---

    /// Links a network account to a user. A network account linked already, or a second
    /// account of the same network for the user, is a [`DomainError::Conflict`] (what the SQL
    /// store reports for the unique keys: someone linked it concurrently).
    pub(super) fn link_external(
        &mut self,
        user: UserId,
        network: Network,
        external_id: &str,
    ) -> Result<()> {
        if !self.users.contains_key(&user) {
            return Err(refused(format!(
                "a {network} link names user {user}, who does not exist"
            )));
        }
        let key = (network, external_id.to_owned());
        let user_has_one = self
            .links
            .iter()
            .any(|((n, _), link)| *n == network && link.user == user);
        if self.links.contains_key(&key) || user_has_one {
            return Err(DomainError::Conflict(Fault::new(format!(
                "{network} account {external_id} was linked concurrently"
            ))));
        }
        self.links.insert(key, LinkRow { user });
        Ok(())
    }

    /// The users linked to these network accounts, each once, in id order.
    pub(super) fn users_by_external(&self, network: Network, ids: &[String]) -> Vec<User> {
        let users: Vec<UserId> = ids
            .iter()
            .filter_map(|id| self.links.get(&(network, id.clone())))
            .map(|link| link.user)
            .collect();
        self.users_in(&users)
    }

    /// The network account `user` linked on `network`.
    pub(super) fn external_id_of(&self, user: UserId, network: Network) -> Option<String> {
        self.links
            .iter()
            .find(|((n, _), link)| *n == network && link.user == user)
            .map(|((_, id), _)| id.clone())
    }
}
