//! Connecting to the database and migrating it.

use std::sync::Arc;
use std::time::Duration;

use amity_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgSslMode;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, TransactionTrait,
};
use tokio::sync::Mutex;

use crate::sql::{Param, statement};

/// Errors of connecting and migrating.
#[derive(Debug, thiserror::Error)]
pub enum PersistenceError {
    /// The URL names no supported database.
    #[error("unsupported database URL \"{0}\": use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// The database could not be reached or refused us.
    #[error("cannot connect to the database")]
    Connect(#[source] DbErr),
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {host}:{port}")]
    Unreachable {
        /// The host in the URL (or the socket directory).
        host: String,
        /// The port.
        port: u16,
        /// Why: connection refused, no such host, a timeout, bad credentials...
        #[source]
        cause: sea_orm::sqlx::Error,
    },
    /// A migration step failed.
    #[error("migration failed")]
    Migrate(#[source] DbErr),
    /// Any other database failure.
    #[error("database error")]
    Database(#[from] DbErr),
    /// The caller's data is inconsistent (bulk loads).
    #[error("invalid data: {0}")]
    Invalid(String),
}

/// Which database is behind a [`Database`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// One migration step and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The step's name.
    pub name: String,
    /// Whether it has been applied.
    pub applied: bool,
}

/// A connection pool plus what the adapters need to know about it.
#[derive(Clone, Debug)]
pub struct Database {
    pub(crate) conn: DatabaseConnection,
    pub(crate) backend: Backend,
    /// SQLite has one writer at a time; writers of this process queue here in order rather than
    /// spinning on SQLITE_BUSY.
    pub(crate) write_lock: Option<Arc<Mutex<()>>>,
    pool_size: u32,
}

/// Whether a PostgreSQL host is this machine: a loopback address, `localhost` or a Unix
/// socket directory.
/// How long the first connection to PostgreSQL may take before the start fails.
pub const CONNECT_PROBE_TIMEOUT: Duration = Duration::from_secs(4);

/// PostgreSQL's options: TLS off for a server on this machine unless the URL or `PGSSLMODE`
/// asks for it (it protects nothing there and cost about a tenth of the server's CPU under
/// load).
fn postgres_tls(
    options: sea_orm::sqlx::postgres::PgConnectOptions,
    tls_asked: bool,
) -> sea_orm::sqlx::postgres::PgConnectOptions {
    if !tls_asked && is_local_host(options.get_host()) {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    }
}

/// One connection to PostgreSQL before the pool is made, so that a server that cannot be
/// reached fails the start within [`CONNECT_PROBE_TIMEOUT`] with its host, port and the cause
/// (the pool would retry until its own timeouts and report only "pool timed out").
async fn probe_postgres(url: &str, tls_asked: bool) -> Result<(), PersistenceError> {
    use sea_orm::sqlx::Connection;
    use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
    let options: PgConnectOptions = url.parse().map_err(|e: sea_orm::sqlx::Error| {
        PersistenceError::UnsupportedUrl(format!("{}: {e}", redact(url)))
    })?;
    let options = postgres_tls(options, tls_asked);
    let unreachable = |cause| PersistenceError::Unreachable {
        host: options.get_host().to_owned(),
        port: options.get_port(),
        cause,
    };
    match tokio::time::timeout(CONNECT_PROBE_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(cause)) => Err(unreachable(cause)),
        Err(_) => Err(unreachable(sea_orm::sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} s", CONNECT_PROBE_TIMEOUT.as_secs()),
        )))),
    }
}

/// `url` with its password, if any, replaced by `***` (for logs and errors).
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod redact_tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://amity.db"), "sqlite://amity.db");
    }
}

