//! Social networks: linked external accounts, and the network an imported friendship came from.

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
enum FriendEdges {
    Table,
    Source,
}

#[derive(DeriveIden)]
enum ExternalAccounts {
    Table,
    Network,
    ExternalId,
    UserId,
    LinkedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // `facebook` or `steam` on FRIEND edges an import made; null for hand-made ones.
        manager
            .alter_table(
                Table::alter()
                    .table(FriendEdges::Table)
                    .add_column(text_null(FriendEdges::Source))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExternalAccounts::Table)
                    .col(text(ExternalAccounts::Network))
                    .col(text(ExternalAccounts::ExternalId))
                    .col(uuid(ExternalAccounts::UserId))
                    .col(big_integer(ExternalAccounts::LinkedAt))
                    // Sign-in with a network, and matching imported friends: (network, id).
                    .primary_key(
                        Index::create()
                            .col(ExternalAccounts::Network)
                            .col(ExternalAccounts::ExternalId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExternalAccounts::Table, ExternalAccounts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One account per network per user, and "which account did this user link".
        manager
            .create_index(
                Index::create()
                    .name("idx_external_accounts_user")
                    .table(ExternalAccounts::Table)
                    .col(ExternalAccounts::UserId)
                    .col(ExternalAccounts::Network)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExternalAccounts::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FriendEdges::Table)
                    .drop_column(FriendEdges::Source)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
