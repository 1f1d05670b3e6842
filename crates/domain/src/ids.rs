//! Typed identifiers. All are time-ordered UUID v7, so that ordering by id is ordering by creation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an id read back from storage.
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the textual form a client sends, naming `field` in the error.
            pub fn parse(field: &'static str, text: &str) -> Result<Self, DomainError> {
                text.parse()
                    .map_err(|_| DomainError::invalid(field, format!("\"{text}\" is not a valid {}", $what)))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

uuid_id!(
    /// A user's id.
    UserId,
    "user id"
);
uuid_id!(
    /// A notification's id.
    NotificationId,
    "notification id"
);
uuid_id!(
    /// A direct message's id.
    MessageId,
    "message id"
);
uuid_id!(
    /// A moderation log entry's id.
    ModerationEntryId,
    "moderation entry id"
);
uuid_id!(
    /// A session's id (one sign-in on one device).
    SessionId,
    "session id"
);
uuid_id!(
    /// A background job's id.
    JobId,
    "job id"
);
uuid_id!(
    /// A server node's id, fresh at every start.
    NodeId,
    "node id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered() {
        let a = UserId::new();
        let b = UserId::new();
        assert!(a < b);
    }

    #[test]
    fn parse_round_trips_and_rejects_garbage() {
        let id = UserId::new();
        assert_eq!(UserId::parse("id", &id.to_string()).unwrap(), id);
        let err = UserId::parse("ids", "not-a-uuid").unwrap_err();
        assert_eq!(
            err.to_string(),
            "ids: \"not-a-uuid\" is not a valid user id"
        );
    }
}
