//! Keyset paging of the friends list.

use std::collections::HashSet;

use amity_e2e::TestServer;
use serde_json::json;

const PAGE: &str = "query($after: String, $states: [FriendState!]) {
    friends(first: 10, after: $after, states: $states) {
        edges { cursor node { state updatedAt user { id handle } } }
        pageInfo { hasNextPage endCursor }
    }
}";

#[tokio::test]
async fn pages_through_25_edges_10_at_a_time() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let mut others = Vec::new();
    for i in 0..25 {
        others.push(server.sign_up(&format!("pal{i:02}")).await);
    }
    let handles: Vec<String> = others.iter().map(|u| u.handle.clone()).collect();
    owner
        .client
        .gql(
            "mutation($h: [String!]) { addFriends(handles: $h) { state } }",
            json!({ "h": handles }),
        )
        .await
        .data();
    // Ten accept, in order, so the list mixes FRIEND and INVITE_SENT edges with distinct times.
    for other in &others[..10] {
        other.add(&[&owner.id]).await.data();
    }

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let res = owner.client.gql(PAGE, json!({ "after": after })).await;
        let conn = res.data()["friends"].clone();
        let edges = conn["edges"].as_array().unwrap().clone();
        sizes.push(edges.len());
        seen.extend(edges.iter().map(|e| e["node"].clone()));
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            assert_eq!(
                conn["pageInfo"]["endCursor"],
                edges.last().unwrap()["cursor"]
            );
            break;
        }
        after = Some(conn["pageInfo"]["endCursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(sizes, [10, 10, 5]);
    let ids: HashSet<&str> = seen
        .iter()
        .map(|n| n["user"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 25, "no duplicates, nothing missing");

    // Order: FRIEND before INVITE_SENT; within a state the most recent change first.
    let states: Vec<&str> = seen.iter().map(|n| n["state"].as_str().unwrap()).collect();
    assert!(states[..10].iter().all(|s| *s == "FRIEND"), "{states:?}");
    assert!(
        states[10..].iter().all(|s| *s == "INVITE_SENT"),
        "{states:?}"
    );
    let friends: Vec<&str> = seen[..10]
        .iter()
        .map(|n| n["user"]["handle"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..10).rev().map(|i| format!("pal{i:02}")).collect();
    assert_eq!(friends, expected, "most recent acceptance first");
    // States filter.
    let res = owner
        .client
        .gql(PAGE, json!({ "states": ["INVITE_SENT"] }))
        .await;
    let edges = res.data()["friends"]["edges"].as_array().unwrap();
    assert!(edges.iter().all(|e| e["node"]["state"] == "INVITE_SENT"));
    assert_eq!(edges.len(), 10);
    server.stop().await;
}

#[tokio::test]
async fn cursors_are_stable_while_the_graph_changes_and_tamper_evident() {
    let server = TestServer::start().await;
    let owner = server.sign_up("keeper").await;
    let mut others = Vec::new();
    for i in 0..12 {
        let u = server.sign_up(&format!("mate{i:02}")).await;
        owner.add(&[&u.id]).await.data();
        others.push(u);
    }
    let first = owner.client.gql(PAGE, json!({})).await;
    let first_ids: Vec<String> = first.data()["friends"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["user"]["id"].as_str().unwrap().to_owned())
        .collect();
    let cursor = first.data()["friends"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    // A new edge sorts before the cursor: the next page is not shifted by it.
    let newcomer = server.sign_up("newcomer").await;
    owner.add(&[&newcomer.id]).await.data();
    let second = owner.client.gql(PAGE, json!({ "after": cursor })).await;
    let second_ids: Vec<String> = second.data()["friends"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["user"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(first_ids.len() + second_ids.len(), 12);
    assert!(second_ids.iter().all(|id| !first_ids.contains(id)));
    assert!(!second_ids.contains(&newcomer.id));

    // Tampered, foreign and garbage cursors.
    let mut tampered = cursor.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let notification_cursor = {
        others[0].add(&[&owner.id]).await.data();
        let res = owner
            .client
            .gql("{ notifications { pageInfo { endCursor } } }", json!({}))
            .await;
        res.data()["notifications"]["pageInfo"]["endCursor"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for bad in [
        tampered.as_str(),
        "garbage",
        "",
        notification_cursor.as_str(),
    ] {
        let res = owner.client.gql(PAGE, json!({ "after": bad })).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{bad}");
    }
    for first in [0, -1, 1001] {
        let res = owner
            .client
            .gql(
                "query($n: Int) { friends(first: $n) { edges { cursor } } }",
                json!({ "n": first }),
            )
            .await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "first: {first}");
    }
    let ok = owner
        .client
        .gql("{ friends(first: 1000) { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(ok.data()["friends"]["edges"].as_array().unwrap().len(), 13);
    server.stop().await;
}

/// Every field of a friends page, asked for plainly (the server's one-pass path).
const EVERY_FIELD_PLAIN: &str = "{ friends(first: 20) { edges { __typename cursor node {
    __typename state updatedAt metadata source
    user { __typename id handle displayName avatarUrl metadata role createdAt online lastSeenAt }
} } } }";

/// The same fields through fragments (async-graphql's own path).
const EVERY_FIELD_INDIRECT: &str = "{ friends(first: 20) { edges { ...Edge } } }
fragment Edge on FriendEdge { __typename cursor @include(if: true) node { ...Node } }
fragment Node on Friend {
    __typename state updatedAt metadata source
    user { ... on User { __typename id handle displayName avatarUrl metadata role createdAt
                         online lastSeenAt } }
}";

#[tokio::test]
async fn a_friends_page_reads_the_same_plainly_and_through_fragments() {
    let server = TestServer::start().await;
    let owner = server.sign_up("owner").await;
    let [online, offline, asked, asking, blocked] = [
        server.sign_up("online").await,
        server.sign_up("offline").await,
        server.sign_up("asked").await,
        server.sign_up("asking").await,
        server.sign_up("blocked").await,
    ];
    owner.befriend(&online).await;
    owner.befriend(&offline).await;
    owner.add(&[&asked.id]).await.data();
    asking.add(&[&owner.id]).await.data();
    owner.block(&[&blocked.id]).await.data();
    // Profile fields, edge metadata and presence, so that no field is null everywhere.
    online
        .client
        .gql(
            "mutation { updateProfile(displayName: \"On Line\", avatarUrl: \"https://a.example/x.png\", metadata: {level: 3}) { id } }",
            json!({}),
        )
        .await
        .data();
    owner
        .client
        .gql(
            "mutation($id: ID!) { setFriendMetadata(id: $id, metadata: {tag: \"raid\"}) { state } }",
            json!({ "id": offline.id }),
        )
        .await
        .data();
    // The owner hears presence, so the test can wait for the offline friend's last connection
    // to be recorded (after the grace period) instead of polling for it.
    let owner_ws = owner.ws().await;
    let mut presence = owner_ws
        .subscribe(
            "subscription { presence { user { handle } online } }",
            json!({}),
        )
        .await;
    server.wait_for_subscriptions(1).await;
    let _socket = online.ws().await;
    // The offline friend was online once, so has a last-seen time.
    drop(offline.ws().await);
    loop {
        let event = presence.next_data().await;
        if event["presence"]["user"]["handle"] == "offline" && event["presence"]["online"] == false
        {
            break;
        }
    }
    let plain = owner
        .client
        .gql(EVERY_FIELD_PLAIN, json!({}))
        .await
        .data()
        .clone();
    let indirect = owner
        .client
        .gql(EVERY_FIELD_INDIRECT, json!({}))
        .await
        .data()
        .clone();
    assert_eq!(plain, indirect);
    let edges = plain["friends"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 5);
    let states: Vec<&str> = edges
        .iter()
        .map(|e| e["node"]["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        [
            "FRIEND",
            "FRIEND",
            "INVITE_SENT",
            "INVITE_RECEIVED",
            "BLOCKED"
        ]
    );
    let by_handle = |h: &str| {
        edges
            .iter()
            .map(|e| &e["node"])
            .find(|n| n["user"]["handle"] == h)
            .unwrap()
    };
    assert_eq!(by_handle("online")["user"]["online"], true);
    assert_eq!(by_handle("online")["user"]["displayName"], "On Line");
    assert_eq!(by_handle("online")["user"]["metadata"], json!({"level": 3}));
    assert_eq!(by_handle("offline")["metadata"], json!({"tag": "raid"}));
    assert_eq!(by_handle("offline")["user"]["online"], false);
    assert!(by_handle("offline")["user"]["lastSeenAt"].is_string());
    // Presence is shown to friends only.
    assert!(by_handle("asked")["user"]["online"].is_null());
    assert_eq!(edges[0]["__typename"], "FriendEdge");
    assert_eq!(edges[0]["node"]["__typename"], "Friend");
    assert_eq!(edges[0]["node"]["user"]["__typename"], "User");
    assert_eq!(edges[0]["node"]["user"]["role"], "USER");
    server.stop().await;
}
