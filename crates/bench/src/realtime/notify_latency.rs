//! `realtime notify-latency`: pairs of friends; each sender sends direct messages on a fixed
//! schedule and the recipient's `notifications` subscription times the DIRECT_MESSAGE
//! notification of each.
//!
//! Delivery latency runs from the moment a message was *due* to be sent, not from when its
//! request actually left, so a server that falls behind the schedule shows it in the figures (no
//! coordinated omission). It includes the sending transaction; a second figure runs from the
//! moment the send was answered (the transaction committed) to the notification, which is the
//! realtime path alone (event bus, routing, websocket). Every message body carries its sequence number, which comes back in
//! the notification's `content.preview`, so each arrival is matched to its own send.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use graphql_ws_client::Subscription;
use serde_json::{Value, json};

use super::{close_all, connect_many, endpoints};
use crate::cli::NotifyLatencyArgs;
use crate::client::{Account, GraphqlClient};
use crate::progress::Progress;
use crate::report::Report;
use crate::setup::{befriend_pairs, run_prefix, sign_up_many};
use crate::stats::{ErrorTally, Latencies};
use crate::ws::Operation;

const SUBSCRIPTION: &str = "subscription { notifications { code content } }";
/// The body of warm-up messages, sent until the subscription shows it is live.
const WARM_UP: &str = "warm-up";
/// How long one warm-up message is waited for before another is sent.
const WARM_UP_WAIT: Duration = Duration::from_secs(2);
/// Warm-up messages per pair before the run gives up.
const WARM_UP_TRIES: u32 = 5;

/// What one pair's recipient saw.
#[derive(Debug, Default)]
struct Received {
    /// When each message's notification arrived, by sequence number.
    arrivals: HashMap<u64, Instant>,
    errors: ErrorTally,
}

/// What one pair's sender did.
#[derive(Debug, Default)]
struct Sent {
    mutation: Latencies,
    /// When the server answered each successful send, by sequence number.
    answered: HashMap<u64, Instant>,
    errors: ErrorTally,
    finished: Option<Instant>,
}

/// Runs the benchmark.
pub async fn run(args: NotifyLatencyArgs) -> anyhow::Result<Report> {
    let (client, ws_url) = endpoints(&args.common.url)?;
    let concurrency = args.common.setup_concurrency;
    let prefix = run_prefix();
    let senders = sign_up_many(&client, &prefix, "sender", args.subscribers, concurrency).await?;
    let recipients =
        sign_up_many(&client, &prefix, "recipient", args.subscribers, concurrency).await?;
    let pairs: Vec<(Account, Account)> = senders.into_iter().zip(recipients).collect();
    befriend_pairs(&client, &pairs, concurrency).await?;

    let sessions = connect_many(
        &ws_url,
        pairs.iter().map(|(_, r)| r),
        pairs.len(),
        concurrency,
    )
    .await?;
    let mut subscriptions = Vec::with_capacity(sessions.len());
    for session in &sessions {
        subscriptions.push(
            session
                .subscribe(Operation::new(SUBSCRIPTION, json!({})))
                .await?,
        );
    }
    let mut progress = Progress::new("checking every subscription is live", pairs.len() as u64);
    let warmed = futures::stream::iter(pairs.iter().zip(subscriptions.iter_mut()))
        .map(|((sender, recipient), subscription)| {
            warm_up(&client, sender, recipient, subscription)
        })
        .buffer_unordered(concurrency as usize)
        .inspect(|result| progress.tick(result.is_ok()))
        .try_collect::<Vec<()>>()
        .await;
    progress.finish();
    warmed?;

    let pair_count = pairs.len() as u64;
    let total = (u64::from(args.rate) * u64::from(args.duration)).max(pair_count);
    let per_pair = total.div_ceil(pair_count);
    let period = Duration::from_secs_f64(pair_count as f64 / f64::from(args.rate));
    let stagger = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let timeout = Duration::from_secs(u64::from(args.timeout));
    eprintln!(
        "sending {} messages over {} pairs at {} per second...",
        per_pair * pair_count,
        pair_count,
        args.rate
    );
    let start = Instant::now() + Duration::from_millis(200);
    let started_at = Utc::now();
    let mut tasks = Vec::with_capacity(pairs.len());
    for (index, ((sender, recipient), subscription)) in
        pairs.into_iter().zip(subscriptions).enumerate()
    {
        let first = start + stagger * u32::try_from(index)?;
        let schedule = Schedule {
            first,
            period,
            count: per_pair,
        };
        let client = client.clone();
        let sending =
            tokio::spawn(async move { send(&client, &sender, &recipient, schedule).await });
        let receiving = tokio::spawn(receive(subscription, schedule, timeout));
        tasks.push((schedule, sending, receiving));
    }

    let mut mutation = Latencies::new();
    let mut delivery = Latencies::new();
    let mut after_answer = Latencies::new();
    let mut errors = ErrorTally::default();
    let (mut sent_ok, mut delivered, mut before_answer, mut last_send) = (0, 0, 0, start);
    for (schedule, sending, receiving) in tasks {
        let sent = sending.await?;
        let received = receiving.await?;
        mutation.merge(&sent.mutation);
        errors.merge(&sent.errors);
        errors.merge(&received.errors);
        for (seq, answered) in &sent.answered {
            let Some(&arrived) = received.arrivals.get(seq) else {
                errors.add("notification missing");
                continue;
            };
            delivery.record(arrived.saturating_duration_since(schedule.due(*seq)));
            match arrived.checked_duration_since(*answered) {
                Some(latency) => after_answer.record(latency),
                None => before_answer += 1,
            }
        }
        sent_ok += sent.answered.len() as u64;
        delivered += received.arrivals.len() as u64;
        last_send = last_send.max(sent.finished.unwrap_or(start));
    }
    let measured = last_send.saturating_duration_since(start).as_secs_f64();
    close_all(sessions, concurrency).await;

    let achieved = if measured > 0.0 {
        sent_ok as f64 / measured
    } else {
        0.0
    };
    println!("realtime notify-latency against {}", args.common.url);
    println!(
        "  sent {sent_ok} messages at {achieved:.0}/s (target {}/s), {delivered} notifications delivered",
        args.rate
    );
    println!(
        "  delivery (due to send -> notification): {}",
        delivery.summary()
    );
    println!(
        "  sendDirectMessage round trip:           {}",
        mutation.summary()
    );
    println!(
        "  send answered -> notification:          {} ({before_answer} arrived before the answer)",
        after_answer.summary()
    );
    println!("  errors: {errors}");
    let figures = json!({
        "sent": sent_ok,
        "delivered": delivered,
        "target_rate_per_sec": args.rate,
        "achieved_rate_per_sec": achieved,
        "delivery": delivery.summary(),
        "send_mutation": mutation.summary(),
        "after_answer": after_answer.summary(),
        "arrived_before_answer": before_answer,
    });
    Report::new(
        "realtime/notify-latency",
        &args,
        started_at,
        measured,
        figures,
        errors,
    )
}

