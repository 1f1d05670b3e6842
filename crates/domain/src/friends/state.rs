//! The friend-graph state machine, as pure functions.
//!
//! Each user sees each other user in one [`FriendState`] or none; a [`Pair`] holds both views of
//! one pair, from the acting user's side. [`apply`] gives the pair after an [`FriendAction`] and
//! whom to notify. The valid pairs and every transition are those of SPEC section 2; the tests
//! at the bottom walk every (pair, action).

use serde::{Deserialize, Serialize};

use crate::notifications::NotificationCode;

/// How one user sees another. The declaration order is the listing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FriendState {
    /// Both accepted.
    Friend,
    /// I asked them.
    InviteSent,
    /// They asked me.
    InviteReceived,
    /// I blocked them.
    Blocked,
}

impl FriendState {
    /// Every state, in listing order.
    pub const ALL: [FriendState; 4] = [
        FriendState::Friend,
        FriendState::InviteSent,
        FriendState::InviteReceived,
        FriendState::Blocked,
    ];

    /// The listing rank, also the stored form: 0 FRIEND, 1 INVITE_SENT, 2 INVITE_RECEIVED, 3 BLOCKED.
    pub fn rank(self) -> i16 {
        match self {
            FriendState::Friend => 0,
            FriendState::InviteSent => 1,
            FriendState::InviteReceived => 2,
            FriendState::Blocked => 3,
        }
    }

    /// The inverse of [`FriendState::rank`].
    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.get(usize::try_from(rank).ok()?).copied()
    }
}

/// What the acting user does to the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FriendAction {
    /// Send or accept a friend request.
    Add,
    /// Cancel, reject, unfriend or unblock.
    Remove,
    /// Block.
    Block,
}

impl FriendAction {
    /// Every action.
    pub const ALL: [FriendAction; 3] =
        [FriendAction::Add, FriendAction::Remove, FriendAction::Block];
}

/// Both views of one pair, from the acting user's side: `mine` is how I see them, `theirs` how
/// they see me.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pair {
    /// My view of them.
    pub mine: Option<FriendState>,
    /// Their view of me.
    pub theirs: Option<FriendState>,
}

impl Pair {
    /// Strangers.
    pub const NONE: Pair = Pair {
        mine: None,
        theirs: None,
    };

    /// A pair from both views.
    pub const fn new(mine: Option<FriendState>, theirs: Option<FriendState>) -> Self {
        Self { mine, theirs }
    }

    /// The same pair seen from the other side.
    pub fn swapped(self) -> Self {
        Self {
            mine: self.theirs,
            theirs: self.mine,
        }
    }

    /// Whether this pair is one the graph may hold (SPEC section 2, first table, from either side).
    pub fn is_valid(self) -> bool {
        use FriendState::*;
        matches!(
            (self.mine, self.theirs),
            (None, None)
                | (Some(InviteSent), Some(InviteReceived))
                | (Some(InviteReceived), Some(InviteSent))
                | (Some(Friend), Some(Friend))
                | (Some(Blocked), None)
                | (None, Some(Blocked))
                | (Some(Blocked), Some(Blocked))
                | (Some(InviteSent), Some(Blocked))
                | (Some(Blocked), Some(InviteSent))
        )
    }
}

/// The outcome of one action on one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The pair before.
    pub before: Pair,
    /// The pair after.
    pub after: Pair,
    /// The notification the other user gets, if any.
    pub notify_other: Option<NotificationCode>,
}

impl Transition {
    /// Whether my view changes.
    pub fn changes_mine(&self) -> bool {
        self.before.mine != self.after.mine
    }

    /// Whether their view changes.
    pub fn changes_theirs(&self) -> bool {
        self.before.theirs != self.after.theirs
    }

    /// Whether anything changes at all.
    pub fn is_noop(&self) -> bool {
        self.before == self.after
    }
}

/// A pair the graph can never hold was read from storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("inconsistent friend pair {0:?}")]
pub struct InvalidPair(pub Pair);

