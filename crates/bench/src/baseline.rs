//! `baseline ...`: what the database alone can do. The statements the server runs for a read
//! workload (the same SQL text, from [`amity_persistence::reads`]), through a plain sqlx pool
//! with the server's settings, from as many concurrent tasks as the load benchmark has
//! connections: no HTTP, no GraphQL, no domain. The server's throughput over this one is the
//! share of the database's capacity the rest of the stack leaves.
//!
//! - `baseline friends`: a page of 101 edges with the users (`friend_page_sql`), then which of
//!   the page's friends are online (`live_users_sql`), as `friends(first: 100)` does;
//! - `baseline recommendations`: my degree, the walk, the exact mutual friends of the chosen
//!   candidates, and the users shown (candidates and three mutual friends each), as
//!   `friendRecommendations(first: 10)` does.
//!
//! - `baseline send-accept`: `load send-accept`'s two transactions per friendship (a request,
//!   then its acceptance between fresh users), through the server's own `SqlStore` and
//!   `FriendService` (so exactly the server's statements, in one process with no HTTP, no
//!   GraphQL and no sign-in).
//!
//! With `--pgbench-dir`, `baseline friends` on PostgreSQL also writes one `pgbench` script per
//! sampled user holding that user's two statements with literal values (the presence list is
//! the user's real first page), and prints the `pgbench` command that runs them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use amity_domain::accounts::{NewUser, Role};
use amity_domain::events::InProcessBus;
use amity_domain::friends::{FriendLimits, FriendService, FriendState, Targets};
use amity_domain::ports::UserStore;
use amity_domain::presence::PresenceSettings;
use amity_domain::time::SystemClock;
use amity_domain::{Handle, UserId};
use amity_persistence::reads::{self, FriendPageRow, Param, UserRow};
use amity_persistence::{Backend, Database, SqlStore};
use anyhow::Context;
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use uuid::Uuid;

use crate::cli::{BaselineArgs, BaselineCommand, SendAcceptBaselineArgs};
use crate::dataset::{Manifest, first_users};
use crate::driver::{Clock, Run, Tally};
use crate::progress::Progress;
use crate::report::Report;
use crate::setup::run_prefix;

/// A friends page: 100 rows and one more to tell whether there is a next page.
const PAGE_ROWS: i64 = 101;
/// Recommendations asked for, as in the load benchmark.
const RECOMMENDATIONS: i64 = 10;
/// Mutual friends loaded with each recommendation (the server preloads three).
const PRELOAD: usize = 3;
/// How far back a node's heartbeat may be for its users to count as online (the server's
/// default presence TTL).
fn liveness() -> chrono::Duration {
    chrono::Duration::from_std(PresenceSettings::default().ttl).unwrap_or_default()
}

/// Runs one baseline.
pub async fn run(command: BaselineCommand) -> anyhow::Result<Report> {
    match command {
        BaselineCommand::Friends(args) => baseline(args, Workload::Friends).await,
        BaselineCommand::Recommendations(args) => baseline(args, Workload::Recommendations).await,
        BaselineCommand::SendAccept(args) => send_accept(args).await,
    }
}

#[derive(Debug, Clone, Copy)]
enum Workload {
    Friends,
    Recommendations,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Self::Friends => "baseline/friends",
            Self::Recommendations => "baseline/recommendations",
        }
    }

    /// One request's statements for `me`; returns whether the answer was empty.
    async fn request(self, db: &Database, me: Uuid) -> amity_domain::Result<bool> {
        match self {
            Self::Friends => friends_page(db, me).await.map(|(rows, _)| rows == 0),
            Self::Recommendations => recommendations(db, me).await.map(|n| n == 0),
        }
    }
}

/// The friends page's two statements; returns the rows read and the friends asked about.
async fn friends_page(db: &Database, me: Uuid) -> amity_domain::Result<(usize, Vec<Uuid>)> {
    let now = Utc::now();
    let sql = reads::friend_page_sql(0, false);
    let params = [
        Param::Uuid(me),
        Param::BigInt(now.timestamp_micros()),
        Param::BigInt(PAGE_ROWS),
    ];
    let rows: Vec<FriendPageRow> = reads::fetch_all(db, &sql, &params).await?;
    let friends: Vec<Uuid> = rows
        .iter()
        .take(100)
        // The edge's state rank: 0 is FRIEND.
        .filter(|row| row.12 == 0)
        .map(|row| row.0)
        .collect();
    if !friends.is_empty() {
        let mut params = vec![Param::BigInt((now - liveness()).timestamp_micros())];
        params.extend(friends.iter().map(|&id| Param::Uuid(id)));
        let _: Vec<(Uuid,)> =
            reads::fetch_all(db, &reads::live_users_sql(friends.len()), &params).await?;
    }
    Ok((rows.len(), friends))
}

