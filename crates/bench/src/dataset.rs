//! `dataset generate`: N users and a skewed friend graph, bulk-loaded straight into a database.
//!
//! Degrees are log-normal around `--median-friends` (`--shape skewed`, sigma 0.8: half the users
//! have fewer than the median, a long tail has many more), capped at `--max-friends`; the users
//! whose drawn degree reaches the cap (about 0.2 %) are filled up to it exactly. With
//! `--shape nakama` (sigma 0) every user draws the median: on 2,000 users with 100 each that is
//! about 97,500 friendships once self-pairs and duplicates are dropped, the graph Nakama was
//! measured on. Friendships are made by
//! pairing degree "stubs" at random (the configuration model), dropping self-pairs and
//! duplicates. Every user can sign in with the manifest's password (a cheap argon2id hash: this
//! is benchmark data).

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use amity_domain::input::Password;
use amity_domain::ports::PasswordHasher;
use amity_passwords::{Argon2Hasher, HashCost};
use amity_persistence::Database;
use amity_persistence::bulk::{BulkFriendship, BulkProgress, BulkUser, load};
use anyhow::Context;
use chrono::Utc;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cli::GenerateArgs;
use crate::progress::Progress;
use crate::report::Report;
use crate::setup::run_prefix;
use crate::stats::ErrorTally;

/// The password of every generated user.
pub const DATASET_PASSWORD: &str = "dataset-password";
/// How many handles of each group the manifest lists.
const MANIFEST_SAMPLE: usize = 500;

/// What a generated data set holds, for the benchmarks that use it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Users.
    pub users: u32,
    /// Friendships (each is two FRIEND edges).
    pub friendships: u64,
    /// Every user's password.
    pub password: String,
    /// Users with about the median number of friends (half to twice it).
    pub ordinary: Vec<String>,
    /// Users at the friend limit.
    pub at_limit: Vec<String>,
    /// The friend limit the graph was made for.
    pub max_friends: u32,
}

impl Manifest {
    /// Reads a manifest file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading {} (run `amity-bench dataset generate` first)",
                path.display()
            )
        })?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// The first `n` of a manifest's `ordinary` users: who a read workload signs in as (one per
/// connection, taken in turn when there are fewer). Fails when there is none.
pub(crate) fn first_users<'a>(
    ordinary: &'a [String],
    n: u32,
    manifest: &Path,
) -> anyhow::Result<Vec<&'a String>> {
    let handles: Vec<&String> = ordinary.iter().take(n as usize).collect();
    anyhow::ensure!(
        !handles.is_empty(),
        "the manifest {} lists no ordinary users",
        manifest.display()
    );
    Ok(handles)
}

/// A generated graph, before loading (also redrawn by `nakama setup`, which needs its edges).
pub(crate) struct Graph {
    pub(crate) degrees: Vec<u32>,
    pub(crate) friendships: Vec<(u32, u32)>,
    pub(crate) at_limit: Vec<u32>,
}

/// Draws the graph: log-normal degrees with spread `sigma` around `median`, capped at `max`.
pub(crate) fn draw(users: u32, median: u32, sigma: f64, max: u32, rng: &mut StdRng) -> Graph {
    let n = users as usize;
    let targets: Vec<u32> = (0..n)
        .map(|_| {
            // Box-Muller: a standard normal from two uniforms.
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let d = (f64::from(median) * (sigma * z).exp()).round();
            (d.clamp(1.0, f64::from(max))) as u32
        })
        .collect();
    let mut stubs: Vec<u32> = Vec::with_capacity(targets.iter().map(|&d| d as usize).sum());
    for (i, &d) in targets.iter().enumerate() {
        stubs.extend(std::iter::repeat_n(i as u32, d as usize));
    }
    stubs.shuffle(rng);
    let mut degrees = vec![0u32; n];
    let mut seen: HashSet<u64> = HashSet::with_capacity(stubs.len() / 2);
    let mut friendships = Vec::with_capacity(stubs.len() / 2);
    let key = |a: u32, b: u32| (u64::from(a.min(b)) << 32) | u64::from(a.max(b));
    let mut add = |a: u32, b: u32, degrees: &mut Vec<u32>| {
        if a == b || degrees[a as usize] >= max || degrees[b as usize] >= max {
            return false;
        }
        if !seen.insert(key(a, b)) {
            return false;
        }
        degrees[a as usize] += 1;
        degrees[b as usize] += 1;
        friendships.push((a, b));
        true
    };
    for pair in stubs.chunks_exact(2) {
        add(pair[0], pair[1], &mut degrees);
    }
    // Fill the users drawn at the limit up to it exactly.
    let at_limit: Vec<u32> = (0..n as u32)
        .filter(|&i| targets[i as usize] >= max)
        .collect();
    for &u in &at_limit {
        let mut tries = 0;
        while degrees[u as usize] < max && tries < 100 * max {
            tries += 1;
            let v = rng.random_range(0..users);
            add(u, v, &mut degrees);
        }
    }
    Graph {
        degrees,
        friendships,
        at_limit,
    }
}