fn is_local_host(host: &str) -> bool {
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// How the connection pool behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// At most this many connections (`None`: 8 on SQLite, 16 on PostgreSQL).
    pub size: Option<u32>,
    /// How long a statement waits for a connection (including opening one) before it fails
    /// as unavailable: while the database is down, requests fail after this instead of
    /// piling up.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            size: None,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

/// How long a statement waits for a pooled connection by default.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections in the pool on SQLite by default (readers; writers of this process queue on
/// one lock).
const SQLITE_POOL: u32 = 8;
/// Connections in the pool on PostgreSQL by default.
const POSTGRES_POOL: u32 = 16;

/// Arbitrary but fixed key of the PostgreSQL advisory lock that serializes migrations of nodes
/// starting together.
const MIGRATION_LOCK_KEY: i64 = 0x616d_6974_795f_6d67;

impl Database {
    /// Connects to `url`: `sqlite://PATH` (the file is created if missing) or
    /// `postgres://...`.
    pub async fn connect(url: &str) -> Result<Self, PersistenceError> {
        Self::connect_with_pool(url, None).await
    }

    /// Connects like [`Database::connect`], with at most `pool_size` connections (`None`: the
    /// default for the backend, 8 on SQLite and 16 on PostgreSQL).
    pub async fn connect_with_pool(
        url: &str,
        pool_size: Option<u32>,
    ) -> Result<Self, PersistenceError> {
        Self::connect_with(
            url,
            PoolSettings {
                size: pool_size,
                ..PoolSettings::default()
            },
        )
        .await
    }

    /// Connects like [`Database::connect`] with these pool settings.
    pub async fn connect_with(url: &str, pool: PoolSettings) -> Result<Self, PersistenceError> {
        let pool_size = pool.size;
        let backend = Self::backend_of(url)?;
        let pool_size = pool_size.unwrap_or(match backend {
            Backend::Sqlite => SQLITE_POOL,
            Backend::Postgres => POSTGRES_POOL,
        });
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(pool.acquire_timeout);
        match backend {
            Backend::Sqlite => {
                options
                    .max_connections(pool_size)
                    .min_connections(1)
                    .map_sqlx_sqlite_opts(|o| {
                        o.create_if_missing(true)
                            .journal_mode(SqliteJournalMode::Wal)
                            .synchronous(SqliteSynchronous::Normal)
                            .busy_timeout(Duration::from_secs(10))
                            .foreign_keys(true)
                            // sqlx hands rows from each connection's thread over a channel of
                            // this many; a friends page (101 rows) then never waits on the
                            // channel half-way (the default is 50).
                            .row_buffer_size(256)
                    });
            }
            Backend::Postgres => {
                let tls_asked = url.contains("sslmode=")
                    || url.contains("ssl-mode=")
                    || std::env::var_os("PGSSLMODE").is_some();
                probe_postgres(url, tls_asked).await?;
                options
                    .max_connections(pool_size)
                    .min_connections(1)
                    .map_sqlx_postgres_opts(move |o| postgres_tls(o, tls_asked));
            }
        }
        let conn = sea_orm::Database::connect(options)
            .await
            .map_err(PersistenceError::Connect)?;
        Ok(Self {
            conn,
            backend,
            write_lock: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            pool_size,
        })
    }

    /// Which database `url` names: `sqlite:...` or `postgres://` / `postgresql://`.
    pub fn backend_of(url: &str) -> Result<Backend, PersistenceError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(PersistenceError::UnsupportedUrl(url.to_owned()))
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The most connections the pool opens.
    pub fn pool_size(&self) -> u32 {
        self.pool_size
    }

    /// Connections of the pool now: `(in use, idle)`.
    pub fn pool_usage(&self) -> (u32, u32) {
        let (open, idle) = match self.backend {
            Backend::Postgres => {
                let pool = self.conn.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            Backend::Sqlite => {
                let pool = self.conn.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
        (open - idle, idle)
    }

    /// Whether the database answers (for readiness probes).
    pub async fn ping(&self) -> bool {
        self.conn.ping().await.is_ok()
    }

    /// Applies pending migrations (`steps`: at most that many). Nodes starting together on one
    /// PostgreSQL take turns.
    pub async fn migrate_up(&self, steps: Option<u32>) -> Result<(), PersistenceError> {
        let txn = self.conn.begin().await?;
        self.take_migration_lock(&txn).await?;
        Migrator::up(&txn, steps)
            .await
            .map_err(PersistenceError::Migrate)?;
        txn.commit().await?;
        Ok(())
    }

    /// Reverts the last `steps` migrations (all when `None`).
    pub async fn migrate_down(&self, steps: Option<u32>) -> Result<(), PersistenceError> {
        let txn = self.conn.begin().await?;
        self.take_migration_lock(&txn).await?;
        Migrator::down(&txn, steps)
            .await
            .map_err(PersistenceError::Migrate)?;
        txn.commit().await?;
        Ok(())
    }

    /// Every known step and whether it is applied.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, PersistenceError> {
        let applied: Vec<String> = Migrator::get_applied_migrations(&self.conn)
            .await?
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        Ok(Migrator::migrations()
            .iter()
            .map(|m| MigrationStatus {
                name: m.name().to_owned(),
                applied: applied.iter().any(|a| a == m.name()),
            })
            .collect())
    }

    /// Closes the pool.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }

    async fn take_migration_lock(&self, txn: &impl ConnectionTrait) -> Result<(), DbErr> {
        if self.backend == Backend::Postgres {
            txn.execute_raw(statement(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(?)",
                &[Param::BigInt(MIGRATION_LOCK_KEY)],
            ))
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_local_host;

    #[test]
    fn local_hosts_are_told_apart() {
        for host in [
            "127.0.0.1",
            "localhost",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(is_local_host(host), "{host}");
        }
        for host in ["db.example.com", "10.0.0.5", "192.168.1.2"] {
            assert!(!is_local_host(host), "{host}");
        }
    }
}
