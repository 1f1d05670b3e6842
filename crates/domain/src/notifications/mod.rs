//! Persistent notifications: what a user is told, kept until they delete it.

mod service;
pub mod system;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{NotificationId, UserId};

pub use service::{NotificationPage, NotificationService};

/// Largest page of notifications.
pub const NOTIFICATIONS_PAGE_MAX: u32 = 1000;
/// Most ids accepted by one mark-read or delete call.
pub const NOTIFICATION_IDS_MAX: usize = 1000;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationCode {
    /// Someone asked to be your friend.
    FriendRequest,
    /// Someone accepted your request.
    FriendAccepted,
    /// A friend unfriended you.
    FriendRemoved,
    /// A friend from an imported network joined.
    FriendJoined,
    /// A direct message arrived.
    DirectMessage,
    /// A message from the operators.
    System,
}

impl NotificationCode {
    /// Every code.
    pub const ALL: [NotificationCode; 6] = [
        NotificationCode::FriendRequest,
        NotificationCode::FriendAccepted,
        NotificationCode::FriendRemoved,
        NotificationCode::FriendJoined,
        NotificationCode::DirectMessage,
        NotificationCode::System,
    ];

    /// The stored form (stable: never renumber).
    pub fn as_i16(self) -> i16 {
        match self {
            NotificationCode::FriendRequest => 1,
            NotificationCode::FriendAccepted => 2,
            NotificationCode::FriendRemoved => 3,
            NotificationCode::FriendJoined => 4,
            NotificationCode::DirectMessage => 5,
            NotificationCode::System => 6,
        }
    }

    /// The inverse of [`NotificationCode::as_i16`].
    pub fn from_i16(code: i16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_i16() == code)
    }
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Its id; time-ordered, so the listing order.
    pub id: NotificationId,
    /// Who receives it.
    pub recipient: UserId,
    /// What it is about.
    pub code: NotificationCode,
    /// A short human-readable line.
    pub subject: String,
    /// Machine-readable detail (a JSON object).
    pub content: Value,
    /// Who caused it, if a user did.
    pub sender: Option<UserId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When the recipient marked it read.
    pub read_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in NotificationCode::ALL {
            assert_eq!(NotificationCode::from_i16(c.as_i16()), Some(c));
        }
        assert_eq!(NotificationCode::from_i16(0), None);
    }
}
