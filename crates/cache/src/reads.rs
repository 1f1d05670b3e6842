//! The friend-graph reads computed from kept entries: a page of the listing, counts of visible
//! users, mutual friends and recommendations. Each gives exactly what the stores give (the
//! rules are those of the memory store, the domain's reference), loading cold entries in batches
//! of one statement.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use amity_domain::accounts::User;
use amity_domain::friends::{
    FriendCounts, FriendListQuery, FriendPosition, FriendView, RecommendationRow,
};
use amity_domain::time::{from_micros, to_micros};
use amity_domain::{Result, UserId};
use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::entries::{Edge, Graph};
use crate::store::{CachedStore, LOAD_CHUNK};

/// Fewest profiles loaded at once while filling a page (hidden users are skipped).
const PROFILE_CHUNK: usize = 16;

/// A time as the stores keep it (whole microseconds), so that comparisons agree with theirs.
fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    from_micros(to_micros(t))
}

fn visible(user: &User, at: DateTime<Utc>) -> bool {
    !user.is_banned_at(at)
}

/// A candidate for "people you may know": how many of my friends know them, and the most recent
/// of those friendships.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    id: UserId,
    mutual: u32,
    /// In microseconds.
    recent: i64,
}

/// Best first: most mutual friends, then most recent, then by id.
fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    b.mutual
        .cmp(&a.mutual)
        .then(b.recent.cmp(&a.recent))
        .then(a.id.cmp(&b.id))
}

impl CachedStore {
    /// A page of `graph`'s owner's listing: edges to users not banned at `query.visible_at`,
    /// strictly after `query.after`, at most `query.limit`.
    pub(crate) async fn page(
        &self,
        graph: &Graph,
        query: &FriendListQuery,
    ) -> Result<Vec<FriendView>> {
        let visible_at = stored(query.visible_at);
        let after = query.after.map(|p| FriendPosition {
            updated_at: stored(p.updated_at),
            ..p
        });
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let mut rest = graph.edges[graph.start_after(after.as_ref())..]
            .iter()
            .filter(|e| query.states.is_empty() || query.states.contains(&e.state));
        let mut page = Vec::with_capacity(limit.min(graph.edges.len()));
        while page.len() < limit {
            let chunk: Vec<&Edge> = rest
                .by_ref()
                .take((limit - page.len()).max(PROFILE_CHUNK))
                .collect();
            if chunk.is_empty() {
                break;
            }
            let ids: Vec<UserId> = chunk.iter().map(|e| e.other).collect();
            let users = self.profiles(&ids).await?;
            for edge in chunk {
                if page.len() == limit {
                    break;
                }
                if let Some(user) = users.get(&edge.other).filter(|u| visible(u, visible_at)) {
                    page.push(FriendView {
                        user: User::clone(user),
                        state: edge.state,
                        updated_at: edge.updated_at(),
                        metadata: edge.metadata(),
                        source: edge.source,
                    });
                }
            }
        }
        Ok(page)
    }

    /// `graph`'s counts, leaving out users banned at `at`.
    pub(crate) async fn visible_counts(
        &self,
        graph: &Graph,
        at: DateTime<Utc>,
    ) -> Result<FriendCounts> {
        let at = stored(at);
        let ids: Vec<UserId> = graph.edges.iter().map(|e| e.other).collect();
        let users = self.profiles(&ids).await?;
        let mut counts = FriendCounts::default();
        for edge in &graph.edges {
            if users.get(&edge.other).is_some_and(|u| visible(u, at)) {
                counts.add(edge.state, 1);
            }
        }
        Ok(counts)
    }

