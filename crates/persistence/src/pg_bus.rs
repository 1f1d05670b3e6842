//! The event bus across nodes on PostgreSQL: LISTEN/NOTIFY.
//!
//! - Publishing never happens inside a data transaction: PostgreSQL serializes the commits of
//!   notifying transactions on one global lock, so the data path would be capped at a few
//!   hundred commits per second. Instead [`PgEventBus::publish`] queues events, and one
//!   dedicated connection per node sends them in batches: many small id-only events per
//!   NOTIFY payload (under PostgreSQL's 8000-byte limit), all payloads of a batch in one
//!   statement.
//! - A node's own events are delivered to it at once, in process; the copies that come back
//!   through LISTEN are recognised by the node id in the payload and skipped.
//! - Another dedicated connection LISTENs. When it is lost (a restart, a terminated backend),
//!   the node logs it and reconnects with backoff; events sent meanwhile are lost, which costs
//!   latency only, since what clients must not miss is stored and recoverable by cursor.
//!   [`EventBus::connected`] is false from the loss until LISTEN is back (and before the first
//!   LISTEN), so that a graph cache drops what it can no longer vouch for.

use std::time::Duration;

use amity_domain::NodeId;
use amity_domain::events::{Event, EventBus, InProcessBus};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions};
use sea_orm::sqlx::{ConnectOptions, Connection};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, watch};

/// The NOTIFY channel.
pub const CHANNEL: &str = "amity_events";
/// Largest payload sent, below PostgreSQL's limit of 8000 bytes.
const PAYLOAD_MAX: usize = 7900;
/// Most events taken from the queue for one round trip.
const BATCH_MAX: usize = 4096;
/// Longest wait between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The publishing node.
    n: NodeId,
    /// Its events, in order.
    e: Vec<Event>,
    /// When the payload was sent, in microseconds since the Unix epoch (0 from a node that
    /// did not say): the receiving node records the delivery lag from it.
    #[serde(default)]
    t: i64,
}

/// How long events took from the publishing node's NOTIFY to this node, in seconds (the
/// nodes' clocks are assumed in step, as NTP keeps them).
pub const BUS_DELIVERY_LAG: &str = "amity_bus_delivery_lag_seconds";

/// Buckets of [`BUS_DELIVERY_LAG`]: a tenth of a millisecond to five seconds.
pub const BUS_LAG_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0, 5.0,
];

/// Describes this crate's metrics to the installed recorder.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        BUS_DELIVERY_LAG,
        metrics::Unit::Seconds,
        "Time from another node's NOTIFY to its events reaching this node (PostgreSQL bus)"
    );
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The LISTEN/NOTIFY bus of one node. Drive its [`PgBusWorker`] for events to cross nodes.
#[derive(Clone)]
pub struct PgEventBus {
    local: InProcessBus,
    outbound: mpsc::UnboundedSender<Vec<Event>>,
    connected: watch::Receiver<bool>,
}

impl std::fmt::Debug for PgEventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventBus").finish_non_exhaustive()
    }
}

/// The connections behind a [`PgEventBus`]: one publishing, one listening.
pub struct PgBusWorker {
    options: PgConnectOptions,
    node: NodeId,
    local: broadcast::Sender<Event>,
    outbound: mpsc::UnboundedReceiver<Vec<Event>>,
    connected: watch::Sender<bool>,
}

impl PgEventBus {
    /// A bus for node `node` on the database at `url` (the same URL as the store). Nothing
    /// connects until the worker runs.
    pub fn new(url: &str, node: NodeId) -> Result<(Self, PgBusWorker), crate::PersistenceError> {
        let options: PgConnectOptions = url.parse().map_err(|e: sea_orm::sqlx::Error| {
            crate::PersistenceError::Connect(sea_orm::DbErr::Custom(e.to_string()))
        })?;
        let local = InProcessBus::new();
        let (outbound, rx) = mpsc::unbounded_channel();
        let (connected_tx, connected) = watch::channel(false);
        let worker = PgBusWorker {
            options,
            node,
            local: local.sender().clone(),
            outbound: rx,
            connected: connected_tx,
        };
        Ok((
            Self {
                local,
                outbound,
                connected,
            },
            worker,
        ))
    }
}

impl EventBus for PgEventBus {
    fn publish(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.local.publish(events.clone());
        // Fails only once the worker has stopped (shutdown): then no node is told.
        let _ = self.outbound.send(events);
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.local.subscribe()
    }

    fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }
}

/// Packs events into NOTIFY payloads of at most [`PAYLOAD_MAX`] bytes.
fn encode(node: NodeId, events: &[Event]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current: Vec<Event> = Vec::new();
    let mut size = 0;
    let overhead = 64;
    for event in events {
        let len = serde_json::to_string(event)
            .map(|s| s.len() + 1)
            .unwrap_or(0);
        if !current.is_empty() && overhead + size + len > PAYLOAD_MAX {
            payloads.extend(envelope(node, std::mem::take(&mut current)));
            size = 0;
        }
        size += len;
        current.push(*event);
    }
    if !current.is_empty() {
        payloads.extend(envelope(node, current));
    }
    payloads
}

fn envelope(node: NodeId, events: Vec<Event>) -> Option<String> {
    serde_json::to_string(&Envelope {
        n: node,
        e: events,
        t: now_micros(),
    })
    .ok()
}

impl PgBusWorker {
    /// Publishes and listens until `shutdown` resolves; then sends what is still queued and
    /// returns. Never fails: connection problems are logged and retried.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        let PgBusWorker {
            options,
            node,
            local,
            outbound,
            connected,
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let listener = tokio::spawn(listen(options.clone(), node, local, connected, stop_rx));
        publish_loop(&options, node, outbound, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = listener.await;
    }
}

