//! Changes.

use amity_domain::accounts::sessions::{IssuedSession, SessionService};
use amity_domain::accounts::{ProfileChange, Role, User};
use amity_domain::friends::Targets;
use amity_domain::input::{AvatarUrl, DisplayName, Metadata};
use amity_domain::messages::MessageBody;
use amity_domain::moderation::Actor;
use amity_domain::social::Network;
use amity_domain::{DomainError, NotificationId, UserId};
use async_graphql::{Context, ID, Json, MaybeUndefined, Object};
use chrono::{DateTime, Utc};

use crate::Services;
use crate::auth::Session;
use crate::edge::rate_limited;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::schema::{client, edge, services, session};
use crate::types::message::participants;
use crate::types::{AuthPayload, DirectMessageGql, FriendGql, UserGql};

/// The first round's mutations, merged into the mutation root.
#[derive(Default)]
pub struct CoreMutations;

fn targets(ids: Option<Vec<ID>>, handles: Option<Vec<String>>) -> ApiResult<Targets> {
    let ids: Vec<String> = ids.unwrap_or_default().into_iter().map(|id| id.0).collect();
    Ok(Targets::parse(&ids, &handles.unwrap_or_default())?)
}

/// What a batch operation starts from: the caller, their parsed targets and the services.
fn batch<'a>(
    ctx: &Context<'a>,
    ids: Option<Vec<ID>>,
    handles: Option<Vec<String>>,
) -> ApiResult<(Session, Targets, &'a Services)> {
    Ok((session(ctx)?, targets(ids, handles)?, services(ctx)?))
}

fn notification_ids(ids: Vec<ID>) -> ApiResult<Vec<NotificationId>> {
    ids.iter()
        .map(|id| NotificationId::parse("ids", id).map_err(ApiError::from))
        .collect()
}

fn metadata(value: Option<Json<serde_json::Value>>) -> ApiResult<Option<Metadata>> {
    match value {
        None | Some(Json(serde_json::Value::Null)) => Ok(None),
        Some(Json(v)) => Ok(Some(Metadata::parse("metadata", v)?)),
    }
}

/// Starts a session for a user who has just proved who they are, and answers with its tokens.
/// `device_label` is parsed before anything else happens (see [`device_label`]).
pub(crate) async fn signed_in(
    svc: &Services,
    user: User,
    device_label: Option<String>,
) -> ApiResult<AuthPayload> {
    let issued = svc.sessions.start(user.id, device_label).await?;
    payload(svc, user, issued)
}

/// The answer for a started or refreshed session: a new access token for it.
pub(crate) fn payload(svc: &Services, user: User, issued: IssuedSession) -> ApiResult<AuthPayload> {
    let access = svc
        .tokens
        .issue(
            Session {
                user_id: user.id,
                role: user.role,
                session_id: issued.info.id,
            },
            svc.clock.now(),
        )
        .map_err(|e| {
            tracing::error!(error = %e, "issuing a token");
            ApiError::new(ErrorCode::InternalServerError, "could not issue a token")
        })?;
    Ok(AuthPayload {
        token: access.token,
        expires_at: access.expires_at,
        refresh_token: issued.refresh_token,
        refresh_expires_at: issued.info.expires_at,
        user: UserGql::myself(user),
    })
}

/// A sign-in's `deviceLabel`, checked before any other work.
pub(crate) fn device_label(label: Option<&str>) -> ApiResult<Option<String>> {
    Ok(SessionService::parse_device_label(label)?)
}

/// `authenticateFacebook` / `authenticateSteam`.
async fn authenticate_with(
    ctx: &Context<'_>,
    network: Network,
    credential: &str,
    label: Option<String>,
) -> ApiResult<AuthPayload> {
    let svc = services(ctx)?;
    let label = device_label(label.as_deref())?;
    edge(ctx)?
        .rates()
        .auth_attempt(client(ctx))
        .map_err(rate_limited)?;
    let done = svc.imports.authenticate(network, credential).await?;
    signed_in(svc, done.user, label).await
}

