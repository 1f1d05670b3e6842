//! Direct messages, their connection, and presence events.

use std::collections::HashMap;

use amity_domain::UserId;
use amity_domain::messages::DirectMessage;
use amity_domain::realtime::PresenceUpdate;
use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::Services;
use crate::error::ApiResult;
use crate::types::{PageInfo, UserGql};

/// A 1-on-1 message between friends.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "DirectMessage")]
pub struct DirectMessageGql {
    /// Its id.
    pub id: ID,
    /// Who wrote it.
    pub sender: UserGql,
    /// Who it is for.
    pub recipient: UserGql,
    /// The text (1..4000 characters).
    pub body: String,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

impl DirectMessageGql {
    /// A message whose participants are in `people`; `None` if one of them is gone.
    pub fn new(m: &DirectMessage, people: &HashMap<UserId, UserGql>) -> Option<Self> {
        Some(Self {
            id: ID(m.id.to_string()),
            sender: people.get(&m.sender)?.clone(),
            recipient: people.get(&m.recipient)?.clone(),
            body: m.body.as_str().to_owned(),
            created_at: m.created_at,
        })
    }
}

/// Loads everyone taking part in `messages`, as `viewer` may see them, in two queries.
pub async fn participants(
    svc: &Services,
    viewer: UserId,
    messages: &[DirectMessage],
) -> ApiResult<HashMap<UserId, UserGql>> {
    let mut ids: Vec<UserId> = messages
        .iter()
        .flat_map(|m| [m.sender, m.recipient])
        .collect();
    ids.sort();
    ids.dedup();
    let others: Vec<UserId> = ids.iter().copied().filter(|id| *id != viewer).collect();
    let views = svc.friends.views_of(viewer, &others).await?;
    let users = svc.accounts.users_by_ids(&ids).await?;
    Ok(users
        .into_iter()
        .map(|u| {
            let view = views.get(&u.id).copied();
            (u.id, UserGql::seen_by(u, viewer, view))
        })
        .collect())
}

/// One edge of a conversation page.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "DirectMessageEdge")]
pub struct DirectMessageEdge {
    /// Pass as `before` to continue with older messages.
    pub cursor: String,
    /// The message.
    pub node: DirectMessageGql,
}

/// A page of a conversation, newest first.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "DirectMessageConnection")]
pub struct DirectMessageConnection {
    /// The edges.
    pub edges: Vec<DirectMessageEdge>,
    /// Paging (`hasNextPage`: older messages exist).
    pub page_info: PageInfo,
}

/// A friend went online or offline.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "PresenceEvent")]
pub struct PresenceEventGql {
    /// The friend.
    pub user: UserGql,
    /// Whether they are online now.
    pub online: bool,
    /// When they were last online (when they just went offline, that moment).
    pub last_seen_at: Option<DateTime<Utc>>,
}

impl From<PresenceUpdate> for PresenceEventGql {
    fn from(update: PresenceUpdate) -> Self {
        let last_seen_at = update.last_seen_at();
        let mut user = (*update.user).clone();
        user.last_seen_at = last_seen_at;
        Self {
            user: UserGql::friend(user).knowing_online(Some(update.online)),
            online: update.online,
            last_seen_at,
        }
    }
}
