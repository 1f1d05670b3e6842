//! Sessions and refresh tokens in memory, answering as the SQL store does.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use super::state::{State, stored};
use crate::accounts::sessions::{NewSession, Refreshed, SessionInfo, SessionScope};
use crate::ports::{SecretDigest, SessionStore};
use crate::{DomainError, Fault, Result, SessionId, UserId};

impl State {
    /// Deletes sessions with their tokens; returns their ids.
    pub(super) fn end_sessions(&mut self, ended: &[SessionId]) {
        for id in ended {
            self.sessions.remove(id);
        }
        self.session_tokens
            .retain(|_, (session, _)| !ended.contains(session));
    }

    /// The user's session ids matching `scope`.
    fn sessions_in_scope(&self, user: UserId, scope: SessionScope) -> Vec<SessionId> {
        self.sessions
            .values()
            .filter(|s| s.user == user)
            .filter(|s| match scope {
                SessionScope::One(id) => s.id == id,
                SessionScope::All => true,
                SessionScope::AllBut(id) => s.id != id,
            })
            .map(|s| s.id)
            .collect()
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn start_session(&self, new: &NewSession, keep_at_most: u32) -> Result<Vec<SessionId>> {
        self.shared.calls.record("start_session");
        self.write(|state| {
            if !state.users.contains_key(&new.info.user) {
                return Err(DomainError::Storage(Fault::new(
                    "a session names a user who does not exist",
                )));
            }
            let mut info = new.info.clone();
            info.created_at = stored(info.created_at);
            info.last_used_at = stored(info.last_used_at);
            info.expires_at = stored(info.expires_at);
            state.sessions.insert(info.id, info);
            state
                .session_tokens
                .insert(new.refresh_digest.clone(), (new.info.id, false));
            // The least recently used beyond the limit (ended ones count: they are deleted
            // only here and when their owner ends them).
            let mut mine: Vec<&SessionInfo> = state
                .sessions
                .values()
                .filter(|s| s.user == new.info.user)
                .collect();
            mine.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at).then(b.id.cmp(&a.id)));
            let ended: Vec<SessionId> = mine
                .iter()
                .skip(keep_at_most.max(1) as usize)
                .map(|s| s.id)
                .collect();
            state.end_sessions(&ended);
            Ok(ended)
        })
        .await
    }

    async fn refresh_session(
        &self,
        presented: &str,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Refreshed> {
        self.shared.calls.record("refresh_session");
        self.write(|state| {
            let Some(&(session, used)) = state.session_tokens.get(presented) else {
                return Ok(Refreshed::Unknown);
            };
            let Some(info) = state.sessions.get(&session).cloned() else {
                return Ok(Refreshed::Unknown);
            };
            if used {
                state.end_sessions(&[session]);
                return Ok(Refreshed::Reused {
                    session,
                    user: info.user,
                });
            }
            if info.expires_at <= now {
                return Ok(Refreshed::Expired);
            }
            state
                .session_tokens
                .insert(presented.to_owned(), (session, true));
            state
                .session_tokens
                .insert(next.to_owned(), (session, false));
            let info = state
                .sessions
                .get_mut(&session)
                .map(|s| {
                    s.last_used_at = stored(now);
                    s.expires_at = stored(expires_at);
                    s.clone()
                })
                .ok_or_else(|| DomainError::Internal("the session vanished".into()))?;
            Ok(Refreshed::Rotated(info))
        })
        .await
    }

    async fn replace_refresh_token(
        &self,
        session: SessionId,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>> {
        self.shared.calls.record("replace_refresh_token");
        self.write(|state| {
            let Some(info) = state
                .sessions
                .get_mut(&session)
                .filter(|s| s.expires_at > now)
            else {
                return Ok(None);
            };
            info.last_used_at = stored(now);
            info.expires_at = stored(expires_at);
            let info = info.clone();
            for (owner, used) in state.session_tokens.values_mut() {
                if *owner == session {
                    *used = true;
                }
            }
            state
                .session_tokens
                .insert(next.to_owned(), (session, false));
            Ok(Some(info))
        })
        .await
    }

    async fn sessions_of(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<SessionInfo>> {
        self.shared.calls.record("sessions_of");
        Ok(self
            .snapshot()
            .sessions
            .values()
            .filter(|s| s.user == user && s.expires_at > now)
            .cloned()
            .collect())
    }

    async fn end_sessions(&self, user: UserId, scope: SessionScope) -> Result<Vec<SessionId>> {
        self.shared.calls.record("end_sessions");
        self.write(|state| {
            let ended = state.sessions_in_scope(user, scope);
            state.end_sessions(&ended);
            Ok(ended)
        })
        .await
    }
}

/// A [`SecretDigest`] for tests: secrets from a counter and a fresh id, a reversible-looking
/// but collision-free "digest". Never for production (the secrets are guessable).
#[derive(Debug, Default)]
pub struct TestSecrets {
    counter: std::sync::atomic::AtomicU64,
}

impl SecretDigest for TestSecrets {
    fn generate(&self) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("secret-{n}-{}", uuid::Uuid::now_v7().simple())
    }

    fn digest(&self, secret: &str) -> String {
        format!("digest:{secret}")
    }
}
