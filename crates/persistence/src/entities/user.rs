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
}

/// No relations are navigated from users.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
