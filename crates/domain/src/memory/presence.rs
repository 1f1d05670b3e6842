//! [`PresenceStore`] on the in-memory tables: nodes with heartbeats, and one presence row per
//! (user, node).
//!
//! Each call is one write on the store, and writes are serialized, so two nodes changing one
//! user's presence at the same moment see one transition between them, as with the SQL
//! store's user locks.

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use super::state::{NodeRow, State, stored};
use crate::ports::PresenceStore;
use crate::{DomainError, NodeId, Result, UserId};

impl State {
    /// Which of `users` hold a presence row on a node whose heartbeat is after `live_after`.
    fn live_users(
        &self,
        users: impl IntoIterator<Item = UserId>,
        live_after: DateTime<Utc>,
    ) -> HashSet<UserId> {
        let live_after = stored(live_after);
        let live_nodes: BTreeSet<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, node)| node.heartbeat_at > live_after)
            .map(|(id, _)| *id)
            .collect();
        users
            .into_iter()
            .filter(|user| {
                live_nodes
                    .iter()
                    .any(|node| self.presence.contains_key(&(*user, *node)))
            })
            .collect()
    }

    /// Whether `user` holds a presence row on a live node other than `node`.
    fn live_elsewhere(&self, node: NodeId, user: UserId, live_after: DateTime<Utc>) -> bool {
        let live_after = stored(live_after);
        self.presence
            .range((user, NodeId::from_uuid(uuid::Uuid::nil()))..)
            .take_while(|((u, _), _)| *u == user)
            .any(|((_, n), _)| {
                *n != node
                    && self
                        .nodes
                        .get(n)
                        .is_some_and(|row| row.heartbeat_at > live_after)
            })
    }

    /// The users with a presence row on `node`, in id order.
    fn users_on(&self, node: NodeId) -> Vec<UserId> {
        self.presence
            .keys()
            .filter(|(_, n)| *n == node)
            .map(|(user, _)| *user)
            .collect()
    }

    /// Removes `node` and its presence rows; returns the users that left with it and are now
    /// offline everywhere, their last-seen time set to `seen_at`. `None` if there is no such
    /// node.
    fn remove_node(
        &mut self,
        node: NodeId,
        seen_at: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Option<Vec<UserId>> {
        self.nodes.remove(&node)?;
        let users = self.users_on(node);
        self.presence.retain(|(_, n), _| *n != node);
        let live = self.live_users(users.iter().copied(), live_after);
        let offline: Vec<UserId> = users.into_iter().filter(|u| !live.contains(u)).collect();
        self.set_last_seen(&offline, seen_at);
        Some(offline)
    }
}

#[async_trait]
impl PresenceStore for MemoryStore {
    async fn register_node(&self, node: NodeId, now: DateTime<Utc>) -> Result<()> {
        self.shared.calls.record("register_node");
        self.write(|state| {
            state.nodes.insert(
                node,
                NodeRow {
                    heartbeat_at: stored(now),
                },
            );
            Ok(())
        })
        .await
    }

    async fn heartbeat(&self, node: NodeId, now: DateTime<Utc>) -> Result<bool> {
        self.shared.calls.record("heartbeat");
        self.write(|state| {
            Ok(match state.nodes.get_mut(&node) {
                Some(row) => {
                    row.heartbeat_at = stored(now);
                    true
                }
                None => false,
            })
        })
        .await
    }

    /// Fails as the SQL store does when the presence row cannot be written because its user
    /// or its node is gone (a foreign key): "the account no longer exists".
    async fn connect(
        &self,
        node: NodeId,
        user: UserId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<bool> {
        self.shared.calls.record("connect");
        self.write(|state| {
            let elsewhere = state.live_elsewhere(node, user, live_after);
            if !state.presence.contains_key(&(user, node)) {
                if state.user(user).is_none() || !state.nodes.contains_key(&node) {
                    return Err(DomainError::Unauthenticated(
                        "the account no longer exists".into(),
                    ));
                }
                state.presence.insert((user, node), stored(now));
            }
            Ok(!elsewhere)
        })
        .await
    }

    async fn disconnect(
        &self,
        node: NodeId,
        user: UserId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<bool> {
        self.shared.calls.record("disconnect");
        self.write(|state| {
            state.presence.remove(&(user, node));
            let offline = !state.live_elsewhere(node, user, live_after);
            if offline {
                state.set_last_seen(&[user], now);
            }
            Ok(offline)
        })
        .await
    }

    async fn deregister_node(
        &self,
        node: NodeId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<Vec<UserId>> {
        self.shared.calls.record("deregister_node");
        self.write(|state| Ok(state.remove_node(node, now, live_after).unwrap_or_default()))
            .await
    }

    /// Dead nodes are removed in id order; a user whose rows were on several dead nodes is
    /// returned once per node, as the SQL store returns them.
    async fn sweep_dead_nodes(
        &self,
        live_after: DateTime<Utc>,
    ) -> Result<Vec<(UserId, DateTime<Utc>)>> {
        self.shared.calls.record("sweep_dead_nodes");
        self.write(|state| {
            let live_after = stored(live_after);
            let dead: Vec<(NodeId, DateTime<Utc>)> = state
                .nodes
                .iter()
                .filter(|(_, row)| row.heartbeat_at <= live_after)
                .map(|(id, row)| (*id, row.heartbeat_at))
                .collect();
            let mut gone = Vec::new();
            for (node, last_heartbeat) in dead {
                if let Some(offline) = state.remove_node(node, last_heartbeat, live_after) {
                    gone.extend(offline.into_iter().map(|user| (user, last_heartbeat)));
                }
            }
            Ok(gone)
        })
        .await
    }

    async fn online_among(
        &self,
        users: &[UserId],
        live_after: DateTime<Utc>,
    ) -> Result<HashSet<UserId>> {
        self.shared.calls.record("online_among");
        Ok(self
            .snapshot()
            .live_users(users.iter().copied(), live_after))
    }
}
