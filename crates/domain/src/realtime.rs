//! Routing bus events to the subscriptions open on this node.
//!
//! One [`Hub`] per node holds the node's only subscription to the [`crate::events::EventBus`]
//! and an in-memory index of local subscriptions by user id. For each batch of events it reads
//! what it must deliver from the store once (one query per kind per batch, never one per
//! connection) and hands it to every interested local subscription.
//!
//! Each subscription has a bounded queue; a subscriber too slow to keep up loses live events
//! (logged), which it can recover from the store by cursor.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc, watch};

use crate::accounts::User;
use crate::events::Event;
use crate::messages::DirectMessage;
use crate::notifications::Notification;
use crate::ports::Store;
use crate::{MessageId, NotificationId, UserId};

/// How many undelivered items one subscription may queue.
pub const SUBSCRIPTION_QUEUE: usize = 256;
/// Most events handled as one batch.
const BATCH_MAX: usize = 512;
/// Most presence changes waiting for their fan-out; past it, the event loop waits for the
/// fan-out to catch up (notifications and messages wait with it only then).
const PRESENCE_QUEUE: usize = 4096;

/// A user went online or offline: what the presence fan-out works from.
type PresenceChange = (UserId, bool, DateTime<Utc>);

/// A friend went online or offline.
#[derive(Debug, Clone)]
pub struct PresenceUpdate {
    /// The friend.
    pub user: Arc<User>,
    /// Online now.
    pub online: bool,
    /// When it changed.
    pub at: DateTime<Utc>,
}

impl PresenceUpdate {
    /// The friend's last-seen time as of this update: when they went offline, or before.
    pub fn last_seen_at(&self) -> Option<DateTime<Utc>> {
        if self.online {
            self.user.last_seen_at
        } else {
            Some(self.at)
        }
    }
}

/// Routes events to this node's subscriptions. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

struct HubInner {
    store: Arc<dyn Store>,
    routes: Mutex<Routes>,
    next_id: AtomicU64,
    /// How many routes are registered, for anyone waiting on it.
    count: watch::Sender<usize>,
}

#[derive(Default)]
struct Routes {
    notifications: HashMap<UserId, Vec<Route<Arc<Notification>>>>,
    presence: HashMap<UserId, Vec<Route<PresenceUpdate>>>,
    messages: HashMap<UserId, Vec<Route<Arc<DirectMessage>>>>,
}

struct Route<T> {
    id: u64,
    sender: mpsc::Sender<T>,
}

#[derive(Clone, Copy)]
enum Kind {
    Notifications,
    Presence,
    Messages,
}

/// A live feed of one subscription; dropping it unsubscribes.
pub struct Feed<T> {
    receiver: mpsc::Receiver<T>,
    _registration: Registration,
}

impl<T> Feed<T> {
    /// The next item; `None` once the hub has stopped.
    pub async fn recv(&mut self) -> Option<T> {
        self.receiver.recv().await
    }
}

struct Registration {
    hub: Arc<HubInner>,
    kind: Kind,
    user: UserId,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.kind, self.user, self.id);
    }
}

fn send_to<T: Clone>(routes: Option<&Vec<Route<T>>>, item: &T, user: UserId) {
    for route in routes.into_iter().flatten() {
        if let Err(mpsc::error::TrySendError::Full(_)) = route.sender.try_send(item.clone()) {
            tracing::warn!(%user, "a subscriber is too slow; a live event was dropped");
        }
    }
}

impl HubInner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Routes> {
        // A panic while holding the lock cannot leave the maps half-updated (each change is a
        // single insert or retain), so a poisoned lock is still usable.
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn unregister(&self, kind: Kind, user: UserId, id: u64) {
        fn remove<T>(map: &mut HashMap<UserId, Vec<Route<T>>>, user: UserId, id: u64) -> bool {
            let Some(list) = map.get_mut(&user) else {
                return false;
            };
            let before = list.len();
            list.retain(|r| r.id != id);
            let removed = list.len() < before;
            if list.is_empty() {
                map.remove(&user);
            }
            removed
        }
        let mut routes = self.lock();
        let removed = match kind {
            Kind::Notifications => remove(&mut routes.notifications, user, id),
            Kind::Presence => remove(&mut routes.presence, user, id),
            Kind::Messages => remove(&mut routes.messages, user, id),
        };
        if removed {
            self.count.send_modify(|n| *n = n.saturating_sub(1));
        }
    }

