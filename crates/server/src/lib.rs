//! The Amity server: configuration ([`config`]), the command line ([`cli`]), wiring the
//! adapters into the services and serving with graceful shutdown ([`app`]), and the
//! Prometheus exporter behind `GET /metrics` ([`metrics`]).
//!
//! Embedding or testing: build [`config::Settings`] and call [`app::RunningServer::start`] with a clock ([`amity_domain::time::SystemClock`]).

pub mod app;
pub mod cli;
pub mod config;
pub mod metrics;

pub use app::RunningServer;
pub use config::Settings;
