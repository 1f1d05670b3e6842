//! The per-request session check, served from memory.
//!
//! [`AccessControl`] keeps each active user's [`AccessStatus`] (role, ban, revocation time) after
//! loading it once, so checking a token costs a hash-map lookup, not a query. Entries are
//! forgotten when [`Event::AccessChanged`] arrives over the bus (any node's change), when a
//! poll of the audit log finds a change another process made (the command line on SQLite), or
//! all at once when events may have been missed. Forgetting a user also wakes every
//! [`AccessWatch`] on them, so open websockets re-check at once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, watch};

use crate::accounts::Role;
use crate::events::Event;
use crate::moderation::{AccessDenied, AccessStatus};
use crate::ports::ModerationStore;
use crate::time::Clock;
use crate::{ModerationEntryId, Result, SessionId, UserId};

/// Most statuses kept; past it the cache starts over (it refills on demand).
const MAX_CACHED: usize = 100_000;
/// How long a cached status is trusted before the next check reloads it: a user removed from
/// the database behind the server's back (no event tells of it) is refused within this.
/// A reload that fails keeps the old status, so a database blip logs nobody out.
pub const REVALIDATE_AFTER: chrono::Duration = chrono::Duration::seconds(30);
/// How far back each poll of the audit log looks, so that an entry committed late by a slow
/// transaction is still seen.
const POLL_OVERLAP: chrono::Duration = chrono::Duration::seconds(5);

/// How far apart nodes' clocks may be: a token issued up to this long after a user's status
/// was loaded may belong to a session the loaded status does not know yet.
pub const NEW_SESSION_SKEW: chrono::Duration = chrono::Duration::seconds(5);

/// What an admitted session may do, and until when it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// The user's current role.
    pub role: Role,
    /// When the session ends unless refreshed (a websocket is checked again then).
    pub session_ends_at: DateTime<Utc>,
}

#[derive(Default)]
struct Inner {
    /// `None`: there is no such user. With when it was loaded.
    statuses: HashMap<UserId, (Option<AccessStatus>, DateTime<Utc>)>,
    /// Bumped by every forgetting, so that a load that raced one is not cached.
    epoch: u64,
    watchers: HashMap<UserId, watch::Sender<()>>,
}

/// Answers "may this session act, and as which role?" for every request and websocket.
#[derive(Clone)]
pub struct AccessControl {
    store: Arc<dyn ModerationStore>,
    clock: Arc<dyn Clock>,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessControl").finish_non_exhaustive()
    }
}

impl AccessControl {
    /// A check on `store`, starting with nothing cached.
    pub fn new(store: Arc<dyn ModerationStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            inner: Arc::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The data stays consistent even if a holder panicked: every update is one statement.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The role a token of `user` issued at `issued_at` acts with now, or why it may not act:
    /// the user's standing only (existence, ban, revocation), not a session's. Loads the user's
    /// status on first use; afterwards answers from memory.
    pub async fn admit(
        &self,
        user: UserId,
        issued_at: DateTime<Utc>,
    ) -> Result<std::result::Result<Role, AccessDenied>> {
        let now = self.clock.now();
        Ok(match self.status(user, false, None).await? {
            Some(status) => status.admit(issued_at, now),
            None => Err(AccessDenied::Unknown),
        })
    }

    /// [`AccessControl::admit`], reading the status from the store whatever is cached (for
    /// new websockets: rare and long-lived, they should not start on a stale status).
    pub async fn admit_fresh(
        &self,
        user: UserId,
        issued_at: DateTime<Utc>,
    ) -> Result<std::result::Result<Role, AccessDenied>> {
        let now = self.clock.now();
        Ok(match self.status(user, true, None).await? {
            Some(status) => status.admit(issued_at, now),
            None => Err(AccessDenied::Unknown),
        })
    }

    /// Whether an access token of `session` (of `user`, issued at `issued_at`) may act now:
    /// the user's standing as [`AccessControl::admit`] judges it, and the session still live.
    /// A session the cached status does not list is looked up once, when the status was
    /// loaded before the token was issued (allowing [`NEW_SESSION_SKEW`] between nodes'
    /// clocks): the session may be newer than what is cached. `fresh` reads the store
    /// whatever is cached.
    pub async fn admit_session(
        &self,
        user: UserId,
        session: SessionId,
        issued_at: DateTime<Utc>,
        fresh: bool,
    ) -> Result<std::result::Result<Admitted, AccessDenied>> {
        let now = self.clock.now();
        let status = self
            .status(user, fresh, Some((session, issued_at + NEW_SESSION_SKEW)))
            .await?;
        let Some(status) = status else {
            return Ok(Err(AccessDenied::Unknown));
        };
        let role = match status.admit(issued_at, now) {
            Ok(role) => role,
            Err(denied) => return Ok(Err(denied)),
        };
        Ok(match status.session_ends_at(session, now) {
            Some(session_ends_at) => Ok(Admitted {
                role,
                session_ends_at,
            }),
            None => Err(AccessDenied::SessionEnded),
        })
    }

    /// The user's status: from memory when loaded less than [`REVALIDATE_AFTER`] ago (and,
    /// with `session`, when it lists that session or was loaded after the given time), else
    /// from the store.
    async fn status(
        &self,
        user: UserId,
        fresh: bool,
        session: Option<(SessionId, DateTime<Utc>)>,
    ) -> Result<Option<AccessStatus>> {
        let now = self.clock.now();
        let (cached, epoch) = {
            let inner = self.lock();
            (inner.statuses.get(&user).cloned(), inner.epoch)
        };
        let usable = |status: &Option<AccessStatus>, loaded: DateTime<Utc>| {
            !fresh
                && now - loaded < REVALIDATE_AFTER
                && session.is_none_or(|(id, newer_than)| {
                    loaded >= newer_than
                        || status
                            .as_ref()
                            .is_some_and(|s| s.sessions.iter().any(|(known, _)| *known == id))
                })
        };
        match cached {
            Some((status, loaded)) if usable(&status, loaded) => Ok(status),
            stale => match self.store.access_status(user).await {
                Ok(loaded) => {
                    let mut inner = self.lock();
                    if inner.epoch == epoch {
                        if inner.statuses.len() >= MAX_CACHED {
                            inner.statuses.clear();
                        }
                        inner.statuses.insert(user, (loaded.clone(), now));
                    }
                    Ok(loaded)
                }
                // Stale is better than nothing while the store is unreachable.
                Err(e) => match stale.filter(|_| !fresh) {
                    Some((status, _)) => {
                        tracing::debug!(%user, error = %crate::error::chain(&e), "re-checking a session failed; using what is known");
                        Ok(status)
                    }
                    None => Err(e),
                },
            },
        }
    }

    /// Forgets what is cached about `user` and wakes their watchers.
    pub fn forget(&self, user: UserId) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.statuses.remove(&user);
        if let Some(watcher) = inner.watchers.get(&user) {
            let _ = watcher.send(());
        }
    }

