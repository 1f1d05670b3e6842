//! Property tests: random sequences of friend operations among four users, each checked
//! against a model built from the pure state machine (`friends::state`, SPEC section 2).
//!
//! After every step: the store holds exactly the model's edges, every pair is one of the
//! table's legal pairs from both sides, counts equal the edges, each notification the table
//! calls for was stored once; and a refused operation left everything as it was.

use std::collections::HashMap;

use amity_domain::events::InProcessBus;
use amity_domain::friends::state::{self, FriendAction, FriendState, Pair};
use amity_domain::friends::{FriendCounts, FriendLimits, FriendService, Targets};
use amity_domain::memory::MemoryStore;
use amity_domain::ports::{FriendStore, NotificationStore};
use amity_domain::time::ManualClock;
use amity_domain::{DomainError, UserId};
use proptest::collection::vec;
use proptest::prelude::*;
use std::sync::Arc;

use crate::support::{seen_by, t0};

const USERS: usize = 4;
const LIMITS: FriendLimits = FriendLimits {
    max_friends: 2,
    max_pending_invites: 2,
    max_blocks: 2,
};

/// How an operation names a target.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// By id.
    Id(usize),
    /// By handle, upper-cased or not.
    Handle(usize, bool),
    /// An id nobody has.
    Unknown,
}

#[derive(Debug, Clone)]
struct Op {
    actor: usize,
    action: FriendAction,
    targets: Vec<Target>,
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        8 => (0..USERS).prop_map(Target::Id),
        3 => (0..USERS, any::<bool>()).prop_map(|(u, upper)| Target::Handle(u, upper)),
        1 => Just(Target::Unknown),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let action = prop_oneof![
        3 => Just(FriendAction::Add),
        2 => Just(FriendAction::Remove),
        1 => Just(FriendAction::Block),
    ];
    (0..USERS, action, vec(target(), 1..=3)).prop_map(|(actor, action, targets)| Op {
        actor,
        action,
        targets,
    })
}

/// What the graph should be: each user's view of each other, and how many notifications each
/// has received.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    views: [[Option<FriendState>; USERS]; USERS],
    notifications: [usize; USERS],
}

impl Model {
    fn pair(&self, me: usize, other: usize) -> Pair {
        Pair::new(self.views[me][other], self.views[other][me])
    }

    fn counts(&self, user: usize) -> FriendCounts {
        let mut counts = FriendCounts::default();
        for state in self.views[user].iter().flatten() {
            counts.add(*state, 1);
        }
        counts
    }
}

/// What the service should answer to an operation.
#[derive(Debug, PartialEq)]
enum Expected {
    BadTargets,
    OverLimit,
    /// Done: the model afterwards, and the caller's view of each target (in the order the
    /// service resolves them).
    Done(Model, Vec<(usize, Option<FriendState>)>),
}

/// The targets as the service resolves them: ids first, then handles, each user once; `None`
/// if any is unknown or the caller.
fn resolve(op: &Op) -> Option<Vec<usize>> {
    let mut order = Vec::new();
    let by_id = op
        .targets
        .iter()
        .filter(|t| !matches!(t, Target::Handle(..)));
    let by_handle = op
        .targets
        .iter()
        .filter(|t| matches!(t, Target::Handle(..)));
    let mut bad = false;
    for target in by_id.chain(by_handle) {
        match *target {
            Target::Id(u) | Target::Handle(u, _) if u == op.actor => bad = true,
            Target::Id(u) | Target::Handle(u, _) => {
                if !order.contains(&u) {
                    order.push(u)
                }
            }
            Target::Unknown => bad = true,
        }
    }
    (!bad).then_some(order)
}

/// The outcome by the state machine and the limits, judged on the state after the change: a
/// count of the caller's that grew past its limit, or a target's friends past theirs.
fn expect(model: &Model, op: &Op) -> Expected {
    let Some(targets) = resolve(op) else {
        return Expected::BadTargets;
    };
    let mut next = model.clone();
    let mut views = Vec::new();
    for &t in &targets {
        let transition = state::apply(model.pair(op.actor, t), op.action)
            .expect("the model holds legal pairs only");
        next.views[op.actor][t] = transition.after.mine;
        next.views[t][op.actor] = transition.after.theirs;
        if transition.notify_other.is_some() {
            next.notifications[t] += 1;
        }
        views.push((t, transition.after.mine));
    }
    let (before, after) = (model.counts(op.actor), next.counts(op.actor));
    let over = |b: u32, a: u32, limit: u32| a > b && a > limit;
    let caller_over = over(before.friends, after.friends, LIMITS.max_friends)
        || over(
            before.invites_sent,
            after.invites_sent,
            LIMITS.max_pending_invites,
        )
        || over(before.blocked, after.blocked, LIMITS.max_blocks);
    let target_over = targets.iter().any(|&t| {
        over(
            model.counts(t).friends,
            next.counts(t).friends,
            LIMITS.max_friends,
        )
    });
    if caller_over || target_over {
        Expected::OverLimit
    } else {
        Expected::Done(next, views)
    }
}

struct Graph {
    store: Arc<MemoryStore>,
    friends: FriendService,
    clock: Arc<ManualClock>,
    users: Vec<UserId>,
}

