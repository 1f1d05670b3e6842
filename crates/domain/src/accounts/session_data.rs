//! The data of sessions, as the store ports exchange it (see [`super::sessions`] for what
//! they mean).

use chrono::{DateTime, Utc};

use crate::{SessionId, UserId};

/// One session as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Its id.
    pub id: SessionId,
    /// Whose.
    pub user: UserId,
    /// What the client called the device at sign-in.
    pub device_label: Option<String>,
    /// When it was started (the sign-in).
    pub created_at: DateTime<Utc>,
    /// When it was last signed in or refreshed.
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed before.
    pub expires_at: DateTime<Utc>,
}

/// A session to store, with the digest of its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session.
    pub info: SessionInfo,
    /// [`SecretDigest::digest`] of the refresh token.
    pub refresh_digest: String,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// The token was current: it is used now, the new one replaces it.
    Rotated(SessionInfo),
    /// The token had been used before: the session is ended.
    Reused {
        /// The ended session.
        session: SessionId,
        /// Whose it was.
        user: UserId,
    },
    /// The token's session has ended by itself (expired) or was ended.
    Expired,
    /// No such token.
    Unknown,
}

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionScope {
    /// This one.
    One(SessionId),
    /// All of them.
    All,
    /// All but this one.
    AllBut(SessionId),
}
