//! The `dismissed_recommendations` table: who a user does not want recommended again.

use sea_orm::entity::prelude::*;

/// One dismissal.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dismissed_recommendations")]
pub struct Model {
    /// Who dismissed.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Who was dismissed.
    #[sea_orm(primary_key, auto_increment = false)]
    pub dismissed_id: Uuid,
    /// Microseconds since the epoch.
    pub dismissed_at: i64,
}

/// No relations are navigated from dismissals.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
