//! The friend graph through the API: every row of the transition table, stealth blocking,
//! all-or-nothing batches and concurrent mutual adds.

use amity_e2e::{TestServer, User};
use serde_json::json;

const F: Option<&str> = Some("FRIEND");
const S: Option<&str> = Some("INVITE_SENT");
const R: Option<&str> = Some("INVITE_RECEIVED");
const B: Option<&str> = Some("BLOCKED");

/// Brings (a's view, b's view) to `pair` through the API, from strangers.
async fn arrange(a: &User, b: &User, pair: (Option<&str>, Option<&str>)) {
    match pair {
        (None, None) => {}
        (S, R) => {
            a.add(&[&b.id]).await.data();
        }
        (R, S) => {
            b.add(&[&a.id]).await.data();
        }
        (F, F) => {
            a.add(&[&b.id]).await.data();
            b.add(&[&a.id]).await.data();
        }
        (B, None) => {
            a.block(&[&b.id]).await.data();
        }
        (None, B) => {
            b.block(&[&a.id]).await.data();
        }
        (B, B) => {
            a.block(&[&b.id]).await.data();
            b.block(&[&a.id]).await.data();
        }
        (S, B) => {
            b.block(&[&a.id]).await.data();
            a.add(&[&b.id]).await.data();
        }
        (B, S) => {
            a.block(&[&b.id]).await.data();
            b.add(&[&a.id]).await.data();
        }
        other => panic!("not a valid pair: {other:?}"),
    }
    assert_eq!(
        (
            a.view_of(&b.id).await.as_deref(),
            b.view_of(&a.id).await.as_deref()
        ),
        pair,
        "arranging {pair:?}"
    );
}

type Row = (
    (Option<&'static str>, Option<&'static str>),
    &'static str,
    (Option<&'static str>, Option<&'static str>),
    Option<&'static str>,
);

/// SPEC section 2, both tables: (pair before, action of A, pair after, notification B gets).
const TABLE: &[Row] = &[
    ((None, None), "add", (S, R), Some("FRIEND_REQUEST")),
    ((None, None), "remove", (None, None), None),
    ((None, None), "block", (B, None), None),
    ((None, B), "add", (S, B), None),
    ((None, B), "remove", (None, B), None),
    ((None, B), "block", (B, B), None),
    ((S, R), "add", (S, R), None),
    ((S, R), "remove", (None, None), None),
    ((S, R), "block", (B, None), None),
    ((S, B), "add", (S, B), None),
    ((S, B), "remove", (None, B), None),
    ((S, B), "block", (B, B), None),
    ((R, S), "add", (F, F), Some("FRIEND_ACCEPTED")),
    ((R, S), "remove", (None, None), None),
    ((R, S), "block", (B, None), None),
    ((F, F), "add", (F, F), None),
    ((F, F), "remove", (None, None), Some("FRIEND_REMOVED")),
    ((F, F), "block", (B, None), None),
    ((B, None), "add", (B, None), None),
    ((B, None), "remove", (None, None), None),
    ((B, None), "block", (B, None), None),
    ((B, B), "add", (B, B), None),
    ((B, B), "remove", (None, B), None),
    ((B, B), "block", (B, B), None),
    ((B, S), "add", (B, S), None),
    ((B, S), "remove", (None, None), None),
    ((B, S), "block", (B, S), None),
];