async fn publish_loop(
    options: &PgConnectOptions,
    node: NodeId,
    mut outbound: mpsc::UnboundedReceiver<Vec<Event>>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let options = options.clone().application_name("amity-publisher");
    let mut conn: Option<PgConnection> = None;
    tokio::pin!(shutdown);
    let mut stopping = false;
    loop {
        let mut batch: Vec<Event> = Vec::new();
        if stopping {
            while let Ok(events) = outbound.try_recv() {
                batch.extend(events);
            }
            if batch.is_empty() {
                break;
            }
        } else {
            tokio::select! {
                _ = &mut shutdown => { stopping = true; continue; }
                received = outbound.recv() => match received {
                    Some(events) => batch.extend(events),
                    None => break,
                },
            }
            while batch.len() < BATCH_MAX {
                match outbound.try_recv() {
                    Ok(events) => batch.extend(events),
                    Err(_) => break,
                }
            }
        }
        let payloads = encode(node, &batch);
        // One retry on a fresh connection; after that the batch is dropped (stored data is
        // recoverable by cursor, so a lost event costs only latency).
        for attempt in 0..2 {
            if conn.is_none() {
                match options.connect().await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %amity_domain::error::chain(&e), "event bus: cannot connect to publish");
                        if !stopping {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            let sent = sea_orm::sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
                .bind(CHANNEL)
                .bind(&payloads)
                .execute(&mut *c)
                .await;
            match sent {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %amity_domain::error::chain(&e), attempt, "event bus: publishing failed");
                    conn = None;
                }
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

async fn listen(
    options: PgConnectOptions,
    node: NodeId,
    local: broadcast::Sender<Event>,
    connected: watch::Sender<bool>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let options = options.application_name("amity-listener");
    let mut backoff = Duration::from_millis(100);
    loop {
        let connecting = async {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .connect_with(options.clone())
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            // A lost connection is reported at once (and re-established by the loop below),
            // not after sqlx has waited to reconnect: until then the node would not know that
            // events are being lost.
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>((pool, listener))
        };
        let (pool, mut listener) = tokio::select! {
            _ = stop.changed() => return,
            result = connecting => match result {
                Ok(ok) => ok,
                Err(e) => {
                    tracing::warn!(error = %amity_domain::error::chain(&e), retry_in = ?backoff, "event bus: cannot listen");
                    tokio::select! {
                        _ = stop.changed() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            },
        };
        tracing::info!("event bus: listening for other nodes' events");
        connected.send_replace(true);
        backoff = Duration::from_millis(100);
        loop {
            let received = tokio::select! {
                _ = stop.changed() => None,
                received = listener.try_recv() => Some(received),
            };
            let Some(received) = received else {
                // The listener holds the pool's only connection: release it before closing.
                drop(listener);
                pool.close().await;
                return;
            };
            match received {
                Ok(Some(notification)) => deliver(node, &local, notification.payload()),
                Ok(None) => {
                    // Events sent until LISTEN is back are lost (a cost in latency only): say
                    // so at once, and reconnect here rather than inside sqlx, so that the
                    // moment LISTEN is back is known.
                    tracing::warn!("event bus: the listening connection was lost; reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %amity_domain::error::chain(&e), "event bus: listening failed; reconnecting");
                    break;
                }
            }
        }
        connected.send_replace(false);
        drop(listener);
        pool.close().await;
    }
}

fn deliver(node: NodeId, local: &broadcast::Sender<Event>, payload: &str) {
    match serde_json::from_str::<Envelope>(payload) {
        Ok(envelope) if envelope.n == node => {}
        Ok(envelope) => {
            if envelope.t > 0 {
                let lag = now_micros().saturating_sub(envelope.t).max(0);
                metrics::histogram!(BUS_DELIVERY_LAG).record(lag as f64 / 1_000_000.0);
            }
            for event in envelope.e {
                let _ = local.send(event);
            }
        }
        Err(e) => {
            tracing::warn!(error = %amity_domain::error::chain(&e), "event bus: ignoring a malformed payload")
        }
    }
}

#[cfg(test)]
mod tests {
    use amity_domain::{NotificationId, UserId};

    use super::*;

    #[test]
    fn payloads_stay_under_the_notify_limit_and_keep_every_event_in_order() {
        let node = NodeId::new();
        let events: Vec<Event> = (0..1000)
            .map(|_| Event::NotificationCreated {
                recipient: UserId::new(),
                id: NotificationId::new(),
            })
            .collect();
        let payloads = encode(node, &events);
        assert!(payloads.len() > 1);
        let mut decoded = Vec::new();
        for p in &payloads {
            assert!(p.len() <= PAYLOAD_MAX, "{} bytes", p.len());
            let envelope: Envelope = serde_json::from_str(p).unwrap();
            assert_eq!(envelope.n, node);
            decoded.extend(envelope.e);
        }
        assert_eq!(decoded, events);
    }

    #[test]
    fn own_events_are_skipped_and_others_delivered() {
        let node = NodeId::new();
        let (tx, mut rx) = broadcast::channel(16);
        let event = Event::NotificationCreated {
            recipient: UserId::new(),
            id: NotificationId::new(),
        };
        let own = encode(node, &[event]);
        deliver(node, &tx, &own[0]);
        assert!(rx.try_recv().is_err());
        let other = encode(NodeId::new(), &[event]);
        deliver(node, &tx, &other[0]);
        assert_eq!(rx.try_recv().unwrap(), event);
        deliver(node, &tx, "not json");
        assert!(rx.try_recv().is_err());
    }
}
