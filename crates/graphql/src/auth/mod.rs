//! Sessions: signed tokens ([`tokens`]) and password hashing ([`passwords`]), and what a request
//! knows about its caller ([`Caller`]).

pub mod passwords;
pub mod tokens;

use amity_domain::UserId;
use amity_domain::accounts::Role;
use amity_domain::moderation::AccessDenied;

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
            Ok(session) => Caller::User(session),
            Err(reason) => Caller::Invalid(reason),
        },
        Err(reason) => Caller::Invalid(format!("{reason}; sign in again")),
    }
}

/// The session of a verified token as it stands now, or why it is refused.
pub async fn admit(services: &Services, verified: &VerifiedToken) -> Result<Session, String> {
    let user_id = verified.session.user_id;
    match services.access.admit(user_id, verified.issued_at).await {
        Ok(Ok(role)) => Ok(Session { user_id, role }),
        Ok(Err(denied @ AccessDenied::Revoked)) => Err(format!("{denied}; sign in again")),
        Ok(Err(denied)) => Err(denied.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "checking a session failed");
            Err("it could not be checked just now; try again".to_owned())
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
        }
    }
}
