//! The `direct_messages` table.

use sea_orm::entity::prelude::*;

/// One stored direct message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "direct_messages")]
pub struct Model {
    /// UUID v7: the history order.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Who wrote it.
    pub sender_id: Uuid,
    /// Who it is for.
    pub recipient_id: Uuid,
    /// The smaller of the two ids: with `user_high`, the conversation.
    pub user_low: Uuid,
    /// The larger of the two ids.
    pub user_high: Uuid,
    /// The text.
    pub body: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

/// No relations are navigated from messages.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
