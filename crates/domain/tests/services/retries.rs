//! Conflicts: a store whose commits fail with [`DomainError::Conflict`] the first N times, and
//! what the services' retry loops make of it (8 attempts in all, each in a fresh transaction).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use amity_domain::accounts::User;
use amity_domain::friends::{
    FriendCounts, FriendListQuery, FriendService, FriendState, FriendView, RecommendationRow,
};
use amity_domain::input::Metadata;
use amity_domain::memory::MemoryStore;
use amity_domain::messages::{DirectMessage, DirectMessageService, MessageBody};
use amity_domain::ports::{
    Adjacency, EdgeTransaction, EdgeWrite, FoundUsers, FriendStore, MessageStore,
    MessageTransaction, NewNotification, StoredPair, WriteTransaction,
};
use amity_domain::{DomainError, Fault, Handle, MessageId, Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::support::{World, drain, ids};

/// How many times the services try a write (their `MAX_ATTEMPTS`).
const ATTEMPTS: u32 = 8;

/// A [`MemoryStore`] whose next `failures` commits fail with a conflict (and roll back).
#[derive(Clone)]
struct Flaky {
    inner: Arc<MemoryStore>,
    failures: Arc<AtomicU32>,
    commits: Arc<AtomicU32>,
}

impl Flaky {
    fn new(inner: Arc<MemoryStore>) -> Self {
        Self {
            inner,
            failures: Arc::default(),
            commits: Arc::default(),
        }
    }

    /// Makes the next `n` commits fail, and starts counting commits afresh.
    fn fail_next(&self, n: u32) {
        self.failures.store(n, Ordering::SeqCst);
        self.commits.store(0, Ordering::SeqCst);
    }

    fn commits(&self) -> u32 {
        self.commits.load(Ordering::SeqCst)
    }

    /// Counts a commit; the conflict it must fail with, while failures are left.
    fn injected_conflict(&self) -> Option<DomainError> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .ok()
            .map(|_| DomainError::Conflict(Fault::new("injected serialization failure")))
    }
}

/// A transaction of the flaky store: everything goes to `inner`, but a commit may fail.
struct FlakyTx<T: ?Sized> {
    inner: Box<T>,
    flaky: Flaky,
}

#[async_trait]
impl<T: WriteTransaction + ?Sized> WriteTransaction for FlakyTx<T> {
    async fn find_users(&mut self, ids: &[UserId], handles: &[Handle]) -> Result<FoundUsers> {
        self.inner.find_users(ids, handles).await
    }

    async fn lock_users(&mut self, ids: &[UserId]) -> Result<()> {
        self.inner.lock_users(ids).await
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
        match self.flaky.injected_conflict() {
            // Dropping the inner transaction rolls it back.
            Some(conflict) => Err(conflict),
            None => self.inner.commit().await,
        }
    }
}

#[async_trait]
impl EdgeTransaction for FlakyTx<dyn EdgeTransaction> {
    async fn counts_of(&mut self, owners: &[UserId]) -> Result<HashMap<UserId, FriendCounts>> {
        self.inner.counts_of(owners).await
    }

    async fn write_edges(&mut self, writes: &[EdgeWrite], at: DateTime<Utc>) -> Result<()> {
        self.inner.write_edges(writes, at).await
    }
}

#[async_trait]
impl MessageTransaction for FlakyTx<dyn MessageTransaction> {
    async fn insert_direct_message(&mut self, message: &DirectMessage) -> Result<()> {
        self.inner.insert_direct_message(message).await
    }
}

#[async_trait]
impl FriendStore for Flaky {
    async fn begin_edges(&self) -> Result<Box<dyn EdgeTransaction>> {
        Ok(Box::new(FlakyTx::<dyn EdgeTransaction> {
            inner: self.inner.begin_edges().await?,
            flaky: self.clone(),
        }))
    }

