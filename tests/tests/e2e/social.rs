//! Friends from Facebook and Steam, through the GraphQL API, with the server pointed at local
//! fake Facebook Graph and Steam Web APIs that answer in the real formats.

use amity_e2e::{Client, TestServer, User};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AUTH_FACEBOOK: &str = "mutation($t: String!) { authenticateFacebook(accessToken: $t) {
    token user { id handle } } }";
const AUTH_STEAM: &str = "mutation($t: String!) { authenticateSteam(ticket: $t) {
    token user { id handle } } }";
const FRIENDS: &str = "{ friends(first: 100) { edges { node { state source user { handle } } } } }";

/// A fake Facebook: `token` belongs to `(id, name)` whose app-using friends are `friends`.
async fn facebook_user(fb: &MockServer, token: &str, id: &str, name: &str, friends: &[&str]) {
    let me = Some(("access_token", token));
    answer(fb, "/me", me, 200, json!({ "id": id, "name": name })).await;
    let data: Vec<Value> = friends
        .iter()
        .map(|f| json!({ "id": f, "name": format!("Friend {f}") }))
        .collect();
    let page = json!({
        "data": data,
        "paging": { "cursors": { "before": "QVFIUmx", "after": "QVFIUmz" } }
    });
    answer(fb, "/me/friends", me, 200, page).await;
}

/// A fake Steam: `ticket` belongs to `steamid`, whose friends are `friends`.
async fn steam_user(steam: &MockServer, ticket: &str, steamid: &str, friends: &[&str]) {
    let params = json!({ "result": "OK", "steamid": steamid, "ownersteamid": steamid,
                         "vacbanned": false, "publisherbanned": false });
    let ticket_path = "/ISteamUserAuth/AuthenticateUserTicket/v1/";
    let ticket = Some(("ticket", ticket));
    answer(
        steam,
        ticket_path,
        ticket,
        200,
        json!({ "response": { "params": params } }),
    )
    .await;
    let list: Vec<Value> = friends
        .iter()
        .map(|f| json!({ "steamid": f, "relationship": "friend", "friend_since": 1_600_000_000 }))
        .collect();
    let friends = json!({ "friendslist": { "friends": list } });
    let id = Some(("steamid", steamid));
    answer(steam, "/ISteamUser/GetFriendList/v1/", id, 200, friends).await;
}

