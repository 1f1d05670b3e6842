//! Repository and service tests on a real database: SQLite by default, PostgreSQL when
//! `AMITY_TEST_DATABASE_URL` is set (a fresh database per test).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use amity_domain::accounts::{NewUser, Role, User};
use amity_domain::events::InProcessBus;
use amity_domain::friends::{FriendLimits, FriendService, FriendState, Targets};
use amity_domain::notifications::{NotificationCode, NotificationService};
use amity_domain::ports::Store;
use amity_domain::time::{Clock, SystemClock};
use amity_domain::{DomainError, Handle, UserId};
use amity_persistence::testing::TestDatabase;
use amity_persistence::{Database, SqlStore};

async fn setup() -> (TestDatabase, Database, Arc<dyn Store>) {
    let (test_db, db) = TestDatabase::migrated().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(db.clone()));
    (test_db, db, store)
}

async fn user(store: &Arc<dyn Store>, handle: &str) -> User {
    store
        .insert_user(NewUser {
            id: UserId::new(),
            handle: Handle::parse("handle", handle).unwrap(),
            display_name: None,
            password_hash: None,
            role: Role::User,
            created_at: SystemClock.now(),
        })
        .await
        .unwrap()
}

fn friends(store: &Arc<dyn Store>, limits: FriendLimits) -> FriendService {
    FriendService::new(
        store.clone(),
        store.clone(),
        Arc::new(InProcessBus::new()),
        Arc::new(SystemClock),
        limits,
    )
}

fn by_id(u: &User) -> Targets {
    Targets::parse(&[u.id.to_string()], &[]).unwrap()
}

#[tokio::test]
async fn migrations_run_up_down_and_up_again() {
    let (_guard, db, _) = setup().await;
    let status = db.migration_status().await.unwrap();
    assert!(!status.is_empty() && status.iter().all(|m| m.applied));
    db.migrate_down(None).await.unwrap();
    assert!(
        db.migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| !m.applied)
    );
    db.migrate_up(None).await.unwrap();
    assert!(
        db.migration_status()
            .await
            .unwrap()
            .iter()
            .all(|m| m.applied)
    );
}

#[tokio::test]
async fn handles_are_unique_case_insensitively() {
    let (_guard, _db, store) = setup().await;
    user(&store, "Alice").await;
    let err = store
        .insert_user(NewUser {
            id: UserId::new(),
            handle: Handle::parse("handle", "aLiCe").unwrap(),
            display_name: None,
            password_hash: None,
            role: Role::User,
            created_at: SystemClock.now(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::HandleTaken(_)), "{err:?}");
    let found = store
        .user_by_handle(&Handle::parse("h", "ALICE").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.handle.as_str(), "Alice");
}

#[tokio::test]
async fn request_accept_and_notifications_are_stored() {
    let (_guard, _db, store) = setup().await;
    let (a, b) = (user(&store, "alice").await, user(&store, "bob").await);
    let svc = friends(&store, FriendLimits::default());
    let out = svc.add_friends(a.id, &by_id(&b), None).await.unwrap();
    assert_eq!(out[0].state, FriendState::InviteSent);
    let views = store.views_of(b.id, &[a.id]).await.unwrap();
    assert_eq!(views.get(&a.id), Some(&FriendState::InviteReceived));
    let out = svc.add_friends(b.id, &by_id(&a), None).await.unwrap();
    assert_eq!(out[0].state, FriendState::Friend);

    let notes = NotificationService::new(store.clone(), Arc::new(SystemClock));
    let page = notes.list(b.id, None, 10).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].code, NotificationCode::FriendRequest);
    let page = notes.list(a.id, None, 10).await.unwrap();
    assert_eq!(page.items[0].code, NotificationCode::FriendAccepted);
    assert_eq!(page.items[0].sender, Some(b.id));
}

#[tokio::test]
async fn a_failing_batch_changes_nothing() {
    let (_guard, _db, store) = setup().await;
    let (a, b) = (user(&store, "alice").await, user(&store, "bob").await);
    let svc = friends(&store, FriendLimits::default());
    let targets = Targets::parse(&[b.id.to_string(), UserId::new().to_string()], &[]).unwrap();
    let err = svc.add_friends(a.id, &targets, None).await.unwrap_err();
    assert!(
        matches!(err, DomainError::InvalidTargets(ref p) if p.len() == 1),
        "{err:?}"
    );
    assert!(store.views_of(a.id, &[b.id]).await.unwrap().is_empty());
}

