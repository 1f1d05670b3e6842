//! Direct messages: 1-on-1 text between friends, stored, paged newest first and pushed live.

mod service;

use chrono::{DateTime, Utc};

use crate::{DomainError, MessageId, Result, UserId};

pub use service::{DirectMessagePage, DirectMessageService};

/// Longest message body, in characters.
pub const BODY_MAX_CHARS: usize = 4000;
/// Largest page of history.
pub const MESSAGES_PAGE_MAX: u32 = 1000;

/// A stored direct message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectMessage {
    /// Its id; time-ordered, so the history order.
    pub id: MessageId,
    /// Who wrote it.
    pub sender: UserId,
    /// Who it is for.
    pub recipient: UserId,
    /// The text.
    pub body: MessageBody,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

impl DirectMessage {
    /// Whether `user` wrote or received it.
    pub fn involves(&self, user: UserId) -> bool {
        self.sender == user || self.recipient == user
    }
}

/// A message body: 1 to [`BODY_MAX_CHARS`] characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    /// Checks a body as a client sent it.
    pub fn parse(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(DomainError::invalid("body", "must not be empty"));
        }
        let chars = text.chars().count();
        if chars > BODY_MAX_CHARS {
            return Err(DomainError::invalid(
                "body",
                format!("at most {BODY_MAX_CHARS} characters, {chars} given"),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// A body read back from storage (already checked when it was sent).
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_bounded() {
        assert!(MessageBody::parse("hi").is_ok());
        assert!(MessageBody::parse("").is_err());
        assert!(MessageBody::parse(" \n\t").is_err());
        assert!(MessageBody::parse(&"é".repeat(BODY_MAX_CHARS)).is_ok());
        let err = MessageBody::parse(&"x".repeat(BODY_MAX_CHARS + 1)).unwrap_err();
        assert_eq!(err.to_string(), "body: at most 4000 characters, 4001 given");
    }
}
