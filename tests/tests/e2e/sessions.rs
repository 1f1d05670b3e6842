//! Sessions (SPEC 12.3): refresh tokens that rotate, reuse detection, listing and ending
//! sessions, sign-out, and websockets that end with their session.

use std::time::Duration;

use amity_e2e::ws::{closed_with, signed_in_raw, stays_open};
use amity_e2e::{Client, Response, TestServer, User};
use serde_json::{Value, json};

const ME: &str = "{ me { id handle } }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { token expiresAt refreshToken refreshExpiresAt user { id handle } } }";
const SIGN_IN: &str = "mutation($h: String!, $p: String!, $d: String) { signIn(handle: $h, password: $p, deviceLabel: $d) { token refreshToken } }";
const SESSIONS: &str = "{ sessions { id createdAt lastUsedAt expiresAt current deviceLabel } }";

/// Signs `handle` in again (another session), labelled `label`: a client with the access
/// token, and the refresh token.
async fn sign_in(server: &TestServer, handle: &str, label: Option<&str>) -> (Client, String) {
    let res = server
        .anonymous()
        .gql(
            SIGN_IN,
            json!({ "h": handle, "p": "password-1", "d": label }),
        )
        .await;
    let data = &res.data()["signIn"];
    (
        server
            .anonymous()
            .with_token(data["token"].as_str().unwrap().to_owned()),
        data["refreshToken"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(server: &TestServer, token: &str) -> Response {
    server.anonymous().gql(REFRESH, json!({ "t": token })).await
}

/// The new access client, refresh token and whole answer of a successful refresh.
fn pair(server: &TestServer, res: &Response) -> (Client, String, Value) {
    let data = res.data()["refreshSession"].clone();
    (
        server
            .anonymous()
            .with_token(data["token"].as_str().unwrap().to_owned()),
        data["refreshToken"].as_str().unwrap().to_owned(),
        data,
    )
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_its_session_only() {
    let server = TestServer::start().await;
    let user = server.sign_up("rotator").await;
    let (phone, _) = sign_in(&server, "rotator", Some("phone")).await;

    // A refresh gives a new pair for the same session; the old access token still works.
    let first = refresh(&server, &user.refresh_token).await;
    let (renewed, next, data) = pair(&server, &first);
    assert_eq!(data["user"]["handle"], "rotator");
    assert_ne!(next, user.refresh_token);
    assert!(data["refreshExpiresAt"].as_str().is_some());
    assert_eq!(
        renewed.gql(ME, json!({})).await.data()["me"]["handle"],
        "rotator"
    );
    assert_eq!(
        user.client.gql(ME, json!({})).await.data()["me"]["handle"],
        "rotator"
    );

    // The stolen first token comes back: the whole session ends, its newest access and
    // refresh tokens included.
    let reuse = refresh(&server, &user.refresh_token).await;
    assert_eq!(reuse.code(), "UNAUTHENTICATED");
    assert!(
        reuse.message().contains("already used"),
        "{}",
        reuse.message()
    );
    for client in [&renewed, &user.client] {
        let res = client.gql(ME, json!({})).await;
        assert_eq!(res.code(), "UNAUTHENTICATED");
        assert!(
            res.message().contains("session has ended"),
            "{}",
            res.message()
        );
    }
    assert_eq!(refresh(&server, &next).await.code(), "UNAUTHENTICATED");
    // The user's other session is untouched.
    assert_eq!(
        phone.gql(ME, json!({})).await.data()["me"]["handle"],
        "rotator"
    );

    // Garbage and oversized tokens are refused the same way, without a server error.
    for bad in ["", "nope", &"x".repeat(10_000)] {
        assert_eq!(refresh(&server, bad).await.code(), "UNAUTHENTICATED");
    }
    server.stop().await;
}

#[tokio::test]
async fn sessions_are_listed_ended_one_by_one_or_everywhere() {
    let server = TestServer::start().await;
    let user = server.sign_up("lister").await;
    let (tablet, _) = sign_in(&server, "lister", Some("  Tablet  ")).await;
    let (laptop, _) = sign_in(&server, "lister", None).await;

    let list = user.client.gql(SESSIONS, json!({})).await.data()["sessions"].clone();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(list.iter().any(|s| s["deviceLabel"] == "Tablet"));
    let tablet_id = list.iter().find(|s| s["deviceLabel"] == "Tablet").unwrap()["id"].clone();

    // Ending another session of mine; ending it twice or someone else's is false.
    let end = "mutation($id: ID!) { endSession(id: $id) }";
    assert_eq!(
        user.client
            .gql(end, json!({ "id": tablet_id }))
            .await
            .data()["endSession"],
        true
    );
    assert_eq!(tablet.gql(ME, json!({})).await.code(), "UNAUTHENTICATED");
    assert_eq!(
        user.client
            .gql(end, json!({ "id": tablet_id }))
            .await
            .data()["endSession"],
        false
    );
    let other = server.sign_up("notmine").await;
    assert_eq!(
        other
            .client
            .gql(end, json!({ "id": tablet_id }))
            .await
            .data()["endSession"],
        false
    );
    let bad = user.client.gql(end, json!({ "id": "not-an-id" })).await;
    assert_eq!(bad.code(), "BAD_USER_INPUT");

    // A device label over 64 characters is refused before anything happens.
    let long = server
        .anonymous()
        .gql(
            SIGN_IN,
            json!({ "h": "lister", "p": "password-1", "d": "x".repeat(65) }),
        )
        .await;
    assert_eq!(long.code(), "BAD_USER_INPUT");

    // signOut ends only mine; signOutEverywhere ends the rest.
    assert_eq!(
        laptop.gql("mutation { signOut }", json!({})).await.data()["signOut"],
        true
    );
    assert_eq!(laptop.gql(ME, json!({})).await.code(), "UNAUTHENTICATED");
    assert_eq!(
        user.client.gql(ME, json!({})).await.data()["me"]["handle"],
        "lister"
    );
    let (again, _) = sign_in(&server, "lister", None).await;
    assert_eq!(
        user.client
            .gql("mutation { signOutEverywhere }", json!({}))
            .await
            .data()["signOutEverywhere"],
        true
    );
    for client in [&user.client, &again] {
        assert_eq!(client.gql(ME, json!({})).await.code(), "UNAUTHENTICATED");
    }
    assert_eq!(
        refresh(&server, &user.refresh_token).await.code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        server.anonymous().gql(SESSIONS, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    server.stop().await;
}

#[tokio::test]
async fn too_many_sign_ins_end_the_least_recently_used_session() {
    let server = TestServer::start_with(|s| s.max_sessions_per_user = 2).await;
    let first = server.sign_up("manysessions").await;
    let (second, _) = sign_in(&server, "manysessions", None).await;
    let (third, _) = sign_in(&server, "manysessions", None).await;
    assert_eq!(
        first.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    for client in [&second, &third] {
        assert_eq!(
            client.gql(ME, json!({})).await.data()["me"]["handle"],
            "manysessions"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_websocket_survives_its_access_token_and_closes_on_sign_out() {
    let server = TestServer::start_with(|s| s.token_ttl_secs = 1).await;
    let user = server.sign_up("wssession").await;
    let mut raw = signed_in_raw(&server.ws_url(), &user.token).await;
    stays_open(&mut raw, Duration::from_millis(1500)).await;
    // The access token has expired; a refresh gives a new one, which signs the session out.
    assert_eq!(
        user.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    let (client, _, _) = pair(&server, &refresh(&server, &user.refresh_token).await);
    assert_eq!(
        client.gql("mutation { signOut }", json!({})).await.data()["signOut"],
        true
    );
    let (code, reason) = closed_with(&mut raw, Duration::from_secs(2)).await;
    assert_eq!(code, 4401, "{reason}");
    server.stop().await;
}

#[tokio::test]
async fn a_reused_refresh_token_closes_the_sessions_websockets() {
    let server = TestServer::start().await;
    let user = server.sign_up("wsreuse").await;
    let phone = server.sign_in_again(&user).await;
    let mut stolen = signed_in_raw(&server.ws_url(), &user.token).await;
    let mut other = signed_in_raw(&server.ws_url(), &phone.token).await;
    refresh(&server, &user.refresh_token).await.data();
    assert_eq!(
        refresh(&server, &user.refresh_token).await.code(),
        "UNAUTHENTICATED"
    );
    let (code, _) = closed_with(&mut stolen, Duration::from_secs(2)).await;
    assert_eq!(code, 4401);
    stays_open(&mut other, Duration::from_millis(300)).await;
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set AMITY_TEST_DATABASE_URL and pass --include-ignored (.ci/run does)"]
async fn signing_out_on_node_1_closes_the_sessions_socket_on_node_2() {
    let server = TestServer::start().await;
    server.require_postgres();
    let node2 = server.start_node().await;
    let user = server.sign_up("xsignout").await;
    let on2: User = node2.as_user(&user);
    assert_eq!(
        on2.client.gql(ME, json!({})).await.data()["me"]["handle"],
        "xsignout"
    );
    let mut raw = signed_in_raw(&node2.ws_url(), &user.token).await;
    user.client
        .gql("mutation { signOut }", json!({}))
        .await
        .data();
    let (code, _) = closed_with(&mut raw, Duration::from_secs(2)).await;
    assert_eq!(code, 4401);
    assert_eq!(
        on2.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    server.stop().await;
}
