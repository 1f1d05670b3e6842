//! Wiring the adapters into the services, and serving until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use amity_cache::CachedStore;
use amity_domain::NodeId;
use amity_domain::accounts::AccountService;
use amity_domain::accounts::lifecycle::AccountLifecycle;
use amity_domain::events::{EventBus, InProcessBus};
use amity_domain::moderation::ModerationService;
use amity_domain::ports::Store;
use amity_domain::presence::PresenceService;
use amity_domain::time::{Clock, SystemClock};
use amity_graphql::Services;
use amity_graphql::auth::tokens::TokenService;
use amity_graphql::cursor::CursorCodec;
use amity_graphql::edge::{Edge, EdgeSettings};
use amity_passwords::Argon2Hasher;
use amity_persistence::{Backend, Database, PgBusWorker, PgEventBus, SqlStore};
use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::config::Settings;
pub use amity_persistence::redact;

/// Connects to the configured database and applies pending migrations.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = Database::connect_with(&settings.database_url, settings.pool())
        .await
        .with_context(|| format!("opening {}", redact(&settings.database_url)))?;
    db.migrate_up(None)
        .await
        .context("migrating the database")?;
    Ok(db)
}

/// Account management on an open database (the command line's `users` commands).
pub fn accounts(settings: &Settings, db: Database) -> anyhow::Result<AccountService> {
    let hasher =
        Arc::new(Argon2Hasher::new(settings.hash_cost()).map_err(|e| anyhow::anyhow!("{e}"))?);
    Ok(AccountService::new(
        Arc::new(SqlStore::new(db)),
        hasher,
        Arc::new(SystemClock),
    ))
}

/// The store a one-shot command changes accounts through: a small graph cache over the
/// database, so that a change is announced on `bus` exactly as a server announces it (every
/// node's cache forgets what it touched). Run the returned future while the store is used.
pub fn announcing_store(
    db: &Database,
    bus: &NodeBus,
) -> (Arc<dyn Store>, impl Future<Output = ()> + Send + 'static) {
    let (cache, follower) = CachedStore::new(
        Arc::new(SqlStore::new(db.clone())),
        bus.bus.clone(),
        NodeId::new(),
        amity_cache::CacheSettings::megabytes(1),
    );
    (Arc::new(cache), follower)
}

/// The account lifecycle for the command line, on `store`.
pub fn lifecycle(
    settings: &Settings,
    store: Arc<dyn Store>,
    bus: &NodeBus,
) -> anyhow::Result<AccountLifecycle> {
    let hasher =
        Arc::new(Argon2Hasher::new(settings.hash_cost()).map_err(|e| anyhow::anyhow!("{e}"))?);
    Ok(AccountLifecycle::new(
        store,
        hasher,
        Arc::new(amity_passwords::Sha256Secrets),
        bus.bus.clone(),
        Arc::new(SystemClock),
    ))
}

/// How often a SQLite node looks for bans and role changes the command line made (a server on
/// PostgreSQL hears of them through the bus instead).
pub const MODERATION_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// A process's event bus. PostgreSQL: LISTEN/NOTIFY through a worker on dedicated connections,
/// reaching every node (and to be flushed before the process exits). SQLite: in process only;
/// running servers find the command line's changes by polling the moderation log.
pub struct NodeBus {
    /// Where to publish and subscribe.
    pub bus: Arc<dyn EventBus>,
    worker: Option<PgBusWorker>,
    task: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl NodeBus {
    /// The bus for `db`, as node `node`; call [`NodeBus::start`] once subscribers are in place.
    pub fn open(settings: &Settings, db: &Database, node: NodeId) -> anyhow::Result<Self> {
        let (bus, worker): (Arc<dyn EventBus>, _) = match db.backend() {
            Backend::Postgres => {
                let (bus, worker) = PgEventBus::new(&settings.database_url, node)?;
                (Arc::new(bus), Some(worker))
            }
            Backend::Sqlite => (Arc::new(InProcessBus::new()), None),
        };
        Ok(Self {
            bus,
            worker,
            task: None,
        })
    }

    /// Starts sending and receiving across nodes (nothing to do in process).
    pub fn start(&mut self) {
        if let Some(worker) = self.worker.take() {
            let (tx, rx) = oneshot::channel::<()>();
            let task = tokio::spawn(
                worker
                    .run(async {
                        let _ = rx.await;
                    })
                    .instrument(tracing::info_span!("bus")),
            );
            self.task = Some((tx, task));
        }
    }

    /// Whether events cross processes (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.worker.is_some() || self.task.is_some()
    }

