//! The user and edge columns as rows with named fields, and the one place they are decoded.
//!
//! The fixed-SQL reads select a user's columns with [`user_columns!`] and let sqlx decode them
//! by position into a flat tuple ([`UserRow`], or [`FriendPageRow`] with the edge's columns
//! after the user's); [`UserRecord`] and [`EdgeRecord`] name them, from those tuples or from
//! sea-orm's models. The conversions to domain types ([`crate::convert`]) read only the names.

use uuid::Uuid;

use crate::entities::{friend_edge, user};

/// The user columns the fixed-SQL reads select (users as `u`), in the order of [`UserRow`].
macro_rules! user_columns {
    () => {
        "u.id, u.handle, u.display_name, u.avatar_url, u.metadata, u.role, u.created_at, \
         u.last_seen_at, u.banned_at, u.banned_until, u.ban_reason, u.deleted_at"
    };
}
pub(crate) use user_columns;

/// The columns of a user in the order they are selected: id, handle, display name, avatar
/// URL, metadata, role, created at, last seen at, banned at, banned until, ban reason, deleted
/// at.
/// [`UserRecord`] names them.
pub type UserRow = (
    Uuid,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

/// One row of a friends page as [`crate::reads::friend_page_sql`] selects it: the other user's
/// columns (those of [`UserRow`], the friend's id first), then the edge's state rank, updated
/// at, metadata and source. (sqlx decodes tuples flat, so the user's types are spelled again.)
/// [`EdgeRecord`] names them.
pub type FriendPageRow = (
    Uuid,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i16,
    i64,
    Option<String>,
    Option<String>,
);

/// A user's stored columns (those a domain user is made of), by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user's id.
    pub id: Uuid,
    /// The handle as registered.
    pub handle: String,
    /// The display name, if set.
    pub display_name: Option<String>,
    /// The avatar URL, if set.
    pub avatar_url: Option<String>,
    /// The user's JSON object as text.
    pub metadata: Option<String>,
    /// The role's name.
    pub role: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch; null until the user first goes offline.
    pub last_seen_at: Option<i64>,
    /// When the current ban began; null when not banned.
    pub banned_at: Option<i64>,
    /// When the current ban ends; null for a permanent ban.
    pub banned_until: Option<i64>,
    /// Why the user is banned.
    pub ban_reason: Option<String>,
    /// When the account was deleted (the row is a tombstone); null for a live account.
    pub deleted_at: Option<i64>,
}

/// An edge's stored columns, by name, with the other user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRecord {
    /// The other user (the edge's `friend_id`).
    pub user: UserRecord,
    /// The state's rank.
    pub state: i16,
    /// Microseconds since the epoch.
    pub updated_at: i64,
    /// The owner's JSON object as text.
    pub metadata: Option<String>,
    /// The network an imported friendship came from.
    pub source: Option<String>,
}

impl From<UserRow> for UserRecord {
    fn from(row: UserRow) -> Self {
        let (
            id,
            handle,
            display_name,
            avatar_url,
            metadata,
            role,
            created_at,
            last_seen_at,
            banned_at,
            banned_until,
            ban_reason,
            deleted_at,
        ) = row;
        Self {
            id,
            handle,
            display_name,
            avatar_url,
            metadata,
            role,
            created_at,
            last_seen_at,
            banned_at,
            banned_until,
            ban_reason,
            deleted_at,
        }
    }
}

impl From<FriendPageRow> for EdgeRecord {
    fn from(row: FriendPageRow) -> Self {
        let (u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, u10, u11, state, updated_at, metadata, source) =
            row;
        Self {
            user: UserRecord::from((u0, u1, u2, u3, u4, u5, u6, u7, u8, u9, u10, u11)),
            state,
            updated_at,
            metadata,
            source,
        }
    }
}

impl From<user::Model> for UserRecord {
    fn from(row: user::Model) -> Self {
        Self {
            id: row.id,
            handle: row.handle,
            display_name: row.display_name,
            avatar_url: row.avatar_url,
            metadata: row.metadata,
            role: row.role,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            banned_at: row.banned_at,
            banned_until: row.banned_until,
            ban_reason: row.ban_reason,
            deleted_at: row.deleted_at,
        }
    }
}

impl From<(friend_edge::Model, user::Model)> for EdgeRecord {
    /// An edge row and the row of its other user.
    fn from((edge, other): (friend_edge::Model, user::Model)) -> Self {
        Self {
            user: other.into(),
            state: edge.state,
            updated_at: edge.updated_at,
            metadata: edge.metadata,
            source: edge.source,
        }
    }
}
