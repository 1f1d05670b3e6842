//! The account lifecycle in memory: credentials, guest devices, handle changes, deletion
//! (tombstones), search, unlinking, notification counts and jobs, as the SQL store does them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::state::{State, UserRow, stored};
use crate::accounts::{NewUser, User, search_key, tombstone_key};
use crate::ports::{NotificationJob, SignInMethods, Unlinked};
use crate::social::Network;
use crate::{Handle, JobId, NotificationId, Result, SessionId, UserId};

/// One recorded notification job and its cursor.
#[derive(Debug, Clone)]
pub(super) struct JobRow {
    /// The job.
    pub(super) job: NotificationJob,
    /// The last user it delivered to.
    pub(super) cursor: Option<UserId>,
}

impl State {
    /// A live (not deleted) user's row.
    pub(super) fn live_row(&self, id: UserId) -> Option<&UserRow> {
        self.users
            .get(&id)
            .filter(|row| row.user.deleted_at.is_none())
    }

    fn live_row_mut(&mut self, id: UserId) -> Option<&mut UserRow> {
        self.users
            .get_mut(&id)
            .filter(|row| row.user.deleted_at.is_none())
    }

    /// How the user can sign in.
    pub(super) fn sign_in_methods(&self, id: UserId) -> Option<SignInMethods> {
        let row = self.live_row(id)?;
        Some(SignInMethods {
            password: row.password_hash.is_some(),
            device: row.device_key.is_some(),
            networks: self
                .links
                .iter()
                .filter(|(_, link)| link.user == id)
                .map(|((network, external), _)| (*network, external.clone()))
                .collect(),
        })
    }

    /// Sets the password hash and ends the other sessions (with `keep`).
    pub(super) fn set_password_hash(
        &mut self,
        id: UserId,
        hash: &str,
        keep: Option<SessionId>,
    ) -> Option<Vec<SessionId>> {
        self.live_row_mut(id)?.password_hash = Some(hash.to_owned());
        let ended: Vec<SessionId> = match keep {
            Some(keep) => self
                .sessions
                .values()
                .filter(|s| s.user == id && s.id != keep)
                .map(|s| s.id)
                .collect(),
            None => Vec::new(),
        };
        self.end_sessions(&ended);
        Some(ended)
    }

    /// Changes a live user's handle.
    pub(super) fn change_handle(&mut self, id: UserId, handle: &Handle) -> Result<Option<User>> {
        let key = handle.key();
        if self.live_row(id).is_none() {
            return Ok(None);
        }
        if self.handle_keys.get(&key).is_some_and(|owner| *owner != id) {
            return Err(crate::DomainError::HandleTaken(handle.to_string()));
        }
        let Some(row) = self.users.get_mut(&id) else {
            return Ok(None);
        };
        let old = row.user.handle.key();
        row.user.handle = handle.clone();
        let user = row.user.clone();
        self.handle_keys.remove(&old);
        self.handle_keys.insert(key, id);
        Ok(Some(user))
    }

    /// Stores a guest user for a device.
    pub(super) fn insert_device_user(&mut self, new: &NewUser, key: &str) -> Result<Option<User>> {
        if self.device_keys.contains_key(key) {
            return Ok(None);
        }
        let user = self.insert_user(new)?;
        if let Some(row) = self.users.get_mut(&user.id) {
            row.device_key = Some(key.to_owned());
        }
        self.device_keys.insert(key.to_owned(), user.id);
        Ok(Some(user))
    }

