//! `load ...`: throughput benchmarks. A number of connections each send requests back to back
//! for a given time against a running server; every answer is checked for GraphQL errors (an
//! error is a failed request, not a fast one); latencies go into one HDR histogram.
//!
//! - `load friends`: `friends(first: 100)` with presence, as users of a generated data set;
//! - `load recommendations`: `friendRecommendations(first: 10)`, as users of a data set;
//! - `load send-accept`: fresh pairs of users become friends (one asks, the other accepts);
//! - `load invites`: callers send friend requests to 50 users per call, targets overlapping
//!   between callers (the lock-convoy and deadlock test).
//!
//! With `--server-pid`, the server's resident memory is read after the run has been idle a
//! moment (and its peak), as Nakama's "RSS idle after load" figure was.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::cli::{InvitesArgs, LoadArgs, LoadCommand, ReadLoadArgs, SendAcceptArgs};
use crate::client::{Account, GraphqlClient, RequestError};
use crate::dataset::{Manifest, first_users};
use crate::driver::{Clock, Measured, Run, Tally};
use crate::progress::Progress;
use crate::report::Report;
use crate::setup::{run_prefix, sign_up_many};

/// The friends page Nakama's "list friends" was measured with: 100 friends with presence.
pub const FRIENDS_QUERY: &str = "{ friends(first: 100) { edges { cursor node { state updatedAt metadata user { id handle displayName online lastSeenAt } } } pageInfo { hasNextPage endCursor } } }";
/// [`FRIENDS_QUERY`]'s fields behind an inline fragment: the same answer, resolved by
/// async-graphql's general path instead of the friends page's fast path.
pub const FRIENDS_QUERY_GENERAL_PATH: &str = "{ friends(first: 100) { edges { ... on FriendEdge { cursor node { state updatedAt metadata user { id handle displayName online lastSeenAt } } } } pageInfo { hasNextPage endCursor } } }";
/// Ten people you may know, as Nakama's "friends of friends, 10 results".
pub const RECOMMENDATIONS_QUERY: &str =
    "{ friendRecommendations(first: 10) { user { id handle } mutualFriendCount } }";
const ADD_FRIENDS: &str = "mutation AddFriends($ids: [ID!]) { addFriends(ids: $ids) { state } }";

/// Runs one load benchmark.
pub async fn run(command: LoadCommand) -> anyhow::Result<Report> {
    match command {
        LoadCommand::Friends(args) => read_load(args, ReadWorkload::Friends).await,
        LoadCommand::FriendsGeneralPath(args) => {
            read_load(args, ReadWorkload::FriendsGeneralPath).await
        }
        LoadCommand::Recommendations(args) => read_load(args, ReadWorkload::Recommendations).await,
        LoadCommand::SendAccept(args) => send_accept(args).await,
        LoadCommand::Invites(args) => invites(args).await,
    }
}

/// The read workloads.
#[derive(Debug, Clone, Copy)]
enum ReadWorkload {
    Friends,
    FriendsGeneralPath,
    Recommendations,
}

#[derive(Deserialize)]
struct FriendsData {
    friends: FriendsPage,
}

#[derive(Deserialize)]
struct FriendsPage {
    edges: Vec<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecommendationsData {
    friend_recommendations: Vec<IgnoredAny>,
}

impl ReadWorkload {
    fn name(self) -> &'static str {
        match self {
            Self::Friends => "load/friends",
            Self::FriendsGeneralPath => "load/friends-general-path",
            Self::Recommendations => "load/recommendations",
        }
    }

    /// Sends the workload's query once; `Ok(true)` when the answer was empty.
    async fn request(
        self,
        client: &GraphqlClient,
        token: &str,
        body: &str,
    ) -> Result<bool, RequestError> {
        match self {
            Self::Friends | Self::FriendsGeneralPath => client
                .execute_prepared::<FriendsData>(token, body)
                .await
                .map(|d| d.friends.edges.is_empty()),
            Self::Recommendations => client
                .execute_prepared::<RecommendationsData>(token, body)
                .await
                .map(|d| d.friend_recommendations.is_empty()),
        }
    }

    fn query(self) -> &'static str {
        match self {
            Self::Friends => FRIENDS_QUERY,
            Self::FriendsGeneralPath => FRIENDS_QUERY_GENERAL_PATH,
            Self::Recommendations => RECOMMENDATIONS_QUERY,
        }
    }
}

