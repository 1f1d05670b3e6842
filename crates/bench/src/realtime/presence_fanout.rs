//! `realtime presence-fanout`: a hub user with many friends, each friend holding a `presence`
//! subscription; the hub goes online (opens a websocket) and offline (closes it) several times,
//! and each friend times the PresenceEvent about the hub.
//!
//! Online latency runs from the moment the hub starts connecting (handshake and
//! `connection_init` included). Offline latency runs from the moment the hub starts closing,
//! so it includes the server's offline grace (`AMITY_PRESENCE_OFFLINE_GRACE_MS`, one second by
//! default), which exists to coalesce flapping. The first round is a warm-up that proves every
//! subscription is live; it is not counted.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{close_all, connect_many, endpoints};
use crate::cli::PresenceFanoutArgs;
use crate::report::Report;
use crate::setup::{befriend_hub, run_prefix, sign_up_many};
use crate::stats::{ErrorTally, Latencies};
use crate::ws::{Operation, WsSession};

const SUBSCRIPTION: &str = "subscription { presence { user { id } online } }";
/// How long a hub stays online before it goes offline again, once all friends have seen it.
const HOLD_ONLINE: Duration = Duration::from_millis(200);

/// A friend saw the hub go online or offline.
#[derive(Debug)]
struct Seen {
    friend: usize,
    online: bool,
    at: Instant,
}

/// One change's fan-out.
#[derive(Debug, Default)]
struct Fanout {
    /// Per friend, from the change to the event.
    each: Latencies,
    /// From the change to the last friend's event (when all of them saw it).
    complete: Option<Duration>,
    /// Friends that did not see it in time.
    missing: u64,
    /// Events of the wrong direction (late ones from the change before).
    unexpected: u64,
}

/// Runs the benchmark.
pub async fn run(args: PresenceFanoutArgs) -> anyhow::Result<Report> {
    let (client, ws_url) = endpoints(&args.common.url)?;
    let concurrency = args.common.setup_concurrency;
    let prefix = run_prefix();
    let hub = sign_up_many(&client, &prefix, "hub", 1, concurrency)
        .await?
        .pop()
        .context("the hub was not signed up")?;
    let friends = sign_up_many(&client, &prefix, "friend", args.friends, concurrency).await?;
    befriend_hub(&client, &hub, &friends, concurrency).await?;

    let sessions = connect_many(&ws_url, &friends, friends.len(), args.connect_concurrency).await?;
    let (events, mut seen) = mpsc::unbounded_channel();
    for (friend, session) in sessions.iter().enumerate() {
        let subscription = session
            .subscribe(Operation::new(SUBSCRIPTION, json!({})))
            .await?;
        let events = events.clone();
        let hub_id = hub.id.clone();
        tokio::spawn(async move {
            let mut subscription = subscription;
            while let Some(item) = subscription.next().await {
                let at = Instant::now();
                if let Some(online) = item.ok().and_then(|p| hub_presence(&p, &hub_id))
                    && events.send(Seen { friend, online, at }).is_err()
                {
                    break;
                }
            }
        });
    }
    drop(events);
    // Subscriptions start asynchronously on the server; the warm-up round checks they did.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let timeout = Duration::from_secs(u64::from(args.timeout));
    let pause = Duration::from_millis(args.pause_ms);
    let count = friends.len();
    let (mut online_each, mut offline_each) = (Latencies::new(), Latencies::new());
    let (mut online_complete, mut offline_complete) = (Latencies::new(), Latencies::new());
    let mut errors = ErrorTally::default();
    let started_at = Utc::now();
    let measured_from = Instant::now();
    for round in 0..=args.rounds {
        let began = Instant::now();
        let session = WsSession::connect(&ws_url, &hub.token).await?;
        let online = collect(&mut seen, true, began, count, timeout).await;
        tokio::time::sleep(HOLD_ONLINE).await;
        let began = Instant::now();
        session.close().await;
        let offline = collect(&mut seen, false, began, count, timeout).await;
        if round == 0 {
            eprintln!(
                "warm-up: {}/{count} friends saw the hub online, {}/{count} offline",
                online.each.count(),
                offline.each.count()
            );
            if online.missing > 0 {
                anyhow::bail!(
                    "{} of {count} presence subscriptions saw nothing in the warm-up round",
                    online.missing
                );
            }
        } else {
            eprintln!(
                "round {round}/{}: online to all in {}, offline to all in {}",
                args.rounds,
                show(online.complete),
                show(offline.complete)
            );
            for (fanout, each, complete, direction) in [
                (&online, &mut online_each, &mut online_complete, "online"),
                (
                    &offline,
                    &mut offline_each,
                    &mut offline_complete,
                    "offline",
                ),
            ] {
                each.merge(&fanout.each);
                if let Some(all) = fanout.complete {
                    complete.record(all);
                }
                errors.add_many(format!("{direction} event missing"), fanout.missing);
                errors.add_many(
                    format!("{direction}: event of the wrong direction"),
                    fanout.unexpected,
                );
            }
        }
        tokio::time::sleep(pause).await;
    }
    let measured = measured_from.elapsed().as_secs_f64();
    close_all(sessions, args.connect_concurrency).await;

    println!(
        "realtime presence-fanout against {}: {count} friends, {} rounds",
        args.common.url, args.rounds
    );
    println!("  online, to each friend:    {}", online_each.summary());
    println!("  online, to all friends:    {}", online_complete.summary());
    println!("  offline, to each friend:   {}", offline_each.summary());
    println!(
        "  offline, to all friends:   {}",
        offline_complete.summary()
    );
    println!("  (offline includes the server's offline grace, AMITY_PRESENCE_OFFLINE_GRACE_MS)");
    println!("  errors: {errors}");
    let figures = json!({
        "friends": count,
        "online_each": online_each.summary(),
        "online_all": online_complete.summary(),
        "offline_each": offline_each.summary(),
        "offline_all": offline_complete.summary(),
    });
    Report::new(
        "realtime/presence-fanout",
        &args,
        started_at,
        measured,
        figures,
        errors,
    )
}

