//! The moderation audit log.

use amity_domain::moderation::ModerationEntry;
use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};

use crate::types::{RoleGql, UserGql};

/// One moderation action or role change.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "ModerationEntry")]
pub struct ModerationEntryGql {
    /// Its id.
    pub id: ID,
    /// The moderator or admin who acted; null when the command line or server code did (see
    /// `actorLabel`), or the account is gone.
    pub actor: Option<UserGql>,
    /// Who acted, as a person reads it: the actor's handle at the time, "command line", or the
    /// name server code gave.
    pub actor_label: String,
    /// Who was acted on.
    pub target: UserGql,
    /// `BAN`, `UNBAN` or `SET_ROLE`.
    pub action: String,
    /// The reason given, for bans.
    pub reason: Option<String>,
    /// When a ban ends by itself; null on a ban means permanent.
    pub until: Option<DateTime<Utc>>,
    /// The new role, for role changes.
    pub role: Option<RoleGql>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Pass as `moderationLog(after:)` to get the entries before this one.
    pub cursor: String,
}

impl ModerationEntryGql {
    /// An entry with its loaded users and cursor.
    pub fn new(
        entry: ModerationEntry,
        actor: Option<UserGql>,
        target: UserGql,
        cursor: String,
    ) -> Self {
        Self {
            id: ID(entry.id.to_string()),
            actor,
            actor_label: entry.actor_label,
            target,
            action: entry.action.as_str().to_owned(),
            reason: entry.reason,
            until: entry.until,
            role: entry.role.map(Into::into),
            created_at: entry.created_at,
            cursor,
        }
    }
}