/// When one pair's messages are due.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    first: Instant,
    period: Duration,
    count: u64,
}

impl Schedule {
    /// When message `seq` is due.
    fn due(&self, seq: u64) -> Instant {
        self.first + self.period.mul_f64(seq as f64)
    }
}

/// Sends one warm-up message after another until one arrives on `subscription`, then lets any
/// late copies arrive and drops them.
async fn warm_up(
    client: &GraphqlClient,
    sender: &Account,
    recipient: &Account,
    subscription: &mut Subscription<Operation>,
) -> anyhow::Result<()> {
    for _ in 0..WARM_UP_TRIES {
        client
            .send_direct_message(&sender.token, &recipient.id, WARM_UP)
            .await?;
        if let Ok(Some(_)) = tokio::time::timeout(WARM_UP_WAIT, subscription.next()).await {
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(300), subscription.next()).await
            {
            }
            return Ok(());
        }
    }
    anyhow::bail!(
        "{}'s notifications subscription delivered none of {WARM_UP_TRIES} warm-up messages",
        recipient.handle
    )
}

/// Sends the pair's messages when they are due, one at a time.
async fn send(
    client: &GraphqlClient,
    sender: &Account,
    recipient: &Account,
    schedule: Schedule,
) -> Sent {
    let mut sent = Sent::default();
    for seq in 0..schedule.count {
        tokio::time::sleep_until(schedule.due(seq).into()).await;
        let began = Instant::now();
        match client
            .send_direct_message(&sender.token, &recipient.id, &format!("seq {seq}"))
            .await
        {
            Ok(()) => {
                let answered = Instant::now();
                sent.mutation.record(answered - began);
                sent.answered.insert(seq, answered);
            }
            Err(e) => sent.errors.add(format!("send: {}", e.kind())),
        }
    }
    sent.finished = Some(Instant::now());
    sent
}

/// Times each notification against when its message was due, until all arrived or the last
/// one's deadline passed.
async fn receive(
    mut subscription: Subscription<Operation>,
    schedule: Schedule,
    timeout: Duration,
) -> Received {
    let mut received = Received::default();
    let deadline =
        tokio::time::Instant::from(schedule.due(schedule.count.saturating_sub(1)) + timeout);
    while (received.arrivals.len() as u64) < schedule.count {
        let item = match tokio::time::timeout_at(deadline, subscription.next()).await {
            Err(_) => break,
            Ok(None) => {
                received.errors.add("subscription ended");
                break;
            }
            Ok(Some(item)) => item,
        };
        let arrived = Instant::now();
        match item.map(|payload| sequence_number(&payload)) {
            Ok(Some(seq)) if seq < schedule.count => {
                if received.arrivals.insert(seq, arrived).is_some() {
                    received.errors.add("duplicate notification");
                }
            }
            Ok(_) => received.errors.add("unexpected notification"),
            Err(_) => received.errors.add("subscription error"),
        }
    }
    received
}

/// The sequence number of a DIRECT_MESSAGE notification payload whose message said `seq N`.
fn sequence_number(payload: &Value) -> Option<u64> {
    let notification = payload.pointer("/data/notifications")?;
    if notification.get("code")?.as_str()? != "DIRECT_MESSAGE" {
        return None;
    }
    notification
        .pointer("/content/preview")?
        .as_str()?
        .strip_prefix("seq ")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_matched_by_the_number_in_the_preview() {
        let payload = |code: &str, preview: &str| json!({"data": {"notifications": {"code": code, "content": {"preview": preview}}}});
        assert_eq!(
            sequence_number(&payload("DIRECT_MESSAGE", "seq 41")),
            Some(41)
        );
        assert_eq!(sequence_number(&payload("FRIEND_REQUEST", "seq 41")), None);
        assert_eq!(sequence_number(&payload("DIRECT_MESSAGE", WARM_UP)), None);
        assert_eq!(
            sequence_number(&json!({"errors": [{"message": "x"}]})),
            None
        );
    }

    #[test]
    fn messages_are_due_one_period_apart() {
        let first = Instant::now();
        let schedule = Schedule {
            first,
            period: Duration::from_millis(100),
            count: 10,
        };
        assert_eq!(schedule.due(0), first);
        assert_eq!(schedule.due(9) - first, Duration::from_millis(900));
    }
}
