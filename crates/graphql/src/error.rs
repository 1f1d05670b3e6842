//! Mapping domain errors to GraphQL errors with a stable `extensions.code`.
//!
//! Resolvers return [`ApiResult`]; `?` on a [`DomainError`] goes through [`ApiError::from`],
//! which picks the code, adds structured detail (the field, the bad targets) and logs internal
//! causes instead of returning them.

use amity_domain::DomainError;
use amity_domain::error::TargetProblemKind;
use amity_domain::error::chain;
use async_graphql::{Error, ErrorExtensionValues, Value};

/// What `retryAfter` says when the database is unreachable or saturated, in seconds.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// The error codes clients may rely on (SPEC section 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Input that does not parse or breaks a rule.
    BadUserInput,
    /// No valid session.
    Unauthenticated,
    /// Not allowed for this caller.
    Forbidden,
    /// No such thing.
    NotFound,
    /// A configured limit would be passed.
    LimitExceeded,
    /// Too many requests.
    RateLimited,
    /// A social network import failed.
    ImportFailed,
    /// The server cannot serve this just now (the database is unreachable or saturated, the
    /// request ran out of time); `extensions.retryAfter` says when to try again.
    Unavailable,
    /// Our fault; details are in the server log.
    InternalServerError,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::BadUserInput,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::LimitExceeded,
        ErrorCode::RateLimited,
        ErrorCode::ImportFailed,
        ErrorCode::Unavailable,
        ErrorCode::InternalServerError,
    ];

    /// The code as sent in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadUserInput => "BAD_USER_INPUT",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::ImportFailed => "IMPORT_FAILED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

/// A GraphQL error that always carries a code. Deliberately not `Display`, so that it never
/// falls into async-graphql's catch-all conversion that would drop the code.
#[derive(Debug, Clone)]
pub struct ApiError(Error);

/// What resolvers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let mut error = Error::new(message);
        error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", code.as_str());
        Self(error)
    }

    /// A BAD_USER_INPUT error about `field`.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut err = Self::new(ErrorCode::BadUserInput, format!("{field}: {message}"));
        err.set("field", field);
        err
    }

    /// The code carried, if any.
    pub fn code(&self) -> Option<String> {
        match self.0.extensions.as_ref()?.get("code")? {
            Value::String(code) => Some(code.clone()),
            _ => None,
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// An UNAVAILABLE error with `retryAfter`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut err = Self::new(ErrorCode::Unavailable, message);
        err.set("retryAfter", Value::from(UNAVAILABLE_RETRY_AFTER_SECS));
        err
    }

    /// The error as a request-level GraphQL error (no path), for refusals made before
    /// async-graphql runs anything.
    pub fn into_server_error(self) -> async_graphql::ServerError {
        let mut error = async_graphql::ServerError::new(self.0.message, None);
        error.extensions = self.0.extensions;
        error
    }

    /// Adds `key` to the error's extensions.
    pub(crate) fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set(key, value);
    }
}

impl From<ApiError> for Error {
    fn from(err: ApiError) -> Self {
        err.0
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match &err {
            DomainError::InvalidInput { field, message } => {
                ApiError::bad_input(field, message.clone())
            }
            DomainError::InvalidTargets(problems) => {
                let all_unknown = problems
                    .iter()
                    .all(|p| p.kind == TargetProblemKind::Unknown);
                let code = if all_unknown {
                    ErrorCode::NotFound
                } else {
                    ErrorCode::BadUserInput
                };
                let mut api = ApiError::new(code, err.to_string());
                let list: Vec<Value> = problems
                    .iter()
                    .map(|p| {
                        let mut m = async_graphql::indexmap::IndexMap::new();
                        m.insert(
                            async_graphql::Name::new("target"),
                            Value::from(p.target.clone()),
                        );
                        m.insert(
                            async_graphql::Name::new("reason"),
                            Value::from(p.kind.to_string()),
                        );
                        Value::Object(m)
                    })
                    .collect();
                api.set("targets", Value::List(list));
                api
            }
            DomainError::HandleTaken(_) => {
                let mut api = ApiError::new(ErrorCode::BadUserInput, err.to_string());
                api.set("field", "handle");
                api
            }
            DomainError::InvalidCredentials | DomainError::Unauthenticated(_) => {
                ApiError::new(ErrorCode::Unauthenticated, err.to_string())
            }
            DomainError::Forbidden(_) => ApiError::new(ErrorCode::Forbidden, err.to_string()),
            DomainError::NotFound(_) => ApiError::new(ErrorCode::NotFound, err.to_string()),
            DomainError::ImportFailed(_) => ApiError::new(ErrorCode::ImportFailed, err.to_string()),
            DomainError::LimitExceeded { limit, .. } => {
                let mut api = ApiError::new(ErrorCode::LimitExceeded, err.to_string());
                api.set("limit", *limit);
                api
            }
            DomainError::Unavailable(_) => {
                tracing::warn!(error = %chain(&err), "unavailable");
                ApiError::unavailable(
                    "the server cannot reach its database just now; try again shortly",
                )
            }
            DomainError::Conflict(_) | DomainError::Storage(_) | DomainError::Internal(_) => {
                tracing::error!(error = %chain(&err), "internal error");
                ApiError::new(
                    ErrorCode::InternalServerError,
                    "internal server error; the details are in the server log",
                )
            }
        }
    }
}

