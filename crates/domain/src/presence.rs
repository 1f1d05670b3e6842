//! Presence: a user is online while at least one authenticated websocket of theirs is open on
//! any node, and their last-seen time is kept when the last one closes.
//!
//! Each node keeps, in memory, how many connections each user holds on it; only the first
//! connection and the last disconnection of a user on a node touch the [`PresenceStore`], which
//! tells whether that made the user go online or offline across all nodes. Those transitions
//! are published on the [`EventBus`].
//!
//! - Flapping is coalesced: when a user's last connection on a node closes, the node waits
//!   [`PresenceSettings::offline_grace`] before recording it; a reconnection within that time
//!   cancels the offline transition, so friends see nothing.
//! - A node that dies without closing its connections stops heartbeating; once its heartbeat
//!   is older than [`PresenceSettings::ttl`], its users stop counting as online and any live
//!   node's sweep records them offline and publishes it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, mpsc};

use crate::friends::state::FriendState;
use tokio::time::Instant;

/// Whether a viewer may see a user's presence (online, last seen): the user themself
/// (`is_self`) and their friends (`view`, how the viewer sees the user, is FRIEND) may; nobody
/// else. The one definition of that rule: every answer that shows presence asks it.
pub fn presence_visible(is_self: bool, view: Option<FriendState>) -> bool {
    is_self || view == Some(FriendState::Friend)
}

use crate::events::{Event, EventBus};
use crate::ports::PresenceStore;
use crate::time::Clock;
use crate::{DomainError, NodeId, Result, UserId};

/// Timings of presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceSettings {
    /// How often a node renews its heartbeat and sweeps dead nodes.
    pub heartbeat: Duration,
    /// How old a node's heartbeat may be before its users count as offline.
    pub ttl: Duration,
    /// How long after a user's last connection on a node closes before they are recorded
    /// offline (a reconnection within it is invisible to friends).
    pub offline_grace: Duration,
}

impl Default for PresenceSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(5),
            ttl: Duration::from_secs(15),
            offline_grace: Duration::from_secs(1),
        }
    }
}

/// This node's presence bookkeeping. Cheap to clone.
#[derive(Clone)]
pub struct PresenceService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn PresenceStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    node: NodeId,
    settings: PresenceSettings,
    /// Each user's connections here. A user's own lock is held across that user's store calls,
    /// so that this node's transitions for one user happen in order while other users' go on;
    /// the map's lock is only held to find or drop an entry.
    users: StdMutex<HashMap<UserId, Arc<Mutex<Local>>>>,
    /// Users with no connection left here, and when to record them offline.
    due: StdMutex<HashMap<UserId, Instant>>,
    closed: mpsc::UnboundedSender<Closed>,
    closed_rx: StdMutex<Option<mpsc::UnboundedReceiver<Closed>>>,
}

/// A connection of a user closed at a moment.
type Closed = (UserId, DateTime<Utc>);

/// One user's connections on this node.
#[derive(Debug, Default)]
struct Local {
    connections: u32,
    /// A presence row for this user and node exists in the store (or may: see `uncertain`).
    registered: bool,
    /// A connect's store call was abandoned midway: the row may or may not exist, so the next
    /// connect writes it again (the write is idempotent).
    uncertain: bool,
    /// Since when the user has had no connection here.
    offline_since: Option<DateTime<Utc>>,
    /// Dropped from the map: whoever finds it after waiting for its lock looks again.
    detached: bool,
}

/// A connect in progress, holding the user's lock. Dropped unfinished (the store call failed,
/// or the connect's future was dropped by a timeout mid-call), it leaves no phantom
/// connection: with no connection here, an entry that never reached the store is dropped,
/// and one whose presence row may have been written is recorded offline at the next round of
/// the presence loop (at the latest a heartbeat later), as a last disconnect would be; a
/// connect before that writes the row again.
struct ConnectAttempt<'a> {
    service: &'a PresenceService,
    user: UserId,
    slot: Arc<Mutex<Local>>,
    local: tokio::sync::OwnedMutexGuard<Local>,
    finished: bool,
}

impl Drop for ConnectAttempt<'_> {
    fn drop(&mut self) {
        if self.finished || self.local.connections > 0 {
            return;
        }
        let inner = &self.service.inner;
        if self.local.registered {
            if self.local.offline_since.is_none() {
                self.local.offline_since = Some(inner.clock.now());
                lock(&inner.due).insert(self.user, Instant::now());
            }
        } else {
            self.local.detached = true;
            lock(&inner.due).remove(&self.user);
            self.service.drop_entry(self.user, &self.slot);
        }
    }
}

/// Locks a std mutex whose data stays consistent even if a holder panicked (each change under
/// it is one insert or remove).
fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Held for as long as one connection is open; dropping it closes the connection's presence.
pub struct PresenceGuard {
    user: UserId,
    closed: mpsc::UnboundedSender<Closed>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PresenceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceGuard")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl PresenceGuard {
    /// Whose connection this is.
    pub fn user(&self) -> UserId {
        self.user
    }
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        // If the service has stopped, the node is deregistered and there is nothing to record.
        let _ = self.closed.send((self.user, self.clock.now()));
    }
}

