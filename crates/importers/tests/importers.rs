//! The Facebook and Steam clients against fake APIs on loopback (wiremock) serving the documented
//! formats: success, paging, refusals, retries, timeouts, limits, malformed answers, and that no
//! credential ever reaches an error message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use amity_domain::social::{ExternalAccount, Network, NetworkError, SocialNetwork};
use amity_importers::{
    ConfigError, FacebookClient, FacebookConfig, HttpClient, ImporterSettings, Networks,
    STEAM_NOT_CONFIGURED, SteamClient, SteamConfig, networks,
};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockBuilder, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "EAAsecretTOKEN123";
const TICKET: &str = "14000000AABBCCDDEEFF0011";
const KEY: &str = "STEAMKEYsecret9876";
const APP_ID: u32 = 480;
const STEAM_ID: &str = "76561197960287930";

/// Settings pointing both networks at `server`, with fast retries.
fn settings(server: &MockServer) -> ImporterSettings {
    ImporterSettings {
        facebook_graph_url: Some(format!("{}/v19.0", server.uri())),
        steam_api_url: Some(server.uri()),
        steam_publisher_key: Some(KEY.to_owned()),
        steam_app_id: Some(APP_ID),
        timeout: Duration::from_secs(5),
        retries: 2,
        retry_backoff: Duration::from_millis(5),
        ..ImporterSettings::default()
    }
}

fn build(settings: &ImporterSettings) -> Networks {
    networks(settings).expect("the settings are valid")
}

fn facebook(server: &MockServer) -> Arc<dyn SocialNetwork> {
    build(&settings(server)).facebook
}

fn steam(server: &MockServer) -> Arc<dyn SocialNetwork> {
    build(&settings(server)).steam
}

/// The error, after checking that neither its message nor its debug form carries a secret.
fn no_secrets(error: NetworkError) -> NetworkError {
    for text in [error.to_string(), format!("{error:?}")] {
        for secret in [TOKEN, TICKET, KEY] {
            assert!(!text.contains(secret), "{text:?} contains {secret:?}");
        }
    }
    error
}

