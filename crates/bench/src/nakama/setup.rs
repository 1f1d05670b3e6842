//! `nakama setup`: an Amity data set's graph, built in Nakama through its REST API.
//!
//! The Amity manifest names the users (handles `<prefix>_<index>`) but not the edges, so the
//! graph is redrawn with the data-set generator from the same shape, sizes and seed, and checked
//! against the manifest (the friendship count, and the same ordinary and at-limit users). Every
//! user is authenticated with its handle as custom id and username (`create=true`; an account
//! made by an earlier setup is signed into again). Then every user asks its friends of higher
//! index, `--ask-batch` (1) ids per `POST /v2/friend`, and every user accepts those of lower
//! index, `--accept-batch` (100) ids per call, with bounded concurrency; a failed call is
//! retried (adding a friend again changes nothing). At the end every user's friend list is read
//! back and compared with the graph. The Nakama manifest keeps each user's Nakama id and session
//! token for the loads.
//!
//! Why asks go one at a time: a new request increments both users' `edge_count` in Nakama's
//! `users` table, row by row in the order of a Go map, so concurrent calls asking many users at
//! once lock rows in opposite orders and deadlock (on PostgreSQL each deadlock costs a second of
//! `deadlock_timeout`, and Nakama retries only five times). An acceptance updates only the pair's
//! two edges, which no other acceptance touches, so acceptances can be batched. Calls are
//! interleaved across users so that concurrent calls seldom share a user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::SetupArgs;
use super::client::{NakamaClient, Session, state};
use crate::client::RequestError;
use crate::dataset::{Manifest, draw};
use crate::progress::Progress;
use crate::report::Report;
use crate::stats::ErrorTally;

/// How many times a setup call is sent before the setup gives up.
const ATTEMPTS: u32 = 5;

/// What `nakama setup` built, for the loads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NakamaManifest {
    /// The server it was built on.
    pub url: String,
    /// The Amity manifest it was built from.
    pub source_manifest: PathBuf,
    /// When the sessions were issued.
    pub created_at: DateTime<Utc>,
    /// How the graph was drawn (the Amity generator's options).
    pub graph: GraphParameters,
    /// Users.
    pub users: u32,
    /// Friendships.
    pub friendships: u64,
    /// The Amity manifest's ordinary users (handles), which the read loads use.
    pub ordinary: Vec<String>,
    /// The Amity manifest's users at the friend limit (handles).
    pub at_limit: Vec<String>,
    /// Every user, by data-set index.
    pub accounts: Vec<NakamaAccount>,
}

/// The generator's options a graph was drawn with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GraphParameters {
    /// `skewed` or `nakama`.
    pub shape: String,
    /// The median number of friends.
    pub median_friends: u32,
    /// The friend limit.
    pub max_friends: u32,
    /// The seed.
    pub seed: u64,
}

/// A data-set user in Nakama.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NakamaAccount {
    /// The Amity handle: the Nakama custom id and username.
    pub handle: String,
    /// The Nakama user id.
    pub user_id: String,
    /// A session token.
    pub token: String,
    /// Its refresh token.
    pub refresh_token: Option<String>,
    /// When the token expires, in seconds since the Unix epoch.
    pub token_expires_at: i64,
}

impl NakamaManifest {
    /// Reads a Nakama manifest.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading {} (run `amity-bench nakama setup` first)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))
    }

    /// The account of `handle`.
    pub fn account(&self, handle: &str) -> Option<&NakamaAccount> {
        let index: usize = handle.rsplit('_').next()?.parse().ok()?;
        self.accounts.get(index).filter(|a| a.handle == handle)
    }
}

/// The prefix all of a data set's handles (`<prefix>_<index>`) share, when there are any, and
/// each handle's index.
fn split_handles(handles: &[String], users: u32) -> anyhow::Result<(Option<String>, Vec<u32>)> {
    let mut prefix: Option<&str> = None;
    let mut indices = Vec::with_capacity(handles.len());
    for handle in handles {
        let (p, index) = handle
            .rsplit_once('_')
            .and_then(|(p, i)| Some((p, i.parse::<u32>().ok()?)))
            .with_context(|| format!("the handle {handle} is not <prefix>_<index>"))?;
        anyhow::ensure!(index < users, "the handle {handle} is beyond {users} users");
        match prefix {
            None => prefix = Some(p),
            Some(q) => anyhow::ensure!(p == q, "the handles {p}_.. and {q}_.. differ"),
        }
        indices.push(index);
    }
    Ok((prefix.map(str::to_owned), indices))
}

