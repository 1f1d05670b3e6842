//! The targets of one batch operation: ids and handles together, parsed and folded.

use crate::error::{TargetProblem, TargetProblemKind};
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
