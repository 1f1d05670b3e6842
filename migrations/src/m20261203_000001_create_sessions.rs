//! The complete account lifecycle: sessions with rotating refresh tokens, guest devices,
//! deleted accounts (tombstones), user search and system-notification jobs.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    DeletedAt,
    DeviceKey,
    DisplayNameKey,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    DeviceLabel,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SessionTokens {
    Table,
    Hash,
    SessionId,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum NotificationJobs {
    Table,
    Id,
    Subject,
    Content,
    CreatedAt,
    Cursor,
    Delivered,
    FinishedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        // Set when the account was deleted; the row stays as a tombstone.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer_null(Users::DeletedAt))
                    .to_owned(),
            )
            .await?;
        // SHA-256 of a guest device id (hex), for `authenticateDevice`.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_len_null(Users::DeviceKey, 64))
                    .to_owned(),
            )
            .await?;
        // Lower-cased display name, for prefix search.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_len_null(Users::DisplayNameKey, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_device_key")
                    .table(Users::Table)
                    .col(Users::DeviceKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE users SET display_name_key = LOWER(display_name)")
            .await?;
        // Prefix search compares keys byte by byte (a range `>= q AND < q || U+10FFFF`): on
        // PostgreSQL that needs the "C" collation, whatever the database's own is; SQLite
        // compares bytes already.
        let (handle_index, name_index) = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => (
                "CREATE INDEX idx_users_handle_prefix ON users (handle_key COLLATE \"C\")",
                "CREATE INDEX idx_users_display_name_prefix ON users (display_name_key COLLATE \"C\")",
            ),
            _ => (
                "CREATE INDEX idx_users_handle_prefix ON users (handle_key)",
                "CREATE INDEX idx_users_display_name_prefix ON users (display_name_key)",
            ),
        };
        db.execute_unprepared(handle_index).await?;
        db.execute_unprepared(name_index).await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid(Sessions::Id).primary_key())
                    .col(uuid(Sessions::UserId))
                    .col(string_len_null(Sessions::DeviceLabel, 64))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::LastUsedAt))
                    .col(big_integer(Sessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionTokens::Table)
                    // SHA-256 of the refresh token (hex): the token itself is never stored.
                    .col(string_len(SessionTokens::Hash, 64).primary_key())
                    .col(uuid(SessionTokens::SessionId))
                    .col(big_integer(SessionTokens::CreatedAt))
                    // Set when it was exchanged: presenting it again is a reuse.
                    .col(big_integer_null(SessionTokens::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionTokens::Table, SessionTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_session_tokens_session")
                    .table(SessionTokens::Table)
                    .col(SessionTokens::SessionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationJobs::Table)
                    .col(uuid(NotificationJobs::Id).primary_key())
                    .col(text(NotificationJobs::Subject))
                    .col(text_null(NotificationJobs::Content))
                    .col(big_integer(NotificationJobs::CreatedAt))
                    // The last user id delivered to (users are walked in id order).
                    .col(uuid_null(NotificationJobs::Cursor))
                    .col(big_integer(NotificationJobs::Delivered).default(0))
                    .col(big_integer_null(NotificationJobs::FinishedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(NotificationJobs::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SessionTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await?;
        let db = manager.get_connection();
        for index in [
            "idx_users_display_name_prefix",
            "idx_users_handle_prefix",
            "idx_users_device_key",
        ] {
            db.execute_unprepared(&format!("DROP INDEX {index}"))
                .await?;
        }
        for column in [Users::DisplayNameKey, Users::DeviceKey, Users::DeletedAt] {
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
