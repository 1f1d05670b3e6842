//! What the cache keeps, and how much each entry weighs.

use std::cmp::Ordering;
use std::ops::Range;
use std::sync::Arc;

use amity_domain::UserId;
use amity_domain::accounts::User;
use amity_domain::friends::{FriendCounts, FriendPosition, FriendState};
use amity_domain::input::Metadata;
use amity_domain::ports::{Adjacency, AdjacentEdge};
use amity_domain::social::Network;
use amity_domain::time::{from_micros, to_micros};
use chrono::{DateTime, Utc};
use rustc_hash::FxHashSet;

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A user's [`Graph`].
    Edges(UserId),
    /// A user's profile.
    Profile(UserId),
    /// Whether a user is online.
    Online(UserId),
}

impl Key {
    /// Whose entry it is.
    pub(crate) fn user(self) -> UserId {
        match self {
            Key::Edges(u) | Key::Profile(u) | Key::Online(u) => u,
        }
    }

    /// The metric label of its kind.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Key::Edges(_) => "edges",
            Key::Profile(_) => "profile",
            Key::Online(_) => "online",
        }
    }
}

/// A kept value.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A user's edges and what goes with them.
    Edges(Arc<Graph>),
    /// A user's profile, and its weight.
    Profile(Arc<User>, u64),
    /// Online or not.
    Online(bool),
}

/// Weighs entries by an estimate of the bytes they hold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByBytes;

/// A key, a value and the cache's bookkeeping of them.
const ENTRY_OVERHEAD: u64 = 96;

impl quick_cache::Weighter<Key, Value> for ByBytes {
    fn weight(&self, _key: &Key, value: &Value) -> u64 {
        ENTRY_OVERHEAD
            + match value {
                Value::Edges(graph) => graph.weight,
                Value::Profile(_, weight) => *weight,
                Value::Online(_) => 0,
            }
    }
}

fn text_len(text: &Option<String>) -> u64 {
    text.as_ref().map_or(0, |t| t.len() as u64)
}

/// Bytes a JSON object holds, about (its serialized length).
fn metadata_weight(metadata: Option<&Metadata>) -> u64 {
    metadata.map_or(0, |m| {
        serde_json::to_string(m.as_map()).map_or(0, |t| t.len() as u64) + 48
    })
}

/// Bytes a profile holds, about.
pub(crate) fn profile_weight(user: &User) -> u64 {
    let metadata = metadata_weight(user.metadata.as_ref());
    let reason = user.ban.as_ref().map_or(0, |b| text_len(&b.reason));
    std::mem::size_of::<User>() as u64
        + user.handle.as_str().len() as u64
        + text_len(&user.display_name)
        + text_len(&user.avatar_url)
        + metadata
        + reason
}

/// Listing order: state rank, then most recent change first, then the other user's id
/// descending (the order of every store's friend page).
pub(crate) fn listing_order(a: &FriendPosition, b: &FriendPosition) -> Ordering {
    a.state
        .rank()
        .cmp(&b.state.rank())
        .then(b.updated_at.cmp(&a.updated_at))
        .then(b.other.cmp(&a.other))
}

/// An edge as the cache keeps it: 40 bytes, where the port's [`AdjacentEdge`] takes 56 (the
/// time as whole microseconds, the rarely set metadata behind a pointer).
#[derive(Debug)]
pub(crate) struct Edge {
    /// The other user.
    pub(crate) other: UserId,
    /// When the edge last changed, in microseconds since the epoch (stores keep no finer).
    pub(crate) at: i64,
    metadata: Option<Box<Metadata>>,
    /// How the owner sees the other user.
    pub(crate) state: FriendState,
    /// The network an imported friendship came from.
    pub(crate) source: Option<Network>,
}

impl Edge {
    fn new(edge: AdjacentEdge) -> Self {
        Self {
            other: edge.other,
            at: to_micros(edge.updated_at),
            metadata: edge.metadata.map(Box::new),
            state: edge.state,
            source: edge.source,
        }
    }

    /// When the edge last changed.
    pub(crate) fn updated_at(&self) -> DateTime<Utc> {
        from_micros(self.at)
    }

    /// The owner's private metadata, copied.
    pub(crate) fn metadata(&self) -> Option<Metadata> {
        self.metadata.as_deref().cloned()
    }

