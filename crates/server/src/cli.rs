//! The command line: `amity [serve]`, `amity migrate`, `amity users`, `amity export-schema`.

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use amity_domain::accounts::Role;
use amity_domain::friends::Targets;
use amity_domain::input::{DisplayName, Password};
use amity_domain::moderation::Actor;
use amity_domain::notifications::system::{SystemMessage, SystemNotifications};
use amity_domain::ports::{FriendStore, NotificationStore, UserStore};
use amity_domain::time::SystemClock;
use amity_domain::{DomainError, Handle};
use anyhow::{Context, bail};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::app;
use crate::config::{FlagOverrides, LogFormat, Settings};

const SETTINGS_HELP: &str = "\
Settings (flag > environment > amity.toml > default):
  AMITY_LISTEN_ADDR            address to listen on [default: 127.0.0.1:8080]; port 0 picks a free port
  AMITY_DATABASE_URL           sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://amity.db]
  AMITY_JWT_SECRET             token signing secret, >= 32 chars; generated beside a SQLite
                               database when unset, required with PostgreSQL
  AMITY_TOKEN_TTL_SECS         access token lifetime [default: 3600]
  AMITY_REFRESH_TOKEN_TTL_SECS session lifetime past its last refresh [default: 2592000]
  AMITY_MAX_SESSIONS_PER_USER  live sessions per user [default: 50]
  AMITY_MAX_FRIENDS            friends per user [default: 1000]
  AMITY_MAX_PENDING_INVITES    outgoing pending requests per user [default: 500]
  AMITY_MAX_BLOCKS             blocked users per user [default: 1000]
  AMITY_PASSWORD_HASH_MEMORY_KIB, AMITY_PASSWORD_HASH_ITERATIONS
                               argon2id cost [default: 19456, 2]
  AMITY_LOG                    log filter, e.g. info or amity=debug [default: info]
  AMITY_LOG_FORMAT             text or json (one object a line) [default: text]
  AMITY_INTROSPECTION          whether __schema and __type answer [default: true]
  AMITY_PRESENCE_HEARTBEAT_MS, AMITY_PRESENCE_TTL_MS, AMITY_PRESENCE_OFFLINE_GRACE_MS
                               presence timings [default: 5000, 15000, 1000]
  AMITY_WEBSOCKET_KEEPALIVE_MS, AMITY_WEBSOCKET_INIT_TIMEOUT_MS
                               websocket ping interval and init deadline [default: 15000, 10000]
  AMITY_FACEBOOK_GRAPH_URL     Facebook Graph API base [default: https://graph.facebook.com/v19.0]
  AMITY_STEAM_API_URL          Steam Web API base [default: https://api.steampowered.com]
  AMITY_STEAM_PUBLISHER_KEY, AMITY_STEAM_APP_ID
                               Steam publisher key and app id (Steam sign-in is off without them)
  AMITY_IMPORT_TIMEOUT_MS      timeout of each Facebook or Steam request [default: 10000]
  AMITY_DATABASE_POOL_SIZE     connections in the database pool [default: 8 SQLite, 16 PostgreSQL]
  AMITY_DATABASE_ACQUIRE_TIMEOUT_MS
                               wait for a database connection before UNAVAILABLE [default: 3000]
  AMITY_REQUEST_TIMEOUT_MS     requests running longer are cancelled [default: 10000]
  AMITY_RATE_AUTH_PER_ADDRESS  sign-in/sign-up attempts per client address a minute [default: 30]
  AMITY_RATE_SIGNIN_FAILURES_PER_HANDLE
                               failed sign-ins per handle and address per 15 min [default: 10]
  AMITY_RATE_MUTATIONS_PER_USER
                               mutations per user a second [default: 50]; 0 turns a rate off
  AMITY_TRUSTED_PROXIES        proxies whose X-Forwarded-For is believed (IPs, CIDRs) [default: none]
  AMITY_CORS_ALLOWED_ORIGINS   web origins allowed to call from a browser, or * [default: none]
  AMITY_MAX_CONNECTIONS        open HTTP and websocket connections [default: 10000]
  AMITY_HTTP_HEADER_TIMEOUT_MS, AMITY_HTTP_IDLE_TIMEOUT_MS
                               header deadline and idle connection timeout [default: 10000, 60000]
  AMITY_WEBSOCKET_MAX_SUBSCRIPTIONS, AMITY_MAX_CONNECTIONS_PER_USER
                               subscriptions per websocket, websockets per user [default: 20, 10]
  AMITY_SHUTDOWN_GRACE_MS      after SIGTERM, exit anyway after this long [default: 10000]
SECURITY.md has every limit. Each is also a key of amity.toml in lower case without the prefix (listen_addr = \"...\").
An unknown AMITY_* variable or amity.toml key stops the start (AMITY_TEST_* and AMITY_CI_* are left to the test suite).";

/// Amity: a social-graph server for games and apps (friends, requests, blocks, notifications),
/// behind one GraphQL API.
#[derive(Debug, Parser)]
#[command(name = "amity", version, after_help = SETTINGS_HELP)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct GlobalArgs {
    /// Configuration file [default: amity.toml, if present].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on (AMITY_LISTEN_ADDR).
    #[arg(long, global = true, value_name = "ADDR")]
    listen_addr: Option<String>,
    /// Database URL (AMITY_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Token signing secret (AMITY_JWT_SECRET); prefer the environment variable.
    #[arg(long, global = true, value_name = "SECRET", hide = true)]
    jwt_secret: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Manage users.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Send a SYSTEM notification to the listed users, or with --all to every user (a
    /// background job in batches: a running server delivers it live, else this command
    /// delivers it; an interrupted job resumes, never delivering twice).
    Notify {
        /// The subject (1-200 characters).
        #[arg(long)]
        subject: String,
        /// The content, a JSON object.
        #[arg(long)]
        content: Option<String>,
        /// Every user.
        #[arg(long, conflicts_with = "handles")]
        all: bool,
        /// The recipients' handles (all or none receive it).
        #[arg(required_unless_present = "all")]
        handles: Vec<String>,
    },
    /// Print the GraphQL schema (SDL).
    ExportSchema {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// Apply pending migrations.
    Up {
        /// Apply at most this many.
        #[arg(long)]
        steps: Option<u32>,
    },
    /// Revert applied migrations.
    Down {
        /// Revert this many.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
enum UsersAction {
    /// Create a user; the password is read from standard input.
    Create {
        /// The handle (3-32 of A-Z a-z 0-9 _ . -).
        #[arg(long)]
        handle: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// user, moderator or admin.
        #[arg(long, default_value = "user")]
        role: String,
        /// Optional display name.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Set a user's role: user, moderator or admin.
    SetRole {
        /// The user's handle.
        handle: String,
        /// user, moderator or admin.
        role: String,
    },
    /// Ban users: they cannot sign in, their sessions end at once on every node (also after an
    /// unban), and others no longer see them; their friendships are kept.
    Ban {
        /// The handles (all or none are banned).
        #[arg(required = true)]
        handles: Vec<String>,
        /// Why (kept in the moderation log and shown to moderators).
        #[arg(long)]
        reason: Option<String>,
        /// When the ban ends by itself (RFC 3339, e.g. 2026-12-31T00:00:00Z); permanent
        /// without it.
        #[arg(long)]
        until: Option<String>,
    },
    /// Lift bans; friendships come back unchanged.
    Unban {
        /// The handles (all or none are unbanned).
        #[arg(required = true)]
        handles: Vec<String>,
    },
    /// Delete an account at once: its friendships and other edges, linked networks, sessions,
    /// notifications and direct messages; its handle is free again (the row stays as a
    /// tombstone for the moderation log).
    Delete {
        /// The user's handle.
        handle: String,
    },
    /// Show a user: id, role, ban, friend counts.
    Show {
        /// The user's handle.
        handle: String,
    },
}

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        listen_addr: cli.global.listen_addr.clone(),
        database_url: cli.global.database_url.clone(),
        jwt_secret: cli.global.jwt_secret.clone(),
    };
    if let Some(Command::ExportSchema { output }) = &cli.command {
        let sdl = amity_graphql::export_sdl();
        return match output {
            Some(path) => {
                std::fs::write(path, sdl).with_context(|| format!("writing {}", path.display()))
            }
            None => {
                print!("{sdl}");
                Ok(())
            }
        };
    }
    let settings = Settings::load(cli.global.config.as_deref(), &flags)?;
    let command = cli.command.unwrap_or(Command::Serve);
    // Held until the command returns, so that every line queued is written.
    let _log_writer = if matches!(command, Command::Users { .. } | Command::Notify { .. }) {
        // An operator's one-shot command: its own output, without the migrator's progress.
        init_logging(
            &format!("{},sea_orm_migration=warn", settings.log),
            settings.log_format,
        )
    } else {
        init_logging(&settings.log, settings.log_format)
    };
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate { action } => migrate(settings, action).await,
        Command::Users { action } => users(settings, action).await,
        Command::Notify {
            subject,
            content,
            all,
            handles,
        } => notify(settings, subject, content, all, handles).await,
        Command::ExportSchema { .. } => Ok(()),
    }
}

/// Logs to standard error, filtered by `filter` (already checked with the settings). Lines are
/// handed to a writer thread, so that a request never waits on the terminal or a log pipe (an
/// access line per request written in place cost a third of the friends page's throughput);
/// when that thread falls 128,000 lines behind, loggers wait rather than lines being lost.
/// The returned guard writes what is queued when dropped.
fn init_logging(filter: &str, format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("amity-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        // One object a line: the event's fields, its span's and their parents' (operation,
        // user id), ready for a log shipper.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
    };
    guard
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    raise_open_file_limit(u64::from(settings.max_connections));
    // The port first: a start that cannot serve stops before it touches the database.
    let listener = tokio::net::TcpListener::bind(settings.listen_addr)
        .await
        .with_context(|| format!("binding {}", settings.listen_addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(database = %app::redact(&settings.database_url), "opening the database");
    let app = app::App::start(&settings, Arc::new(SystemClock)).await?;
    let signal = app::ShutdownSignal::install(settings.shutdown_grace())
        .context("installing the SIGINT/SIGTERM handlers")?;
    tracing::info!(%addr, "Amity is listening: GraphQL on http://{addr}/graphql");
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        signal.recv().await;
        let _ = signalled_tx.send(());
    };
    let stopper = app.stopper();
    tokio::spawn(async move {
        if signalled_rx.await.is_ok() {
            // Close websockets at once: the HTTP server waits only for plain requests.
            stopper.stop_websockets();
        }
    });
    let edge = app.edge.settings().clone();
    app::serve(listener, app.router.clone(), &edge, shutdown).await?;
    app.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// File descriptors kept for the database pool, log files and the like besides connections.
const SPARE_FILES: u64 = 256;

/// Raises the soft open-file limit as far as the hard limit allows, so that the connection cap
/// is reached before the process runs out of descriptors; warns when it cannot be.
fn raise_open_file_limit(max_connections: u64) {
    let wanted = max_connections.saturating_add(SPARE_FILES);
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got < wanted => tracing::warn!(
            limit = got,
            max_connections,
            "the open-file limit is below AMITY_MAX_CONNECTIONS plus {SPARE_FILES}: past about \
             {} connections new ones will be refused by the system rather than wait",
            got.saturating_sub(SPARE_FILES)
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %amity_domain::error::chain(&e), "could not read or raise the open-file limit")
        }
    }
}

async fn migrate(settings: Settings, action: MigrateAction) -> anyhow::Result<()> {
    let db = amity_persistence::Database::connect(&settings.database_url).await?;
    match action {
        MigrateAction::Up { steps } => {
            db.migrate_up(steps).await?;
            println!("migrations applied");
        }
        MigrateAction::Down { steps } => {
            db.migrate_down(Some(steps)).await?;
            println!("reverted {steps} migration(s)");
        }
        MigrateAction::Status => {
            for m in db.migration_status().await? {
                println!(
                    "{} {}",
                    if m.applied { "applied" } else { "pending" },
                    m.name
                );
            }
        }
    }
    db.close().await;
    Ok(())
}

async fn users(settings: Settings, action: UsersAction) -> anyhow::Result<()> {
    let role_of = |text: &str| text.parse::<Role>().map_err(|e| anyhow::anyhow!("{e}"));
    // Check every argument (and read the password) before touching the database.
    let task = match action {
        UsersAction::Create {
            handle,
            password_stdin: _,
            role,
            display_name,
        } => {
            let role = role_of(&role)?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            if password.is_empty() {
                bail!("no password on standard input");
            }
            // The same rules the service applies, checked before the database is opened.
            Handle::parse("handle", &handle).map_err(|e| anyhow::anyhow!("{e}"))?;
            Password::parse(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            DisplayName::parse_optional(display_name.as_deref())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            UserTask::Create {
                handle,
                password,
                role,
                display_name,
            }
        }
        UsersAction::SetRole { handle, role } => {
            let role = role_of(&role)?;
            Handle::parse("handle", &handle).map_err(|e| anyhow::anyhow!("{e}"))?;
            UserTask::SetRole { handle, role }
        }
        UsersAction::Ban {
            handles,
            reason,
            until,
        } => {
            let targets = handle_targets(&handles)?;
            let until = until
                .map(|text| {
                    DateTime::parse_from_rfc3339(&text)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "--until {text}: not an RFC 3339 time ({e}); for example 2026-12-31T00:00:00Z"
                            )
                        })
                })
                .transpose()?;
            if until.is_some_and(|until| until <= Utc::now()) {
                bail!("--until must be in the future (leave it out for a permanent ban)");
            }
            UserTask::Ban {
                targets,
                reason,
                until,
            }
        }
        UsersAction::Unban { handles } => {
            let targets = handle_targets(&handles)?;
            UserTask::Unban { targets }
        }
        UsersAction::Show { handle } => {
            let handle = Handle::parse("handle", &handle).map_err(|e| anyhow::anyhow!("{e}"))?;
            UserTask::Show { handle }
        }
        UsersAction::Delete { handle } => {
            Handle::parse("handle", &handle).map_err(|e| anyhow::anyhow!("{e}"))?;
            UserTask::Delete { handle }
        }
    };
    let db = app::open_database(&settings).await?;
    let accounts = app::accounts(&settings, db.clone())?;
    let mut bus = app::NodeBus::open(&settings, &db, amity_domain::NodeId::new())?;
    bus.start();
    let moderation = app::moderation(db.clone(), &bus);
    let actor = Actor::CommandLine;
    let result = match task {
        UserTask::Create {
            handle,
            password,
            role,
            display_name,
        } => accounts
            .create_account(&handle, &password, display_name.as_deref(), role)
            .await
            .map(|user| {
                println!(
                    "created {} ({}) with role {}",
                    user.handle, user.id, user.role
                )
            }),
        UserTask::SetRole { handle, role } => moderation
            .set_role(&actor, &handle, role)
            .await
            .map(|user| println!("{} ({}) is now {}", user.handle, user.id, user.role)),
        UserTask::Ban {
            targets,
            reason,
            until,
        } => moderation
            .ban(&actor, &targets, reason.as_deref(), until)
            .await
            .map(|users| {
                let end = until.map_or_else(
                    || "permanently".to_owned(),
                    |t| format!("until {}", t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                );
                for user in users {
                    println!("banned {} ({}) {end}", user.handle, user.id);
                }
            }),
        UserTask::Unban { targets } => moderation.unban(&actor, &targets).await.map(|users| {
            for user in users {
                println!("unbanned {} ({})", user.handle, user.id);
            }
        }),
        UserTask::Show { handle } => show_user(&db, &handle).await,
        UserTask::Delete { handle } => {
            // Through a graph cache, so that the deletion is announced the way a server
            // announces it: every node's cache drops the user from their friends' lists.
            let (store, follower) = app::announcing_store(&db, &bus);
            let following = tokio::spawn(follower);
            let lifecycle = app::lifecycle(&settings, store, &bus)?;
            let result = lifecycle.delete_by_handle(&handle).await.map(|id| {
                println!("deleted {handle} ({id}); the handle is free again");
            });
            following.abort();
            result
        }
    };
    bus.flush().await;
    db.close().await;
    result.map_err(|e| anyhow::anyhow!("{e}"))
}

enum UserTask {
    Create {
        handle: String,
        password: String,
        role: Role,
        display_name: Option<String>,
    },
    SetRole {
        handle: String,
        role: Role,
    },
    Ban {
        targets: Targets,
        reason: Option<String>,
        until: Option<DateTime<Utc>>,
    },
    Unban {
        targets: Targets,
    },
    Show {
        handle: Handle,
    },
    Delete {
        handle: String,
    },
}

/// `amity notify`: checks everything before opening the database.
async fn notify(
    settings: Settings,
    subject: String,
    content: Option<String>,
    all: bool,
    handles: Vec<String>,
) -> anyhow::Result<()> {
    let content = content
        .map(|text| {
            serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| anyhow::anyhow!("--content is not JSON: {e}"))
        })
        .transpose()?;
    let message = SystemMessage::parse(&subject, content).map_err(|e| anyhow::anyhow!("{e}"))?;
    let targets = if all {
        None
    } else {
        Some(handle_targets(&handles)?)
    };
    let db = app::open_database(&settings).await?;
    let mut bus = app::NodeBus::open(&settings, &db, amity_domain::NodeId::new())?;
    bus.start();
    let system = SystemNotifications::new(
        Arc::new(amity_persistence::SqlStore::new(db.clone())),
        bus.bus.clone(),
        Arc::new(SystemClock),
        amity_domain::notifications::system::DEFAULT_BATCH,
    );
    let result = match targets {
        Some(targets) => system
            .send(&targets, &message)
            .await
            .map(|n| println!("sent to {n} user(s)"))
            .map_err(|e| anyhow::anyhow!("{e}")),
        None => notify_all(&db, &system, &message).await,
    };
    bus.flush().await;
    db.close().await;
    result
}

/// Records a job for everyone; a running server (which looks for jobs every second) delivers
/// it live and this command follows its progress; with none running, this command delivers it.
async fn notify_all(
    db: &amity_persistence::Database,
    system: &SystemNotifications,
    message: &SystemMessage,
) -> anyhow::Result<()> {
    let store = amity_persistence::SqlStore::new(db.clone());
    let (job, recipients) = system
        .send_to_all(message)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("job {} recorded for {recipients} user(s)", job.id);
    let started = std::time::Instant::now();
    let mut last = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let pending = store
            .unfinished_notification_jobs()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(now) = pending.iter().find(|j| j.id == job.id) else {
            println!("delivered to every user (by a running server)");
            return Ok(());
        };
        if now.delivered != last {
            last = now.delivered;
            eprintln!("{last} of about {recipients} delivered by a running server");
        } else if last == 0 && started.elapsed() > std::time::Duration::from_secs(3) {
            break;
        }
    }
    eprintln!("no running server took the job: delivering it from here");
    let stored = system
        .run_job(job.id, &|total| {
            eprintln!("{total} of about {recipients} delivered")
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("delivered {stored} notification(s)");
    Ok(())
}

/// The handles of a `users ban|unban` command, checked before the database is opened.
fn handle_targets(handles: &[String]) -> anyhow::Result<Targets> {
    let targets = Targets::parse(&[], handles).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(bad) = targets.malformed.first() {
        bail!(
            "\"{}\" is not a valid handle; nothing was changed",
            bad.target
        );
    }
    Ok(targets)
}

/// Prints what an operator wants to know about one user.
async fn show_user(db: &amity_persistence::Database, handle: &Handle) -> amity_domain::Result<()> {
    let store = amity_persistence::SqlStore::new(db.clone());
    let user = store
        .user_by_handle(handle)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("no user with handle \"{handle}\"")))?;
    // Every edge, banned users' included: this is the operator's view.
    let counts = store.friend_counts(user.id, None).await?;
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    println!("handle:       {}", user.handle);
    println!("id:           {}", user.id);
    println!("role:         {}", user.role);
    println!("created:      {}", time(user.created_at));
    println!(
        "last seen:    {}",
        user.last_seen_at.map_or_else(|| "never".to_owned(), time)
    );
    let ban = match &user.ban {
        None => "not banned".to_owned(),
        Some(ban) => {
            let state = if ban.is_active_at(Utc::now()) {
                "banned"
            } else {
                "ban over"
            };
            let reason = ban
                .reason
                .as_deref()
                .map(|r| format!(", reason: {r}"))
                .unwrap_or_default();
            format!(
                "{state} {} (since {}){reason}",
                ban.describe_end(),
                time(ban.since)
            )
        }
    };
    println!("ban:          {ban}");
    println!(
        "friends:      {} (requests sent {}, received {}; blocked {})",
        counts.friends, counts.invites_sent, counts.invites_received, counts.blocked
    );
    Ok(())
}
