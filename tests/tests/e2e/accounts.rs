//! Sign-up, sign-in, sessions and user lookups.

use std::sync::Arc;

use amity_domain::time::{Clock, ManualClock, SystemClock};
use amity_e2e::TestServer;
use serde_json::json;

#[tokio::test]
async fn sign_up_sign_in_and_me() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    let res = anon
        .gql(
            r#"mutation { signUp(handle: "Ada_L", password: "analytical", displayName: " Ada ") {
                token expiresAt user { id handle displayName role createdAt online lastSeenAt } } }"#,
            json!({}),
        )
        .await;
    let user = &res.data()["signUp"]["user"];
    assert_eq!(user["handle"], "Ada_L");
    assert_eq!(user["displayName"], "Ada");
    assert_eq!(user["role"], "USER");
    assert_eq!(user["online"], false, "presence is visible to oneself");
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(uuid_version(&id), 7);

    // Handles are case-insensitive for sign-in and uniqueness.
    let res = anon
        .gql(
            r#"mutation { signIn(handle: "ada_l", password: "analytical") { token user { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(res.data()["signIn"]["user"]["id"], id.as_str());
    let token = res.data()["signIn"]["token"].as_str().unwrap().to_owned();
    let me = anon
        .clone()
        .with_token(token)
        .gql("{ me { id handle } }", json!({}))
        .await;
    assert_eq!(me.data()["me"]["id"], id.as_str());

    let dup = anon
        .gql(
            r#"mutation { signUp(handle: "ADA_l", password: "whatever1") { token } }"#,
            json!({}),
        )
        .await;
    assert_eq!(dup.code(), "BAD_USER_INPUT");
    assert!(dup.message().contains("already taken"), "{}", dup.message());
    server.stop().await;
}

fn uuid_version(id: &str) -> u32 {
    id.chars().nth(14).and_then(|c| c.to_digit(16)).unwrap()
}

#[tokio::test]
async fn bad_credentials_and_input_are_refused_clearly() {
    let server = TestServer::start().await;
    server.sign_up("grace").await;
    let anon = server.anonymous();
    for (query, code) in [
        (
            r#"mutation { signIn(handle: "grace", password: "wrong-password") { token } }"#,
            "UNAUTHENTICATED",
        ),
        (
            r#"mutation { signIn(handle: "nobody", password: "password-1") { token } }"#,
            "UNAUTHENTICATED",
        ),
        (
            r#"mutation { signUp(handle: "ab", password: "password-1") { token } }"#,
            "BAD_USER_INPUT",
        ),
        (
            r#"mutation { signUp(handle: "has space", password: "password-1") { token } }"#,
            "BAD_USER_INPUT",
        ),
        (
            r#"mutation { signUp(handle: "shortpw", password: "1234567") { token } }"#,
            "BAD_USER_INPUT",
        ),
        ("{ me { id } }", "UNAUTHENTICATED"),
    ] {
        let res = anon.gql(query, json!({})).await;
        assert_eq!(res.code(), code, "{query}: {}", res.body);
    }
    let wrong = anon
        .gql(
            r#"mutation { signIn(handle: "grace", password: "wrong-password") { token } }"#,
            json!({}),
        )
        .await;
    let unknown = anon
        .gql(
            r#"mutation { signIn(handle: "nobody", password: "password-1") { token } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        wrong.message(),
        unknown.message(),
        "sign-in must not reveal which handles exist"
    );

    let forged = anon
        .clone()
        .with_token("eyJhbGciOiJIUzI1NiJ9.e30.forged".into());
    let res = forged.gql("{ me { id } }", json!({})).await;
    assert_eq!(res.code(), "UNAUTHENTICATED");
    server.stop().await;
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let server = TestServer::start_with_clock(clock.clone(), |s| s.token_ttl_secs = 60).await;
    let user = server.sign_up("shortlived").await;
    clock.advance(chrono::Duration::seconds(59));
    assert!(user.client.gql("{ me { id } }", json!({})).await.body["errors"].is_null());
    clock.advance(chrono::Duration::seconds(1));
    let res = user.client.gql("{ me { id } }", json!({})).await;
    assert_eq!(res.code(), "UNAUTHENTICATED");
    assert!(res.message().contains("expired"), "{}", res.message());
    server.stop().await;
}

