//! Wiring the adapters into the services, and serving until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use amity_domain::ports::Store;
use amity_domain::time::SystemClock;
use amity_graphql::Services;
use amity_graphql::auth::passwords::Argon2Hasher;
use amity_graphql::auth::tokens::TokenService;
use amity_graphql::cursor::CursorCodec;
use amity_persistence::{Database, SqlStore};
use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::Settings;

/// Connects to the configured database and applies pending migrations.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = Database::connect(&settings.database_url)
        .await
        .with_context(|| format!("opening {}", redact(&settings.database_url)))?;
    db.migrate_up(None)
        .await
        .context("migrating the database")?;
    Ok(db)
}

/// The services on an open database.
pub fn services(settings: &Settings, db: Database) -> anyhow::Result<Services> {
    let secret = settings.resolve_secret()?;
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(db));
    let hasher =
        Arc::new(Argon2Hasher::new(settings.hash_cost()).map_err(|e| anyhow::anyhow!("{e}"))?);
    Ok(Services::new(
        store,
        hasher,
        Arc::new(SystemClock),
        settings.limits(),
        TokenService::new(&secret, settings.token_ttl()),
        CursorCodec::new(&secret),
    ))
}

/// The HTTP application for these settings: database opened and migrated, services wired.
pub async fn build_router(settings: &Settings) -> anyhow::Result<(axum::Router, Database)> {
    let db = open_database(settings).await?;
    let services = services(settings, db.clone())?;
    let schema = amity_graphql::build_schema(services.clone());
    Ok((amity_graphql::router(schema, services), db))
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}

/// A server running in the background (tests, embedding).
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    db: Database,
}

impl RunningServer {
    /// Starts a server with these settings (use port 0 for a free port).
    pub async fn start(settings: &Settings) -> anyhow::Result<Self> {
        let (router, db) = build_router(settings).await?;
        let listener = TcpListener::bind(settings.listen_addr)
            .await
            .with_context(|| format!("binding {}", settings.listen_addr))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, async {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
            db,
        })
    }

    /// `http://ADDR/graphql`.
    pub fn graphql_url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    /// Stops accepting, waits for requests in flight, and closes the database.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.context("server task")??;
        }
        self.db.clone().close().await;
        Ok(())
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Hides a password in a database URL for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://amity.db"), "sqlite://amity.db");
    }
}
