//! The MemoryStore itself where the services leave room: transactions (isolation, rollback,
//! serialization), recommendations and mutual friends, edge metadata, presence rows and
//! network links (through the ImportService).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use amity_domain::accounts::{NewUser, Role};
use amity_domain::friends::{FriendState, RECOMMENDATION_PRELOAD};
use amity_domain::input::Metadata;
use amity_domain::memory::MemoryStore;
use amity_domain::notifications::NotificationCode;
use amity_domain::ports::{
    EdgeWrite, FriendStore, NewNotification, PresenceStore, SocialLinkStore, Store, UserStore,
};
use amity_domain::social::{ExternalAccount, ImportService, Network, NetworkError, SocialNetwork};
use amity_domain::time::Clock;
use amity_domain::{DomainError, Handle, NodeId, NotificationId, UserId};
use async_trait::async_trait;
use serde_json::json;

use crate::support::{World, ids, t0};

fn friend_write(owner: UserId, other: UserId) -> EdgeWrite {
    EdgeWrite {
        owner,
        other,
        state: Some(FriendState::Friend),
        metadata: None,
        source: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_transaction_is_invisible_until_commit_gone_on_drop_and_writes_wait_for_it() {
    let w = World::new();
    let [a, b] = [w.user("ann").await, w.user("bob").await];
    let store = w.store.clone();

    let mut tx = store.begin_edges().await.unwrap();
    tx.write_edges(&[friend_write(a.id, b.id), friend_write(b.id, a.id)], t0())
        .await
        .unwrap();
    // The transaction sees its own writes; nobody else does.
    assert_eq!(tx.counts_of(&[a.id]).await.unwrap()[&a.id].friends, 1);
    assert!(store.views_of(a.id, &[b.id]).await.unwrap().is_empty());
    // Another write waits for it (reads do not).
    let waiting = tokio::time::timeout(Duration::from_secs(60), store.begin_edges()).await;
    assert!(waiting.is_err(), "a second transaction waits for the first");
    assert!(
        tokio::time::timeout(
            Duration::from_secs(60),
            store.update_profile(a.id, &Default::default())
        )
        .await
        .is_err(),
        "so does a single-call write"
    );
    drop(tx);
    assert!(
        store.views_of(a.id, &[b.id]).await.unwrap().is_empty(),
        "rolled back"
    );

    let mut tx = store.begin_edges().await.unwrap();
    tx.write_edges(&[friend_write(a.id, b.id), friend_write(b.id, a.id)], t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        store.views_of(a.id, &[b.id]).await.unwrap().get(&b.id),
        Some(&FriendState::Friend)
    );
    assert!(store.is_ready().await);
}

#[tokio::test]
async fn rows_naming_unknown_users_are_refused_whole() {
    let w = World::new();
    let a = w.user("ann").await;
    let ghost = UserId::new();
    let mut tx = w.store.begin_edges().await.unwrap();
    let err = tx
        .write_edges(
            &[friend_write(ghost, a.id), friend_write(a.id, ghost)],
            t0(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Storage(_)), "{err:?}");
    let note = |recipient| NewNotification {
        id: NotificationId::new(),
        recipient,
        code: NotificationCode::System,
        subject: "hello".into(),
        content: json!({}),
        sender: None,
    };
    let err = tx
        .insert_notifications(&[note(a.id), note(ghost)], t0())
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Storage(_)), "{err:?}");
    tx.commit().await.unwrap();
    assert_eq!(w.store.friend_counts(a.id, None).await.unwrap().friends, 0);
    assert!(
        w.notifications
            .list(a.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn edge_metadata_is_the_owners_and_does_not_move_the_edge() {
    let w = World::new();
    let [a, b] = [w.user("ann").await, w.user("bob").await];
    let note = Metadata::parse("metadata", json!({"tag": "raid"})).unwrap();
    w.friends
        .add_friends(a.id, &ids(&[&b]), Some(note.clone()))
        .await
        .unwrap();
    w.add(&b, &[&a]).await;
    let mine = &w.friends.list(a.id, &[], None, 10).await.unwrap().items[0];
    // Kept through the accept (a's edge changed state, its metadata stayed).
    assert_eq!(mine.metadata.as_ref(), Some(&note));
    w.tick();
    let other = Metadata::parse("metadata", json!({"tag": "pvp"})).unwrap();
    let changed = w
        .friends
        .set_metadata(a.id, b.id, Some(other.clone()))
        .await
        .unwrap();
    assert_eq!(changed.metadata, Some(other));
    assert_eq!(changed.updated_at, mine.updated_at);
    let theirs = &w.friends.list(b.id, &[], None, 10).await.unwrap().items[0];
    assert_eq!(theirs.metadata, None);
    assert!(matches!(
        w.friends.set_metadata(a.id, UserId::new(), None).await,
        Err(DomainError::NotFound(_))
    ));
}

/// ann's friends: bob (oldest), cid, dee (newest). Friends of theirs: eve (of bob, cid, dee),
/// fay (of cid and dee), gus (of dee), hal (of bob and cid).
async fn recommendation_world() -> (World, Vec<amity_domain::accounts::User>) {
    let w = World::new();
    let users = w
        .users(&["ann", "bob", "cid", "dee", "eve", "fay", "gus", "hal"])
        .await;
    let [ann, bob, cid, dee, eve, fay, gus, hal] = [
        &users[0], &users[1], &users[2], &users[3], &users[4], &users[5], &users[6], &users[7],
    ];
    for (x, y) in [
        (ann, bob),
        (hal, cid),
        (ann, cid),
        (ann, dee),
        (eve, bob),
        (eve, cid),
        (fay, cid),
        (eve, dee),
        (hal, bob),
        (gus, dee),
        (fay, dee),
    ] {
        w.tick();
        w.befriend(x, y).await;
    }
    (w, users)
}

#[tokio::test]
async fn recommendations_rank_by_mutual_friends_then_recency_and_list_them_all() {
    let (w, users) = recommendation_world().await;
    let [ann, bob, cid, dee, eve, fay, gus, hal] = [
        &users[0], &users[1], &users[2], &users[3], &users[4], &users[5], &users[6], &users[7],
    ];
    let found = w.friends.recommendations(ann.id, 10).await.unwrap();
    let ranked: Vec<_> = found
        .iter()
        .map(|r| (r.user.id, r.mutual_friend_ids.clone()))
        .collect();
    // eve: 3 mutual; fay and hal: 2 each, fay's latest friendship (with dee) is newer than
    // hal's (with bob); gus: 1. Mutual friends in ann's order: her newest friendships first.
    assert_eq!(
        ranked,
        [
            (eve.id, vec![dee.id, cid.id, bob.id]),
            (fay.id, vec![dee.id, cid.id]),
            (hal.id, vec![cid.id, bob.id]),
            (gus.id, vec![dee.id]),
        ]
    );
    assert_eq!(found[0].mutual_friends.len(), RECOMMENDATION_PRELOAD);
    assert_eq!(w.friends.recommendations(ann.id, 2).await.unwrap().len(), 2);
    let (mutual, total) = w.friends.mutual_friends(ann.id, eve.id, 2).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        mutual.iter().map(|u| u.id).collect::<Vec<_>>(),
        [dee.id, cid.id]
    );
    assert_eq!(
        w.friends.mutual_friends(ann.id, ann.id, 5).await.unwrap().1,
        0
    );
}

#[tokio::test]
async fn recommendations_leave_out_edges_blockers_dismissed_and_banned_users() {
    let (w, users) = recommendation_world().await;
    let [ann, _bob, _cid, dee, eve, fay, gus, hal] = [
        &users[0], &users[1], &users[2], &users[3], &users[4], &users[5], &users[6], &users[7],
    ];
    let candidates = |w: &World| {
        let w = w.friends.clone();
        let me = ann.id;
        async move {
            w.recommendations(me, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.user.id, r.mutual_friend_ids.len()))
                .collect::<Vec<_>>()
        }
    };
    // Any edge of mine (a pending request), a block of theirs on me, my dismissal.
    w.add(ann, &[gus]).await;
    w.friends.block_users(hal.id, &ids(&[ann])).await.unwrap();
    w.friends
        .dismiss_recommendation(ann.id, fay.id)
        .await
        .unwrap();
    assert_eq!(candidates(&w).await, [(eve.id, 3)]);
    // A banned mutual friend does not count; a banned candidate is not shown.
    w.moderation
        .ban(
            &amity_domain::moderation::Actor::CommandLine,
            &ids(&[dee]),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(candidates(&w).await, [(eve.id, 2)]);
    w.moderation
        .ban(
            &amity_domain::moderation::Actor::CommandLine,
            &ids(&[eve]),
            None,
            None,
        )
        .await
        .unwrap();
    assert!(candidates(&w).await.is_empty());
    assert!(matches!(
        w.friends.dismiss_recommendation(ann.id, eve.id).await,
        Err(DomainError::NotFound(_))
    ));
    // No friends, no recommendations.
    let loner = w.user("loner").await;
    assert!(
        w.friends
            .recommendations(loner.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn presence_rows_follow_nodes_and_last_seen_only_moves_forward() {
    let store = MemoryStore::new();
    let u = store.add_user("ann").await.unwrap();
    let (a, b) = (NodeId::new(), NodeId::new());
    let at = |s: i64| t0() + chrono::Duration::seconds(s);
    // Live means a heartbeat after `live_after`.
    store.register_node(a, at(0)).await.unwrap();
    store.register_node(b, at(0)).await.unwrap();
    assert!(store.connect(a, u.id, at(1), at(-15)).await.unwrap());
    assert!(!store.connect(b, u.id, at(1), at(-15)).await.unwrap());
    // Connecting again on the same node is no transition and keeps one row.
    assert!(!store.connect(b, u.id, at(2), at(-15)).await.unwrap());
    // a's heartbeat is not after `live_after`: only b counts.
    assert!(store.heartbeat(b, at(20)).await.unwrap());
    assert_eq!(store.online_among(&[u.id], at(5)).await.unwrap().len(), 1);
    assert!(store.disconnect(b, u.id, at(21), at(5)).await.unwrap());
    assert_eq!(
        store.user_by_id(u.id).await.unwrap().unwrap().last_seen_at,
        Some(at(21))
    );
    // A sweep of a (dead since 0) sets last seen to its heartbeat, which is older: kept.
    assert_eq!(
        store.sweep_dead_nodes(at(5)).await.unwrap(),
        [(u.id, at(0))]
    );
    assert_eq!(
        store.user_by_id(u.id).await.unwrap().unwrap().last_seen_at,
        Some(at(21))
    );
    assert!(!store.heartbeat(a, at(22)).await.unwrap(), "a was swept");
    assert!(
        store
            .deregister_node(a, at(23), at(5))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .deregister_node(b, at(23), at(5))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A network where steam-1 and steam-2 are friends (until steam-1 unfriends: `unfriended`),
/// and steam-3 has no friends.
#[derive(Default)]
struct FakeNetwork {
    unfriended: AtomicBool,
}

#[async_trait]
impl SocialNetwork for FakeNetwork {
    fn network(&self) -> Network {
        Network::Steam
    }

    async fn verify(&self, credential: &str) -> Result<ExternalAccount, NetworkError> {
        match credential {
            "ticket-1" | "ticket-2" | "ticket-3" => Ok(ExternalAccount {
                id: credential.replace("ticket", "steam"),
                name: Some(format!("Player {credential}")),
            }),
            _ => Err(NetworkError::Refused("bad ticket".into())),
        }
    }

    async fn friends(
        &self,
        account_id: &str,
        _credential: Option<&str>,
    ) -> Result<Vec<String>, NetworkError> {
        Ok(match account_id {
            "steam-1" if self.unfriended.load(Ordering::SeqCst) => Vec::new(),
            "steam-1" => vec!["steam-2".into()],
            "steam-2" => vec!["steam-1".into(), "steam-404".into()],
            _ => Vec::new(),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn network_sign_ups_link_accounts_and_import_friends_both_ways() {
    let w = World::new();
    let network = Arc::new(FakeNetwork::default());
    let imports = ImportService::new(
        w.store.clone(),
        w.bus.clone(),
        w.clock.clone(),
        w.friends.limits(),
        vec![network.clone()],
    );
    let first = imports
        .authenticate(Network::Steam, "ticket-1")
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.user.handle.as_str(), "Player_ticket-1");
    let second = imports
        .authenticate(Network::Steam, "ticket-2")
        .await
        .unwrap();
    assert_eq!(second.friends.len(), 1);
    assert_eq!(second.friends[0].source, Some(Network::Steam));
    let (p1, p2) = (first.user.id, second.user.id);
    assert_eq!(
        w.friends.views_of(p1, &[p2]).await.unwrap().get(&p2),
        Some(&FriendState::Friend)
    );
    assert_eq!(
        w.store
            .external_id_of(p2, Network::Steam)
            .await
            .unwrap()
            .as_deref(),
        Some("steam-2")
    );
    assert_eq!(
        w.store
            .user_by_external(Network::Steam, "steam-1")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(p1)
    );
    // Signing in again finds the same user.
    let again = imports
        .authenticate(Network::Steam, "ticket-1")
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.user.id, p1);
    // Linking an account already linked to someone else is refused.
    let hand_made = w
        .accounts
        .create_account("player_three", "password1", None, Role::User)
        .await
        .unwrap();
    assert!(matches!(
        imports
            .link(hand_made.id, Network::Steam, "ticket-1", true)
            .await,
        Err(DomainError::Forbidden(_))
    ));
    imports
        .link(hand_made.id, Network::Steam, "ticket-3", true)
        .await
        .unwrap();
    // The store itself refuses a second link of either side, as a conflict.
    let mut tx = w.store.begin_links().await.unwrap();
    let err = tx
        .link_external(hand_made.id, Network::Steam, "steam-9", t0())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    let new_user = tx
        .insert_user(&NewUser {
            id: UserId::new(),
            handle: Handle::parse("handle", "PLAYER_THREE").unwrap(),
            display_name: None,
            password_hash: None,
            role: Role::User,
            created_at: w.clock.now(),
        })
        .await;
    assert!(matches!(new_user, Err(DomainError::HandleTaken(_))));
    drop(tx);
    // A reset keeps the imported friendships the network still reports...
    assert!(
        imports
            .import(p1, Network::Steam, None, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        w.friends.views_of(p1, &[p2]).await.unwrap().get(&p2),
        Some(&FriendState::Friend),
    );
    // ...and removes the others, but never a hand-made one.
    w.befriend(&first.user, &hand_made).await;
    network.unfriended.store(true, Ordering::SeqCst);
    imports
        .import(p1, Network::Steam, None, true)
        .await
        .unwrap();
    assert!(w.friends.views_of(p1, &[p2]).await.unwrap().is_empty());
    assert_eq!(w.friends.counts(p1).await.unwrap().friends, 1);
}
