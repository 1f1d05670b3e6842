//! Users, roles, sign-up and sign-in.

pub mod lifecycle;
mod service;
pub(crate) mod session_data;
pub mod sessions;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::input::{AvatarUrl, DisplayName, Metadata};
use crate::{Handle, UserId};

pub use service::AccountService;

/// What a user may do beyond the ordinary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// An ordinary user.
    User,
    /// May ban and unban users.
    Moderator,
    /// May do everything, including making moderators.
    Admin,
}

impl Role {
    /// The stored and command-line form: `user`, `moderator`, `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of `user`, `moderator`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role \"{0}\"; expected user, moderator or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "user" => Ok(Role::User),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(s.to_owned())),
        }
    }
}

/// A user account as everyone may see it (no secrets).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Time-ordered id.
    pub id: UserId,
    /// Unique (case-insensitively) handle.
    pub handle: Handle,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Optional avatar address.
    pub avatar_url: Option<String>,
    /// Optional JSON object.
    pub metadata: Option<Metadata>,
    /// What the user may do.
    pub role: Role,
    /// When the account was made.
    pub created_at: DateTime<Utc>,
    /// When the user was last seen online (set by presence).
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The user's ban, if one was ever set and not lifted (it may have run out: see
    /// [`User::is_banned_at`]).
    pub ban: Option<Ban>,
    /// When the account was deleted: the user is then a tombstone (no handle, profile or
    /// credentials), kept so that the moderation log still names its target, and seen by
    /// moderators only.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A ban as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// When it was set.
    pub since: DateTime<Utc>,
    /// When it ends by itself; `None`: permanent.
    pub until: Option<DateTime<Utc>>,
    /// Why, as the moderator wrote it.
    pub reason: Option<String>,
}

impl Ban {
    /// Whether it still holds at `now`.
    pub fn is_active_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// "until 2026-11-25T20:00:00Z" or "permanently".
    pub fn describe_end(&self) -> String {
        match self.until {
            Some(until) => format!("until {}", until.to_rfc3339_opts(SecondsFormat::Secs, true)),
            None => "permanently".to_owned(),
        }
    }
}

impl User {
    /// Whether the user is banned at `now` (a ban past its end is over).
    pub fn is_banned_at(&self, now: DateTime<Utc>) -> bool {
        self.ban.as_ref().is_some_and(|ban| ban.is_active_at(now))
    }

    /// Whether a viewer sees this user at all at `now`: a banned user is hidden from everyone
    /// but themself and moderators (and admins). The one definition of that rule.
    pub fn is_visible_to(&self, viewer: UserId, viewer_role: Role, now: DateTime<Utc>) -> bool {
        viewer_role >= Role::Moderator
            || (self.deleted_at.is_none() && (self.id == viewer || !self.is_banned_at(now)))
    }

    /// Whether the account was deleted (the user is a tombstone).
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// The user, if they may sign in at `now`; FORBIDDEN saying until when if banned.
    pub fn may_sign_in(self, now: DateTime<Utc>) -> crate::Result<Self> {
        if self.is_deleted() {
            return Err(crate::DomainError::Unauthenticated(
                "the account no longer exists".into(),
            ));
        }
        match self.ban.as_ref().filter(|ban| ban.is_active_at(now)) {
            Some(ban) => Err(crate::DomainError::Forbidden(format!(
                "your account is banned {}",
                ban.describe_end()
            ))),
            None => Ok(self),
        }
    }
}

/// The form of a handle or display name that prefix search compares (and stores): lower-cased.
pub fn search_key(text: &str) -> String {
    text.to_lowercase()
}

/// The handle key a deleted account's tombstone keeps: unique, never a valid handle (`~` is not
/// allowed in one), so the handle it had is free again; the id without its version digit fits
/// the 32 characters of the column.
pub fn tombstone_key(id: UserId) -> String {
    let hex = id.as_uuid().simple().to_string();
    format!("~{}{}", &hex[..12], &hex[13..])
}

/// A change to one's own profile. Each field: `None` keeps it, `Some(None)` clears it,
/// `Some(Some(v))` sets it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileChange {
    /// New display name.
    pub display_name: Option<Option<DisplayName>>,
    /// New avatar address.
    pub avatar_url: Option<Option<AvatarUrl>>,
    /// New metadata.
    pub metadata: Option<Option<Metadata>>,
}

impl ProfileChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none() && self.avatar_url.is_none() && self.metadata.is_none()
    }
}

/// A user to be stored.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The new id.
    pub id: UserId,
    /// The handle.
    pub handle: Handle,
    /// Optional display name.
    pub display_name: Option<String>,
    /// The argon2id hash in PHC form, if the account has a password.
    pub password_hash: Option<String>,
    /// The role.
    pub role: Role,
    /// When it is made.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banned_users_are_visible_to_themselves_and_moderators_only() {
        let now = crate::time::from_micros(1_700_000_000_000_000);
        let mut user = User {
            id: UserId::new(),
            handle: Handle::from_stored("banned".into()),
            display_name: None,
            avatar_url: None,
            metadata: None,
            role: Role::User,
            created_at: now,
            last_seen_at: None,
            ban: None,
            deleted_at: None,
        };
        let stranger = UserId::new();
        assert!(user.is_visible_to(stranger, Role::User, now));
        user.ban = Some(Ban {
            since: now,
            until: Some(now + chrono::Duration::hours(1)),
            reason: None,
        });
        assert!(!user.is_visible_to(stranger, Role::User, now));
        assert!(user.is_visible_to(user.id, Role::User, now));
        assert!(user.is_visible_to(stranger, Role::Moderator, now));
        assert!(user.is_visible_to(stranger, Role::Admin, now));
        // A ban that has run out hides nobody.
        assert!(user.is_visible_to(stranger, Role::User, now + chrono::Duration::hours(1)));
    }

    #[test]
    fn roles_parse_case_insensitively() {
        assert_eq!("Admin".parse::<Role>().unwrap(), Role::Admin);
        assert_eq!("moderator".parse::<Role>().unwrap(), Role::Moderator);
        assert_eq!(Role::User.to_string().parse::<Role>().unwrap(), Role::User);
        assert!("root".parse::<Role>().is_err());
    }
}
