//! The event bus: how a committed change on one node reaches the connections of every node.
//!
//! Events are small and carry ids only; whoever delivers one reads what it needs from the
//! store. Anything a client must not miss (notifications, messages) is stored before its event
//! is published, so a lost event costs latency, never data.
//!
//! [`EventBus`] is the port. This module holds the embedded adapter, [`InProcessBus`] (a tokio
//! broadcast channel: one node); the PostgreSQL LISTEN/NOTIFY adapter lives in the persistence
//! crate. Both deliver a node's own events to it at once, without a round trip.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::{MessageId, NodeId, NotificationId, UserId};

/// How many events a slow subscriber may fall behind before it starts losing the oldest.
pub const LOCAL_CHANNEL_CAPACITY: usize = 65_536;

/// Something that happened, after its transaction committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
pub enum Event {
    /// A notification was stored for `recipient`.
    #[serde(rename = "n")]
    NotificationCreated {
        /// Who gets it.
        #[serde(rename = "r")]
        recipient: UserId,
        /// Which one.
        #[serde(rename = "i")]
        id: NotificationId,
    },
    /// A user went online or offline across all nodes.
    #[serde(rename = "p")]
    PresenceChanged {
        /// Whose presence.
        #[serde(rename = "u")]
        user: UserId,
        /// Online now.
        #[serde(rename = "o")]
        online: bool,
        /// When it changed (the last-seen time when going offline).
        #[serde(rename = "a")]
        at: DateTime<Utc>,
    },
    /// A direct message was stored.
    #[serde(rename = "m")]
    DirectMessageSent {
        /// Which message.
        #[serde(rename = "i")]
        id: MessageId,
        /// Who wrote it.
        #[serde(rename = "s")]
        sender: UserId,
        /// Who it is for.
        #[serde(rename = "r")]
        recipient: UserId,
    },
    /// A user's role, ban or session revocation changed: every node forgets what it cached
    /// and re-checks the user's open connections.
    #[serde(rename = "a")]
    AccessChanged {
        /// Whose.
        #[serde(rename = "u")]
        user: UserId,
    },
    /// Something a graph cache keeps about `user` changed (committed on node `origin`, whose
    /// own cache was already brought up to date): every other node forgets that part.
    #[serde(rename = "c")]
    UserChanged {
        /// The node that made the change.
        #[serde(rename = "o")]
        origin: NodeId,
        /// Whose.
        #[serde(rename = "u")]
        user: UserId,
        /// What changed.
        #[serde(rename = "k")]
        part: CachedPart,
    },
}

/// A part of what a graph cache keeps about one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CachedPart {
    /// Their edges, who blocked them, whom they dismissed from recommendations.
    #[serde(rename = "e")]
    Edges,
    /// Their profile: names, metadata, role, ban, last-seen time.
    #[serde(rename = "p")]
    Profile,
}

/// Delivers committed changes to every server node. Kept narrow on purpose, so that another
/// transport (NATS, Redis) is one more adapter and no change to the domain.
pub trait EventBus: Send + Sync {
    /// Queues events for every node, this one included. Never blocks and never fails the
    /// caller: delivery is best effort, and what must not be lost is already stored.
    fn publish(&self, events: Vec<Event>);

    /// A receiver of every event published on any node from now on, in publish order per node.
    fn subscribe(&self) -> broadcast::Receiver<Event>;

    /// Whether every node's events reach this one now (true for a bus inside one process).
    /// While it is false, or when it changes, events may have been lost: a graph cache keeps
    /// nothing it cannot vouch for.
    fn connected(&self) -> watch::Receiver<bool>;
}

/// Publishes that `notes` were stored (after their transaction committed); nothing when there
/// are none.
pub fn announce_notifications(bus: &dyn EventBus, notes: &[crate::ports::NewNotification]) {
    if !notes.is_empty() {
        bus.publish(
            notes
                .iter()
                .map(|n| Event::NotificationCreated {
                    recipient: n.recipient,
                    id: n.id,
                })
                .collect(),
        );
    }
}

/// The embedded bus: one process, one tokio broadcast channel.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    sender: broadcast::Sender<Event>,
    /// Always true: nothing is lost inside one process.
    connected: watch::Receiver<bool>,
}

impl InProcessBus {
    /// A bus with the default capacity.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(LOCAL_CHANNEL_CAPACITY);
        // The sending half is dropped: the value never changes.
        let (_, connected) = watch::channel(true);
        Self { sender, connected }
    }

    /// The sending side, for adapters that feed events received from elsewhere.
    pub fn sender(&self) -> &broadcast::Sender<Event> {
        &self.sender
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus for InProcessBus {
    fn publish(&self, events: Vec<Event>) {
        for event in events {
            // An error means nobody listens yet: nothing to deliver to.
            let _ = self.sender.send(event);
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_what_is_published_after_they_subscribe() {
        let bus = InProcessBus::new();
        let early = Event::NotificationCreated {
            recipient: UserId::new(),
            id: NotificationId::new(),
        };
        bus.publish(vec![early]);
        let mut rx = bus.subscribe();
        let event = Event::DirectMessageSent {
            id: MessageId::new(),
            sender: UserId::new(),
            recipient: UserId::new(),
        };
        bus.publish(vec![event]);
        assert_eq!(rx.recv().await.unwrap(), event);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn events_have_a_compact_stable_wire_form() {
        let user = UserId::new();
        let event = Event::PresenceChanged {
            user,
            online: true,
            at: crate::time::from_micros(1_700_000_000_000_000),
        };
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.starts_with(r#"{"t":"p","u":""#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
    }
}
