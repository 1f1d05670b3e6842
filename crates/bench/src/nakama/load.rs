//! `nakama load ...`: Amity's throughput workloads through Nakama's REST API, on the crate's
//! connections-for-a-time driver, so the figures, the printed lines and the JSON result are the
//! same as `load ...`'s.
//!
//! - `friends`: `GET /v2/friend?limit=100` (friends with presence) as the Nakama manifest's
//!   ordinary users, the same users Amity's `load friends` reads as;
//! - `friends-of-friends`: `GET /v2/friend/friends?limit=10`, Nakama's nearest to Amity's
//!   `load recommendations` (it lists friends' friends, it does not rank them);
//! - `send-accept`: each connection makes friends of every pair of its fresh users in turn,
//!   `POST /v2/friend?ids=B` as A, then `POST /v2/friend?ids=A` as B; friendships/s;
//! - `invites`: callers ask `--batch` users per `POST /v2/friend`, drawn at random from
//!   everyone, as Amity's `load invites`; invites (ids sent)/s.
//!
//! Nakama answers `POST /v2/friend` with `{}` whatever happened, so the writing workloads read
//! every fresh user's friend list back after the run and check it against what was sent (every
//! accepted pair a friendship; every invite either pending or met by the other side's, making a
//! friendship); a difference is counted as errors.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use futures::{StreamExt, TryStreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::client::{FriendPage, FriendState, FriendsOfFriendsPage, NakamaClient, Session, state};
use super::setup::NakamaManifest;
use super::{
    NakamaInvitesArgs, NakamaLoadArgs, NakamaLoadCommand, NakamaReadArgs, NakamaSendAcceptArgs,
};
use crate::client::RequestError;
use crate::driver::{Clock, Measured, Run, Tally};
use crate::progress::Progress;
use crate::report::Report;
use crate::setup::run_prefix;
use crate::stats::ErrorTally;

/// Runs one Nakama load workload.
pub async fn run(command: NakamaLoadCommand) -> anyhow::Result<Report> {
    match command {
        NakamaLoadCommand::Friends(args) => read_load(args, ReadWorkload::Friends).await,
        NakamaLoadCommand::FriendsOfFriends(args) => {
            read_load(args, ReadWorkload::FriendsOfFriends).await
        }
        NakamaLoadCommand::SendAccept(args) => send_accept(args).await,
        NakamaLoadCommand::Invites(args) => invites(args).await,
    }
}

/// The read workloads.
#[derive(Debug, Clone, Copy)]
enum ReadWorkload {
    Friends,
    FriendsOfFriends,
}

impl ReadWorkload {
    fn name(self) -> &'static str {
        match self {
            Self::Friends => "nakama/load/friends",
            Self::FriendsOfFriends => "nakama/load/friends-of-friends",
        }
    }

    /// The address every request of the workload goes to.
    fn url(self, client: &NakamaClient) -> reqwest::Url {
        match self {
            Self::Friends => client.url("/v2/friend", &[("limit", "100")]),
            Self::FriendsOfFriends => client.url("/v2/friend/friends", &[("limit", "10")]),
        }
    }

    /// Sends the workload's request once; `Ok(true)` when the answer was empty.
    async fn request(
        self,
        client: &NakamaClient,
        token: &str,
        url: &reqwest::Url,
    ) -> Result<bool, RequestError> {
        match self {
            Self::Friends => client
                .get::<FriendPage>(token, url.clone())
                .await
                .map(|p| p.friends.is_empty()),
            Self::FriendsOfFriends => client
                .get::<FriendsOfFriendsPage>(token, url.clone())
                .await
                .map(|p| p.friends_of_friends.is_empty()),
        }
    }
}

