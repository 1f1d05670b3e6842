//! GraphQL object types. They wrap domain values and are separate from storage rows.

mod enums;
mod friend;
mod friend_page;
pub mod message;
mod moderation;
mod notification;
mod recommendation;
mod user;

pub use enums::{FriendStateGql, NotificationCodeGql, RoleGql, SocialNetworkGql};
pub use friend::{FriendConnection, FriendCountsGql, FriendEdge, FriendGql};
pub use friend_page::{FriendEdges, FriendsPageProbe};
pub use message::{DirectMessageConnection, DirectMessageEdge, DirectMessageGql, PresenceEventGql};
pub use moderation::ModerationEntryGql;
pub use notification::{NotificationConnection, NotificationEdge, NotificationGql};
pub use recommendation::FriendRecommendationGql;
pub use user::{AuthPayload, SessionGql, UserGql};

use async_graphql::SimpleObject;

/// Relay-style page information.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "PageInfo")]
pub struct PageInfo {
    /// Whether another page follows.
    pub has_next_page: bool,
    /// The cursor of the last edge (for notifications, the cursor to keep even when the page is
    /// empty).
    pub end_cursor: Option<String>,
}
