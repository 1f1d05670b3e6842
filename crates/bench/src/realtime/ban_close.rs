//! `realtime ban-close`: a user holds a subscribed websocket (on the target node); a moderator
//! bans them (through `--url`); the time until the server closes that websocket. The user is
//! unbanned and signs in again before each round (a ban ends every earlier session for good).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use serde_json::json;

use super::endpoints;
use crate::cli::BanCloseArgs;
use crate::client::PASSWORD;
use crate::report::Report;
use crate::setup::{run_prefix, sign_up_many};
use crate::stats::{ErrorTally, Latencies};
use crate::ws::{Operation, WsSession};

const SUBSCRIPTION: &str = "subscription { notifications { id } }";

/// Runs the benchmark.
pub async fn run(args: BanCloseArgs) -> anyhow::Result<Report> {
    let (client, _) = endpoints(&args.common.url)?;
    let (target_client, target_ws) =
        endpoints(args.target_url.as_deref().unwrap_or(&args.common.url))?;
    let moderator = client
        .sign_in(&args.moderator, &args.moderator_password)
        .await
        .context("signing in as the moderator")?;
    let target = sign_up_many(&client, &run_prefix(), "banned", 1, 1)
        .await?
        .pop()
        .context("the user to ban was not signed up")?;
    let ids = std::slice::from_ref(&target.id);
    let timeout = Duration::from_secs(u64::from(args.timeout));

    let (mut from_request, mut from_answer) = (Latencies::new(), Latencies::new());
    let mut errors = ErrorTally::default();
    let started_at = Utc::now();
    let measured_from = Instant::now();
    let mut token = target.token.clone();
    for round in 1..=args.rounds {
        let mut session = WsSession::connect(&target_ws, &token).await?;
        let _subscription = session
            .subscribe(Operation::new(SUBSCRIPTION, json!({})))
            .await?;
        let began = Instant::now();
        client.set_banned(&moderator, ids, true).await?;
        let answered = Instant::now();
        if session.closed_within(timeout).await {
            let closed = Instant::now();
            from_request.record(closed - began);
            from_answer.record(closed.saturating_duration_since(answered));
        } else {
            errors.add("websocket not closed");
        }
        client.set_banned(&moderator, ids, false).await?;
        token = target_client.sign_in(&target.handle, PASSWORD).await?;
        if round % 10 == 0 {
            eprintln!("round {round}/{}", args.rounds);
        }
    }
    let measured = measured_from.elapsed().as_secs_f64();

    println!(
        "realtime ban-close: ban through {}, websocket on {}",
        args.common.url,
        args.target_url.as_deref().unwrap_or(&args.common.url)
    );
    println!(
        "  ban sent -> websocket closed:     {}",
        from_request.summary()
    );
    println!(
        "  ban answered -> websocket closed: {}",
        from_answer.summary()
    );
    println!("  errors: {errors}");
    let figures = json!({
        "rounds": args.rounds,
        "from_request": from_request.summary(),
        "from_answer": from_answer.summary(),
    });
    Report::new(
        "realtime/ban-close",
        &args,
        started_at,
        measured,
        figures,
        errors,
    )
}
