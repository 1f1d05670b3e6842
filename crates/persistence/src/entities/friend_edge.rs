//! The `friend_edges` table: one directed edge per side of a pair.

use sea_orm::entity::prelude::*;

/// One edge: how `user_id` sees `friend_id`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "friend_edges")]
pub struct Model {
    /// The owner of the view.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The other user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub friend_id: Uuid,
    /// State rank: 0 FRIEND, 1 INVITE_SENT, 2 INVITE_RECEIVED, 3 BLOCKED.
    pub state: i16,
    /// Microseconds since the epoch.
    pub updated_at: i64,
    /// The owner's JSON object as text.
    pub metadata: Option<String>,
    /// The network an imported friendship came from (`facebook`, `steam`); null if hand-made.
    pub source: Option<String>,
}

/// The other user of an edge.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `friend_id` -> `users.id`.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::FriendId",
        to = "super::user::Column::Id"
    )]
    Friend,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Friend.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