    async fn views_of(
        &self,
        viewer: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, FriendState>> {
        self.inner.views_of(viewer, others).await
    }

    async fn list_friends(
        &self,
        owner: UserId,
        query: &FriendListQuery,
    ) -> Result<Vec<FriendView>> {
        self.inner.list_friends(owner, query).await
    }

    async fn friend_counts(
        &self,
        owner: UserId,
        visible_at: Option<DateTime<Utc>>,
    ) -> Result<FriendCounts> {
        self.inner.friend_counts(owner, visible_at).await
    }

    async fn set_edge_metadata(
        &self,
        owner: UserId,
        other: UserId,
        metadata: Option<&Metadata>,
    ) -> Result<Option<FriendView>> {
        self.inner.set_edge_metadata(owner, other, metadata).await
    }

    async fn friend_ids(&self, user: UserId) -> Result<Vec<UserId>> {
        self.inner.friend_ids(user).await
    }

    async fn mutual_friends(
        &self,
        a: UserId,
        b: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<User>, u32)> {
        self.inner.mutual_friends(a, b, limit, now).await
    }

    async fn mutual_friend_counts(
        &self,
        viewer: UserId,
        others: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<UserId, u32>> {
        self.inner.mutual_friend_counts(viewer, others, now).await
    }

    async fn friend_recommendations(
        &self,
        me: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<RecommendationRow>> {
        self.inner.friend_recommendations(me, limit, now).await
    }

    async fn adjacency(&self, owners: &[UserId]) -> Result<HashMap<UserId, Adjacency>> {
        self.inner.adjacency(owners).await
    }

    async fn dismiss_recommendation(
        &self,
        me: UserId,
        other: UserId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.inner.dismiss_recommendation(me, other, at).await
    }
}

#[async_trait]
impl MessageStore for Flaky {
    async fn begin_messages(&self) -> Result<Box<dyn MessageTransaction>> {
        Ok(Box::new(FlakyTx::<dyn MessageTransaction> {
            inner: self.inner.begin_messages().await?,
            flaky: self.clone(),
        }))
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

fn flaky_friends(w: &World, flaky: &Flaky) -> FriendService {
    FriendService::new(
        Arc::new(flaky.clone()),
        w.store.clone(),
        w.bus.clone(),
        w.clock.clone(),
        w.friends.limits(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_friend_batch_succeeds_once_after_fewer_conflicts_than_attempts() {
    let w = World::new();
    let flaky = Flaky::new(w.store.clone());
    let friends = flaky_friends(&w, &flaky);
    let [a, b, c] = [
        w.user("ann").await,
        w.user("bob").await,
        w.user("cid").await,
    ];
    let mut events = w.events();

    for failures in [1, ATTEMPTS - 1] {
        let target = if failures == 1 { &b } else { &c };
        flaky.fail_next(failures);
        let views = friends
            .add_friends(a.id, &ids(&[target]), None)
            .await
            .unwrap();
        assert_eq!(views[0].state, FriendState::InviteSent);
        assert_eq!(flaky.commits(), failures + 1);
        // The rolled-back attempts left nothing behind: one request, one notification, one
        // event.
        let received = w
            .notifications
            .list(target.id, None, 100)
            .await
            .unwrap()
            .items;
        assert_eq!(received.len(), 1, "after {failures} conflicts");
        assert_eq!(drain(&mut events).len(), 1);
    }
    assert_eq!(w.friends.counts(a.id).await.unwrap().invites_sent, 2);
}

#[tokio::test(start_paused = true)]
async fn conflicts_past_the_last_attempt_fail_the_call_and_change_nothing() {
    let w = World::new();
    let flaky = Flaky::new(w.store.clone());
    let friends = flaky_friends(&w, &flaky);
    let [a, b] = [w.user("ann").await, w.user("bob").await];
    let before = w.seen_by(&[&a, &b]).await;
    let mut events = w.events();

    for failures in [ATTEMPTS, ATTEMPTS + 5] {
        flaky.fail_next(failures);
        let err = friends
            .add_friends(a.id, &ids(&[&b]), None)
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Conflict(_)), "{err:?}");
        assert_eq!(flaky.commits(), ATTEMPTS, "tried exactly {ATTEMPTS} times");
        assert_eq!(w.seen_by(&[&a, &b]).await, before);
        assert!(drain(&mut events).is_empty());
    }

    // Errors other than conflicts are not retried: a bad target never reaches a commit.
    flaky.fail_next(0);
    assert!(friends.add_friends(a.id, &ids(&[&a]), None).await.is_err());
    assert_eq!(flaky.commits(), 0);
    // And once the conflicts stop, the same call goes through.
    friends.add_friends(a.id, &ids(&[&b]), None).await.unwrap();
    assert_eq!(flaky.commits(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_direct_message_is_stored_once_despite_conflicts_or_not_at_all() {
    let w = World::new();
    let flaky = Flaky::new(w.store.clone());
    let messages =
        DirectMessageService::new(Arc::new(flaky.clone()), w.bus.clone(), w.clock.clone());
    let [a, b] = [w.user("ann").await, w.user("bob").await];
    w.befriend(&a, &b).await;
    let notes_before = w
        .notifications
        .list(b.id, None, 100)
        .await
        .unwrap()
        .items
        .len();

    flaky.fail_next(3);
    let sent = messages
        .send(a.id, b.id, MessageBody::parse("hello").unwrap())
        .await
        .unwrap();
    assert_eq!(flaky.commits(), 4);
    let history = messages.history(b.id, a.id, None, 10).await.unwrap().items;
    assert_eq!(history, [sent]);

    flaky.fail_next(ATTEMPTS);
    let err = messages
        .send(a.id, b.id, MessageBody::parse("again").unwrap())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(flaky.commits(), ATTEMPTS);
    assert_eq!(
        messages
            .history(b.id, a.id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        w.notifications
            .list(b.id, None, 100)
            .await
            .unwrap()
            .items
            .len(),
        notes_before + 1
    );
}