/// Runs the generator.
pub async fn generate(args: GenerateArgs) -> anyhow::Result<Report> {
    let started_at = Utc::now();
    let began = Instant::now();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let user_count = args.users.unwrap_or_else(|| args.shape.default_users());
    eprintln!(
        "drawing {user_count} users with a median of {} friends (limit {})...",
        args.median_friends, args.max_friends
    );
    let graph = draw(
        user_count,
        args.median_friends,
        args.shape.spread(),
        args.max_friends,
        &mut rng,
    );
    let drawn_in = began.elapsed().as_secs_f64();

    let prefix = run_prefix();
    let now = Utc::now().timestamp_micros();
    const YEAR_MICROS: i64 = 365 * 24 * 3600 * 1_000_000;
    let users: Vec<BulkUser> = (0..user_count)
        .map(|i| BulkUser {
            id: uuid::Uuid::now_v7(),
            handle: format!("{prefix}_{i}"),
            created_at: now - 2 * YEAR_MICROS + i64::from(i),
        })
        .collect();
    let friendships: Vec<BulkFriendship> = graph
        .friendships
        .iter()
        .map(|&(a, b)| BulkFriendship {
            a,
            b,
            at: now - rng.random_range(0..YEAR_MICROS),
        })
        .collect();
    let hasher = Argon2Hasher::new(HashCost {
        memory_kib: 1024,
        iterations: 1,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let password = Password::parse(DATASET_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = hasher
        .hash(&password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let db = Database::connect(&args.database_url)
        .await
        .with_context(|| "opening the database (AMITY_DATABASE_URL / --database-url)")?;
    db.migrate_up(None)
        .await
        .context("migrating the database")?;
    // The load opens its own connection and needs the database to itself.
    db.close().await;
    let rows = users.len() as u64 + 2 * friendships.len() as u64;
    let progress = Progress::new("loading rows", rows);
    let load_began = Instant::now();
    let mut progress = Some(progress);
    load(
        &args.database_url,
        &users,
        &hash,
        &friendships,
        &mut |step| match step {
            BulkProgress::Rows(done) => {
                if let Some(p) = progress.as_mut() {
                    p.set_done(done);
                }
            }
            BulkProgress::Indexing => {
                if let Some(p) = progress.take() {
                    p.finish();
                }
                eprintln!("rebuilding the friend-listing index...");
            }
            BulkProgress::Analyzing => eprintln!("vacuuming and analyzing..."),
        },
    )
    .await
    .context("loading the data set")?;
    let loaded_in = load_began.elapsed().as_secs_f64();

    let handle = |i: u32| users[i as usize].handle.clone();
    let median = args.median_friends;
    let ordinary: Vec<String> = (0..user_count)
        .filter(|&i| {
            let d = graph.degrees[i as usize];
            d >= median / 2 && d <= median * 2
        })
        .take(MANIFEST_SAMPLE)
        .map(handle)
        .collect();
    let at_limit: Vec<String> = graph
        .at_limit
        .iter()
        .filter(|&&i| graph.degrees[i as usize] >= args.max_friends)
        .take(MANIFEST_SAMPLE)
        .map(|&i| handle(i))
        .collect();
    let manifest = Manifest {
        users: user_count,
        friendships: friendships.len() as u64,
        password: DATASET_PASSWORD.to_owned(),
        ordinary,
        at_limit,
        max_friends: args.max_friends,
    };
    std::fs::write(&args.manifest, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", args.manifest.display()))?;

    let mut sorted = graph.degrees.clone();
    sorted.sort_unstable();
    let median_degree = sorted[sorted.len() / 2];
    let max_degree = sorted.last().copied().unwrap_or(0);
    println!(
        "dataset: {} users, {} friendships ({} edge rows), median {} friends, {} users at the limit of {} (max {})",
        user_count,
        friendships.len(),
        2 * friendships.len(),
        median_degree,
        graph
            .degrees
            .iter()
            .filter(|&&d| d >= args.max_friends)
            .count(),
        args.max_friends,
        max_degree
    );
    println!(
        "  drawn in {drawn_in:.1} s, loaded in {loaded_in:.1} s; manifest {}",
        args.manifest.display()
    );
    let figures = json!({
        "users": user_count,
        "friendships": friendships.len(),
        "median_friends": median_degree,
        "max_friends": max_degree,
        "draw_secs": drawn_in,
        "load_secs": loaded_in,
    });
    Report::new(
        "dataset/generate",
        &args,
        started_at,
        began.elapsed().as_secs_f64(),
        figures,
        ErrorTally::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nakama_shape_gives_everyone_about_the_median() {
        let mut rng = StdRng::seed_from_u64(1);
        let graph = draw(2000, 100, 0.0, 1000, &mut rng);
        // 100,000 stubs paired at random: a few self-pairs and duplicates are dropped.
        assert!(
            (97_500..100_000).contains(&graph.friendships.len()),
            "{} friendships",
            graph.friendships.len()
        );
        assert!(graph.degrees.iter().all(|&d| (85..=100).contains(&d)));
        assert!(graph.at_limit.is_empty());
    }

    #[test]
    fn the_graph_is_skewed_capped_and_simple() {
        let mut rng = StdRng::seed_from_u64(7);
        let graph = draw(5000, 20, 0.8, 200, &mut rng);
        let mut degrees = graph.degrees.clone();
        degrees.sort_unstable();
        let median = degrees[degrees.len() / 2];
        assert!((14..=24).contains(&median), "median {median}");
        assert!(degrees.iter().all(|&d| d <= 200));
        assert!(!graph.at_limit.is_empty());
        assert!(
            graph
                .at_limit
                .iter()
                .all(|&u| graph.degrees[u as usize] == 200)
        );
        let mut pairs = HashSet::new();
        for &(a, b) in &graph.friendships {
            assert_ne!(a, b);
            assert!(pairs.insert((a.min(b), a.max(b))), "duplicate {a}-{b}");
        }
        let again = draw(5000, 20, 0.8, 200, &mut StdRng::seed_from_u64(7));
        assert_eq!(
            again.friendships, graph.friendships,
            "the seed decides the graph"
        );
    }
}
