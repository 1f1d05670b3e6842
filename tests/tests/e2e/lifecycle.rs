//! The rest of the account lifecycle (SPEC 12.3): guest devices, passwords and handles,
//! unlinking networks, deletion with its tombstone, data export, user search and unread counts.

use std::time::Duration;

use amity_domain::accounts::Role;
use amity_e2e::TestServer;
use amity_e2e::ws::{closed_with, signed_in_raw};
use serde_json::json;

const ME: &str = "{ me { id handle } }";
const DEVICE: &str = "mutation($d: String!, $l: String) { authenticateDevice(deviceId: $d, deviceLabel: $l) { token refreshToken user { id handle } } }";
const SIGN_IN: &str =
    "mutation($h: String!, $p: String!) { signIn(handle: $h, password: $p) { token } }";
const CHANGE_PASSWORD: &str = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { token refreshToken } }";
const SEARCH: &str =
    "query($q: String!, $f: Int) { searchUsers(query: $q, first: $f) { handle displayName } }";

#[tokio::test]
async fn a_guest_device_signs_in_gets_a_password_and_keeps_its_account() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    let device = "device-0123456789-abcdef";
    let first = anon
        .gql(DEVICE, json!({ "d": device, "l": "Pixel" }))
        .await
        .data()["authenticateDevice"]
        .clone();
    let handle = first["user"]["handle"].as_str().unwrap().to_owned();
    assert!(handle.starts_with("guest-"), "{handle}");
    // The same device comes back to the same account.
    let again = anon.gql(DEVICE, json!({ "d": device })).await.data()["authenticateDevice"].clone();
    assert_eq!(again["user"]["id"], first["user"]["id"]);

    // Wrong lengths are refused with the field named.
    for bad in ["short", &"x".repeat(129)] {
        let res = anon.gql(DEVICE, json!({ "d": bad })).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{bad}");
        assert!(res.message().contains("deviceId"), "{}", res.message());
    }

    // A guest sets a password, then signs in with its handle; a second setPassword is refused.
    let guest = anon
        .clone()
        .with_token(first["token"].as_str().unwrap().to_owned());
    let set = "mutation($p: String!) { setPassword(newPassword: $p) { handle } }";
    assert_eq!(
        guest.gql(set, json!({ "p": "short" })).await.code(),
        "BAD_USER_INPUT"
    );
    guest
        .gql(set, json!({ "p": "guest-password-1" }))
        .await
        .data();
    assert_eq!(
        guest
            .gql(set, json!({ "p": "guest-password-2" }))
            .await
            .code(),
        "FORBIDDEN"
    );
    anon.gql(SIGN_IN, json!({ "h": handle, "p": "guest-password-1" }))
        .await
        .data();
    server.stop().await;
}

