//! `GET /metrics`: the Prometheus exporter behind the `metrics` facade the other crates record
//! through. Installed once per process (the recorder is the process's), shared by every node
//! a process runs (tests start several); database pool gauges are read at each scrape.

use std::sync::OnceLock;
use std::time::Duration;

use amity_persistence::Database;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{Unit, describe_gauge, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Connections of the database pool, by state (`in_use`, `idle`).
pub const DB_POOL_CONNECTIONS: &str = "amity_db_pool_connections";
/// How often histograms are folded (the exporter's upkeep).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's exporter, installed on first use.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(amity_graphql::observe::OPERATION_SECONDS.to_owned()),
                    &amity_graphql::observe::LATENCY_BUCKETS,
                )
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full(amity_persistence::BUS_DELIVERY_LAG.to_owned()),
                        &amity_persistence::BUS_LAG_BUCKETS,
                    )
                })
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    amity_graphql::observe::describe();
                    amity_persistence::describe_metrics();
                    amity_cache::describe_metrics();
                    describe_gauge!(
                        DB_POOL_CONNECTIONS,
                        Unit::Count,
                        "Connections of the database pool, by state (in_use, idle)"
                    );
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(
                        error = %amity_domain::error::chain(&e),
                        "metrics are off: the exporter could not be installed"
                    );
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the exporter (once per process) and keeps its histograms folded while `stopped`
/// stays false.
pub fn install(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let Some(handle) = handle() else { return };
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(UPKEEP_EVERY);
        loop {
            tokio::select! {
                _ = ticker.tick() => handle.run_upkeep(),
                _ = stopped.wait_for(|s| *s) => break,
            }
        }
    });
}

/// `router` with `GET /metrics`, which reads `db`'s pool at each scrape.
pub fn route(router: Router, db: Database) -> Router {
    router.route(
        "/metrics",
        get(move || {
            let db = db.clone();
            async move {
                let (in_use, idle) = db.pool_usage();
                gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
                gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
                let body = handle().map(PrometheusHandle::render).unwrap_or_default();
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    body,
                )
                    .into_response()
            }
        }),
    )
}
