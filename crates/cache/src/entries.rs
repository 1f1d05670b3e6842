//! What the cache keeps, and how much each entry weighs.

use std::cmp::Ordering;
use std::sync::Arc;

use amity_domain::UserId;
use amity_domain::accounts::User;
use amity_domain::friends::{FriendCounts, FriendPosition, FriendState};
use amity_domain::input::Metadata;
use amity_domain::ports::{Adjacency, AdjacentEdge};
use chrono::{DateTime, Utc};
use rustc_hash::{FxHashMap, FxHashSet};

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
fn metadata_weight(metadata: &Option<Metadata>) -> u64 {
    metadata.as_ref().map_or(0, |m| {
        serde_json::to_string(m.as_map()).map_or(0, |t| t.len() as u64) + 48
    })
}

/// Bytes a profile holds, about.
pub(crate) fn profile_weight(user: &User) -> u64 {
    let metadata = metadata_weight(&user.metadata);
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

/// An edge's listing position.
pub(crate) fn position(edge: &AdjacentEdge) -> FriendPosition {
    FriendPosition {
        state: edge.state,
        updated_at: edge.updated_at,
        other: edge.other,
    }
}

/// One user's place in the graph, arranged for the reads: edges in listing order with an index
/// by the other user, FRIEND edges most recent first, and the counts.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Every edge, in listing order.
    pub(crate) edges: Vec<AdjacentEdge>,
    /// Position in `edges` by the other user.
    index: FxHashMap<UserId, u32>,
    /// FRIEND edges: the other user and when, most recent first (ties by id ascending): the
    /// order mutual friends are listed in.
    pub(crate) friends: Vec<(UserId, DateTime<Utc>)>,
    /// Users who blocked this one.
    pub(crate) blocked_by: FxHashSet<UserId>,
    /// Users this one dismissed from recommendations.
    pub(crate) dismissed: FxHashSet<UserId>,
    /// Edges by state, nobody left out.
    pub(crate) counts: FriendCounts,
    /// Bytes held, about.
    pub(crate) weight: u64,
}

impl Graph {
    /// Arranges what the store loaded.
    pub(crate) fn new(adjacency: Adjacency) -> Self {
        let Adjacency {
            mut edges,
            blocked_by,
            dismissed,
        } = adjacency;
        edges.sort_by(|a, b| listing_order(&position(a), &position(b)));
        edges.shrink_to_fit();
        let mut counts = FriendCounts::default();
        let mut metadata_bytes = 0;
        for edge in &edges {
            counts.add(edge.state, 1);
            metadata_bytes += metadata_weight(&edge.metadata);
        }
        let index: FxHashMap<UserId, u32> = edges
            .iter()
            .enumerate()
            .map(|(i, e)| (e.other, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let mut friends: Vec<(UserId, DateTime<Utc>)> = edges
            .iter()
            .filter(|e| e.state == FriendState::Friend)
            .map(|e| (e.other, e.updated_at))
            .collect();
        friends.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        friends.shrink_to_fit();
        let blocked_by: FxHashSet<UserId> = blocked_by.into_iter().collect();
        let dismissed: FxHashSet<UserId> = dismissed.into_iter().collect();
        // What the allocations hold, by capacity (a hash table's slots and control bytes).
        let slots = |capacity: usize, slot: usize| (capacity * (slot + 1)) as u64;
        let weight = std::mem::size_of::<Self>() as u64
            + slots(edges.capacity(), std::mem::size_of::<AdjacentEdge>())
            + slots(index.capacity(), std::mem::size_of::<(UserId, u32)>())
            + slots(
                friends.capacity(),
                std::mem::size_of::<(UserId, DateTime<Utc>)>(),
            )
            + slots(blocked_by.capacity(), std::mem::size_of::<UserId>())
            + slots(dismissed.capacity(), std::mem::size_of::<UserId>())
            + metadata_bytes;
        Self {
            edges,
            index,
            friends,
            blocked_by,
            dismissed,
            counts,
            weight,
        }
    }

    /// This user's edge to `other`.
    pub(crate) fn edge(&self, other: UserId) -> Option<&AdjacentEdge> {
        self.edges.get(*self.index.get(&other)? as usize)
    }

    /// Whether this user is FRIEND with `other`.
    pub(crate) fn is_friend(&self, other: UserId) -> bool {
        self.edge(other)
            .is_some_and(|e| e.state == FriendState::Friend)
    }

    /// Where the page after `after` starts in `edges`.
    pub(crate) fn start_after(&self, after: Option<&FriendPosition>) -> usize {
        match after {
            None => 0,
            Some(after) => self
                .edges
                .partition_point(|e| listing_order(&position(e), after) != Ordering::Greater),
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
        assert_eq!(
            graph.friends,
            vec![(c, from_micros(3)), (b, from_micros(1))]
        );
        assert_eq!(graph.counts.friends, 2);
        assert_eq!(graph.counts.blocked, 1);
        assert_eq!(graph.start_after(None), 0);
        assert_eq!(graph.start_after(Some(&position(&graph.edges[1]))), 2);
        assert_eq!(graph.start_after(Some(&position(&graph.edges[3]))), 4);
        assert!(graph.is_friend(b) && !graph.is_friend(d) && graph.edge(UserId::new()).is_none());
    }
}