/// `linkFacebook` / `linkSteam` (`importFriends` null or absent: import).
async fn link_with(
    ctx: &Context<'_>,
    network: Network,
    credential: &str,
    import_friends: Option<bool>,
) -> ApiResult<UserGql> {
    let me = session(ctx)?;
    let done = services(ctx)?
        .imports
        .link(
            me.user_id,
            network,
            credential,
            import_friends.unwrap_or(true),
        )
        .await?;
    Ok(UserGql::myself(done.user))
}

/// `importFacebookFriends` / `importSteamFriends` (`reset` null or absent: no reset).
async fn import_from(
    ctx: &Context<'_>,
    network: Network,
    credential: Option<&str>,
    reset: Option<bool>,
) -> ApiResult<Vec<FriendGql>> {
    let me = session(ctx)?;
    let created = services(ctx)?
        .imports
        .import(me.user_id, network, credential, reset.unwrap_or(false))
        .await?;
    Ok(FriendGql::all(me.user_id, created))
}

#[Object]
impl CoreMutations {
    /// Creates an account and signs it in. Handles are 3-32 of `[A-Za-z0-9_.-]`, unique
    /// case-insensitively; passwords at least 8 characters.
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        handle: String,
        password: String,
        display_name: Option<String>,
        #[graphql(desc = "What to call this device in `sessions` (at most 64 characters).")]
        device_label: Option<String>,
    ) -> ApiResult<AuthPayload> {
        let svc = services(ctx)?;
        let label = self::device_label(device_label.as_deref())?;
        edge(ctx)?
            .rates()
            .auth_attempt(client(ctx))
            .map_err(rate_limited)?;
        let user = svc
            .accounts
            .create_account(&handle, &password, display_name.as_deref(), Role::User)
            .await?;
        tracing::info!(user = %user.id, handle = %user.handle, client = %client(ctx), "signed up");
        signed_in(svc, user, label).await
    }

    /// Signs in with a handle and password.
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        handle: String,
        password: String,
        #[graphql(desc = "What to call this device in `sessions` (at most 64 characters).")]
        device_label: Option<String>,
    ) -> ApiResult<AuthPayload> {
        let svc = services(ctx)?;
        let label = self::device_label(device_label.as_deref())?;
        let rates = edge(ctx)?.rates();
        let from = client(ctx);
        // Logged quoted and escaped (`?`): a handle is the client's text, never a log line.
        let shown = || handle.chars().take(40).collect::<String>();
        // Both checks come before the password is looked at: a refused attempt costs no hash.
        rates.auth_attempt(from).map_err(rate_limited)?;
        rates.signin_attempt(&handle, from).map_err(|limited| {
            tracing::warn!(handle = ?shown(), client = %from, "sign-in refused: too many failures");
            rate_limited(limited)
        })?;
        match svc.accounts.sign_in(&handle, &password).await {
            Ok(user) => {
                rates.signin_succeeded(&handle, from);
                signed_in(svc, user, label).await
            }
            // The attempt stays counted.
            Err(e @ DomainError::InvalidCredentials) => {
                tracing::warn!(handle = ?shown(), client = %from, "failed sign-in");
                crate::observe::record_signin_failure();
                Err(e.into())
            }
            // The password was right but the account may not sign in (banned): not a guess.
            Err(e @ DomainError::Forbidden(_)) => {
                rates.signin_succeeded(&handle, from);
                Err(e.into())
            }
            Err(e) => {
                rates.signin_abandoned(&handle, from);
                Err(e.into())
            }
        }
    }

    /// Signs in with a Facebook user access token: the user linked to that Facebook account,
    /// or a new one (handle from the Facebook name) whose Facebook friends already here become
    /// friends. A Facebook failure changes nothing (`IMPORT_FAILED`).
    async fn authenticate_facebook(
        &self,
        ctx: &Context<'_>,
        access_token: String,
        #[graphql(desc = "What to call this device in `sessions` (at most 64 characters).")]
        device_label: Option<String>,
    ) -> ApiResult<AuthPayload> {
        authenticate_with(ctx, Network::Facebook, &access_token, device_label).await
    }

    /// Signs in with a Steam session ticket (as `authenticateFacebook`).
    async fn authenticate_steam(
        &self,
        ctx: &Context<'_>,
        ticket: String,
        #[graphql(desc = "What to call this device in `sessions` (at most 64 characters).")]
        device_label: Option<String>,
    ) -> ApiResult<AuthPayload> {
        authenticate_with(ctx, Network::Steam, &ticket, device_label).await
    }

    /// Links the Facebook account of an access token to the signed-in user and, unless
    /// `importFriends` is false, makes its Facebook friends here friends. An account linked to
    /// someone else is refused.
    async fn link_facebook(
        &self,
        ctx: &Context<'_>,
        access_token: String,
        #[graphql(default_with = "Some(true)")] import_friends: Option<bool>,
    ) -> ApiResult<UserGql> {
        link_with(ctx, Network::Facebook, &access_token, import_friends).await
    }

    /// Links the Steam account of a session ticket to the signed-in user (as `linkFacebook`).
    async fn link_steam(
        &self,
        ctx: &Context<'_>,
        ticket: String,
        #[graphql(default_with = "Some(true)")] import_friends: Option<bool>,
    ) -> ApiResult<UserGql> {
        link_with(ctx, Network::Steam, &ticket, import_friends).await
    }

    /// Imports Facebook friends again (the token must belong to the linked account). With
    /// `reset`, friendships imported from Facebook that it no longer reports are removed;
    /// hand-made friendships and blocks are never touched. Returns the friendships created.
    async fn import_facebook_friends(
        &self,
        ctx: &Context<'_>,
        access_token: String,
        #[graphql(default_with = "Some(false)")] reset: Option<bool>,
    ) -> ApiResult<Vec<FriendGql>> {
        import_from(ctx, Network::Facebook, Some(&access_token), reset).await
    }

    /// Imports Steam friends of the linked Steam account again (as `importFacebookFriends`).
    async fn import_steam_friends(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(false)")] reset: Option<bool>,
    ) -> ApiResult<Vec<FriendGql>> {
        import_from(ctx, Network::Steam, None, reset).await
    }

    /// Changes the signed-in user's display name, avatar address (http or https) or metadata
    /// (a JSON object up to 16 KiB). An omitted argument is kept; null clears it.
    async fn update_profile(
        &self,
        ctx: &Context<'_>,
        display_name: MaybeUndefined<String>,
        avatar_url: MaybeUndefined<String>,
        metadata: MaybeUndefined<Json<serde_json::Value>>,
    ) -> ApiResult<UserGql> {
        let me = session(ctx)?;
        let change = ProfileChange {
            display_name: match display_name {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(name) => Some(DisplayName::parse_optional(Some(&name))?),
            },
            avatar_url: match avatar_url {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(url) => Some(Some(AvatarUrl::parse(&url)?)),
            },
            metadata: match metadata {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(Json(v)) => Some(Some(Metadata::parse("metadata", v)?)),
            },
        };
        let user = services(ctx)?
            .accounts
            .update_profile(me.user_id, change)
            .await?;
        Ok(UserGql::myself(user))
    }

    /// Sends friend requests, or accepts the ones received. At most 100 ids and handles; all
    /// or nothing. `metadata` (a JSON object) is stored on the edges this call creates.
    /// Returns how the caller sees each target afterwards.
    async fn add_friends(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        handles: Option<Vec<String>>,
        metadata: Option<Json<serde_json::Value>>,
    ) -> ApiResult<Vec<FriendGql>> {
        let (me, targets, svc) = batch(ctx, ids, handles)?;
        let metadata = self::metadata(metadata)?;
        let views = svc.friends.add_friends(me.user_id, &targets, metadata);
        Ok(FriendGql::all(me.user_id, views.await?))
    }

    /// Stops recommending a user to you (see `friendRecommendations`).
    async fn dismiss_recommendation(&self, ctx: &Context<'_>, user_id: ID) -> ApiResult<bool> {
        let me = session(ctx)?;
        let other = UserId::parse("userId", &user_id)?;
        services(ctx)?
            .friends
            .dismiss_recommendation(me.user_id, other)
            .await?;
        Ok(true)
    }

    /// Bans users (MODERATOR and ADMIN only; a moderator cannot ban an admin). At most 100 ids
    /// and handles; all or nothing. `until` null is permanent; a ban ends by itself at `until`.
    /// Banned users cannot sign in, every session they hold is ended at once (also after an
    /// unban), and they are hidden from other users; their friendships are kept. Banning a
    /// banned user replaces the reason and end.
    async fn ban_users(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        handles: Option<Vec<String>>,
        reason: Option<String>,
        until: Option<DateTime<Utc>>,
    ) -> ApiResult<bool> {
        let (me, targets, svc) = batch(ctx, ids, handles)?;
        let actor = Actor::User(me.user_id);
        svc.moderation
            .ban(&actor, &targets, reason.as_deref(), until)
            .await?;
        Ok(true)
    }

    /// Lifts bans (MODERATOR and ADMIN only). At most 100 ids and handles; all or nothing.
    /// Friendships come back unchanged; sessions from before the ban stay ended.
    async fn unban_users(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        handles: Option<Vec<String>>,
    ) -> ApiResult<bool> {
        let (me, targets, svc) = batch(ctx, ids, handles)?;
        svc.moderation
            .unban(&Actor::User(me.user_id), &targets)
            .await?;
        Ok(true)
    }

    /// Cancels sent requests, rejects received ones, unfriends and unblocks. At most 100 ids
    /// and handles; all or nothing.
    async fn remove_friends(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        handles: Option<Vec<String>>,
    ) -> ApiResult<bool> {
        let (me, targets, svc) = batch(ctx, ids, handles)?;
        svc.friends.remove_friends(me.user_id, &targets).await?;
        Ok(true)
    }

    /// Blocks users: ends friendship and requests both ways; they are not told. At most 100
    /// ids and handles; all or nothing.
    async fn block_users(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        handles: Option<Vec<String>>,
    ) -> ApiResult<Vec<FriendGql>> {
        let (me, targets, svc) = batch(ctx, ids, handles)?;
        let views = svc.friends.block_users(me.user_id, &targets).await?;
        Ok(FriendGql::all(me.user_id, views))
    }

    /// Replaces the caller's private metadata (a JSON object, or null to clear it) on their
    /// edge to a user.
    async fn set_friend_metadata(
        &self,
        ctx: &Context<'_>,
        id: ID,
        metadata: Option<Json<serde_json::Value>>,
    ) -> ApiResult<FriendGql> {
        let me = session(ctx)?;
        let other = UserId::parse("id", &id)?;
        let metadata = self::metadata(metadata)?;
        let view = services(ctx)?
            .friends
            .set_metadata(me.user_id, other, metadata)
            .await?;
        Ok(FriendGql::new(me.user_id, view, None))
    }

    /// Marks the caller's notifications read. Ids that are not the caller's are ignored.
    async fn mark_notifications_read(&self, ctx: &Context<'_>, ids: Vec<ID>) -> ApiResult<bool> {
        let me = session(ctx)?;
        let ids = notification_ids(ids)?;
        services(ctx)?
            .notifications
            .mark_read(me.user_id, &ids)
            .await?;
        Ok(true)
    }

    /// Deletes the caller's notifications. Ids that are not the caller's are ignored.
    async fn delete_notifications(&self, ctx: &Context<'_>, ids: Vec<ID>) -> ApiResult<bool> {
        let me = session(ctx)?;
        let ids = notification_ids(ids)?;
        services(ctx)?
            .notifications
            .delete(me.user_id, &ids)
            .await?;
        Ok(true)
    }

    /// Sends a direct message to a friend (1..4000 characters). Both sides' `directMessages`
    /// subscriptions get it, and the recipient a DIRECT_MESSAGE notification.
    async fn send_direct_message(
        &self,
        ctx: &Context<'_>,
        to: ID,
        body: String,
    ) -> ApiResult<DirectMessageGql> {
        let me = session(ctx)?;
        let svc = services(ctx)?;
        let to = UserId::parse("to", &to)?;
        let body = MessageBody::parse(&body)?;
        let message = svc.messages.send(me.user_id, to, body).await?;
        let people = participants(svc, me.user_id, std::slice::from_ref(&message)).await?;
        DirectMessageGql::new(&message, &people)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "the recipient no longer exists"))
    }
}
