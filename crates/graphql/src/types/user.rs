//! The `User` type and the sign-in payload.

use amity_domain::accounts::User;
use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::ApiResult;
use crate::schema::services;
use crate::types::RoleGql;

/// A user as the viewer may see them. `online` and `lastSeenAt` are shown only to the user
/// themself and to their friends.
#[derive(Debug, Clone)]
pub struct UserGql {
    user: User,
    presence_visible: bool,
    /// Whether the user is online, when already known (lists load it for a whole page in
    /// one query); otherwise looked up when asked for.
    online: Option<bool>,
}

impl UserGql {
    /// A user; `presence_visible` when the viewer is the user or one of their friends.
    pub fn new(user: User, presence_visible: bool) -> Self {
        Self {
            user,
            presence_visible,
            online: None,
        }
    }

    /// A user whose presence is already known.
    pub fn with_online(user: User, presence_visible: bool, online: Option<bool>) -> Self {
        Self {
            user,
            presence_visible,
            online,
        }
    }

    /// The user's id.
    pub fn user_id(&self) -> amity_domain::UserId {
        self.user.id
    }
}

#[Object(name = "User")]
impl UserGql {
    /// Time-ordered UUID.
    async fn id(&self) -> ID {
        ID(self.user.id.to_string())
    }

    /// Unique handle, as chosen (unique case-insensitively).
    async fn handle(&self) -> &str {
        self.user.handle.as_str()
    }

    /// Optional display name.
    async fn display_name(&self) -> Option<&str> {
        self.user.display_name.as_deref()
    }

    /// Optional avatar address.
    async fn avatar_url(&self) -> Option<&str> {
        self.user.avatar_url.as_deref()
    }

    /// The user's public JSON object.
    async fn metadata(&self) -> Option<Json<serde_json::Value>> {
        self.user.metadata.as_ref().map(|m| Json(m.to_value()))
    }

    /// What the user may do.
    async fn role(&self) -> RoleGql {
        self.user.role.into()
    }

    /// When the account was made.
    async fn created_at(&self) -> DateTime<Utc> {
        self.user.created_at
    }

    /// Whether the user is online; null unless the viewer is the user or a friend.
    async fn online(&self, ctx: &Context<'_>) -> ApiResult<Option<bool>> {
        if !self.presence_visible {
            return Ok(None);
        }
        if let Some(online) = self.online {
            return Ok(Some(online));
        }
        Ok(Some(services(ctx)?.presence.is_online(self.user.id).await?))
    }

    /// When the user was last online; null unless the viewer is the user or a friend.
    async fn last_seen_at(&self) -> Option<DateTime<Utc>> {
        if self.presence_visible {
            self.user.last_seen_at
        } else {
            None
        }
    }
}

/// A session token and its user.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "AuthPayload")]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// The signed-in user.
    pub user: UserGql,
}