    /// Of `ids`, those whose users exist and are not banned at `at`, in order, with them.
    async fn visible_in_order(
        &self,
        ids: Vec<UserId>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Arc<User>>> {
        let users = self.profiles(&ids).await?;
        Ok(ids
            .into_iter()
            .filter_map(|id| users.get(&id).filter(|u| visible(u, at)).cloned())
            .collect())
    }

    /// Friends `a` and `b` have in common (banned ones left out), most recent on `a`'s side
    /// first, at most `limit`, with the total.
    pub(crate) async fn mutual(
        &self,
        a: UserId,
        b: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<User>, u32)> {
        let graphs = self.graphs(&[a, b]).await?;
        let (Some(ga), Some(gb)) = (graphs.get(&a), graphs.get(&b)) else {
            return Ok((Vec::new(), 0));
        };
        let common: Vec<UserId> = ga
            .friends_in_order()
            .into_iter()
            .filter(|m| gb.is_friend(*m))
            .collect();
        let shown = self.visible_in_order(common, stored(now)).await?;
        let total = u32::try_from(shown.len()).unwrap_or(u32::MAX);
        let first = shown
            .into_iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(Arc::unwrap_or_clone)
            .collect();
        Ok((first, total))
    }

    /// How many friends `viewer` has in common with each of `others` (banned ones left out);
    /// those with none are absent.
    pub(crate) async fn mutual_counts(
        &self,
        viewer: UserId,
        others: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<UserId, u32>> {
        let mut wanted = Vec::with_capacity(others.len() + 1);
        wanted.push(viewer);
        wanted.extend_from_slice(others);
        let graphs = self.graphs(&wanted).await?;
        let Some(mine) = graphs.get(&viewer) else {
            return Ok(HashMap::new());
        };
        let my_friends: FxHashSet<UserId> = mine.friend_edges().iter().map(|e| e.other).collect();
        let common: FxHashMap<UserId, Vec<UserId>> = others
            .iter()
            .filter_map(|o| {
                let ids: Vec<UserId> = graphs
                    .get(o)?
                    .friend_edges()
                    .iter()
                    .map(|e| e.other)
                    .filter(|m| my_friends.contains(m))
                    .collect();
                (!ids.is_empty()).then_some((*o, ids))
            })
            .collect();
        let everyone: Vec<UserId> = common.values().flatten().copied().collect();
        let users = self.profiles(&everyone).await?;
        let now = stored(now);
        Ok(common
            .into_iter()
            .map(|(o, ids)| {
                let n = ids
                    .iter()
                    .filter(|m| users.get(*m).is_some_and(|u| visible(u, now)))
                    .count();
                (o, u32::try_from(n).unwrap_or(u32::MAX))
            })
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    /// "People you may know", exactly: every friend of a friend (friends banned at `now` left
    /// out) who is not me, has no edge with me, did not block me, was not dismissed by me and
    /// is not banned; ranked by mutual friends, then the most recent of those friendships, then
    /// id; each with every mutual friend, in my order (most recent friendship first).
    pub(crate) async fn recommendations(
        &self,
        me: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<RecommendationRow>> {
        let now = stored(now);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let my_graph = self.graph(me).await?;
        let mine: Vec<UserId> = self
            .visible_in_order(my_graph.friends_in_order(), now)
            .await?
            .iter()
            .map(|u| u.id)
            .collect();

        // Count, over my friends' FRIEND edges, everyone they reach who may be recommended: a
        // chunk of friends at a time, so that a request holds only a chunk's graphs (the
        // friends of a user at the limit may have a million edges between them, more than the
        // cache may keep).
        let mut counted: FxHashMap<UserId, (u32, i64)> = FxHashMap::default();
        for chunk in mine.chunks(LOAD_CHUNK) {
            let graphs = self.graphs(chunk).await?;
            for graph in chunk.iter().filter_map(|m| graphs.get(m)) {
                for edge in graph.friend_edges() {
                    let entry = counted.entry(edge.other).or_insert((0, edge.at));
                    entry.0 += 1;
                    entry.1 = entry.1.max(edge.at);
                }
            }
        }
        let excluded = my_graph.not_recommendable(me);
        let mut candidates: Vec<Candidate> = counted
            .into_iter()
            .filter(|(c, _)| !excluded.contains(c))
            .map(|(id, (mutual, recent))| Candidate { id, mutual, recent })
            .collect();

        // Bans are checked in rank order until `limit` pass: the best few first, then (rarely,
        // when many of those are banned) the rest.
        let mut chosen: Vec<Candidate> = Vec::with_capacity(limit.min(candidates.len()));
        let mut first = limit
            .saturating_mul(2)
            .saturating_add(16)
            .min(candidates.len());
        if first < candidates.len() {
            candidates.select_nth_unstable_by(first, rank);
        }
        candidates[..first].sort_by(rank);
        let mut next = 0;
        while chosen.len() < limit && next < candidates.len() {
            if next == first {
                candidates[first..].sort_by(rank);
                first = candidates.len();
            }
            let batch: Vec<Candidate> = candidates[next..first].to_vec();
            next = first;
            let ids: Vec<UserId> = batch.iter().map(|c| c.id).collect();
            let users = self.profiles(&ids).await?;
            chosen.extend(
                batch
                    .into_iter()
                    .filter(|c| users.get(&c.id).is_some_and(|u| visible(u, now)))
                    .take(limit - chosen.len()),
            );
        }

        // Each one's mutual friends from their own FRIEND edges, in my order.
        let ids: Vec<UserId> = chosen.iter().map(|c| c.id).collect();
        let theirs = self.graphs(&ids).await?;
        let my_order: FxHashMap<UserId, usize> =
            mine.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        Ok(chosen
            .into_iter()
            .map(|c| {
                let mut common: Vec<usize> = theirs.get(&c.id).map_or_else(Vec::new, |g| {
                    g.friend_edges()
                        .iter()
                        .filter_map(|e| my_order.get(&e.other).copied())
                        .collect()
                });
                common.sort_unstable();
                RecommendationRow {
                    candidate: c.id,
                    mutual_friend_ids: common.into_iter().map(|i| mine[i]).collect(),
                }
            })
            .collect())
    }
}
