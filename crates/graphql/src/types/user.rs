//! The `User` type and the sign-in payload.

use amity_domain::UserId;
use amity_domain::accounts::User;
use amity_domain::friends::state::FriendState;
use amity_domain::presence::presence_visible;
use async_graphql::{Context, ID, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::error::ApiResult;
use crate::loaders::loaders;
use crate::schema::{list_complexity, page_size, services, session};
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
    /// A user as `viewer` sees them, `view` being the viewer's edge to them (`None`: no edge):
    /// presence is shown as [`presence_visible`] rules.
    pub fn seen_by(user: User, viewer: UserId, view: Option<FriendState>) -> Self {
        let presence_visible = presence_visible(user.id == viewer, view);
        Self {
            user,
            presence_visible,
            online: None,
        }
    }

    /// The viewer themself.
    pub fn myself(user: User) -> Self {
        let id = user.id;
        Self::seen_by(user, id, None)
    }

    /// A user the viewer is known to be friends with (a mutual friend; a presence event, which
    /// is routed to friends only).
    pub fn friend(user: User) -> Self {
        Self {
            presence_visible: presence_visible(false, Some(FriendState::Friend)),
            user,
            online: None,
        }
    }

    /// The same user with their online state already known (lists load it for a whole page in
    /// one query); `None` leaves it to be looked up when asked for.
    pub fn knowing_online(mut self, online: Option<bool>) -> Self {
        self.online = online;
        self
    }

    /// The user's id.
    pub fn user_id(&self) -> UserId {
        self.user.id
    }

    /// The user.
    pub(crate) fn user(&self) -> &User {
        &self.user
    }

    /// What `online` answers, as far as it is known without a lookup.
    pub(crate) fn online_shown(&self) -> OnlineShown {
        match (self.presence_visible, self.online) {
            (false, _) => OnlineShown::Hidden,
            (true, Some(online)) => OnlineShown::Known(online),
            (true, None) => OnlineShown::Unknown,
        }
    }

    /// What `lastSeenAt` answers.
    pub(crate) fn last_seen_shown(&self) -> Option<DateTime<Utc>> {
        self.user.last_seen_at.filter(|_| self.presence_visible)
    }

    /// What `id` answers.
    pub(crate) fn id_shown(&self) -> String {
        self.user.id.to_string()
    }

    /// What `metadata` answers.
    pub(crate) fn metadata_shown(&self) -> Option<serde_json::Value> {
        self.user.metadata.as_ref().map(|m| m.to_value())
    }

    /// What `role` answers.
    pub(crate) fn role_shown(&self) -> RoleGql {
        self.user.role.into()
    }
}

/// `User.online` before any lookup: the one place both the resolver and the friends page's
/// fast path (`friend_page.rs`) take it from.
pub(crate) enum OnlineShown {
    /// The viewer may not see it: null.
    Hidden,
    /// Loaded with the page.
    Known(bool),
    /// Visible but not loaded: the resolver looks it up.
    Unknown,
}

#[Object(name = "User")]
impl UserGql {
    /// Time-ordered UUID.
    async fn id(&self) -> ID {
        ID(self.id_shown())
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
        self.metadata_shown().map(Json)
    }

    /// What the user may do.
    async fn role(&self) -> RoleGql {
        self.role_shown()
    }

    /// When the account was made.
    async fn created_at(&self) -> DateTime<Utc> {
        self.user.created_at
    }

    /// Whether the user is online; null unless the viewer is the user or a friend.
    async fn online(&self, ctx: &Context<'_>) -> ApiResult<Option<bool>> {
        match self.online_shown() {
            OnlineShown::Hidden => Ok(None),
            OnlineShown::Known(online) => Ok(Some(online)),
            OnlineShown::Unknown => Ok(Some(loaders(ctx)?.is_online(self.user.id).await?)),
        }
    }

    /// How many friends the viewer and this user have in common; null for the viewer.
    async fn mutual_friend_count(&self, ctx: &Context<'_>) -> ApiResult<Option<i32>> {
        let me = session(ctx)?;
        if me.user_id == self.user.id {
            return Ok(None);
        }
        // Batched: a list of users asks the store once, and the store counts.
        let total = loaders(ctx)?
            .mutual_friend_count(me.user_id, self.user.id)
            .await?;
        Ok(Some(i32::try_from(total).unwrap_or(i32::MAX)))
    }

    /// Friends the viewer and this user have in common, most recent first (`first` 0..100).
    #[graphql(complexity = "list_complexity(first, 3, child_complexity)")]
    async fn mutual_friends(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] first: Option<i32>,
    ) -> ApiResult<Vec<UserGql>> {
        mutual_friends_of(ctx, self.user.id, first).await
    }

    /// When the user was last online; null unless the viewer is the user or a friend.
    async fn last_seen_at(&self) -> Option<DateTime<Utc>> {
        self.last_seen_shown()
    }
}

/// A signed-in session: a short-lived access token, the refresh token that renews it, and the
/// user.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "AuthPayload")]
pub struct AuthPayload {
    /// The access token: send as `Authorization: Bearer <token>` (or in a websocket's
    /// `connection_init`).
    pub token: String,
    /// When the access token stops being accepted (then call `refreshSession`).
    pub expires_at: DateTime<Utc>,
    /// Opaque; exchange it with `refreshSession` for a new pair before the session ends. Each
    /// one works once: presenting a used one again ends the whole session.
    pub refresh_token: String,
    /// When the session ends unless refreshed before.
    pub refresh_expires_at: DateTime<Utc>,
    /// The signed-in user.
    pub user: UserGql,
}

/// One of the caller's sessions (a sign-in on one device).
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Session")]
pub struct SessionGql {
    /// Its id, for `endSession`.
    pub id: ID,
    /// When it was started (the sign-in).
    pub created_at: DateTime<Utc>,
    /// When it was last signed in or refreshed (not every request: a refresh at least every
    /// access-token lifetime while in use).
    pub last_used_at: DateTime<Utc>,
    /// When it ends unless refreshed before.
    pub expires_at: DateTime<Utc>,
    /// Whether it is the session of the token making this request.
    pub current: bool,
    /// What the client called the device at sign-in.
    pub device_label: Option<String>,
}

impl SessionGql {
    /// A session as its owner sees it, `current` naming the caller's own.
    pub fn new(
        info: amity_domain::accounts::sessions::SessionInfo,
        current: amity_domain::SessionId,
    ) -> Self {
        Self {
            id: ID(info.id.to_string()),
            created_at: info.created_at,
            last_used_at: info.last_used_at,
            expires_at: info.expires_at,
            current: info.id == current,
            device_label: info.device_label,
        }
    }
}

/// The friends the viewer and `other` have in common, most recent first (`first` 0..100,
/// default 3): `User.mutualFriends` and `FriendRecommendation.mutualFriends`.
pub(crate) async fn mutual_friends_of(
    ctx: &Context<'_>,
    other: UserId,
    first: Option<i32>,
) -> ApiResult<Vec<UserGql>> {
    let me = session(ctx)?;
    let (users, _) = services(ctx)?
        .friends
        .mutual_friends(me.user_id, other, page_size(first, 3))
        .await?;
    Ok(users.into_iter().map(UserGql::friend).collect())
}
