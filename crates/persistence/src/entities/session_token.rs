//! The `session_tokens` table: digests of a session's refresh tokens.

use sea_orm::entity::prelude::*;

/// One refresh token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_tokens")]
pub struct Model {
    /// SHA-256 of the token, hex.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hash: String,
    /// Its session.
    pub session_id: Uuid,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// When it was exchanged (null: it is the current one), microseconds since the epoch.
    pub used_at: Option<i64>,
}

/// No relations are navigated from tokens.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
