//! The rest of an account's life: guest devices, passwords, handles, unlinking networks,
//! deletion, data export and user search (SPEC 12.3).
//!
//! Every change is one store call, which is one transaction. Changes that end sessions or
//! remove the account publish [`Event::AccessChanged`], so every node re-checks the user's
//! tokens and websockets at once; the graph cache (when the store is one) forgets what a
//! change touched in the store call itself.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::accounts::{NewUser, Role, User, search_key};
use crate::events::{Event, EventBus};
use crate::friends::FriendState;
use crate::input::Password;
use crate::notifications::NotificationCode;
use crate::ports::{PasswordHasher, SecretDigest, Store, Unlinked};
use crate::social::Network;
use crate::time::Clock;
use crate::{DomainError, Handle, Result, SessionId, UserId};

/// Shortest and longest guest device id, in characters.
pub const DEVICE_ID_LEN: std::ops::RangeInclusive<usize> = 16..=128;
/// Shortest search query, in characters.
pub const SEARCH_MIN_CHARS: usize = 2;
/// Longest search query, in characters (no handle or display name is longer).
pub const SEARCH_MAX_CHARS: usize = 64;
/// Most search results.
pub const SEARCH_MAX_RESULTS: u32 = 100;
/// Rows read per round trip while exporting.
const EXPORT_PAGE: u32 = 1000;

/// The account operations beyond sign-up and sign-in.
#[derive(Clone)]
pub struct AccountLifecycle {
    store: Arc<dyn Store>,
    hasher: Arc<dyn PasswordHasher>,
    secrets: Arc<dyn SecretDigest>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
}

fn gone() -> DomainError {
    DomainError::Unauthenticated("your account no longer exists".into())
}

fn state_name(state: FriendState) -> &'static str {
    match state {
        FriendState::Friend => "FRIEND",
        FriendState::InviteSent => "INVITE_SENT",
        FriendState::InviteReceived => "INVITE_RECEIVED",
        FriendState::Blocked => "BLOCKED",
    }
}

fn code_name(code: NotificationCode) -> &'static str {
    match code {
        NotificationCode::FriendRequest => "FRIEND_REQUEST",
        NotificationCode::FriendAccepted => "FRIEND_ACCEPTED",
        NotificationCode::FriendRemoved => "FRIEND_REMOVED",
        NotificationCode::FriendJoined => "FRIEND_JOINED",
        NotificationCode::DirectMessage => "DIRECT_MESSAGE",
        NotificationCode::System => "SYSTEM",
    }
}

fn network_name(network: Network) -> &'static str {
    match network {
        Network::Facebook => "FACEBOOK",
        Network::Steam => "STEAM",
    }
}