fn unavailable(error: NetworkError) -> String {
    match no_secrets(error) {
        NetworkError::Unavailable(reason) => reason,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

fn refused(error: NetworkError) -> String {
    match no_secrets(error) {
        NetworkError::Refused(reason) => reason,
        other => panic!("expected Refused, got {other:?}"),
    }
}

fn friend(id: &str) -> serde_json::Value {
    json!({ "id": id, "name": format!("Friend {id}") })
}

/// A mock matching GET requests to `at`, or to any path when `None`.
fn get(at: Option<&str>) -> MockBuilder {
    let mock = Mock::given(method("GET"));
    match at {
        Some(at) => mock.and(path(at)),
        None => mock,
    }
}

/// Mounts `mock` on `server`, expecting exactly `expect` matching requests when given.
async fn mount(server: &MockServer, mock: Mock, expect: Option<u64>) {
    match expect {
        Some(times) => mock.expect(times),
        None => mock,
    }
    .mount(server)
    .await;
}

/// Mounts `response` for GET requests to `at` (any path when `None`).
async fn mount_response(
    server: &MockServer,
    at: Option<&str>,
    response: impl Respond + 'static,
    expect: Option<u64>,
) {
    mount(server, get(at).respond_with(response), expect).await;
}

/// Mounts a `status` answer carrying the JSON `body` for GET requests to `at` (any path when
/// `None`).
async fn mount_json(
    server: &MockServer,
    at: Option<&str>,
    status: u16,
    body: Value,
    expect: Option<u64>,
) {
    let response = ResponseTemplate::new(status).set_body_json(body);
    mount_response(server, at, response, expect).await;
}

/// Facebook's error body for an `OAuthException`.
fn oauth_error(message: &str, code: u32) -> Value {
    json!({
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Facebook
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn facebook_verify_reads_me() {
    let server = MockServer::start().await;
    let mock = get(Some("/v19.0/me"))
        .and(query_param("fields", "id,name"))
        .and(query_param("access_token", TOKEN))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": "1234567890", "name": "Ada" })),
        );
    mount(&server, mock, Some(1)).await;

    let facebook = facebook(&server);
    assert_eq!(facebook.network(), Network::Facebook);
    let account = facebook.verify(TOKEN).await.unwrap();
    assert_eq!(
        account,
        ExternalAccount {
            id: "1234567890".to_owned(),
            name: Some("Ada".to_owned()),
        }
    );
}

#[tokio::test]
async fn facebook_friends_follow_cursors_in_order_and_fold_duplicates() {
    let server = MockServer::start().await;
    // `next` points at a host that does not exist: the client must page through the configured
    // base URL, using `next` only to know there is another page.
    let next = "https://graph.facebook.invalid/v19.0/me/friends?after=elsewhere";
    let friends = || get(Some("/v19.0/me/friends")).and(query_param("access_token", TOKEN));
    let first = friends()
        .and(query_param("limit", "100"))
        .and(query_param_is_missing("after"));
    let pages = [
        (
            first,
            json!({
                "data": [friend("1"), friend("2")],
                "paging": { "cursors": { "before": "b1", "after": "c1" }, "next": next },
            }),
        ),
        (
            friends().and(query_param("after", "c1")),
            json!({
                "data": [friend("3"), friend("2")],
                "paging": {
                    "cursors": { "before": "b2", "after": "c2" },
                    "previous": "https://graph.facebook.invalid/previous",
                    "next": next,
                },
            }),
        ),
        (
            friends().and(query_param("after", "c2")),
            json!({
                "data": [friend("4"), friend("1")],
                "paging": { "cursors": { "before": "b3", "after": "c3" } },
            }),
        ),
    ];
    for (mock, body) in pages {
        let response = ResponseTemplate::new(200).set_body_json(body);
        mount(&server, mock.respond_with(response), Some(1)).await;
    }

    let ids = facebook(&server)
        .friends("me-id", Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    server.verify().await;
}

#[tokio::test]
async fn facebook_friends_end_at_a_page_without_paging() {
    let server = MockServer::start().await;
    let body = json!({ "data": [friend("9")] });
    mount_json(&server, Some("/v19.0/me/friends"), 200, body, Some(1)).await;

    let ids = facebook(&server)
        .friends("me-id", Some(TOKEN))
        .await
        .unwrap();
    assert_eq!(ids, ["9"]);
}

#[tokio::test]
async fn facebook_friends_without_a_token_are_refused_without_a_request() {
    let server = MockServer::start().await;
    let facebook = facebook(&server);
    for token in [None, Some(""), Some("  ")] {
        let reason = refused(facebook.friends("me-id", token).await.unwrap_err());
        assert_eq!(reason, "a Facebook access token is needed");
    }
    assert!(refused(facebook.verify("").await.unwrap_err()).contains("token"));
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn facebook_invalid_token_is_refused_with_facebooks_message_and_not_retried() {
    let server = MockServer::start().await;
    let mut body = oauth_error("Invalid OAuth access token.", 190);
    body["error"]["fbtrace_id"] = json!("AbCdEf");
    mount_json(&server, Some("/v19.0/me"), 400, body, Some(1)).await;

    let reason = refused(facebook(&server).verify(TOKEN).await.unwrap_err());
    assert_eq!(reason, "Invalid OAuth access token.");
    server.verify().await;
}

#[tokio::test]
async fn facebook_messages_quoting_the_token_are_redacted() {
    let server = MockServer::start().await;
    let body = oauth_error(&format!("Malformed access token {TOKEN}"), 190);
    mount_json(&server, Some("/v19.0/me/friends"), 400, body, None).await;

    let reason = refused(
        facebook(&server)
            .friends("me-id", Some(TOKEN))
            .await
            .unwrap_err(),
    );
    assert_eq!(reason, "Malformed access token [redacted]");
}

#[tokio::test]
async fn facebook_rate_limits_are_unavailable_not_refused() {
    let server = MockServer::start().await;
    let body = oauth_error("Application request limit reached", 4);
    mount_json(&server, Some("/v19.0/me"), 403, body, Some(1)).await;

    let reason = unavailable(facebook(&server).verify(TOKEN).await.unwrap_err());
    assert!(
        reason.contains("Application request limit reached"),
        "{reason}"
    );
}

#[tokio::test]
async fn facebook_4xx_without_an_error_body_is_unavailable_and_names_the_path_only() {
    let server = MockServer::start().await;
    let response = ResponseTemplate::new(404).set_body_string("<html>Not Found</html>");
    mount_response(&server, None, response, Some(1)).await;

    let reason = unavailable(facebook(&server).verify(TOKEN).await.unwrap_err());
    assert_eq!(reason, "Facebook answered HTTP 404 Not Found to /v19.0/me");
}

#[tokio::test]
async fn facebook_500_then_200_is_retried_and_succeeds() {
    let server = MockServer::start().await;
    let failure = get(Some("/v19.0/me"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1);
    mount(&server, failure, Some(1)).await;
    let body = json!({ "id": "42", "name": "Bo" });
    mount_json(&server, Some("/v19.0/me"), 200, body, Some(1)).await;

    let account = facebook(&server).verify(TOKEN).await.unwrap();
    assert_eq!(account.id, "42");
    server.verify().await;
}

#[tokio::test]
async fn facebook_500_every_time_is_unavailable_after_retries_plus_one_attempts() {
    let server = MockServer::start().await;
    let response = ResponseTemplate::new(503);
    mount_response(&server, Some("/v19.0/me/friends"), response, Some(3)).await;

    let reason = unavailable(
        facebook(&server)
            .friends("me-id", Some(TOKEN))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        reason,
        "Facebook answered HTTP 503 Service Unavailable to /v19.0/me/friends (after 3 attempts)"
    );
    server.verify().await;
}

#[tokio::test]
async fn facebook_retries_are_configurable() {
    let server = MockServer::start().await;
    mount_response(&server, None, ResponseTemplate::new(502), Some(1)).await;

    let facebook = build(&ImporterSettings {
        retries: 0,
        ..settings(&server)
    })
    .facebook;
    unavailable(facebook.verify(TOKEN).await.unwrap_err());
    server.verify().await;
}

#[tokio::test]
async fn facebook_slow_answer_past_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    let response = ResponseTemplate::new(200)
        .set_body_json(json!({ "id": "1", "name": "Slow" }))
        .set_delay(Duration::from_secs(1));
    mount_response(&server, Some("/v19.0/me"), response, Some(2)).await;

    let facebook = build(&ImporterSettings {
        timeout: Duration::from_millis(200),
        retries: 1,
        ..settings(&server)
    })
    .facebook;
    let started = Instant::now();
    let reason = unavailable(facebook.verify(TOKEN).await.unwrap_err());
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "waited for the slow answer"
    );
    assert_eq!(
        reason,
        "Facebook did not answer /v19.0/me: timed out (after 2 attempts)"
    );
    server.verify().await;
}

/// Every page announces another, with a fresh cursor each time.
struct EndlessPages;

impl Respond for EndlessPages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let page: u32 = request
            .url
            .query_pairs()
            .find(|(name, _)| name == "after")
            .map_or(0, |(_, after)| after.parse().unwrap());
        ResponseTemplate::new(200).set_body_json(json!({
            "data": [friend(&format!("id{page}"))],
            "paging": {
                "cursors": { "after": (page + 1).to_string() },
                "next": "https://graph.facebook.invalid/next",
            },
        }))
    }
}

#[tokio::test]
async fn facebook_endless_paging_is_stopped_by_the_page_limit() {
    let server = MockServer::start().await;
    mount_response(&server, Some("/v19.0/me/friends"), EndlessPages, Some(7)).await;

    let facebook = build(&ImporterSettings {
        max_pages: 7,
        ..settings(&server)
    })
    .facebook;
    let reason = unavailable(facebook.friends("me-id", Some(TOKEN)).await.unwrap_err());
    assert!(reason.contains("more than 7 pages"), "{reason}");
    server.verify().await;
}

#[tokio::test]
async fn facebook_repeated_cursor_is_unavailable() {
    let server = MockServer::start().await;
    let body = json!({
        "data": [friend("1")],
        "paging": { "cursors": { "after": "same" }, "next": "https://x.invalid/next" },
    });
    mount_json(&server, Some("/v19.0/me/friends"), 200, body, Some(2)).await;

    let reason = unavailable(
        facebook(&server)
            .friends("me-id", Some(TOKEN))
            .await
            .unwrap_err(),
    );
    assert!(reason.contains("repeated a paging cursor"), "{reason}");
    server.verify().await;
}

#[tokio::test]
async fn facebook_next_without_a_cursor_is_unavailable() {
    let server = MockServer::start().await;
    let body = json!({
        "data": [],
        "paging": { "next": "https://x.invalid/next" },
    });
    mount_json(&server, None, 200, body, Some(1)).await;

    let reason = unavailable(
        facebook(&server)
            .friends("me-id", Some(TOKEN))
            .await
            .unwrap_err(),
    );
    assert!(reason.contains("after cursor"), "{reason}");
}

#[tokio::test]
async fn facebook_friends_past_the_id_cap_are_unavailable() {
    let server = MockServer::start().await;
    let body = json!({
        "data": [friend("1"), friend("2"), friend("1"), friend("3"), friend("4")],
    });
    mount_json(&server, None, 200, body, None).await;

    let facebook = build(&ImporterSettings {
        max_friends: 3,
        ..settings(&server)
    })
    .facebook;
    let reason = unavailable(facebook.friends("me-id", Some(TOKEN)).await.unwrap_err());
    assert!(reason.contains("more than 3 friends"), "{reason}");
}

#[tokio::test]
async fn facebook_malformed_answers_are_unavailable() {
    let server = MockServer::start().await;
    let response = ResponseTemplate::new(200).set_body_string("{\"id\": \"1\", \"name\"");
    mount_response(&server, Some("/v19.0/me"), response, None).await;
    let body = json!({ "friends": [] });
    mount_json(&server, Some("/v19.0/me/friends"), 200, body, None).await;

    let facebook = facebook(&server);
    let reason = unavailable(facebook.verify(TOKEN).await.unwrap_err());
    assert_eq!(
        reason,
        "Facebook answered /v19.0/me with something that is not JSON"
    );
    let reason = unavailable(facebook.friends("me-id", Some(TOKEN)).await.unwrap_err());
    assert_eq!(
        reason,
        "Facebook answered /v19.0/me/friends with JSON that is not its documented format"
    );
}

#[tokio::test]
async fn facebook_unreachable_server_is_unavailable() {
    // A port nothing listens on (wiremock keeps pooled servers listening after a drop).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v19.0", listener.local_addr().unwrap());
    drop(listener);

    let facebook = build(&ImporterSettings {
        facebook_graph_url: Some(url),
        retries: 1,
        retry_backoff: Duration::from_millis(1),
        ..ImporterSettings::default()
    })
    .facebook;
    let reason = unavailable(facebook.verify(TOKEN).await.unwrap_err());
    assert_eq!(
        reason,
        "Facebook did not answer /v19.0/me: could not connect (after 2 attempts)"
    );
}

#[tokio::test]
async fn facebook_client_can_be_built_directly() {
    let server = MockServer::start().await;
    mount_json(&server, Some("/me"), 200, json!({ "id": "7" }), None).await;

    let http = HttpClient::new(&ImporterSettings::default()).unwrap();
    assert_eq!(
        FacebookConfig::default().graph_url,
        "https://graph.facebook.com/v19.0"
    );
    let facebook = FacebookClient::new(
        FacebookConfig {
            graph_url: format!("{}/", server.uri()),
            ..FacebookConfig::default()
        },
        http,
    )
    .unwrap();
    let account = facebook.verify(TOKEN).await.unwrap();
    assert_eq!(
        account,
        ExternalAccount {
            id: "7".to_owned(),
            name: None
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Steam
// ---------------------------------------------------------------------------------------------

const TICKET_PATH: &str = "/ISteamUserAuth/AuthenticateUserTicket/v1/";
const FRIENDS_PATH: &str = "/ISteamUser/GetFriendList/v1/";

fn ticket_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "response": {
            "params": {
                "result": "OK",
                "steamid": STEAM_ID,
                "ownersteamid": STEAM_ID,
                "vacbanned": false,
                "publisherbanned": false,
            }
        }
    }))
}

/// Steam's body for a ticket it does not accept.
fn ticket_error(code: u32, description: &str) -> Value {
    json!({
        "response": { "error": { "errorcode": code, "errordesc": description } }
    })
}

#[tokio::test]
async fn steam_verify_returns_the_steamid_without_a_name() {
    let server = MockServer::start().await;
    let mock = get(Some(TICKET_PATH))
        .and(query_param("key", KEY))
        .and(query_param("appid", APP_ID.to_string()))
        .and(query_param("ticket", TICKET))
        .respond_with(ticket_ok());
    mount(&server, mock, Some(1)).await;

    let networks = build(&settings(&server));
    assert!(networks.steam_configured);
    assert_eq!(networks.steam.network(), Network::Steam);
    let account = networks.steam.verify(TICKET).await.unwrap();
    assert_eq!(
        account,
        ExternalAccount {
            id: STEAM_ID.to_owned(),
            name: None,
        }
    );
}

#[tokio::test]
async fn steam_bad_ticket_is_refused_with_steams_description() {
    let server = MockServer::start().await;
    let body = ticket_error(101, "Invalid ticket");
    mount_json(&server, Some(TICKET_PATH), 200, body, Some(1)).await;

    let reason = refused(steam(&server).verify(TICKET).await.unwrap_err());
    assert_eq!(reason, "Invalid ticket (101)");
    server.verify().await;
}

#[tokio::test]
async fn steam_descriptions_quoting_the_ticket_or_key_are_redacted() {
    let server = MockServer::start().await;
    let body = ticket_error(102, &format!("Ticket {TICKET} for key {KEY}"));
    mount_json(&server, Some(TICKET_PATH), 200, body, None).await;

    let reason = refused(steam(&server).verify(TICKET).await.unwrap_err());
    assert_eq!(reason, "Ticket [redacted] for key [redacted] (102)");
}

#[tokio::test]
async fn steam_wrong_key_is_unavailable_and_names_the_publisher_key_not_its_value() {
    let server = MockServer::start().await;
    let response = ResponseTemplate::new(403).set_body_raw(
        "<html><head><title>Forbidden</title></head><body><h1>Forbidden</h1>Access is \
         denied. Retrying will not help. Please verify your <pre>key=</pre> parameter.</body></html>",
        "text/html",
    );
    mount_response(&server, Some(TICKET_PATH), response, Some(1)).await;

    let reason = unavailable(steam(&server).verify(TICKET).await.unwrap_err());
    assert!(reason.contains("publisher key"), "{reason}");
    assert!(reason.contains("AMITY_STEAM_PUBLISHER_KEY"), "{reason}");
    server.verify().await;
}

#[tokio::test]
async fn steam_malformed_ticket_answer_is_unavailable() {
    let server = MockServer::start().await;
    mount_json(
        &server,
        Some(TICKET_PATH),
        200,
        json!({ "response": {} }),
        None,
    )
    .await;

    let reason = unavailable(steam(&server).verify(TICKET).await.unwrap_err());
    assert!(reason.contains("neither params nor an error"), "{reason}");
}

#[tokio::test]
async fn steam_friend_list_is_read() {
    let server = MockServer::start().await;
    let mock = get(Some(FRIENDS_PATH))
        .and(query_param("key", KEY))
        .and(query_param("steamid", STEAM_ID))
        .and(query_param("relationship", "friend"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "friendslist": {
                "friends": [
                    { "steamid": "76561197960265731", "relationship": "friend", "friend_since": 1500000000 },
                    { "steamid": "76561197960265732", "relationship": "friend", "friend_since": 1500000001 },
                    { "steamid": "76561197960265731", "relationship": "friend", "friend_since": 1500000000 },
                ]
            }
        })));
    mount(&server, mock, Some(1)).await;

    let ids = steam(&server).friends(STEAM_ID, None).await.unwrap();
    assert_eq!(ids, ["76561197960265731", "76561197960265732"]);
}