    /// Its listing position.
    pub(crate) fn position(&self) -> FriendPosition {
        FriendPosition {
            state: self.state,
            updated_at: self.updated_at(),
            other: self.other,
        }
    }
}

/// Listing order of two kept edges (as [`listing_order`], without building positions).
fn edge_order(a: &Edge, b: &Edge) -> Ordering {
    a.state
        .rank()
        .cmp(&b.state.rank())
        .then(b.at.cmp(&a.at))
        .then(b.other.cmp(&a.other))
}

/// One user's place in the graph, arranged for the reads: edges in listing order (so the
/// FRIEND edges are one run of them), an index by the other user, and the counts. About 44
/// bytes an edge: a user at the friend limit reaches a thousand friends' lists, and the cache
/// should hold them.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Every edge, in listing order.
    pub(crate) edges: Box<[Edge]>,
    /// Positions in `edges`, ordered by the other user's id.
    by_other: Box<[u32]>,
    /// Where the FRIEND edges are in `edges`.
    friends: Range<usize>,
    /// Users who blocked this one, by id.
    blocked_by: Box<[UserId]>,
    /// Users this one dismissed from recommendations, by id.
    dismissed: Box<[UserId]>,
    /// Edges by state, nobody left out.
    pub(crate) counts: FriendCounts,
    /// Bytes held, about.
    pub(crate) weight: u64,
}

/// `ids` sorted, each once, without spare capacity.
fn id_set(mut ids: Vec<UserId>) -> Box<[UserId]> {
    ids.sort_unstable();
    ids.dedup();
    ids.into_boxed_slice()
}

