//! End-to-end test harness: a real Amity server on a free port, with its own fresh database,
//! driven over HTTP by a GraphQL client and over websockets by an independent
//! graphql-transport-ws client (graphql-ws-client on tokio-tungstenite).
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use amity::{RunningServer, Settings};
use amity_domain::time::{Clock, SystemClock};
use amity_persistence::testing::TestDatabase;
use serde_json::{Value, json};

/// A running server and the database it owns (dropped after the server).
pub struct TestServer {
    server: Option<RunningServer>,
    /// The database the server owns, if it made one (not for [`TestServer::start_on_url`]).
    _db: Option<TestDatabase>,
    http: reqwest::Client,
    settings: Settings,
    /// The clock its services read (other nodes get the same one).
    clock: Arc<dyn Clock>,
}

/// Another node of the same deployment: a second server on the same database.
pub struct TestNode {
    server: Option<RunningServer>,
    http: reqwest::Client,
}

/// See [`TestServer::wait_for_subscriptions`].
async fn wait_for_subscriptions(server: &RunningServer, at_least: usize) {
    let hub = &server.services().expect("the server runs").hub;
    tokio::time::timeout(
        Duration::from_secs(10),
        hub.wait_for_subscriptions(at_least),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} of {at_least} subscriptions registered after 10 s",
            hub.subscription_count()
        )
    });
}

impl TestNode {
    /// Returns once at least `at_least` subscriptions are open on this node.
    pub async fn wait_for_subscriptions(&self, at_least: usize) {
        wait_for_subscriptions(self.server.as_ref().unwrap(), at_least).await;
    }

    /// The node's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.as_ref().unwrap().addr)
    }

    /// `ws://ADDR/graphql`.
    pub fn ws_url(&self) -> String {
        self.server.as_ref().unwrap().websocket_url()
    }

    /// `user` talking to this node instead.
    pub fn as_user(&self, user: &User) -> User {
        let mut user = user.clone();
        user.client = Client {
            http: self.http.clone(),
            url: format!("{}/graphql", self.base_url()),
            token: user.client.token.clone(),
        };
        user.ws_url = self.ws_url();
        user
    }

    /// The node's graph cache (fails the test if it runs without one).
    pub fn cache(&self) -> amity_cache::CachedStore {
        self.server
            .as_ref()
            .unwrap()
            .cache()
            .expect("a cache")
            .clone()
    }

    /// Stops the node gracefully.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("clean stop");
        }
    }

    /// Stops the node as a crash would: nothing is cleaned up.
    pub async fn crash(mut self) {
        if let Some(server) = self.server.take() {
            server.crash().await;
        }
    }
}

/// Settings for tests: a free port, cheap password hashing, a fixed secret.
pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        listen_addr: "127.0.0.1:0".parse().unwrap(),
        database_url: database_url.to_owned(),
        jwt_secret: Some("e2e-test-secret-e2e-test-secret-0123".to_owned()),
        password_hash_memory_kib: 1024,
        password_hash_iterations: 1,
        // Friends see a user offline 100 ms after the last connection closes (tests of
        // coalescing set it back up).
        presence_offline_grace_ms: 100,
        // The suite creates many users from one address on purpose; the tests of the limits
        // turn them back on.
        rate_signin_failures_per_handle: 0,
        rate_auth_per_address: 0,
        rate_mutations_per_user: 0,
        ..Settings::default()
    }
}