#[tokio::test]
async fn steam_private_profile_is_an_empty_list() {
    let server = MockServer::start().await;
    let response = ResponseTemplate::new(401).set_body_raw(
        "<html><body><h1>Unauthorized</h1></body></html>",
        "text/html",
    );
    mount_response(&server, Some(FRIENDS_PATH), response, Some(1)).await;

    let ids = steam(&server).friends(STEAM_ID, None).await.unwrap();
    assert!(ids.is_empty());
    server.verify().await;
}

#[tokio::test]
async fn steam_500_then_ok_is_retried() {
    let server = MockServer::start().await;
    let failure = get(Some(FRIENDS_PATH))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1);
    mount(&server, failure, Some(1)).await;
    let body = json!({
        "friendslist": { "friends": [{ "steamid": "76561197960265733", "relationship": "friend" }] }
    });
    mount_json(&server, Some(FRIENDS_PATH), 200, body, Some(1)).await;

    let ids = steam(&server).friends(STEAM_ID, None).await.unwrap();
    assert_eq!(ids, ["76561197960265733"]);
    server.verify().await;
}

#[tokio::test]
async fn steam_500_every_time_is_unavailable_after_retries_plus_one_attempts() {
    let server = MockServer::start().await;
    mount_response(
        &server,
        Some(TICKET_PATH),
        ResponseTemplate::new(500),
        Some(3),
    )
    .await;

    let reason = unavailable(steam(&server).verify(TICKET).await.unwrap_err());
    assert!(reason.ends_with("(after 3 attempts)"), "{reason}");
    server.verify().await;
}

