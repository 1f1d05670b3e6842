//! The `moderation_log` table: the audit log of bans, unbans and role changes.

use sea_orm::entity::prelude::*;

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "moderation_log")]
pub struct Model {
    /// UUID v7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The acting user; null for the command line and server code (or a deleted actor).
    pub actor_id: Option<Uuid>,
    /// The actor as a person reads it.
    pub actor_label: String,
    /// Who was acted on.
    pub target_id: Uuid,
    /// `BAN`, `UNBAN` or `SET_ROLE`.
    pub action: String,
    /// The reason given.
    pub reason: Option<String>,
    /// The end of a ban, microseconds since the epoch.
    pub until: Option<i64>,
    /// The new role of a role change.
    pub role: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

/// No relations are navigated from log entries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
