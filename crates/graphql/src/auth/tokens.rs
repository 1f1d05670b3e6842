//! Signed access tokens: HS256 JWTs with an expiry, naming their user and session.

use std::sync::Arc;
use std::time::Duration;

use amity_domain::accounts::Role;
use amity_domain::time::Clock;
use amity_domain::{SessionId, UserId};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::Session;

const ISSUER: &str = "amity";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: String,
    iat: i64,
    /// `iat` in milliseconds, so that a ban revokes exactly the tokens issued before it.
    #[serde(default)]
    iat_ms: Option<i64>,
    /// The session (sign-in) the token belongs to. Tokens from before sessions existed have
    /// none and are refused.
    #[serde(default)]
    sid: Option<String>,
    exp: i64,
    iss: String,
}

/// A token whose signature, issuer and expiry checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    /// Whose, and the role written into it (the current role comes from the access check).
    pub session: Session,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Issues and verifies session tokens with one shared secret. Expiry is judged by the
/// injected clock (the domain's), not by the JWT library's own reading of the system time.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    clock: Arc<dyn Clock>,
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
    /// A service signing with `secret`; tokens live for `ttl` as `clock` measures it.
    pub fn new(secret: &[u8], ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // `exp` is still required and parsed; `verify` compares it with `clock`.
        validation.validate_exp = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            clock,
        }
    }

    /// Issues a token for `session`, valid from `now` for the configured lifetime.
    pub fn issue(&self, session: Session, now: DateTime<Utc>) -> Result<IssuedToken, String> {
        let ttl = chrono::Duration::from_std(self.ttl).map_err(|e| e.to_string())?;
        // Whole seconds, as the `exp` claim holds it: the time a client is told is the time
        // the token stops being accepted.
        let expires_at = DateTime::<Utc>::from_timestamp((now + ttl).timestamp(), 0)
            .ok_or_else(|| "the expiry is out of range".to_owned())?;
        let claims = Claims {
            sub: session.user_id.to_string(),
            role: session.role.as_str().to_owned(),
            iat: now.timestamp(),
            iat_ms: Some(now.timestamp_millis()),
            sid: Some(session.session_id.to_string()),
            exp: expires_at.timestamp(),
            iss: ISSUER.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| e.to_string())?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Checks a token's signature, issuer and expiry (not whether its user may still act:
    /// that is [`crate::auth::authenticate`]'s job). A token is refused from its `exp` second
    /// on (RFC 7519: "on or after which the JWT MUST NOT be accepted").
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, String> {
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
        let session_id = data
            .claims
            .sid
            .as_deref()
            .ok_or_else(|| "it predates sessions".to_owned())?
            .parse()
            .map_err(|_| "it names no session".to_owned())?;
        let expires_at = DateTime::<Utc>::from_timestamp(data.claims.exp, 0)
            .ok_or_else(|| "it has an invalid expiry".to_owned())?;
        if self.clock.now() >= expires_at {
            return Err("it has expired".to_owned());
        }
        let issued_at = match data.claims.iat_ms {
            Some(ms) => DateTime::<Utc>::from_timestamp_millis(ms),
            None => DateTime::<Utc>::from_timestamp(data.claims.iat, 0),
        }
        .ok_or_else(|| "it has an invalid issue time".to_owned())?;
        Ok(VerifiedToken {
            session: Session {
                user_id: UserId::from_uuid(user_id),
                role,
                session_id: SessionId::from_uuid(session_id),
            },
            issued_at,
            expires_at,
        })
    }

    /// The token in an `Authorization` header value: `Ok(None)` without one, `Err` with the
    /// reason when the header is not `Bearer <token>`.
    pub fn token_from_header(header: Option<&str>) -> Result<Option<&str>, String> {
        let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Ok(Some(token.trim()))
            }
            _ => Err("the Authorization header must be \"Bearer <token>\"".into()),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    use amity_domain::time::{ManualClock, SystemClock};

    fn service() -> TokenService {
        TokenService::new(
            b"test-secret-test-secret-test-secret",
            Duration::from_secs(3600),
            Arc::new(SystemClock),
        )
    }

    fn session() -> Session {
        Session {
            user_id: UserId::new(),
            role: Role::Moderator,
            session_id: SessionId::new(),
        }
    }

    #[test]
    fn issued_tokens_verify() {
        let s = session();
        let now = Utc::now();
        let t = service().issue(s, now).unwrap();
        let verified = service().verify(&t.token).unwrap();
        assert_eq!(verified.session, s);
        assert_eq!(
            verified.issued_at.timestamp_millis(),
            now.timestamp_millis()
        );
        assert_eq!(verified.expires_at, t.expires_at);
        let header = format!("bearer {}", t.token);
        assert_eq!(
            TokenService::token_from_header(Some(&header)).unwrap(),
            Some(t.token.as_str())
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
    fn expiry_follows_the_injected_clock_to_the_second() {
        let start = SystemClock.now();
        let clock = Arc::new(ManualClock::new(start));
        let tokens = TokenService::new(
            b"test-secret-test-secret-test-secret",
            Duration::from_secs(60),
            clock.clone(),
        );
        // `expires_at` is whole seconds, as the claim holds it.
        let issued = tokens.issue(session(), start).unwrap();
        clock.set(issued.expires_at - chrono::Duration::milliseconds(1));
        assert!(tokens.verify(&issued.token).is_ok());
        clock.set(issued.expires_at);
        assert_eq!(tokens.verify(&issued.token).unwrap_err(), "it has expired");
    }

    #[test]
    fn other_secrets_and_garbage_are_refused() {
        let t = service().issue(session(), Utc::now()).unwrap();
        let other = TokenService::new(
            b"another-secret-another-secret-xx",
            Duration::from_secs(60),
            Arc::new(SystemClock),
        );
        assert_eq!(
            other.verify(&t.token).unwrap_err(),
            "its signature is invalid"
        );
        assert!(service().verify("not.a.jwt").is_err());
        assert!(TokenService::token_from_header(Some("Basic abc")).is_err());
        assert_eq!(TokenService::token_from_header(None).unwrap(), None);
        assert_eq!(TokenService::token_from_header(Some("  ")).unwrap(), None);
    }
}