    /// Sends what was published and closes the bus.
    pub async fn flush(self) {
        if let Some((tx, task)) = self.task {
            let _ = tx.send(());
            let _ = task.await;
        }
    }

    /// Drops the bus at once, as a crash would.
    pub fn abort(self) {
        if let Some((_, task)) = self.task {
            task.abort();
        }
    }
}

/// Moderation on an open database (the command line's ban, unban and set-role), publishing on
/// `bus`.
pub fn moderation(db: Database, bus: &NodeBus) -> ModerationService {
    ModerationService::new(
        Arc::new(SqlStore::new(db)),
        bus.bus.clone(),
        Arc::new(SystemClock),
    )
}

/// Everything a node runs besides the HTTP server: the event bus worker, the realtime hub and
/// presence bookkeeping.
pub struct App {
    /// The HTTP application.
    pub router: axum::Router,
    /// The database.
    pub db: Database,
    /// The services (for embedding and tests).
    pub services: Services,
    /// The public edge's limits and their state.
    pub edge: Arc<Edge>,
    stop_tx: Arc<watch::Sender<bool>>,
    presence_task: JoinHandle<()>,
    hub_task: JoinHandle<()>,
    /// Following access changes (and polling the log on SQLite), sweeping the rate limits.
    background_tasks: Vec<JoinHandle<()>>,
    bus: NodeBus,
    /// The graph cache, when it has memory.
    pub cache: Option<CachedStore>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Opens and migrates the database, wires the services, registers this node and starts its
    /// background work. `clock` is what every service and the token check read: the system's
    /// ([`SystemClock`]) in production; tests move a [`amity_domain::time::ManualClock`]
    /// instead of waiting.
    pub async fn start(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // Everything that can be refused without the database is checked before it is opened.
        let edge = Arc::new(Edge::new(settings.edge()?));
        let secret = settings.resolve_secret()?;
        let hasher =
            Arc::new(Argon2Hasher::new(settings.hash_cost()).map_err(|e| anyhow::anyhow!("{e}"))?);
        let networks = amity_importers::networks(&settings.importers())
            .context("configuring the Facebook and Steam clients")?;
        let db = open_database(settings).await?;
        let node = NodeId::new();

        // PostgreSQL: events cross nodes through LISTEN/NOTIFY. SQLite: one process, one bus.
        let mut node_bus = NodeBus::open(settings, &db, node)?;
        let bus = node_bus.bus.clone();
        // Every service reads and writes through the graph cache (when it has memory), so
        // that every write invalidates it in one place.
        let sql: Arc<dyn Store> = Arc::new(SqlStore::new(db.clone()));
        let mut background_tasks = Vec::new();
        let (store, cache): (Arc<dyn Store>, _) = if settings.cache().enabled() {
            let (cache, follower) = CachedStore::new(sql, bus.clone(), node, settings.cache());
            background_tasks.push(tokio::spawn(
                follower.instrument(tracing::info_span!("cache", %node)),
            ));
            (Arc::new(cache.clone()), Some(cache))
        } else {
            (sql, None)
        };
        let presence = PresenceService::new(
            store.clone(),
            bus.clone(),
            clock.clone(),
            node,
            settings.presence(),
        );
        presence
            .start()
            .await
            .context("registering this node for presence")?;
        let services = Services::new(
            store,
            bus.clone(),
            presence.clone(),
            hasher,
            clock.clone(),
            settings.limits(),
            TokenService::new(&secret, settings.token_ttl(), clock.clone()),
            CursorCodec::new(&secret),
            vec![networks.facebook, networks.steam],
            Arc::new(amity_passwords::Sha256Secrets),
            settings.sessions(),
        );

        let hub_task = tokio::spawn(
            services
                .hub
                .clone()
                .run(bus.subscribe())
                .instrument(tracing::info_span!("hub", %node)),
        );
        let (stop, stopped) = watch::channel(false);
        // Bans and role changes reach this node's cache and websockets through the bus; on
        // SQLite, changes the command line made arrive by polling the moderation log.
        background_tasks.extend([
            tokio::spawn(
                services
                    .access
                    .clone()
                    .follow(bus.subscribe())
                    .instrument(tracing::info_span!("access", %node)),
            ),
            tokio::spawn(sweep_rate_limits(edge.clone())),
            // System notifications to everyone: jobs recorded here or elsewhere (another node,
            // the command line), and those a restart interrupted.
            tokio::spawn(
                services
                    .system
                    .clone()
                    .follow(JOB_POLL, stopped.clone())
                    .instrument(tracing::info_span!("jobs", %node)),
            ),
        ]);
        if db.backend() == Backend::Sqlite {
            background_tasks.push(tokio::spawn(services.access.clone().poll_log(
                MODERATION_POLL,
                stopped.clone(),
                bus.clone(),
            )));
        }
        node_bus.start();
        let presence_task = {
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = presence
                    .run(shutdown)
                    .instrument(tracing::info_span!("presence", %node))
                    .await
                {
                    tracing::warn!(error = %amity_domain::error::chain(&e), "presence stopped with an error");
                }
            })
        };
        tracing::info!(
            %node,
            bus = if node_bus.is_shared() { "postgres" } else { "in-process" },
            cache_mb = settings.cache_memory_mb,
            "node started"
        );

        let schema =
            amity_graphql::build_schema(services.clone(), edge.clone(), settings.introspection);
        crate::metrics::install(stopped.clone());
        let router = amity_graphql::router(
            schema,
            services.clone(),
            edge.clone(),
            settings.websockets(),
            stopped,
        );
        let router = crate::metrics::route(router, db.clone());
        Ok(Self {
            router,
            db,
            services,
            edge,
            stop_tx: Arc::new(stop),
            presence_task,
            hub_task,
            background_tasks,
            bus: node_bus,
            cache,
        })
    }

    /// A handle that closes this node's websockets (the first step of stopping).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop_tx.clone())
    }

    /// Closes websockets, records this node's users offline (telling other nodes), flushes the
    /// event bus and closes the database.
    pub async fn stop(self) {
        let _ = self.stop_tx.send(true);
        let _ = self.presence_task.await;
        self.bus.flush().await;
        self.hub_task.abort();
        self.background_tasks.iter().for_each(JoinHandle::abort);
        self.db.close().await;
    }

    /// Stops like a crashed process would: background work ends, but nothing is recorded and
    /// the node's heartbeat simply stops (tests of dead-node recovery).
    pub async fn abandon(self) {
        self.presence_task.abort();
        self.hub_task.abort();
        self.background_tasks.iter().for_each(JoinHandle::abort);
        self.bus.abort();
        let _ = self.stop_tx.send(true);
    }
}