#[tokio::test]
async fn limits_refuse_the_whole_call() {
    let (_guard, _db, store) = setup().await;
    let a = user(&store, "alice").await;
    let mut others = Vec::new();
    for i in 0..3 {
        others.push(user(&store, &format!("user{i}")).await);
    }
    let svc = friends(
        &store,
        FriendLimits {
            max_friends: 1000,
            max_pending_invites: 2,
            max_blocks: 1000,
        },
    );
    let all = Targets::parse(
        &others.iter().map(|u| u.id.to_string()).collect::<Vec<_>>(),
        &[],
    )
    .unwrap();
    let err = svc.add_friends(a.id, &all, None).await.unwrap_err();
    assert!(matches!(err, DomainError::LimitExceeded { .. }), "{err:?}");
    assert_eq!(svc.counts(a.id).await.unwrap().invites_sent, 0);
}

#[tokio::test]
async fn concurrent_mutual_adds_end_as_friends() {
    let (_guard, _db, store) = setup().await;
    let svc = friends(&store, FriendLimits::default());
    let mut pairs = Vec::new();
    for i in 0..20 {
        pairs.push((
            user(&store, &format!("left{i}")).await,
            user(&store, &format!("right{i}")).await,
        ));
    }
    let mut tasks = Vec::new();
    for (l, r) in &pairs {
        for (from, to) in [(l.clone(), r.clone()), (r.clone(), l.clone())] {
            let svc = svc.clone();
            tasks.push(tokio::spawn(async move {
                svc.add_friends(from.id, &by_id(&to), None).await
            }));
        }
    }
    for t in futures::future::join_all(tasks).await {
        t.unwrap().unwrap();
    }
    for (l, r) in &pairs {
        assert_eq!(
            store.views_of(l.id, &[r.id]).await.unwrap().get(&r.id),
            Some(&FriendState::Friend)
        );
        assert_eq!(
            store.views_of(r.id, &[l.id]).await.unwrap().get(&l.id),
            Some(&FriendState::Friend)
        );
    }
}

#[tokio::test]
async fn presence_counts_live_nodes_only_and_a_sweep_records_the_dead_nodes_users_offline() {
    use amity_domain::NodeId;
    use amity_domain::ports::PresenceStore;
    use chrono::Duration;

    let (_t, db, store) = setup().await;
    let presence: Arc<dyn PresenceStore> = Arc::new(SqlStore::new(db.clone()));
    let alice = user(&store, "presence_alice").await;
    let bob = user(&store, "presence_bob").await;
    let (a, b) = (NodeId::new(), NodeId::new());
    let t0 = SystemClock.now();
    let live_after = |now: chrono::DateTime<chrono::Utc>| now - Duration::seconds(15);
    presence.register_node(a, t0).await.unwrap();
    presence.register_node(b, t0).await.unwrap();

    // First connection anywhere: online; a second node: no transition.
    assert!(
        presence
            .connect(a, alice.id, t0, live_after(t0))
            .await
            .unwrap()
    );
    assert!(
        !presence
            .connect(b, alice.id, t0, live_after(t0))
            .await
            .unwrap()
    );
    assert!(
        presence
            .connect(b, bob.id, t0, live_after(t0))
            .await
            .unwrap()
    );
    let online = presence
        .online_among(&[alice.id, bob.id], live_after(t0))
        .await
        .unwrap();
    assert_eq!(online.len(), 2);

    // Leaving node a while still on node b: no transition, no last-seen yet.
    assert!(
        !presence
            .disconnect(a, alice.id, t0, live_after(t0))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        None
    );

    // Node b stops heartbeating; a minute later it no longer counts, and a sweep records its
    // users offline as of its last heartbeat, once.
    let t1 = t0 + Duration::seconds(60);
    assert!(presence.heartbeat(a, t1).await.unwrap());
    assert!(
        presence
            .online_among(&[alice.id, bob.id], live_after(t1))
            .await
            .unwrap()
            .is_empty()
    );
    let mut gone = presence.sweep_dead_nodes(live_after(t1)).await.unwrap();
    gone.sort();
    let mut expected = vec![(alice.id, t0), (bob.id, t0)];
    expected.sort();
    assert_eq!(gone, expected);
    assert!(
        presence
            .sweep_dead_nodes(live_after(t1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!presence.heartbeat(b, t1).await.unwrap(), "b was removed");
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        Some(t0)
    );

    // A graceful stop: the users of the node go offline at once.
    assert!(
        presence
            .connect(a, bob.id, t1, live_after(t1))
            .await
            .unwrap()
    );
    assert_eq!(
        presence
            .deregister_node(a, t1, live_after(t1))
            .await
            .unwrap(),
        vec![bob.id]
    );
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        Some(t1)
    );
}

