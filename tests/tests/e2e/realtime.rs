//! Realtime delivery over websockets: notifications (live and replayed), presence and
//! last-seen, direct messages; on one node, and across two nodes sharing PostgreSQL.

use std::collections::HashSet;
use std::time::Duration;

use amity_e2e::{TestServer, User};
use serde_json::{Value, json};

const NOTIFICATIONS: &str = "subscription($after: String) {
    notifications(after: $after) { id code cursor sender { id handle } }
}";
const PRESENCE: &str =
    "subscription { presence { user { id handle online lastSeenAt } online lastSeenAt } }";
const MESSAGES: &str = "subscription { directMessages { id body sender { id } recipient { id } } }";

async fn online_as_seen_by(viewer: &User, other: &User) -> Value {
    let res = viewer
        .client
        .gql(
            "query($id: ID) { user(id: $id) { online lastSeenAt } }",
            json!({ "id": other.id }),
        )
        .await;
    res.data()["user"].clone()
}

#[tokio::test]
async fn notifications_reach_every_open_connection_of_the_recipient() {
    let server = TestServer::start().await;
    let alice = server.sign_up("rtalice").await;
    let bob = server.sign_up("rtbob").await;
    let phone = alice.ws().await;
    let laptop = alice.ws().await;
    let mut on_phone = phone.subscribe(NOTIFICATIONS, json!({})).await;
    let mut on_laptop = laptop.subscribe(NOTIFICATIONS, json!({})).await;
    let bob_ws = bob.ws().await;
    let mut bobs = bob_ws.subscribe(NOTIFICATIONS, json!({})).await;
    server.wait_for_subscriptions(3).await;

    bob.add(&[&alice.id]).await.data();
    for sub in [&mut on_phone, &mut on_laptop] {
        let n = sub.next_data().await;
        assert_eq!(n["notifications"]["code"], "FRIEND_REQUEST");
        assert_eq!(n["notifications"]["sender"]["handle"], "rtbob");
    }
    bobs.assert_silent(Duration::from_millis(200)).await;

    alice.add(&[&bob.id]).await.data();
    assert_eq!(
        bobs.next_data().await["notifications"]["code"],
        "FRIEND_ACCEPTED"
    );
    on_phone.assert_silent(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_kept_cursor_replays_what_was_missed_then_continues_live_with_no_gap_or_duplicate() {
    let server = TestServer::start().await;
    let alice = server.sign_up("replayalice").await;
    let senders: Vec<User> =
        futures::future::join_all((0..24).map(|i| server.sign_up_owned(format!("replay{i:02}"))))
            .await;

    // One notification seen and its cursor kept; then three while offline.
    senders[0].add(&[&alice.id]).await.data();
    let first = alice
        .client
        .gql("{ notifications { edges { cursor } } }", json!({}))
        .await;
    let kept = first.data()["notifications"]["edges"][0]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    for s in &senders[1..4] {
        s.add(&[&alice.id]).await.data();
    }

    // Reconnect with the kept cursor while 20 more requests arrive concurrently.
    let ws = alice.ws().await;
    let racing = {
        let alice_id = alice.id.clone();
        let racers: Vec<User> = senders[4..].to_vec();
        tokio::spawn(async move {
            let ids = [alice_id.as_str()];
            futures::future::join_all(racers.iter().map(|s| s.add(&ids))).await
        })
    };
    let mut sub = ws.subscribe(NOTIFICATIONS, json!({ "after": kept })).await;
    let mut received = Vec::new();
    for _ in 0..23 {
        let n = sub.next_data().await;
        received.push(
            n["notifications"]["sender"]["handle"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    for res in racing.await.unwrap() {
        res.data();
    }
    sub.assert_silent(Duration::from_millis(300)).await;

    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), 23, "duplicates in {received:?}");
    let expected: HashSet<String> = senders[1..].iter().map(|s| s.handle.clone()).collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<HashSet<_>>(),
        expected
    );
    // What was missed comes first, oldest first.
    assert_eq!(received[..3], ["replay01", "replay02", "replay03"]);

    // A bad cursor is refused with BAD_USER_INPUT.
    let mut bad = ws
        .subscribe(NOTIFICATIONS, json!({ "after": "bogus" }))
        .await;
    let payload = bad.next().await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{payload}"
    );
}

#[tokio::test]
async fn presence_and_last_seen_are_live_for_friends_and_hidden_from_everyone_else() {
    let server = TestServer::start().await;
    let alice = server.sign_up("presalice").await;
    let bob = server.sign_up("presbob").await;
    let carol = server.sign_up("prescarol").await; // a stranger
    let dave = server.sign_up("presdave").await; // blocked by alice
    alice.befriend(&bob).await;
    alice.befriend(&dave).await;
    alice.block(&[&dave.id]).await.data();

    let bob_ws = bob.ws().await;
    let mut bobs = bob_ws.subscribe(PRESENCE, json!({})).await;
    let carol_ws = carol.ws().await;
    let mut carols = carol_ws.subscribe(PRESENCE, json!({})).await;
    let dave_ws = dave.ws().await;
    let mut daves = dave_ws.subscribe(PRESENCE, json!({})).await;
    server.wait_for_subscriptions(3).await;
    assert_eq!(online_as_seen_by(&bob, &alice).await["online"], false);

    let alice_ws = alice.ws().await;
    let event = bobs.next_data().await;
    assert_eq!(event["presence"]["online"], true, "{event}");
    assert_eq!(event["presence"]["user"]["handle"], "presalice");
    assert_eq!(event["presence"]["user"]["online"], true);
    assert_eq!(online_as_seen_by(&bob, &alice).await["online"], true);
    assert_eq!(online_as_seen_by(&alice, &alice).await["online"], true);
    let stranger_view = online_as_seen_by(&carol, &alice).await;
    assert_eq!(stranger_view["online"], Value::Null);
    assert_eq!(stranger_view["lastSeenAt"], Value::Null);

    // The friends list shows who is online without asking per friend.
    let list = bob
        .client
        .gql(
            "{ friends { edges { node { user { handle online } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list.data()["friends"]["edges"][0]["node"]["user"]["online"],
        true
    );

    alice_ws.close().await;
    let event = bobs.next_data().await;
    assert_eq!(event["presence"]["online"], false);
    let last_seen = event["presence"]["lastSeenAt"].as_str().unwrap().to_owned();
    let seen = online_as_seen_by(&bob, &alice).await;
    assert_eq!(seen["online"], false);
    assert_eq!(seen["lastSeenAt"], last_seen.as_str());

    // Strangers and blocked users never heard anything.
    carols.assert_silent(Duration::from_millis(200)).await;
    daves.assert_silent(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn reconnecting_within_the_grace_period_is_invisible_to_friends() {
    let server = TestServer::start_with(|s| s.presence_offline_grace_ms = 1500).await;
    let alice = server.sign_up("flapalice").await;
    let bob = server.sign_up("flapbob").await;
    alice.befriend(&bob).await;
    let bob_ws = bob.ws().await;
    let mut bobs = bob_ws.subscribe(PRESENCE, json!({})).await;
    server.wait_for_subscriptions(1).await;

    let first = alice.ws().await;
    assert_eq!(bobs.next_data().await["presence"]["online"], true);
    first.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = alice.ws().await;
    bobs.assert_silent(Duration::from_millis(2000)).await;
    assert_eq!(online_as_seen_by(&bob, &alice).await["online"], true);
    second.close().await;
    assert_eq!(bobs.next_data().await["presence"]["online"], false);
}

#[tokio::test]
async fn direct_messages_between_friends_are_stored_paged_and_pushed_to_both_sides() {
    let server = TestServer::start().await;
    let alice = server.sign_up("dmalice").await;
    let bob = server.sign_up("dmbob").await;
    let eve = server.sign_up("dmeve").await;
    alice.befriend(&bob).await;

    let alice_ws = alice.ws().await;
    let mut alices = alice_ws.subscribe(MESSAGES, json!({})).await;
    let bob_ws = bob.ws().await;
    let mut bobs = bob_ws.subscribe(MESSAGES, json!({})).await;
    let mut bob_notes = bob_ws.subscribe(NOTIFICATIONS, json!({})).await;
    let mut eves = eve.ws().await.subscribe(MESSAGES, json!({})).await;
    server.wait_for_subscriptions(4).await;

    let send = "mutation($to: ID!, $body: String!) { sendDirectMessage(to: $to, body: $body) { id body sender { id } recipient { id } createdAt } }";
    let sent = alice
        .client
        .gql(send, json!({ "to": bob.id, "body": "hello bob" }))
        .await;
    let message = sent.data()["sendDirectMessage"].clone();
    assert_eq!(message["sender"]["id"], alice.id.as_str());
    for sub in [&mut alices, &mut bobs] {
        let got = sub.next_data().await;
        assert_eq!(got["directMessages"]["id"], message["id"]);
        assert_eq!(got["directMessages"]["body"], "hello bob");
    }
    let note = bob_notes.next_data().await;
    assert_eq!(note["notifications"]["code"], "DIRECT_MESSAGE");
    eves.assert_silent(Duration::from_millis(200)).await;

    // History: newest first, paged with `before`.
    for i in 1..=4 {
        let (from, to) = if i % 2 == 0 {
            (&bob, &alice)
        } else {
            (&alice, &bob)
        };
        from.client
            .gql(send, json!({ "to": to.id, "body": format!("message {i}") }))
            .await
            .data();
    }
    let history = "query($with: ID!, $before: String) { directMessages(with: $with, first: 3, before: $before) { edges { cursor node { body } } pageInfo { hasNextPage endCursor } } }";
    let page = bob.client.gql(history, json!({ "with": alice.id })).await;
    let conn = &page.data()["directMessages"];
    let bodies: Vec<&str> = conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["message 4", "message 3", "message 2"]);
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    let before = conn["pageInfo"]["endCursor"].as_str().unwrap();
    let page = alice
        .client
        .gql(history, json!({ "with": bob.id, "before": before }))
        .await;
    let conn = &page.data()["directMessages"];
    let bodies: Vec<&str> = conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["message 1", "hello bob"]);
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    // Someone else's conversation is not visible.
    let page = eve.client.gql(history, json!({ "with": alice.id })).await;
    assert!(
        page.data()["directMessages"]["edges"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Bad input, strangers, and the end of a friendship.
    let code = |res: amity_e2e::Response| res.code();
    assert_eq!(
        code(
            alice
                .client
                .gql(send, json!({ "to": bob.id, "body": "" }))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        code(
            alice
                .client
                .gql(send, json!({ "to": bob.id, "body": "x".repeat(4001) }))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert!(
        alice
            .client
            .gql(send, json!({ "to": bob.id, "body": "é".repeat(4000) }))
            .await
            .body
            .get("errors")
            .is_none()
    );
    assert_eq!(
        code(
            alice
                .client
                .gql(send, json!({ "to": "not-an-id", "body": "hi" }))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        code(
            alice
                .client
                .gql(send, json!({ "to": alice.id, "body": "hi" }))
                .await
        ),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        code(
            alice
                .client
                .gql(
                    send,
                    json!({ "to": "0190a0a0-0000-7000-8000-000000000000", "body": "hi" })
                )
                .await
        ),
        "NOT_FOUND"
    );
    assert_eq!(
        code(
            eve.client
                .gql(send, json!({ "to": alice.id, "body": "hi" }))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            bob.client
                .gql(history, json!({ "with": alice.id, "before": "bogus" }))
                .await
        ),
        "BAD_USER_INPUT"
    );
    bob.block(&[&alice.id]).await.data();
    assert_eq!(
        code(
            alice
                .client
                .gql(send, json!({ "to": bob.id, "body": "still there?" }))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            bob.client
                .gql(send, json!({ "to": alice.id, "body": "bye" }))
                .await
        ),
        "FORBIDDEN"
    );
}

/// Two nodes on one PostgreSQL database; on SQLite (one process, one node) there is nothing
/// to cross, so these tests are ignored unless asked for, and fail if asked for on SQLite.
mod two_nodes {
    use super::*;

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set AMITY_TEST_DATABASE_URL and pass --include-ignored (.ci/run does)"]
    async fn notifications_presence_and_messages_cross_nodes() {
        let server = TestServer::start().await;
        server.require_postgres();
        let node2 = server.start_node().await;
        let alice = server.sign_up("xnalice").await; // on node 1
        let bob = node2.as_user(&server.sign_up("xnbob").await); // on node 2

        // A friend request made through node 2 reaches a subscriber on node 1.
        let alice_ws = alice.ws().await;
        let mut alice_notes = alice_ws.subscribe(NOTIFICATIONS, json!({})).await;
        let mut alice_messages = alice_ws.subscribe(MESSAGES, json!({})).await;
        server.wait_for_subscriptions(2).await;
        bob.add(&[&alice.id]).await.data();
        let n = alice_notes.next_data().await;
        assert_eq!(n["notifications"]["code"], "FRIEND_REQUEST");
        alice.add(&[&bob.id]).await.data();

        // A user connected to node 1 is seen online by a friend on node 2, live and by query.
        let bob_ws = bob.ws().await;
        let mut bob_presence = bob_ws.subscribe(PRESENCE, json!({})).await;
        node2.wait_for_subscriptions(1).await;
        let carol = server.sign_up("xncarol").await;
        carol.befriend(&bob).await;
        let carol_ws = carol.ws().await;
        let event = bob_presence.next_data().await;
        assert_eq!(event["presence"]["user"]["handle"], "xncarol");
        assert_eq!(event["presence"]["online"], true);
        assert_eq!(online_as_seen_by(&bob, &alice).await["online"], true);
        carol_ws.close().await;
        assert_eq!(bob_presence.next_data().await["presence"]["online"], false);

        // A direct message crosses nodes.
        bob.client
            .gql(
                "mutation($to: ID!) { sendDirectMessage(to: $to, body: \"across\") { id } }",
                json!({ "to": alice.id }),
            )
            .await
            .data();
        assert_eq!(
            alice_messages.next_data().await["directMessages"]["body"],
            "across"
        );
        // The lag of events crossing nodes is measured where they arrive.
        let metrics = server.metrics().await;
        let crossed =
            amity_e2e::metric_sample(&metrics, "amity_bus_delivery_lag_seconds_count", &[]);
        assert!(crossed.is_some_and(|n| n >= 1.0), "{metrics}");

        // Kill both nodes' LISTEN connections: they reconnect and delivery resumes.
        let killed =
            amity_persistence::testing::terminate_backends(server.database_url(), "amity-listener")
                .await
                .unwrap();
        assert!(killed >= 2, "killed {killed} listeners");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut delivered = false;
        let mut i = 0;
        while tokio::time::Instant::now() < deadline && !delivered {
            i += 1;
            bob.client
                .gql(
                    "mutation($to: ID!, $b: String!) { sendDirectMessage(to: $to, body: $b) { id } }",
                    json!({ "to": alice.id, "b": format!("after reconnect {i}") }),
                )
                .await
                .data();
            delivered =
                tokio::time::timeout(Duration::from_millis(700), alice_messages.next_data())
                    .await
                    .is_ok();
        }
        assert!(
            delivered,
            "no delivery across nodes after the listeners were killed"
        );
        node2.stop().await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: set AMITY_TEST_DATABASE_URL and pass --include-ignored (.ci/run does)"]
    async fn a_stopped_node_and_a_dead_node_both_leave_their_users_offline() {
        let server = TestServer::start_with(|s| {
            s.presence_heartbeat_ms = 200;
            s.presence_ttl_ms = 1000;
        })
        .await;
        server.require_postgres();
        let alice = server.sign_up("deadalice").await;
        let bob = server.sign_up("deadbob").await;
        alice.befriend(&bob).await;
        let bob_ws = bob.ws().await;
        let mut bobs = bob_ws.subscribe(PRESENCE, json!({})).await;
        server.wait_for_subscriptions(1).await;

        // Graceful stop: node 2 records alice offline before it goes.
        let node2 = server.start_node().await;
        let alice2 = node2.as_user(&alice);
        let _ws = alice2.ws().await;
        assert_eq!(bobs.next_data().await["presence"]["online"], true);
        node2.stop().await;
        assert_eq!(bobs.next_data().await["presence"]["online"], false);

        // Crash: node 3 stops heartbeating; node 1 sweeps it within the ttl.
        let node3 = server.start_node().await;
        let alice3 = node3.as_user(&alice);
        let ws = alice3.ws().await;
        assert_eq!(bobs.next_data().await["presence"]["online"], true);
        node3.crash().await;
        ws.kill();
        let event = bobs.next_data().await;
        assert_eq!(event["presence"]["online"], false);
        assert!(event["presence"]["lastSeenAt"].is_string());
        assert_eq!(online_as_seen_by(&bob, &alice).await["online"], false);
    }
}
