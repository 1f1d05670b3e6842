//! Recommendations: the people a user dismissed from "people you may know".

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
enum DismissedRecommendations {
    Table,
    UserId,
    DismissedId,
    DismissedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let fk = |column: DismissedRecommendations| {
            ForeignKey::create()
                .from(DismissedRecommendations::Table, column)
                .to(Users::Table, Users::Id)
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned()
        };
        manager
            .create_table(
                Table::create()
                    .table(DismissedRecommendations::Table)
                    .col(uuid(DismissedRecommendations::UserId))
                    .col(uuid(DismissedRecommendations::DismissedId))
                    .col(big_integer(DismissedRecommendations::DismissedAt))
                    // "Did I dismiss this candidate": a point lookup per candidate.
                    .primary_key(
                        Index::create()
                            .col(DismissedRecommendations::UserId)
                            .col(DismissedRecommendations::DismissedId),
                    )
                    .foreign_key(&mut fk(DismissedRecommendations::UserId))
                    .foreign_key(&mut fk(DismissedRecommendations::DismissedId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(DismissedRecommendations::Table)
                    .to_owned(),
            )
            .await
    }
}