#[tokio::test]
async fn steam_malformed_friend_list_is_unavailable() {
    let server = MockServer::start().await;
    let first =
        get(Some(FRIENDS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({ "friendslist": { "friends": [{ "steamid": "not-an-id" }] } }),
            ))
            .up_to_n_times(1);
    mount(&server, first, None).await;
    let response = ResponseTemplate::new(200).set_body_string("<html>oops</html>");
    mount_response(&server, Some(FRIENDS_PATH), response, None).await;

    let steam = steam(&server);
    let reason = unavailable(steam.friends(STEAM_ID, None).await.unwrap_err());
    assert!(reason.contains("valid steamid"), "{reason}");
    let reason = unavailable(steam.friends(STEAM_ID, None).await.unwrap_err());
    assert!(reason.contains("not JSON"), "{reason}");
}

#[tokio::test]
async fn steam_wrong_key_on_the_friend_list_is_unavailable() {
    let server = MockServer::start().await;
    let response = ResponseTemplate::new(403).set_body_raw("<html>Forbidden</html>", "text/html");
    mount_response(&server, Some(FRIENDS_PATH), response, Some(1)).await;

    let reason = unavailable(steam(&server).friends(STEAM_ID, None).await.unwrap_err());
    assert!(reason.contains("publisher key"), "{reason}");
}

