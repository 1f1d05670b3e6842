//! The `presence` table: which user holds connections on which node.

use sea_orm::entity::prelude::*;

/// A user with at least one open connection on a node.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "presence")]
pub struct Model {
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The node.
    #[sea_orm(primary_key, auto_increment = false)]
    pub node_id: Uuid,
    /// Microseconds since the epoch.
    pub connected_at: i64,
}

/// The node of a presence row.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `node_id` -> `nodes.id`.
    #[sea_orm(
        belongs_to = "super::node::Entity",
        from = "Column::NodeId",
        to = "super::node::Column::Id"
    )]
    Node,
}

impl Related<super::node::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Node.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
