//! FriendService: the limits at and around each boundary, batches that gain and lose at once,
//! and all-or-nothing refusals.

use amity_domain::DomainError;
use amity_domain::error::{LimitKind, TargetProblemKind};
use amity_domain::events::Event;
use amity_domain::friends::{FriendLimits, FriendState, Targets};
use amity_domain::notifications::NotificationCode;

use crate::support::{World, drain, handles, ids};

const LIMITS: FriendLimits = FriendLimits {
    max_friends: 3,
    max_pending_invites: 2,
    max_blocks: 2,
};

fn limit_error(
    result: amity_domain::Result<impl std::fmt::Debug>,
) -> (LimitKind, u32, Option<String>) {
    match result {
        Err(DomainError::LimitExceeded {
            kind,
            limit,
            detail,
        }) => (kind, limit, detail),
        other => panic!("expected LIMIT_EXCEEDED, got {other:?}"),
    }
}

#[tokio::test]
async fn outgoing_requests_stop_exactly_at_the_limit_and_a_refused_batch_changes_nothing() {
    let w = World::with_limits(LIMITS);
    let [a, b, c, d, e] = [
        w.user("ann").await,
        w.user("bob").await,
        w.user("cid").await,
        w.user("dee").await,
        w.user("eve").await,
    ];
    // limit - 1, then exactly the limit.
    w.add(&a, &[&b]).await;
    w.add(&a, &[&c]).await;
    assert_eq!(w.friends.counts(a.id).await.unwrap().invites_sent, 2);

    // limit + 1, alone or in a batch with a request already sent (a no-op).
    let before = w.seen_by(&[&a, &b, &c, &d, &e]).await;
    let mut events = w.events();
    let (kind, limit, detail) = limit_error(w.friends.add_friends(a.id, &ids(&[&d]), None).await);
    assert_eq!((kind, limit, detail), (LimitKind::PendingInvites, 2, None));
    limit_error(w.friends.add_friends(a.id, &ids(&[&b, &d]), None).await);
    assert_eq!(w.seen_by(&[&a, &b, &c, &d, &e]).await, before);
    assert!(
        drain(&mut events).is_empty(),
        "a refused batch publishes nothing"
    );

    // Sending to someone who asked first is an accept, not a request: it is not counted
    // against outgoing requests, but the new request in the same batch is, and fails it.
    w.add(&e, &[&a]).await;
    let before = w.seen_by(&[&a, &b, &c, &d, &e]).await;
    limit_error(w.friends.add_friends(a.id, &ids(&[&e, &d]), None).await);
    assert_eq!(w.seen_by(&[&a, &b, &c, &d, &e]).await, before);
    w.add(&a, &[&e]).await;

    // A cancel frees a slot; a block of someone asked frees one too.
    w.friends.remove_friends(a.id, &ids(&[&b])).await.unwrap();
    w.add(&a, &[&d]).await;
    w.friends.block_users(a.id, &ids(&[&c])).await.unwrap();
    w.add(&a, &[&b]).await;
    let counts = w.friends.counts(a.id).await.unwrap();
    assert_eq!(
        (counts.friends, counts.invites_sent, counts.blocked),
        (1, 2, 1)
    );
}

#[tokio::test]
async fn a_batch_of_new_requests_counts_every_one_of_them() {
    let w = World::with_limits(LIMITS);
    let [a, b, c, d] = [
        w.user("ann").await,
        w.user("bob").await,
        w.user("cid").await,
        w.user("dee").await,
    ];
    // From 0: two at once reach the limit exactly; from 1, two at once pass it.
    w.add(&a, &[&b, &c]).await;
    w.friends
        .remove_friends(a.id, &ids(&[&b, &c]))
        .await
        .unwrap();
    w.add(&a, &[&b]).await;
    let before = w.seen_by(&[&a, &b, &c, &d]).await;
    limit_error(w.friends.add_friends(a.id, &ids(&[&c, &d]), None).await);
    assert_eq!(w.seen_by(&[&a, &b, &c, &d]).await, before);
    // Duplicates are folded before counting: the same user by id and handle is one request.
    let same_twice = Targets::parse(&[c.id.to_string()], &["CID".to_owned()]).unwrap();
    w.friends
        .add_friends(a.id, &same_twice, None)
        .await
        .unwrap();
    assert_eq!(w.friends.counts(a.id).await.unwrap().invites_sent, 2);
}