/// Mounts a GET answer of `status` with a JSON `body` on `at`, optionally only for one query
/// parameter value.
async fn answer(
    server: &MockServer,
    at: &str,
    param: Option<(&str, &str)>,
    status: u16,
    body: Value,
) {
    let mut mock = Mock::given(method("GET")).and(path(at));
    if let Some((name, value)) = param {
        mock = mock.and(query_param(name, value));
    }
    mock.respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

/// `linkFacebook(accessToken)` as `user`.
async fn link_facebook(user: &User, token: &str) -> amity_e2e::Response {
    user.client
        .gql(
            "mutation($t: String!) { linkFacebook(accessToken: $t) { handle } }",
            json!({ "t": token }),
        )
        .await
}

async fn server_with(fb: &MockServer, steam: &MockServer) -> TestServer {
    server_with_limit(fb, steam, 1000).await
}

async fn server_with_limit(fb: &MockServer, steam: &MockServer, max_friends: u32) -> TestServer {
    let (fb, steam) = (fb.uri(), steam.uri());
    TestServer::start_with(move |s| {
        s.max_friends = max_friends;
        s.facebook_graph_url = Some(fb);
        s.steam_api_url = Some(steam);
        s.steam_publisher_key = Some("publisher-key".to_owned());
        s.steam_app_id = Some(480);
        s.import_timeout_ms = 2000;
    })
    .await
}

/// Signs in with a network and returns the user.
async fn authenticate(server: &TestServer, query: &str, credential: &str) -> User {
    let res = server
        .anonymous()
        .gql(query, json!({ "t": credential }))
        .await;
    let data = res.data();
    let field = data.as_object().unwrap().values().next().unwrap();
    let token = field["token"].as_str().unwrap().to_owned();
    User {
        id: field["user"]["id"].as_str().unwrap().to_owned(),
        handle: field["user"]["handle"].as_str().unwrap().to_owned(),
        token: token.clone(),
        refresh_token: field["refreshToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        client: server.anonymous().with_token(token),
        ws_url: server.ws_url(),
    }
}

async fn friends_of(client: &Client) -> Vec<(String, String, Value)> {
    let res = client.gql(FRIENDS, json!({})).await;
    res.data()["friends"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["user"]["handle"].as_str().unwrap().to_owned(),
                e["node"]["state"].as_str().unwrap().to_owned(),
                e["node"]["source"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn facebook_friends_who_both_sign_in_become_friends_and_are_told() {
    let (fb, steam) = (MockServer::start().await, MockServer::start().await);
    facebook_user(&fb, "tok-ann", "fb-ann", "Ann Example", &["fb-bob"]).await;
    facebook_user(&fb, "tok-bob", "fb-bob", "Bob Example", &["fb-ann"]).await;
    let server = server_with(&fb, &steam).await;

    let ann = authenticate(&server, AUTH_FACEBOOK, "tok-ann").await;
    assert_eq!(ann.handle, "Ann_Example");
    assert!(friends_of(&ann.client).await.is_empty());
    let bob = authenticate(&server, AUTH_FACEBOOK, "tok-bob").await;
    assert_eq!(
        friends_of(&bob.client).await,
        [(
            "Ann_Example".to_owned(),
            "FRIEND".to_owned(),
            json!("FACEBOOK")
        )]
    );
    assert_eq!(
        friends_of(&ann.client).await,
        [(
            "Bob_Example".to_owned(),
            "FRIEND".to_owned(),
            json!("FACEBOOK")
        )]
    );
    assert_eq!(ann.notification_codes().await, ["FRIEND_JOINED"]);
    assert_eq!(bob.notification_codes().await, ["FRIEND_JOINED"]);

    // Signing in again finds the same user and changes nothing.
    let again = authenticate(&server, AUTH_FACEBOOK, "tok-ann").await;
    assert_eq!(again.id, ann.id);
    assert_eq!(ann.notification_codes().await, ["FRIEND_JOINED"]);
    server.stop().await;
}

#[tokio::test]
async fn imports_respect_blocks_and_reset_keeps_hand_made_friendships() {
    let (fb, steam) = (MockServer::start().await, MockServer::start().await);
    facebook_user(&fb, "tok-carl", "fb-carl", "Carl", &[]).await;
    facebook_user(&fb, "tok-eve", "fb-eve", "Eve", &[]).await;
    facebook_user(&fb, "tok-gil", "fb-gil", "Gil", &[]).await;
    let server = server_with(&fb, &steam).await;
    let carl = server.sign_up("carl_here").await;
    let eve = server.sign_up("eve_here").await;
    let gil = server.sign_up("gil_here").await;
    for (user, token) in [(&carl, "tok-carl"), (&eve, "tok-eve"), (&gil, "tok-gil")] {
        let res = link_facebook(user, token).await;
        assert_eq!(res.data()["linkFacebook"]["handle"], user.handle.as_str());
    }
    // Dana blocked Carl before linking; her Facebook friends are Carl, Eve and Gil.
    let dana = server.sign_up("dana_here").await;
    dana.block(&[&carl.id]).await.data();
    dana.befriend(&eve).await; // hand-made, before any import
    facebook_user(
        &fb,
        "tok-dana",
        "fb-dana",
        "Dana",
        &["fb-carl", "fb-eve", "fb-gil"],
    )
    .await;
    let res = link_facebook(&dana, "tok-dana").await;
    res.data();
    let mut friends = friends_of(&dana.client).await;
    friends.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        friends,
        [
            ("carl_here".to_owned(), "BLOCKED".to_owned(), Value::Null),
            ("eve_here".to_owned(), "FRIEND".to_owned(), Value::Null),
            (
                "gil_here".to_owned(),
                "FRIEND".to_owned(),
                json!("FACEBOOK")
            ),
        ]
    );
    assert_eq!(carl.view_of(&dana.id).await, None);

    // Facebook now reports nobody: a reset removes Gil (imported), keeps Eve (hand-made) and
    // the block.
    fb.reset().await;
    facebook_user(&fb, "tok-dana", "fb-dana", "Dana", &[]).await;
    facebook_user(&fb, "tok-gil", "fb-gil", "Gil", &[]).await;
    let res = dana
        .client
        .gql(
            "mutation($t: String!) { importFacebookFriends(accessToken: $t, reset: true) { user { handle } } }",
            json!({ "t": "tok-dana" }),
        )
        .await;
    assert_eq!(res.data()["importFacebookFriends"], json!([]));
    let mut friends = friends_of(&dana.client).await;
    friends.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        friends,
        [
            ("carl_here".to_owned(), "BLOCKED".to_owned(), Value::Null),
            ("eve_here".to_owned(), "FRIEND".to_owned(), Value::Null),
        ]
    );
    assert_eq!(gil.view_of(&dana.id).await, None);

    // Linking an account someone else has is refused.
    let res = link_facebook(&dana, "tok-gil").await;
    assert_eq!(res.code(), "FORBIDDEN", "{}", res.message());
    server.stop().await;
}

#[tokio::test]
async fn steam_friends_import_the_same_way() {
    let (fb, steam) = (MockServer::start().await, MockServer::start().await);
    steam_user(
        &steam,
        "ticket-a",
        "76561197960265731",
        &["76561197960265732"],
    )
    .await;
    steam_user(
        &steam,
        "ticket-b",
        "76561197960265732",
        &["76561197960265731"],
    )
    .await;
    let server = server_with(&fb, &steam).await;
    let a = authenticate(&server, AUTH_STEAM, "ticket-a").await;
    assert_eq!(a.handle, "steam_76561197960265731");
    let b = authenticate(&server, AUTH_STEAM, "ticket-b").await;
    assert_eq!(
        friends_of(&b.client).await,
        [(a.handle.clone(), "FRIEND".to_owned(), json!("STEAM"))]
    );
    assert_eq!(a.notification_codes().await, ["FRIEND_JOINED"]);

    // Re-sync by the linked id; the list is unchanged, so nothing new.
    let res = a
        .client
        .gql(
            "mutation { importSteamFriends { user { handle } } }",
            json!({}),
        )
        .await;
    assert_eq!(res.data()["importSteamFriends"], json!([]));
    // A bad ticket is Steam's error body: IMPORT_FAILED, nobody created.
    answer(
        &steam,
        "/ISteamUserAuth/AuthenticateUserTicket/v1/",
        Some(("ticket", "forged")),
        200,
        json!({ "response": { "error": { "errorcode": 101, "errordesc": "Invalid ticket" } } }),
    )
    .await;
    let res = server
        .anonymous()
        .gql(AUTH_STEAM, json!({ "t": "forged" }))
        .await;
    assert_eq!(res.code(), "IMPORT_FAILED");
    assert!(
        res.message().contains("Invalid ticket"),
        "{}",
        res.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_provider_failure_changes_nothing() {
    let (fb, steam) = (MockServer::start().await, MockServer::start().await);
    answer(
        &fb,
        "/me",
        None,
        200,
        json!({ "id": "fb-zed", "name": "Zed Failing" }),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/me/friends"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .mount(&fb)
        .await;
    let server = server_with(&fb, &steam).await;
    let res = server
        .anonymous()
        .gql(AUTH_FACEBOOK, json!({ "t": "tok-zed" }))
        .await;
    assert_eq!(res.code(), "IMPORT_FAILED", "{}", res.message());
    assert!(!res.message().contains("tok-zed"), "{}", res.message());
    // No account was made.
    let someone = server.sign_up("someone_else").await;
    let res = someone
        .client
        .gql("{ user(handle: \"Zed_Failing\") { id } }", json!({}))
        .await;
    assert_eq!(res.data()["user"], Value::Null);

    // Facebook's answer to an invalid token.
    Mock::given(method("GET"))
        .and(path("/me"))
        .and(query_param("access_token", "tok-stale"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": { "message": "Error validating access token: Session has expired.",
                       "type": "OAuthException", "code": 190, "fbtrace_id": "A1b2C3" }
        })))
        .with_priority(1)
        .mount(&fb)
        .await;
    let res = server
        .anonymous()
        .gql(AUTH_FACEBOOK, json!({ "t": "tok-stale" }))
        .await;
    assert_eq!(res.code(), "IMPORT_FAILED");
    assert!(
        res.message().contains("Session has expired"),
        "{}",
        res.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unconfigured_network_says_so() {
    let server = TestServer::start().await;
    let res = server
        .anonymous()
        .gql(AUTH_STEAM, json!({ "t": "ticket" }))
        .await;
    assert_eq!(res.code(), "IMPORT_FAILED");
    assert!(
        res.message().contains("not configured"),
        "{}",
        res.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_pending_request_is_upgraded_and_link_can_skip_the_import() {
    let (fb, steam) = (MockServer::start().await, MockServer::start().await);
    steam_user(
        &steam,
        "ticket-h",
        "76561197960265741",
        &["76561197960265742"],
    )
    .await;
    steam_user(
        &steam,
        "ticket-i",
        "76561197960265742",
        &["76561197960265741"],
    )
    .await;
    let server = server_with(&fb, &steam).await;
    let hal = server.sign_up("hal_here").await;
    let ivy = server.sign_up("ivy_here").await;
    // Hal asked Ivy by hand; both then link Steam, Ivy without importing.
    hal.add(&[&ivy.id]).await.data();
    let link = "mutation($t: String!, $i: Boolean) { linkSteam(ticket: $t, importFriends: $i) { handle } }";
    let res = ivy
        .client
        .gql(link, json!({ "t": "ticket-i", "i": false }))
        .await;
    assert_eq!(res.data()["linkSteam"]["handle"], "ivy_here");
    assert_eq!(
        ivy.view_of(&hal.id).await.as_deref(),
        Some("INVITE_RECEIVED")
    );
    let res = hal.client.gql(link, json!({ "t": "ticket-h" })).await;
    res.data();
    assert_eq!(
        friends_of(&hal.client).await,
        [("ivy_here".to_owned(), "FRIEND".to_owned(), json!("STEAM"))]
    );
    assert_eq!(ivy.view_of(&hal.id).await.as_deref(), Some("FRIEND"));
    assert_eq!(
        ivy.notification_codes().await,
        ["FRIEND_REQUEST", "FRIEND_JOINED"]
    );
    // Linking again is harmless; importing without a link is refused clearly.
    let res = hal.client.gql(link, json!({ "t": "ticket-h" })).await;
    res.data();
    let jo = server.sign_up("jo_here").await;
    let res = jo
        .client
        .gql(
            "mutation { importSteamFriends { user { handle } } }",
            json!({}),
        )
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    assert!(
        res.message().contains("link a Steam account first"),
        "{}",
        res.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn an_import_skips_friends_past_the_limit() {
    let (fb, steam) = (MockServer::start().await, MockServer::start().await);
    facebook_user(&fb, "tok-lou", "fb-lou", "Lou", &[]).await;
    facebook_user(&fb, "tok-kim", "fb-kim", "Kim", &["fb-lou"]).await;
    let server = server_with_limit(&fb, &steam, 1).await;
    let lou = authenticate(&server, AUTH_FACEBOOK, "tok-lou").await;
    let kim = server.sign_up("kim_here").await;
    let max = server.sign_up("max_here").await;
    kim.befriend(&max).await; // Kim is at the limit of one friend
    let res = link_facebook(&kim, "tok-kim").await;
    res.data();
    assert_eq!(kim.view_of(&lou.id).await, None);
    assert_eq!(kim.view_of(&max.id).await.as_deref(), Some("FRIEND"));
    assert!(lou.notification_codes().await.is_empty());
    server.stop().await;
}