#[tokio::test]
async fn every_row_of_the_transition_table() {
    let server = TestServer::start().await;
    for (i, &(before, action, after, notify)) in TABLE.iter().enumerate() {
        let a = server.sign_up(&format!("row{i}_a")).await;
        let b = server.sign_up(&format!("row{i}_b")).await;
        arrange(&a, &b, before).await;
        let notes_before = b.notification_codes().await;
        let res = match action {
            "add" => a.add(&[&b.id]).await,
            "remove" => a.remove(&[&b.id]).await,
            "block" => a.block(&[&b.id]).await,
            _ => unreachable!(),
        };
        res.data();
        let seen = (a.view_of(&b.id).await, b.view_of(&a.id).await);
        assert_eq!(
            (seen.0.as_deref(), seen.1.as_deref()),
            after,
            "row {i}: {before:?} {action}"
        );
        let notes_after = b.notification_codes().await;
        let new: Vec<&String> = notes_after[notes_before.len()..].iter().collect();
        match notify {
            Some(code) => assert_eq!(new, [code], "row {i}: {before:?} {action}"),
            None => assert!(
                new.is_empty(),
                "row {i}: {before:?} {action}: unexpected {new:?}"
            ),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_blocked_user_cannot_tell() {
    let server = TestServer::start().await;
    let blocker = server.sign_up("blocker").await;
    let pest = server.sign_up("pest").await;
    blocker.block(&[&pest.id]).await.data();

    // The blocked user can still look the blocker up, and a request looks sent.
    let found = pest
        .client
        .gql(
            "{ user(handle: \"blocker\") { id handle online } }",
            json!({}),
        )
        .await;
    assert_eq!(found.data()["user"]["id"], blocker.id.as_str());
    let res = pest.add(&[&blocker.id]).await;
    assert_eq!(res.data()["addFriends"][0]["state"], "INVITE_SENT");
    assert_eq!(
        pest.view_of(&blocker.id).await.as_deref(),
        Some("INVITE_SENT")
    );
    // Asking again is the same no-op as with anyone who ignores you.
    assert_eq!(
        pest.add(&[&blocker.id]).await.data()["addFriends"][0]["state"],
        "INVITE_SENT"
    );

    // The blocker sees only the block, and is told nothing.
    assert_eq!(blocker.view_of(&pest.id).await.as_deref(), Some("BLOCKED"));
    assert!(blocker.notification_codes().await.is_empty());
    let counts = blocker
        .client
        .gql(
            "{ friendCounts { friend inviteSent inviteReceived blocked } }",
            json!({}),
        )
        .await;
    assert_eq!(counts.data()["friendCounts"]["inviteReceived"], 0);
    assert_eq!(counts.data()["friendCounts"]["blocked"], 1);

    // Unblocking drops the shadow request: to the blocked user it looks like a rejection.
    blocker.remove(&[&pest.id]).await.data();
    assert_eq!(pest.view_of(&blocker.id).await, None);
    assert_eq!(blocker.view_of(&pest.id).await, None);
    assert!(blocker.notification_codes().await.is_empty());

    // Blocking a friend ends the friendship; the friend sees them gone, as after an unfriend.
    let friend = server.sign_up("friend").await;
    friend.add(&[&blocker.id]).await.data();
    blocker.add(&[&friend.id]).await.data();
    blocker.block(&[&friend.id]).await.data();
    assert_eq!(friend.view_of(&blocker.id).await, None);
    let online = friend
        .client
        .gql(
            "{ user(handle: \"blocker\") { online lastSeenAt } }",
            json!({}),
        )
        .await;
    assert_eq!(online.data()["user"]["online"], serde_json::Value::Null);
    server.stop().await;
}

#[tokio::test]
async fn batches_are_all_or_nothing_and_fold_duplicates() {
    let server = TestServer::start().await;
    let me = server.sign_up("caller").await;
    let b = server.sign_up("bee").await;
    let c = server.sign_up("cee").await;
    let mutation = "mutation($ids: [ID!], $h: [String!]) { addFriends(ids: $ids, handles: $h) { state user { handle } } }";

    // One unknown handle among good ones: nothing changes, the error names it.
    let res = me
        .client
        .gql(mutation, json!({ "ids": [b.id], "h": ["cee", "ghost"] }))
        .await;
    assert_eq!(res.code(), "NOT_FOUND");
    let targets = &res.body["errors"][0]["extensions"]["targets"];
    assert_eq!(targets[0]["target"], "ghost");
    assert_eq!(me.view_of(&b.id).await, None);
    assert_eq!(me.view_of(&c.id).await, None);

    // Malformed and self targets are named too, and are the caller's input errors.
    let res = me
        .client
        .gql(
            mutation,
            json!({ "ids": ["not-an-id", me.id], "h": ["bee"] }),
        )
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    let named: Vec<&str> = res.body["errors"][0]["extensions"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert!(
        named.contains(&"not-an-id") && named.contains(&me.id.as_str()),
        "{named:?}"
    );
    assert_eq!(me.view_of(&b.id).await, None);

    // Nothing at all, and too many.
    assert_eq!(
        me.client.gql(mutation, json!({})).await.code(),
        "BAD_USER_INPUT"
    );
    let many: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
    assert_eq!(
        me.client.gql(mutation, json!({ "h": many })).await.code(),
        "BAD_USER_INPUT"
    );

    // Duplicates by id, handle and case fold into one target.
    let res = me
        .client
        .gql(
            mutation,
            json!({ "ids": [b.id, b.id], "h": ["BEE", "bee", "cee"] }),
        )
        .await;
    let out = res.data()["addFriends"].as_array().unwrap().clone();
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(b.notification_codes().await, ["FRIEND_REQUEST"]);
    server.stop().await;
}

#[tokio::test]
async fn friend_metadata_is_private_and_editable() {
    let server = TestServer::start().await;
    let a = server.sign_up("meta_a").await;
    let b = server.sign_up("meta_b").await;
    let res = a
        .client
        .gql(
            "mutation($ids: [ID!]) { addFriends(ids: $ids, metadata: {note: \"raid buddy\"}) { metadata } }",
            json!({ "ids": [b.id] }),
        )
        .await;
    assert_eq!(
        res.data()["addFriends"][0]["metadata"]["note"],
        "raid buddy"
    );
    b.add(&[&a.id]).await.data();
    let list = a
        .client
        .gql(
            "{ friends { edges { node { metadata state } } } }",
            json!({}),
        )
        .await;
    let node = &list.data()["friends"]["edges"][0]["node"];
    assert_eq!(node["state"], "FRIEND");
    assert_eq!(
        node["metadata"]["note"], "raid buddy",
        "kept through the accept"
    );
    let other = b
        .client
        .gql("{ friends { edges { node { metadata } } } }", json!({}))
        .await;
    assert_eq!(
        other.data()["friends"]["edges"][0]["node"]["metadata"],
        serde_json::Value::Null
    );

    let set =
        "mutation($id: ID!, $m: JSON) { setFriendMetadata(id: $id, metadata: $m) { metadata } }";
    let res = a
        .client
        .gql(set, json!({ "id": b.id, "m": { "tags": ["pvp"] } }))
        .await;
    assert_eq!(
        res.data()["setFriendMetadata"]["metadata"]["tags"][0],
        "pvp"
    );
    assert_eq!(
        a.client
            .gql(set, json!({ "id": b.id, "m": [1, 2] }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    let stranger = server.sign_up("meta_c").await;
    assert_eq!(
        a.client
            .gql(set, json!({ "id": stranger.id, "m": {} }))
            .await
            .code(),
        "NOT_FOUND"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mutual_adds_end_as_friends() {
    let server = TestServer::start().await;
    let mut pairs = Vec::new();
    for i in 0..20 {
        pairs.push((
            server.sign_up(&format!("left{i}")).await,
            server.sign_up(&format!("right{i}")).await,
        ));
    }
    let mut tasks = Vec::new();
    for (l, r) in &pairs {
        for (from, to) in [(l.clone(), r.id.clone()), (r.clone(), l.id.clone())] {
            tasks.push(tokio::spawn(async move { from.add(&[&to]).await }));
        }
    }
    for task in futures::future::join_all(tasks).await {
        task.unwrap().data();
    }
    for (l, r) in &pairs {
        assert_eq!(
            l.view_of(&r.id).await.as_deref(),
            Some("FRIEND"),
            "{}",
            l.handle
        );
        assert_eq!(
            r.view_of(&l.id).await.as_deref(),
            Some("FRIEND"),
            "{}",
            r.handle
        );
        // Exactly one request and one acceptance were told, whoever came first.
        let mut codes = l.notification_codes().await;
        codes.extend(r.notification_codes().await);
        codes.sort();
        assert_eq!(codes, ["FRIEND_ACCEPTED", "FRIEND_REQUEST"], "{}", l.handle);
    }
    server.stop().await;
}

#[tokio::test]
async fn the_updated_at_a_change_returns_is_the_one_stored() {
    let server = TestServer::start().await;
    let me = server.sign_up("stamp_me").await;
    let other = server.sign_up("stamp_other").await;
    let third = server.sign_up("stamp_third").await;
    let res = me
        .client
        .gql(
            "mutation($ids: [ID!]) { addFriends(ids: $ids) { updatedAt user { handle } } }",
            json!({ "ids": [other.id] }),
        )
        .await;
    let added = res.data()["addFriends"][0]["updatedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = me
        .client
        .gql(
            "mutation($ids: [ID!]) { blockUsers(ids: $ids) { updatedAt } }",
            json!({ "ids": [third.id] }),
        )
        .await;
    let blocked = res.data()["blockUsers"][0]["updatedAt"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored: std::collections::HashMap<String, String> = me
        .friend_nodes()
        .await
        .into_iter()
        .map(|node| {
            let handle = node["user"]["handle"].as_str().unwrap().to_owned();
            (handle, node["updatedAt"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(stored["stamp_other"], added);
    assert_eq!(stored["stamp_third"], blocked);
    server.stop().await;
}
