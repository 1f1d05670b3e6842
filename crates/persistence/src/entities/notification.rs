//! The `notifications` table.

use sea_orm::entity::prelude::*;

/// One stored notification.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    /// UUID v7: the listing order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Who receives it.
    pub recipient_id: Uuid,
    /// Stored notification code.
    pub code: i16,
    /// Human-readable line.
    pub subject: String,
    /// JSON as text.
    pub content: String,
    /// Who caused it.
    pub sender_id: Option<Uuid>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub read_at: Option<i64>,
}

/// No relations are navigated from notifications.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