/// Sends `call()` until it succeeds, at most [`ATTEMPTS`] times; counts the retries.
async fn retried<T, Fut>(
    retries: &AtomicU64,
    mut call: impl FnMut() -> Fut,
) -> Result<T, RequestError>
where
    Fut: Future<Output = Result<T, RequestError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) if attempt >= ATTEMPTS => return Err(e),
            Err(_) => {
                retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// The calls of one phase: each user's `lists[user]` in chunks of `batch`, taken round-robin
/// across users (every user's first call, then every user's second...).
fn interleaved_calls(lists: &[Vec<u32>], batch: usize) -> Vec<(u32, Vec<u32>)> {
    let chunked: Vec<Vec<&[u32]>> = lists
        .iter()
        .map(|ids| ids.chunks(batch).collect())
        .collect();
    let rounds = chunked.iter().map(Vec::len).max().unwrap_or(0);
    (0..rounds)
        .flat_map(|round| {
            chunked
                .iter()
                .enumerate()
                .filter_map(move |(user, chunks)| {
                    chunks.get(round).map(|chunk| (user as u32, chunk.to_vec()))
                })
        })
        .collect()
}

/// Sends every `(user, ids)` call of one phase, `concurrency` at a time, with a progress line
/// counting ids.
async fn befriend_phase(
    client: &NakamaClient,
    label: &str,
    sessions: &[Session],
    calls: Vec<(u32, Vec<u32>)>,
    concurrency: u32,
    retries: &AtomicU64,
) -> anyhow::Result<u64> {
    let total: u64 = calls.iter().map(|(_, ids)| ids.len() as u64).sum();
    let requests = calls.len() as u64;
    let mut progress = Progress::new(label, total);
    let mut done = 0;
    let result = futures::stream::iter(calls)
        .map(|(user, targets)| async move {
            let ids: Vec<&str> = targets
                .iter()
                .map(|&t| sessions[t as usize].user_id.as_str())
                .collect();
            let token = &sessions[user as usize].token;
            retried(retries, || client.add_friends(token, &ids))
                .await
                .map(|()| ids.len() as u64)
        })
        .buffer_unordered(concurrency as usize)
        .inspect(|r| {
            if let Ok(n) = r {
                done += n;
                progress.set_done(done);
            }
        })
        .try_collect::<Vec<u64>>()
        .await;
    progress.finish();
    result.with_context(|| format!("{label}: a call failed {ATTEMPTS} times"))?;
    Ok(requests)
}

/// Runs `nakama setup`.
pub async fn setup(args: SetupArgs) -> anyhow::Result<Report> {
    let started_at = Utc::now();
    let began = Instant::now();
    let manifest = Manifest::read(&args.manifest)?;
    let users = manifest.users;
    let named: Vec<String> = manifest
        .ordinary
        .iter()
        .chain(&manifest.at_limit)
        .cloned()
        .collect();
    let prefix = split_handles(&named, users)?
        .0
        .context("the manifest names no users")?;
    let (_, ordinary) = split_handles(&manifest.ordinary, users)?;
    let (_, at_limit) = split_handles(&manifest.at_limit, users)?;

    eprintln!(
        "redrawing the graph of {} ({users} users, shape {:?}, median {}, limit {}, seed {})...",
        args.manifest.display(),
        args.shape,
        args.median_friends,
        args.max_friends,
        args.seed
    );
    let graph = draw(
        users,
        args.median_friends,
        args.shape.spread(),
        args.max_friends,
        &mut StdRng::seed_from_u64(args.seed),
    );
    let mismatch = "pass the --shape, --median-friends, --max-friends and --seed that `dataset generate` was run with";
    anyhow::ensure!(
        graph.friendships.len() as u64 == manifest.friendships,
        "the redrawn graph has {} friendships, the manifest {}: {mismatch}",
        graph.friendships.len(),
        manifest.friendships
    );
    let median = args.median_friends;
    let expect_ordinary: Vec<u32> = (0..users)
        .filter(|&i| {
            let d = graph.degrees[i as usize];
            d >= median / 2 && d <= median * 2
        })
        .take(ordinary.len())
        .collect();
    let expect_at_limit: Vec<u32> = graph
        .at_limit
        .iter()
        .copied()
        .filter(|&i| graph.degrees[i as usize] >= args.max_friends)
        .take(at_limit.len())
        .collect();
    anyhow::ensure!(
        expect_ordinary == ordinary && expect_at_limit == at_limit,
        "the redrawn graph's ordinary or at-limit users are not the manifest's: {mismatch}"
    );

    let client = NakamaClient::new(&args.common.url, &args.common.server_key)?;
    let concurrency = args.common.setup_concurrency;
    let retries = AtomicU64::new(0);
    println!(
        "nakama setup against {}: {users} users, {} friendships, {} ids per ask, {} per acceptance",
        args.common.url,
        graph.friendships.len(),
        args.ask_batch,
        args.accept_batch
    );

    let auth_began = Instant::now();
    let mut progress = Progress::new("authenticating users", u64::from(users));
    let handles: Vec<String> = (0..users).map(|i| format!("{prefix}_{i}")).collect();
    let sessions: Vec<Session> = futures::stream::iter(&handles)
        .map(|handle| {
            let (client, retries) = (&client, &retries);
            async move { retried(retries, || client.authenticate(handle, true)).await }
        })
        .buffered(concurrency as usize)
        .inspect(|r| progress.tick(r.is_ok()))
        .try_collect()
        .await
        .context("authenticating the data set's users")?;
    progress.finish();
    let created = sessions.iter().filter(|s| s.created).count();
    let auth_secs = auth_began.elapsed().as_secs_f64();
    println!(
        "  users: {created} created, {} existed already ({auth_secs:.1} s)",
        sessions.len() - created
    );

    // Each friendship once, from its lower index: asked by it, accepted by the higher.
    let mut asks: Vec<Vec<u32>> = vec![Vec::new(); users as usize];
    let mut accepts: Vec<Vec<u32>> = vec![Vec::new(); users as usize];
    for &(a, b) in &graph.friendships {
        let (lo, hi) = (a.min(b), a.max(b));
        asks[lo as usize].push(hi);
        accepts[hi as usize].push(lo);
    }
    let ask_began = Instant::now();
    let ask_requests = befriend_phase(
        &client,
        "friend requests",
        &sessions,
        interleaved_calls(&asks, args.ask_batch as usize),
        concurrency,
        &retries,
    )
    .await?;
    let ask_secs = ask_began.elapsed().as_secs_f64();
    let accept_began = Instant::now();
    let accept_requests = befriend_phase(
        &client,
        "acceptances",
        &sessions,
        interleaved_calls(&accepts, args.accept_batch as usize),
        concurrency,
        &retries,
    )
    .await?;
    let accept_secs = accept_began.elapsed().as_secs_f64();
    println!(
        "  friendships: {ask_requests} calls asking in {ask_secs:.1} s, {accept_requests} calls accepting in {accept_secs:.1} s"
    );

    // Read every friend list back.
    let mut errors = ErrorTally::default();
    let index_of: HashMap<&str, u32> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| (s.user_id.as_str(), i as u32))
        .collect();
    let mut expected: Vec<Vec<u32>> = vec![Vec::new(); users as usize];
    for &(a, b) in &graph.friendships {
        expected[a as usize].push(b);
        expected[b as usize].push(a);
    }
    let mut progress = Progress::new("checking friend lists", u64::from(users));
    let lists: Vec<Vec<super::client::FriendState>> = futures::stream::iter(&sessions)
        .map(|s| {
            let (client, retries) = (&client, &retries);
            async move { retried(retries, || client.all_edges(&s.token)).await }
        })
        .buffered(concurrency as usize)
        .inspect(|r| progress.tick(r.is_ok()))
        .try_collect()
        .await
        .context("reading the friend lists back")?;
    progress.finish();
    let mut differing = 0u64;
    for (user, edges) in lists.iter().enumerate() {
        let mut got: Vec<u32> = edges
            .iter()
            .filter(|e| e.state == state::FRIEND)
            .filter_map(|e| index_of.get(e.user.id.as_str()).copied())
            .collect();
        let others = edges.len() - got.len();
        got.sort_unstable();
        let mut want = expected[user].clone();
        want.sort_unstable();
        if got != want || others > 0 {
            differing += 1;
        }
    }
    errors.add_many("a friend list differs from the graph", differing);
    println!(
        "  friend lists: {} of {users} as in the graph; {} retried calls",
        u64::from(users) - differing,
        retries.load(Ordering::Relaxed)
    );

    let out = NakamaManifest {
        url: args.common.url.clone(),
        source_manifest: args.manifest.clone(),
        created_at: started_at,
        graph: GraphParameters {
            shape: serde_json::to_value(args.shape)?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            median_friends: args.median_friends,
            max_friends: args.max_friends,
            seed: args.seed,
        },
        users,
        friendships: manifest.friendships,
        ordinary: manifest.ordinary.clone(),
        at_limit: manifest.at_limit.clone(),
        accounts: handles
            .into_iter()
            .zip(sessions)
            .map(|(handle, s)| NakamaAccount {
                handle,
                user_id: s.user_id,
                token: s.token,
                refresh_token: s.refresh_token,
                token_expires_at: s.expires_at,
            })
            .collect(),
    };
    std::fs::write(&args.output_manifest, serde_json::to_string_pretty(&out)?)
        .with_context(|| format!("writing {}", args.output_manifest.display()))?;
    let expires = out.accounts.iter().map(|a| a.token_expires_at).min();
    let expires = expires
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .map_or_else(|| "?".to_owned(), |t| t.to_rfc3339());
    println!(
        "  manifest {} (sessions valid until {expires})",
        args.output_manifest.display()
    );
    let figures = json!({
        "users": users,
        "users_created": created,
        "friendships": graph.friendships.len(),
        "ask_calls": ask_requests,
        "accept_calls": accept_requests,
        "retried_calls": retries.load(Ordering::Relaxed),
        "friend_lists_differing": differing,
        "authenticate_secs": auth_secs,
        "ask_secs": ask_secs,
        "accept_secs": accept_secs,
    });
    Report::new(
        "nakama/setup",
        &args,
        started_at,
        began.elapsed().as_secs_f64(),
        figures,
        errors,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_split_into_one_prefix_and_indices() -> anyhow::Result<()> {
        let handles = vec!["bench_1a2b_0".to_owned(), "bench_1a2b_17".to_owned()];
        let (prefix, indices) = split_handles(&handles, 20)?;
        assert_eq!(
            (prefix.as_deref(), indices),
            (Some("bench_1a2b"), vec![0, 17])
        );
        assert!(split_handles(&handles, 10).is_err());
        assert!(split_handles(&["a_1".to_owned(), "b_2".to_owned()], 10).is_err());
        assert!(split_handles(&["nodigits".to_owned()], 10).is_err());
        assert_eq!(split_handles(&[], 10)?, (None, vec![]));
        Ok(())
    }

    #[test]
    fn calls_are_chunked_and_taken_round_robin() {
        let lists = vec![vec![1, 2, 3], vec![], vec![0, 1]];
        let calls = interleaved_calls(&lists, 2);
        assert_eq!(calls, vec![(0, vec![1, 2]), (2, vec![0, 1]), (0, vec![3])]);
        assert_eq!(interleaved_calls(&lists, 1).len(), 5);
        assert!(interleaved_calls(&[], 1).is_empty());
    }

    #[test]
    fn accounts_are_found_by_handle() {
        let account = |handle: &str| NakamaAccount {
            handle: handle.to_owned(),
            user_id: String::new(),
            token: String::new(),
            refresh_token: None,
            token_expires_at: 0,
        };
        let manifest = NakamaManifest {
            url: String::new(),
            source_manifest: PathBuf::new(),
            created_at: Utc::now(),
            graph: GraphParameters {
                shape: "nakama".to_owned(),
                median_friends: 1,
                max_friends: 1,
                seed: 1,
            },
            users: 2,
            friendships: 1,
            ordinary: vec![],
            at_limit: vec![],
            accounts: vec![account("p_0"), account("p_1")],
        };
        assert!(manifest.account("p_1").is_some());
        assert!(manifest.account("q_1").is_none());
        assert!(manifest.account("p_2").is_none());
    }
}
