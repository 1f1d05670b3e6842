//! Transactions that remember what they change and invalidate it once they commit.
//!
//! [`Tracked`] wraps any of the store's transactions; each write method records which users'
//! [`CachedPart`]s it touches, and [`WriteTransaction::commit`] hands them to the cache after
//! the store's commit returns, whatever it returned (a commit that failed may still have been
//! applied; forgetting costs one load). A transaction dropped without commit changes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use amity_domain::accounts::{NewUser, Role, User};
use amity_domain::events::CachedPart;
use amity_domain::friends::FriendCounts;
use amity_domain::moderation::{Ban, ModerationEntry};
use amity_domain::ports::{
    EdgeTransaction, EdgeWrite, FoundUsers, LinkTransaction, ModerationTransaction,
    NewNotification, StoredPair, WriteTransaction,
};
use amity_domain::social::Network;
use amity_domain::{Handle, Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::shared::Shared;

/// A store transaction that invalidates what it changed when it commits.
pub struct Tracked<T: ?Sized> {
    inner: Box<T>,
    shared: Arc<Shared>,
    changes: Vec<(UserId, CachedPart)>,
}

impl<T: ?Sized> Tracked<T> {
    pub(crate) fn new(inner: Box<T>, shared: Arc<Shared>) -> Self {
        Self {
            inner,
            shared,
            changes: Vec::new(),
        }
    }
}

#[async_trait]
impl<T: WriteTransaction + ?Sized> WriteTransaction for Tracked<T> {
    async fn find_users(&mut self, ids: &[UserId], handles: &[Handle]) -> Result<FoundUsers> {
        self.inner.find_users(ids, handles).await
    }

    async fn lock_users(&mut self, ids: &[UserId]) -> Result<()> {
        self.inner.lock_users(ids).await
    }

    async fn find_and_lock_users(
        &mut self,
        ids: &[UserId],
        handles: &[Handle],
    ) -> Result<FoundUsers> {
        self.inner.find_and_lock_users(ids, handles).await
    }

    async fn pairs(
        &mut self,
        me: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, StoredPair>> {
        self.inner.pairs(me, others).await
    }

    async fn insert_notifications(
        &mut self,
        items: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.inner.insert_notifications(items, at).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let Tracked {
            inner,
            shared,
            changes,
        } = *self;
        let result = T::commit(inner).await;
        shared.changed(&changes);
        result
    }
}

#[async_trait]
impl<T: EdgeTransaction + ?Sized> EdgeTransaction for Tracked<T> {
    async fn counts_of(&mut self, owners: &[UserId]) -> Result<HashMap<UserId, FriendCounts>> {
        self.inner.counts_of(owners).await
    }

    async fn write_edges(&mut self, writes: &[EdgeWrite], at: DateTime<Utc>) -> Result<()> {
        // Both ends: the owner's edges changed, and the other's "blocked by" may have.
        for write in writes {
            self.changes.push((write.owner, CachedPart::Edges));
            self.changes.push((write.other, CachedPart::Edges));
        }
        self.inner.write_edges(writes, at).await
    }
}

#[async_trait]
impl<T: ModerationTransaction + ?Sized> ModerationTransaction for Tracked<T> {
    async fn set_ban(&mut self, users: &[UserId], ban: Option<&Ban>) -> Result<()> {
        self.changes
            .extend(users.iter().map(|u| (*u, CachedPart::Profile)));
        self.inner.set_ban(users, ban).await
    }

    async fn set_role(&mut self, user: UserId, role: Role) -> Result<()> {
        self.changes.push((user, CachedPart::Profile));
        self.inner.set_role(user, role).await
    }

    async fn insert_moderation_entries(&mut self, entries: &[ModerationEntry]) -> Result<()> {
        self.inner.insert_moderation_entries(entries).await
    }
}

#[async_trait]
impl<T: LinkTransaction + ?Sized> LinkTransaction for Tracked<T> {
    async fn insert_user(&mut self, user: &NewUser) -> Result<User> {
        self.inner.insert_user(user).await
    }

    async fn link_external(
        &mut self,
        user: UserId,
        network: Network,
        external_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.inner
            .link_external(user, network, external_id, at)
            .await
    }

    async fn users_by_external(&mut self, network: Network, ids: &[String]) -> Result<Vec<User>> {
        self.inner.users_by_external(network, ids).await
    }

    async fn imported_friends(&mut self, owner: UserId, network: Network) -> Result<Vec<UserId>> {
        self.inner.imported_friends(owner, network).await
    }
}
