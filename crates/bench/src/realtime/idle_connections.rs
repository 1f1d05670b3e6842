//! `realtime idle-connections`: opens many authenticated websockets, each with a live
//! `notifications` subscription, holds them idle, and reads how much the server's resident
//! memory (VmRSS in `/proc/PID/status`) grew per connection.
//!
//! The server must run on this machine, with an open-files limit above the connection count
//! (`ulimit -n`); this tool raises its own limit as far as the hard limit allows.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use serde_json::json;

use super::{close_all, connect_many, endpoints};
use crate::cli::IdleConnectionsArgs;
use crate::report::Report;
use crate::server_process::Server;
use crate::setup::{run_prefix, sign_up_many};
use crate::stats::ErrorTally;
use crate::ws::Operation;

const SUBSCRIPTION: &str = "subscription { notifications { id } }";
/// Descriptors this process needs beside its websockets (HTTP pool, stdio, runtime).
const SPARE_FILES: u64 = 256;
/// How long memory is left to settle before and after the connections.
const SETTLE: Duration = Duration::from_secs(2);

/// Runs the benchmark.
pub async fn run(args: IdleConnectionsArgs) -> anyhow::Result<Report> {
    let (client, ws_url) = endpoints(&args.common.url)?;
    let server = Server::new(args.server_pid);
    let needed = u64::from(args.connections) + SPARE_FILES;
    if let Some(limit) = server.open_files_limit()?
        && limit < needed
    {
        anyhow::bail!(
            "the server (pid {}) may open only {limit} files; start it after `ulimit -n {needed}` or higher",
            args.server_pid
        );
    }
    let ours = rlimit::increase_nofile_limit(needed).context("raising RLIMIT_NOFILE")?;
    if ours < needed {
        anyhow::bail!(
            "this process may open only {ours} files (the hard limit); {needed} are needed"
        );
    }

    let users = sign_up_many(
        &client,
        &run_prefix(),
        "idle",
        args.users,
        args.common.setup_concurrency,
    )
    .await?;
    tokio::time::sleep(SETTLE).await;
    let before = server.resident_bytes()?;
    let started_at = Utc::now();
    let began = Instant::now();
    let connections = args.connections as usize;
    let sessions = connect_many(
        &ws_url,
        users.iter().cycle().take(connections),
        connections,
        args.connect_concurrency,
    )
    .await?;
    let opened_in = began.elapsed();
    let mut subscriptions = Vec::with_capacity(connections);
    for session in &sessions {
        subscriptions.push(
            session
                .subscribe(Operation::new(SUBSCRIPTION, json!({})))
                .await?,
        );
    }
    eprintln!(
        "{connections} websockets open and subscribed; idle for {} s...",
        args.idle_secs
    );
    tokio::time::sleep(SETTLE + Duration::from_secs(args.idle_secs)).await;
    let held = server.resident_bytes()?;
    let mut errors = ErrorTally::default();
    let closed_early = sessions.iter().filter(|s| s.is_closed()).count();
    errors.add_many("connection closed while idle", closed_early as u64);
    let measured = began.elapsed().as_secs_f64();

    drop(subscriptions);
    close_all(sessions, args.connect_concurrency).await;
    tokio::time::sleep(SETTLE).await;
    let after = server.resident_bytes()?;

    let grown = held.saturating_sub(before);
    let per_connection = grown as f64 / connections as f64;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "realtime idle-connections against {} (pid {})",
        args.common.url, args.server_pid
    );
    println!(
        "  {connections} connections over {} users opened in {:.1} s",
        args.users,
        opened_in.as_secs_f64()
    );
    println!(
        "  server RSS: {:.1} MiB before, {:.1} MiB holding them, {:.1} MiB after closing them",
        mib(before),
        mib(held),
        mib(after)
    );
    println!(
        "  per connection: {:.1} KiB ({per_connection:.0} bytes)",
        per_connection / 1024.0
    );
    println!("  errors: {errors}");
    let figures = json!({
        "connections": connections,
        "open_secs": opened_in.as_secs_f64(),
        "rss_before_bytes": before,
        "rss_holding_bytes": held,
        "rss_after_close_bytes": after,
        "bytes_per_connection": per_connection,
    });
    Report::new(
        "realtime/idle-connections",
        &args,
        started_at,
        measured,
        figures,
        errors,
    )
}