/// Waits until each of `count` friends has seen the hub go `online` (or offline), or
/// `timeout` after `began`.
async fn collect(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    online: bool,
    began: Instant,
    count: usize,
    timeout: Duration,
) -> Fanout {
    let mut fanout = Fanout::default();
    let mut friends = HashSet::with_capacity(count);
    let deadline = tokio::time::Instant::from(began + timeout);
    let mut last = began;
    while friends.len() < count {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(event)) if event.online == online => {
                if friends.insert(event.friend) {
                    let latency = event.at.saturating_duration_since(began);
                    fanout.each.record(latency);
                    last = last.max(event.at);
                }
            }
            Ok(Some(_)) => fanout.unexpected += 1,
            Ok(None) | Err(_) => break,
        }
    }
    fanout.missing = (count - friends.len()) as u64;
    if fanout.missing == 0 {
        fanout.complete = Some(last.saturating_duration_since(began));
    }
    fanout
}

/// Whether a `presence` payload says the hub went online (`Some(true)`) or offline; `None` for
/// other users and errors.
fn hub_presence(payload: &Value, hub_id: &str) -> Option<bool> {
    let event = payload.pointer("/data/presence")?;
    if event.pointer("/user/id")?.as_str()? != hub_id {
        return None;
    }
    event.get("online")?.as_bool()
}

fn show(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "(not all)".to_owned(),
        |d| format!("{:.2} ms", d.as_secs_f64() * 1000.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hubs_events_count() {
        let payload = |id: &str, online: bool| json!({"data": {"presence": {"user": {"id": id}, "online": online}}});
        assert_eq!(hub_presence(&payload("hub", true), "hub"), Some(true));
        assert_eq!(hub_presence(&payload("hub", false), "hub"), Some(false));
        assert_eq!(hub_presence(&payload("other", true), "hub"), None);
        assert_eq!(hub_presence(&json!({"errors": []}), "hub"), None);
    }

    #[tokio::test]
    async fn a_fanout_is_complete_only_when_every_friend_saw_it() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let began = Instant::now();
        for (friend, online) in [(0, false), (0, true), (1, true), (1, true)] {
            let at = began + Duration::from_millis(10 * (friend as u64 + 1));
            tx.send(Seen { friend, online, at }).ok();
        }
        let fanout = collect(&mut rx, true, began, 2, Duration::from_millis(50)).await;
        assert_eq!(
            (fanout.each.count(), fanout.missing, fanout.unexpected),
            (2, 0, 1)
        );
        assert_eq!(fanout.complete, Some(Duration::from_millis(20)));
        let fanout = collect(&mut rx, false, began, 1, Duration::from_millis(50)).await;
        assert_eq!(
            (fanout.missing, fanout.unexpected, fanout.complete),
            (1, 1, None)
        );
    }
}
