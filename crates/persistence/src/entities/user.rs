//! The `users` table.

use sea_orm::entity::prelude::*;

/// One user row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// UUID v7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Handle as typed.
    pub handle: String,
    /// Lower-cased handle, unique.
    pub handle_key: String,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Optional avatar address.
    pub avatar_url: Option<String>,
    /// JSON object as text.
    pub metadata: Option<String>,
    /// `user`, `moderator` or `admin`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub last_seen_at: Option<i64>,
    /// When the current ban was set (null: not banned), microseconds since the epoch.
    pub banned_at: Option<i64>,
    /// When the ban ends by itself (null: permanent), microseconds since the epoch.
    pub banned_until: Option<i64>,
    /// Why.
    pub ban_reason: Option<String>,
    /// Tokens issued at or before this are refused, microseconds since the epoch.
    pub sessions_valid_after: Option<i64>,
    /// When the account was deleted (the row is then a tombstone), microseconds since the epoch.
    pub deleted_at: Option<i64>,
    /// SHA-256 of the guest device id, hex (`authenticateDevice`).
    pub device_key: Option<String>,
    /// Lower-cased display name, for prefix search.
    pub display_name_key: Option<String>,
}

/// No relations are navigated from users.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
