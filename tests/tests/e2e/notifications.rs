//! Persistent notifications: what is sent, paging with a kept cursor, read and delete.

use amity_e2e::TestServer;
use serde_json::json;

const LIST: &str = "query($after: String, $first: Int) {
    notifications(first: $first, after: $after) {
        edges { cursor node { id code subject content sender { id handle online } createdAt readAt } }
        pageInfo { hasNextPage endCursor }
    }
}";

#[tokio::test]
async fn friend_events_are_notified_once_and_pages_resume_from_a_kept_cursor() {
    let server = TestServer::start().await;
    let a = server.sign_up("nina").await;
    let b = server.sign_up("omar").await;

    a.add(&[&b.id]).await.data();
    a.add(&[&b.id]).await.data(); // no second notification
    let res = b.client.gql(LIST, json!({})).await;
    let conn = &res.data()["notifications"];
    let edges = conn["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1);
    let node = &edges[0]["node"];
    assert_eq!(node["code"], "FRIEND_REQUEST");
    assert_eq!(node["sender"]["id"], a.id.as_str());
    assert_eq!(
        node["sender"]["online"],
        serde_json::Value::Null,
        "not friends yet"
    );
    assert_eq!(node["content"]["userId"], a.id.as_str());
    assert!(node["subject"].as_str().unwrap().contains("nina"));
    assert_eq!(node["readAt"], serde_json::Value::Null);
    let kept = conn["pageInfo"]["endCursor"].as_str().unwrap().to_owned();

    // Nothing new: the same cursor comes back, so the client can always keep endCursor.
    let res = b.client.gql(LIST, json!({ "after": kept })).await;
    assert!(
        res.data()["notifications"]["edges"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        res.data()["notifications"]["pageInfo"]["endCursor"],
        kept.as_str()
    );

    // Accept, unfriend: each side gets exactly what the spec says.
    b.add(&[&a.id]).await.data();
    assert_eq!(a.notification_codes().await, ["FRIEND_ACCEPTED"]);
    a.remove(&[&b.id]).await.data();
    let res = b.client.gql(LIST, json!({ "after": kept })).await;
    let codes: Vec<&str> = res.data()["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["FRIEND_REMOVED"],
        "only what came after the kept cursor"
    );
    server.stop().await;
}

#[tokio::test]
async fn paging_oldest_first_and_marking_and_deleting_only_ones_own() {
    let server = TestServer::start().await;
    let target = server.sign_up("popular").await;
    let mut senders = Vec::new();
    for i in 0..5 {
        let s = server.sign_up(&format!("fan{i}")).await;
        s.add(&[&target.id]).await.data();
        senders.push(s);
    }
    let page1 = target.client.gql(LIST, json!({ "first": 3 })).await;
    let conn = &page1.data()["notifications"];
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    let handles: Vec<&str> = conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["sender"]["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles, ["fan0", "fan1", "fan2"], "oldest first");
    let after = conn["pageInfo"]["endCursor"].as_str().unwrap();
    let page2 = target
        .client
        .gql(LIST, json!({ "first": 3, "after": after }))
        .await;
    let rest = page2.data()["notifications"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rest.len(), 2);
    assert_eq!(
        page2.data()["notifications"]["pageInfo"]["hasNextPage"],
        false
    );

    let ids: Vec<String> = conn["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    // Someone else cannot mark or delete them.
    let other = &senders[0];
    let res = other
        .client
        .gql(
            "mutation($ids: [ID!]!) { deleteNotifications(ids: $ids) }",
            json!({ "ids": ids }),
        )
        .await;
    assert_eq!(res.data()["deleteNotifications"], true);
    assert_eq!(target.notification_codes().await.len(), 5);

    let res = target
        .client
        .gql(
            "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }",
            json!({ "ids": &ids[..2] }),
        )
        .await;
    assert_eq!(res.data()["markNotificationsRead"], true);
    let res = target.client.gql(LIST, json!({})).await;
    let read: Vec<bool> = res.data()["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| !e["node"]["readAt"].is_null())
        .collect();
    assert_eq!(read, [true, true, false, false, false]);

    let res = target
        .client
        .gql(
            "mutation($ids: [ID!]!) { deleteNotifications(ids: $ids) }",
            json!({ "ids": &ids }),
        )
        .await;
    assert_eq!(res.data()["deleteNotifications"], true);
    assert_eq!(target.notification_codes().await.len(), 2);

    let res = target
        .client
        .gql(
            "mutation { markNotificationsRead(ids: [\"nope\"]) }",
            json!({}),
        )
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    server.stop().await;
}