#[tokio::test]
async fn accepting_stops_at_the_friend_limit_of_either_side() {
    let w = World::with_limits(LIMITS);
    let a = w.user("ann").await;
    let others: Vec<_> = w.users(&["bob", "cid", "dee", "eve", "fay", "gus"]).await;
    let [b, c, d, e, f, g] = [
        &others[0], &others[1], &others[2], &others[3], &others[4], &others[5],
    ];
    w.befriend(&a, b).await;
    w.befriend(&a, c).await; // limit - 1
    for asker in [d, e] {
        w.add(asker, &[&a]).await;
    }
    // Accepting two at once would make 4 > 3, even though the batch also loses two received
    // requests: losses of one state never pay for gains of another.
    let before = w.seen_by(&[&a, b, c, d, e]).await;
    let (kind, limit, _) = limit_error(w.friends.add_friends(a.id, &ids(&[d, e]), None).await);
    assert_eq!((kind, limit), (LimitKind::Friends, 3));
    assert_eq!(w.seen_by(&[&a, b, c, d, e]).await, before);
    // One reaches the limit exactly; the next one passes it.
    w.add(&a, &[d]).await;
    assert_eq!(w.friends.counts(a.id).await.unwrap().friends, 3);
    limit_error(w.friends.add_friends(a.id, &ids(&[e]), None).await);

    // The other side: f asked g while f had 2 friends; f then reached 3. g accepting would
    // give f a fourth: refused, naming f.
    w.befriend(f, b).await;
    w.befriend(f, c).await;
    w.add(f, &[g]).await;
    w.befriend(f, d).await;
    let (kind, _, detail) = limit_error(w.friends.add_friends(g.id, &ids(&[f]), None).await);
    assert_eq!(kind, LimitKind::Friends);
    assert_eq!(detail.as_deref(), Some("fay has reached the limit"));
    // At limit - 1 on the other side, accepting is fine.
    w.friends.remove_friends(f.id, &ids(&[c])).await.unwrap();
    w.add(g, &[f]).await;
    assert_eq!(
        w.friends.views_of(g.id, &[f.id]).await.unwrap().get(&f.id),
        Some(&FriendState::Friend)
    );
}

#[tokio::test]
async fn blocking_trades_other_edges_for_blocks_and_stops_at_the_block_limit() {
    let w = World::with_limits(LIMITS);
    let a = w.user("ann").await;
    let others = w.users(&["bob", "cid", "dee", "eve"]).await;
    let [b, c, d, e] = [&others[0], &others[1], &others[2], &others[3]];
    w.befriend(&a, b).await;
    w.add(&a, &[c]).await;
    w.friends.block_users(a.id, &ids(&[d])).await.unwrap(); // limit - 1

    // Blocking a friend and a requested user at once: +2 blocks (3 > 2), even though the
    // batch loses a friend and a request.
    let before = w.seen_by(&[&a, b, c, d, e]).await;
    let (kind, limit, _) = limit_error(w.friends.block_users(a.id, &ids(&[b, c])).await);
    assert_eq!((kind, limit), (LimitKind::Blocks, 2));
    assert_eq!(w.seen_by(&[&a, b, c, d, e]).await, before);

    // Re-blocking someone blocked is no growth: with one new block it reaches the limit.
    w.friends.block_users(a.id, &ids(&[d, b])).await.unwrap();
    let counts = w.friends.counts(a.id).await.unwrap();
    assert_eq!(
        (counts.friends, counts.invites_sent, counts.blocked),
        (0, 1, 2)
    );
    // At the limit: blocking again the blocked is fine, anyone new is not.
    w.friends.block_users(a.id, &ids(&[d, b])).await.unwrap();
    limit_error(w.friends.block_users(a.id, &ids(&[e])).await);
    // Unblocking frees a slot.
    w.friends.remove_friends(a.id, &ids(&[d])).await.unwrap();
    w.friends.block_users(a.id, &ids(&[e])).await.unwrap();
}

#[tokio::test]
async fn a_lowered_limit_blocks_growth_but_not_shrinking() {
    let w = World::new();
    let a = w.user("ann").await;
    let others = w.users(&["bob", "cid", "dee", "eve", "fay"]).await;
    for friend in &others[..3] {
        w.befriend(&a, friend).await;
    }
    w.friends
        .add_friends(others[3].id, &ids(&[&a]), None)
        .await
        .unwrap();
    // The limit is now 2 and ann has 3 (limit + 1).
    let lowered = w.friends_with(FriendLimits {
        max_friends: 2,
        ..LIMITS
    });
    limit_error(lowered.add_friends(a.id, &ids(&[&others[3]]), None).await);
    // What does not add a friend still works: a request, a block, an unfriend.
    lowered
        .add_friends(a.id, &ids(&[&others[4]]), None)
        .await
        .unwrap();
    lowered
        .block_users(a.id, &ids(&[&others[0]]))
        .await
        .unwrap();
    lowered
        .remove_friends(a.id, &ids(&[&others[1]]))
        .await
        .unwrap();
    // Now at 1 (limit - 1): accepting works again.
    lowered
        .add_friends(a.id, &ids(&[&others[3]]), None)
        .await
        .unwrap();
    assert_eq!(lowered.counts(a.id).await.unwrap().friends, 2);
}