#[tokio::test]
async fn changing_the_password_checks_it_and_ends_the_other_sessions() {
    let server = TestServer::start().await;
    let user = server.sign_up("changer").await;
    let phone = server.sign_in_again(&user).await;
    let mut phone_ws = signed_in_raw(&server.ws_url(), &phone.token).await;

    let wrong = user
        .client
        .gql(
            CHANGE_PASSWORD,
            json!({ "c": "not-it-at-all", "n": "new-password-1" }),
        )
        .await;
    assert_eq!(wrong.code(), "BAD_USER_INPUT");
    assert!(
        wrong.message().contains("currentPassword"),
        "{}",
        wrong.message()
    );
    let short = user
        .client
        .gql(CHANGE_PASSWORD, json!({ "c": "password-1", "n": "short" }))
        .await;
    assert_eq!(short.code(), "BAD_USER_INPUT");
    assert!(
        short.message().contains("newPassword"),
        "{}",
        short.message()
    );
    // Nothing changed so far: the phone still works.
    assert_eq!(
        phone.client.gql(ME, json!({})).await.data()["me"]["handle"],
        "changer"
    );

    let done = user
        .client
        .gql(
            CHANGE_PASSWORD,
            json!({ "c": "password-1", "n": "new-password-1" }),
        )
        .await
        .data()["changePassword"]
        .clone();
    // This session continues (old and new access tokens); the phone's ended, socket too.
    assert_eq!(
        user.client.gql(ME, json!({})).await.data()["me"]["handle"],
        "changer"
    );
    let (code, _) = closed_with(&mut phone_ws, Duration::from_secs(2)).await;
    assert_eq!(code, 4401);
    assert_eq!(
        phone.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    // The refresh token handed back works; the one from before the change is used up.
    let refresh = "mutation($t: String!) { refreshSession(refreshToken: $t) { token } }";
    server
        .anonymous()
        .gql(refresh, json!({ "t": done["refreshToken"] }))
        .await
        .data();
    assert_eq!(
        server
            .anonymous()
            .gql(SIGN_IN, json!({ "h": "changer", "p": "password-1" }))
            .await
            .code(),
        "UNAUTHENTICATED"
    );
    server
        .anonymous()
        .gql(SIGN_IN, json!({ "h": "changer", "p": "new-password-1" }))
        .await
        .data();
    server.stop().await;
}

#[tokio::test]
async fn a_handle_change_frees_the_old_handle() {
    let server = TestServer::start().await;
    let user = server.sign_up("oldname").await;
    let taken = server.sign_up("takenname").await;
    let change = "mutation($h: String!) { changeHandle(handle: $h) { handle } }";
    assert_eq!(
        user.client
            .gql(change, json!({ "h": "TakenName" }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        user.client.gql(change, json!({ "h": "x" })).await.code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        user.client
            .gql(change, json!({ "h": "NewName" }))
            .await
            .data()["changeHandle"]["handle"],
        "NewName"
    );
    // The old handle can be registered again; the user is found by the new one.
    server.sign_up("oldname").await;
    let lookup = "query($h: String!) { user(handle: $h) { id } }";
    assert_eq!(
        taken
            .client
            .gql(lookup, json!({ "h": "newname" }))
            .await
            .data()["user"]["id"],
        user.id.as_str()
    );
    server.stop().await;
}

#[tokio::test]
async fn deleting_an_account_removes_it_everywhere_and_frees_the_handle() {
    let server = TestServer::start().await;
    let gone = server.sign_up("leaving").await;
    let friend = server.sign_up("staying").await;
    let asker = server.sign_up("asking").await;
    gone.befriend(&friend).await;
    asker.add(&[&gone.id]).await.data();
    let send = "mutation($to: ID!) { sendDirectMessage(to: $to, body: \"bye\") { id } }";
    gone.client
        .gql(send, json!({ "to": friend.id }))
        .await
        .data();
    let counts = "{ friendCounts { friend } }";
    assert_eq!(
        friend.client.gql(counts, json!({})).await.data()["friendCounts"]["friend"],
        1
    );
    let mut ws = signed_in_raw(&server.ws_url(), &gone.token).await;

    // The password is required, and must be right; nothing happens otherwise.
    let delete = "mutation($p: String) { deleteAccount(password: $p) }";
    assert_eq!(
        gone.client.gql(delete, json!({})).await.code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        gone.client
            .gql(delete, json!({ "p": "wrong-password" }))
            .await
            .code(),
        "BAD_USER_INPUT"
    );
    assert_eq!(friend.view_of(&gone.id).await.as_deref(), Some("FRIEND"));

    assert_eq!(
        gone.client
            .gql(delete, json!({ "p": "password-1" }))
            .await
            .data()["deleteAccount"],
        true
    );
    let (code, _) = closed_with(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(code, 4403);
    assert_eq!(
        gone.client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    // Friends' lists, counts and requests drop the user at once; messages are gone.
    assert_eq!(friend.view_of(&gone.id).await, None);
    assert!(friend.friend_nodes().await.is_empty());
    assert_eq!(
        friend.client.gql(counts, json!({})).await.data()["friendCounts"]["friend"],
        0
    );
    assert_eq!(asker.view_of(&gone.id).await, None);
    let history = "query($w: ID!) { directMessages(with: $w) { edges { node { id } } } }";
    let res = friend.client.gql(history, json!({ "w": gone.id })).await;
    let gone_messages = res.body["data"]["directMessages"]["edges"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(gone_messages, 0, "{}", res.body);
    // Nobody finds it, by handle or id; a moderator sees the tombstone by id.
    let by_handle = "query($h: String!) { user(handle: $h) { id } }";
    assert!(
        friend
            .client
            .gql(by_handle, json!({ "h": "leaving" }))
            .await
            .data()["user"]
            .is_null()
    );
    let by_id = "query($id: ID!) { user(id: $id) { id handle } }";
    assert!(
        friend
            .client
            .gql(by_id, json!({ "id": gone.id }))
            .await
            .data()["user"]
            .is_null()
    );
    let moderator = server.sign_up_as("deletemod", Role::Moderator).await;
    let seen = moderator
        .client
        .gql(by_id, json!({ "id": gone.id }))
        .await
        .data()["user"]
        .clone();
    assert_eq!(seen["id"], gone.id.as_str());
    assert_ne!(seen["handle"], "leaving");
    // The handle is free again, for a new account.
    let reborn = server.sign_up("leaving").await;
    assert_ne!(reborn.id, gone.id);
    // Signing in with the old password finds the new account's password only.
    assert_eq!(
        gone.client
            .gql(delete, json!({ "p": "password-1" }))
            .await
            .code(),
        "UNAUTHENTICATED"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_data_export_holds_everything_about_me_and_no_secrets() {
    let server = TestServer::start().await;
    let me = server.sign_up("exporter").await;
    let friend = server.sign_up("exportfriend").await;
    me.befriend(&friend).await;
    let send = "mutation($to: ID!) { sendDirectMessage(to: $to, body: \"hello there\") { id } }";
    me.client.gql(send, json!({ "to": friend.id })).await.data();
    friend.client.gql(send, json!({ "to": me.id })).await.data();
    let data = me.client.gql("{ exportMyData }", json!({})).await.data()["exportMyData"].clone();
    assert_eq!(data["profile"]["handle"], "exporter");
    assert_eq!(data["signIn"]["password"], true);
    let edges = data["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0]["userId"], friend.id.as_str());
    assert_eq!(edges[0]["state"], "FRIEND");
    assert_eq!(data["directMessages"].as_array().unwrap().len(), 2);
    assert!(!data["notifications"].as_array().unwrap().is_empty());
    assert_eq!(data["sessions"].as_array().unwrap().len(), 1);
    let text = data.to_string();
    for secret in ["argon2", &me.refresh_token, &me.token, "password-1"] {
        assert!(
            !text.contains(secret),
            "the export holds a secret: {secret}"
        );
    }
    assert_eq!(
        server
            .anonymous()
            .gql("{ exportMyData }", json!({}))
            .await
            .code(),
        "UNAUTHENTICATED"
    );
    server.stop().await;
}

#[tokio::test]
async fn search_finds_handle_and_name_prefixes_but_never_banned_users() {
    let server = TestServer::start().await;
    let seeker = server.sign_up("seeker").await;
    let ann = server.sign_up("annabel").await;
    let annie = server.sign_up("Annie_99").await;
    let named = server.sign_up("zz_named").await;
    named
        .client
        .gql(
            "mutation { updateProfile(displayName: \"Anneliese Müller\") { id } }",
            json!({}),
        )
        .await
        .data();
    let blocker = server.sign_up("annblocker").await;
    blocker.block(&[&seeker.id]).await.data();
    let banned = server.sign_up("annbanned").await;
    let moderator = server.sign_up_as("searchmod", Role::Moderator).await;
    moderator
        .client
        .gql(
            "mutation($ids: [ID!]) { banUsers(ids: $ids) }",
            json!({ "ids": [banned.id] }),
        )
        .await
        .data();

    let found = |res: amity_e2e::Response| -> Vec<String> {
        res.data()["searchUsers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["handle"].as_str().unwrap().to_owned())
            .collect()
    };
    // Case-insensitive, by handle, names included; the blocker is found like anyone.
    let hits = found(seeker.client.gql(SEARCH, json!({ "q": "ANN" })).await);
    assert_eq!(hits, ["annabel", "annblocker", "Annie_99", "zz_named"]);
    assert_eq!(
        found(seeker.client.gql(SEARCH, json!({ "q": "annie" })).await),
        ["Annie_99"]
    );
    assert_eq!(
        found(
            seeker
                .client
                .gql(SEARCH, json!({ "q": "anneliese m" }))
                .await
        ),
        ["zz_named"]
    );
    assert_eq!(
        found(
            seeker
                .client
                .gql(SEARCH, json!({ "q": "ann", "f": 2 }))
                .await
        )
        .len(),
        2
    );
    let _ = (ann, annie);
    // Refusals.
    for (q, f) in [("a", 20), ("  a ", 20), ("ann", 0), ("ann", 101)] {
        let res = seeker.client.gql(SEARCH, json!({ "q": q, "f": f })).await;
        assert_eq!(res.code(), "BAD_USER_INPUT", "{q} {f}");
    }
    let long = seeker
        .client
        .gql(SEARCH, json!({ "q": "x".repeat(65) }))
        .await;
    assert_eq!(long.code(), "BAD_USER_INPUT");
    assert_eq!(
        server
            .anonymous()
            .gql(SEARCH, json!({ "q": "ann" }))
            .await
            .code(),
        "UNAUTHENTICATED"
    );
    server.stop().await;
}

#[tokio::test]
async fn notification_counts_follow_reads_and_deletes() {
    let server = TestServer::start().await;
    let me = server.sign_up("counted").await;
    let a = server.sign_up("counter_a").await;
    let b = server.sign_up("counter_b").await;
    a.add(&[&me.id]).await.data();
    b.add(&[&me.id]).await.data();
    let counts = "{ notificationCounts { unread total } }";
    let c = me.client.gql(counts, json!({})).await.data()["notificationCounts"].clone();
    assert_eq!(
        (c["unread"].as_i64(), c["total"].as_i64()),
        (Some(2), Some(2))
    );
    let list = "{ notifications(first: 10) { edges { node { id } } } }";
    let ids: Vec<String> = me.client.gql(list, json!({})).await.data()["notifications"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    me.client
        .gql(
            "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }",
            json!({ "ids": [ids[0]] }),
        )
        .await
        .data();
    let c = me.client.gql(counts, json!({})).await.data()["notificationCounts"].clone();
    assert_eq!(
        (c["unread"].as_i64(), c["total"].as_i64()),
        (Some(1), Some(2))
    );
    me.client
        .gql(
            "mutation($ids: [ID!]!) { deleteNotifications(ids: $ids) }",
            json!({ "ids": [ids[1]] }),
        )
        .await
        .data();
    let c = me.client.gql(counts, json!({})).await.data()["notificationCounts"].clone();
    assert_eq!(
        (c["unread"].as_i64(), c["total"].as_i64()),
        (Some(0), Some(1))
    );
    server.stop().await;
}

#[tokio::test]
async fn admins_send_system_notifications_live_to_listed_users_or_everyone() {
    let server = TestServer::start().await;
    let admin = server.sign_up_as("sysadmin", Role::Admin).await;
    let moderator = server.sign_up_as("sysmod", Role::Moderator).await;
    let a = server.sign_up("sys_a").await;
    let b = server.sign_up("sys_b").await;
    let ws = a.ws().await;
    let mut live = ws
        .subscribe(
            "subscription { notifications { code subject content } }",
            json!({}),
        )
        .await;
    server.wait_for_subscriptions(1).await;
    let send = "mutation($ids: [ID!], $h: [String!], $all: Boolean, $s: String!, $c: JSON) { sendSystemNotification(ids: $ids, handles: $h, all: $all, subject: $s, content: $c) }";

    // Only admins; bad subjects and contents and unknown targets change nothing.
    let one = json!({ "h": ["sys_a"], "s": "Hello", "c": { "k": 1 } });
    assert_eq!(
        moderator.client.gql(send, one.clone()).await.code(),
        "FORBIDDEN"
    );
    assert_eq!(a.client.gql(send, one.clone()).await.code(), "FORBIDDEN");
    for bad in [
        json!({ "h": ["sys_a"], "s": "" }),
        json!({ "h": ["sys_a"], "s": "x".repeat(201) }),
        json!({ "h": ["sys_a"], "s": "ok", "c": [1, 2] }),
        json!({ "h": ["sys_a"], "all": true, "s": "ok" }),
        json!({ "s": "no one" }),
    ] {
        assert_eq!(
            admin.client.gql(send, bad.clone()).await.code(),
            "BAD_USER_INPUT",
            "{bad}"
        );
    }
    // An unknown target fails the call (all or none), as in friend operations.
    let unknown = json!({ "h": ["sys_a", "nobody_here"], "s": "ok" });
    assert_eq!(admin.client.gql(send, unknown).await.code(), "NOT_FOUND");
    let counts = "{ notificationCounts { unread total } }";
    assert_eq!(
        a.client.gql(counts, json!({})).await.data()["notificationCounts"]["total"],
        0
    );

    assert_eq!(
        admin.client.gql(send, one).await.data()["sendSystemNotification"],
        1
    );
    let got = live.next_data().await;
    assert_eq!(got["notifications"]["code"], "SYSTEM");
    assert_eq!(got["notifications"]["subject"], "Hello");
    assert_eq!(got["notifications"]["content"]["k"], 1);

    // To everyone: recorded, then delivered in the background, live, once each.
    let all = json!({ "all": true, "s": "Season two" });
    assert_eq!(
        admin.client.gql(send, all).await.data()["sendSystemNotification"],
        4
    );
    let got = live.next_data().await;
    assert_eq!(got["notifications"]["subject"], "Season two");
    let started = std::time::Instant::now();
    loop {
        let total =
            b.client.gql(counts, json!({})).await.data()["notificationCounts"]["total"].clone();
        if total == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not delivered: {total}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        a.client.gql(counts, json!({})).await.data()["notificationCounts"]["total"],
        2
    );
    assert_eq!(
        admin.client.gql(counts, json!({})).await.data()["notificationCounts"]["total"],
        1
    );
    live.assert_silent(Duration::from_millis(200)).await;
    server.stop().await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set AMITY_TEST_DATABASE_URL and pass --include-ignored (.ci/run does)"]
async fn a_deletion_on_node_1_is_seen_by_a_friend_on_node_2_at_once() {
    let server = TestServer::start().await;
    server.require_postgres();
    let node2 = server.start_node().await;
    let gone = server.sign_up("xleaving").await;
    let friend = server.sign_up("xstaying").await;
    let third = server.sign_up("xthird").await;
    gone.befriend(&friend).await;
    gone.befriend(&third).await;
    // Node 2 caches the friend's list, counts and recommendations with the user in them.
    let friend2 = node2.as_user(&friend);
    assert_eq!(friend2.view_of(&gone.id).await.as_deref(), Some("FRIEND"));
    let recs = "{ friendRecommendations(first: 10) { user { handle } } }";
    let listed = |res: amity_e2e::Response| -> Vec<String> {
        res.data()["friendRecommendations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["user"]["handle"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        listed(friend2.client.gql(recs, json!({})).await),
        ["xthird"]
    );
    let mut ws = signed_in_raw(&node2.ws_url(), &gone.token).await;

    gone.client
        .gql(
            "mutation { deleteAccount(password: \"password-1\") }",
            json!({}),
        )
        .await
        .data();
    let (code, _) = closed_with(&mut ws, Duration::from_secs(2)).await;
    assert_eq!(code, 4403);
    // Node 2 hears of it through the bus; the friend's next reads there drop the user.
    let started = std::time::Instant::now();
    while friend2.view_of(&gone.id).await.is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "node 2 still lists the user"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(friend2.friend_nodes().await.is_empty());
    let counts = "{ friendCounts { friend } }";
    assert_eq!(
        friend2.client.gql(counts, json!({})).await.data()["friendCounts"]["friend"],
        0
    );
    assert!(listed(friend2.client.gql(recs, json!({})).await).is_empty());
    assert_eq!(
        node2.as_user(&gone).client.gql(ME, json!({})).await.code(),
        "UNAUTHENTICATED"
    );
    // And every cache agrees with the database.
    for node_cache in [server.cache(), node2.cache()] {
        let ids: Vec<amity_domain::UserId> = [&friend.id, &third.id, &gone.id]
            .iter()
            .map(|id| id.parse().unwrap())
            .collect();
        let findings = node_cache.audit(&ids, chrono::Utc::now()).await.unwrap();
        assert!(findings.is_empty(), "{findings:?}");
    }
    server.stop().await;
}