impl Graph {
    /// Arranges what the store loaded.
    pub(crate) fn new(adjacency: Adjacency) -> Self {
        let Adjacency {
            edges,
            blocked_by,
            dismissed,
        } = adjacency;
        let mut edges: Box<[Edge]> = edges.into_iter().map(Edge::new).collect();
        edges.sort_unstable_by(edge_order);
        let mut counts = FriendCounts::default();
        let mut metadata_bytes = 0;
        for edge in &edges {
            counts.add(edge.state, 1);
            if let Some(metadata) = edge.metadata.as_deref() {
                metadata_bytes +=
                    metadata_weight(Some(metadata)) + std::mem::size_of::<Metadata>() as u64;
            }
        }
        let mut by_other: Box<[u32]> = (0..edges.len())
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX))
            .collect();
        by_other.sort_unstable_by(|a, b| edges[*a as usize].other.cmp(&edges[*b as usize].other));
        let friend_rank = FriendState::Friend.rank();
        let friends = edges.partition_point(|e| e.state.rank() < friend_rank)
            ..edges.partition_point(|e| e.state.rank() <= friend_rank);
        let blocked_by = id_set(blocked_by);
        let dismissed = id_set(dismissed);
        let weight = std::mem::size_of::<Self>() as u64
            + (edges.len() * std::mem::size_of::<Edge>()) as u64
            + (by_other.len() * std::mem::size_of::<u32>()) as u64
            + ((blocked_by.len() + dismissed.len()) * std::mem::size_of::<UserId>()) as u64
            + metadata_bytes;
        Self {
            edges,
            by_other,
            friends,
            blocked_by,
            dismissed,
            counts,
            weight,
        }
    }

    /// This user's edge to `other`.
    pub(crate) fn edge(&self, other: UserId) -> Option<&Edge> {
        let found = self
            .by_other
            .binary_search_by(|p| self.edges[*p as usize].other.cmp(&other))
            .ok()?;
        Some(&self.edges[self.by_other[found] as usize])
    }

    /// Whether this user is FRIEND with `other`.
    pub(crate) fn is_friend(&self, other: UserId) -> bool {
        self.edge(other)
            .is_some_and(|e| e.state == FriendState::Friend)
    }

    /// The FRIEND edges, most recent first (ties by id descending).
    pub(crate) fn friend_edges(&self) -> &[Edge] {
        &self.edges[self.friends.clone()]
    }

    /// The friends in the order mutual friends are listed in: most recent friendship first,
    /// ties by id ascending.
    pub(crate) fn friends_in_order(&self) -> Vec<UserId> {
        let mut order = Vec::with_capacity(self.friends.len());
        // Listing order breaks ties by id descending: turn each run of equal times around.
        for run in self.friend_edges().chunk_by(|a, b| a.at == b.at) {
            order.extend(run.iter().rev().map(|e| e.other));
        }
        order
    }

    /// Everyone this user may not be recommended: themself, everyone they have an edge with,
    /// who blocked them, and whom they dismissed.
    pub(crate) fn not_recommendable(&self, me: UserId) -> FxHashSet<UserId> {
        let mut set = FxHashSet::with_capacity_and_hasher(
            1 + self.edges.len() + self.blocked_by.len() + self.dismissed.len(),
            Default::default(),
        );
        set.insert(me);
        set.extend(self.edges.iter().map(|e| e.other));
        set.extend(self.blocked_by.iter().copied());
        set.extend(self.dismissed.iter().copied());
        set
    }

    /// Where the page after `after` starts in `edges`.
    pub(crate) fn start_after(&self, after: Option<&FriendPosition>) -> usize {
        match after {
            None => 0,
            Some(after) => self
                .edges
                .partition_point(|e| listing_order(&e.position(), after) != Ordering::Greater),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amity_domain::time::from_micros;

    fn edge(other: UserId, state: FriendState, at: i64) -> AdjacentEdge {
        AdjacentEdge {
            other,
            state,
            updated_at: from_micros(at),
            metadata: None,
            source: None,
        }
    }

    #[test]
    fn a_graph_lists_in_listing_order_and_pages_strictly_after_a_position() {
        let (a, b, c, d) = (UserId::new(), UserId::new(), UserId::new(), UserId::new());
        let graph = Graph::new(Adjacency {
            edges: vec![
                edge(a, FriendState::Blocked, 5),
                edge(b, FriendState::Friend, 1),
                edge(c, FriendState::Friend, 3),
                edge(d, FriendState::InviteSent, 9),
            ],
            blocked_by: vec![],
            dismissed: vec![],
        });
        let order: Vec<UserId> = graph.edges.iter().map(|e| e.other).collect();
        assert_eq!(order, vec![c, b, d, a]);
        assert_eq!(graph.friends_in_order(), vec![c, b]);
        assert_eq!(graph.friend_edges().len(), 2);
        assert_eq!(graph.counts.friends, 2);
        assert_eq!(graph.counts.blocked, 1);
        assert_eq!(graph.start_after(None), 0);
        assert_eq!(graph.start_after(Some(&graph.edges[1].position())), 2);
        assert_eq!(graph.start_after(Some(&graph.edges[3].position())), 4);
        assert!(graph.is_friend(b) && !graph.is_friend(d) && graph.edge(UserId::new()).is_none());
        assert_eq!(
            graph.edge(d).map(|e| e.state),
            Some(FriendState::InviteSent)
        );
    }

    #[test]
    fn friends_at_the_same_time_are_in_id_order_and_exclusions_cover_every_edge() {
        let mut ids: Vec<UserId> = (0..6).map(|_| UserId::new()).collect();
        ids.sort();
        let (me, blocker, dismissed) = (UserId::new(), UserId::new(), UserId::new());
        let graph = Graph::new(Adjacency {
            edges: vec![
                edge(ids[3], FriendState::Friend, 7),
                edge(ids[0], FriendState::Friend, 7),
                edge(ids[5], FriendState::Friend, 9),
                edge(ids[1], FriendState::Friend, 7),
                edge(ids[4], FriendState::InviteReceived, 7),
                edge(ids[2], FriendState::Friend, 2),
            ],
            blocked_by: vec![blocker, blocker],
            dismissed: vec![dismissed],
        });
        // Most recent first; the three at time 7 by id ascending.
        assert_eq!(
            graph.friends_in_order(),
            vec![ids[5], ids[0], ids[1], ids[3], ids[2]]
        );
        let excluded = graph.not_recommendable(me);
        for id in ids.iter().chain([&me, &blocker, &dismissed]) {
            assert!(excluded.contains(id));
        }
        assert_eq!(excluded.len(), 9);
        assert!(!excluded.contains(&UserId::new()));
    }

    #[test]
    fn an_edge_is_kept_in_40_bytes() {
        assert_eq!(std::mem::size_of::<Edge>(), 40);
        let graph = Graph::new(Adjacency {
            edges: (0..100)
                .map(|i| edge(UserId::new(), FriendState::Friend, i))
                .collect(),
            blocked_by: vec![],
            dismissed: vec![],
        });
        let per_edge = (graph.weight - std::mem::size_of::<Graph>() as u64) / 100;
        assert_eq!(per_edge, 44);
    }
}
