//! Moderation: ban state and session revocation on users, and the audit log.
//!
//! A ban is `banned_at` (set while a ban exists), `banned_until` (null: permanent) and
//! `ban_reason`; a ban past `banned_until` is over without anyone acting. `sessions_valid_after`
//! revokes every token issued at or before it (set by a ban, kept by an unban).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    BannedAt,
    BannedUntil,
    BanReason,
    SessionsValidAfter,
}

#[derive(DeriveIden)]
enum ModerationLog {
    Table,
    Id,
    ActorId,
    ActorLabel,
    TargetId,
    Action,
    Reason,
    Until,
    Role,
    CreatedAt,
}

/// The new user columns; SQLite takes one change per ALTER TABLE.
fn user_columns() -> [ColumnDef; 4] {
    [
        big_integer_null(Users::BannedAt),
        big_integer_null(Users::BannedUntil),
        text_null(Users::BanReason),
        big_integer_null(Users::SessionsValidAfter),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in user_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ModerationLog::Table)
                    .col(uuid(ModerationLog::Id).primary_key())
                    // Null when the command line or server code acted.
                    .col(uuid_null(ModerationLog::ActorId))
                    .col(text(ModerationLog::ActorLabel))
                    .col(uuid(ModerationLog::TargetId))
                    .col(text(ModerationLog::Action))
                    .col(text_null(ModerationLog::Reason))
                    .col(big_integer_null(ModerationLog::Until))
                    .col(text_null(ModerationLog::Role))
                    .col(big_integer(ModerationLog::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ModerationLog::Table, ModerationLog::ActorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ModerationLog::Table, ModerationLog::TargetId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Nodes polling for changes made elsewhere (the command line on SQLite): recent entries.
        manager
            .create_index(
                Index::create()
                    .name("idx_moderation_log_created_at")
                    .table(ModerationLog::Table)
                    .col(ModerationLog::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ModerationLog::Table).to_owned())
            .await?;
        for column in [
            Users::SessionsValidAfter,
            Users::BanReason,
            Users::BannedUntil,
            Users::BannedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