#[tokio::test]
async fn bans_are_cached_per_session_and_forgotten_on_change_or_when_the_log_shows_one() {
    use amity_domain::moderation::{AccessControl, AccessDenied, Actor, ModerationService};

    let (_guard, db, store) = setup().await;
    let target = user(&store, "cachetarget").await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let access = AccessControl::new(store.clone(), clock.clone());
    // Another process on the same database (the command line), with a bus of its own.
    let other_process = ModerationService::new(
        Arc::new(SqlStore::new(db.clone())),
        Arc::new(InProcessBus::new()),
        clock.clone(),
    );
    let issued = SystemClock.now();
    assert_eq!(
        access.admit(target.id, issued).await.unwrap(),
        Ok(Role::User)
    );

    // Cached: the other process's ban is not seen until something says it changed...
    let mut watch = access.watch(target.id);
    other_process
        .ban(&Actor::CommandLine, &by_id(&target), Some("spam"), None)
        .await
        .unwrap();
    assert_eq!(
        access.admit(target.id, issued).await.unwrap(),
        Ok(Role::User)
    );

    // ...which the poll of the moderation log does, waking the watchers.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let poll = tokio::spawn(access.clone().poll_log(
        std::time::Duration::from_millis(20),
        stop_rx,
        std::sync::Arc::new(amity_domain::events::InProcessBus::new()),
    ));
    tokio::time::timeout(std::time::Duration::from_secs(5), watch.changed())
        .await
        .expect("the poll wakes the watcher");
    let denied = access.admit(target.id, issued).await.unwrap();
    assert!(
        matches!(&denied, Err(AccessDenied::Banned(ban)) if ban.until.is_none() && ban.reason.as_deref() == Some("spam")),
        "{denied:?}"
    );

    // Unbanned: the old session stays revoked, a new one is admitted.
    other_process
        .unban(&Actor::CommandLine, &by_id(&target))
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), watch.changed())
        .await
        .expect("the poll sees the unban");
    assert_eq!(
        access.admit(target.id, issued).await.unwrap(),
        Err(AccessDenied::Revoked)
    );
    let later = SystemClock.now() + chrono::Duration::milliseconds(1);
    assert_eq!(
        access.admit(target.id, later).await.unwrap(),
        Ok(Role::User)
    );
    assert_eq!(
        access.admit(UserId::new(), later).await.unwrap(),
        Err(AccessDenied::Unknown)
    );
    stop_tx.send(true).unwrap();
    poll.await.unwrap();

    // The log holds both actions, newest first, by the command line.
    let log = store.moderation_log(None, 10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["UNBAN", "BAN"]);
    assert!(
        log.iter()
            .all(|e| e.actor.is_none() && e.actor_label == "command line")
    );
    let older = store.moderation_log(Some(log[0].id), 10).await.unwrap();
    assert_eq!(older.len(), 1);
}