impl PresenceService {
    /// The presence of node `node`; call [`PresenceService::start`] before accepting
    /// connections and drive [`PresenceService::run`] until shutdown.
    pub fn new(
        store: Arc<dyn PresenceStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        node: NodeId,
        settings: PresenceSettings,
    ) -> Self {
        let (closed, closed_rx) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                store,
                bus,
                clock,
                node,
                settings,
                users: StdMutex::new(HashMap::new()),
                due: StdMutex::new(HashMap::new()),
                closed,
                closed_rx: StdMutex::new(Some(closed_rx)),
            }),
        }
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.inner.node
    }

    /// The timings in use.
    pub fn settings(&self) -> PresenceSettings {
        self.inner.settings
    }

    /// Registers this node.
    pub async fn start(&self) -> Result<()> {
        self.inner
            .store
            .register_node(self.inner.node, self.inner.clock.now())
            .await
    }

    fn live_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let ttl = chrono::Duration::from_std(self.inner.settings.ttl)
            .unwrap_or(chrono::Duration::seconds(15));
        now - ttl
    }

    /// Records a new authenticated connection of `user`. When this returns, other nodes see
    /// the user online.
    pub async fn connect(&self, user: UserId) -> Result<PresenceGuard> {
        let inner = &self.inner;
        let (slot, local) = loop {
            let slot = lock(&inner.users).entry(user).or_default().clone();
            let local = slot.clone().lock_owned().await;
            if !local.detached {
                break (slot, local);
            }
        };
        // Undoes what an unfinished connect leaves (an error, or this future dropped by a
        // timeout while the store call runs).
        let mut attempt = ConnectAttempt {
            service: self,
            user,
            slot,
            local,
            finished: false,
        };
        if !attempt.local.registered || attempt.local.uncertain {
            let before = (attempt.local.registered, attempt.local.uncertain);
            // Until the store call returns, a presence row may or may not exist; if this
            // future is dropped midway, that is what the attempt leaves behind.
            (attempt.local.registered, attempt.local.uncertain) = (true, true);
            match self.register_here(user).await {
                Ok(event) => {
                    attempt.local.uncertain = false;
                    inner.bus.publish(event.into_iter().collect());
                }
                Err(e) => {
                    // The store's transaction rolled back: the row is as it was.
                    (attempt.local.registered, attempt.local.uncertain) = before;
                    return Err(e);
                }
            }
        }
        attempt.local.connections += 1;
        attempt.local.offline_since = None;
        lock(&inner.due).remove(&user);
        attempt.finished = true;
        drop(attempt);
        Ok(PresenceGuard {
            user,
            closed: inner.closed.clone(),
            clock: inner.clock.clone(),
        })
    }

    /// Which of `users` are online on any node.
    pub async fn online_among(&self, users: &[UserId]) -> Result<HashSet<UserId>> {
        if users.is_empty() {
            return Ok(HashSet::new());
        }
        let now = self.inner.clock.now();
        self.inner
            .store
            .online_among(users, self.live_after(now))
            .await
    }

    /// Whether `user` is online on any node.
    pub async fn is_online(&self, user: UserId) -> Result<bool> {
        Ok(self.online_among(&[user]).await?.contains(&user))
    }

    /// Records closed connections, heartbeats and sweeps until `shutdown` resolves, then
    /// deregisters the node (its users go offline unless connected elsewhere). Call once.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let Some(mut closed) = self
            .inner
            .closed_rx
            .lock()
            .map_err(|_| DomainError::Internal("presence state poisoned".into()))?
            .take()
        else {
            return Err(DomainError::Internal("presence is already running".into()));
        };
        let mut heartbeat = tokio::time::interval(self.inner.settings.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let next_due = self.next_offline_due().await;
            tokio::select! {
                _ = &mut shutdown => break,
                Some((user, at)) = closed.recv() => self.connection_closed(user, at).await,
                _ = sleep_until(next_due) => self.record_due_offline().await,
                _ = heartbeat.tick() => self.heartbeat().await,
            }
        }
        self.stop().await
    }

    /// Records that `user` is connected to this node; the online event to publish if that
    /// made them online anywhere.
    async fn register_here(&self, user: UserId) -> Result<Option<Event>> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let came_online = inner
            .store
            .connect(inner.node, user, now, self.live_after(now))
            .await?;
        Ok(came_online.then_some(Event::PresenceChanged {
            user,
            online: true,
            at: now,
        }))
    }

    async fn next_offline_due(&self) -> Option<Instant> {
        lock(&self.inner.due).values().min().copied()
    }

    /// Removes `user`'s entry if it is still `slot` (the caller holds its lock and has marked
    /// it detached).
    fn drop_entry(&self, user: UserId, slot: &Arc<Mutex<Local>>) {
        let mut users = lock(&self.inner.users);
        if users.get(&user).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            users.remove(&user);
        }
    }

    fn slot(&self, user: UserId) -> Option<Arc<Mutex<Local>>> {
        lock(&self.inner.users).get(&user).cloned()
    }

    async fn connection_closed(&self, user: UserId, at: DateTime<Utc>) {
        let Some(slot) = self.slot(user) else { return };
        let mut local = slot.lock().await;
        if local.detached || local.connections == 0 {
            return;
        }
        local.connections -= 1;
        if local.connections == 0 {
            local.offline_since = Some(at);
            lock(&self.inner.due).insert(user, Instant::now() + self.inner.settings.offline_grace);
        }
    }

    async fn record_due_offline(&self) {
        let inner = &self.inner;
        let now = Instant::now();
        let due: Vec<UserId> = lock(&inner.due)
            .iter()
            .filter(|(_, when)| **when <= now)
            .map(|(user, _)| *user)
            .collect();
        for user in due {
            let Some(slot) = self.slot(user) else {
                lock(&inner.due).remove(&user);
                continue;
            };
            let mut local = slot.lock().await;
            let at = match local.offline_since {
                Some(at) if !local.detached && local.connections == 0 => at,
                // Reconnected (or already dropped) meanwhile.
                _ => continue,
            };
            if local.registered {
                let live_after = self.live_after(inner.clock.now());
                match inner
                    .store
                    .disconnect(inner.node, user, at, live_after)
                    .await
                {
                    // Published before this user's lock is released, so that a reconnection
                    // right after cannot publish its online event ahead of this one.
                    Ok(true) => inner.bus.publish(vec![Event::PresenceChanged {
                        user,
                        online: false,
                        at,
                    }]),
                    Ok(false) => {}
                    Err(e) => {
                        // Keep the entry: the next round tries again.
                        tracing::warn!(%user, error = %crate::error::chain(&e), "could not record a user offline");
                        lock(&inner.due).insert(user, Instant::now() + inner.settings.heartbeat);
                        continue;
                    }
                }
            }
            local.detached = true;
            lock(&inner.due).remove(&user);
            self.drop_entry(user, &slot);
        }
    }

    async fn heartbeat(&self) {
        let inner = &self.inner;
        let now = inner.clock.now();
        match inner.store.heartbeat(inner.node, now).await {
            Ok(true) => {}
            Ok(false) => self.reregister().await,
            Err(e) => tracing::warn!(error = %crate::error::chain(&e), "presence heartbeat failed"),
        }
        match inner.store.sweep_dead_nodes(self.live_after(now)).await {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(users = gone.len(), "swept presence of dead nodes");
                inner.bus.publish(
                    gone.into_iter()
                        .map(|(user, at)| Event::PresenceChanged {
                            user,
                            online: false,
                            at,
                        })
                        .collect(),
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "sweeping dead nodes failed")
            }
        }
    }

    /// This node was swept as dead (it stalled past the ttl): register again and restore the
    /// presence of the users still connected here.
    async fn reregister(&self) {
        let inner = &self.inner;
        tracing::warn!(node = %inner.node, "this node was presumed dead; registering again");
        let now = inner.clock.now();
        if let Err(e) = inner.store.register_node(inner.node, now).await {
            tracing::warn!(error = %crate::error::chain(&e), "registering the node again failed");
            return;
        }
        let slots: Vec<(UserId, Arc<Mutex<Local>>)> = lock(&inner.users)
            .iter()
            .map(|(user, slot)| (*user, slot.clone()))
            .collect();
        let mut events = Vec::new();
        for (user, slot) in slots {
            let mut local = slot.lock().await;
            if local.detached {
                continue;
            }
            local.registered = false;
            local.uncertain = false;
            if local.connections == 0 {
                // Its row went with the node: nothing left to record.
                local.detached = true;
                lock(&inner.due).remove(&user);
                self.drop_entry(user, &slot);
                continue;
            }
            match self.register_here(user).await {
                Ok(event) => {
                    local.registered = true;
                    events.extend(event);
                }
                Err(e) => {
                    tracing::warn!(%user, error = %crate::error::chain(&e), "restoring presence failed")
                }
            }
        }
        inner.bus.publish(events);
    }

    async fn stop(&self) -> Result<()> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let gone = inner
            .store
            .deregister_node(inner.node, now, self.live_after(now))
            .await?;
        lock(&inner.users).clear();
        lock(&inner.due).clear();
        inner.bus.publish(
            gone.into_iter()
                .map(|user| Event::PresenceChanged {
                    user,
                    online: false,
                    at: now,
                })
                .collect(),
        );
        Ok(())
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_shows_to_the_user_and_friends_only() {
        assert!(presence_visible(true, None));
        assert!(presence_visible(false, Some(FriendState::Friend)));
        for state in [
            FriendState::InviteSent,
            FriendState::InviteReceived,
            FriendState::Blocked,
        ] {
            assert!(!presence_visible(false, Some(state)), "{state:?}");
        }
        assert!(!presence_visible(false, None));
    }
}
