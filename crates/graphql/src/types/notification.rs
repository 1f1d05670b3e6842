//! Notifications and their connection.

use amity_domain::notifications::Notification;
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::ApiResult;
use crate::loaders::loaders;
use crate::schema::session;
use crate::types::{NotificationCodeGql, PageInfo, UserGql};

/// A stored notification.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Notification", complex)]
pub struct NotificationGql {
    /// Its id.
    pub id: ID,
    /// What it is about.
    pub code: NotificationCodeGql,
    /// A short human-readable line.
    pub subject: String,
    /// Machine-readable detail.
    pub content: Json<serde_json::Value>,
    /// The sender, when already loaded (`None`: load it when asked for).
    #[graphql(skip)]
    pub loaded_sender: Option<Option<UserGql>>,
    #[graphql(skip)]
    sender_id: Option<amity_domain::UserId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was marked read.
    pub read_at: Option<DateTime<Utc>>,
    /// Pass as `notifications(after:)` (query or subscription) to get only newer ones.
    pub cursor: String,
}

impl NotificationGql {
    /// A notification with its already loaded sender and its cursor.
    pub fn new(n: Notification, sender: Option<UserGql>, cursor: String) -> Self {
        let mut gql = Self::unloaded(n, cursor);
        gql.loaded_sender = Some(sender);
        gql
    }

    /// A notification whose sender is loaded only if a client asks for it (live delivery).
    pub fn unloaded(n: Notification, cursor: String) -> Self {
        Self {
            cursor,
            loaded_sender: None,
            sender_id: n.sender,
            id: ID(n.id.to_string()),
            code: n.code.into(),
            subject: n.subject,
            content: Json(n.content),
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

#[ComplexObject]
impl NotificationGql {
    /// Who caused it, if a user did and still exists.
    async fn sender(&self, ctx: &Context<'_>) -> ApiResult<Option<UserGql>> {
        if let Some(loaded) = &self.loaded_sender {
            return Ok(loaded.clone());
        }
        let Some(id) = self.sender_id else {
            return Ok(None);
        };
        let me = session(ctx)?;
        // Live events resolve one at a time: the loaders batch a burst of them.
        let loaders = loaders(ctx)?;
        let (user, view) = tokio::try_join!(loaders.user(id), loaders.view(me.user_id, id))?;
        Ok(user.map(|user| UserGql::seen_by(user, me.user_id, view)))
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
