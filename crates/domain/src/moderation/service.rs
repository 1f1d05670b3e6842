//! Bans, unbans and role changes, with the audit log, for the API, the command line and
//! server-side code.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::accounts::{Role, User};
use crate::events::{Event, EventBus};
use crate::friends::Targets;
use crate::friends::targets::resolve_targets;
use crate::moderation::{
    Actor, Ban, LOG_PAGE_MAX, ModerationAction, ModerationEntry, REASON_MAX_CHARS,
};
use crate::ports::{ModerationStore, ModerationTransaction};
use crate::time::Clock;
use crate::{DomainError, Handle, ModerationEntryId, Result, UserId};

/// The label of [`Actor::CommandLine`] in the audit log.
pub const COMMAND_LINE: &str = "command line";

/// Bans, unbans and sets roles; every call is one transaction that also writes the audit log,
/// and every node hears of it through the bus once it is committed.
///
/// ```
/// # async fn example(moderation: amity_domain::moderation::ModerationService)
/// # -> amity_domain::Result<()> {
/// use amity_domain::friends::Targets;
/// use amity_domain::moderation::Actor;
///
/// // Ban two players for a day, from a game server's own Rust code.
/// let targets = Targets::parse(&[], &["cheater1".to_owned(), "cheater2".to_owned()])?;
/// let until = chrono::Utc::now() + chrono::Duration::days(1);
/// let banned = moderation
///     .ban(&Actor::System("anti-cheat".into()), &targets, Some("aimbot"), Some(until))
///     .await?;
/// assert_eq!(banned.len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ModerationService {
    store: Arc<dyn ModerationStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ModerationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModerationService").finish_non_exhaustive()
    }
}

impl ModerationService {
    /// A service on `store`, announcing changes on `bus`.
    pub fn new(
        store: Arc<dyn ModerationStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, bus, clock }
    }

    /// Bans every target (all or none) with an optional reason and end (`None`: permanent).
    /// Banning a banned user replaces the reason and end. A moderator cannot ban an admin, and
    /// nobody can ban themselves. Returns the banned users.
    pub async fn ban(
        &self,
        actor: &Actor,
        targets: &Targets,
        reason: Option<&str>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<User>> {
        let now = self.clock.now();
        let reason = parse_reason(reason)?;
        if until.is_some_and(|until| until <= now) {
            return Err(DomainError::invalid(
                "until",
                "must be in the future (leave it out for a permanent ban)",
            ));
        }
        let ban = Ban {
            since: now,
            until,
            reason,
        };
        self.act(actor, targets, Change::Ban(ban)).await
    }

    /// Lifts the bans of every target (all or none); their edges come back unchanged, their
    /// old sessions do not. Returns the users.
    pub async fn unban(&self, actor: &Actor, targets: &Targets) -> Result<Vec<User>> {
        self.act(actor, targets, Change::Unban).await
    }

    /// Sets the role of the user with `handle`. Only admins (and the command line or server
    /// code) may.
    pub async fn set_role(&self, actor: &Actor, handle: &str, role: Role) -> Result<User> {
        let handle = Handle::parse("handle", handle)?;
        let targets = Targets {
            ids: Vec::new(),
            handles: vec![handle],
            malformed: Vec::new(),
        };
        let mut users = self.act(actor, &targets, Change::SetRole(role)).await?;
        let mut user = users
            .pop()
            .ok_or_else(|| DomainError::Internal("set_role resolved no user".into()))?;
        user.role = role;
        Ok(user)
    }

    /// The audit log before `before`, newest first, at most `limit` (1..=1000) entries. Only
    /// moderators and admins may read it.
    pub async fn log(
        &self,
        actor: &Actor,
        before: Option<ModerationEntryId>,
        limit: u32,
    ) -> Result<Vec<ModerationEntry>> {
        if !(1..=LOG_PAGE_MAX).contains(&limit) {
            return Err(DomainError::invalid(
                "first",
                format!("must be between 1 and {LOG_PAGE_MAX}"),
            ));
        }
        if let Actor::User(id) = actor {
            let role = self.store.access_status(*id).await?.map(|s| s.role);
            if role.is_none_or(|r| r < Role::Moderator) {
                return Err(DomainError::Forbidden(
                    "only moderators and admins may read the moderation log".into(),
                ));
            }
        }
        self.store.moderation_log(before, limit).await
    }

    /// One moderation action in one transaction: check the actor, resolve the targets, apply,
    /// log, commit, announce.
    async fn act(&self, actor: &Actor, targets: &Targets, change: Change) -> Result<Vec<User>> {
        let action = change.action();
        let now = self.clock.now();
        let mut tx = self.store.begin_moderation().await?;
        let caller = match actor {
            Actor::User(id) => Some(*id),
            _ => None,
        };
        // Whether the caller may act at all comes before anything about the targets.
        if let Some(id) = caller {
            let found = tx.find_users(&[id], &[]).await?;
            let me = found.by_id.first().ok_or_else(|| {
                DomainError::Unauthenticated("your account no longer exists".into())
            })?;
            check_permission(me, &[], action)?;
        }
        let (me, users) = resolve_targets(tx.as_mut(), caller, targets, |_| false).await?;
        let (actor_id, actor_label) = match (actor, &me) {
            (Actor::User(_), Some(me)) => {
                check_permission(me, &users, action)?;
                (Some(me.id), me.handle.to_string())
            }
            (Actor::User(_), None) => {
                return Err(DomainError::Unauthenticated(
                    "your account no longer exists".into(),
                ));
            }
            (Actor::CommandLine, _) => (None, COMMAND_LINE.to_owned()),
            (Actor::System(name), _) => (None, name.clone()),
        };
        // resolve_targets locked the caller and the targets.
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        change.apply(tx.as_mut(), &ids).await?;
        let entries: Vec<ModerationEntry> = ids
            .iter()
            .map(|target| ModerationEntry {
                id: ModerationEntryId::new(),
                actor: actor_id,
                actor_label: actor_label.clone(),
                target: *target,
                action,
                reason: change.reason(),
                until: change.until(),
                role: change.role(),
                created_at: now,
            })
            .collect();
        tx.insert_moderation_entries(&entries).await?;
        tx.commit().await?;
        tracing::info!(
            actor = %actor_label,
            action = %action,
            targets = ?users.iter().map(|u| u.handle.as_str()).collect::<Vec<_>>(),
            "moderation action"
        );
        self.bus.publish(
            ids.iter()
                .map(|user| Event::AccessChanged { user: *user })
                .collect(),
        );
        Ok(users)
    }
}