#[tokio::test]
async fn banned_users_leave_friend_lists_until_the_ban_runs_out() {
    use amity_domain::friends::FriendListQuery;
    use amity_domain::moderation::Ban;

    let (_guard, _db, store) = setup().await;
    let a = user(&store, "lista").await;
    let b = user(&store, "listb").await;
    let service = friends(&store, FriendLimits::default());
    service.add_friends(a.id, &by_id(&b), None).await.unwrap();
    service.add_friends(b.id, &by_id(&a), None).await.unwrap();
    let now = SystemClock.now();
    let mut tx = store.begin_moderation().await.unwrap();
    tx.set_ban(
        &[b.id],
        Some(&Ban {
            since: now,
            until: Some(now + chrono::Duration::hours(1)),
            reason: None,
        }),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let query = |visible_at| FriendListQuery {
        states: Vec::new(),
        after: None,
        limit: 10,
        visible_at,
    };
    assert!(
        store
            .list_friends(a.id, &query(now))
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + chrono::Duration::hours(2);
    let listed = store.list_friends(a.id, &query(later)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, FriendState::Friend);
    let status = store.access_status(b.id).await.unwrap().unwrap();
    assert_eq!(status.sessions_valid_after, Some(now));
}

/// A graph bulk-loaded into a fresh database: `users` users, `friendships` (a, b, time).
async fn bulk_loaded(
    users: u32,
    friendships: &[(u32, u32, i64)],
) -> (TestDatabase, Database, Arc<dyn Store>, Vec<UserId>) {
    use amity_persistence::bulk::{BulkFriendship, BulkUser, load};
    let test_db = TestDatabase::create().await.unwrap();
    let db = Database::connect(test_db.url()).await.unwrap();
    db.migrate_up(None).await.unwrap();
    db.close().await;
    let now = SystemClock.now().timestamp_micros();
    let users: Vec<BulkUser> = (0..users)
        .map(|i| BulkUser {
            id: uuid::Uuid::now_v7(),
            handle: format!("bulk_{i}"),
            created_at: now,
        })
        .collect();
    let friendships: Vec<BulkFriendship> = friendships
        .iter()
        .map(|&(a, b, at)| BulkFriendship { a, b, at: now + at })
        .collect();
    let mut steps = Vec::new();
    load(test_db.url(), &users, "x", &friendships, &mut |step| {
        steps.push(step)
    })
    .await
    .unwrap();
    assert!(steps.contains(&amity_persistence::bulk::BulkProgress::Indexing));
    let db = Database::connect(test_db.url()).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(db.clone()));
    let ids = users.iter().map(|u| UserId::from_uuid(u.id)).collect();
    (test_db, db, store, ids)
}

#[tokio::test]
async fn a_bulk_load_writes_both_directions_and_a_bad_one_writes_nothing() {
    let (guard, db, store, ids) = bulk_loaded(4, &[(0, 1, 1), (0, 2, 2), (3, 2, 3)]).await;
    let svc = friends(&store, FriendLimits::default());
    assert_eq!(svc.counts(ids[0]).await.unwrap().friends, 2);
    assert_eq!(svc.counts(ids[2]).await.unwrap().friends, 2);
    let page = svc
        .list(ids[2], &[FriendState::Friend], None, 10)
        .await
        .unwrap();
    // The listing index is back: newest friendship first.
    let listed: Vec<UserId> = page.items.iter().map(|v| v.user.id).collect();
    assert_eq!(listed, [ids[3], ids[0]]);
    // The loaded graph takes ordinary changes (foreign keys and indexes in place).
    svc.remove_friends(ids[0], &Targets::parse(&[ids[1].to_string()], &[]).unwrap())
        .await
        .unwrap();
    assert_eq!(svc.counts(ids[1]).await.unwrap().friends, 0);
    db.close().await;

    use amity_persistence::bulk::{BulkFriendship, BulkUser, load};
    let users = [BulkUser {
        id: uuid::Uuid::now_v7(),
        handle: "lonely".into(),
        created_at: 0,
    }];
    let beyond = [BulkFriendship { a: 0, b: 1, at: 0 }];
    let err = load(guard.url(), &users, "x", &beyond, &mut |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("beyond"), "{err}");
    let db = Database::connect(guard.url()).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(db));
    let lonely = Handle::parse("handle", "lonely").unwrap();
    assert!(store.user_by_handle(&lonely).await.unwrap().is_none());
}

#[tokio::test]
async fn recommendations_sample_each_friends_recent_friendships_but_count_exactly() {
    // Me (0) and my friend m (1), friends long ago; m has 150 more friends (2..=151, 2 the
    // oldest). My newer friend m2 (152) is friends with 2, recently.
    let mut graph = vec![(0, 1, 0)];
    graph.extend((2..=151).map(|i| (1, i, 1000 + i64::from(i))));
    graph.push((0, 152, 5000));
    graph.push((152, 2, 6000));
    let (_guard, _db, store, ids) = bulk_loaded(153, &graph).await;
    let svc = friends(&store, FriendLimits::default());
    let found = svc.recommendations(ids[0], 100).await.unwrap();
    assert_eq!(found.len(), 100);
    // User 2 is reached through m2 only (m's walk takes its 100 most recent friendships),
    // but its count is exact: both m2 and m, my most recent friendship first.
    assert_eq!(found[0].user.id, ids[2]);
    assert_eq!(found[0].mutual_friend_ids, [ids[152], ids[1]]);
    assert_eq!(found[0].mutual_friends.len(), 2);
    // Then m's most recent friends, newest first, one mutual friend each.
    let rest: Vec<UserId> = found[1..].iter().map(|r| r.user.id).collect();
    let newest: Vec<UserId> = (53..=151).rev().map(|i| ids[i]).collect();
    assert_eq!(rest, newest);
    assert!(found[1..].iter().all(|r| r.mutual_friend_ids == [ids[1]]));
    // m's older friends (3..=51) are outside the sample.
    assert!(found.iter().all(|r| !ids[3..=52].contains(&r.user.id)));
}

