//! The friend graph: the state machine, batch targets, limits, listing and the service.

mod service;
pub mod state;
pub(crate) mod targets;

use chrono::{DateTime, Utc};

use crate::UserId;
use crate::accounts::User;
use crate::input::Metadata;

pub use service::{FriendService, MAX_ATTEMPTS};
pub use state::{FriendAction, FriendState, Pair};
pub use targets::{MAX_TARGETS, Targets};

/// Largest page of friends.
pub const FRIENDS_PAGE_MAX: u32 = 1000;

/// How many of each recommendation's mutual friends are loaded with it (what
/// `mutualFriends` shows by default); more are loaded on demand.
pub const RECOMMENDATION_PRELOAD: usize = 3;

/// One "people you may know" result.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// The recommended user.
    pub user: User,
    /// Every friend they share with the viewer (banned ones left out), the viewer's most
    /// recent friendships first; its length is the mutual-friend count.
    pub mutual_friend_ids: Vec<UserId>,
    /// The first [`RECOMMENDATION_PRELOAD`] of `mutual_friend_ids`, loaded.
    pub mutual_friends: Vec<User>,
}

/// A recommendation as the store finds it: the candidate and every mutual friend, the viewer's
/// most recent friendships first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecommendationRow {
    /// The recommended user.
    pub candidate: UserId,
    /// The friends the viewer and the candidate share.
    pub mutual_friend_ids: Vec<UserId>,
}

/// One edge as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FriendView {
    /// The other user.
    pub user: User,
    /// How the owner sees them.
    pub state: FriendState,
    /// When this edge last changed.
    pub updated_at: DateTime<Utc>,
    /// The owner's private metadata on the edge.
    pub metadata: Option<Metadata>,
    /// The network this friendship was imported from; `None` if made by hand.
    pub source: Option<crate::social::Network>,
}

impl FriendView {
    /// The listing position of this edge, for cursors.
    pub fn position(&self) -> FriendPosition {
        FriendPosition {
            state: self.state,
            updated_at: self.updated_at,
            other: self.user.id,
        }
    }
}

/// A position in a friends listing: listing order is state rank, then most recent change first,
/// then other user's id descending (a tie-breaker so that the order is total).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FriendPosition {
    /// State of the edge.
    pub state: FriendState,
    /// Last change of the edge.
    pub updated_at: DateTime<Utc>,
    /// The other user.
    pub other: UserId,
}

/// What page of friends to read.
#[derive(Debug, Clone, PartialEq)]
pub struct FriendListQuery {
    /// Only these states; empty means all.
    pub states: Vec<FriendState>,
    /// Start strictly after this position.
    pub after: Option<FriendPosition>,
    /// At most this many rows.
    pub limit: u32,
    /// Users banned at this moment are left out.
    pub visible_at: DateTime<Utc>,
}

/// Number of edges of each state a user has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FriendCounts {
    /// FRIEND edges.
    pub friends: u32,
    /// INVITE_SENT edges (shadow requests included).
    pub invites_sent: u32,
    /// INVITE_RECEIVED edges.
    pub invites_received: u32,
    /// BLOCKED edges.
    pub blocked: u32,
}

impl FriendCounts {
    /// Adds one edge of `state`.
    pub fn add(&mut self, state: FriendState, n: u32) {
        match state {
            FriendState::Friend => self.friends += n,
            FriendState::InviteSent => self.invites_sent += n,
            FriendState::InviteReceived => self.invites_received += n,
            FriendState::Blocked => self.blocked += n,
        }
    }
}

/// Configured limits per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FriendLimits {
    /// Most friends per user.
    pub max_friends: u32,
    /// Most outgoing pending requests per user.
    pub max_pending_invites: u32,
    /// Most blocked users per user.
    pub max_blocks: u32,
}

impl Default for FriendLimits {
    fn default() -> Self {
        Self {
            max_friends: 1000,
            max_pending_invites: 500,
            max_blocks: 1000,
        }
    }
}