    /// Adds a route under the lock and counts it.
    fn add<T>(
        &self,
        pick: impl FnOnce(&mut Routes) -> &mut HashMap<UserId, Vec<Route<T>>>,
        user: UserId,
        route: Route<T>,
    ) {
        let mut routes = self.lock();
        pick(&mut routes).entry(user).or_default().push(route);
        self.count.send_modify(|n| *n += 1);
    }
}

impl Hub {
    /// A hub reading from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            inner: Arc::new(HubInner {
                store,
                routes: Mutex::new(Routes::default()),
                next_id: AtomicU64::new(1),
                count: watch::Sender::new(0),
            }),
        }
    }

    fn register<T>(&self, kind: Kind, user: UserId) -> (Route<T>, Feed<T>) {
        let (sender, receiver) = mpsc::channel(SUBSCRIPTION_QUEUE);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let feed = Feed {
            receiver,
            _registration: Registration {
                hub: self.inner.clone(),
                kind,
                user,
                id,
            },
        };
        (Route { id, sender }, feed)
    }

    /// New notifications of `user`, from now on.
    pub fn notifications(&self, user: UserId) -> Feed<Arc<Notification>> {
        let (route, feed) = self.register(Kind::Notifications, user);
        self.inner.add(|r| &mut r.notifications, user, route);
        feed
    }

    /// Presence changes of `user`'s friends, from now on.
    pub fn presence(&self, user: UserId) -> Feed<PresenceUpdate> {
        let (route, feed) = self.register(Kind::Presence, user);
        self.inner.add(|r| &mut r.presence, user, route);
        feed
    }

    /// Direct messages `user` sends or receives, from now on.
    pub fn direct_messages(&self, user: UserId) -> Feed<Arc<DirectMessage>> {
        let (route, feed) = self.register(Kind::Messages, user);
        self.inner.add(|r| &mut r.messages, user, route);
        feed
    }

    /// How many subscriptions are open on this node (for metrics and tests).
    pub fn subscription_count(&self) -> usize {
        *self.inner.count.borrow()
    }

    /// Returns once at least `at_least` subscriptions are open on this node (tests wait on
    /// this instead of sleeping until a just-started subscription has registered).
    pub async fn wait_for_subscriptions(&self, at_least: usize) {
        let mut count = self.inner.count.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we hold the hub.
        let _ = count.wait_for(|n| *n >= at_least).await;
    }

    /// Delivers events from `events` until the bus closes. Run exactly one per node.
    ///
    /// Presence changes are fanned out by a loop of their own beside the event loop (joined
    /// in this task, with a bounded queue between them), so that the
    /// friend-list lookups a presence change needs do not hold up the delivery of
    /// notifications and messages unless that queue is full.
    pub async fn run(self, events: broadcast::Receiver<Event>) {
        let (presence_tx, presence_rx) = mpsc::channel(PRESENCE_QUEUE);
        let events_loop = self.clone().deliver_events(events, presence_tx);
        let presence_loop = self.fan_out_presence_changes(presence_rx);
        // The presence loop ends when the event loop drops its end of the queue.
        tokio::join!(events_loop, presence_loop);
    }

    async fn fan_out_presence_changes(self, mut changes: mpsc::Receiver<PresenceChange>) {
        while let Some((user, online, at)) = changes.recv().await {
            self.fan_out_presence(user, online, at).await;
        }
    }

    async fn deliver_events(
        self,
        mut events: broadcast::Receiver<Event>,
        presence: mpsc::Sender<PresenceChange>,
    ) {
        loop {
            let first = match events.recv().await {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the realtime hub fell behind; events were lost");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match events.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        tracing::warn!(
                            missed = n,
                            "the realtime hub fell behind; events were lost"
                        );
                    }
                    Err(_) => break,
                }
            }
            for change in self.deliver(&batch).await {
                // A full queue (a burst, such as a node stopping with thousands of users)
                // holds the event loop back until the fan-out catches up: presence changes
                // are never dropped, since friends would see a stale state until the next one.
                if presence.send(change).await.is_err() {
                    return;
                }
            }
        }
    }

    /// Delivers one batch of events to local subscriptions, presence changes included.
    pub async fn dispatch(&self, batch: &[Event]) {
        for (user, online, at) in self.deliver(batch).await {
            self.fan_out_presence(user, online, at).await;
        }
    }

    /// Delivers a batch's notifications and messages; returns its presence changes, in order,
    /// when anyone here listens for presence.
    async fn deliver(&self, batch: &[Event]) -> Vec<PresenceChange> {
        let (notification_ids, message_ids, any_presence) = {
            let routes = self.inner.lock();
            let mut notes: Vec<NotificationId> = Vec::new();
            let mut messages: Vec<MessageId> = Vec::new();
            for event in batch {
                match *event {
                    Event::NotificationCreated { recipient, id } => {
                        if routes.notifications.contains_key(&recipient) {
                            notes.push(id);
                        }
                    }
                    Event::DirectMessageSent {
                        id,
                        sender,
                        recipient,
                    } => {
                        if routes.messages.contains_key(&sender)
                            || routes.messages.contains_key(&recipient)
                        {
                            messages.push(id);
                        }
                    }
                    // Access changes are handled by the access control, presence below.
                    Event::PresenceChanged { .. }
                    | Event::AccessChanged { .. }
                    | Event::UserChanged { .. } => {}
                }
            }
            (notes, messages, !routes.presence.is_empty())
        };
        let notifications = self.load_notifications(&notification_ids).await;
        let messages = self.load_messages(&message_ids).await;

        let mut presence = Vec::new();
        for event in batch {
            match *event {
                Event::NotificationCreated { recipient, id } => {
                    if let Some(n) = notifications.get(&id) {
                        let routes = self.inner.lock();
                        send_to(routes.notifications.get(&recipient), n, recipient);
                    }
                }
                Event::DirectMessageSent {
                    id,
                    sender,
                    recipient,
                } => {
                    if let Some(m) = messages.get(&id) {
                        let routes = self.inner.lock();
                        send_to(routes.messages.get(&sender), m, sender);
                        send_to(routes.messages.get(&recipient), m, recipient);
                    }
                }
                Event::PresenceChanged { user, online, at } if any_presence => {
                    presence.push((user, online, at));
                }
                Event::PresenceChanged { .. }
                | Event::AccessChanged { .. }
                | Event::UserChanged { .. } => {}
            }
        }
        presence
    }

    async fn load_notifications(
        &self,
        ids: &[NotificationId],
    ) -> HashMap<NotificationId, Arc<Notification>> {
        if ids.is_empty() {
            return HashMap::new();
        }
        match self.inner.store.notifications_by_ids(ids).await {
            Ok(items) => items.into_iter().map(|n| (n.id, Arc::new(n))).collect(),
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "could not load notifications for live delivery");
                HashMap::new()
            }
        }
    }

    async fn load_messages(&self, ids: &[MessageId]) -> HashMap<MessageId, Arc<DirectMessage>> {
        if ids.is_empty() {
            return HashMap::new();
        }
        match self.inner.store.direct_messages_by_ids(ids).await {
            Ok(items) => items.into_iter().map(|m| (m.id, Arc::new(m))).collect(),
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "could not load direct messages for live delivery");
                HashMap::new()
            }
        }
    }

    /// Tells the local presence subscribers among `user`'s friends: one query for the friend
    /// list, one for the user, then in-memory routing.
    async fn fan_out_presence(&self, user: UserId, online: bool, at: DateTime<Utc>) {
        let store = &self.inner.store;
        let friends = match store.friend_ids(user).await {
            Ok(friends) => friends,
            Err(e) => {
                tracing::warn!(%user, error = %crate::error::chain(&e), "could not load friends for presence");
                return;
            }
        };
        let listening: HashSet<UserId> = {
            let routes = self.inner.lock();
            friends
                .into_iter()
                .filter(|f| routes.presence.contains_key(f))
                .collect()
        };
        if listening.is_empty() {
            return;
        }
        let who = match store.user_by_id(user).await {
            Ok(Some(u)) => Arc::new(u),
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(%user, error = %crate::error::chain(&e), "could not load a user for presence");
                return;
            }
        };
        let update = PresenceUpdate {
            user: who,
            online,
            at,
        };
        let routes = self.inner.lock();
        for friend in listening {
            send_to(routes.presence.get(&friend), &update, friend);
        }
    }
}