impl AccountLifecycle {
    /// A service on these ports.
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<dyn PasswordHasher>,
        secrets: Arc<dyn SecretDigest>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            hasher,
            secrets,
            bus,
            clock,
        }
    }

    /// The guest account of a device id (16 to 128 characters), made on first use with a
    /// `guest-…` handle and no password. Only a digest of the id is stored.
    pub async fn authenticate_device(&self, device_id: &str) -> Result<User> {
        let length = device_id.chars().count();
        if !DEVICE_ID_LEN.contains(&length) || device_id.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "deviceId",
                format!(
                    "must be {} to {} characters without control characters",
                    DEVICE_ID_LEN.start(),
                    DEVICE_ID_LEN.end()
                ),
            ));
        }
        let key = self.secrets.digest(device_id);
        if let Some(user) = self.store.user_by_device(&key).await? {
            return user.may_sign_in(self.clock.now());
        }
        // A handle from fresh randomness; a clash (about one in 10^15) tries another.
        for _ in 0..3 {
            let random: String = self
                .secrets
                .generate()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(12)
                .collect::<String>()
                .to_ascii_lowercase();
            let handle = Handle::parse("handle", &format!("guest-{random}"))?;
            let new = NewUser {
                id: UserId::new(),
                handle,
                display_name: None,
                password_hash: None,
                role: Role::User,
                created_at: self.clock.now(),
            };
            match self.store.insert_device_user(new, &key).await {
                Ok(Some(user)) => {
                    tracing::info!(user = %user.id, handle = %user.handle, "guest account created");
                    return Ok(user);
                }
                // A concurrent first sign-in of the same device made it.
                Ok(None) => {
                    return self
                        .store
                        .user_by_device(&key)
                        .await?
                        .ok_or_else(|| {
                            DomainError::Internal("the device's account vanished".into())
                        })?
                        .may_sign_in(self.clock.now());
                }
                Err(DomainError::HandleTaken(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(DomainError::Internal(
            "could not find a free guest handle".into(),
        ))
    }

    /// Gives a password to an account that has none (a guest, or one made through a network).
    pub async fn set_password(&self, user: UserId, new_password: &str) -> Result<User> {
        let password = Password::parse(new_password).map_err(as_new_password)?;
        let (found, hash) = self.store.credentials_by_id(user).await?.ok_or_else(gone)?;
        if hash.is_some() {
            return Err(DomainError::Forbidden(
                "the account already has a password: use changePassword".into(),
            ));
        }
        let hash = self.hasher.hash(&password).await?;
        self.store
            .set_password_hash(user, &hash, None)
            .await?
            .ok_or_else(gone)?;
        Ok(found)
    }

    /// Changes the password after checking the current one, and ends every other session of
    /// the user (in the same transaction). `keep` is the caller's own session.
    pub async fn change_password(
        &self,
        user: UserId,
        keep: SessionId,
        current: &str,
        new_password: &str,
    ) -> Result<User> {
        let (found, hash) = self.store.credentials_by_id(user).await?.ok_or_else(gone)?;
        let Some(hash) = hash else {
            return Err(DomainError::invalid(
                "currentPassword",
                "the account has no password: use setPassword",
            ));
        };
        if !self.hasher.verify(current, Some(&hash)).await? {
            return Err(DomainError::invalid("currentPassword", "is wrong"));
        }
        let password = Password::parse(new_password).map_err(as_new_password)?;
        let hash = self.hasher.hash(&password).await?;
        let ended = self
            .store
            .set_password_hash(user, &hash, Some(keep))
            .await?
            .ok_or_else(gone)?;
        if !ended.is_empty() {
            self.bus.publish(vec![Event::AccessChanged { user }]);
        }
        tracing::info!(%user, ended = ended.len(), "password changed; other sessions ended");
        Ok(found)
    }

    /// Changes the handle (same rules as at sign-up); the old one is free again.
    pub async fn change_handle(&self, user: UserId, handle: &str) -> Result<User> {
        let handle = Handle::parse("handle", handle)?;
        self.store
            .change_handle(user, &handle)
            .await?
            .ok_or_else(gone)
    }

    /// Unlinks the user's account on `network`; refused when it is the only way to sign in.
    pub async fn unlink(&self, user: UserId, network: Network) -> Result<User> {
        match self.store.unlink_external(user, network).await? {
            Unlinked::Done => self.store.user_by_id(user).await?.ok_or_else(gone),
            Unlinked::NotLinked => Err(DomainError::NotFound(format!(
                "no {network} account is linked to yours"
            ))),
            Unlinked::LastWayIn => Err(DomainError::Forbidden(format!(
                "{network} is the only way to sign in to this account: set a password or \
                 link another network first"
            ))),
            Unlinked::NoUser => Err(gone()),
        }
    }

    /// Deletes the caller's account at once; the password is required when it has one.
    pub async fn delete_own(&self, user: UserId, password: Option<&str>) -> Result<()> {
        let (_, hash) = self.store.credentials_by_id(user).await?.ok_or_else(gone)?;
        if let Some(hash) = hash {
            let Some(password) = password else {
                return Err(DomainError::invalid(
                    "password",
                    "is required to delete an account that has one",
                ));
            };
            if !self.hasher.verify(password, Some(&hash)).await? {
                return Err(DomainError::invalid("password", "is wrong"));
            }
        }
        self.delete(user).await
    }

    /// Deletes an account by handle (the command line); returns its id.
    pub async fn delete_by_handle(&self, handle: &str) -> Result<UserId> {
        let handle = Handle::parse("handle", handle)?;
        let user = self
            .store
            .user_by_handle(&handle)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("no user has the handle {handle}")))?;
        self.delete(user.id).await?;
        Ok(user.id)
    }

    async fn delete(&self, user: UserId) -> Result<()> {
        let others = self
            .store
            .delete_user(user, self.clock.now())
            .await?
            .ok_or_else(gone)?;
        // Every node: tokens refused and websockets closed (4403); friends' lists changed.
        self.bus.publish(vec![Event::AccessChanged { user }]);
        tracing::info!(%user, had_edges_with = others.len(), "account deleted");
        Ok(())
    }

    /// Everything the server holds about the user, as one JSON document (no secrets: no
    /// password hash, device digest or tokens; not who blocked them, which is theirs).
    pub async fn export(&self, user: UserId) -> Result<Value> {
        let me = self
            .store
            .user_by_id(user)
            .await?
            .filter(|u| !u.is_deleted())
            .ok_or_else(gone)?;
        let methods = self.store.sign_in_methods(user).await?.ok_or_else(gone)?;
        let adjacency = self
            .store
            .adjacency(&[user])
            .await?
            .remove(&user)
            .unwrap_or_default();
        let mut edges: Vec<Value> = adjacency
            .edges
            .iter()
            .map(|e| {
                json!({
                    "userId": e.other.to_string(),
                    "state": state_name(e.state),
                    "updatedAt": stamp(e.updated_at),
                    "metadata": e.metadata.as_ref().map(|m| m.to_value()),
                    "source": e.source.map(network_name),
                })
            })
            .collect();
        edges.sort_by(|a, b| a["userId"].as_str().cmp(&b["userId"].as_str()));
        let dismissed: Vec<String> = adjacency
            .dismissed
            .iter()
            .map(ToString::to_string)
            .collect();

        let mut notifications = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_notifications(user, after, EXPORT_PAGE)
                .await?;
            after = page.last().map(|n| n.id);
            notifications.extend(page.iter().map(|n| {
                json!({
                    "id": n.id.to_string(),
                    "code": code_name(n.code),
                    "subject": n.subject,
                    "content": n.content,
                    "senderId": n.sender.map(|s| s.to_string()),
                    "createdAt": stamp(n.created_at),
                    "readAt": n.read_at.map(stamp),
                })
            }));
            if page.len() < EXPORT_PAGE as usize {
                break;
            }
        }
        let mut messages = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .direct_messages_of(user, after, EXPORT_PAGE)
                .await?;
            after = page.last().map(|m| m.id);
            messages.extend(page.iter().map(|m| {
                json!({
                    "id": m.id.to_string(),
                    "senderId": m.sender.to_string(),
                    "recipientId": m.recipient.to_string(),
                    "body": m.body.as_str(),
                    "createdAt": stamp(m.created_at),
                })
            }));
            if page.len() < EXPORT_PAGE as usize {
                break;
            }
        }
        let sessions: Vec<Value> = self
            .store
            .sessions_of(user, self.clock.now())
            .await?
            .into_iter()
            .map(|s| {
                json!({
                    "id": s.id.to_string(),
                    "deviceLabel": s.device_label,
                    "createdAt": stamp(s.created_at),
                    "lastUsedAt": stamp(s.last_used_at),
                    "expiresAt": stamp(s.expires_at),
                })
            })
            .collect();
        Ok(json!({
            "exportedAt": stamp(self.clock.now()),
            "profile": {
                "id": me.id.to_string(),
                "handle": me.handle.as_str(),
                "displayName": me.display_name,
                "avatarUrl": me.avatar_url,
                "metadata": me.metadata.as_ref().map(|m| m.to_value()),
                "role": me.role.as_str().to_ascii_uppercase(),
                "createdAt": stamp(me.created_at),
                "lastSeenAt": me.last_seen_at.map(stamp),
                "ban": me.ban.as_ref().map(|b| json!({
                    "since": stamp(b.since),
                    "until": b.until.map(stamp),
                    "reason": b.reason,
                })),
            },
            "signIn": {
                "password": methods.password,
                "guestDevice": methods.device,
                "linkedNetworks": methods.networks.iter().map(|(network, id)| json!({
                    "network": network_name(*network),
                    "externalId": id,
                })).collect::<Vec<_>>(),
            },
            "edges": edges,
            "dismissedRecommendations": dismissed,
            "notifications": notifications,
            "directMessages": messages,
            "sessions": sessions,
        }))
    }

    /// Users whose handle or display name starts with `query` (case-insensitively; at least
    /// [`SEARCH_MIN_CHARS`] characters), by handle; never banned or deleted users. Blocks do
    /// not change the results, so that a block stays undetectable.
    pub async fn search(&self, query: &str, first: u32) -> Result<Vec<User>> {
        let query = query.trim();
        let length = query.chars().count();
        if length < SEARCH_MIN_CHARS {
            return Err(DomainError::invalid(
                "query",
                format!("must be at least {SEARCH_MIN_CHARS} characters long"),
            ));
        }
        if length > SEARCH_MAX_CHARS || query.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "query",
                format!(
                    "must be at most {SEARCH_MAX_CHARS} characters, without control characters"
                ),
            ));
        }
        if first == 0 || first > SEARCH_MAX_RESULTS {
            return Err(DomainError::invalid(
                "first",
                format!("must be between 1 and {SEARCH_MAX_RESULTS}"),
            ));
        }
        self.store
            .search_users(&search_key(query), first, self.clock.now())
            .await
    }
}

/// A password rule broken by `newPassword` (the rules name `password`).
fn as_new_password(error: DomainError) -> DomainError {
    match error {
        DomainError::InvalidInput { message, .. } => DomainError::invalid("newPassword", message),
        other => other,
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
