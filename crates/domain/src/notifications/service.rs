//! Listing and managing one's own notifications.

use std::sync::Arc;

use crate::notifications::{NOTIFICATION_IDS_MAX, NOTIFICATIONS_PAGE_MAX, Notification};
use crate::ports::NotificationStore;
use crate::time::Clock;
use crate::{DomainError, NotificationId, Result, UserId};

/// One page of notifications, oldest first.
#[derive(Debug, Clone)]
pub struct NotificationPage {
    /// The notifications.
    pub items: Vec<Notification>,
    /// Whether more follow the last one.
    pub has_next_page: bool,
}

/// Reads and manages a user's own notifications.
#[derive(Clone)]
pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
    clock: Arc<dyn Clock>,
}

impl NotificationService {
    /// A service on the given store and clock.
    pub fn new(store: Arc<dyn NotificationStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// How many of the recipient's notifications are unread, and how many there are.
    pub async fn counts(&self, recipient: UserId) -> Result<(u64, u64)> {
        self.store.notification_counts(recipient).await
    }

    /// The recipient's notifications after `after` (exclusive), oldest first.
    pub async fn list(
        &self,
        recipient: UserId,
        after: Option<NotificationId>,
        first: u32,
    ) -> Result<NotificationPage> {
        check_page_size(first)?;
        let mut items = self
            .store
            .list_notifications(recipient, after, first + 1)
            .await?;
        let has_next_page = items.len() > first as usize;
        items.truncate(first as usize);
        Ok(NotificationPage {
            items,
            has_next_page,
        })
    }

    /// Marks the recipient's own notifications read; ids of others are ignored.
    /// Returns how many were newly marked.
    pub async fn mark_read(&self, recipient: UserId, ids: &[NotificationId]) -> Result<u64> {
        check_id_count(ids)?;
        self.store
            .mark_notifications_read(recipient, ids, self.clock.now())
            .await
    }

    /// Deletes the recipient's own notifications; ids of others are ignored.
    /// Returns how many were deleted.
    pub async fn delete(&self, recipient: UserId, ids: &[NotificationId]) -> Result<u64> {
        check_id_count(ids)?;
        self.store.delete_notifications(recipient, ids).await
    }
}

/// Checks a requested page size against 1..=1000.
pub(crate) fn check_page_size(first: u32) -> Result<()> {
    if first == 0 || first > NOTIFICATIONS_PAGE_MAX {
        return Err(DomainError::invalid(
            "first",
            format!("must be between 1 and {NOTIFICATIONS_PAGE_MAX}"),
        ));
    }
    Ok(())
}

fn check_id_count(ids: &[NotificationId]) -> Result<()> {
    if ids.len() > NOTIFICATION_IDS_MAX {
        return Err(DomainError::invalid(
            "ids",
            format!("at most {NOTIFICATION_IDS_MAX} ids per call"),
        ));
    }
    Ok(())
}
