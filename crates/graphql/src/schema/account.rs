//! The account lifecycle (SPEC 12.3): sessions and refresh tokens, sign-out, password and
//! handle changes, guest devices, unlinking networks, deletion, data export.

use amity_domain::accounts::Role;
use amity_domain::accounts::sessions::SessionScope;
use amity_domain::friends::Targets;
use amity_domain::notifications::system::SystemMessage;
use amity_domain::social::Network;
use amity_domain::{DomainError, SessionId};
use async_graphql::{Context, ID, Json, Object, SimpleObject};

use crate::edge::rate_limited;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::schema::mutation::{device_label as device_label_of, payload, signed_in};
use crate::schema::{client, edge, page_size, services, session};
use crate::types::{AuthPayload, SessionGql, UserGql};

/// Account mutations, merged into the mutation root.
#[derive(Default)]
pub struct AccountMutations;

/// Account queries, merged into the query root.
#[derive(Default)]
pub struct AccountQueries;

fn session_id(id: &ID) -> ApiResult<SessionId> {
    SessionId::parse("id", id.as_str()).map_err(ApiError::from)
}

#[Object]
impl AccountMutations {
    /// Exchanges a refresh token for a new access token and a new refresh token (the old one is
    /// used up). Presenting a refresh token that was already used ends its whole session, as
    /// a stolen token would be: sign in again. UNAUTHENTICATED for an unknown, used or expired
    /// token. Needs no `Authorization` header.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> ApiResult<AuthPayload> {
        let svc = services(ctx)?;
        edge(ctx)?
            .rates()
            .auth_attempt(client(ctx))
            .map_err(rate_limited)?;
        if refresh_token.len() > 256 {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "the refresh token is not valid; sign in again",
            ));
        }
        let issued = svc.sessions.refresh(&refresh_token).await?;
        let user = svc
            .accounts
            .user_by_id(issued.info.user)
            .await?
            .ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthenticated, "the account no longer exists")
            })?;
        let user = user.may_sign_in(svc.clock.now())?;
        payload(svc, user, issued)
    }

    /// Ends the caller's session: its access and refresh tokens stop working and its
    /// websockets close with 4401, on every server.
    async fn sign_out(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let me = session(ctx)?;
        services(ctx)?
            .sessions
            .end(me.user_id, SessionScope::One(me.session_id))
            .await?;
        Ok(true)
    }

    /// Ends every session of the caller, this one included.
    async fn sign_out_everywhere(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let me = session(ctx)?;
        services(ctx)?
            .sessions
            .end(me.user_id, SessionScope::All)
            .await?;
        Ok(true)
    }

    /// Signs in as the guest account of a device, made on first use (as Nakama's device
    /// authentication): `deviceId` is 16 to 128 characters the app keeps on the device (only a
    /// digest is stored). The account can later get a password (`setPassword`) or link a
    /// network.
    async fn authenticate_device(
        &self,
        ctx: &Context<'_>,
        device_id: String,
        #[graphql(desc = "What to call this device in `sessions` (at most 64 characters).")]
        device_label: Option<String>,
    ) -> ApiResult<AuthPayload> {
        let svc = services(ctx)?;
        let label = device_label_of(device_label.as_deref())?;
        edge(ctx)?
            .rates()
            .auth_attempt(client(ctx))
            .map_err(rate_limited)?;
        let user = svc.lifecycle.authenticate_device(&device_id).await?;
        signed_in(svc, user, label).await
    }

    /// Gives a password to an account that has none (a guest, or one made through a network),
    /// so that it can sign in with its handle. FORBIDDEN when it has one (use
    /// `changePassword`).
    async fn set_password(&self, ctx: &Context<'_>, new_password: String) -> ApiResult<UserGql> {
        let me = session(ctx)?;
        let user = services(ctx)?
            .lifecycle
            .set_password(me.user_id, &new_password)
            .await?;
        Ok(UserGql::myself(user))
    }

    /// Changes the password after checking the current one (BAD_USER_INPUT when wrong), and
    /// ends every other session of the caller; this one continues with the new tokens
    /// returned.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> ApiResult<AuthPayload> {
        let me = session(ctx)?;
        let svc = services(ctx)?;
        let rates = edge(ctx)?.rates();
        let from = client(ctx);
        // Wrong current passwords count as failed sign-ins of the handle: no guessing here.
        let handle = svc
            .accounts
            .user_by_id(me.user_id)
            .await?
            .map(|u| u.handle.to_string())
            .unwrap_or_default();
        rates.signin_attempt(&handle, from).map_err(rate_limited)?;
        let user = match svc
            .lifecycle
            .change_password(me.user_id, me.session_id, &current_password, &new_password)
            .await
        {
            Ok(user) => {
                rates.signin_succeeded(&handle, from);
                user
            }
            Err(
                e @ DomainError::InvalidInput {
                    field: "currentPassword",
                    ..
                },
            ) => {
                crate::observe::record_signin_failure();
                return Err(e.into());
            }
            Err(e) => {
                rates.signin_abandoned(&handle, from);
                return Err(e.into());
            }
        };
        let issued = svc.sessions.reissue(me.session_id).await?;
        payload(svc, user, issued)
    }

    /// Changes the caller's handle (the sign-up rules; BAD_USER_INPUT when taken); the old handle is
    /// free again at once.
    async fn change_handle(&self, ctx: &Context<'_>, handle: String) -> ApiResult<UserGql> {
        let me = session(ctx)?;
        let user = services(ctx)?
            .lifecycle
            .change_handle(me.user_id, &handle)
            .await?;
        Ok(UserGql::myself(user))
    }

    /// Unlinks the caller's Facebook account (its imported friendships stay). FORBIDDEN when
    /// it is the only way to sign in; NOT_FOUND when none is linked.
    async fn unlink_facebook(&self, ctx: &Context<'_>) -> ApiResult<UserGql> {
        unlink(ctx, Network::Facebook).await
    }

    /// Unlinks the caller's Steam account, as `unlinkFacebook`.
    async fn unlink_steam(&self, ctx: &Context<'_>) -> ApiResult<UserGql> {
        unlink(ctx, Network::Steam).await
    }

    /// Deletes the caller's account at once, in one transaction: their friendships and other
    /// edges on both sides, linked networks, sessions, notifications received and sent, and
    /// direct messages both ways. The handle is free again; every token is refused and
    /// websockets close with 4403, on every server. `password` is required when the account
    /// has one.
    async fn delete_account(&self, ctx: &Context<'_>, password: Option<String>) -> ApiResult<bool> {
        let me = session(ctx)?;
        services(ctx)?
            .lifecycle
            .delete_own(me.user_id, password.as_deref())
            .await?;
        Ok(true)
    }

    /// Sends a SYSTEM notification (ADMIN only), delivered live: to the listed users (at most
    /// 100, all or none: an unknown one fails the call), or with `all` to every user, in which
    /// case a job is recorded and the call returns at once while batches are stored in the
    /// background (resumed after a restart, never delivered twice). Returns how many users it
    /// reaches. `subject`: 1 to 200 characters; `content`: a JSON object of at most 16 KiB.
    async fn send_system_notification(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        handles: Option<Vec<String>>,
        #[graphql(default_with = "Some(false)")] all: Option<bool>,
        subject: String,
        content: Option<Json<serde_json::Value>>,
    ) -> ApiResult<i32> {
        let me = session(ctx)?;
        let all = all.unwrap_or(false);
        if me.role != Role::Admin {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "only admins may send system notifications",
            ));
        }
        let message = SystemMessage::parse(&subject, content.map(|Json(v)| v))?;
        let svc = services(ctx)?;
        let listed = ids.as_ref().is_some_and(|v| !v.is_empty())
            || handles.as_ref().is_some_and(|v| !v.is_empty());
        let reached = match (all, listed) {
            (true, true) => {
                return Err(ApiError::bad_input(
                    "all",
                    "give either `all: true` or ids and handles, not both",
                ));
            }
            (true, false) => svc.system.send_to_all(&message).await?.1,
            (false, _) => {
                let ids: Vec<String> = ids.unwrap_or_default().into_iter().map(|id| id.0).collect();
                let targets = Targets::parse(&ids, &handles.unwrap_or_default())?;
                u64::from(svc.system.send(&targets, &message).await?)
            }
        };
        tracing::info!(admin = %me.user_id, reached, all, "system notification sent");
        Ok(i32::try_from(reached).unwrap_or(i32::MAX))
    }

    /// Ends one of the caller's sessions (see `sessions`); false if there is no such session
    /// of theirs (any more).
    async fn end_session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let me = session(ctx)?;
        let id = session_id(&id)?;
        let ended = services(ctx)?
            .sessions
            .end(me.user_id, SessionScope::One(id))
            .await?;
        Ok(ended > 0)
    }
}

