//! Users, friend edges and notifications.
//!
//! Timestamps are BIGINT microseconds since the Unix epoch, so that they compare and round-trip
//! exactly on every backend (keyset cursors depend on that). JSON is stored as text.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Handle,
    HandleKey,
    DisplayName,
    AvatarUrl,
    Metadata,
    Role,
    PasswordHash,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum FriendEdges {
    Table,
    UserId,
    FriendId,
    State,
    UpdatedAt,
    Metadata,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    RecipientId,
    Code,
    Subject,
    Content,
    SenderId,
    CreatedAt,
    ReadAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::Id).primary_key())
                    .col(string_len(Users::Handle, 32))
                    // Lower-cased handle: uniqueness and lookups are case-insensitive.
                    .col(string_len_uniq(Users::HandleKey, 32))
                    .col(string_len_null(Users::DisplayName, 64))
                    .col(text_null(Users::AvatarUrl))
                    .col(text_null(Users::Metadata))
                    .col(string_len(Users::Role, 16).default("user"))
                    .col(text_null(Users::PasswordHash))
                    .col(big_integer(Users::CreatedAt))
                    .col(big_integer_null(Users::LastSeenAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(FriendEdges::Table)
                    .col(uuid(FriendEdges::UserId))
                    .col(uuid(FriendEdges::FriendId))
                    // 0 FRIEND, 1 INVITE_SENT, 2 INVITE_RECEIVED, 3 BLOCKED: the listing order.
                    .col(small_integer(FriendEdges::State))
                    .col(big_integer(FriendEdges::UpdatedAt))
                    .col(text_null(FriendEdges::Metadata))
                    // The pair lookup: (owner, other) in both directions.
                    .primary_key(
                        Index::create()
                            .col(FriendEdges::UserId)
                            .col(FriendEdges::FriendId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FriendEdges::Table, FriendEdges::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(FriendEdges::Table, FriendEdges::FriendId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The friends page: one owner's edges by state, newest change first; also serves the
        // per-state counts.
        manager
            .create_index(
                Index::create()
                    .name("idx_friend_edges_listing")
                    .table(FriendEdges::Table)
                    .col(FriendEdges::UserId)
                    .col(FriendEdges::State)
                    .col((FriendEdges::UpdatedAt, IndexOrder::Desc))
                    .col((FriendEdges::FriendId, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(uuid(Notifications::Id).primary_key())
                    .col(uuid(Notifications::RecipientId))
                    .col(small_integer(Notifications::Code))
                    .col(text(Notifications::Subject))
                    .col(text(Notifications::Content))
                    .col(uuid_null(Notifications::SenderId))
                    .col(big_integer(Notifications::CreatedAt))
                    .col(big_integer_null(Notifications::ReadAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Notifications::Table, Notifications::RecipientId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Notifications::Table, Notifications::SenderId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // The notifications page: one recipient's, in id (= time) order.
        manager
            .create_index(
                Index::create()
                    .name("idx_notifications_recipient")
                    .table(Notifications::Table)
                    .col(Notifications::RecipientId)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Notifications::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(FriendEdges::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await?;
        Ok(())
    }
}