impl TestServer {
    /// A server with default settings.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with adjusted settings. With `AMITY_TEST_LOG` set (a tracing filter such as
    /// `amity=debug,info`), the servers' logs are printed.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start_with_clock(Arc::new(SystemClock), adjust).await
    }

    /// A server whose services and token checks read `clock` (a
    /// [`amity_domain::time::ManualClock`] lets a test move time instead of waiting for it).
    pub async fn start_with_clock(
        clock: Arc<dyn Clock>,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        if let Ok(filter) = std::env::var("AMITY_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let db = TestDatabase::create().await.expect("test database");
        let settings = test_settings(db.url());
        Self::start_with_settings(Some(db), settings, clock, adjust).await
    }

    /// A server on a database that `prepare` fills first (it gets the database URL and has the
    /// database to itself; e.g. the data-set generator).
    pub async fn start_prepared<F: std::future::Future<Output = ()>>(
        prepare: impl FnOnce(String) -> F,
    ) -> Self {
        let db = TestDatabase::create().await.expect("test database");
        prepare(db.url().to_owned()).await;
        let settings = test_settings(db.url());
        Self::start_with_settings(Some(db), settings, Arc::new(SystemClock), |_| {}).await
    }

    /// A server on a database the test made itself (a PostgreSQL cluster it stops and starts).
    pub async fn start_on_url(database_url: &str, adjust: impl FnOnce(&mut Settings)) -> Self {
        let clock = Arc::new(SystemClock);
        Self::start_with_settings(None, test_settings(database_url), clock, adjust).await
    }

    async fn start_with_settings(
        db: Option<TestDatabase>,
        mut settings: Settings,
        clock: Arc<dyn Clock>,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        adjust(&mut settings);
        let server = RunningServer::start(&settings, clock.clone())
            .await
            .expect("server starts");
        Self {
            server: Some(server),
            _db: db,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            settings,
            clock,
        }
    }

    /// Whether the database is PostgreSQL (where several nodes can share it).
    pub fn is_postgres(&self) -> bool {
        self.settings.database_url.starts_with("postgres")
    }

    /// Fails the test unless the database is PostgreSQL: for the tests marked
    /// `#[ignore = "needs PostgreSQL ..."]`, run with `--include-ignored`, so that asking for
    /// them on SQLite says so instead of passing without checking anything.
    pub fn require_postgres(&self) {
        assert!(
            self.is_postgres(),
            "this test needs PostgreSQL: set AMITY_TEST_DATABASE_URL"
        );
    }

    /// Returns once at least `at_least` subscriptions are open on this server (fails the test
    /// after 10 s): what a test waits for between subscribing and causing the event.
    pub async fn wait_for_subscriptions(&self, at_least: usize) {
        wait_for_subscriptions(self.server.as_ref().unwrap(), at_least).await;
    }

    /// Returns once `user` has at most `at_most` websockets open on this server, as the server
    /// counts them (fails the test after 10 s).
    pub async fn wait_for_websockets_of(&self, user: &User, at_most: usize) {
        let edge = self
            .server
            .as_ref()
            .unwrap()
            .edge()
            .expect("the server runs");
        let id = user.id.parse().expect("a user id");
        tokio::time::timeout(
            Duration::from_secs(10),
            edge.wait_for_websockets_of(id, at_most),
        )
        .await
        .unwrap_or_else(|_| panic!("{} still has more than {at_most} websockets", user.handle));
    }

    /// The server's graph cache (fails the test if it runs without one).
    pub fn cache(&self) -> amity_cache::CachedStore {
        self.server
            .as_ref()
            .unwrap()
            .cache()
            .expect("a cache")
            .clone()
    }

    /// Starts another node on the same database and settings.
    pub async fn start_node(&self) -> TestNode {
        let server = RunningServer::start(&self.settings, self.clock.clone())
            .await
            .expect("second node starts");
        TestNode {
            server: Some(server),
            http: self.http.clone(),
        }
    }

    /// `ws://ADDR/graphql`.
    pub fn ws_url(&self) -> String {
        self.server.as_ref().unwrap().websocket_url()
    }

    /// The database URL (tests that reach into the database).
    pub fn database_url(&self) -> &str {
        &self.settings.database_url
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.as_ref().unwrap().addr)
    }

    /// What `GET /metrics` answers now (Prometheus text).
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A client without a token.
    pub fn anonymous(&self) -> Client {
        Client {
            http: self.http.clone(),
            url: format!("{}/graphql", self.base_url()),
            token: None,
        }
    }

    /// Signs up `handle` (password "password-1") and returns its client and id.
    pub async fn sign_up(&self, handle: &str) -> User {
        let res = self
            .anonymous()
            .gql(
                "mutation($h: String!) { signUp(handle: $h, password: \"password-1\") { token refreshToken user { id handle } } }",
                json!({ "h": handle }),
            )
            .await;
        let data = res.data();
        let token = data["signUp"]["token"].as_str().unwrap().to_owned();
        User {
            id: data["signUp"]["user"]["id"].as_str().unwrap().to_owned(),
            handle: handle.to_owned(),
            token: token.clone(),
            refresh_token: data["signUp"]["refreshToken"].as_str().unwrap().to_owned(),
            client: self.anonymous().with_token(token),
            ws_url: self.ws_url(),
        }
    }

    /// Signs up `handle` and gives it `role` through the domain's Rust API (as server-side code
    /// would).
    pub async fn sign_up_as(&self, handle: &str, role: amity_domain::accounts::Role) -> User {
        let user = self.sign_up(handle).await;
        self.server
            .as_ref()
            .unwrap()
            .services()
            .expect("the server runs")
            .moderation
            .set_role(
                &amity_domain::moderation::Actor::System("e2e setup".into()),
                handle,
                role,
            )
            .await
            .expect("set_role");
        user
    }

    /// Another session of `user` (password "password-1"), as a second device would have.
    pub async fn sign_in_again(&self, user: &User) -> User {
        let res = self
            .anonymous()
            .gql(
                "mutation($h: String!) { signIn(handle: $h, password: \"password-1\") { token refreshToken } }",
                json!({ "h": user.handle }),
            )
            .await;
        let data = &res.data()["signIn"];
        let token = data["token"].as_str().unwrap().to_owned();
        User {
            token: token.clone(),
            refresh_token: data["refreshToken"].as_str().unwrap().to_owned(),
            client: self.anonymous().with_token(token),
            ..user.clone()
        }
    }

    /// [`TestServer::sign_up`] with an owned handle (for building many users at once).
    pub async fn sign_up_owned(&self, handle: String) -> User {
        self.sign_up(&handle).await
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("clean stop");
        }
    }
}

