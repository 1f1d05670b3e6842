//! "People you may know" through the API: ranking, mutual friends, and everyone left out.

use amity_domain::accounts::Role;
use amity_e2e::{TestServer, User};
use serde_json::json;

const RECOMMENDATIONS: &str = "{ friendRecommendations(first: 10) {
    user { handle } mutualFriendCount mutualFriends(first: 5) { handle } } }";

async fn recommended(user: &User) -> Vec<(String, i64, Vec<String>)> {
    let res = user.client.gql(RECOMMENDATIONS, json!({})).await;
    res.data()["friendRecommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut mutual: Vec<String> = r["mutualFriends"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["handle"].as_str().unwrap().to_owned())
                .collect();
            mutual.sort();
            (
                r["user"]["handle"].as_str().unwrap().to_owned(),
                r["mutualFriendCount"].as_i64().unwrap(),
                mutual,
            )
        })
        .collect()
}

fn handles(found: &[(String, i64, Vec<String>)]) -> Vec<&str> {
    found.iter().map(|(h, _, _)| h.as_str()).collect()
}

#[tokio::test]
async fn friends_of_friends_are_ranked_by_mutual_friends_and_the_excluded_stay_out() {
    let server = TestServer::start().await;
    let mut users = std::collections::HashMap::new();
    for name in [
        "rec_u", "rec_a1", "rec_a2", "rec_a3", "rec_b1", "rec_b2", "rec_b3",
    ] {
        users.insert(name, server.sign_up(name).await);
    }
    let u = |n: &str| users[n].clone();
    // An empty graph gives an empty list.
    assert!(recommended(&u("rec_u")).await.is_empty());
    for (a, b) in [
        ("rec_u", "rec_a1"),
        ("rec_u", "rec_b1"),
        ("rec_u", "rec_b3"),
        ("rec_a1", "rec_a2"),
        ("rec_a1", "rec_a3"),
        ("rec_b1", "rec_b2"),
        ("rec_b1", "rec_b3"),
        ("rec_a2", "rec_b1"),
    ] {
        u(a).befriend(&u(b)).await;
    }
    let found = recommended(&u("rec_u")).await;
    assert_eq!(
        found[0],
        (
            "rec_a2".to_owned(),
            2,
            vec!["rec_a1".to_owned(), "rec_b1".to_owned()]
        )
    );
    let mut rest: Vec<(String, i64, Vec<String>)> = found[1..].to_vec();
    rest.sort();
    assert_eq!(
        rest,
        [
            ("rec_a3".to_owned(), 1, vec!["rec_a1".to_owned()]),
            ("rec_b2".to_owned(), 1, vec!["rec_b1".to_owned()]),
        ]
    );
    // Ties break by the most recent friendship: B1-B2 was made after A1-A3.
    assert_eq!(handles(&found), ["rec_a2", "rec_b2", "rec_a3"]);

    // User.mutualFriendCount and mutualFriends on any user.
    let res = u("rec_u")
        .client
        .gql(
            "{ user(handle: \"rec_a2\") { mutualFriendCount mutualFriends { handle } } }",
            json!({}),
        )
        .await;
    assert_eq!(res.data()["user"]["mutualFriendCount"], 2);

    // A pending request, a block, being blocked and a dismissal each remove one candidate.
    u("rec_u").add(&[&u("rec_a3").id]).await.data();
    assert_eq!(
        handles(&recommended(&u("rec_u")).await),
        ["rec_a2", "rec_b2"]
    );
    u("rec_b2").block(&[&u("rec_u").id]).await.data();
    assert_eq!(handles(&recommended(&u("rec_u")).await), ["rec_a2"]);
    let res = u("rec_u")
        .client
        .gql(
            "mutation($id: ID!) { dismissRecommendation(userId: $id) }",
            json!({ "id": u("rec_a2").id }),
        )
        .await;
    assert_eq!(res.data()["dismissRecommendation"], true);
    assert!(recommended(&u("rec_u")).await.is_empty());
    u("rec_u").remove(&[&u("rec_a3").id]).await.data(); // cancel the request
    assert_eq!(handles(&recommended(&u("rec_u")).await), ["rec_a3"]);
    u("rec_u").block(&[&u("rec_a3").id]).await.data();
    assert!(recommended(&u("rec_u")).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn banned_users_and_bad_arguments() {
    let server = TestServer::start().await;
    let me = server.sign_up("recb_me").await;
    let friend = server.sign_up("recb_friend").await;
    let other = server.sign_up("recb_other").await;
    let moderator = server.sign_up_as("recb_mod", Role::Moderator).await;
    me.befriend(&friend).await;
    friend.befriend(&other).await;
    assert_eq!(handles(&recommended(&me).await), ["recb_other"]);
    moderator
        .client
        .gql(
            "mutation($ids: [ID!]) { banUsers(ids: $ids) }",
            json!({ "ids": [other.id] }),
        )
        .await
        .data();
    assert!(recommended(&me).await.is_empty());

    for first in [0, 101] {
        let res = me
            .client
            .gql(
                "query($f: Int) { friendRecommendations(first: $f) { mutualFriendCount } }",
                json!({ "f": first }),
            )
            .await;
        assert_eq!(res.code(), "BAD_USER_INPUT");
    }
    for (id, code) in [
        (me.id.clone(), "BAD_USER_INPUT"),
        (other.id.clone(), "NOT_FOUND"),
        ("nope".to_owned(), "BAD_USER_INPUT"),
    ] {
        let res = me
            .client
            .gql(
                "mutation($id: ID!) { dismissRecommendation(userId: $id) }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(res.code(), code, "{id}");
    }
    server.stop().await;
}

#[tokio::test]
async fn mutual_friends_beyond_the_preloaded_few_are_loaded_in_order() {
    let server = TestServer::start().await;
    let me = server.sign_up("mut_me").await;
    let them = server.sign_up("mut_them").await;
    let mut shared = Vec::new();
    for i in 0..5 {
        let friend = server.sign_up(&format!("mut_f{i}")).await;
        me.befriend(&friend).await;
        friend.befriend(&them).await;
        shared.push(format!("mut_f{i}"));
    }
    // My most recent friendships first.
    shared.reverse();
    let page = |first: i64| {
        let me = me.clone();
        async move {
            me.client
                .gql(
                    "query($n: Int) { friendRecommendations { user { handle }
                       mutualFriendCount mutualFriends(first: $n) { handle online } } }",
                    json!({ "n": first }),
                )
                .await
        }
    };
    for first in [0, 2, 3, 4, 5, 100] {
        let res = page(first).await;
        let found = &res.data()["friendRecommendations"][0];
        assert_eq!(found["user"]["handle"], "mut_them");
        assert_eq!(found["mutualFriendCount"], 5);
        let listed: Vec<&str> = found["mutualFriends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["handle"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = shared
            .iter()
            .take(first as usize)
            .map(String::as_str)
            .collect();
        assert_eq!(listed, expected, "first: {first}");
        // Mutual friends are my friends: their presence shows.
        assert!(
            found["mutualFriends"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["online"].is_boolean())
        );
    }
    for first in [-1, 101] {
        assert_eq!(page(first).await.code(), "BAD_USER_INPUT", "first: {first}");
    }
    server.stop().await;
}