/// Gives every error of a response a code: request-level errors (parse, validation, depth and
/// complexity limits) have no path and are the client's (`BAD_USER_INPUT`); a resolver error
/// without a code would be a bug and is reported as internal.
pub fn ensure_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let ext = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        if ext.get("code").is_none() {
            // Without a path: a parse or validation error. With one: async-graphql's own
            // argument checks (our resolvers always set a code), or something internal.
            let bad_argument = [
                "Failed to parse",
                "Expected input type",
                "Invalid value for argument",
            ]
            .iter()
            .any(|prefix| error.message.starts_with(prefix));
            let code = if error.path.is_empty() || bad_argument {
                ErrorCode::BadUserInput
            } else {
                ErrorCode::InternalServerError
            };
            ext.set("code", code.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amity_domain::error::{LimitKind, TargetProblem};

    fn code(err: DomainError) -> String {
        ApiError::from(err).code().unwrap_or_default()
    }

    #[test]
    fn every_domain_error_has_its_code() {
        let cases = [
            (DomainError::invalid("first", "too big"), "BAD_USER_INPUT"),
            (DomainError::HandleTaken("bob".into()), "BAD_USER_INPUT"),
            (DomainError::InvalidCredentials, "UNAUTHENTICATED"),
            (DomainError::Unauthenticated("x".into()), "UNAUTHENTICATED"),
            (DomainError::Forbidden("x".into()), "FORBIDDEN"),
            (DomainError::NotFound("x".into()), "NOT_FOUND"),
            (
                DomainError::LimitExceeded {
                    kind: LimitKind::Friends,
                    limit: 1,
                    detail: None,
                },
                "LIMIT_EXCEEDED",
            ),
            (
                DomainError::Unavailable("pool timed out".into()),
                "UNAVAILABLE",
            ),
            (DomainError::Conflict("x".into()), "INTERNAL_SERVER_ERROR"),
            (DomainError::Storage("x".into()), "INTERNAL_SERVER_ERROR"),
            (DomainError::Internal("x".into()), "INTERNAL_SERVER_ERROR"),
        ];
        for (err, expected) in cases {
            assert_eq!(code(err.clone()), expected, "{err:?}");
        }
    }

    #[test]
    fn target_errors_are_not_found_only_when_all_unknown() {
        let unknown = TargetProblem {
            target: "ghost".into(),
            kind: TargetProblemKind::Unknown,
        };
        let malformed = TargetProblem {
            target: "!!".into(),
            kind: TargetProblemKind::Malformed,
        };
        assert_eq!(
            code(DomainError::InvalidTargets(vec![unknown.clone()])),
            "NOT_FOUND"
        );
        assert_eq!(
            code(DomainError::InvalidTargets(vec![unknown, malformed])),
            "BAD_USER_INPUT"
        );
    }

    #[test]
    fn internal_causes_are_not_shown() {
        let api = ApiError::from(DomainError::Storage("password=hunter2 at db".into()));
        assert!(!api.message().contains("hunter2"));
    }

    #[test]
    fn request_errors_get_bad_user_input() {
        let mut response =
            async_graphql::Response::from_errors(vec![async_graphql::ServerError::new(
                "Unknown field",
                None,
            )]);
        ensure_codes(&mut response);
        let ext = response.errors[0].extensions.as_ref().unwrap();
        assert_eq!(ext.get("code"), Some(&Value::from("BAD_USER_INPUT")));
    }

    #[test]
    fn errors_without_a_code_get_one() {
        let at = |message: &str, path: bool| {
            let mut error = async_graphql::ServerError::new(message, None);
            if path {
                error.path = vec![async_graphql::PathSegment::Field("linkSteam".into())];
            }
            let mut response = async_graphql::Response::from_errors(vec![error]);
            ensure_codes(&mut response);
            let ext = response.errors[0].extensions.clone().unwrap_or_default();
            ext.get("code").map(|v| v.to_string())
        };
        assert_eq!(
            at("Unknown field", false).as_deref(),
            Some("\"BAD_USER_INPUT\"")
        );
        assert_eq!(
            at("Expected input type \"Boolean\", found null.", true).as_deref(),
            Some("\"BAD_USER_INPUT\"")
        );
        assert_eq!(
            at("something broke", true).as_deref(),
            Some("\"INTERNAL_SERVER_ERROR\"")
        );
    }
}
