//! [`MemoryTransaction`]: a write transaction of a [`MemoryStore`], implementing every
//! transaction trait of [`crate::ports`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::OwnedMutexGuard;

use super::MemoryStore;
use super::state::State;
use crate::accounts::{NewUser, Role, User};
use crate::friends::FriendCounts;
use crate::messages::DirectMessage;
use crate::moderation::{Ban, ModerationEntry};
use crate::ports::{
    EdgeTransaction, EdgeWrite, FoundUsers, LinkTransaction, MessageTransaction,
    ModerationTransaction, NewNotification, StoredPair, WriteTransaction,
};
use crate::social::Network;
use crate::{Handle, Result, UserId};

/// A write transaction of a [`MemoryStore`].
///
/// It holds the store's writer lock from [`MemoryStore`]'s `begin_*` to commit or drop, so
/// write transactions (and the store's single-call writes) run one at a time. It reads and
/// writes its own copy of the state, taken at the start and cloned on its first write, which
/// nobody else sees until [`WriteTransaction::commit`] swaps it in. Dropping it without a
/// commit drops the copy: everything is rolled back.
pub struct MemoryTransaction {
    store: MemoryStore,
    state: Arc<State>,
    // Released when the transaction ends, committed or not.
    _writer: OwnedMutexGuard<()>,
}

impl std::fmt::Debug for MemoryTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryTransaction").finish_non_exhaustive()
    }
}

impl MemoryTransaction {
    /// Waits for the writer lock of `store`, then starts from its committed state.
    pub(super) async fn begin(store: &MemoryStore) -> Self {
        let writer = store.writer().lock_owned().await;
        Self {
            store: store.clone(),
            state: store.snapshot(),
            _writer: writer,
        }
    }

    /// The state as this transaction sees it.
    pub(super) fn state(&self) -> &State {
        &self.state
    }

    /// The state to change: this transaction's own copy (made on the first write).
    pub(super) fn state_mut(&mut self) -> &mut State {
        Arc::make_mut(&mut self.state)
    }

    /// Makes the changes visible to every reader at once.
    pub(super) fn publish(self) {
        self.store.replace(self.state);
    }
}

#[async_trait]
impl WriteTransaction for MemoryTransaction {
    async fn find_users(&mut self, ids: &[UserId], handles: &[Handle]) -> Result<FoundUsers> {
        Ok(self.state().find_users(ids, handles))
    }

    /// Nothing to do: the transaction holds the store's writer lock for its whole life, so no
    /// other write, on these users or any, can run before it ends.
    async fn lock_users(&mut self, _ids: &[UserId]) -> Result<()> {
        Ok(())
    }

    async fn pairs(
        &mut self,
        me: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, StoredPair>> {
        Ok(self.state().pairs(me, others))
    }

    async fn insert_notifications(
        &mut self,
        items: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        self.state_mut().insert_notifications(items, at)
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.publish();
        Ok(())
    }
}

#[async_trait]
impl EdgeTransaction for MemoryTransaction {
    async fn counts_of(&mut self, owners: &[UserId]) -> Result<HashMap<UserId, FriendCounts>> {
        let state = self.state();
        Ok(owners
            .iter()
            .map(|owner| (*owner, state.counts(*owner, None)))
            .collect())
    }

    async fn write_edges(&mut self, writes: &[EdgeWrite], at: DateTime<Utc>) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.state_mut().write_edges(writes, at)
    }
}

#[async_trait]
impl MessageTransaction for MemoryTransaction {
    async fn insert_direct_message(&mut self, message: &DirectMessage) -> Result<()> {
        self.state_mut().insert_direct_message(message)
    }
}

#[async_trait]
impl ModerationTransaction for MemoryTransaction {
    async fn set_ban(&mut self, users: &[UserId], ban: Option<&Ban>) -> Result<()> {
        if !users.is_empty() {
            self.state_mut().set_ban(users, ban);
        }
        Ok(())
    }

    async fn set_role(&mut self, user: UserId, role: Role) -> Result<()> {
        self.state_mut().set_role(user, role);
        Ok(())
    }

    async fn insert_moderation_entries(&mut self, entries: &[ModerationEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.state_mut().insert_moderation_entries(entries)
    }
}

#[async_trait]
impl LinkTransaction for MemoryTransaction {
    async fn insert_user(&mut self, user: &NewUser) -> Result<User> {
        self.state_mut().insert_user(user)
    }

    /// The link's time is not kept: nothing reads it back.
    async fn link_external(
        &mut self,
        user: UserId,
        network: Network,
        external_id: &str,
        _at: DateTime<Utc>,
    ) -> Result<()> {
        self.state_mut().link_external(user, network, external_id)
    }

    async fn users_by_external(&mut self, network: Network, ids: &[String]) -> Result<Vec<User>> {
        Ok(self.state().users_by_external(network, ids))
    }

    async fn imported_friends(&mut self, owner: UserId, network: Network) -> Result<Vec<UserId>> {
        Ok(self
            .state()
            .friend_edges_of(owner)
            .filter(|(_, edge)| edge.source == Some(network))
            .map(|(other, _)| other)
            .collect())
    }
}