impl Graph {
    async fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(t0()));
        let friends = FriendService::new(
            store.clone(),
            store.clone(),
            Arc::new(InProcessBus::new()),
            clock.clone(),
            LIMITS,
        );
        let mut users = Vec::new();
        for i in 0..USERS {
            users.push(store.add_user(&format!("user{i}")).await.unwrap().id);
        }
        Self {
            store,
            friends,
            clock,
            users,
        }
    }

    fn targets(&self, op: &Op) -> Targets {
        let mut ids = Vec::new();
        let mut handles = Vec::new();
        for target in &op.targets {
            match *target {
                Target::Id(u) => ids.push(self.users[u].to_string()),
                Target::Unknown => ids.push(UserId::new().to_string()),
                Target::Handle(u, upper) => {
                    let handle = format!("user{u}");
                    handles.push(if upper { handle.to_uppercase() } else { handle });
                }
            }
        }
        Targets::parse(&ids, &handles).unwrap()
    }

    /// Runs `op`; the caller's views of the targets it returned, if it succeeded.
    async fn run(&self, op: &Op) -> Result<Vec<(usize, Option<FriendState>)>, DomainError> {
        let caller = self.users[op.actor];
        let targets = self.targets(op);
        let index = |id: UserId| self.users.iter().position(|u| *u == id).unwrap();
        match op.action {
            FriendAction::Add => Ok(self
                .friends
                .add_friends(caller, &targets, None)
                .await?
                .into_iter()
                .map(|v| (index(v.user.id), Some(v.state)))
                .collect()),
            FriendAction::Block => Ok(self
                .friends
                .block_users(caller, &targets)
                .await?
                .into_iter()
                .map(|v| (index(v.user.id), Some(v.state)))
                .collect()),
            FriendAction::Remove => {
                self.friends.remove_friends(caller, &targets).await?;
                Ok(Vec::new())
            }
        }
    }

    /// The model as the store holds it, after checking the store's own consistency.
    async fn read(&self) -> Model {
        let mut model = Model::default();
        for (i, &user) in self.users.iter().enumerate() {
            let views: HashMap<UserId, FriendState> =
                self.store.views_of(user, &self.users).await.unwrap();
            for (j, other) in self.users.iter().enumerate() {
                model.views[i][j] = views.get(other).copied();
            }
            model.notifications[i] = self
                .store
                .list_notifications(user, None, 1000)
                .await
                .unwrap()
                .len();
            // Counts and the listing agree with the edges.
            let counts = self.store.friend_counts(user, None).await.unwrap();
            assert_eq!(counts, model.counts(i), "counts of user{i}");
            let listed = self
                .friends
                .list(user, &[], None, 1000)
                .await
                .unwrap()
                .items;
            assert_eq!(listed.len(), views.len(), "listing of user{i}");
        }
        for i in 0..USERS {
            assert_eq!(model.views[i][i], None, "user{i} has an edge to themselves");
            for j in 0..USERS {
                let pair = model.pair(i, j);
                assert!(pair.is_valid(), "user{i}/user{j}: illegal pair {pair:?}");
            }
        }
        model
    }
}

async fn check(ops: Vec<Op>) {
    let graph = Graph::new().await;
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        graph.clock.advance(chrono::Duration::seconds(1));
        let expected = expect(&model, op);
        let before = seen_by(&graph.store, &graph.users).await;
        let outcome = graph.run(op).await;
        match (&expected, outcome) {
            (Expected::BadTargets, Err(DomainError::InvalidTargets(_)))
            | (Expected::OverLimit, Err(DomainError::LimitExceeded { .. })) => {
                let after = seen_by(&graph.store, &graph.users).await;
                assert_eq!(
                    after, before,
                    "step {step}: refused {op:?} changed the store"
                );
            }
            (Expected::Done(next, views), Ok(returned)) => {
                // Only adds and blocks answer with views, of the targets that keep an edge.
                if op.action != FriendAction::Remove {
                    let expected: Vec<_> =
                        views.iter().filter(|(_, v)| v.is_some()).cloned().collect();
                    assert_eq!(returned, expected, "step {step}: answer to {op:?}");
                }
                model = next.clone();
            }
            (expected, outcome) => {
                panic!("step {step}: {op:?} expected {expected:?}, got {outcome:?}")
            }
        }
        assert_eq!(graph.read().await, model, "step {step}: after {op:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn friend_operations_follow_the_pair_table(ops in vec(op(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(check(ops));
    }
}

#[test]
fn the_model_refuses_what_the_service_refuses() {
    // A sanity check of the model itself: four requests from one user pass the limit of 2.
    let mut model = Model::default();
    let add = |targets: Vec<Target>| Op {
        actor: 0,
        action: FriendAction::Add,
        targets,
    };
    for t in [1, 2] {
        match expect(&model, &add(vec![Target::Id(t)])) {
            Expected::Done(next, _) => model = next,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        expect(&model, &add(vec![Target::Id(3)])),
        Expected::OverLimit
    );
    assert_eq!(
        expect(&model, &add(vec![Target::Id(0)])),
        Expected::BadTargets
    );
    assert_eq!(
        expect(&model, &add(vec![Target::Id(1), Target::Handle(1, true)])),
        Expected::Done(model.clone(), vec![(1, Some(FriendState::InviteSent))])
    );
}
