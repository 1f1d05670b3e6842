//! The friend-graph reads that take more than a lookup: a page of the listing, mutual
//! friends and recommendations. Each is written to give exactly what the SQL store's
//! statement gives, in the same order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::state::{EdgeRow, State, stored};
use crate::UserId;
use crate::accounts::User;
use crate::friends::{FriendListQuery, FriendPosition, FriendState, FriendView, RecommendationRow};
use crate::ports::{Adjacency, AdjacentEdge};

/// Listing order: state rank, then most recent change first, then the other user's id
/// descending (so that the order is total).
fn listing_order(a: &FriendPosition, b: &FriendPosition) -> Ordering {
    a.state
        .rank()
        .cmp(&b.state.rank())
        .then(b.updated_at.cmp(&a.updated_at))
        .then(b.other.cmp(&a.other))
}

impl State {
    /// A page of `owner`'s edges to users not banned at `query.visible_at`, in listing order,
    /// strictly after `query.after`, at most `query.limit`.
    pub(super) fn list_friends(&self, owner: UserId, query: &FriendListQuery) -> Vec<FriendView> {
        let visible_at = stored(query.visible_at);
        let after = query.after.map(|p| FriendPosition {
            updated_at: stored(p.updated_at),
            ..p
        });
        let mut page: Vec<FriendView> = self
            .edges_of(owner)
            .filter(|(_, edge)| query.states.is_empty() || query.states.contains(&edge.state))
            .filter(|(other, _)| self.is_visible_at(*other, visible_at))
            .filter_map(|(other, edge)| Some(view(self.user(other)?.clone(), edge)))
            .filter(|v| {
                after.is_none_or(|after| listing_order(&v.position(), &after) == Ordering::Greater)
            })
            .collect();
        page.sort_by(|a, b| listing_order(&a.position(), &b.position()));
        page.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        page
    }

    /// `owner`'s view of `other` with the other user, if the edge exists.
    pub(super) fn friend_view(&self, owner: UserId, other: UserId) -> Option<FriendView> {
        let edge = self.edge(owner, other)?;
        Some(view(self.user(other)?.clone(), edge))
    }

    /// `me`'s FRIEND edges to users not banned at `now`, my most recent friendships first
    /// (ties by id): the order in which mutual friends are listed.
    fn visible_friends(&self, me: UserId, now: DateTime<Utc>) -> Vec<(UserId, DateTime<Utc>)> {
        let mut friends: Vec<(UserId, DateTime<Utc>)> = self
            .friend_edges_of(me)
            .filter(|(m, _)| self.is_visible_at(*m, now))
            .map(|(m, edge)| (m, edge.updated_at))
            .collect();
        friends.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        friends
    }

    /// The friends `a` and `b` have in common (banned ones left out), most recent on `a`'s
    /// side first.
    pub(super) fn mutual_friend_ids(
        &self,
        a: UserId,
        b: UserId,
        now: DateTime<Utc>,
    ) -> Vec<UserId> {
        self.visible_friends(a, stored(now))
            .into_iter()
            .filter(|(m, _)| self.is_friend(b, *m))
            .map(|(m, _)| m)
            .collect()
    }

    /// "People you may know" for `me`, exactly: every friend of a friend (a friend not
    /// banned at `now`) who is not me, has no edge with me, did not block me, was not
    /// dismissed by me and is not banned; each with every mutual friend; ranked by their
    /// number, then by the most recent of the candidate's friendships with them, then by id;
    /// at most `limit`.
    pub(super) fn recommendations(
        &self,
        me: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Vec<RecommendationRow> {
        let now = stored(now);
        let mine = self.visible_friends(me, now);
        // Candidates are reached through my friends' FRIEND edges...
        let candidates: BTreeSet<UserId> = mine
            .iter()
            .flat_map(|(m, _)| self.friend_edges_of(*m).map(|(c, _)| c))
            .filter(|c| *c != me && self.may_recommend(me, *c, now))
            .collect();
        // ...and their mutual friends are read from the candidates' own FRIEND edges, as the
        // SQL store reads them, in my order.
        let mut ranked: Vec<(UserId, Vec<UserId>, DateTime<Utc>)> = Vec::new();
        for candidate in candidates {
            let mut mutual = Vec::new();
            let mut recent: Option<DateTime<Utc>> = None;
            for (m, _) in &mine {
                if let Some(edge) = self.friend_edge(candidate, *m) {
                    mutual.push(*m);
                    recent = recent.max(Some(edge.updated_at));
                }
            }
            if let Some(recent) = recent {
                ranked.push((candidate, mutual, recent));
            }
        }
        ranked.sort_by(|a, b| {
            b.1.len()
                .cmp(&a.1.len())
                .then(b.2.cmp(&a.2))
                .then(a.0.cmp(&b.0))
        });
        ranked.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        ranked
            .into_iter()
            .map(|(candidate, mutual_friend_ids, _)| RecommendationRow {
                candidate,
                mutual_friend_ids,
            })
            .collect()
    }

    /// `owner`'s edge to `other` if it is a FRIEND edge.
    fn friend_edge(&self, owner: UserId, other: UserId) -> Option<&EdgeRow> {
        self.edge(owner, other)
            .filter(|edge| edge.state == FriendState::Friend)
    }

    /// The exclusions of a recommendation: any edge of mine to them, a block of theirs on me,
    /// my dismissal, or their ban at `now`.
    fn may_recommend(&self, me: UserId, candidate: UserId, now: DateTime<Utc>) -> bool {
        let blocked_me = self
            .edge(candidate, me)
            .is_some_and(|edge| edge.state == FriendState::Blocked);
        let banned = self.user(candidate).is_some_and(|u| u.is_banned_at(now));
        self.edge(me, candidate).is_none()
            && !blocked_me
            && !self.dismissed.contains_key(&(me, candidate))
            && !banned
    }

    /// What a graph cache keeps of each owner (every owner present, unknown ones empty).
    pub(super) fn adjacency(&self, owners: &[UserId]) -> HashMap<UserId, Adjacency> {
        let mut all: HashMap<UserId, Adjacency> =
            owners.iter().map(|o| (*o, Adjacency::default())).collect();
        for (owner, adjacency) in all.iter_mut() {
            adjacency.edges = self
                .edges_of(*owner)
                .map(|(other, edge)| AdjacentEdge {
                    other,
                    state: edge.state,
                    updated_at: edge.updated_at,
                    metadata: edge.metadata.clone(),
                    source: edge.source,
                })
                .collect();
            adjacency.dismissed = self
                .dismissed
                .keys()
                .filter(|(who, _)| who == owner)
                .map(|(_, other)| *other)
                .collect();
        }
        for (owner, edges) in &self.edges {
            for (other, edge) in edges {
                if edge.state == FriendState::Blocked
                    && let Some(adjacency) = all.get_mut(other)
                {
                    adjacency.blocked_by.push(*owner);
                }
            }
        }
        all
    }

    /// Users by id in the order of `ids` (unknown ones left out).
    pub(super) fn users_in_order(&self, ids: &[UserId]) -> Vec<User> {
        let found: BTreeMap<UserId, User> =
            self.users_in(ids).into_iter().map(|u| (u.id, u)).collect();
        ids.iter().filter_map(|id| found.get(id).cloned()).collect()
    }
}

/// An edge and its other user as the owner's view.
fn view(user: User, edge: &EdgeRow) -> FriendView {
    FriendView {
        user,
        state: edge.state,
        updated_at: edge.updated_at,
        metadata: edge.metadata.clone(),
        source: edge.source,
    }
}