/// A signed-up user and their client.
#[derive(Clone)]
pub struct User {
    /// Their id.
    pub id: String,
    /// Their handle.
    pub handle: String,
    /// Their access token.
    pub token: String,
    /// Their session's refresh token (empty when the sign-in did not ask for it).
    pub refresh_token: String,
    /// A client with their token.
    pub client: Client,
    /// The websocket URL of their node.
    pub ws_url: String,
}

/// A GraphQL-over-HTTP client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

/// A GraphQL response.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Response {
    /// `data`, asserting there are no errors.
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {}",
            self.body
        );
        &self.body["data"]
    }

    /// The `extensions.code` of every error.
    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or("<none>")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The single error's code, asserting there is exactly one error.
    pub fn code(&self) -> String {
        let codes = self.codes();
        assert_eq!(codes.len(), 1, "expected one error: {}", self.body);
        codes[0].clone()
    }

    /// The first error's message.
    pub fn message(&self) -> String {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Client {
    /// The same client with a token.
    pub fn with_token(mut self, token: String) -> Self {
        self.token = Some(token);
        self
    }

    /// Sends a query or mutation with variables.
    pub async fn gql(&self, query: &str, variables: Value) -> Response {
        self.post_json(&json!({ "query": query, "variables": variables }))
            .await
    }

    /// Posts any JSON body.
    pub async fn post_json(&self, body: &Value) -> Response {
        self.post_raw(body.to_string().into_bytes()).await
    }

    /// Posts raw bytes.
    pub async fn post_raw(&self, body: Vec<u8>) -> Response {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let body: Value = res.json().await.expect("JSON body");
        Response { status, body }
    }
}

impl User {
    /// Opens an authenticated websocket to their node.
    pub async fn ws(&self) -> ws::WsClient {
        ws::WsClient::connect(
            &self.ws_url,
            json!({ "Authorization": format!("Bearer {}", self.token) }),
        )
        .await
        .expect("websocket connects")
    }

    /// Makes this user and `other` friends.
    pub async fn befriend(&self, other: &User) {
        self.add(&[&other.id]).await.data();
        other.add(&[&self.id]).await.data();
    }

    /// `addFriends` by ids; returns the response.
    pub async fn add(&self, ids: &[&str]) -> Response {
        self.client
            .gql(
                "mutation($ids: [ID!]) { addFriends(ids: $ids) { state user { id handle } } }",
                json!({ "ids": ids }),
            )
            .await
    }

    /// `removeFriends` by ids.
    pub async fn remove(&self, ids: &[&str]) -> Response {
        self.client
            .gql(
                "mutation($ids: [ID!]) { removeFriends(ids: $ids) }",
                json!({ "ids": ids }),
            )
            .await
    }

    /// `blockUsers` by ids.
    pub async fn block(&self, ids: &[&str]) -> Response {
        self.client
            .gql(
                "mutation($ids: [ID!]) { blockUsers(ids: $ids) { state user { id } } }",
                json!({ "ids": ids }),
            )
            .await
    }

    /// This user's edges from the friends listing (up to 1,000): each node's `state`,
    /// `updatedAt` and `user { id handle }`.
    pub async fn friend_nodes(&self) -> Vec<Value> {
        let res = self
            .client
            .gql(
                "{ friends(first: 1000) { edges { node { state updatedAt user { id handle } } } } }",
                json!({}),
            )
            .await;
        res.data()["friends"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    }

    /// This user's view of `other` from the friends listing (None when absent).
    pub async fn view_of(&self, other: &str) -> Option<String> {
        self.friend_nodes()
            .await
            .into_iter()
            .find(|node| node["user"]["id"] == other)
            .map(|node| node["state"].as_str().unwrap().to_owned())
    }

    /// This user's notification codes, oldest first.
    pub async fn notification_codes(&self) -> Vec<String> {
        let res = self
            .client
            .gql(
                "{ notifications(first: 1000) { edges { node { code } } } }",
                json!({}),
            )
            .await;
        res.data()["notifications"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["code"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The value of the first sample of `metric` in Prometheus text whose labels include each of
/// `labels` (`name="value"`), if there is one.
pub fn metric_sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(metric)
                && line[metric.len()..].starts_with(['{', ' '])
                && labels.iter().all(|label| line.contains(label))
        })
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}
