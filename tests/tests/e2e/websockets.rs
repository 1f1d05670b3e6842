//! The websocket endpoint itself: both protocols, authentication at init, refusals with the
//! protocol's close codes, session expiry, keep-alive and init timeouts.

use std::time::Duration;

use amity_e2e::TestServer;
use amity_e2e::ws::{
    WsClient, close_code, closed_with, connect_raw, next_frame, refused_init, signed_in_raw,
    stays_open,
};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn connection_init_without_a_valid_token_is_refused_with_4403() {
    let server = TestServer::start().await;
    let user = server.sign_up("wsrefused").await;

    for payload in [
        json!({}),
        json!({ "Authorization": "Bearer not-a-token" }),
        json!({ "Authorization": format!("Basic {}", user.token) }),
        json!({ "token": format!("{}x", user.token) }),
    ] {
        let (code, reason) = refused_init(&server.ws_url(), payload.clone()).await;
        assert_eq!(code, 4403, "{payload}: {reason}");
        assert!(!reason.is_empty());
    }

    // A subscribe before the init is refused too.
    let mut raw = connect_raw(&server.ws_url(), "graphql-transport-ws").await;
    raw.send(Message::text(
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { notifications { id } }"}})
            .to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&next_frame(&mut raw).await), 4401);
}

#[tokio::test]
async fn every_accepted_token_form_opens_a_connection() {
    let server = TestServer::start().await;
    let user = server.sign_up("wsforms").await;
    for payload in [
        json!({ "Authorization": format!("Bearer {}", user.token) }),
        json!({ "authorization": format!("bearer {}", user.token) }),
        json!({ "token": user.token }),
    ] {
        let ws = WsClient::connect(&server.ws_url(), payload.clone())
            .await
            .unwrap_or_else(|e| panic!("{payload}: {e}"));
        let mut sub = ws
            .subscribe("subscription { notifications { id } }", json!({}))
            .await;
        sub.assert_silent(Duration::from_millis(100)).await;
        ws.close().await;
    }
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_and_refuses_like_its_clients_expect() {
    let server = TestServer::start().await;
    let alice = server.sign_up("legacyalice").await;
    let bob = server.sign_up("legacybob").await;

    // Refused: a connection_error message, then the socket closes.
    let mut raw = connect_raw(&server.ws_url(), "graphql-ws").await;
    raw.send(Message::text(
        json!({"type": "connection_init", "payload": {}}).to_string(),
    ))
    .await
    .unwrap();
    let refused: Value =
        serde_json::from_str(next_frame(&mut raw).await.to_text().unwrap()).unwrap();
    assert_eq!(refused["type"], "connection_error");

    // Accepted: ack, start, data.
    let mut raw = connect_raw(&server.ws_url(), "graphql-ws").await;
    raw.send(Message::text(
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", alice.token)}})
            .to_string(),
    ))
    .await
    .unwrap();
    let ack: Value = serde_json::from_str(next_frame(&mut raw).await.to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack");
    raw.send(Message::text(
        json!({"id": "1", "type": "start", "payload": {"query": "subscription { notifications { code sender { handle } } }"}})
            .to_string(),
    ))
    .await
    .unwrap();
    server.wait_for_subscriptions(1).await;
    bob.add(&[&alice.id]).await.data();
    let data: Value = loop {
        let frame: Value =
            serde_json::from_str(next_frame(&mut raw).await.to_text().unwrap()).unwrap();
        if frame["type"] != "ka" {
            break frame;
        }
    };
    assert_eq!(data["type"], "data", "{data}");
    assert_eq!(data["id"], "1");
    assert_eq!(
        data["payload"]["data"]["notifications"]["code"],
        "FRIEND_REQUEST"
    );
    assert_eq!(
        data["payload"]["data"]["notifications"]["sender"]["handle"],
        "legacybob"
    );
}

#[tokio::test]
async fn a_connection_outlives_its_access_token_but_not_its_session() {
    // Access tokens last 1 s, sessions 3 s past their last refresh.
    let server = TestServer::start_with(|s| {
        s.token_ttl_secs = 1;
        s.refresh_token_ttl_secs = 3;
    })
    .await;
    let user = server.sign_up("wsexpiry").await;
    let mut raw = signed_in_raw(&server.ws_url(), &user.token).await;
    // Past the access token's expiry the connection stays (the session lives)...
    stays_open(&mut raw, Duration::from_millis(1800)).await;
    assert_eq!(
        user.client.gql("{ me { id } }", json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    // ...and closes with 4401 when the session runs out unrefreshed.
    let (code, reason) = closed_with(&mut raw, Duration::from_secs(4)).await;
    assert_eq!(code, 4401, "{reason}");
    assert!(reason.contains("session has ended"), "{reason}");
}

#[tokio::test]
async fn silent_peers_and_peers_that_never_init_are_dropped() {
    let server = TestServer::start_with(|s| {
        s.websocket_keepalive_ms = 200;
        s.websocket_init_timeout_ms = 300;
    })
    .await;
    let user = server.sign_up("wssilent").await;

    // No connection_init: 4408.
    let mut raw = connect_raw(&server.ws_url(), "graphql-transport-ws").await;
    assert_eq!(close_code(&next_frame(&mut raw).await), 4408);

    // Initialised, then stops reading (so it never answers the server's pings): dropped.
    let mut raw = connect_raw(&server.ws_url(), "graphql-transport-ws").await;
    raw.send(Message::text(
        json!({"type": "connection_init", "payload": {"token": user.token}}).to_string(),
    ))
    .await
    .unwrap();
    let ack: Value = serde_json::from_str(next_frame(&mut raw).await.to_text().unwrap()).unwrap();
    assert_eq!(ack["type"], "connection_ack");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Reading now finds the server's pings and then its close frame. The client answers each
    // ping it reads before reading on, and the server has already closed the socket: when two
    // or more pings are waiting, that answer can fail first (broken pipe or reset), which also
    // shows the server dropped the peer, only without letting us read the close code.
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), raw.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open");
        match next {
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(other) => {
                assert_eq!(close_code(&other), 3008);
                break;
            }
            Err(tokio_tungstenite::tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break;
            }
            Err(e) => panic!("expected the server to drop the peer, got {e}"),
        }
    }

    // A peer that keeps reading answers pings automatically and stays connected.
    let ws = user.ws().await;
    let mut sub = ws
        .subscribe("subscription { notifications { id } }", json!({}))
        .await;
    sub.assert_silent(Duration::from_millis(1200)).await;
    assert!(!ws.is_closed());
}

#[tokio::test]
async fn get_without_an_upgrade_still_serves_graphiql() {
    let server = TestServer::start().await;
    let body = reqwest::get(format!("{}/graphql", server.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("GraphiQL") || body.contains("graphiql"));
}