/// Applies `action` by the acting user to `pair` (seen from the acting user's side).
pub fn apply(pair: Pair, action: FriendAction) -> Result<Transition, InvalidPair> {
    use FriendAction::*;
    use FriendState::*;
    if !pair.is_valid() {
        return Err(InvalidPair(pair));
    }
    let to = |mine, theirs| Pair::new(mine, theirs);
    let (after, notify_other) = match (action, pair.mine, pair.theirs) {
        // --- add ---
        (Add, None, None) => (
            to(Some(InviteSent), Some(InviteReceived)),
            Some(NotificationCode::FriendRequest),
        ),
        // They blocked me: a shadow request that they never see.
        (Add, None, Some(Blocked)) => (to(Some(InviteSent), Some(Blocked)), None),
        (Add, Some(InviteReceived), Some(InviteSent)) => (
            to(Some(Friend), Some(Friend)),
            Some(NotificationCode::FriendAccepted),
        ),
        (Add, _, _) => (pair, None),
        // --- remove ---
        (Remove, Some(Friend), _) => (Pair::NONE, Some(NotificationCode::FriendRemoved)),
        // Cancel (their view goes too, unless it is their own block) or reject.
        (Remove, Some(InviteSent), theirs) => (to(None, theirs.filter(|s| *s == Blocked)), None),
        (Remove, Some(InviteReceived), _) => (Pair::NONE, None),
        // Unblock: their block of me stays; a shadow request of theirs is dropped.
        (Remove, Some(Blocked), theirs) => (to(None, theirs.filter(|s| *s == Blocked)), None),
        (Remove, None, _) => (pair, None),
        // --- block ---
        (Block, Some(Blocked), _) => (pair, None),
        (Block, _, theirs) => (to(Some(Blocked), theirs.filter(|s| *s == Blocked)), None),
    };
    Ok(Transition {
        before: pair,
        after,
        notify_other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use FriendAction::*;
    use FriendState::*;

    fn all_pairs() -> Vec<Pair> {
        let views = [
            None,
            Some(Friend),
            Some(InviteSent),
            Some(InviteReceived),
            Some(Blocked),
        ];
        let mut pairs = Vec::new();
        for mine in views {
            for theirs in views {
                pairs.push(Pair::new(mine, theirs));
            }
        }
        pairs
    }

    fn valid_pairs() -> Vec<Pair> {
        all_pairs().into_iter().filter(|p| p.is_valid()).collect()
    }

    /// The whole table, written out: (mine, theirs, action) -> (mine', theirs', notify).
    #[allow(clippy::type_complexity)]
    const TABLE: &[(
        Option<FriendState>,
        Option<FriendState>,
        FriendAction,
        Option<FriendState>,
        Option<FriendState>,
        Option<NotificationCode>,
    )] = &[
        // strangers
        (
            None,
            None,
            Add,
            Some(InviteSent),
            Some(InviteReceived),
            Some(NotificationCode::FriendRequest),
        ),
        (None, None, Remove, None, None, None),
        (None, None, Block, Some(Blocked), None, None),
        // they blocked me
        (
            None,
            Some(Blocked),
            Add,
            Some(InviteSent),
            Some(Blocked),
            None,
        ),
        (None, Some(Blocked), Remove, None, Some(Blocked), None),
        (
            None,
            Some(Blocked),
            Block,
            Some(Blocked),
            Some(Blocked),
            None,
        ),
        // I asked them
        (
            Some(InviteSent),
            Some(InviteReceived),
            Add,
            Some(InviteSent),
            Some(InviteReceived),
            None,
        ),
        (
            Some(InviteSent),
            Some(InviteReceived),
            Remove,
            None,
            None,
            None,
        ),
        (
            Some(InviteSent),
            Some(InviteReceived),
            Block,
            Some(Blocked),
            None,
            None,
        ),
        // my shadow request to someone who blocked me
        (
            Some(InviteSent),
            Some(Blocked),
            Add,
            Some(InviteSent),
            Some(Blocked),
            None,
        ),
        (
            Some(InviteSent),
            Some(Blocked),
            Remove,
            None,
            Some(Blocked),
            None,
        ),
        (
            Some(InviteSent),
            Some(Blocked),
            Block,
            Some(Blocked),
            Some(Blocked),
            None,
        ),
        // they asked me
        (
            Some(InviteReceived),
            Some(InviteSent),
            Add,
            Some(Friend),
            Some(Friend),
            Some(NotificationCode::FriendAccepted),
        ),
        (
            Some(InviteReceived),
            Some(InviteSent),
            Remove,
            None,
            None,
            None,
        ),
        (
            Some(InviteReceived),
            Some(InviteSent),
            Block,
            Some(Blocked),
            None,
            None,
        ),
        // friends
        (
            Some(Friend),
            Some(Friend),
            Add,
            Some(Friend),
            Some(Friend),
            None,
        ),
        (
            Some(Friend),
            Some(Friend),
            Remove,
            None,
            None,
            Some(NotificationCode::FriendRemoved),
        ),
        (Some(Friend), Some(Friend), Block, Some(Blocked), None, None),
        // I blocked them
        (Some(Blocked), None, Add, Some(Blocked), None, None),
        (Some(Blocked), None, Remove, None, None, None),
        (Some(Blocked), None, Block, Some(Blocked), None, None),
        // we blocked each other
        (
            Some(Blocked),
            Some(Blocked),
            Add,
            Some(Blocked),
            Some(Blocked),
            None,
        ),
        (
            Some(Blocked),
            Some(Blocked),
            Remove,
            None,
            Some(Blocked),
            None,
        ),
        (
            Some(Blocked),
            Some(Blocked),
            Block,
            Some(Blocked),
            Some(Blocked),
            None,
        ),
        // I blocked them and they sent a shadow request: unblocking drops it
        (
            Some(Blocked),
            Some(InviteSent),
            Add,
            Some(Blocked),
            Some(InviteSent),
            None,
        ),
        (Some(Blocked), Some(InviteSent), Remove, None, None, None),
        (
            Some(Blocked),
            Some(InviteSent),
            Block,
            Some(Blocked),
            Some(InviteSent),
            None,
        ),
    ];

    #[test]
    fn there_are_exactly_nine_valid_pairs() {
        assert_eq!(valid_pairs().len(), 9);
        for pair in valid_pairs() {
            assert!(
                pair.swapped().is_valid(),
                "{pair:?} is valid but its mirror is not"
            );
        }
    }

    #[test]
    fn table_covers_every_valid_pair_and_action_once() {
        for pair in valid_pairs() {
            for action in FriendAction::ALL {
                let rows = TABLE
                    .iter()
                    .filter(|r| r.0 == pair.mine && r.1 == pair.theirs && r.2 == action)
                    .count();
                assert_eq!(rows, 1, "{pair:?} {action:?}");
            }
        }
        assert_eq!(TABLE.len(), 9 * 3);
    }

    #[test]
    fn apply_matches_the_table() {
        for &(mine, theirs, action, mine2, theirs2, notify) in TABLE {
            let t = apply(Pair::new(mine, theirs), action).unwrap();
            assert_eq!(
                (t.after.mine, t.after.theirs, t.notify_other),
                (mine2, theirs2, notify),
                "{mine:?}/{theirs:?} {action:?}"
            );
        }
    }

    #[test]
    fn every_transition_ends_in_a_valid_pair() {
        for pair in valid_pairs() {
            for action in FriendAction::ALL {
                let t = apply(pair, action).unwrap();
                assert!(t.after.is_valid(), "{pair:?} {action:?} -> {:?}", t.after);
            }
        }
    }

    #[test]
    fn invalid_pairs_are_refused() {
        for pair in all_pairs().into_iter().filter(|p| !p.is_valid()) {
            for action in FriendAction::ALL {
                assert_eq!(apply(pair, action), Err(InvalidPair(pair)));
            }
        }
    }

    #[test]
    fn a_blocker_is_never_notified_and_never_changed_by_the_blocked() {
        for pair in valid_pairs()
            .into_iter()
            .filter(|p| p.theirs == Some(Blocked))
        {
            for action in FriendAction::ALL {
                let t = apply(pair, action).unwrap();
                assert_eq!(t.notify_other, None, "{pair:?} {action:?}");
                assert_eq!(t.after.theirs, Some(Blocked), "{pair:?} {action:?}");
            }
        }
    }

    #[test]
    fn what_a_blocked_user_sees_matches_being_ignored_or_unfriended() {
        // From the blocked side, a block looks like: the request is gone (rejected) or the
        // friendship is gone (unfriended) or nothing at all. Never "BLOCKED".
        for pair in valid_pairs() {
            let t = apply(pair, Block).unwrap();
            assert_ne!(t.after.theirs, Some(Friend));
            assert!(matches!(
                t.after.theirs,
                None | Some(Blocked) | Some(InviteSent)
            ));
        }
    }

    #[test]
    fn concurrent_mutual_adds_end_as_friends_in_either_order() {
        // A adds B, then B adds A (or the reverse): both orders end FRIEND/FRIEND.
        let first = apply(Pair::NONE, Add).unwrap().after;
        let second = apply(first.swapped(), Add).unwrap().after;
        assert_eq!(second, Pair::new(Some(Friend), Some(Friend)));
    }

    #[test]
    fn rank_round_trips() {
        for s in FriendState::ALL {
            assert_eq!(FriendState::from_rank(s.rank()), Some(s));
        }
        assert_eq!(FriendState::from_rank(4), None);
        assert_eq!(FriendState::from_rank(-1), None);
    }
}