/// The session tokens of `handles`: the manifest's, or new ones (`create=false`) for those that
/// expire within `must_last_secs`.
async fn tokens_for(
    client: &NakamaClient,
    manifest: &NakamaManifest,
    handles: &[&String],
    must_last_secs: i64,
    concurrency: u32,
) -> anyhow::Result<Vec<String>> {
    let deadline = chrono::Utc::now().timestamp() + must_last_secs;
    let mut tokens = Vec::with_capacity(handles.len());
    let mut renew = Vec::new();
    for (i, handle) in handles.iter().enumerate() {
        let account = manifest
            .account(handle)
            .with_context(|| format!("the Nakama manifest lacks the user {handle}"))?;
        if account.token_expires_at <= deadline {
            renew.push((i, handle.as_str()));
        }
        tokens.push(account.token.clone());
    }
    if !renew.is_empty() {
        let mut progress = Progress::new("renewing expiring sessions", renew.len() as u64);
        let renewed: Vec<(usize, Session)> =
            futures::stream::iter(renew)
                .map(|(i, handle)| async move {
                    client.authenticate(handle, false).await.map(|s| (i, s))
                })
                .buffered(concurrency as usize)
                .inspect(|r| progress.tick(r.is_ok()))
                .try_collect()
                .await
                .context("renewing sessions (is this the server `nakama setup` ran against?)")?;
        progress.finish();
        for (i, session) in renewed {
            tokens[i] = session.token;
        }
    }
    Ok(tokens)
}