    /// Deletes an account, leaving a tombstone; the users who had an edge with it.
    pub(super) fn delete_user(&mut self, id: UserId, at: DateTime<Utc>) -> Option<Vec<UserId>> {
        self.live_row(id)?;
        let mut others: Vec<UserId> = self.edges_of(id).map(|(other, _)| other).collect();
        for (owner, edges) in &self.edges {
            if edges.contains_key(&id) {
                others.push(*owner);
            }
        }
        others.sort();
        others.dedup();
        self.edges.remove(&id);
        for edges in self.edges.values_mut() {
            edges.remove(&id);
        }
        self.edges.retain(|_, edges| !edges.is_empty());
        self.dismissed.retain(|(a, b), _| *a != id && *b != id);
        self.links.retain(|_, link| link.user != id);
        let ended: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.user == id)
            .map(|s| s.id)
            .collect();
        self.end_sessions(&ended);
        self.presence.retain(|(user, _), _| *user != id);
        self.notifications
            .retain(|_, n| n.recipient != id && n.sender != Some(id));
        self.messages
            .retain(|_, m| m.sender != id && m.recipient != id);
        let tombstone = tombstone_key(id);
        let row = self.users.get_mut(&id)?;
        let old_key = row.user.handle.key();
        if let Some(device) = row.device_key.take() {
            self.device_keys.remove(&device);
        }
        row.password_hash = None;
        row.user.handle = Handle::from_stored(tombstone.clone());
        row.user.display_name = None;
        row.user.avatar_url = None;
        row.user.metadata = None;
        row.user.deleted_at = Some(stored(at));
        self.handle_keys.remove(&old_key);
        self.handle_keys.insert(tombstone, id);
        Some(others)
    }

    /// Live users whose handle or display name starts with `prefix`, not banned at `now`.
    pub(super) fn search_users(&self, prefix: &str, limit: u32, now: DateTime<Utc>) -> Vec<User> {
        let mut found: BTreeMap<String, User> = BTreeMap::new();
        for row in self.users.values() {
            let user = &row.user;
            if user.deleted_at.is_some() || user.is_banned_at(now) {
                continue;
            }
            let by_name = user
                .display_name
                .as_deref()
                .is_some_and(|name| search_key(name).starts_with(prefix));
            if user.handle.key().starts_with(prefix) || by_name {
                found.insert(user.handle.key(), user.clone());
            }
        }
        found
            .into_values()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect()
    }

    /// Unlinks a network unless it is the last way in.
    pub(super) fn unlink_external(&mut self, user: UserId, network: Network) -> Unlinked {
        let Some(methods) = self.sign_in_methods(user) else {
            return Unlinked::NoUser;
        };
        let Some((_, external)) = methods.networks.iter().find(|(n, _)| *n == network) else {
            return Unlinked::NotLinked;
        };
        if methods.count() <= 1 {
            return Unlinked::LastWayIn;
        }
        self.links.remove(&(network, external.clone()));
        Unlinked::Done
    }

    /// Runs the next batch of a job.
    pub(super) fn run_notification_batch(
        &mut self,
        job: JobId,
        batch: u32,
        at: DateTime<Utc>,
        new_id: &(dyn Fn() -> NotificationId + Send + Sync),
    ) -> Result<Option<Vec<(UserId, NotificationId)>>> {
        let Some(row) = self.jobs.get(&job).filter(|r| r.job.finished_at.is_none()) else {
            return Ok(None);
        };
        let (subject, content, cursor) =
            (row.job.subject.clone(), row.job.content.clone(), row.cursor);
        let recipients: Vec<UserId> = self
            .users
            .iter()
            .filter(|(id, row)| cursor.is_none_or(|c| **id > c) && row.user.deleted_at.is_none())
            .map(|(id, _)| *id)
            .take(usize::try_from(batch).unwrap_or(usize::MAX))
            .collect();
        let items: Vec<crate::ports::NewNotification> = recipients
            .iter()
            .map(|recipient| crate::ports::NewNotification {
                id: new_id(),
                recipient: *recipient,
                code: crate::notifications::NotificationCode::System,
                subject: subject.clone(),
                content: content.clone(),
                sender: None,
            })
            .collect();
        self.insert_notifications(&items, at)?;
        if let Some(row) = self.jobs.get_mut(&job) {
            row.job.delivered += items.len() as u64;
            match recipients.last() {
                Some(last) => row.cursor = Some(*last),
                None => row.job.finished_at = Some(stored(at)),
            }
        }
        Ok(Some(items.iter().map(|n| (n.recipient, n.id)).collect()))
    }
}
