//! The `external_accounts` table: a user's linked social network accounts.

use sea_orm::entity::prelude::*;

/// One linked account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "external_accounts")]
pub struct Model {
    /// `facebook` or `steam`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub network: String,
    /// The network's id of the account.
    #[sea_orm(primary_key, auto_increment = false)]
    pub external_id: String,
    /// The Amity user it is linked to.
    pub user_id: Uuid,
    /// Microseconds since the epoch.
    pub linked_at: i64,
}

/// No relations are navigated from linked accounts.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
