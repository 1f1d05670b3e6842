//! Moderation over the API: who may ban, what a ban does (sessions, sign-in, websockets,
//! visibility, edges kept), unbans, expiry, and the audit log; across two nodes on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use amity_domain::accounts::Role;
use amity_domain::time::{Clock, ManualClock, SystemClock};
use amity_e2e::{TestServer, User};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const BAN: &str = "mutation($ids: [ID!], $handles: [String!], $reason: String, $until: DateTime) {
    banUsers(ids: $ids, handles: $handles, reason: $reason, until: $until) }";
const UNBAN: &str = "mutation($ids: [ID!], $handles: [String!]) {
    unbanUsers(ids: $ids, handles: $handles) }";
const LOG: &str =
    "query($first: Int, $after: String) { moderationLog(first: $first, after: $after) {
    id actor { handle } actorLabel target { handle } action reason until role createdAt cursor } }";
const ME: &str = "{ me { handle role } }";
const NOTIFICATIONS: &str = "subscription { notifications { code } }";

async fn sign_in(server: &TestServer, handle: &str) -> amity_e2e::Response {
    server
        .anonymous()
        .gql(
            "mutation($h: String!) { signIn(handle: $h, password: \"password-1\") { token } }",
            json!({ "h": handle }),
        )
        .await
}

