//! GraphQL enums mirroring the domain's.

use amity_domain::accounts::Role;
use amity_domain::friends::FriendState;
use amity_domain::notifications::NotificationCode;
use async_graphql::Enum;

/// How the viewer sees another user.
#[derive(Debug, Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "FriendState")]
pub enum FriendStateGql {
    /// Both accepted.
    Friend,
    /// The viewer asked them.
    InviteSent,
    /// They asked the viewer.
    InviteReceived,
    /// The viewer blocked them.
    Blocked,
}

impl From<FriendState> for FriendStateGql {
    fn from(s: FriendState) -> Self {
        match s {
            FriendState::Friend => Self::Friend,
            FriendState::InviteSent => Self::InviteSent,
            FriendState::InviteReceived => Self::InviteReceived,
            FriendState::Blocked => Self::Blocked,
        }
    }
}

impl From<FriendStateGql> for FriendState {
    fn from(s: FriendStateGql) -> Self {
        match s {
            FriendStateGql::Friend => Self::Friend,
            FriendStateGql::InviteSent => Self::InviteSent,
            FriendStateGql::InviteReceived => Self::InviteReceived,
            FriendStateGql::Blocked => Self::Blocked,
        }
    }
}

/// What a user may do.
#[derive(Debug, Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "Role")]
pub enum RoleGql {
    /// An ordinary user.
    User,
    /// May ban and unban.
    Moderator,
    /// May do everything.
    Admin,
}

impl From<Role> for RoleGql {
    fn from(r: Role) -> Self {
        match r {
            Role::User => Self::User,
            Role::Moderator => Self::Moderator,
            Role::Admin => Self::Admin,
        }
    }
}

/// What a notification is about.
#[derive(Debug, Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "NotificationCode")]
pub enum NotificationCodeGql {
    /// Someone asked to be your friend.
    FriendRequest,
    /// Someone accepted your request.
    FriendAccepted,
    /// A friend removed you.
    FriendRemoved,
    /// A friend from an imported network joined.
    FriendJoined,
    /// A direct message arrived.
    DirectMessage,
    /// A message from the operators.
    System,
}

impl From<NotificationCode> for NotificationCodeGql {
    fn from(c: NotificationCode) -> Self {
        match c {
            NotificationCode::FriendRequest => Self::FriendRequest,
            NotificationCode::FriendAccepted => Self::FriendAccepted,
            NotificationCode::FriendRemoved => Self::FriendRemoved,
            NotificationCode::FriendJoined => Self::FriendJoined,
            NotificationCode::DirectMessage => Self::DirectMessage,
            NotificationCode::System => Self::System,
        }
    }
}

/// A social network friends can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "SocialNetwork")]
pub enum SocialNetworkGql {
    /// Facebook.
    Facebook,
    /// Steam.
    Steam,
}

impl From<amity_domain::social::Network> for SocialNetworkGql {
    fn from(n: amity_domain::social::Network) -> Self {
        match n {
            amity_domain::social::Network::Facebook => Self::Facebook,
            amity_domain::social::Network::Steam => Self::Steam,
        }
    }
}