#[tokio::test]
async fn user_lookup_by_id_or_handle_with_presence_visibility() {
    let server = TestServer::start().await;
    let a = server.sign_up("alice").await;
    let b = server.sign_up("bob").await;
    let q =
        "query($id: ID, $h: String) { user(id: $id, handle: $h) { id handle online lastSeenAt } }";

    let by_handle = a.client.gql(q, json!({ "h": "BOB" })).await;
    assert_eq!(by_handle.data()["user"]["id"], b.id.as_str());
    assert_eq!(
        by_handle.data()["user"]["online"],
        serde_json::Value::Null,
        "strangers see no presence"
    );
    let by_id = a.client.gql(q, json!({ "id": b.id })).await;
    assert_eq!(by_id.data()["user"]["handle"], "bob");

    a.add(&[&b.id]).await.data();
    b.add(&[&a.id]).await.data();
    let friend = a.client.gql(q, json!({ "id": b.id })).await;
    assert_eq!(
        friend.data()["user"]["online"],
        false,
        "friends see presence"
    );

    let missing = a.client.gql(q, json!({ "h": "nobody" })).await;
    assert_eq!(missing.data()["user"], serde_json::Value::Null);
    for vars in [json!({}), json!({ "id": b.id, "h": "bob" })] {
        assert_eq!(a.client.gql(q, vars).await.code(), "BAD_USER_INPUT");
    }
    assert_eq!(
        a.client.gql(q, json!({ "id": "not-a-uuid" })).await.code(),
        "BAD_USER_INPUT"
    );
    server.stop().await;
}

#[tokio::test]
async fn health_readiness_and_graphiql() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let base = server.base_url();
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let page = http.get(format!("{base}/graphql")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("graphiql"));
    server.stop().await;
}

#[tokio::test]
async fn profiles_are_updated_kept_and_cleared() {
    let server = TestServer::start().await;
    let user = server.sign_up("profiled").await;
    let update = "mutation($n: String, $a: String, $m: JSON) {
        updateProfile(displayName: $n, avatarUrl: $a, metadata: $m) { displayName avatarUrl metadata } }";
    let res = user
        .client
        .gql(
            update,
            json!({ "n": "Pro", "a": "https://cdn.example.com/p.png", "m": { "level": 7 } }),
        )
        .await;
    let p = &res.data()["updateProfile"];
    assert_eq!(p["displayName"], "Pro");
    assert_eq!(p["avatarUrl"], "https://cdn.example.com/p.png");
    assert_eq!(p["metadata"]["level"], 7);

    // Omitted arguments are kept; null clears.
    let res = user
        .client
        .gql(
            "mutation { updateProfile(avatarUrl: null) { displayName avatarUrl metadata } }",
            json!({}),
        )
        .await;
    let p = &res.data()["updateProfile"];
    assert_eq!(p["displayName"], "Pro");
    assert_eq!(p["avatarUrl"], serde_json::Value::Null);
    assert_eq!(p["metadata"]["level"], 7);

    // Others see the profile.
    let other = server.sign_up("onlooker").await;
    let seen = other
        .client
        .gql(
            "{ user(handle: \"profiled\") { displayName metadata } }",
            json!({}),
        )
        .await;
    assert_eq!(seen.data()["user"]["displayName"], "Pro");

    for vars in [
        json!({ "a": "javascript:alert(1)" }),
        json!({ "n": "x".repeat(65) }),
        json!({ "m": [1, 2, 3] }),
        json!({ "m": { "blob": "y".repeat(17 * 1024) } }),
    ] {
        let res = user.client.gql(update, vars.clone()).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{vars}");
    }
    let me = user
        .client
        .gql("{ me { displayName metadata } }", json!({}))
        .await;
    assert_eq!(
        me.data()["me"]["metadata"]["level"],
        7,
        "a refused update changes nothing"
    );
    server.stop().await;
}
