//! Amity's storage: sea-orm adapters for the domain's ports, on SQLite and PostgreSQL.
//!
//! - [`Database`]: connecting (with SQLite tuned for a server: WAL, `synchronous=NORMAL`, a busy
//!   timeout, foreign keys) and running the migrations of `amity-migrations`.
//! - [`SqlStore`]: implements [`amity_domain::ports::Store`] (`store.rs`, presence in
//!   `presence.rs`); its write transactions (`transaction.rs`) lock the users of a pair in id
//!   order on PostgreSQL and take the single writer slot on SQLite, so that concurrent changes
//!   to one pair are serialized. What both run on their own connection (edge counts, inserting
//!   a user, the edge upsert) is in `queries.rs`.
//! - [`PgEventBus`]: the event bus across nodes on PostgreSQL LISTEN/NOTIFY.
//! - [`entities`]: the rows as sea-orm models; `rows.rs`: the user and edge columns by name,
//!   decoded in one place (re-exported by [`reads`]); [`convert`]: rows to domain types and
//!   database errors to domain errors.
//! - Raw SQL (`sql.rs`): `?` placeholders and [`reads::Param`]s, numbered for PostgreSQL in one
//!   place, and the fragments statements share, such as the one rule for "not banned at T".
//!   [`reads`] holds the hottest reads' fixed SQL (run through sqlx directly), the
//!   recommendation walk's statements are in `recommendations.rs`; [`bulk`] loads generated
//!   data sets.
//! - `testing` (feature `testing`): a fresh database per test, SQLite in a temporary directory
//!   or, when `AMITY_TEST_DATABASE_URL` is set, a new PostgreSQL database dropped afterwards.
//!
//! See README.md for which query each index serves.

mod accounts;
pub mod bulk;
pub mod convert;
mod database;
pub mod entities;
mod pg_bus;
mod presence;
mod queries;
pub mod reads;
mod recommendations;
mod rows;
mod sessions;
mod sql;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod transaction;

pub use database::{
    Backend, CONNECT_PROBE_TIMEOUT, DEFAULT_ACQUIRE_TIMEOUT, Database, MigrationStatus,
    PersistenceError, PoolSettings, redact,
};
pub use pg_bus::{BUS_DELIVERY_LAG, BUS_LAG_BUCKETS, PgBusWorker, PgEventBus, describe_metrics};
pub use store::SqlStore;
