//! Moderation: bans with a reason and an end, roles, the audit log, and the per-request check
//! that keeps banned users and revoked sessions out.
//!
//! - [`ModerationService`] bans, unbans and sets roles, each call one transaction that also
//!   writes the audit log, and publishes [`crate::events::Event::AccessChanged`] after commit;
//! - [`AccessControl`] answers "may this session still act, and with which role?" from memory,
//!   loading a user's [`AccessStatus`] once and forgetting it when the bus says it changed.
//!
//! A ban keeps the user's edges (an unban restores them unchanged); while it lasts the user is
//! hidden from other users and every token issued before it is refused, also after an unban.

mod access;
mod service;

use std::fmt;

use chrono::{DateTime, Utc};

use crate::accounts::Role;
use crate::{ModerationEntryId, SessionId, UserId};

pub use access::{AccessControl, AccessWatch, Admitted, NEW_SESSION_SKEW, REVALIDATE_AFTER};
pub use service::ModerationService;

/// Longest ban reason, in characters.
pub const REASON_MAX_CHARS: usize = 500;
/// Most log entries in one page.
pub const LOG_PAGE_MAX: u32 = 1000;

/// Bans are kept on the account; see [`crate::accounts::Ban`].
pub use crate::accounts::Ban;

/// Who takes a moderation action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user; their role is checked against the stored one at the time of the action.
    User(UserId),
    /// An operator on the `amity` command line (may do everything).
    CommandLine,
    /// Server-side code calling the Rust API, under a name of its choosing for the log (may do
    /// everything).
    System(String),
}

/// What a moderation action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModerationAction {
    /// Banned (or changed the reason or end of a ban).
    Ban,
    /// Lifted a ban.
    Unban,
    /// Changed a role.
    SetRole,
}

impl ModerationAction {
    /// The stored and API form: `BAN`, `UNBAN`, `SET_ROLE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ban => "BAN",
            Self::Unban => "UNBAN",
            Self::SetRole => "SET_ROLE",
        }
    }

    /// Parses the stored form.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "BAN" => Some(Self::Ban),
            "UNBAN" => Some(Self::Unban),
            "SET_ROLE" => Some(Self::SetRole),
            _ => None,
        }
    }
}

impl fmt::Display for ModerationAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModerationEntry {
    /// Time-ordered id.
    pub id: ModerationEntryId,
    /// The acting user, when a user acted (and still exists).
    pub actor: Option<UserId>,
    /// The actor as a person reads it: the user's handle at the time, "command line", or the
    /// name server code gave.
    pub actor_label: String,
    /// Who was acted on.
    pub target: UserId,
    /// What was done.
    pub action: ModerationAction,
    /// The reason given, for bans.
    pub reason: Option<String>,
    /// The end of a ban; `None` with [`ModerationAction::Ban`] is permanent.
    pub until: Option<DateTime<Utc>>,
    /// The new role, for role changes.
    pub role: Option<Role>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What decides whether a user's sessions are still good: their role, ban and revocation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessStatus {
    /// The current role (a role change applies to existing sessions at once).
    pub role: Role,
    /// The ban, if any (possibly run out).
    pub ban: Option<Ban>,
    /// Tokens issued at or before this are refused.
    pub sessions_valid_after: Option<DateTime<Utc>>,
    /// The user's sessions (see [`crate::accounts::sessions`]) and when each ends, as loaded:
    /// a token of a session not listed here is refused.
    pub sessions: Vec<(SessionId, DateTime<Utc>)>,
}

/// Why a session was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDenied {
    /// The account no longer exists.
    Unknown,
    /// The account is banned.
    Banned(Ban),
    /// The session was issued before a ban (tokens stay dead after an unban).
    Revoked,
    /// The session was ended (signed out, ended from another device, a refresh token reused,
    /// the password changed) or ran out.
    SessionEnded,
}

impl fmt::Display for AccessDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("the account no longer exists"),
            Self::Banned(ban) => write!(f, "the account is banned {}", ban.describe_end()),
            Self::Revoked => f.write_str("the session was revoked"),
            Self::SessionEnded => f.write_str("the session has ended"),
        }
    }
}

impl AccessStatus {
    /// The role a session issued at `issued_at` acts with at `now`, or why it may not act.
    pub fn admit(
        &self,
        issued_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Role, AccessDenied> {
        if let Some(ban) = self.ban.as_ref().filter(|b| b.is_active_at(now)) {
            return Err(AccessDenied::Banned(ban.clone()));
        }
        if self
            .sessions_valid_after
            .is_some_and(|after| issued_at <= after)
        {
            return Err(AccessDenied::Revoked);
        }
        Ok(self.role)
    }

    /// When `session` ends, if it is one of the user's live sessions at `now`.
    pub fn session_ends_at(&self, session: SessionId, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.sessions
            .iter()
            .find(|(id, _)| *id == session)
            .map(|(_, ends)| *ends)
            .filter(|ends| now < *ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn bans_end_by_themselves_unless_permanent() {
        let temporary = Ban {
            since: at(0),
            until: Some(at(10)),
            reason: None,
        };
        assert!(temporary.is_active_at(at(9)));
        assert!(!temporary.is_active_at(at(10)));
        let permanent = Ban {
            until: None,
            ..temporary.clone()
        };
        assert!(permanent.is_active_at(at(1_000_000)));
        assert_eq!(permanent.describe_end(), "permanently");
        assert!(temporary.describe_end().starts_with("until 2027-"));
    }

    #[test]
    fn sessions_from_before_a_ban_stay_dead_after_it() {
        let ban = Ban {
            since: at(0),
            until: Some(at(10)),
            reason: Some("spam".into()),
        };
        let status = AccessStatus {
            role: Role::Moderator,
            ban: Some(ban.clone()),
            sessions_valid_after: Some(at(0)),
            sessions: Vec::new(),
        };
        assert_eq!(status.admit(at(20), at(5)), Err(AccessDenied::Banned(ban)));
        assert_eq!(status.admit(at(-1), at(11)), Err(AccessDenied::Revoked));
        assert_eq!(status.admit(at(0), at(11)), Err(AccessDenied::Revoked));
        assert_eq!(
            status.admit(at(0) + Duration::milliseconds(1), at(11)),
            Ok(Role::Moderator)
        );
        let clean = AccessStatus {
            role: Role::User,
            ban: None,
            sessions_valid_after: None,
            sessions: Vec::new(),
        };
        assert_eq!(clean.admit(at(-100), at(0)), Ok(Role::User));
    }

    #[test]
    fn actions_round_trip_their_stored_form() {
        for action in [
            ModerationAction::Ban,
            ModerationAction::Unban,
            ModerationAction::SetRole,
        ] {
            assert_eq!(ModerationAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(ModerationAction::parse("KICK"), None);
    }
}
