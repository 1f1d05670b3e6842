//! Signed session tokens: HS256 JWTs with an expiry.

use std::time::Duration;

use amity_domain::UserId;
use amity_domain::accounts::Role;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Session};

const ISSUER: &str = "amity";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    iat: i64,
    exp: i64,
    iss: String,
}

/// Issues and verifies session tokens with one shared secret.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl TokenService {
    /// A service signing with `secret`; tokens live for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// Issues a token for `session`, valid from `now` for the configured lifetime.
    pub fn issue(&self, session: Session, now: DateTime<Utc>) -> Result<IssuedToken, String> {
        let ttl = chrono::Duration::from_std(self.ttl).map_err(|e| e.to_string())?;
        let expires_at = now + ttl;
        let claims = Claims {
            sub: session.user_id.to_string(),
            role: session.role.as_str().to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: ISSUER.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Checks a token's signature, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Session, String> {
        self.verify_with_expiry(token).map(|(session, _)| session)
    }

    /// Like [`TokenService::verify`], also giving when the token expires (websockets close
    /// then).
    pub fn verify_with_expiry(&self, token: &str) -> Result<(Session, DateTime<Utc>), String> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "it has expired".to_owned(),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "its signature is invalid".to_owned()
                }
                _ => "it is malformed".to_owned(),
            })?;
        let user_id = data
            .claims
            .sub
            .parse()
            .map_err(|_| "it names no user".to_owned())?;
        let role: Role = data
            .claims
            .role
            .parse()
            .map_err(|_| "it has an unknown role".to_owned())?;
        let expires_at = DateTime::<Utc>::from_timestamp(data.claims.exp, 0)
            .ok_or_else(|| "it has an invalid expiry".to_owned())?;
        Ok((
            Session {
                user_id: UserId::from_uuid(user_id),
                role,
            },
            expires_at,
        ))
    }

    /// What an `Authorization` header value says about the caller.
    pub fn caller_from_header(&self, header: Option<&str>) -> Caller {
        let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
            return Caller::Anonymous;
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Caller::Invalid(
                    "the Authorization header must be \"Bearer <token>\"".into(),
                );
            }
        };
        match self.verify(token) {
            Ok(session) => Caller::User(session),
            Err(reason) => Caller::Invalid(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> TokenService {
        TokenService::new(
            b"test-secret-test-secret-test-secret",
            Duration::from_secs(3600),
        )
    }

    fn session() -> Session {
        Session {
            user_id: UserId::new(),
            role: Role::Moderator,
        }
    }

    #[test]
    fn issued_tokens_verify() {
        let s = session();
        let t = service().issue(s, Utc::now()).unwrap();
        assert_eq!(service().verify(&t.token).unwrap(), s);
        assert_eq!(
            service().caller_from_header(Some(&format!("Bearer {}", t.token))),
            Caller::User(s)
        );
        assert_eq!(
            service().caller_from_header(Some(&format!("bearer {}", t.token))),
            Caller::User(s)
        );
    }

    #[test]
    fn expired_tokens_are_refused() {
        let t = service()
            .issue(session(), Utc::now() - chrono::Duration::hours(2))
            .unwrap();
        assert_eq!(service().verify(&t.token).unwrap_err(), "it has expired");
    }

    #[test]
    fn other_secrets_and_garbage_are_refused() {
        let t = service().issue(session(), Utc::now()).unwrap();
        let other = TokenService::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        assert_eq!(
            other.verify(&t.token).unwrap_err(),
            "its signature is invalid"
        );
        assert!(service().verify("not.a.jwt").is_err());
        assert!(matches!(
            service().caller_from_header(Some("Basic abc")),
            Caller::Invalid(_)
        ));
        assert_eq!(service().caller_from_header(None), Caller::Anonymous);
    }
}
