//! The `nodes` table: running server nodes and their heartbeats.

use sea_orm::entity::prelude::*;

/// One server node.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "nodes")]
pub struct Model {
    /// Fresh at every start.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Microseconds since the epoch.
    pub started_at: i64,
    /// Microseconds since the epoch; old means dead.
    pub heartbeat_at: i64,
}

/// No relations are navigated from nodes.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
