//! Friend limits, request bounds and the error contract.

use amity_e2e::TestServer;
use serde_json::json;

#[tokio::test]
async fn limits_fail_the_whole_call_with_limit_exceeded() {
    let server = TestServer::start_with(|s| {
        s.max_pending_invites = 2;
        s.max_friends = 1;
        s.max_blocks = 1;
    })
    .await;
    let me = server.sign_up("limited").await;
    let a = server.sign_up("lim_a").await;
    let b = server.sign_up("lim_b").await;
    let c = server.sign_up("lim_c").await;

    let res = me.add(&[&a.id, &b.id, &c.id]).await;
    assert_eq!(res.code(), "LIMIT_EXCEEDED");
    assert_eq!(me.view_of(&a.id).await, None, "nothing half-applied");
    me.add(&[&a.id, &b.id]).await.data();

    // Friends: accepting a second friendship passes the limit of 1.
    a.add(&[&me.id]).await.data();
    let res = b.add(&[&me.id]).await;
    assert_eq!(
        res.code(),
        "LIMIT_EXCEEDED",
        "the other side's limit counts too"
    );
    assert_eq!(b.view_of(&me.id).await.as_deref(), Some("INVITE_RECEIVED"));

    // Blocks.
    me.block(&[&c.id]).await.data();
    let res = me.block(&[&b.id]).await;
    assert_eq!(res.code(), "LIMIT_EXCEEDED");
    // Shrinking is always allowed.
    me.remove(&[&c.id]).await.data();
    server.stop().await;
}

#[tokio::test]
async fn request_size_depth_and_complexity_are_bounded() {
    let server = TestServer::start().await;
    let user = server.sign_up("bounded").await;

    let huge = json!({ "query": format!("{{ me {{ id }} }} #{}", "x".repeat(300 * 1024)) });
    let res = user.client.post_json(&huge).await;
    assert_eq!(res.status, 413);
    assert_eq!(res.code(), "BAD_USER_INPUT");

    let ordinary = "{ friends { edges { node { user { id __typename } } } } }";
    assert!(user.client.gql(ordinary, json!({})).await.body["errors"].is_null());
    // Depth: `levels` fields, valid ones (me, then mutualFriends of mutualFriends...).
    let chain = |levels: usize| {
        let mut fields = String::from("id");
        for _ in 0..levels - 2 {
            fields = format!("mutualFriends(first: 1) {{ {fields} }}");
        }
        format!("{{ me {{ {fields} }} }}")
    };
    let max = amity_graphql::edge::document::MAX_DEPTH;
    let res = user.client.gql(&chain(max), json!({})).await;
    assert!(res.body["errors"].is_null(), "{}", res.body);
    let res = user.client.gql(&chain(max + 1), json!({})).await;
    assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
    assert!(
        res.message().contains("at most 12 levels of fields"),
        "{}",
        res.body
    );
    // Introspection is left out of the depth, but its lists may not multiply the answer.
    let mut nested = String::from("name");
    for _ in 0..20 {
        nested = format!("fields {{ type {{ {nested} }} }}");
    }
    let res = user
        .client
        .gql(
            &format!("{{ __schema {{ types {{ {nested} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.body);
    assert!(res.message().contains("introspection"), "{}", res.body);

    let wide = format!(
        "{{ {} }}",
        (0..40)
            .map(|i| format!(
                "f{i}: friends(first: 1000) {{ edges {{ node {{ user {{ id handle }} }} }} }}"
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let res = user.client.gql(&wide, json!({})).await;
    assert_eq!(res.codes()[0], "BAD_USER_INPUT", "{}", res.body);

    let res = user.client.post_raw(b"{not json".to_vec()).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.code(), "BAD_USER_INPUT");

    let res = user.client.gql("{ nosuchfield }", json!({})).await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    let res = user
        .client
        .gql(
            "{ friends(first: \"ten\") { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert!(
        res.codes().iter().all(|c| c == "BAD_USER_INPUT"),
        "{}",
        res.body
    );

    let batch = json!(
        (0..11)
            .map(|_| json!({ "query": "{ me { id } }" }))
            .collect::<Vec<_>>()
    );
    let res = user.client.post_json(&batch).await;
    assert_eq!(res.code(), "BAD_USER_INPUT");
    let batch = json!([{ "query": "{ me { id } }" }, { "query": "{ me { handle } }" }]);
    let res = user.client.post_json(&batch).await;
    assert_eq!(res.body.as_array().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_null_or_mistyped_argument_is_bad_user_input() {
    let server = amity_e2e::TestServer::start().await;
    let user = server.sign_up("argtypes").await;
    let friend = server.sign_up("argtypes_friend").await;
    user.befriend(&friend).await;
    // A valid id, so that the metadata (a number, not an object) is what is refused.
    let res = user
        .client
        .gql(
            "mutation($id: ID!, $m: JSON) { setFriendMetadata(id: $id, metadata: $m) { state } }",
            serde_json::json!({ "id": friend.id, "m": 5 }),
        )
        .await;
    assert_eq!(res.code(), "BAD_USER_INPUT", "{}", res.message());
    assert_eq!(
        res.body["errors"][0]["extensions"]["field"], "metadata",
        "{}",
        res.body
    );
    let res = user
        .client
        .gql(
            "query($f: Int) { friends(first: $f) { pageInfo { hasNextPage } } }",
            serde_json::json!({ "f": "many" }),
        )
        .await;
    assert!(
        res.codes().iter().all(|c| c == "BAD_USER_INPUT"),
        "{:?}",
        res.codes()
    );
    server.stop().await;
}