/// `load friends` and `load recommendations`: data-set users, one per connection (in turn when
/// there are fewer users than connections), the same query over and over.
async fn read_load(args: ReadLoadArgs, workload: ReadWorkload) -> anyhow::Result<Report> {
    let manifest = Manifest::read(&args.manifest)?;
    let client = GraphqlClient::for_url(&args.load.common.url)?;
    let run = Run::start(workload.name(), "requests");
    let handles = first_users(
        &manifest.ordinary,
        args.users.unwrap_or(args.load.connections),
        &args.manifest,
    )?;
    let mut progress = Progress::new("signing in data-set users", handles.len() as u64);
    let tokens: Vec<String> = futures::stream::iter(handles)
        .map(|handle| client.sign_in(handle, &manifest.password))
        .buffered(args.load.common.setup_concurrency as usize)
        .inspect(|r| progress.tick(r.is_ok()))
        .try_collect()
        .await?;
    progress.finish();
    let tokens = Arc::new(tokens);
    let body: Arc<str> = json!({ "query": workload.query() }).to_string().into();
    let worker = |i: usize, clock: Clock| {
        let (client, tokens, body) = (client.clone(), tokens.clone(), body.clone());
        async move {
            let token = &tokens[i % tokens.len()];
            Tally::default()
                .repeat(&clock, || workload.request(&client, token, &body))
                .await
        }
    };
    println!(
        "{} against {}: {} connections for {} s",
        workload.name(),
        args.load.common.url,
        args.load.connections,
        args.load.duration
    );
    let measured = run
        .measure(
            args.load.connections,
            args.warmup,
            args.load.duration,
            worker,
        )
        .await;
    finish(run, &args, &args.load, measured).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddFriendsData {
    add_friends: Vec<EdgeState>,
}

#[derive(Deserialize)]
struct EdgeState {
    state: String,
}

/// The request body of `addFriends(ids)`.
fn add_friends_body(ids: &[&str]) -> String {
    json!({ "query": ADD_FRIENDS, "variables": { "ids": ids } }).to_string()
}

/// `addFriends` as `account`, expecting every edge to come out in one of `expected`; returns
/// how many came out as `FRIEND`.
async fn add_friends(
    client: &GraphqlClient,
    account: &Account,
    ids: &[&str],
    expected: &[&str],
) -> Result<u64, RequestError> {
    let data: AddFriendsData = client
        .execute_prepared(&account.token, &add_friends_body(ids))
        .await?;
    if data.add_friends.len() != ids.len() {
        return Err(RequestError::Malformed(format!(
            "addFriends returned {} edges for {} ids",
            data.add_friends.len(),
            ids.len()
        )));
    }
    let mut friends = 0;
    for edge in &data.add_friends {
        if !expected.contains(&edge.state.as_str()) {
            return Err(RequestError::Malformed(format!(
                "an edge came out as {} instead of {}",
                edge.state,
                expected.join(" or ")
            )));
        }
        friends += u64::from(edge.state == "FRIEND");
    }
    Ok(friends)
}

/// `load send-accept`: each connection owns a group of fresh users and makes pairs of them
/// friends, one pair after another: the first asks (`INVITE_SENT`), the second accepts
/// (`FRIEND`). Throughput is friendships per second; latencies are per request.
async fn send_accept(args: SendAcceptArgs) -> anyhow::Result<Report> {
    let client = GraphqlClient::for_url(&args.load.common.url)?;
    let run = Run::start("load/send-accept", "friendships");
    let group = args.users_per_connection as usize;
    let accounts = sign_up_many(
        &client,
        &run_prefix(),
        "pair",
        args.load.connections * args.users_per_connection,
        args.load.common.setup_concurrency,
    )
    .await?;
    let accounts = Arc::new(accounts);
    println!(
        "load/send-accept against {}: {} connections for {} s, {} fresh users each ({} pairs)",
        args.load.common.url,
        args.load.connections,
        args.load.duration,
        group,
        group * (group - 1) / 2
    );
    let worker = |i: usize, clock: Clock| {
        let (client, accounts) = (client.clone(), accounts.clone());
        async move {
            let mine = &accounts[i * group..(i + 1) * group];
            let mut tally = Tally::default();
            let pairs = (0..group).flat_map(|a| (a + 1..group).map(move |b| (a, b)));
            for (a, b) in pairs {
                if !clock.running() {
                    return tally;
                }
                let (a, b) = (&mine[a], &mine[b]);
                let asked = tally
                    .time(add_friends(&client, a, &[&b.id], &["INVITE_SENT"]))
                    .await;
                clock.tick();
                if asked.is_none() {
                    continue;
                }
                let accepted = tally
                    .time(add_friends(&client, b, &[&a.id], &["FRIEND"]))
                    .await;
                clock.tick();
                tally.units += u64::from(accepted.is_some());
            }
            tally.errors.add("a connection ran out of fresh pairs");
            tally
        }
    };
    let measured = run
        .measure(args.load.connections, 0, args.load.duration, worker)
        .await;
    finish(run, &args, &args.load, measured).await
}

/// Draws `want` users at random among `n`, none already in `asked` (which records them).
pub(crate) fn draw_targets(
    rng: &mut StdRng,
    asked: &mut HashSet<usize>,
    want: usize,
    n: usize,
) -> Vec<usize> {
    let mut targets = Vec::with_capacity(want);
    while targets.len() < want {
        let t = rng.random_range(0..n);
        if asked.insert(t) {
            targets.push(t);
        }
    }
    targets
}

/// `load invites`: callers send friend requests to `--batch` users per call. Each connection
/// takes callers from a pool of fresh users in turn; each caller asks up to `--per-caller`
/// distinct users of the pool, drawn at random, so calls of different callers share targets and
/// callers are also each other's targets (an ask meets the other side's ask and becomes a
/// friendship). Throughput is invites (ids sent) per second.
async fn invites(args: InvitesArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.load.connections <= args.users,
        "--connections ({}) must not exceed --users ({}): every connection needs callers",
        args.load.connections,
        args.users
    );
    anyhow::ensure!(
        args.per_caller < args.users,
        "--per-caller ({}) must be below --users ({})",
        args.per_caller,
        args.users
    );
    let client = GraphqlClient::for_url(&args.load.common.url)?;
    let run = Run::start("load/invites", "invites");
    let accounts = sign_up_many(
        &client,
        &run_prefix(),
        "invite",
        args.users,
        args.load.common.setup_concurrency,
    )
    .await?;
    let accounts = Arc::new(accounts);
    println!(
        "load/invites against {}: {} callers at once for {} s, {} ids per call, {} per caller, {} users",
        args.load.common.url,
        args.load.connections,
        args.load.duration,
        args.batch,
        args.per_caller,
        args.users
    );
    let (batch, per_caller, connections) = (
        args.batch as usize,
        args.per_caller as usize,
        args.load.connections as usize,
    );
    let friends_made = Arc::new(AtomicU64::new(0));
    let worker = |i: usize, clock: Clock| {
        let (client, accounts, friends_made) =
            (client.clone(), accounts.clone(), friends_made.clone());
        async move {
            let mut rng = StdRng::seed_from_u64(i as u64);
            let mut tally = Tally::default();
            for caller in (i..accounts.len()).step_by(connections) {
                let mut asked: HashSet<usize> = HashSet::with_capacity(per_caller + 1);
                asked.insert(caller);
                while asked.len() <= per_caller {
                    if !clock.running() {
                        return tally;
                    }
                    let want = batch.min(per_caller + 1 - asked.len());
                    let targets: Vec<&str> =
                        draw_targets(&mut rng, &mut asked, want, accounts.len())
                            .into_iter()
                            .map(|t| accounts[t].id.as_str())
                            .collect();
                    let result = add_friends(
                        &client,
                        &accounts[caller],
                        &targets,
                        &["INVITE_SENT", "FRIEND"],
                    );
                    if let Some(friends) = tally.time(result).await {
                        tally.units += targets.len() as u64;
                        friends_made.fetch_add(friends, Ordering::Relaxed);
                    }
                    clock.tick();
                }
            }
            tally.errors.add("a connection ran out of callers");
            tally
        }
    };
    let measured = run
        .measure(args.load.connections, 0, args.load.duration, worker)
        .await;
    println!(
        "  {} of the invites met the other side's request and became friendships",
        friends_made.load(Ordering::Relaxed)
    );
    finish(run, &args, &args.load, measured).await
}

/// Prints and reports a load run, with the server's memory once idle when `--server-pid` is
/// given.
async fn finish(
    run: Run,
    parameters: &impl serde::Serialize,
    load: &LoadArgs,
    measured: Measured,
) -> anyhow::Result<Report> {
    run.finish(
        parameters,
        measured,
        serde_json::Map::new(),
        load.server_pid,
        load.idle_secs,
    )
    .await
}
