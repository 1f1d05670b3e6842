//! The domain's error type.

use std::fmt;
use std::sync::Arc;

/// Result alias used across the domain.
pub type Result<T, E = DomainError> = std::result::Result<T, E>;

/// Why one target of a batch operation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetProblemKind {
    /// Not a well-formed id or handle.
    Malformed,
    /// No such user.
    Unknown,
    /// The caller named itself.
    IsCaller,
}

impl fmt::Display for TargetProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetProblemKind::Malformed => "malformed",
            TargetProblemKind::Unknown => "unknown user",
            TargetProblemKind::IsCaller => "cannot target yourself",
        })
    }
}

/// One refused target of a batch operation, as the caller wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetProblem {
    /// The id or handle exactly as given.
    pub target: String,
    /// What is wrong with it.
    pub kind: TargetProblemKind,
}

/// Which configured limit an operation would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Maximum number of friends per user.
    Friends,
    /// Maximum number of outgoing pending requests per user.
    PendingInvites,
    /// Maximum number of blocked users per user.
    Blocks,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::Friends => "friends",
            LimitKind::PendingInvites => "outgoing friend requests",
            LimitKind::Blocks => "blocked users",
        })
    }
}

/// A failure below the domain (the store, a lock, a pool), kept whole for the logs: what was
/// being done and, when another error caused it, that error with its own chain of causes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{context}")]
pub struct Fault {
    context: String,
    #[source]
    cause: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Fault {
    /// A fault described by `context` alone.
    pub fn new(context: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            cause: None,
        }
    }

    /// A fault while doing `context`, caused by `cause`.
    pub fn caused_by(
        context: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            context: context.into(),
            cause: Some(Arc::new(cause)),
        }
    }
}

impl From<String> for Fault {
    fn from(context: String) -> Self {
        Self::new(context)
    }
}

impl From<&str> for Fault {
    fn from(context: &str) -> Self {
        Self::new(context)
    }
}

/// An error and each of its causes, joined by ": " (what logs show, once, where the error is
/// handled).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let more = next.to_string();
        // Some errors repeat their cause in their own message; say it once.
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = next.source();
    }
    text
}

/// Every way a domain operation can fail.
///
/// The GraphQL edge maps each variant to a stable `extensions.code`; `Storage` and `Conflict`
/// carry internal detail that is logged and never shown to clients.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// Input that does not parse or breaks a rule; the message names the field and the rule.
    #[error("{field}: {message}")]
    InvalidInput {
        /// The argument or field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Some targets of a batch operation are bad; nothing was changed.
    #[error("{}", describe_targets(.0))]
    InvalidTargets(Vec<TargetProblem>),
    /// The handle is already taken (case-insensitively).
    #[error("handle \"{0}\" is already taken")]
    HandleTaken(String),
    /// Wrong handle or password (deliberately not saying which).
    #[error("wrong handle or password")]
    InvalidCredentials,
    /// No valid session.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// The operation would pass a configured limit; nothing was changed.
    #[error("limit exceeded: at most {limit} {kind}{}", .detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    LimitExceeded {
        /// Which limit.
        kind: LimitKind,
        /// The configured maximum.
        limit: u32,
        /// Who would pass it, when it is not the caller.
        detail: Option<String>,
    },
    /// A social network failed or refused; nothing was changed.
    #[error("{0}")]
    ImportFailed(String),
    /// A concurrent transaction got in the way (serialization failure, deadlock, busy database).
    /// Services retry these; one that escapes is reported as an internal error.
    #[error("concurrent update conflict")]
    Conflict(#[source] Fault),
    /// The store failed; the fault is for logs only.
    #[error("storage failure")]
    Storage(#[source] Fault),
    /// The store cannot be reached or is saturated (no connection within the pool's wait, the
    /// connection refused or lost, the server shutting down), or another resource the call
    /// needs is busy past its wait; trying again later may succeed. For logs only.
    #[error("unavailable")]
    Unavailable(#[source] Fault),
    /// Any other internal failure; the text is for logs only.
    #[error("internal failure: {0}")]
    Internal(String),
}

fn describe_targets(problems: &[TargetProblem]) -> String {
    let parts: Vec<String> = problems
        .iter()
        .map(|p| format!("\"{}\" ({})", p.target, p.kind))
        .collect();
    format!("nothing was changed; bad targets: {}", parts.join(", "))
}

impl DomainError {
    /// Shorthand for [`DomainError::InvalidInput`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::InvalidInput {
            field,
            message: message.into(),
        }
    }

    /// Whether retrying the whole transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DomainError::Conflict(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_keep_their_causes_for_the_log() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = DomainError::Unavailable(Fault::caused_by("acquiring a connection", io));
        assert_eq!(err.to_string(), "unavailable");
        assert_eq!(
            chain(&err),
            "unavailable: acquiring a connection: connection refused"
        );
        assert_eq!(
            chain(&DomainError::Storage("bad row".into())),
            "storage failure: bad row"
        );
    }

    #[test]
    fn target_errors_name_each_target() {
        let err = DomainError::InvalidTargets(vec![
            TargetProblem {
                target: "nobody".into(),
                kind: TargetProblemKind::Unknown,
            },
            TargetProblem {
                target: "x".into(),
                kind: TargetProblemKind::Malformed,
            },
        ]);
        let text = err.to_string();
        assert!(text.contains("\"nobody\" (unknown user)"), "{text}");
        assert!(text.contains("\"x\" (malformed)"), "{text}");
    }

    #[test]
    fn limit_message_says_which_limit() {
        let err = DomainError::LimitExceeded {
            kind: LimitKind::Friends,
            limit: 1000,
            detail: None,
        };
        assert_eq!(err.to_string(), "limit exceeded: at most 1000 friends");
    }
}
