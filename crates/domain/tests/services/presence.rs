//! PresenceService: two services are two nodes on one store and one bus, on paused tokio time
//! (the default settings: heartbeat 5 s, ttl 15 s, offline grace 1 s).

use std::sync::Arc;
use std::time::Duration;

use amity_domain::events::{Event, EventBus, InProcessBus};
use amity_domain::memory::MemoryStore;
use amity_domain::ports::UserStore;
use amity_domain::presence::{PresenceService, PresenceSettings};
use amity_domain::time::{Clock, TokioClock};
use amity_domain::{NodeId, Result, UserId};
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::support::{drain, t0};

/// One store, one bus, one clock that follows tokio's paused time.
struct Cluster {
    store: Arc<MemoryStore>,
    bus: Arc<InProcessBus>,
    clock: Arc<TokioClock>,
}

/// A node whose `run` loop is driven by a task until `stop`.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<()>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

impl Cluster {
    fn new() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            bus: Arc::new(InProcessBus::new()),
            clock: Arc::new(TokioClock::starting_at(t0())),
        }
    }

    fn node(&self) -> PresenceService {
        PresenceService::new(
            self.store.clone(),
            self.bus.clone(),
            self.clock.clone(),
            NodeId::new(),
            PresenceSettings::default(),
        )
    }

    async fn last_seen(&self, user: UserId) -> Option<DateTime<Utc>> {
        self.store
            .user_by_id(user)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at
    }
}

/// Registers the node and drives its loop in a task.
async fn run(node: &PresenceService) -> Running {
    node.start().await.unwrap();
    drive(node)
}

/// Drives the node's loop in a task, without registering it first.
fn drive(node: &PresenceService) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let node = node.clone();
    let task = tokio::spawn(async move {
        node.run(async {
            let _ = stopped.await;
        })
        .await
    });
    Running { stop, task }
}

type Change = (UserId, bool, DateTime<Utc>);

fn as_change(event: Event) -> Option<Change> {
    match event {
        Event::PresenceChanged { user, online, at } => Some((user, online, at)),
        _ => None,
    }
}

/// The next presence change published (time advances meanwhile, as far as the nodes' timers
/// need).
async fn next_change(events: &mut broadcast::Receiver<Event>) -> Change {
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            if let Some(change) = as_change(events.recv().await.unwrap()) {
                return change;
            }
        }
    })
    .await
    .expect("a presence change within two minutes")
}

/// The presence changes published so far.
fn changes(events: &mut broadcast::Receiver<Event>) -> Vec<Change> {
    drain(events).into_iter().filter_map(as_change).collect()
}

