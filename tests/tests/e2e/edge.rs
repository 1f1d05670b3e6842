//! The public edge under attack: every request below is one an anonymous or hostile client can
//! send. Each must be refused with a clear error and a code, and the server must stay up and
//! keep answering others. (Timings are measured by the bench tool, never asserted here.)

use std::time::Duration;

use amity_e2e::TestServer;
use amity_e2e::ws::{
    Raw, WsClient, close_code, connect_raw, next_frame, next_json, refused_init, send_json,
};
use amity_graphql::edge::hostile::{aliases, fragment_bomb, list_literal, nested, object_literal};
use futures::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// `levels` objects nested as JSON text, `{"a":{"a":...}}`.
fn json_objects(levels: usize) -> String {
    nested("{\"a\":", "}", levels)
}

async fn healthy(server: &TestServer) {
    let res = reqwest::get(format!("{}/healthz", server.base_url()))
        .await
        .expect("healthz answers");
    assert_eq!(res.status(), 200);
}

/// A raw websocket with `protocol`, initialised with `token` and acknowledged.
async fn initialised(server: &TestServer, protocol: &str, token: &str) -> Raw {
    let mut ws = connect_raw(&server.ws_url(), protocol).await;
    send_json(&mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    let ack = next_json(&mut ws).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

/// Sends a graphql-transport-ws ping and waits for its pong: everything the server meant to
/// answer before it has been answered.
async fn round_trip(ws: &mut Raw) -> Vec<Value> {
    send_json(ws, json!({ "type": "ping" })).await;
    let mut before = Vec::new();
    loop {
        let message = next_json(ws).await;
        if message["type"] == "pong" {
            return before;
        }
        before.push(message);
    }
}

#[tokio::test]
async fn deeply_nested_values_are_refused_on_every_entry_point() {
    let server = TestServer::start().await;
    let user = server.sign_up("nester").await;
    let anonymous = server.anonymous();
    let lists = list_literal(1_600);
    let objects = object_literal(1_500);

    // HTTP, without a token and with one.
    for (client, query) in [(&anonymous, &lists), (&user.client, &objects)] {
        let res = client.gql(query, json!({})).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
        assert!(res.message().contains("nested too deep"), "{}", res.body);
    }
    // Variables: deeper than 64 but within what JSON parsing takes, and far deeper.
    let deep: Value = serde_json::from_str(&json_objects(100)).unwrap();
    let res = user
        .client
        .gql(
            "mutation($m: JSON) { updateProfile(metadata: $m) { id } }",
            json!({ "m": deep }),
        )
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
    assert!(res.message().contains("nested too deep"), "{}", res.body);
    let body = format!(
        r#"{{"query":"query($x: JSON) {{ __typename }}","variables":{{"x":{}}}}}"#,
        json_objects(5_000)
    );
    let res = anonymous.post_raw(body.into_bytes()).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.code(), "BAD_USER_INPUT");
    assert!(res.message().contains("nested too deep"), "{}", res.body);

    // A batch: the bad item is refused, the good one still runs.
    let res = anonymous
        .post_json(&json!([{ "query": "{ __typename }" }, { "query": lists }]))
        .await;
    let items = res.body.as_array().unwrap();
    assert_eq!(items[0]["data"]["__typename"], "Query");
    assert_eq!(
        items[1]["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );

    // graphql-transport-ws: an error for that operation; the connection lives on.
    let mut ws = initialised(&server, "graphql-transport-ws", &user.token).await;
    let subscription = format!(
        "subscription {{ notifications(after: {}) {{ id }} }}",
        nested("[", "]", 1_600)
    );
    send_json(
        &mut ws,
        json!({ "id": "1", "type": "subscribe", "payload": { "query": subscription } }),
    )
    .await;
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "1");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert!(round_trip(&mut ws).await.is_empty());
    // Variables nested too deep, within what the JSON parser takes and far beyond it: an error
    // for that operation, as over HTTP.
    for (id, levels) in [("2", 100), ("3", 5_000)] {
        let message = format!(
            r#"{{"id":"{id}","type":"subscribe","payload":{{"query":"subscription($x: JSON) {{ presence {{ online }} }}","variables":{{"x":{}}}}}}}"#,
            json_objects(levels)
        );
        ws.send(Message::Text(message.into())).await.unwrap();
        let refused = next_json(&mut ws).await;
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(refused["id"], id);
        assert_eq!(
            refused["payload"][0]["extensions"]["code"],
            "BAD_USER_INPUT"
        );
        assert!(
            refused["payload"][0]["message"]
                .as_str()
                .unwrap()
                .contains("nested too deep"),
            "{refused}"
        );
    }
    assert!(round_trip(&mut ws).await.is_empty());
    // Anything else nested that deep is not a protocol message.
    let message = format!(r#"{{"type":"ping","payload":{}}}"#, json_objects(5_000));
    ws.send(Message::Text(message.into())).await.unwrap();
    assert_eq!(close_code(&next_frame(&mut ws).await), 4400);

    // The legacy protocol.
    let mut legacy = initialised(&server, "graphql-ws", &user.token).await;
    send_json(
        &mut legacy,
        json!({ "id": "1", "type": "start", "payload": { "query": objects } }),
    )
    .await;
    let refused = next_json(&mut legacy).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"]["extensions"]["code"], "BAD_USER_INPUT");
    let message = format!(
        r#"{{"id":"2","type":"start","payload":{{"query":"subscription {{ presence {{ online }} }}","variables":{{"x":{}}}}}}}"#,
        json_objects(5_000)
    );
    legacy.send(Message::Text(message.into())).await.unwrap();
    let refused = next_json(&mut legacy).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "2");
    assert_eq!(refused["payload"]["extensions"]["code"], "BAD_USER_INPUT");

    healthy(&server).await;
    let res = user.client.gql("{ me { handle } }", json!({})).await;
    assert_eq!(res.data()["me"]["handle"], "nester");
    server.stop().await;
}

#[tokio::test]
async fn fragment_bombs_cycles_and_huge_documents_are_refused_before_validation() {
    let server = TestServer::start().await;
    let anonymous = server.anonymous();

    // Several at once, while the server keeps answering health checks.
    let bombs = (0..8).map(|_| {
        let anonymous = anonymous.clone();
        async move { anonymous.gql(&fragment_bomb(30), json!({})).await }
    });
    let (results, ()) = tokio::join!(futures::future::join_all(bombs), healthy(&server));
    for res in results {
        assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
        assert!(res.message().contains("too large"), "{}", res.body);
    }

    let res = anonymous
        .gql(
            "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
            json!({}),
        )
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    assert!(res.message().contains("spreads itself"), "{}", res.body);

    let wide = aliases(12_000);
    let res = anonymous.gql(&wide, json!({})).await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    assert!(res.message().contains("too large"), "{}", res.body);

    // Ordinary documents with fragments are untouched.
    let user = server.sign_up("fragments_ok").await;
    let res = user
        .client
        .gql(
            "{ me { ...U } friends(first: 5) { edges { node { user { ...U } } } } } \
             fragment U on User { id handle }",
            json!({}),
        )
        .await;
    assert_eq!(res.data()["me"]["handle"], "fragments_ok");
    server.stop().await;
}

/// `signIn` as a client at `from` (the server trusts the loopback proxy's X-Forwarded-For).
async fn sign_in_from(server: &TestServer, from: &str, query: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/graphql", server.base_url()))
        .header("x-forwarded-for", from)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn password_guessing_is_limited_per_handle_and_address_counting_every_alias() {
    let server = TestServer::start_with(|s| {
        s.rate_signin_failures_per_handle = 3;
        s.rate_auth_per_address = 8;
        s.trusted_proxies = "127.0.0.1".into();
    })
    .await;
    server.sign_up("victim").await;
    const WRONG: &str =
        "mutation { signIn(handle: \"victim\", password: \"wrong-guess\") { token } }";
    const RIGHT: &str =
        "mutation { signIn(handle: \"VICTIM\", password: \"password-1\") { token } }";

    for _ in 0..3 {
        let res = sign_in_from(&server, "203.0.113.1", WRONG).await;
        assert_eq!(codes(&res), ["UNAUTHENTICATED"], "{res}");
    }
    // The fourth guess, and even the right password, are refused without being checked.
    for query in [WRONG, RIGHT] {
        let res = sign_in_from(&server, "203.0.113.1", query).await;
        assert_eq!(codes(&res), ["RATE_LIMITED"], "{res}");
        let retry = res["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap();
        assert!((1..=900).contains(&retry), "{res}");
    }
    // The owner, elsewhere, is not locked out.
    let res = sign_in_from(&server, "198.51.100.7", RIGHT).await;
    assert!(res["data"]["signIn"]["token"].is_string(), "{res}");

    // Five guesses as aliases of one request: three are checked, two refused.
    let aliases = format!(
        "mutation {{ {} }}",
        (0..5)
            .map(|i| format!(
                "g{i}: signIn(handle: \"victim\", password: \"guess-{i}-x\") {{ token }}"
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Three checked (and failed), two refused unchecked.
    const THREE_AND_TWO: [&str; 5] = [
        "RATE_LIMITED",
        "RATE_LIMITED",
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
    ];
    let res = sign_in_from(&server, "203.0.113.2", &aliases).await;
    let mut got = codes(&res);
    got.sort();
    assert_eq!(got, THREE_AND_TWO, "{res}");
    // Five in a batch, run at once: still three.
    let batch: Vec<Value> = (0..5)
        .map(|i| {
            json!({ "query": format!("mutation {{ signIn(handle: \"victim\", password: \"batch-{i}-x\") {{ token }} }}") })
        })
        .collect();
    let res: Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.base_url()))
        .header("x-forwarded-for", "203.0.113.3")
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut got: Vec<String> = res.as_array().unwrap().iter().flat_map(codes).collect();
    got.sort();
    assert_eq!(got, THREE_AND_TWO, "{res}");

    // Sign-ups and sign-ins from one address: 8 a minute.
    for i in 0..8 {
        let res = sign_in_from(
            &server,
            "192.0.2.50",
            &format!(
                "mutation {{ signUp(handle: \"flood_{i}\", password: \"password-1\") {{ token }} }}"
            ),
        )
        .await;
        assert!(res["data"]["signUp"]["token"].is_string(), "{res}");
    }
    let res = sign_in_from(
        &server,
        "192.0.2.50",
        "mutation { signUp(handle: \"flood_9\", password: \"password-1\") { token } }",
    )
    .await;
    assert_eq!(codes(&res), ["RATE_LIMITED"], "{res}");
    assert!(
        res["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // A client that is not behind the trusted proxy cannot choose its address: without the
    // header the loopback peer itself is the client, and it has its own allowance.
    let res = server
        .anonymous()
        .gql(
            "mutation { signUp(handle: \"direct_1\", password: \"password-1\") { token } }",
            json!({}),
        )
        .await;
    assert!(res.data()["signUp"]["token"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn mutations_per_user_are_a_token_bucket_counting_each_field() {
    let server = TestServer::start_with(|s| s.rate_mutations_per_user = 5).await;
    let user = server.sign_up("writer").await;
    let many = |n: usize| {
        format!(
            "mutation {{ {} }}",
            (0..n)
                .map(|i| format!("m{i}: markNotificationsRead(ids: [])"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let res = user.client.gql(&many(6), json!({})).await;
    assert_eq!(res.code(), "RATE_LIMITED", "{}", res.body);
    let res = user.client.gql(&many(5), json!({})).await;
    assert_eq!(res.data()["m4"], true);
    let res = user.client.gql(&many(1), json!({})).await;
    assert_eq!(res.code(), "RATE_LIMITED", "{}", res.body);
    assert!(
        res.body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // Reads are not limited, and other users have their own bucket.
    assert!(res.body["data"].is_null());
    user.client.gql("{ me { id } }", json!({})).await.data();
    let other = server.sign_up("other_writer").await;
    other.client.gql(&many(5), json!({})).await.data();

    // Over a websocket too, even for mutations sent right behind the connection_init, before
    // it was answered: they count against the signed-in user.
    let third = server.sign_up("ws_writer").await;
    let mut ws = connect_raw(&server.ws_url(), "graphql-transport-ws").await;
    send_json(&mut ws,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", third.token) } }),
    )
    .await;
    for id in ["1", "2"] {
        send_json(
            &mut ws,
            json!({ "id": id, "type": "subscribe", "payload": { "query": many(3) } }),
        )
        .await;
    }
    let mut outcomes = std::collections::HashMap::new();
    while outcomes.len() < 2 {
        let message = next_json(&mut ws).await;
        match message["type"].as_str() {
            Some("next") => {
                outcomes.insert(message["id"].as_str().unwrap().to_owned(), "ran".to_owned());
            }
            Some("error") => {
                let code = message["payload"][0]["extensions"]["code"]
                    .as_str()
                    .unwrap();
                outcomes.insert(message["id"].as_str().unwrap().to_owned(), code.to_owned());
            }
            _ => {}
        }
    }
    assert_eq!(outcomes["1"], "ran", "{outcomes:?}");
    assert_eq!(outcomes["2"], "RATE_LIMITED", "{outcomes:?}");
    server.stop().await;
}

#[tokio::test]
async fn websockets_are_bounded_per_connection_and_per_user() {
    let server = TestServer::start_with(|s| {
        s.websocket_max_subscriptions = 2;
        s.max_connections_per_user = 2;
    })
    .await;
    let user = server.sign_up("socketeer").await;
    let subscribe = |id: &str| json!({ "id": id, "type": "subscribe", "payload": { "query": "subscription { presence { online } }" } });

    let mut ws = initialised(&server, "graphql-transport-ws", &user.token).await;
    send_json(&mut ws, subscribe("a")).await;
    send_json(&mut ws, subscribe("b")).await;
    assert!(round_trip(&mut ws).await.is_empty());
    send_json(&mut ws, subscribe("c")).await;
    let refused = round_trip(&mut ws).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["type"], "error");
    assert_eq!(refused[0]["id"], "c");
    assert_eq!(
        refused[0]["payload"][0]["extensions"]["code"],
        "LIMIT_EXCEEDED"
    );
    // Completing one makes room.
    send_json(&mut ws, json!({ "id": "a", "type": "complete" })).await;
    send_json(&mut ws, subscribe("c")).await;
    let answered = round_trip(&mut ws).await;
    assert!(
        answered
            .iter()
            .all(|m| m["type"] == "complete" && m["id"] == "a"),
        "{answered:?}"
    );
    // Reusing a live id closes the connection with 4409.
    send_json(&mut ws, subscribe("b")).await;
    assert_eq!(close_code(&next_frame(&mut ws).await), 4409);

    // Two connections per user; the third is refused at init with 4429.
    let first = user.ws().await;
    let second = user.ws().await;
    let (code, reason) = refused_init(
        &server.ws_url(),
        json!({ "Authorization": format!("Bearer {}", user.token) }),
    )
    .await;
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("at most 2"), "{reason}");
    // Another user is not affected, and a closed connection frees its place.
    server.sign_up("neighbour").await.ws().await.close().await;
    first.close().await;
    server.wait_for_websockets_of(&user, 1).await;
    let third = WsClient::connect(
        &server.ws_url(),
        json!({ "Authorization": format!("Bearer {}", user.token) }),
    )
    .await;
    assert!(third.is_ok(), "a closed connection did not free its place");
    // The legacy protocol is refused with a connection_error, then the same close code.
    let mut legacy = connect_raw(&server.ws_url(), "graphql-ws").await;
    send_json(&mut legacy,
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", user.token) } }),
    )
    .await;
    let refused = next_json(&mut legacy).await;
    assert_eq!(refused["type"], "connection_error", "{refused}");
    assert_eq!(close_code(&next_frame(&mut legacy).await), 4429);
    second.close().await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_and_oversized_websocket_messages_close_with_their_codes() {
    let server = TestServer::start().await;
    let user = server.sign_up("garbler").await;
    for garbage in [
        "not json".to_owned(),
        json!({ "type": "subscribe" }).to_string(),
        json!({ "type": "no_such_type" }).to_string(),
        json!([1, 2, 3]).to_string(),
    ] {
        let mut ws = initialised(&server, "graphql-transport-ws", &user.token).await;
        ws.send(Message::Text(garbage.clone().into()))
            .await
            .unwrap();
        assert_eq!(close_code(&next_frame(&mut ws).await), 4400, "{garbage}");
    }
    // Before the init too.
    let mut ws = connect_raw(&server.ws_url(), "graphql-transport-ws").await;
    ws.send(Message::Text("{".into())).await.unwrap();
    assert_eq!(close_code(&next_frame(&mut ws).await), 4400);

    let mut ws = initialised(&server, "graphql-transport-ws", &user.token).await;
    let big = json!({ "id": "1", "type": "subscribe", "payload": { "query": format!("subscription {{ presence {{ online }} }} #{}", "x".repeat(70_000)) } });
    ws.send(Message::Text(big.to_string().into()))
        .await
        .unwrap();
    assert_eq!(close_code(&next_frame(&mut ws).await), 1009);
    healthy(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn only_json_bodies_are_executed() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let url = format!("{}/graphql", server.base_url());
    let sign_up = json!({ "query": "mutation { signUp(handle: \"drive_by\", password: \"password-1\") { token } }" });
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = http.post(&url).body(sign_up.to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), 415, "{content_type:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{body}"
        );
    }
    // Nothing ran: the handle is still free.
    let res = http
        .post(&url)
        .header("content-type", "application/json; charset=UTF-8")
        .body(sign_up.to_string())
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert!(body["data"]["signUp"]["token"].is_string(), "{body}");
    server.stop().await;
}

/// The `Access-Control-Allow-Origin` a browser on `origin` gets in a preflight for a JSON POST.
async fn preflight(server: &TestServer, origin: &str) -> Option<String> {
    let res = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/graphql", server.base_url()),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    res.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn other_web_origins_are_refused_unless_allowed() {
    let server = TestServer::start().await;
    assert_eq!(preflight(&server, "https://evil.example").await, None);
    server.stop().await;
    let server = TestServer::start_with(|s| {
        s.cors_allowed_origins = "https://app.example, http://localhost:5173".into();
    })
    .await;
    assert_eq!(
        preflight(&server, "https://app.example").await.as_deref(),
        Some("https://app.example")
    );
    assert_eq!(preflight(&server, "https://evil.example").await, None);
    server.stop().await;
    let server = TestServer::start_with(|s| s.cors_allowed_origins = "*".into()).await;
    assert_eq!(
        preflight(&server, "https://anyone.example")
            .await
            .as_deref(),
        Some("*")
    );
    server.stop().await;
}

#[tokio::test]
async fn metadata_nesting_is_bounded_and_kept_exactly_below_the_bound() {
    let server = TestServer::start().await;
    let user = server.sign_up("nested_meta").await;
    let update = "mutation($m: JSON) { updateProfile(metadata: $m) { metadata } }";
    let objects = |levels: usize| -> Value { serde_json::from_str(&json_objects(levels)).unwrap() };
    let res = user.client.gql(update, json!({ "m": objects(33) })).await;
    assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
    assert!(res.message().contains("at most 32 levels"), "{}", res.body);
    let res = user.client.gql(update, json!({ "m": objects(32) })).await;
    assert_eq!(res.data()["updateProfile"]["metadata"], objects(32));
    let res = user.client.gql("{ me { metadata } }", json!({})).await;
    assert_eq!(res.data()["me"]["metadata"], objects(32), "stored as sent");
    server.stop().await;
}

#[tokio::test]
async fn a_user_removed_behind_the_servers_back_is_unauthenticated() {
    let server = TestServer::start().await;
    let ghost = server.sign_up("ghost").await;
    let other = server.sign_up("still_here").await;
    ghost.client.gql("{ me { id } }", json!({})).await.data();
    let id = ghost.id.parse().unwrap();
    assert!(
        amity_persistence::testing::delete_user_row(server.database_url(), id)
            .await
            .unwrap()
    );
    let res = ghost
        .client
        .gql(
            "mutation($id: ID!) { dismissRecommendation(userId: $id) }",
            json!({ "id": other.id }),
        )
        .await;
    assert_eq!(res.code(), "UNAUTHENTICATED", "{}", res.body);
    // `me` finds the account gone, and from then on this node refuses the session outright.
    let res = ghost.client.gql("{ me { id } }", json!({})).await;
    assert_eq!(res.code(), "UNAUTHENTICATED", "{}", res.body);
    let res = ghost
        .client
        .gql("{ friends { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(res.code(), "UNAUTHENTICATED", "{}", res.body);
    let (code, reason) = refused_init(
        &server.ws_url(),
        json!({ "Authorization": format!("Bearer {}", ghost.token) }),
    )
    .await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.contains("no longer exists"), "{reason}");
    // A node that has not seen the user yet refuses every request at once.
    let node = server.start_node().await;
    let res = node
        .as_user(&ghost)
        .client
        .gql("{ friends { edges { cursor } } }", json!({}))
        .await;
    assert_eq!(res.code(), "UNAUTHENTICATED", "{}", res.body);
    node.stop().await;
    server.stop().await;
}

/// Reads what the server sends until it closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let done = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    done.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_requests_time_out() {
    // Every deadline but the one under test is far beyond the 10 s each check waits.
    let server = TestServer::start_with(|s| {
        s.http_header_timeout_ms = 300;
        s.http_idle_timeout_ms = 60_000;
        s.request_timeout_ms = 300;
    })
    .await;
    let addr = server.base_url().trim_start_matches("http://").to_owned();

    // Headers that never finish.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /graphql HTTP/1.1\r\nHost: amity\r\nContent-")
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut slow, Duration::from_secs(10))
            .await
            .is_some(),
        "a half-sent request kept its connection"
    );
    // A connection that never says anything.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(10))
            .await
            .is_some()
    );
    // A kept-alive connection after its request.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: amity\r\n\r\n")
        .await
        .unwrap();
    let answered = read_until_closed(&mut kept, Duration::from_secs(10))
        .await
        .expect("the idle connection is closed");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");

    // A body that trickles: the request is cancelled with UNAVAILABLE.
    let mut trickle = TcpStream::connect(&addr).await.unwrap();
    trickle
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: amity\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut trickle, Duration::from_secs(10))
        .await
        .expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 2"),
        "{answer}"
    );
    assert!(answer.contains("\"UNAVAILABLE\""), "{answer}");
    healthy(&server).await;
    server.stop().await;

    // A connection that stops moving bytes half-way through a body, with a request timeout
    // far off: the idle timeout closes it.
    let server = TestServer::start_with(|s| {
        s.http_header_timeout_ms = 60_000;
        s.http_idle_timeout_ms = 500;
        s.request_timeout_ms = 59_000;
    })
    .await;
    let addr = server.base_url().trim_start_matches("http://").to_owned();
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: amity\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    assert!(
        read_until_closed(&mut stalled, Duration::from_secs(10))
            .await
            .is_some(),
        "a stalled connection was kept"
    );
    healthy(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_place() {
    let server = TestServer::start_with(|s| s.max_connections = 3).await;
    let addr = server.base_url().trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // The fourth is accepted by the kernel but not served while three are open.
    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served past the connection cap");
    drop(held.pop());
    let status = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once a place was free")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    drop(held);
    server.stop().await;
}
