//! End-to-end tests: the real server on a free port, driven over HTTP with GraphQL. Runs on
//! SQLite by default and on PostgreSQL when `AMITY_TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod accounts;
mod bench;
mod cache;
mod chaos;
mod clients;
mod contract;
mod edge;
mod friends;
mod lifecycle;
mod limits_and_errors;
mod moderation;
mod notifications;
mod operators;
mod paging;
mod realtime;
mod recommendations;
mod sessions;
mod social;
mod websockets;