#[tokio::test(start_paused = true)]
async fn a_reconnection_within_the_grace_is_invisible_and_a_real_leave_is_not() {
    let c = Cluster::new();
    let u = c.store.add_user("ann").await.unwrap();
    let mut events = c.bus.subscribe();
    let a = c.node();
    let running = run(&a).await;

    let guard = a.connect(u.id).await.unwrap();
    assert_eq!(guard.user(), u.id);
    assert_eq!(next_change(&mut events).await, (u.id, true, t0()));
    assert!(a.is_online(u.id).await.unwrap());

    // Closed and reopened within the grace: friends see nothing at all.
    drop(guard);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let guard = a.connect(u.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(changes(&mut events).is_empty());
    assert!(a.is_online(u.id).await.unwrap());
    assert_eq!(c.last_seen(u.id).await, None);

    // Closed for good: offline once the grace has passed, last seen when it closed.
    let closed_at = c.clock.now();
    drop(guard);
    assert_eq!(next_change(&mut events).await, (u.id, false, closed_at));
    assert!(c.clock.now() >= closed_at + chrono::Duration::seconds(1));
    assert_eq!(c.last_seen(u.id).await, Some(closed_at));
    assert!(!a.is_online(u.id).await.unwrap());
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_user_on_two_nodes_goes_offline_when_the_last_one_closes() {
    let c = Cluster::new();
    let u = c.store.add_user("ann").await.unwrap();
    let mut events = c.bus.subscribe();
    let (a, b) = (c.node(), c.node());
    let (running_a, running_b) = (run(&a).await, run(&b).await);

    let on_a = a.connect(u.id).await.unwrap();
    let on_a_too = a.connect(u.id).await.unwrap();
    let on_b = b.connect(u.id).await.unwrap();
    assert_eq!(next_change(&mut events).await, (u.id, true, t0()));
    drop(on_b);
    drop(on_a);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(changes(&mut events).is_empty(), "still connected on a");
    assert!(b.is_online(u.id).await.unwrap());

    let closed_at = c.clock.now();
    drop(on_a_too);
    assert_eq!(next_change(&mut events).await, (u.id, false, closed_at));
    running_a.stop().await;
    running_b.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_dead_node_is_swept_and_a_node_that_comes_back_restores_its_users() {
    let c = Cluster::new();
    let [u, v] = [
        c.store.add_user("ann").await.unwrap(),
        c.store.add_user("bob").await.unwrap(),
    ];
    let mut events = c.bus.subscribe();
    let (a, b) = (c.node(), c.node());
    let running_a = run(&a).await;
    // b registers and takes a connection, then stalls: its loop never runs, so it never
    // heartbeats.
    b.start().await.unwrap();
    let _held_on_b = b.connect(u.id).await.unwrap();
    let _held_on_a = a.connect(v.id).await.unwrap();
    let _v_on_b_too = b.connect(v.id).await.unwrap();
    assert_eq!(next_change(&mut events).await, (u.id, true, t0()));
    assert_eq!(next_change(&mut events).await, (v.id, true, t0()));

    // a's sweep finds b's heartbeat older than the ttl: u is offline everywhere, last seen at
    // b's last heartbeat; v is still on a.
    assert_eq!(next_change(&mut events).await, (u.id, false, t0()));
    assert!(c.clock.now() >= t0() + chrono::Duration::seconds(15));
    assert_eq!(c.last_seen(u.id).await, Some(t0()));
    assert_eq!(
        a.online_among(&[u.id, v.id]).await.unwrap(),
        [v.id].into_iter().collect()
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(changes(&mut events).is_empty(), "swept once");

    // b wakes up: its heartbeat finds it gone, so it registers again and restores the
    // presence of the users still connected to it.
    let woke_at = c.clock.now();
    let running_b = drive(&b);
    assert_eq!(next_change(&mut events).await, (u.id, true, woke_at));
    assert!(a.is_online(u.id).await.unwrap());
    running_a.stop().await;
    running_b.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stopping_node_takes_offline_only_the_users_it_alone_held() {
    let c = Cluster::new();
    let [u, v] = [
        c.store.add_user("ann").await.unwrap(),
        c.store.add_user("bob").await.unwrap(),
    ];
    let mut events = c.bus.subscribe();
    let (a, b) = (c.node(), c.node());
    let (running_a, running_b) = (run(&a).await, run(&b).await);
    let _u_on_a = a.connect(u.id).await.unwrap();
    let _v_on_a = a.connect(v.id).await.unwrap();
    let _v_on_b = b.connect(v.id).await.unwrap();
    assert_eq!(changes(&mut events).len(), 2);

    tokio::time::sleep(Duration::from_secs(7)).await;
    let stopped_at = c.clock.now();
    running_a.stop().await;
    assert_eq!(changes(&mut events), [(u.id, false, stopped_at)]);
    assert_eq!(c.last_seen(u.id).await, Some(stopped_at));
    assert_eq!(c.last_seen(v.id).await, None);
    assert!(b.is_online(v.id).await.unwrap());
    running_b.stop().await;
    assert_eq!(changes(&mut events), [(v.id, false, stopped_at)]);
}

#[tokio::test(start_paused = true)]
async fn presence_events_reach_every_subscriber_of_the_bus() {
    let c = Cluster::new();
    let u = c.store.add_user("ann").await.unwrap();
    let (mut first, mut second) = (c.bus.subscribe(), c.bus.subscribe());
    let a = c.node();
    let running = run(&a).await;
    let guard = a.connect(u.id).await.unwrap();
    assert_eq!(next_change(&mut first).await, (u.id, true, t0()));
    assert_eq!(next_change(&mut second).await, (u.id, true, t0()));
    drop(guard);
    assert!(!next_change(&mut first).await.1);
    assert!(!next_change(&mut second).await.1);
    running.stop().await;
    // `run` is for once per service.
    assert!(a.run(async {}).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_connect_dropped_by_a_timeout_leaves_no_phantom_connection() {
    use amity_domain::ports::FriendStore;

    let c = Cluster::new();
    let u = c.store.add_user("ann").await.unwrap();
    let mut events = c.bus.subscribe();
    let a = c.node();
    let running = run(&a).await;

    // A write transaction holds the store, so the connect's store call waits, and the
    // connect is dropped by its timeout mid-call (as the websocket's init timeout does).
    let tx = c.store.begin_edges().await.unwrap();
    let timed_out = tokio::time::timeout(Duration::from_millis(100), a.connect(u.id)).await;
    assert!(
        timed_out.is_err(),
        "the connect should have waited for the store"
    );
    drop(tx);

    // The user connects for real, then leaves: offline once the grace has passed, not held
    // online by the abandoned attempt.
    let guard = a.connect(u.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(a.is_online(u.id).await.unwrap());
    drain(&mut events);
    drop(guard);
    let (user, online, _) = next_change(&mut events).await;
    assert_eq!((user, online), (u.id, false));
    assert!(!a.is_online(u.id).await.unwrap());
    running.stop().await;
}