/// `unlinkFacebook` / `unlinkSteam`.
async fn unlink(ctx: &Context<'_>, network: Network) -> ApiResult<UserGql> {
    let me = session(ctx)?;
    let user = services(ctx)?.lifecycle.unlink(me.user_id, network).await?;
    Ok(UserGql::myself(user))
}

/// How many of the caller's notifications are unread, and in all.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "NotificationCounts")]
pub struct NotificationCountsGql {
    /// Not marked read.
    pub unread: i32,
    /// All of them.
    pub total: i32,
}

#[Object]
impl AccountQueries {
    /// Everything the server holds about the caller, as one JSON document: profile, how they
    /// sign in (linked networks' ids, no secrets), edges with their metadata, dismissed
    /// recommendations, notifications, direct messages both ways, sessions.
    async fn export_my_data(&self, ctx: &Context<'_>) -> ApiResult<Json<serde_json::Value>> {
        let me = session(ctx)?;
        Ok(Json(services(ctx)?.lifecycle.export(me.user_id).await?))
    }

    /// Users whose handle or display name starts with `query` (case-insensitive; 2 to 64
    /// characters), by handle, at most `first` (1 to 100, default 20). Banned and deleted
    /// users are never found; blocks do not change the results.
    #[graphql(complexity = "crate::schema::list_complexity(first, 20, child_complexity)")]
    async fn search_users(
        &self,
        ctx: &Context<'_>,
        query: String,
        first: Option<i32>,
    ) -> ApiResult<Vec<UserGql>> {
        let me = session(ctx)?;
        let users = services(ctx)?
            .lifecycle
            .search(&query, page_size(first, 20))
            .await?;
        let views = services(ctx)?
            .friends
            .views_of(me.user_id, &users.iter().map(|u| u.id).collect::<Vec<_>>())
            .await?;
        Ok(users
            .into_iter()
            .map(|u| {
                let view = views.get(&u.id).copied();
                UserGql::seen_by(u, me.user_id, view)
            })
            .collect())
    }

    /// How many of the caller's notifications are unread, and in all (an unread badge without
    /// paging).
    async fn notification_counts(&self, ctx: &Context<'_>) -> ApiResult<NotificationCountsGql> {
        let me = session(ctx)?;
        let (unread, total) = services(ctx)?.notifications.counts(me.user_id).await?;
        Ok(NotificationCountsGql {
            unread: i32::try_from(unread).unwrap_or(i32::MAX),
            total: i32::try_from(total).unwrap_or(i32::MAX),
        })
    }

    /// The caller's live sessions, most recently used first.
    async fn sessions(&self, ctx: &Context<'_>) -> ApiResult<Vec<SessionGql>> {
        let me = session(ctx)?;
        let list = services(ctx)?.sessions.list(me.user_id).await?;
        Ok(list
            .into_iter()
            .map(|info| SessionGql::new(info, me.session_id))
            .collect())
    }
}