#[tokio::test]
async fn only_moderators_and_admins_ban_and_a_moderator_cannot_ban_an_admin() {
    let server = TestServer::start().await;
    let user = server.sign_up("modplain").await;
    let other = server.sign_up("modother").await;
    let moderator = server.sign_up_as("modmod", Role::Moderator).await;
    let admin = server.sign_up_as("modadmin", Role::Admin).await;

    let res = user.client.gql(BAN, json!({ "ids": [other.id] })).await;
    assert_eq!(res.code(), "FORBIDDEN", "{:?}", res.message());
    // Even naming only themselves: permission comes before the targets.
    let res = user.client.gql(BAN, json!({ "ids": [user.id] })).await;
    assert_eq!(res.code(), "FORBIDDEN", "{:?}", res.message());
    let res = user.client.gql(LOG, json!({})).await;
    assert_eq!(res.code(), "FORBIDDEN");
    let res = server
        .anonymous()
        .gql(BAN, json!({ "ids": [other.id] }))
        .await;
    assert_eq!(res.code(), "UNAUTHENTICATED");

    // All or nothing: the admin among the targets refuses the whole call.
    let res = moderator
        .client
        .gql(BAN, json!({ "ids": [other.id], "handles": ["modadmin"] }))
        .await;
    assert_eq!(res.code(), "FORBIDDEN");
    assert!(res.message().contains("modadmin"), "{}", res.message());
    assert_eq!(
        other.client.gql(ME, json!({})).await.data()["me"]["handle"],
        "modother"
    );

    // Bad targets and values are refused and change nothing.
    let res = moderator
        .client
        .gql(BAN, json!({ "handles": ["modother", "nobody_here"] }))
        .await;
    assert_eq!(res.code(), "NOT_FOUND");
    assert!(res.message().contains("nobody_here"), "{}", res.message());
    for variables in [
        json!({ "ids": ["not-an-id"] }),
        json!({ "ids": [moderator.id] }),
        json!({ "ids": [other.id], "until": "2001-01-01T00:00:00Z" }),
        json!({ "ids": [other.id], "reason": "x".repeat(501) }),
    ] {
        let res = moderator.client.gql(BAN, variables.clone()).await;
        assert_eq!(
            res.code(),
            "BAD_USER_INPUT",
            "{variables}: {}",
            res.message()
        );
    }
    assert_eq!(
        other.client.gql(ME, json!({})).await.data()["me"]["handle"],
        "modother"
    );

    // An admin may ban a moderator.
    let res = admin
        .client
        .gql(BAN, json!({ "ids": [moderator.id] }))
        .await;
    assert_eq!(res.data()["banUsers"], true);
    assert_eq!(
        moderator.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_ban_locks_the_user_out_hides_them_and_an_unban_restores_their_edges() {
    let server = TestServer::start().await;
    let moderator = server.sign_up_as("banmod", Role::Moderator).await;
    let target = server.sign_up("bantarget").await;
    let friend = server.sign_up("banfriend").await;
    let asker = server.sign_up("banasker").await;
    target.befriend(&friend).await;
    asker.add(&[&target.id]).await.data();
    let mut ws = target.ws().await;
    let _sub = ws.subscribe(NOTIFICATIONS, json!({})).await;

    let res = moderator
        .client
        .gql(
            BAN,
            json!({ "handles": ["BanTarget"], "reason": "  spam  ", "until": "2999-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(res.data()["banUsers"], true);

    // Every session ends: HTTP at once, the websocket within a second.
    assert!(
        ws.closed_within(Duration::from_secs(1)).await,
        "the websocket stays open"
    );
    let res = target.client.gql(ME, json!({})).await;
    assert_eq!(res.code(), "UNAUTHENTICATED");
    assert!(
        res.message().contains("banned until 2999-01-01"),
        "{}",
        res.message()
    );
    let res = sign_in(&server, "bantarget").await;
    assert_eq!(res.code(), "FORBIDDEN");
    assert!(
        res.message().contains("until 2999-01-01"),
        "{}",
        res.message()
    );

    // Hidden from others: friend lists, lookups, adds.
    assert_eq!(friend.view_of(&target.id).await, None);
    assert_eq!(asker.view_of(&target.id).await, None);
    let counts = friend
        .client
        .gql("{ friendCounts { friend } }", json!({}))
        .await;
    assert_eq!(counts.data()["friendCounts"]["friend"], 0);
    let res = friend
        .client
        .gql(
            "query($h: String) { user(handle: $h) { id } }",
            json!({ "h": "bantarget" }),
        )
        .await;
    assert_eq!(res.data()["user"], Value::Null);
    let res = server.sign_up("banlater").await.add(&[&target.id]).await;
    assert_eq!(res.code(), "NOT_FOUND");
    assert!(res.message().contains("unknown user"), "{}", res.message());
    let res = friend
        .client
        .gql(
            "mutation($to: ID!) { sendDirectMessage(to: $to, body: \"hi\") { id } }",
            json!({ "to": target.id }),
        )
        .await;
    assert_eq!(res.code(), "NOT_FOUND");
    // Moderators still see them.
    let res = moderator
        .client
        .gql(
            "query($h: String) { user(handle: $h) { id } }",
            json!({ "h": "bantarget" }),
        )
        .await;
    assert_eq!(res.data()["user"]["id"], target.id.as_str());

    let res = moderator
        .client
        .gql(UNBAN, json!({ "ids": [target.id] }))
        .await;
    assert_eq!(res.data()["unbanUsers"], true);
    assert_eq!(friend.view_of(&target.id).await.as_deref(), Some("FRIEND"));
    assert_eq!(
        asker.view_of(&target.id).await.as_deref(),
        Some("INVITE_SENT")
    );
    // The old token stays dead; a new sign-in works and sees the edges unchanged.
    assert_eq!(
        target.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    let token = sign_in(&server, "bantarget").await.data()["signIn"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = User {
        token: token.clone(),
        client: target.client.clone().with_token(token),
        ..target.clone()
    };
    assert_eq!(again.view_of(&friend.id).await.as_deref(), Some("FRIEND"));
    assert_eq!(
        again.view_of(&asker.id).await.as_deref(),
        Some("INVITE_RECEIVED")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_temporary_ban_ends_by_itself() {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let server = TestServer::start_with_clock(clock.clone(), |_| {}).await;
    let moderator = server.sign_up_as("tempmod", Role::Moderator).await;
    server.sign_up("temptarget").await;
    let until = clock.now() + chrono::Duration::seconds(30);
    let res = moderator
        .client
        .gql(
            BAN,
            json!({ "handles": ["temptarget"], "until": until.to_rfc3339() }),
        )
        .await;
    assert_eq!(res.data()["banUsers"], true);
    assert_eq!(sign_in(&server, "temptarget").await.code(), "FORBIDDEN");
    clock.advance(chrono::Duration::seconds(29));
    assert_eq!(sign_in(&server, "temptarget").await.code(), "FORBIDDEN");
    clock.advance(chrono::Duration::seconds(1));
    let res = sign_in(&server, "temptarget").await;
    assert!(res.data()["signIn"]["token"].is_string());
    server.stop().await;
}

#[tokio::test]
async fn a_banned_websocket_is_closed_with_4403() {
    let server = TestServer::start().await;
    let moderator = server.sign_up_as("closemod", Role::Moderator).await;
    let target = server.sign_up("closetarget").await;
    let mut socket = amity_e2e::ws::connect_raw(&target.ws_url, "graphql-transport-ws").await;
    let init = json!({ "type": "connection_init", "payload": { "token": target.token } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let ack = socket.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("connection_ack"), "{ack:?}");

    moderator
        .client
        .gql(BAN, json!({ "ids": [target.id], "reason": "abuse" }))
        .await
        .data();
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("closed");
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 4403);
    assert!(
        frame.reason.contains("banned permanently"),
        "{}",
        frame.reason
    );
    server.stop().await;
}

#[tokio::test]
async fn the_moderation_log_records_who_did_what_newest_first() {
    let server = TestServer::start().await;
    let admin = server.sign_up_as("logadmin", Role::Admin).await;
    let a = server.sign_up("loga").await;
    let b = server.sign_up("logb").await;
    admin
        .client
        .gql(
            BAN,
            json!({ "ids": [a.id], "handles": ["logb"], "reason": "raid", "until": "2999-01-01T00:00:00Z" }),
        )
        .await
        .data();
    admin
        .client
        .gql(UNBAN, json!({ "ids": [b.id] }))
        .await
        .data();

    let res = admin.client.gql(LOG, json!({ "first": 2 })).await;
    let page = res.data()["moderationLog"].as_array().unwrap().clone();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["action"], "UNBAN");
    assert_eq!(page[0]["target"]["handle"], "logb");
    assert_eq!(page[0]["actor"]["handle"], "logadmin");
    assert_eq!(page[0]["actorLabel"], "logadmin");
    assert_eq!(page[1]["action"], "BAN");
    assert_eq!(page[1]["reason"], "raid");
    assert!(page[1]["until"].as_str().unwrap().starts_with("2999-01-01"));

    // The rest, after the cursor: the other ban, then the role change made by setup code.
    let after = page[1]["cursor"].as_str().unwrap();
    let res = admin
        .client
        .gql(LOG, json!({ "first": 10, "after": after }))
        .await;
    let rest = res.data()["moderationLog"].as_array().unwrap().clone();
    let actions: Vec<&str> = rest.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["BAN", "SET_ROLE"]);
    assert_eq!(rest[1]["actor"], Value::Null);
    assert_eq!(rest[1]["actorLabel"], "e2e setup");
    assert_eq!(rest[1]["role"], "ADMIN");

    let res = admin
        .client
        .gql(LOG, json!({ "after": "forged-cursor" }))
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    let res = admin.client.gql(LOG, json!({ "first": 0 })).await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set AMITY_TEST_DATABASE_URL and pass --include-ignored (.ci/run does)"]
async fn a_ban_on_node_1_closes_a_socket_on_node_2_and_the_token_fails_on_both() {
    let server = TestServer::start().await;
    server.require_postgres();
    let node2 = server.start_node().await;
    let moderator = server.sign_up_as("xbanmod", Role::Moderator).await; // node 1
    let target = server.sign_up("xbantarget").await;
    let target2 = node2.as_user(&target);
    assert_eq!(
        target2.client.gql(ME, json!({})).await.data()["me"]["handle"],
        "xbantarget"
    );
    let mut ws = target2.ws().await;
    let _sub = ws.subscribe(NOTIFICATIONS, json!({})).await;

    moderator
        .client
        .gql(BAN, json!({ "ids": [target.id] }))
        .await
        .data();
    assert!(
        ws.closed_within(Duration::from_secs(1)).await,
        "node 2 kept the socket open"
    );
    assert_eq!(
        target.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        target2.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    node2.stop().await;
    server.stop().await;
}