/// The recommendation's statements; returns how many recommendations were found.
async fn recommendations(db: &Database, me: Uuid) -> amity_domain::Result<usize> {
    let now = Param::BigInt(Utc::now().timestamp_micros());
    let (degree,): (i64,) = reads::fetch_all(db, reads::MY_DEGREE, &[Param::Uuid(me)])
        .await?
        .first()
        .copied()
        .unwrap_or((0,));
    if degree == 0 {
        return Ok(0);
    }
    let postgres = db.backend() == Backend::Postgres;
    let depth = reads::walk_depth(reads::fan_out(u64::try_from(degree).unwrap_or(0)), postgres);
    let params = [
        Param::BigInt(depth),
        Param::Uuid(me),
        now.clone(),
        Param::Uuid(me),
        Param::Uuid(me),
        Param::Uuid(me),
        Param::Uuid(me),
        now.clone(),
        Param::BigInt(RECOMMENDATIONS),
    ];
    let candidates: Vec<(Uuid,)> =
        reads::fetch_all(db, &reads::walk_sql(postgres), &params).await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let mut params = vec![Param::Uuid(me), now];
    params.extend(candidates.iter().map(|&(id,)| Param::Uuid(id)));
    let sql = reads::mutual_of_candidates_sql(candidates.len());
    let mutual: Vec<(Uuid, Uuid, i64)> = reads::fetch_all(db, &sql, &params).await?;
    let mut shown: Vec<Uuid> = candidates.iter().map(|&(id,)| id).collect();
    let mut per_candidate: HashMap<Uuid, usize> = HashMap::new();
    for &(candidate, friend, _) in &mutual {
        let n = per_candidate.entry(candidate).or_default();
        if *n < PRELOAD {
            *n += 1;
            shown.push(friend);
        }
    }
    shown.sort();
    shown.dedup();
    let params: Vec<Param> = shown.iter().map(|&id| Param::Uuid(id)).collect();
    let users: Vec<UserRow> =
        reads::fetch_all(db, &reads::users_by_ids_sql(shown.len()), &params).await?;
    Ok(users.len().min(candidates.len()))
}

async fn baseline(args: BaselineArgs, workload: Workload) -> anyhow::Result<Report> {
    let manifest = Manifest::read(&args.manifest)?;
    let run = Run::start(workload.name(), "requests");
    let db = Database::connect_with_pool(&args.database_url, args.pool_size)
        .await
        .context("opening the database (--database-url)")?;
    let handles = first_users(
        &manifest.ordinary,
        args.users.unwrap_or(args.connections),
        &args.manifest,
    )?;
    let mut users = Vec::with_capacity(handles.len());
    for handle in &handles {
        let found: Vec<(Uuid,)> = reads::fetch_all(
            &db,
            "SELECT id FROM users WHERE handle = ?",
            &[Param::Text(handle.to_string())],
        )
        .await
        .with_context(|| format!("looking up {handle}"))?;
        let (id,) = found
            .first()
            .copied()
            .with_context(|| format!("the data set has no user {handle} (wrong --manifest?)"))?;
        users.push(id);
    }
    anyhow::ensure!(!users.is_empty(), "the manifest lists no ordinary users");
    if let Some(dir) = &args.pgbench_dir {
        anyhow::ensure!(
            db.backend() == Backend::Postgres,
            "--pgbench-dir needs a PostgreSQL --database-url"
        );
        write_pgbench_scripts(&db, &users, dir, &args).await?;
    }
    println!(
        "{} on {}: {} tasks, pool of {}, {} s",
        workload.name(),
        backend_name(db.backend()),
        args.connections,
        db.pool_size(),
        args.duration
    );
    let pool_size = db.pool_size();
    let (db, users) = (Arc::new(db), Arc::new(users));
    let worker = |i: usize, clock: Clock| {
        let (db, users) = (db.clone(), users.clone());
        async move {
            let me = users[i % users.len()];
            Tally::default()
                .repeat(&clock, || workload.request(&db, me))
                .await
        }
    };
    let measured = run
        .measure(args.connections, args.warmup, args.duration, worker)
        .await;
    let mut extra = serde_json::Map::new();
    extra.insert("pool_size".to_owned(), json!(pool_size));
    run.finish(&args, measured, extra, None, 0).await
}

