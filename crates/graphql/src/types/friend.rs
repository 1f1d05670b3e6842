//! Friends: edges, the connection and counts.

use amity_domain::friends::{FriendCounts, FriendView};
use amity_domain::ids::UserId;
use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::types::{FriendEdges, FriendStateGql, PageInfo, SocialNetworkGql, UserGql};

/// Another user as the viewer sees them.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Friend")]
pub struct FriendGql {
    /// Stable for the viewer and the other user (`VIEWER:OTHER`), so that client caches
    /// (Apollo, urql graphcache) update an edge from the `Friend` a mutation returns.
    pub id: ID,
    /// The other user.
    pub user: UserGql,
    /// How the viewer sees them.
    pub state: FriendStateGql,
    /// When this edge last changed.
    pub updated_at: DateTime<Utc>,
    /// The viewer's private JSON object on this edge.
    pub metadata: Option<Json<serde_json::Value>>,
    /// The network this friendship was imported from; null if it was made here.
    pub source: Option<SocialNetworkGql>,
}

impl FriendGql {
    /// The viewer's edge to another user; `online` when that user's presence is already known.
    pub fn new(viewer: UserId, v: FriendView, online: Option<bool>) -> Self {
        Self {
            id: Self::id_of(viewer, v.user.id),
            user: UserGql::seen_by(v.user, viewer, Some(v.state)).knowing_online(online),
            state: v.state.into(),
            updated_at: v.updated_at,
            metadata: v.metadata.map(|m| Json(m.to_value())),
            source: v.source.map(Into::into),
        }
    }

    /// The `Friend.id` of the viewer's edge to `other`.
    pub fn id_of(viewer: UserId, other: UserId) -> ID {
        ID(format!("{viewer}:{other}"))
    }

    /// The viewer's edges, presence unknown.
    pub fn all(viewer: UserId, views: Vec<FriendView>) -> Vec<Self> {
        views
            .into_iter()
            .map(|v| Self::new(viewer, v, None))
            .collect()
    }
}

/// One edge of a friends page.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "FriendEdge")]
pub struct FriendEdge {
    /// Pass as `after` to continue after this edge.
    pub cursor: String,
    /// The friend.
    pub node: FriendGql,
}

/// A page of friends.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "FriendConnection")]
pub struct FriendConnection {
    /// The edges, by state (FRIEND, INVITE_SENT, INVITE_RECEIVED, BLOCKED), then most recent
    /// change first.
    pub edges: FriendEdges,
    /// Paging.
    pub page_info: PageInfo,
}

/// How many users the viewer has in each state.
#[derive(Debug, Clone, Copy, SimpleObject)]
#[graphql(name = "FriendCounts")]
pub struct FriendCountsGql {
    /// FRIEND.
    pub friend: u32,
    /// INVITE_SENT.
    pub invite_sent: u32,
    /// INVITE_RECEIVED.
    pub invite_received: u32,
    /// BLOCKED.
    pub blocked: u32,
}

impl From<FriendCounts> for FriendCountsGql {
    fn from(c: FriendCounts) -> Self {
        Self {
            friend: c.friends,
            invite_sent: c.invites_sent,
            invite_received: c.invites_received,
            blocked: c.blocked,
        }
    }
}