#[tokio::test]
async fn steam_unconfigured_answers_not_configured_without_a_request() {
    let server = MockServer::start().await;
    for (key, app_id) in [
        (None, Some(APP_ID)),
        (Some(KEY.to_owned()), None),
        (Some("  ".to_owned()), Some(APP_ID)),
        (None, None),
    ] {
        let networks = build(&ImporterSettings {
            steam_publisher_key: key,
            steam_app_id: app_id,
            ..settings(&server)
        });
        assert!(!networks.steam_configured);
        let expected = NetworkError::NotConfigured(STEAM_NOT_CONFIGURED);
        assert_eq!(
            no_secrets(networks.steam.verify(TICKET).await.unwrap_err()),
            expected
        );
        assert_eq!(
            networks.steam.friends(STEAM_ID, None).await.unwrap_err(),
            expected
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());

    let http = HttpClient::new(&ImporterSettings::default()).unwrap();
    let steam = SteamClient::new(SteamConfig::default(), http).unwrap();
    assert!(!steam.is_configured());
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn base_urls_must_be_http_or_https() {
    for (url, setting) in [
        ("ftp://graph.example.com", "AMITY_FACEBOOK_GRAPH_URL"),
        ("graph.facebook.com/v19.0", "AMITY_FACEBOOK_GRAPH_URL"),
        (
            "https://graph.facebook.com/v19.0?x=1",
            "AMITY_FACEBOOK_GRAPH_URL",
        ),
    ] {
        let error = networks(&ImporterSettings {
            facebook_graph_url: Some(url.to_owned()),
            ..ImporterSettings::default()
        })
        .err()
        .expect("the URL is refused");
        assert!(
            matches!(&error, ConfigError::InvalidUrl { setting: s, .. } if *s == setting),
            "{error:?}"
        );
        assert!(error.to_string().starts_with(setting), "{error}");
    }
    let error = networks(&ImporterSettings {
        steam_api_url: Some(format!("file:///etc/passwd?key={KEY}")),
        ..ImporterSettings::default()
    })
    .err()
    .expect("the URL is refused");
    assert!(error.to_string().contains("AMITY_STEAM_API_URL"), "{error}");
    assert!(!error.to_string().contains(KEY), "{error}");
}

#[test]
fn blank_urls_mean_the_defaults_and_defaults_build() {
    let networks = networks(&ImporterSettings {
        facebook_graph_url: Some(String::new()),
        steam_api_url: Some(" ".to_owned()),
        ..ImporterSettings::default()
    })
    .unwrap();
    assert!(!networks.steam_configured);
    assert_eq!(networks.facebook.network(), Network::Facebook);
}

#[test]
fn limits_and_app_id_are_checked() {
    for settings in [
        ImporterSettings {
            timeout: Duration::ZERO,
            ..ImporterSettings::default()
        },
        ImporterSettings {
            max_pages: 0,
            ..ImporterSettings::default()
        },
        ImporterSettings {
            max_friends: 0,
            ..ImporterSettings::default()
        },
        ImporterSettings {
            steam_app_id: Some(0),
            ..ImporterSettings::default()
        },
    ] {
        assert!(matches!(
            networks(&settings),
            Err(ConfigError::InvalidSetting { .. })
        ));
    }
}

#[test]
fn settings_debug_hides_the_publisher_key() {
    let settings = ImporterSettings {
        steam_publisher_key: Some(KEY.to_owned()),
        ..ImporterSettings::default()
    };
    let debug = format!("{settings:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    let config = SteamConfig {
        publisher_key: Some(KEY.to_owned()),
        ..SteamConfig::default()
    };
    assert!(!format!("{config:?}").contains(KEY));
    let http = HttpClient::new(&settings).unwrap();
    let steam = SteamClient::new(
        SteamConfig {
            app_id: Some(APP_ID),
            ..config
        },
        http,
    )
    .unwrap();
    assert!(steam.is_configured());
    assert!(!format!("{steam:?}").contains(KEY));
    let defaults = ImporterSettings::default();
    assert_eq!(defaults.timeout, Duration::from_secs(10));
    assert_eq!(defaults.retries, 2);
    assert_eq!(defaults.max_pages, 50);
}
