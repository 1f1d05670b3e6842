//! Sessions: signed tokens ([`tokens`]) and what a request knows about its caller
//! ([`Caller`]). Password hashing is the `amity-passwords` crate's.

pub mod tokens;

use amity_domain::accounts::Role;
use amity_domain::moderation::AccessDenied;
use amity_domain::{SessionId, UserId};
use chrono::{DateTime, Utc};

use crate::Services;
use crate::auth::tokens::{TokenService, VerifiedToken};
use crate::error::{ApiError, ApiResult, ErrorCode};

/// What an `Authorization` header says about the caller, after checking the token and that its
/// user may still act (not banned, session not revoked; the role is the current one). The
/// check is answered from memory (see [`amity_domain::moderation::AccessControl`]).
pub async fn authenticate(services: &Services, header: Option<&str>) -> Caller {
    let token = match TokenService::token_from_header(header) {
        Ok(Some(token)) => token,
        Ok(None) => return Caller::Anonymous,
        Err(reason) => return Caller::Invalid(reason),
    };
    match services.tokens.verify(token) {
        Ok(verified) => match admit(services, &verified).await {
            Admission::Admitted(session, _) => Caller::User(session),
            Admission::Refused(reason) | Admission::Ended(reason) => Caller::Invalid(reason),
            Admission::Unavailable => Caller::Unchecked,
        },
        Err(reason) => Caller::Invalid(format!("{reason}; sign in again")),
    }
}

/// Whether a verified token's session may act now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Yes, as this session, which lives until the given time unless refreshed.
    Admitted(Session, DateTime<Utc>),
    /// No: the session has ended (signed out, ended elsewhere, reuse detected, run out); the
    /// reason is for the client, who should sign in again (websockets close with 4401).
    Ended(String),
    /// No (banned, revoked, no such user); the reason is for the client (websockets close with
    /// 4403).
    Refused(String),
    /// It could not be checked (the database is unreachable): neither yes nor no. Requests
    /// get UNAVAILABLE, websockets stay as they are.
    Unavailable,
}

/// The session of a verified token as it stands now, or why it is refused.
pub async fn admit(services: &Services, verified: &VerifiedToken) -> Admission {
    admit_from(services, verified, false).await
}

/// [`admit`], reading the user's status from the store rather than memory (a new websocket:
/// rare, long-lived, and it should not outlive a user removed behind the server's back).
pub async fn admit_fresh(services: &Services, verified: &VerifiedToken) -> Admission {
    admit_from(services, verified, true).await
}

async fn admit_from(services: &Services, verified: &VerifiedToken, fresh: bool) -> Admission {
    let session = verified.session;
    let checked = services
        .access
        .admit_session(
            session.user_id,
            session.session_id,
            verified.issued_at,
            fresh,
        )
        .await;
    match checked {
        Ok(Ok(admitted)) => Admission::Admitted(
            Session {
                role: admitted.role,
                ..session
            },
            admitted.session_ends_at,
        ),
        Ok(Err(denied @ AccessDenied::SessionEnded)) => {
            Admission::Ended(format!("{denied}; sign in again"))
        }
        Ok(Err(denied @ (AccessDenied::Revoked | AccessDenied::Unknown))) => {
            Admission::Refused(format!("{denied}; sign in again"))
        }
        Ok(Err(denied)) => Admission::Refused(denied.to_string()),
        Err(e) => {
            tracing::warn!(user = %session.user_id, error = %amity_domain::error::chain(&e), "a session could not be checked");
            Admission::Unavailable
        }
    }
}

/// The authenticated user of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Who.
    pub user_id: UserId,
    /// Their current role.
    pub role: Role,
    /// Which of their sessions (sign-ins) the token belongs to.
    pub session_id: SessionId,
}

/// What a request carried in its `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// A token that was refused; the reason (with advice, if any) is for the error message.
    Invalid(String),
    /// A valid token.
    User(Session),
    /// A token whose session could not be checked just now (the database is unreachable).
    Unchecked,
}

impl Caller {
    /// The session, or UNAUTHENTICATED.
    pub fn session(&self) -> ApiResult<Session> {
        match self {
            Caller::User(s) => Ok(*s),
            Caller::Anonymous => Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "sign in first: send \"Authorization: Bearer <token>\"",
            )),
            Caller::Invalid(reason) => Err(ApiError::new(
                ErrorCode::Unauthenticated,
                format!("the token was refused: {reason}"),
            )),
            Caller::Unchecked => Err(ApiError::unavailable(
                "your session could not be checked just now; try again shortly",
            )),
        }
    }
}
