//! The friend service: batch operations on the graph, listing and counts.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::accounts::User;
use crate::error::LimitKind;
use crate::events::{EventBus, announce_notifications};
use crate::friends::state::{self, FriendAction, FriendState, Transition};
use crate::friends::targets::resolve_targets;
use crate::friends::{
    FRIENDS_PAGE_MAX, FriendCounts, FriendLimits, FriendListQuery, FriendPosition, FriendView,
    RECOMMENDATION_PRELOAD, Recommendation, Targets,
};
use crate::input::Metadata;
use crate::notifications::NotificationCode;
use crate::ports::{EdgeTransaction, EdgeWrite, FriendStore, NewNotification, UserStore};
use crate::time::Clock;
use crate::{DomainError, NotificationId, Result, UserId};

/// Most recommendations (and mutual friends) in one answer.
pub const RECOMMENDATIONS_MAX: u32 = 100;

/// How many times a batch is tried when concurrent transactions get in its way.
pub const MAX_ATTEMPTS: u32 = 8;

/// One page of a friends listing.
#[derive(Debug, Clone)]
pub struct FriendPage {
    /// The edges, in listing order.
    pub items: Vec<FriendView>,
    /// Whether more follow.
    pub has_next_page: bool,
}

/// Applies friend-graph operations, each batch in one transaction.
#[derive(Clone)]
pub struct FriendService {
    store: Arc<dyn FriendStore>,
    users: Arc<dyn UserStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    limits: FriendLimits,
}

/// One target's outcome inside a batch.
struct Outcome {
    user: User,
    transition: Transition,
    previous_updated_at: Option<chrono::DateTime<chrono::Utc>>,
    previous_metadata: Option<Metadata>,
    previous_source: Option<crate::social::Network>,
    /// When the change was written (the `updatedAt` of changed edges).
    at: chrono::DateTime<chrono::Utc>,
}

impl FriendService {
    /// A service on the given stores, bus (notifications are published there after each
    /// commit), clock and limits.
    pub fn new(
        store: Arc<dyn FriendStore>,
        users: Arc<dyn UserStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        limits: FriendLimits,
    ) -> Self {
        Self {
            store,
            users,
            bus,
            clock,
            limits,
        }
    }

    /// The configured limits.
    pub fn limits(&self) -> FriendLimits {
        self.limits
    }

    /// Sends or accepts friend requests. Returns the caller's view of each target afterwards.
    /// `metadata` is stored on edges this call creates.
    pub async fn add_friends(
        &self,
        caller: UserId,
        targets: &Targets,
        metadata: Option<Metadata>,
    ) -> Result<Vec<FriendView>> {
        let outcomes = self
            .apply(caller, targets, FriendAction::Add, metadata.as_ref())
            .await?;
        Ok(self.views(outcomes, metadata.as_ref()))
    }

    /// Cancels, rejects, unfriends or unblocks.
    pub async fn remove_friends(&self, caller: UserId, targets: &Targets) -> Result<()> {
        self.apply(caller, targets, FriendAction::Remove, None)
            .await?;
        Ok(())
    }

    /// Blocks. Returns the caller's view of each target afterwards (always BLOCKED).
    pub async fn block_users(&self, caller: UserId, targets: &Targets) -> Result<Vec<FriendView>> {
        let outcomes = self
            .apply(caller, targets, FriendAction::Block, None)
            .await?;
        Ok(self.views(outcomes, None))
    }

    /// A page of `owner`'s edges in listing order.
    pub async fn list(
        &self,
        owner: UserId,
        states: &[FriendState],
        after: Option<FriendPosition>,
        first: u32,
    ) -> Result<FriendPage> {
        if first == 0 || first > FRIENDS_PAGE_MAX {
            return Err(DomainError::invalid(
                "first",
                format!("must be between 1 and {FRIENDS_PAGE_MAX}"),
            ));
        }
        let mut states = states.to_vec();
        states.sort();
        states.dedup();
        let query = FriendListQuery {
            states,
            after,
            limit: first + 1,
            visible_at: self.clock.now(),
        };
        let mut items = self.store.list_friends(owner, &query).await?;
        let has_next_page = items.len() > first as usize;
        items.truncate(first as usize);
        Ok(FriendPage {
            items,
            has_next_page,
        })
    }

