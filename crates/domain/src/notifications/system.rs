//! System notifications from the operators (SPEC 12.3): to listed users in one transaction, or
//! to every user through a background job that stores them in batches.
//!
//! A job is a row with a cursor (the last user id delivered to). Each batch is one transaction
//! that locks the job, stores the notifications of the next users in id order and moves the
//! cursor, so a batch is stored once or not at all: a job interrupted by a crash or a restart
//! resumes after its last committed batch, and two nodes running the same job share its
//! batches without delivering twice. Each batch is announced on the bus, so the notifications
//! arrive live on every node.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::events::{Event, EventBus};
use crate::friends::Targets;
use crate::friends::targets::resolve_targets;
use crate::notifications::NotificationCode;
use crate::ports::{NewNotification, NotificationJob, Store};
use crate::time::Clock;
use crate::{DomainError, JobId, NotificationId, Result};

/// Longest subject, in characters.
pub const SUBJECT_MAX_CHARS: usize = 200;
/// Largest content, in bytes of JSON.
pub const CONTENT_MAX_BYTES: usize = 16 * 1024;
/// Users per batch of a job, by default.
pub const DEFAULT_BATCH: u32 = 1000;

/// Sends system notifications and runs the jobs that send them to everyone.
#[derive(Clone)]
pub struct SystemNotifications {
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    batch: u32,
}

/// A checked subject and content.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemMessage {
    /// Trimmed, 1 to [`SUBJECT_MAX_CHARS`] characters.
    pub subject: String,
    /// A JSON object of at most [`CONTENT_MAX_BYTES`].
    pub content: Value,
}

impl SystemMessage {
    /// Checks a subject (not empty, at most 200 characters, no control characters) and content
    /// (a JSON object or nothing, at most 16 KiB).
    pub fn parse(subject: &str, content: Option<Value>) -> Result<Self> {
        let subject = subject.trim();
        if subject.is_empty() {
            return Err(DomainError::invalid("subject", "must not be empty"));
        }
        if subject.chars().count() > SUBJECT_MAX_CHARS {
            return Err(DomainError::invalid(
                "subject",
                format!("must be at most {SUBJECT_MAX_CHARS} characters long"),
            ));
        }
        if subject.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "subject",
                "must not contain control characters",
            ));
        }
        let content = match content {
            None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
            Some(value @ Value::Object(_)) => value,
            Some(_) => return Err(DomainError::invalid("content", "must be a JSON object")),
        };
        if content.to_string().len() > CONTENT_MAX_BYTES {
            return Err(DomainError::invalid(
                "content",
                format!("must be at most {CONTENT_MAX_BYTES} bytes of JSON"),
            ));
        }
        Ok(Self {
            subject: subject.to_owned(),
            content,
        })
    }
}

impl SystemNotifications {
    /// A service on these ports, storing `batch` users' notifications per transaction.
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        batch: u32,
    ) -> Self {
        Self {
            store,
            bus,
            clock,
            wake: Arc::new(Notify::new()),
            batch: batch.clamp(1, 5000),
        }
    }

    /// Sends to the listed users (at most 100), all or none: an unknown or malformed target
    /// fails the call, naming each. Returns how many received it.
    pub async fn send(&self, targets: &Targets, message: &SystemMessage) -> Result<u32> {
        let mut tx = self.store.begin_messages().await?;
        let (_, users) = resolve_targets(tx.as_mut(), None, targets, |_| false).await?;
        let items: Vec<NewNotification> = users
            .iter()
            .map(|user| NewNotification {
                id: NotificationId::new(),
                recipient: user.id,
                code: NotificationCode::System,
                subject: message.subject.clone(),
                content: message.content.clone(),
                sender: None,
            })
            .collect();
        tx.insert_notifications(&items, self.clock.now()).await?;
        tx.commit().await?;
        self.announce(items.iter().map(|n| (n.recipient, n.id)));
        Ok(u32::try_from(items.len()).unwrap_or(u32::MAX))
    }

    /// Records a job that sends to every user, and wakes this node's runner
    /// ([`SystemNotifications::follow`]); returns at once, with how many users it will reach.
    pub async fn send_to_all(&self, message: &SystemMessage) -> Result<(NotificationJob, u64)> {
        let job = NotificationJob {
            id: JobId::new(),
            subject: message.subject.clone(),
            content: message.content.clone(),
            created_at: self.clock.now(),
            delivered: 0,
            finished_at: None,
        };
        let recipients = self.store.insert_notification_job(&job).await?;
        tracing::info!(job = %job.id, recipients, subject = %job.subject, "system notification to everyone: job recorded");
        self.wake.notify_one();
        Ok((job, recipients))
    }

    fn announce(&self, delivered: impl Iterator<Item = (crate::UserId, NotificationId)>) {
        let events: Vec<Event> = delivered
            .map(|(recipient, id)| Event::NotificationCreated { recipient, id })
            .collect();
        if !events.is_empty() {
            self.bus.publish(events);
        }
    }

    /// Runs a job's batches until it is finished; returns how many notifications this call
    /// stored. `progress` hears the job's running total after each batch.
    pub async fn run_job(&self, job: JobId, progress: &(dyn Fn(u64) + Sync)) -> Result<u64> {
        let mut stored = 0u64;
        let mut total = 0u64;
        let new_id = || NotificationId::new();
        loop {
            let Some(batch) = self
                .store
                .run_notification_batch(job, self.batch, self.clock.now(), &new_id)
                .await?
            else {
                return Ok(stored);
            };
            if batch.is_empty() {
                tracing::info!(%job, total, "system notification job finished");
                return Ok(stored);
            }
            stored += batch.len() as u64;
            total += batch.len() as u64;
            self.announce(batch.into_iter());
            progress(total);
            tracing::debug!(%job, stored, "system notification batch stored");
        }
    }

    /// Runs every unfinished job (resuming after a restart); errors are logged and retried at
    /// the next wake.
    pub async fn run_pending(&self) {
        let jobs = match self.store.unfinished_notification_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %crate::error::chain(&e), "listing notification jobs failed");
                return;
            }
        };
        for job in jobs {
            tracing::info!(job = %job.id, delivered = job.delivered, "running a system notification job");
            if let Err(e) = self.run_job(job.id, &|_| {}).await {
                tracing::warn!(job = %job.id, error = %crate::error::chain(&e), "a notification job stopped; it resumes later");
            }
        }
    }

    /// Runs unfinished jobs at start, whenever this node records one, and every `every` (jobs
    /// another process recorded, or that failed), until `stop` turns true.
    pub async fn follow(self, every: Duration, mut stop: watch::Receiver<bool>) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
            tokio::select! {
                _ = self.run_pending() => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_contents_are_checked() {
        assert!(SystemMessage::parse("", None).is_err());
        assert!(SystemMessage::parse("   ", None).is_err());
        assert!(SystemMessage::parse(&"x".repeat(201), None).is_err());
        assert!(SystemMessage::parse(&"é".repeat(200), None).is_ok());
        assert!(SystemMessage::parse("a\u{0}b", None).is_err());
        assert!(SystemMessage::parse("hi", Some(serde_json::json!([1]))).is_err());
        let big = serde_json::json!({ "x": "y".repeat(CONTENT_MAX_BYTES) });
        assert!(SystemMessage::parse("hi", Some(big)).is_err());
        let ok = SystemMessage::parse(" Maintenance ", None).unwrap();
        assert_eq!(ok.subject, "Maintenance");
        assert_eq!(ok.content, serde_json::json!({}));
    }
}
