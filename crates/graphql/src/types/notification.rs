//! Notifications and their connection.

use amity_domain::notifications::Notification;
use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::types::{NotificationCodeGql, PageInfo, UserGql};

/// A stored notification.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Notification")]
pub struct NotificationGql {
    /// Its id.
    pub id: ID,
    /// What it is about.
    pub code: NotificationCodeGql,
    /// A short human-readable line.
    pub subject: String,
    /// Machine-readable detail.
    pub content: Json<serde_json::Value>,
    /// Who caused it, if a user did and still exists.
    pub sender: Option<UserGql>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was marked read.
    pub read_at: Option<DateTime<Utc>>,
}

impl NotificationGql {
    /// A notification with its already loaded sender.
    pub fn new(n: Notification, sender: Option<UserGql>) -> Self {
        Self {
            id: ID(n.id.to_string()),
            code: n.code.into(),
            subject: n.subject,
            content: Json(n.content),
            sender,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

/// One edge of a notifications page.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "NotificationEdge")]
pub struct NotificationEdge {
    /// Pass as `after` to get only what came after this one.
    pub cursor: String,
    /// The notification.
    pub node: NotificationGql,
}

/// A page of notifications, oldest first.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "NotificationConnection")]
pub struct NotificationConnection {
    /// The edges.
    pub edges: Vec<NotificationEdge>,
    /// Paging.
    pub page_info: PageInfo,
}