    /// "People you may know": friends of `me`'s friends, each once, with their mutual
    /// friends, best first (see [`crate::ports::FriendStore::friend_recommendations`] for who is left out).
    /// `first` is 1..=100.
    pub async fn recommendations(&self, me: UserId, first: u32) -> Result<Vec<Recommendation>> {
        if !(1..=RECOMMENDATIONS_MAX).contains(&first) {
            return Err(DomainError::invalid(
                "first",
                format!("must be between 1 and {RECOMMENDATIONS_MAX}"),
            ));
        }
        let rows = self
            .store
            .friend_recommendations(me, first, self.clock.now())
            .await?;
        // The candidates and the first few mutual friends of each, in one load.
        let mut ids: Vec<UserId> = rows.iter().map(|r| r.candidate).collect();
        for row in &rows {
            ids.extend(row.mutual_friend_ids.iter().take(RECOMMENDATION_PRELOAD));
        }
        ids.sort();
        ids.dedup();
        let users = self.users_by_id(&ids).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let user = users.get(&row.candidate)?.clone();
                let mutual_friends = row
                    .mutual_friend_ids
                    .iter()
                    .take(RECOMMENDATION_PRELOAD)
                    .filter_map(|id| users.get(id).cloned())
                    .collect();
                Some(Recommendation {
                    user,
                    mutual_friend_ids: row.mutual_friend_ids,
                    mutual_friends,
                })
            })
            .collect())
    }

    /// The first `first` (0..=100) of a recommendation's mutual friends: the preloaded ones
    /// when they are enough, else those users loaded in order (gone ones left out).
    pub async fn recommendation_mutual_friends(
        &self,
        found: &Recommendation,
        first: u32,
    ) -> Result<Vec<User>> {
        check_mutual_first(first)?;
        let wanted = (first as usize).min(found.mutual_friend_ids.len());
        if wanted <= found.mutual_friends.len() {
            return Ok(found.mutual_friends[..wanted].to_vec());
        }
        let ids = &found.mutual_friend_ids[..wanted];
        let mut users = self.users_by_id(ids).await?;
        Ok(ids.iter().filter_map(|id| users.remove(id)).collect())
    }

    /// `ids` loaded, by id.
    async fn users_by_id(&self, ids: &[UserId]) -> Result<HashMap<UserId, User>> {
        Ok(self
            .users
            .users_by_ids(ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect())
    }

    /// How many friends `viewer` has in common with each of `others` (banned ones left out),
    /// counted by the store in one read; others with none (and `viewer` themself) are absent.
    pub async fn mutual_friend_counts(
        &self,
        viewer: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, u32>> {
        let others: Vec<UserId> = others.iter().copied().filter(|o| *o != viewer).collect();
        if others.is_empty() {
            return Ok(HashMap::new());
        }
        self.store
            .mutual_friend_counts(viewer, &others, self.clock.now())
            .await
    }

    /// The friends `viewer` and `other` have in common, most recent first, at most `first`
    /// (0..=100), and how many there are in all.
    pub async fn mutual_friends(
        &self,
        viewer: UserId,
        other: UserId,
        first: u32,
    ) -> Result<(Vec<User>, u32)> {
        check_mutual_first(first)?;
        if viewer == other {
            return Ok((Vec::new(), 0));
        }
        self.store
            .mutual_friends(viewer, other, first, self.clock.now())
            .await
    }

    /// Stops recommending `other` to `me`.
    pub async fn dismiss_recommendation(&self, me: UserId, other: UserId) -> Result<()> {
        if me == other {
            return Err(DomainError::invalid(
                "userId",
                "you cannot dismiss yourself",
            ));
        }
        let now = self.clock.now();
        match self.users.user_by_id(other).await? {
            Some(user) if !user.is_banned_at(now) => {
                self.store.dismiss_recommendation(me, other, now).await
            }
            _ => Err(DomainError::NotFound(format!("no user has id {other}"))),
        }
    }

    /// How many edges of each state `owner` has, leaving out users banned now (as the
    /// listing does).
    pub async fn counts(&self, owner: UserId) -> Result<FriendCounts> {
        self.store
            .friend_counts(owner, Some(self.clock.now()))
            .await
    }

    /// How `viewer` sees each of `others`.
    pub async fn views_of(
        &self,
        viewer: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, FriendState>> {
        self.store.views_of(viewer, others).await
    }

    /// Replaces the caller's private metadata on their edge to `other`.
    pub async fn set_metadata(
        &self,
        owner: UserId,
        other: UserId,
        metadata: Option<Metadata>,
    ) -> Result<FriendView> {
        self.store
            .set_edge_metadata(owner, other, metadata.as_ref())
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("you have no edge to user {other}")))
    }

    /// How the caller sees each target after the change: a changed edge carries the time the
    /// transaction wrote, not a second reading of the clock.
    fn views(&self, outcomes: Vec<Outcome>, metadata: Option<&Metadata>) -> Vec<FriendView> {
        outcomes
            .into_iter()
            .filter_map(|o| {
                let state = o.transition.after.mine?;
                let (updated_at, metadata, source) = if o.transition.changes_mine() {
                    let metadata = if o.transition.before.mine.is_none() {
                        metadata.cloned()
                    } else {
                        o.previous_metadata
                    };
                    // A hand-made change clears an import's mark.
                    (o.at, metadata, None)
                } else {
                    (
                        o.previous_updated_at.unwrap_or(o.at),
                        o.previous_metadata,
                        o.previous_source,
                    )
                };
                Some(FriendView {
                    user: o.user,
                    state,
                    updated_at,
                    metadata,
                    source,
                })
            })
            .collect()
    }

    async fn apply(
        &self,
        caller: UserId,
        targets: &Targets,
        action: FriendAction,
        metadata: Option<&Metadata>,
    ) -> Result<Vec<Outcome>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_apply(caller, targets, action, metadata).await {
                Err(err) if err.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(%caller, attempt, error = %crate::error::chain(&err), "retrying friend batch");
                    // Spread retries out so that the contenders do not collide again.
                    let jitter = u64::from(caller.as_uuid().as_u128() as u8 % 8);
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5 + jitter))
                        .await;
                }
                other => return other,
            }
        }
    }

    async fn try_apply(
        &self,
        caller: UserId,
        targets: &Targets,
        action: FriendAction,
        metadata: Option<&Metadata>,
    ) -> Result<Vec<Outcome>> {
        let mut tx = self.store.begin_edges().await?;
        // Banned users are hidden: to everyone else they are unknown until unbanned.
        let now = self.clock.now();
        let (me, users) =
            resolve_targets(tx.as_mut(), Some(caller), targets, |u| u.is_banned_at(now)).await?;
        let me =
            me.ok_or_else(|| DomainError::Unauthenticated("your account no longer exists".into()))?;
        // resolve_targets locked the caller and the targets.
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        let mut pairs = tx.pairs(caller, &ids).await?;

        let mut outcomes = Vec::with_capacity(users.len());
        for user in users {
            let stored = pairs.remove(&user.id).unwrap_or_default();
            let transition = state::apply(stored.pair, action).map_err(|e| {
                DomainError::Internal(format!("between {caller} and {}: {e}", user.id))
            })?;
            outcomes.push(Outcome {
                user,
                transition,
                previous_updated_at: stored.my_updated_at,
                previous_metadata: stored.my_metadata,
                previous_source: stored.my_source,
                at: now,
            });
        }

        self.check_limits(tx.as_mut(), caller, &outcomes).await?;

        let mut writes = Vec::new();
        let mut notes = Vec::new();
        for o in &outcomes {
            let t = &o.transition;
            if t.changes_mine() {
                writes.push(EdgeWrite {
                    owner: caller,
                    other: o.user.id,
                    state: t.after.mine,
                    metadata: if t.before.mine.is_none() {
                        metadata.cloned()
                    } else {
                        None
                    },
                    source: None,
                });
            }
            if t.changes_theirs() {
                writes.push(EdgeWrite {
                    owner: o.user.id,
                    other: caller,
                    state: t.after.theirs,
                    metadata: None,
                    source: None,
                });
            }
            if let Some(code) = t.notify_other {
                notes.push(notification_for(&me, o.user.id, code));
            }
        }
        if !writes.is_empty() {
            tx.write_edges(&writes, now).await?;
        }
        if !notes.is_empty() {
            tx.insert_notifications(&notes, now).await?;
        }
        tx.commit().await?;
        announce_notifications(self.bus.as_ref(), &notes);
        Ok(outcomes)
    }

    async fn check_limits(
        &self,
        tx: &mut dyn EdgeTransaction,
        caller: UserId,
        outcomes: &[Outcome],
    ) -> Result<()> {
        // Growth of the caller's own edges by state.
        let mut gained = FriendCounts::default();
        let mut lost = FriendCounts::default();
        let mut others_gaining_friend = Vec::new();
        for o in outcomes {
            let t = &o.transition;
            if t.changes_mine() {
                if let Some(s) = t.before.mine {
                    lost.add(s, 1);
                }
                if let Some(s) = t.after.mine {
                    gained.add(s, 1);
                }
            }
            if t.changes_theirs() && t.after.theirs == Some(FriendState::Friend) {
                others_gaining_friend.push(o.user.id);
            }
        }
        let grows = |g: u32, l: u32| g > l;
        let caller_grows = grows(gained.friends, lost.friends)
            || grows(gained.invites_sent, lost.invites_sent)
            || grows(gained.blocked, lost.blocked);
        // Every count needed, in one round trip.
        let mut counted = others_gaining_friend.clone();
        if caller_grows {
            counted.push(caller);
        }
        if counted.is_empty() {
            return Ok(());
        }
        let counts = tx.counts_of(&counted).await?;
        if caller_grows {
            let have = counts.get(&caller).copied().unwrap_or_default();
            let checks = [
                (
                    LimitKind::Friends,
                    have.friends,
                    gained.friends,
                    lost.friends,
                    self.limits.max_friends,
                ),
                (
                    LimitKind::PendingInvites,
                    have.invites_sent,
                    gained.invites_sent,
                    lost.invites_sent,
                    self.limits.max_pending_invites,
                ),
                (
                    LimitKind::Blocks,
                    have.blocked,
                    gained.blocked,
                    lost.blocked,
                    self.limits.max_blocks,
                ),
            ];
            for (kind, have, gained, lost, limit) in checks {
                if gained > lost && (have + gained).saturating_sub(lost) > limit {
                    return Err(DomainError::LimitExceeded {
                        kind,
                        limit,
                        detail: None,
                    });
                }
            }
        }
        let friends_of = |id: &UserId| counts.get(id).map_or(0, |c| c.friends);
        if let Some(full) = outcomes.iter().find(|o| {
            others_gaining_friend.contains(&o.user.id)
                && friends_of(&o.user.id) >= self.limits.max_friends
        }) {
            return Err(DomainError::LimitExceeded {
                kind: LimitKind::Friends,
                limit: self.limits.max_friends,
                detail: Some(format!("{} has reached the limit", full.user.handle)),
            });
        }
        Ok(())
    }
}

fn notification_for(sender: &User, recipient: UserId, code: NotificationCode) -> NewNotification {
    let who = sender.handle.as_str();
    let subject = match code {
        NotificationCode::FriendRequest => format!("{who} wants to be your friend"),
        NotificationCode::FriendAccepted => format!("{who} accepted your friend request"),
        NotificationCode::FriendRemoved => format!("{who} removed you from their friends"),
        _ => who.to_owned(),
    };
    NewNotification {
        id: NotificationId::new(),
        recipient,
        code,
        subject,
        content: json!({ "userId": sender.id.to_string(), "handle": who }),
        sender: Some(sender.id),
    }
}

/// A mutual-friends page size is 0..=[`RECOMMENDATIONS_MAX`].
fn check_mutual_first(first: u32) -> Result<()> {
    if first > RECOMMENDATIONS_MAX {
        return Err(DomainError::invalid(
            "first",
            format!("must be between 0 and {RECOMMENDATIONS_MAX}"),
        ));
    }
    Ok(())
}