/// Closes a node's websockets from anywhere.
#[derive(Debug, Clone)]
pub struct Stopper(Arc<watch::Sender<bool>>);

impl Stopper {
    /// Closes every websocket of the node (with 1001, going away) and stops presence.
    pub fn stop_websockets(&self) {
        let _ = self.0.send(true);
    }
}

/// Serves `router` on `listener` with the edge's connection limits until `shutdown`
/// completes, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    edge: &EdgeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    amity_graphql::edge::listener::serve(listener, router, edge, shutdown)
        .await
        .context("serving HTTP")
}

/// How often the rate limits forget what no longer limits anyone.
/// How often a node looks for system-notification jobs it did not record itself.
const JOB_POLL: std::time::Duration = std::time::Duration::from_secs(1);
const RATE_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

async fn sweep_rate_limits(edge: Arc<Edge>) {
    let mut ticker = tokio::time::interval(RATE_SWEEP);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        edge.rates().sweep();
    }
}

/// A server running in the background (tests, embedding).
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    app: Option<AppHandle>,
}

/// What a running server keeps to stop its node.
#[derive(Debug)]
struct AppHandle {
    app: App,
}

impl RunningServer {
    /// Starts a server with these settings (use port 0 for a free port) on `clock` (see
    /// [`App::start`]).
    pub async fn start(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("binding {}", settings.listen_addr))?;
        let app = App::start(settings, clock).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let router = app.router.clone();
        let edge = app.edge.settings().clone();
        let task = tokio::spawn(async move {
            serve(listener, router, &edge, async {
                let _ = rx.await;
            })
            .await
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
            app: Some(AppHandle { app }),
        })
    }

    /// `http://ADDR/graphql`.
    pub fn graphql_url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// `ws://ADDR/graphql`.
    pub fn websocket_url(&self) -> String {
        format!("ws://{}/graphql", self.addr)
    }

    /// The services of this node.
    pub fn services(&self) -> Option<&Services> {
        self.app.as_ref().map(|a| &a.app.services)
    }

    /// The edge of this node (its limits and the state they keep).
    pub fn edge(&self) -> Option<&Arc<Edge>> {
        self.app.as_ref().map(|a| &a.app.edge)
    }

    /// The graph cache of this node, if it has one (tests compare it with the database).
    pub fn cache(&self) -> Option<&CachedStore> {
        self.app.as_ref().and_then(|a| a.app.cache.as_ref())
    }

    /// The node's database.
    pub fn database(&self) -> Option<&Database> {
        self.app.as_ref().map(|a| &a.app.db)
    }

    /// Stops accepting, closes websockets, records presence, waits for requests in flight,
    /// and closes the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let app = self.app.take();
        if let Some(handle) = &app {
            let _ = handle.app.stop_tx.send(true);
        }
        if let Some(task) = self.task.take() {
            task.await.context("server task")??;
        }
        if let Some(handle) = app {
            handle.app.stop().await;
        }
        Ok(())
    }

    /// Stops serving as if the process had died: no presence is recorded and the node's
    /// heartbeat stops, so other nodes must find out by themselves.
    pub async fn crash(mut self) {
        if let Some(handle) = self.app.take() {
            handle.app.abandon().await;
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = &self.app {
            let _ = handle.app.stop_tx.send(true);
        }
    }
}