/// `nakama load friends` and `nakama load friends-of-friends`: data-set users, one per
/// connection (in turn when there are fewer users than connections), the same request over and
/// over.
async fn read_load(args: NakamaReadArgs, workload: ReadWorkload) -> anyhow::Result<Report> {
    let manifest = NakamaManifest::read(&args.manifest)?;
    let common = &args.load.common;
    let client = NakamaClient::new(&common.url, &common.server_key)?;
    if manifest.url != common.url {
        eprintln!(
            "note: {} was set up against {}, this run goes to {}",
            args.manifest.display(),
            manifest.url,
            common.url
        );
    }
    let run = Run::start(workload.name(), "requests");
    let handles = crate::dataset::first_users(
        &manifest.ordinary,
        args.users.unwrap_or(args.load.connections),
        &args.manifest,
    )?;
    let must_last = i64::from(args.warmup) + i64::from(args.load.duration) + 120;
    let tokens = tokens_for(
        &client,
        &manifest,
        &handles,
        must_last,
        common.setup_concurrency,
    )
    .await?;
    let tokens = Arc::new(tokens);
    let url = Arc::new(workload.url(&client));
    let worker = |i: usize, clock: Clock| {
        let (client, tokens, url) = (client.clone(), tokens.clone(), url.clone());
        async move {
            let token = &tokens[i % tokens.len()];
            Tally::default()
                .repeat(&clock, || workload.request(&client, token, &url))
                .await
        }
    };
    println!(
        "{} against {}: {} connections for {} s",
        workload.name(),
        common.url,
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
    finish(run, &args, &args.load, measured, Check::default()).await
}

/// Authenticates `count` fresh users (`create=true`) named `<prefix>_<role>_<n>`.
async fn fresh_users(
    client: &NakamaClient,
    role: &str,
    count: u32,
    concurrency: u32,
) -> anyhow::Result<Vec<Session>> {
    let prefix = run_prefix();
    let mut progress = Progress::new(format!("creating {role} users"), u64::from(count));
    let sessions: Vec<Session> = futures::stream::iter(0..count)
        .map(|n| {
            let custom_id = format!("{prefix}_{role}_{n}");
            async move { client.authenticate(&custom_id, true).await }
        })
        .buffered(concurrency as usize)
        .inspect(|r| progress.tick(r.is_ok()))
        .try_collect()
        .await
        .with_context(|| format!("creating the {role} users"))?;
    progress.finish();
    anyhow::ensure!(
        sessions.iter().all(|s| s.created),
        "some fresh users existed already"
    );
    Ok(sessions)
}

/// The edges of a set of users, by state.
#[derive(Debug, Default)]
struct EdgeCounts {
    friend: u64,
    invite_sent: u64,
    invite_received: u64,
    other: u64,
}

/// Reads every edge of `sessions`' users and counts them by state (each friendship twice).
async fn count_edges(
    client: &NakamaClient,
    sessions: &[Session],
    concurrency: u32,
) -> anyhow::Result<EdgeCounts> {
    let mut progress = Progress::new("reading friend lists back", sessions.len() as u64);
    let lists: Vec<Vec<FriendState>> = futures::stream::iter(sessions)
        .map(|s| client.all_edges(&s.token))
        .buffered(concurrency as usize)
        .inspect(|r| progress.tick(r.is_ok()))
        .try_collect()
        .await
        .context("reading the fresh users' friend lists back")?;
    progress.finish();
    let mut counts = EdgeCounts::default();
    for edge in lists.iter().flatten() {
        match edge.state {
            state::FRIEND => counts.friend += 1,
            state::INVITE_SENT => counts.invite_sent += 1,
            state::INVITE_RECEIVED => counts.invite_received += 1,
            _ => counts.other += 1,
        }
    }
    Ok(counts)
}

/// What reading the friend lists back found: figures for the report, and differences from
/// what was sent, counted as errors.
#[derive(Debug, Default)]
struct Check {
    figures: Map<String, Value>,
    errors: ErrorTally,
}

/// `nakama load send-accept`: each connection owns a group of fresh users and makes pairs of
/// them friends, one pair after another: A asks B, then B asks A (which accepts). Throughput is
/// friendships per second; latencies are per request.
async fn send_accept(args: NakamaSendAcceptArgs) -> anyhow::Result<Report> {
    let common = &args.load.common;
    let client = NakamaClient::new(&common.url, &common.server_key)?;
    let run = Run::start("nakama/load/send-accept", "friendships");
    let group = args.users_per_connection as usize;
    let sessions = fresh_users(
        &client,
        "pair",
        args.load.connections * args.users_per_connection,
        common.setup_concurrency,
    )
    .await?;
    let sessions = Arc::new(sessions);
    let accepted = Arc::new(AtomicU64::new(0));
    println!(
        "nakama/load/send-accept against {}: {} connections for {} s, {} fresh users each ({} pairs)",
        common.url,
        args.load.connections,
        args.load.duration,
        group,
        group * (group - 1) / 2
    );
    let worker = |i: usize, clock: Clock| {
        let (client, sessions, accepted) = (client.clone(), sessions.clone(), accepted.clone());
        async move {
            let mine = &sessions[i * group..(i + 1) * group];
            let mut tally = Tally::default();
            let pairs = (0..group).flat_map(|a| (a + 1..group).map(move |b| (a, b)));
            for (a, b) in pairs {
                if !clock.running() {
                    return tally;
                }
                let (a, b) = (&mine[a], &mine[b]);
                let asked = tally
                    .time(client.add_friends(&a.token, &[&b.user_id]))
                    .await;
                clock.tick();
                if asked.is_none() {
                    continue;
                }
                let done = tally
                    .time(client.add_friends(&b.token, &[&a.user_id]))
                    .await;
                clock.tick();
                if done.is_some() {
                    tally.units += 1;
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
            tally.errors.add("a connection ran out of fresh pairs");
            tally
        }
    };
    let measured = run
        .measure(args.load.connections, 0, args.load.duration, worker)
        .await;
    let edges = count_edges(&client, &sessions, common.setup_concurrency).await?;
    let accepted = accepted.load(Ordering::Relaxed);
    let mut check = Check::default();
    let found = edges.friend / 2;
    println!(
        "  check: {found} friendships and {} pending requests in Nakama for {accepted} accepted",
        edges.invite_sent
    );
    check.errors.add_many(
        "friendships in Nakama differ from those accepted",
        found.abs_diff(accepted),
    );
    check
        .figures
        .insert("friendships_found".to_owned(), json!(found));
    check
        .figures
        .insert("pending_invites_found".to_owned(), json!(edges.invite_sent));
    finish(run, &args, &args.load, measured, check).await
}

/// `nakama load invites`: callers send friend requests to `--batch` users per call. Each
/// connection takes callers from a pool of fresh users in turn; each caller asks up to
/// `--per-caller` distinct users of the pool, drawn at random, so calls of different callers
/// share targets and callers are also each other's targets (an ask meets the other side's ask
/// and becomes a friendship). Throughput is invites (ids sent) per second.
async fn invites(args: NakamaInvitesArgs) -> anyhow::Result<Report> {
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
    let common = &args.load.common;
    let client = NakamaClient::new(&common.url, &common.server_key)?;
    let run = Run::start("nakama/load/invites", "invites");
    let sessions = fresh_users(&client, "invite", args.users, common.setup_concurrency).await?;
    let sessions = Arc::new(sessions);
    let sent = Arc::new(AtomicU64::new(0));
    println!(
        "nakama/load/invites against {}: {} callers at once for {} s, {} ids per call, {} per caller, {} users",
        common.url,
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
    let worker = |i: usize, clock: Clock| {
        let (client, sessions, sent) = (client.clone(), sessions.clone(), sent.clone());
        async move {
            let mut rng = StdRng::seed_from_u64(i as u64);
            let mut tally = Tally::default();
            for caller in (i..sessions.len()).step_by(connections) {
                let mut asked: HashSet<usize> = HashSet::with_capacity(per_caller + 1);
                asked.insert(caller);
                while asked.len() <= per_caller {
                    if !clock.running() {
                        return tally;
                    }
                    let want = batch.min(per_caller + 1 - asked.len());
                    let targets: Vec<&str> =
                        crate::load::draw_targets(&mut rng, &mut asked, want, sessions.len())
                            .into_iter()
                            .map(|t| sessions[t].user_id.as_str())
                            .collect();
                    let result = client.add_friends(&sessions[caller].token, &targets);
                    if tally.time(result).await.is_some() {
                        tally.units += targets.len() as u64;
                        sent.fetch_add(targets.len() as u64, Ordering::Relaxed);
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
    let edges = count_edges(&client, &sessions, common.setup_concurrency).await?;
    let sent = sent.load(Ordering::Relaxed);
    let friendships = edges.friend / 2;
    println!("  {friendships} of the invites met the other side's request and became friendships");
    // Every invite sent is pending, or one of the two that made a friendship.
    let accounted = 2 * friendships + edges.invite_sent;
    println!(
        "  check: {accounted} invites accounted for by Nakama's edges ({} pending) for {sent} sent",
        edges.invite_sent
    );
    let mut check = Check::default();
    check.errors.add_many(
        "invites in Nakama differ from those sent",
        accounted.abs_diff(sent),
    );
    check.errors.add_many(
        "pending requests without their other side",
        edges.invite_sent.abs_diff(edges.invite_received),
    );
    check
        .errors
        .add_many("edges in an unexpected state", edges.other);
    check
        .figures
        .insert("friendships_made".to_owned(), json!(friendships));
    check
        .figures
        .insert("pending_invites_found".to_owned(), json!(edges.invite_sent));
    finish(run, &args, &args.load, measured, check).await
}

/// Prints and reports a load run (with the server's memory once idle when `--server-pid` is
/// given), adding what the check found.
async fn finish(
    run: Run,
    parameters: &impl serde::Serialize,
    load: &NakamaLoadArgs,
    measured: Measured,
    check: Check,
) -> anyhow::Result<Report> {
    if check.errors.total() > 0 {
        println!("  check errors: {}", check.errors);
    }
    let mut report = run
        .finish(
            parameters,
            measured,
            check.figures,
            load.server_pid,
            load.idle_secs,
        )
        .await?;
    report.error_kinds.merge(&check.errors);
    report.errors = report.error_kinds.total();
    Ok(report)
}
