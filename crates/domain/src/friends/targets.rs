//! The targets of one batch operation: ids and handles together, parsed and folded.

use crate::accounts::User;
use crate::error::{TargetProblem, TargetProblemKind};
use crate::ports::WriteTransaction;
use crate::{DomainError, Handle, Result, UserId};

/// Most targets (ids plus handles, as given) in one call.
pub const MAX_TARGETS: usize = 100;

/// Parsed, de-duplicated targets of a batch operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Ids, each once.
    pub ids: Vec<UserId>,
    /// Handles, each once (case-insensitively), with the text the caller wrote.
    pub handles: Vec<Handle>,
    /// Targets that did not parse. They fail the call, but only once the others have been
    /// looked up too, so that the error names every bad target at once.
    pub malformed: Vec<TargetProblem>,
}

impl Targets {
    /// Parses ids and handles as the client sent them. Malformed ones are kept in
    /// [`Targets::malformed`]; only a call with no target or too many fails here.
    pub fn parse(ids: &[String], handles: &[String]) -> Result<Self> {
        if ids.len() + handles.len() > MAX_TARGETS {
            return Err(DomainError::invalid(
                "ids",
                format!(
                    "at most {MAX_TARGETS} ids and handles per call, {} given",
                    ids.len() + handles.len()
                ),
            ));
        }
        if ids.is_empty() && handles.is_empty() {
            return Err(DomainError::invalid(
                "ids",
                "give at least one id or handle",
            ));
        }
        let mut targets = Targets::default();
        for text in ids {
            match text.trim().parse::<UserId>() {
                Ok(id) if !targets.ids.contains(&id) => targets.ids.push(id),
                Ok(_) => {}
                Err(_) => targets.malformed.push(TargetProblem {
                    target: text.clone(),
                    kind: TargetProblemKind::Malformed,
                }),
            }
        }
        for text in handles {
            match Handle::parse("handles", text.trim()) {
                Ok(h) if !targets.handles.iter().any(|x| x.key() == h.key()) => {
                    targets.handles.push(h)
                }
                Ok(_) => {}
                Err(_) => targets.malformed.push(TargetProblem {
                    target: text.clone(),
                    kind: TargetProblemKind::Malformed,
                }),
            }
        }
        Ok(targets)
    }
}

/// Finds the caller (when a user acts) and the targets inside `tx`, and locks every user found
/// (see [`WriteTransaction::find_and_lock_users`]). Every malformed or unknown
/// target, every target for which `hidden` is true (reported as unknown) and the caller itself
/// are refused together, naming each; nothing is returned then.
pub(crate) async fn resolve_targets(
    tx: &mut dyn WriteTransaction,
    caller: Option<UserId>,
    targets: &Targets,
    hidden: impl Fn(&User) -> bool,
) -> Result<(Option<User>, Vec<User>)> {
    let mut ids = targets.ids.clone();
    ids.extend(caller);
    // Found and locked at once, in the order every writer locks users in.
    let found = tx.find_and_lock_users(&ids, &targets.handles).await?;
    let me = caller.and_then(|caller| found.by_id.iter().find(|u| u.id == caller).cloned());

    let mut problems = targets.malformed.clone();
    let mut users: Vec<User> = Vec::new();
    let mut take = |user: Option<&User>, text: String| match user {
        Some(u) if Some(u.id) == caller => problems.push(TargetProblem {
            target: text,
            kind: TargetProblemKind::IsCaller,
        }),
        Some(u) if !hidden(u) => {
            if !users.iter().any(|x| x.id == u.id) {
                users.push(u.clone());
            }
        }
        _ => problems.push(TargetProblem {
            target: text,
            kind: TargetProblemKind::Unknown,
        }),
    };
    for id in &targets.ids {
        take(found.by_id.iter().find(|u| u.id == *id), id.to_string());
    }
    for handle in &targets.handles {
        let key = handle.key();
        take(
            found.by_handle.iter().find(|u| u.handle.key() == key),
            handle.to_string(),
        );
    }
    if problems.is_empty() {
        Ok((me, users))
    } else {
        Err(DomainError::InvalidTargets(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn folds_duplicates() {
        let id = UserId::new().to_string();
        let t = Targets::parse(&s(&[&id, &id]), &s(&["Bob", "bob", "BOB"])).unwrap();
        assert_eq!(t.ids.len(), 1);
        assert_eq!(t.handles.len(), 1);
    }

    #[test]
    fn keeps_every_malformed_target() {
        let t = Targets::parse(&s(&["nope"]), &s(&["ok_handle", "x", "bad handle"])).unwrap();
        let named: Vec<_> = t.malformed.iter().map(|p| p.target.as_str()).collect();
        assert_eq!(named, ["nope", "x", "bad handle"]);
        assert_eq!(t.handles.len(), 1);
    }

    #[test]
    fn bounds_the_batch() {
        let many = vec!["someone".to_string(); MAX_TARGETS + 1];
        let err = Targets::parse(&[], &many).unwrap_err();
        assert!(err.to_string().contains("at most 100"), "{err}");
        assert!(Targets::parse(&[], &many[..MAX_TARGETS]).is_ok());
        assert!(matches!(
            Targets::parse(&[], &[]),
            Err(DomainError::InvalidInput { .. })
        ));
    }
}
