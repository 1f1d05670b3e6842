//! Server nodes, presence and direct messages.
//!
//! Presence is a row per (user, node) holding at least one open authenticated websocket; a user
//! is online while such a row belongs to a node whose heartbeat is recent. A node that dies
//! stops heartbeating, so its rows stop counting without anyone cleaning up first.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Nodes {
    Table,
    Id,
    StartedAt,
    HeartbeatAt,
}

#[derive(DeriveIden)]
enum Presence {
    Table,
    UserId,
    NodeId,
    ConnectedAt,
}

#[derive(DeriveIden)]
enum DirectMessages {
    Table,
    Id,
    SenderId,
    RecipientId,
    UserLow,
    UserHigh,
    Body,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Nodes::Table)
                    .col(uuid(Nodes::Id).primary_key())
                    .col(big_integer(Nodes::StartedAt))
                    .col(big_integer(Nodes::HeartbeatAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Presence::Table)
                    .col(uuid(Presence::UserId))
                    .col(uuid(Presence::NodeId))
                    .col(big_integer(Presence::ConnectedAt))
                    // Is this user online anywhere: a prefix scan on user_id.
                    .primary_key(Index::create().col(Presence::UserId).col(Presence::NodeId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Presence::Table, Presence::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Presence::Table, Presence::NodeId)
                            .to(Nodes::Table, Nodes::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Sweeping a dead node: all of its rows.
        manager
            .create_index(
                Index::create()
                    .name("idx_presence_node")
                    .table(Presence::Table)
                    .col(Presence::NodeId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DirectMessages::Table)
                    .col(uuid(DirectMessages::Id).primary_key())
                    .col(uuid(DirectMessages::SenderId))
                    .col(uuid(DirectMessages::RecipientId))
                    // The conversation: the pair's two ids, smaller first, whoever sent.
                    .col(uuid(DirectMessages::UserLow))
                    .col(uuid(DirectMessages::UserHigh))
                    .col(text(DirectMessages::Body))
                    .col(big_integer(DirectMessages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DirectMessages::Table, DirectMessages::SenderId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DirectMessages::Table, DirectMessages::RecipientId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A conversation's history, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_direct_messages_conversation")
                    .table(DirectMessages::Table)
                    .col(DirectMessages::UserLow)
                    .col(DirectMessages::UserHigh)
                    .col((DirectMessages::Id, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DirectMessages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Presence::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Nodes::Table).to_owned())
            .await?;
        Ok(())
    }
}