/// SIGINT and SIGTERM handlers, installed when this is made: a signal that arrives before
/// anything waits for it is kept, never left to the default action (which would kill the process
/// without a graceful stop).
pub struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Installs the handlers (call it before telling anyone the server is up), and a watchdog
    /// that ends the process `grace` after the first signal whatever is still running (a
    /// request stuck on a database, workers busy): it runs on its own thread and runtime, so
    /// nothing in the server can hold it up.
    pub fn install(grace: std::time::Duration) -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            };
            let watchdog = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
            std::thread::Builder::new()
                .name("amity-shutdown-watchdog".into())
                .spawn(move || {
                    watchdog.block_on(async move {
                        let handlers = signal(SignalKind::interrupt())
                            .and_then(|i| Ok((i, signal(SignalKind::terminate())?)));
                        let (mut interrupt, mut terminate) = match handlers {
                            Ok(handlers) => {
                                let _ = ready_tx.send(Ok(()));
                                handlers
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                                return;
                            }
                        };
                        tokio::select! {
                            _ = interrupt.recv() => {},
                            _ = terminate.recv() => {},
                        }
                        tokio::time::sleep(grace).await;
                        eprintln!(
                            "amity: still busy {} ms after the stop signal; exiting now",
                            grace.as_millis()
                        );
                        std::process::exit(1);
                    });
                })?;
            ready_rx
                .recv()
                .map_err(|_| std::io::Error::other("the shutdown watchdog did not start"))??;
            Ok(signals)
        }
        #[cfg(not(unix))]
        {
            let _ = grace;
            Ok(Self {})
        }
    }

    /// Resolves when the process is asked to stop (SIGINT or SIGTERM).
    pub async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}
