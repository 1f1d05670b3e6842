//! Who blocked a user: a small partial index over BLOCKED edges by their target, so that the
//! graph cache loads a user's "blocked by" list without scanning every edge.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Partial indexes are written the same on SQLite and PostgreSQL; sea-query's builder
        // has no portable WHERE for them. 3 is the stored rank of BLOCKED.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_friend_edges_blocked_by ON friend_edges (friend_id) \
                 WHERE state = 3",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX idx_friend_edges_blocked_by")
            .await
            .map(|_| ())
    }
}