#[tokio::test]
async fn requests_and_accepts_notify_and_blocks_stay_silent() {
    let w = World::new();
    let [a, b] = [w.user("ann").await, w.user("bob").await];
    let mut events = w.events();
    w.friends
        .add_friends(a.id, &handles(&["BOB"]), None)
        .await
        .unwrap();
    // A second add is a no-op: no second notification.
    w.add(&a, &[&b]).await;
    w.add(&b, &[&a]).await;
    let codes = |n: &[amity_domain::notifications::Notification]| {
        n.iter().map(|n| n.code).collect::<Vec<_>>()
    };
    let to_b = w.notifications.list(b.id, None, 100).await.unwrap().items;
    let to_a = w.notifications.list(a.id, None, 100).await.unwrap().items;
    assert_eq!(codes(&to_b), [NotificationCode::FriendRequest]);
    assert_eq!(codes(&to_a), [NotificationCode::FriendAccepted]);
    assert_eq!(to_b[0].sender, Some(a.id));
    let published: Vec<Event> = drain(&mut events);
    assert_eq!(
        published,
        [
            Event::NotificationCreated {
                recipient: b.id,
                id: to_b[0].id
            },
            Event::NotificationCreated {
                recipient: a.id,
                id: to_a[0].id
            },
        ]
    );
    // b blocks a: a's side is gone, b's is BLOCKED; then a's request is a shadow one.
    w.friends.block_users(b.id, &ids(&[&a])).await.unwrap();
    w.add(&a, &[&b]).await;
    assert_eq!(
        w.friends.views_of(a.id, &[b.id]).await.unwrap().get(&b.id),
        Some(&FriendState::InviteSent)
    );
    assert_eq!(
        w.friends.views_of(b.id, &[a.id]).await.unwrap().get(&a.id),
        Some(&FriendState::Blocked)
    );
    assert_eq!(
        w.notifications
            .list(b.id, None, 100)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn bad_targets_are_all_named_and_nothing_changes() {
    let w = World::new();
    let [a, b] = [w.user("ann").await, w.user("bob").await];
    let before = w.seen_by(&[&a, &b]).await;
    let targets = Targets::parse(
        &[b.id.to_string(), a.id.to_string(), "not-an-id".to_owned()],
        &["nobody".to_owned()],
    )
    .unwrap();
    match w.friends.add_friends(a.id, &targets, None).await {
        Err(DomainError::InvalidTargets(problems)) => {
            let kinds: Vec<_> = problems
                .iter()
                .map(|p| (p.target.as_str(), &p.kind))
                .collect();
            assert_eq!(
                kinds,
                [
                    ("not-an-id", &TargetProblemKind::Malformed),
                    (a.id.to_string().as_str(), &TargetProblemKind::IsCaller),
                    ("nobody", &TargetProblemKind::Unknown),
                ]
            );
        }
        other => panic!("expected bad targets, got {other:?}"),
    }
    assert_eq!(w.seen_by(&[&a, &b]).await, before);
}

#[tokio::test]
async fn listing_pages_by_state_then_recency_with_stable_cursors() {
    let w = World::new();
    let a = w.user("ann").await;
    let others = w.users(&["bob", "cid", "dee", "eve", "fay"]).await;
    // Two friends made at different times, two requests sent in one batch (same time),
    // one block.
    w.befriend(&a, &others[0]).await;
    w.tick();
    w.befriend(&a, &others[1]).await;
    w.tick();
    w.friends
        .add_friends(a.id, &ids(&[&others[2], &others[3]]), None)
        .await
        .unwrap();
    w.tick();
    w.friends
        .block_users(a.id, &ids(&[&others[4]]))
        .await
        .unwrap();

    let mut order = Vec::new();
    let mut after = None;
    loop {
        let page = w.friends.list(a.id, &[], after, 2).await.unwrap();
        after = page.items.last().map(|v| v.position());
        order.extend(page.items.iter().map(|v| (v.state, v.user.id)));
        if !page.has_next_page {
            break;
        }
        // A change behind the cursor does not shift what comes next.
        w.tick();
        let newcomer = w.user(&format!("new{}", order.len())).await;
        w.befriend(&a, &newcomer).await;
    }
    let (sent_tie_first, sent_tie_second) = if others[2].id > others[3].id {
        (others[2].id, others[3].id)
    } else {
        (others[3].id, others[2].id)
    };
    assert_eq!(
        order,
        [
            (FriendState::Friend, others[1].id),
            (FriendState::Friend, others[0].id),
            (FriendState::InviteSent, sent_tie_first),
            (FriendState::InviteSent, sent_tie_second),
            (FriendState::Blocked, others[4].id),
        ]
    );
    // Filtered by state.
    let blocked = w
        .friends
        .list(
            a.id,
            &[FriendState::Blocked, FriendState::Blocked],
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(blocked.items.len(), 1);
    assert!(matches!(
        w.friends.list(a.id, &[], None, 0).await,
        Err(DomainError::InvalidInput { .. })
    ));
}