/// `baseline send-accept`: fresh users (inserted through the store), then every pair of each
/// task's users made friends in turn, as `load send-accept` does over HTTP.
async fn send_accept(args: SendAcceptBaselineArgs) -> anyhow::Result<Report> {
    let run = Run::start("baseline/send-accept", "friendships");
    let db = Database::connect_with_pool(&args.database_url, args.pool_size)
        .await
        .context("opening the database (--database-url)")?;
    let backend = backend_name(db.backend());
    let pool_size = db.pool_size();
    let store = Arc::new(SqlStore::new(db));
    let friends = Arc::new(FriendService::new(
        store.clone(),
        store.clone(),
        Arc::new(InProcessBus::new()),
        Arc::new(SystemClock),
        FriendLimits::default(),
    ));
    let group = args.users_per_connection as usize;
    let count = args.connections * args.users_per_connection;
    let prefix = run_prefix();
    let mut progress = Progress::new("inserting pair users", u64::from(count));
    let users: Vec<UserId> = futures::stream::iter(0..count)
        .map(|n| {
            let store = store.clone();
            let handle = format!("{prefix}_pair_{n}");
            async move {
                let handle = Handle::parse("handle", &handle)?;
                let user = store
                    .insert_user(NewUser {
                        id: UserId::new(),
                        handle,
                        display_name: None,
                        password_hash: None,
                        role: Role::User,
                        created_at: Utc::now(),
                    })
                    .await?;
                Ok::<_, amity_domain::DomainError>(user.id)
            }
        })
        .buffered(16)
        .inspect(|r| progress.tick(r.is_ok()))
        .try_collect()
        .await?;
    progress.finish();
    println!(
        "baseline/send-accept on {backend}: {} tasks, pool of {pool_size}, {} s, {group} fresh users each",
        args.connections, args.duration
    );
    let users = Arc::new(users);
    let worker = |i: usize, clock: Clock| {
        let (friends, users) = (friends.clone(), users.clone());
        async move {
            let mine = &users[i * group..(i + 1) * group];
            let mut tally = Tally::default();
            let add = |me: UserId, other: UserId| {
                let friends = friends.clone();
                async move {
                    let targets = Targets {
                        ids: vec![other],
                        ..Targets::default()
                    };
                    friends.add_friends(me, &targets, None).await
                }
            };
            let pairs = (0..group).flat_map(|a| (a + 1..group).map(move |b| (a, b)));
            for (a, b) in pairs {
                if !clock.running() {
                    return tally;
                }
                let asked = tally.time(add(mine[a], mine[b])).await;
                clock.tick();
                if asked.is_none() {
                    continue;
                }
                let accepted = tally.time(add(mine[b], mine[a])).await;
                clock.tick();
                let friends = accepted
                    .is_some_and(|views| views.iter().all(|v| v.state == FriendState::Friend));
                tally.units += u64::from(friends);
            }
            tally.errors.add("a task ran out of fresh pairs");
            tally
        }
    };
    let measured = run
        .measure(args.connections, 0, args.duration, worker)
        .await;
    let mut extra = serde_json::Map::new();
    extra.insert("pool_size".to_owned(), json!(pool_size));
    run.finish(&args, measured, extra, None, 0).await
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// One pgbench script per user: the friends page's two statements with that user's values.
async fn write_pgbench_scripts(
    db: &Database,
    users: &[Uuid],
    dir: &Path,
    args: &BaselineArgs,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    for (i, &me) in users.iter().enumerate() {
        let (_, friends) = friends_page(db, me).await?;
        let now = Utc::now().timestamp_micros();
        let page = literal(
            &reads::friend_page_sql(0, false),
            &[format!("'{me}'"), now.to_string(), PAGE_ROWS.to_string()],
        );
        let mut script = format!("{page};\n");
        // The server asks about presence only when the page has friends.
        if !friends.is_empty() {
            let mut values = vec![(now - liveness().num_microseconds().unwrap_or(0)).to_string()];
            values.extend(friends.iter().map(|id| format!("'{id}'")));
            let live = literal(&reads::live_users_sql(friends.len()), &values);
            script.push_str(&format!("{live};\n"));
        }
        let path = dir.join(format!("friends-{i}.sql"));
        std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
    }
    let scripts: Vec<String> = files
        .iter()
        .map(|f| format!("-f {}", f.display()))
        .collect();
    println!(
        "pgbench scripts written; run them with:\n  pgbench -n -M prepared -c {} -j 2 -T {} {} '{}'",
        args.connections,
        args.duration,
        scripts.join(" "),
        args.database_url
    );
    Ok(())
}

/// `sql` with its `?` placeholders replaced, in order, by `values` (already SQL literals).
fn literal(sql: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(sql.len() + values.len() * 40);
    let mut values = values.iter();
    for c in sql.chars() {
        match (c, c == '?') {
            (_, true) => out.push_str(values.next().map_or("NULL", String::as_str)),
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_literals_in_order() {
        assert_eq!(
            literal(
                "SELECT 1 WHERE a = ? AND b IN (?,?)",
                &["'x'".into(), "1".into(), "2".into()]
            ),
            "SELECT 1 WHERE a = 'x' AND b IN (1,2)"
        );
    }
}
