//! Amity's database schema as frozen, ordered steps.
//!
//! One file per step, named `mYYYYMMDD_HHMMSS_verb_noun.rs`. A step that has shipped is never
//! edited: change the schema with a new step. Steps describe tables with sea-query only and never
//! import the persistence crate's entities, so that old steps keep compiling as entities evolve.
//!
//! Every step must work on both SQLite and PostgreSQL; the persistence crate's tests run them up,
//! down and up again on both.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_graph;
mod m20261125_000002_create_realtime;
mod m20261125_000003_create_moderation;
mod m20261125_000004_create_social;
mod m20261125_000005_create_recommendations;
mod m20261202_000001_create_blocked_by_index;
mod m20261203_000001_create_sessions;

/// All steps, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_graph::Migration),
            Box::new(m20261125_000002_create_realtime::Migration),
            Box::new(m20261125_000003_create_moderation::Migration),
            Box::new(m20261125_000004_create_social::Migration),
            Box::new(m20261125_000005_create_recommendations::Migration),
            Box::new(m20261202_000001_create_blocked_by_index::Migration),
            Box::new(m20261203_000001_create_sessions::Migration),
        ]
    }
}