#[tokio::test]
async fn every_read_judges_bans_alike_permanent_running_and_ended() {
    use amity_domain::friends::FriendListQuery;
    use amity_domain::moderation::Ban;

    // Me (0) and my friends 1 (never banned), 2 (banned for good), 3 (ban ended), 4 (ban
    // running). 5 is friends with all four; 1 is also friends with 6 (never banned), 7 (for
    // good), 8 (ended), 9 (running); 2 with 10.
    let graph = [
        (0, 1, 1),
        (0, 2, 2),
        (0, 3, 3),
        (0, 4, 4),
        (5, 1, 5),
        (5, 2, 6),
        (5, 3, 7),
        (5, 4, 8),
        (1, 6, 9),
        (1, 7, 10),
        (1, 8, 11),
        (1, 9, 12),
        (2, 10, 13),
    ];
    let (_guard, _db, store, ids) = bulk_loaded(11, &graph).await;
    let now = SystemClock.now();
    let hour = chrono::Duration::hours(1);
    let mut tx = store.begin_moderation().await.unwrap();
    for (users, until) in [
        ([2, 7], None),
        ([3, 8], Some(now - hour)),
        ([4, 9], Some(now + hour)),
    ] {
        let users: Vec<UserId> = users.iter().map(|&i| ids[i]).collect();
        let ban = Ban {
            since: now - hour * 2,
            until,
            reason: None,
        };
        tx.set_ban(&users, Some(&ban)).await.unwrap();
    }
    tx.commit().await.unwrap();

    let query = FriendListQuery {
        states: Vec::new(),
        after: None,
        limit: 10,
        visible_at: now,
    };
    let mut listed: Vec<UserId> = store
        .list_friends(ids[0], &query)
        .await
        .unwrap()
        .iter()
        .map(|v| v.user.id)
        .collect();
    listed.sort();
    let mut visible = vec![ids[1], ids[3]];
    visible.sort();
    assert_eq!(listed, visible);

    let counts = store.friend_counts(ids[0], Some(now)).await.unwrap();
    assert_eq!(counts.friends, 2);
    let counts = store.friend_counts(ids[0], None).await.unwrap();
    assert_eq!(counts.friends, 4);

    let (mutual, total) = store.mutual_friends(ids[0], ids[5], 10, now).await.unwrap();
    assert_eq!(total, 2);
    let mut mutual: Vec<UserId> = mutual.iter().map(|u| u.id).collect();
    mutual.sort();
    assert_eq!(mutual, visible);
    // Counted in one statement, for several users at once: 5 shares the two visible friends,
    // 6 shares 1 (6's other side), 10 shares only banned 2, 0 is nobody's mutual here.
    let counts = store
        .mutual_friend_counts(ids[0], &[ids[5], ids[6], ids[10], ids[1]], now)
        .await
        .unwrap();
    assert_eq!(counts.get(&ids[5]), Some(&2));
    assert_eq!(counts.get(&ids[6]), Some(&1));
    assert_eq!(counts.get(&ids[10]), None);
    assert_eq!(counts.get(&ids[1]), None);

    let found = store
        .friend_recommendations(ids[0], 100, now)
        .await
        .unwrap();
    // 5 through my visible friends only (most recent friendship first); 6 and 8 through 1;
    // not 7 and 9 (banned), nor 10 (known only through a banned friend).
    assert_eq!(found[0].candidate, ids[5]);
    assert_eq!(found[0].mutual_friend_ids, [ids[3], ids[1]]);
    let mut rest: Vec<UserId> = found[1..].iter().map(|r| r.candidate).collect();
    rest.sort();
    let mut expected = vec![ids[6], ids[8]];
    expected.sort();
    assert_eq!(rest, expected);
}
