//! Sessions: signed tokens ([`tokens`]) and password hashing ([`passwords`]), and what a request
//! knows about its caller ([`Caller`]).

pub mod passwords;
pub mod tokens;

use amity_domain::UserId;
use amity_domain::accounts::Role;

use crate::error::{ApiError, ApiResult, ErrorCode};

/// The authenticated user of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Who.
    pub user_id: UserId,
    /// Their role when the token was issued.
    pub role: Role,
}

/// What a request carried in its `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// A token that did not verify; the reason is for the error message.
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
                format!("the token was refused: {reason}; sign in again"),
            )),
        }
    }
}