/// What a moderation action changes.
enum Change {
    Ban(Ban),
    Unban,
    SetRole(Role),
}

impl Change {
    fn action(&self) -> ModerationAction {
        match self {
            Change::Ban(_) => ModerationAction::Ban,
            Change::Unban => ModerationAction::Unban,
            Change::SetRole(_) => ModerationAction::SetRole,
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            Change::Ban(ban) => ban.reason.clone(),
            _ => None,
        }
    }

    fn until(&self) -> Option<DateTime<Utc>> {
        match self {
            Change::Ban(ban) => ban.until,
            _ => None,
        }
    }

    fn role(&self) -> Option<Role> {
        match self {
            Change::SetRole(role) => Some(*role),
            _ => None,
        }
    }

    async fn apply(&self, tx: &mut dyn ModerationTransaction, users: &[UserId]) -> Result<()> {
        match self {
            Change::Ban(ban) => tx.set_ban(users, Some(ban)).await,
            Change::Unban => tx.set_ban(users, None).await,
            Change::SetRole(role) => {
                for user in users {
                    tx.set_role(*user, *role).await?;
                }
                Ok(())
            }
        }
    }
}

/// Whether the signed-in `actor` may do `action` to every one of `targets`.
fn check_permission(actor: &User, targets: &[User], action: ModerationAction) -> Result<()> {
    let needed = match action {
        ModerationAction::Ban | ModerationAction::Unban => Role::Moderator,
        ModerationAction::SetRole => Role::Admin,
    };
    if actor.role < needed {
        return Err(DomainError::Forbidden(format!(
            "only {} may do this",
            if needed == Role::Admin {
                "admins"
            } else {
                "moderators and admins"
            }
        )));
    }
    if actor.role < Role::Admin
        && let Some(admin) = targets.iter().find(|t| t.role == Role::Admin)
    {
        return Err(DomainError::Forbidden(format!(
            "a moderator cannot {} an admin ({}); nothing was changed",
            action.as_str().to_ascii_lowercase(),
            admin.handle
        )));
    }
    Ok(())
}

/// A trimmed, non-blank reason of at most [`REASON_MAX_CHARS`] characters, or none.
fn parse_reason(reason: Option<&str>) -> Result<Option<String>> {
    let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if reason.chars().count() > REASON_MAX_CHARS {
        return Err(DomainError::invalid(
            "reason",
            format!("at most {REASON_MAX_CHARS} characters"),
        ));
    }
    Ok(Some(reason.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(parse_reason(None).unwrap(), None);
        assert_eq!(parse_reason(Some("  ")).unwrap(), None);
        assert_eq!(parse_reason(Some(" spam ")).unwrap(), Some("spam".into()));
        assert!(parse_reason(Some(&"x".repeat(REASON_MAX_CHARS + 1))).is_err());
    }
}