    /// Forgets everything and wakes every watcher (after events may have been missed).
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.statuses.clear();
        for watcher in inner.watchers.values() {
            let _ = watcher.send(());
        }
    }

    /// A handle that wakes whenever `user`'s access may have changed.
    pub fn watch(&self, user: UserId) -> AccessWatch {
        let mut inner = self.lock();
        let receiver = inner
            .watchers
            .entry(user)
            .or_insert_with(|| watch::channel(()).0)
            .subscribe();
        AccessWatch {
            user,
            receiver,
            inner: self.inner.clone(),
        }
    }

    /// Follows the bus until it closes, forgetting users whose access changed (on any node).
    pub async fn follow(self, mut events: broadcast::Receiver<Event>) {
        loop {
            match events.recv().await {
                Ok(Event::AccessChanged { user }) => self.forget(user),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "access events were missed; re-checking everyone");
                    self.forget_all();
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Polls the audit log every `every` for changes made by another process on the same
    /// database (the command line, when there is no shared bus), forgetting their targets and
    /// announcing them on `bus` as [`Event::AccessChanged`] (for this node's other caches).
    /// Runs until `stop` turns true.
    pub async fn poll_log(
        self,
        every: Duration,
        mut stop: watch::Receiver<bool>,
        bus: Arc<dyn crate::events::EventBus>,
    ) {
        let mut since = self.clock.now();
        let mut seen: HashSet<ModerationEntryId> = HashSet::new();
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            match self
                .store
                .moderation_targets_since(since - POLL_OVERLAP)
                .await
            {
                Ok(entries) => {
                    let mut newest = since;
                    let mut current = HashSet::with_capacity(entries.len());
                    let mut changed = Vec::new();
                    for (id, target, at) in entries {
                        if !seen.contains(&id) {
                            self.forget(target);
                            changed.push(Event::AccessChanged { user: target });
                        }
                        current.insert(id);
                        newest = newest.max(at);
                    }
                    bus.publish(changed);
                    // Entries older than the window are never returned again.
                    seen = current;
                    since = newest;
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error::chain(&e), "polling the moderation log failed")
                }
            }
        }
    }
}

/// Wakes when its user's access may have changed; re-check with [`AccessControl::admit`].
pub struct AccessWatch {
    user: UserId,
    receiver: watch::Receiver<()>,
    inner: Arc<Mutex<Inner>>,
}

impl AccessWatch {
    /// Resolves at the next change (never, once the control is gone).
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for AccessWatch {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // This receiver still counts: the last watcher removes the sender.
        if inner
            .watchers
            .get(&self.user)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            inner.watchers.remove(&self.user);
        }
    }
}
