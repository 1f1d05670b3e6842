//! What operators and client developers meet first (SPEC 12.2): GraphQL-over-HTTP GETs, the
//! embedded GraphiQL, standard introspection, `Friend.id`, the accepted `connection_init`
//! shapes, and `/metrics`.

use amity_e2e::ws::WsClient;
use amity_e2e::{TestServer, metric_sample};
use amity_graphql::edge::hostile::STANDARD_INTROSPECTION;
use serde_json::{Value, json};

/// A GET on `/graphql` with these query parameters and `Accept` header.
async fn get(
    server: &TestServer,
    params: &[(&str, &str)],
    accept: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{}/graphql", server.base_url()))
        .query(params)
        .header("accept", accept);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

const URQL_ACCEPT: &str = "application/graphql-response+json, application/graphql+json, \
                           application/json, text/event-stream, multipart/mixed";
const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

#[tokio::test]
async fn queries_run_over_get_and_mutations_are_405() {
    let server = TestServer::start().await;
    let user = server.sign_up("getter").await;

    // A query, as urql sends it by default.
    let res = get(
        &server,
        &[
            (
                "query",
                "query Me($n: Int) { me { id } friends(first: $n) { edges { cursor } } }",
            ),
            ("variables", "{\"n\": 5}"),
            ("operationName", "Me"),
        ],
        URQL_ACCEPT,
        Some(&user.token),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["me"]["id"], user.id.as_str(), "{body}");

    // Anonymous queries too; an edge refusal is a GraphQL error as over POST.
    let res = get(
        &server,
        &[("query", "{ __typename }")],
        "application/json",
        None,
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    let deep = amity_graphql::edge::hostile::list_literal(100);
    let res = get(
        &server,
        &[("query", &format!("{{ __typename(x: {deep}) }}"))],
        "application/json",
        None,
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );

    // Mutations (and subscriptions) are refused with 405 and nothing runs.
    let res = get(
        &server,
        &[(
            "query",
            "mutation { signUp(handle: \"via_get\", password: \"a long password\") { token } }",
        )],
        URQL_ACCEPT,
        None,
    )
    .await;
    assert_eq!(res.status(), 405);
    assert!(res.headers()["allow"].to_str().unwrap().contains("POST"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let taken = user
        .client
        .gql("{ user(handle: \"via_get\") { id } }", json!({}))
        .await;
    assert!(taken.body["data"]["user"].is_null(), "{}", taken.body);
    let res = get(
        &server,
        &[("query", "subscription { notifications { id } }")],
        URQL_ACCEPT,
        Some(&user.token),
    )
    .await;
    assert_eq!(res.status(), 405);

    // Bad parameters are clear errors.
    let res = get(
        &server,
        &[("query", "{ me { id } }"), ("variables", "{not json")],
        URQL_ACCEPT,
        None,
    )
    .await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("variables"),
        "{body}"
    );
    let res = get(&server, &[], "application/json", None).await;
    assert_eq!(res.status(), 400);
    // Variables nested past the edge's limit, over GET as over POST.
    let deep = amity_graphql::edge::hostile::nested("[", "]", 100);
    let res = get(
        &server,
        &[
            ("query", "query($x: JSON) { __typename }"),
            ("variables", &format!("{{\"x\": {deep}}}")),
        ],
        URQL_ACCEPT,
        None,
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );
    // A request target over 64 KiB (what an HTTP URI may hold) is refused by the HTTP layer
    // before any handler reads it.
    let addr = server.base_url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let target = format!(
        "/graphql?query=%7B__typename%7D%23{}",
        "x".repeat(70 * 1024)
    );
    let head = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 64];
    let read = tokio::io::AsyncReadExt::read(&mut stream, &mut answer)
        .await
        .unwrap();
    let status_line = String::from_utf8_lossy(&answer[..read]).to_string();
    assert!(status_line.starts_with("HTTP/1.1 414"), "{status_line}");
    server.stop().await;
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary() {
    let server = TestServer::start().await;
    // A browser gets the page, even with a query in the address.
    for params in [vec![], vec![("query", "{ __typename }")]] {
        let res = get(&server, &params, BROWSER_ACCEPT, None).await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        let page = res.text().await.unwrap();
        assert!(page.contains("/graphiql/graphiql.min.js"), "{page}");
        assert!(
            !page.contains("https://"),
            "the page loads something from outside: {page}"
        );
    }
    let http = reqwest::Client::new();
    for (file, media) in [
        ("graphiql.min.js", "text/javascript"),
        ("graphiql.min.css", "text/css"),
        ("react.production.min.js", "text/javascript"),
        ("react-dom.production.min.js", "text/javascript"),
        ("graphql-ws.min.js", "text/javascript"),
    ] {
        let res = http
            .get(format!("{}/graphiql/{file}", server.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{file}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(media)
        );
        assert!(res.bytes().await.unwrap().len() > 1000, "{file}");
    }
    let res = http
        .get(format!("{}/graphiql/..%2Fsecret", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn the_standard_introspection_query_works_anonymously_and_can_be_turned_off() {
    let server = TestServer::start().await;
    let anonymous = server.anonymous();
    let res = anonymous.gql(STANDARD_INTROSPECTION, json!({})).await;
    assert!(res.body["errors"].is_null(), "{}", res.body);
    let types = res.body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Friend"));
    assert_eq!(res.body["data"]["__schema"]["queryType"]["name"], "Query");

    // Introspection that multiplies its answer is refused.
    let res = anonymous
        .gql(
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
    assert!(res.message().contains("introspection"), "{}", res.body);
    server.stop().await;

    let closed = TestServer::start_with(|s| s.introspection = false).await;
    let res = closed
        .anonymous()
        .gql(STANDARD_INTROSPECTION, json!({}))
        .await;
    assert!(res.body["data"]["__schema"].is_null(), "{}", res.body);
    // The API itself still answers.
    let res = closed.anonymous().gql("{ __typename }", json!({})).await;
    assert_eq!(res.data()["__typename"], "Query");
    closed.stop().await;
}

#[tokio::test]
async fn friends_have_a_stable_id_per_viewer_and_other_user() {
    let server = TestServer::start().await;
    let ann = server.sign_up("id_ann").await;
    let bob = server.sign_up("id_bob").await;
    let asked = ann
        .client
        .gql(
            "mutation($ids: [ID!]) { addFriends(ids: $ids) { id state } }",
            json!({ "ids": [bob.id] }),
        )
        .await;
    let ann_edge = asked.data()["addFriends"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = bob
        .client
        .gql("{ friends { edges { node { id state } } } }", json!({}))
        .await;
    let bob_edge = page.data()["friends"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        page.data()["friends"]["edges"][0]["node"]["state"],
        "INVITE_RECEIVED"
    );
    assert_ne!(ann_edge, bob_edge, "each viewer has its own edge");
    // Accepting returns the same object, now FRIEND: a client cache updates in place.
    let accepted = bob
        .client
        .gql(
            "mutation($ids: [ID!]) { addFriends(ids: $ids) { id state } }",
            json!({ "ids": [ann.id] }),
        )
        .await;
    assert_eq!(accepted.data()["addFriends"][0]["id"], bob_edge.as_str());
    assert_eq!(accepted.data()["addFriends"][0]["state"], "FRIEND");
    let page = ann
        .client
        .gql("{ friends { edges { node { id state } } } }", json!({}))
        .await;
    assert_eq!(
        page.data()["friends"]["edges"][0]["node"]["id"],
        ann_edge.as_str()
    );
    server.stop().await;
}

#[tokio::test]
async fn connection_init_takes_every_common_token_shape() {
    let server = TestServer::start().await;
    let user = server.sign_up("shapes").await;
    let token = user.token.as_str();
    for payload in [
        json!({ "Authorization": format!("Bearer {token}") }),
        json!({ "authorization": format!("Bearer {token}") }),
        json!({ "token": token }),
        json!({ "authToken": token }),
        json!({ "headers": { "Authorization": format!("Bearer {token}") } }),
    ] {
        let ws = WsClient::connect(&server.ws_url(), payload.clone()).await;
        assert!(ws.is_ok(), "{payload} was refused");
        ws.unwrap().close().await;
    }
    let (code, _) = amity_e2e::ws::refused_init(
        &server.ws_url(),
        json!({ "headers": { "Authorization": "Bearer forged" } }),
    )
    .await;
    assert_eq!(code, 4403);
    server.stop().await;
}

#[tokio::test]
async fn metrics_show_requests_latency_websockets_and_refusals() {
    let server = TestServer::start_with(|s| s.rate_auth_per_address = 1_000).await;
    let user = server.sign_up("metered").await;
    user.client.gql("{ me { id } }", json!({})).await.data();
    let wrong = server
        .anonymous()
        .gql(
            "mutation { signIn(handle: \"metered\", password: \"not the password\") { token } }",
            json!({}),
        )
        .await;
    assert_eq!(wrong.code(), "UNAUTHENTICATED");
    let ws = WsClient::connect(&server.ws_url(), json!({ "token": user.token }))
        .await
        .unwrap();
    let mut sub = ws
        .subscribe("subscription { notifications { id } }", json!({}))
        .await;
    sub.assert_silent(std::time::Duration::from_millis(200))
        .await;

    let res = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    let at_least = |metric: &str, labels: &[&str], min: f64| {
        let value = metric_sample(&text, metric, labels);
        assert!(
            value.is_some_and(|v| v >= min),
            "{metric}{labels:?} is {value:?}, expected at least {min}:\n{text}"
        );
    };
    at_least(
        "amity_requests_total",
        &["transport=\"http\"", "operation=\"query\"", "code=\"OK\""],
        1.0,
    );
    at_least(
        "amity_requests_total",
        &["operation=\"mutation\"", "code=\"UNAUTHENTICATED\""],
        1.0,
    );
    at_least(
        "amity_requests_total",
        &["transport=\"websocket\"", "operation=\"subscription\""],
        1.0,
    );
    at_least(
        "amity_operation_duration_seconds_count",
        &["field=\"me\""],
        1.0,
    );
    at_least(
        "amity_operation_duration_seconds_bucket",
        &["field=\"signIn\"", "le=\"10\""],
        1.0,
    );
    at_least("amity_websockets_open", &[], 1.0);
    at_least("amity_subscriptions_live", &[], 1.0);
    at_least("amity_users_online", &[], 1.0);
    at_least("amity_signin_failures_total", &[], 1.0);
    at_least("amity_db_pool_connections", &["state=\"idle\""], 0.0);
    at_least("amity_db_pool_connections", &["state=\"in_use\""], 0.0);
    at_least("amity_http_connections_open", &[], 1.0);
    assert!(text.contains("# HELP amity_requests_total"), "{text}");

    // A made-up field stays out of the labels.
    user.client.gql("{ noSuchFieldAtAll }", json!({})).await;
    let text = server.metrics().await;
    assert!(!text.contains("noSuchFieldAtAll"), "{text}");
    ws.close().await;
    server.stop().await;

    // A rate limit's refusals are counted by limit.
    let strict = TestServer::start_with(|s| s.rate_auth_per_address = 1).await;
    for _ in 0..2 {
        strict
            .anonymous()
            .gql(
                "mutation { signIn(handle: \"nobody\", password: \"whatever it is\") { token } }",
                json!({}),
            )
            .await;
    }
    let text = strict.metrics().await;
    assert!(
        metric_sample(
            &text,
            "amity_rate_limited_total",
            &["limit=\"auth_per_address\""]
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    strict.stop().await;
}
