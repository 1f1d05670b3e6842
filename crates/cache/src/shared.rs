//! What a cache and the transactions it hands out share: the entries, and where changes go
//! (this node's entries at once, the other nodes through the bus).

use std::sync::Arc;

use amity_domain::events::{CachedPart, Event, EventBus};
use amity_domain::{NodeId, UserId};
use rustc_hash::FxHashSet;
use tokio::sync::{broadcast, watch};

use crate::entries::Key;
use crate::versions::{Entries, Origin};

/// The cache and where its changes go; shared with the transactions it hands out.
pub(crate) struct Shared {
    pub(crate) entries: Entries,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) node: NodeId,
}

impl Shared {
    /// After `changes` were committed through this node: forgets them here, then tells every
    /// other node. The one place a write's invalidation goes through.
    pub(crate) fn changed(&self, changes: &[(UserId, CachedPart)]) {
        let mut seen: FxHashSet<(UserId, CachedPart)> = FxHashSet::default();
        let mut events = Vec::new();
        for &(user, part) in changes {
            if seen.insert((user, part)) {
                self.entries
                    .invalidate(&[key_of(user, part)], Origin::Local);
                events.push(Event::UserChanged {
                    origin: self.node,
                    user,
                    part,
                });
            }
        }
        if !events.is_empty() {
            self.bus.publish(events);
        }
    }

    /// Applies one event from the bus.
    fn apply(&self, event: Event) {
        match event {
            Event::UserChanged { origin, user, part } if origin != self.node => {
                self.entries.invalidate(&[key_of(user, part)], Origin::Bus);
            }
            // Going offline sets the last-seen time of the profile.
            Event::PresenceChanged { user, .. } => self
                .entries
                .invalidate(&[Key::Online(user), Key::Profile(user)], Origin::Bus),
            Event::AccessChanged { user } => {
                self.entries.invalidate(&[Key::Profile(user)], Origin::Bus)
            }
            Event::UserChanged { .. }
            | Event::NotificationCreated { .. }
            | Event::DirectMessageSent { .. } => {}
        }
    }

    /// Follows the bus until it closes: applies other nodes' changes, and drops everything
    /// whenever events may have been lost.
    pub(crate) async fn follow(
        self: Arc<Self>,
        mut events: broadcast::Receiver<Event>,
        mut connected: watch::Receiver<bool>,
    ) {
        let mut link_open = true;
        let mut report = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                changed = connected.changed(), if link_open => match changed {
                    Ok(()) => {
                        let up = *connected.borrow_and_update();
                        tracing::info!(connected = up, "graph cache: the event bus link changed; dropping every entry");
                        self.entries.reset(up);
                    }
                    // The bus can no longer change its mind (a bus inside one process).
                    Err(_) => link_open = false,
                },
                received = events.recv() => match received {
                    Ok(event) => self.apply(event),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "graph cache: fell behind the event bus; dropping every entry");
                        self.entries.reset(*connected.borrow());
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = report.tick() => self.entries.report(),
            }
        }
    }
}

fn key_of(user: UserId, part: CachedPart) -> Key {
    match part {
        CachedPart::Edges => Key::Edges(user),
        CachedPart::Profile => Key::Profile(user),
    }
}
