//! Sessions: one sign-in on one device, kept alive by rotating refresh tokens.
//!
//! A session is a stored row. Signing in starts one and hands out an opaque refresh token, of
//! which only a digest is stored. Exchanging the token ([`SessionService::refresh`]) marks it
//! used and issues the next one, which moves the session's end `refresh_ttl` further. A used
//! token presented again means two parties hold the session's tokens (one of them stole it), so
//! the whole session ends at once: its tokens, its access tokens and its websockets (reuse
//! detection, as OAuth 2.0 security best practice describes). The user's other sessions stay.
//!
//! Ending a session publishes [`Event::AccessChanged`], so every node forgets the user's cached
//! [`crate::moderation::AccessStatus`] (which lists the live sessions) and re-checks their open
//! websockets.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::events::{Event, EventBus};
use crate::ports::{SecretDigest, SessionStore};
use crate::time::Clock;
use crate::{DomainError, Result, SessionId, UserId};

pub use super::session_data::{NewSession, Refreshed, SessionInfo, SessionScope};

/// Longest device label, in characters.
pub const DEVICE_LABEL_MAX_LEN: usize = 64;

/// A session just started or refreshed, with the refresh token for its owner.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// The session.
    pub info: SessionInfo,
    /// The opaque refresh token, shown to the client once and never stored.
    pub refresh_token: String,
}

/// How sessions behave.
#[derive(Debug, Clone, Copy)]
pub struct SessionSettings {
    /// How long a session lives past its last sign-in or refresh.
    pub refresh_ttl: Duration,
    /// Most live sessions per user; signing in past it ends the least recently used.
    pub max_per_user: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            max_per_user: 50,
        }
    }
}

/// Starts, refreshes, lists and ends sessions.
#[derive(Clone)]
pub struct SessionService {
    store: Arc<dyn SessionStore>,
    secrets: Arc<dyn SecretDigest>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    settings: SessionSettings,
}

impl SessionService {
    /// A service on these ports.
    pub fn new(
        store: Arc<dyn SessionStore>,
        secrets: Arc<dyn SecretDigest>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        settings: SessionSettings,
    ) -> Self {
        Self {
            store,
            secrets,
            bus,
            clock,
            settings,
        }
    }

    /// The settings.
    pub fn settings(&self) -> SessionSettings {
        self.settings
    }

    fn expiry_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let ttl =
            chrono::Duration::from_std(self.settings.refresh_ttl).unwrap_or(chrono::Duration::MAX);
        now.checked_add_signed(ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Checks a device label: trimmed, at most [`DEVICE_LABEL_MAX_LEN`] characters, no control
    /// characters; blank means none.
    pub fn parse_device_label(label: Option<&str>) -> Result<Option<String>> {
        let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) else {
            return Ok(None);
        };
        if label.chars().count() > DEVICE_LABEL_MAX_LEN {
            return Err(DomainError::invalid(
                "deviceLabel",
                format!("must be at most {DEVICE_LABEL_MAX_LEN} characters long"),
            ));
        }
        if label.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "deviceLabel",
                "must not contain control characters",
            ));
        }
        Ok(Some(label.to_owned()))
    }

    /// Starts a session for `user` (who has just proved who they are). The device label must
    /// already be parsed ([`SessionService::parse_device_label`]).
    pub async fn start(&self, user: UserId, device_label: Option<String>) -> Result<IssuedSession> {
        let now = self.clock.now();
        let refresh_token = self.secrets.generate();
        let info = SessionInfo {
            id: SessionId::new(),
            user,
            device_label,
            created_at: now,
            last_used_at: now,
            expires_at: self.expiry_from(now),
        };
        let ended = self
            .store
            .start_session(
                &NewSession {
                    info: info.clone(),
                    refresh_digest: self.secrets.digest(&refresh_token),
                },
                self.settings.max_per_user,
            )
            .await?;
        if !ended.is_empty() {
            tracing::info!(%user, ended = ended.len(), "least recently used sessions ended: too many sessions");
            self.bus.publish(vec![Event::AccessChanged { user }]);
        }
        Ok(IssuedSession {
            info,
            refresh_token,
        })
    }

    /// Exchanges a refresh token for the next one. An unknown, expired or already used token is
    /// UNAUTHENTICATED; an already used one also ends its session (reuse detection).
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedSession> {
        let now = self.clock.now();
        let next = self.secrets.generate();
        let outcome = self
            .store
            .refresh_session(
                &self.secrets.digest(refresh_token),
                &self.secrets.digest(&next),
                now,
                self.expiry_from(now),
            )
            .await?;
        match outcome {
            Refreshed::Rotated(info) => Ok(IssuedSession {
                info,
                refresh_token: next,
            }),
            Refreshed::Reused { session, user } => {
                tracing::warn!(%user, %session, "a used refresh token was presented again: the session is ended");
                self.bus.publish(vec![Event::AccessChanged { user }]);
                Err(DomainError::Unauthenticated(
                    "this refresh token was already used, so the session has been ended; sign in \
                     again"
                        .into(),
                ))
            }
            Refreshed::Expired => Err(DomainError::Unauthenticated(
                "the session has ended; sign in again".into(),
            )),
            Refreshed::Unknown => Err(DomainError::Unauthenticated(
                "the refresh token is not valid; sign in again".into(),
            )),
        }
    }

    /// Gives a live session a new refresh token (every earlier one counts as used), e.g. after
    /// a password change; UNAUTHENTICATED if the session has ended.
    pub async fn reissue(&self, session: SessionId) -> Result<IssuedSession> {
        let now = self.clock.now();
        let next = self.secrets.generate();
        match self
            .store
            .replace_refresh_token(
                session,
                &self.secrets.digest(&next),
                now,
                self.expiry_from(now),
            )
            .await?
        {
            Some(info) => Ok(IssuedSession {
                info,
                refresh_token: next,
            }),
            None => Err(DomainError::Unauthenticated(
                "the session has ended; sign in again".into(),
            )),
        }
    }

    /// The user's live sessions, most recently used first.
    pub async fn list(&self, user: UserId) -> Result<Vec<SessionInfo>> {
        let mut sessions = self.store.sessions_of(user, self.clock.now()).await?;
        sessions.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at).then(b.id.cmp(&a.id)));
        Ok(sessions)
    }

    /// Ends sessions of `user`; returns how many ended. Their access tokens are refused and
    /// their websockets close on every node as soon as the event arrives.
    pub async fn end(&self, user: UserId, scope: SessionScope) -> Result<usize> {
        let ended = self.store.end_sessions(user, scope).await?;
        if !ended.is_empty() {
            tracing::info!(%user, ended = ended.len(), "sessions ended");
            self.bus.publish(vec![Event::AccessChanged { user }]);
        }
        Ok(ended.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_labels_are_trimmed_and_bounded() {
        assert_eq!(
            SessionService::parse_device_label(Some("  Pixel 9 ")).unwrap(),
            Some("Pixel 9".to_owned())
        );
        assert_eq!(
            SessionService::parse_device_label(Some("   ")).unwrap(),
            None
        );
        assert_eq!(SessionService::parse_device_label(None).unwrap(), None);
        assert!(SessionService::parse_device_label(Some(&"x".repeat(65))).is_err());
        assert!(SessionService::parse_device_label(Some("a\u{7}b")).is_err());
    }
}
