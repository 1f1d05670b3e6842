//! A fresh, migrated database per test.
//!
//! Without configuration, a SQLite file in a new temporary directory. With
//! `AMITY_TEST_DATABASE_URL=postgres://USER@HOST/DB`, a new database named `amity_test_<uuid>`
//! is created on that server (through the given database) and dropped when the value is dropped.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend};
use uuid::Uuid;

use crate::sql::{Param, statement};
use crate::{Database, PersistenceError};

/// The environment variable that selects PostgreSQL for tests.
pub const TEST_DATABASE_URL_VAR: &str = "AMITY_TEST_DATABASE_URL";

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Creates the database (not yet migrated).
    pub async fn create() -> Result<Self, PersistenceError> {
        match std::env::var(TEST_DATABASE_URL_VAR)
            .ok()
            .filter(|v| !v.is_empty())
        {
            None => {
                let dir = tempfile::tempdir()
                    .map_err(|e| PersistenceError::UnsupportedUrl(format!("tempdir: {e}")))?;
                let url = format!("sqlite://{}", dir.path().join("amity.db").display());
                Ok(Self {
                    url,
                    kind: Kind::Sqlite(dir),
                })
            }
            Some(admin_url) => {
                let name = format!("amity_test_{}", Uuid::now_v7().simple());
                let admin = Database::connect(&admin_url).await?;
                admin
                    .conn
                    .execute_raw(statement(
                        DbBackend::Postgres,
                        &format!("CREATE DATABASE {name}"),
                        &[],
                    ))
                    .await?;
                admin.close().await;
                let url = replace_database_name(&admin_url, &name);
                Ok(Self {
                    url,
                    kind: Kind::Postgres { admin_url, name },
                })
            }
        }
    }

    /// Creates the database, connects and migrates it.
    pub async fn migrated() -> Result<(Self, Database), PersistenceError> {
        let test_db = Self::create().await?;
        let db = Database::connect(test_db.url()).await?;
        db.migrate_up(None).await?;
        Ok((test_db, db))
    }

    /// The URL to connect to.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Terminates the PostgreSQL backends of `database_url`'s database whose `application_name`
/// is `application` (as an operator or a network failure would); returns how many. Tests of
/// reconnection use it.
pub async fn terminate_backends(
    database_url: &str,
    application: &str,
) -> Result<u64, PersistenceError> {
    let db = Database::connect(database_url).await?;
    let rows = db
        .conn
        .query_all_raw(statement(
            DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = ? AND datname = current_database()",
            &[Param::Text(application.to_owned())],
        ))
        .await?;
    db.close().await;
    Ok(rows.len() as u64)
}

/// Deletes a user's row (and what cascades from it) behind the server's back, as an operator
/// with a SQL prompt might; returns whether there was one. Tests of stale sessions use it.
pub async fn delete_user_row(database_url: &str, id: Uuid) -> Result<bool, PersistenceError> {
    use sea_orm::EntityTrait;
    let db = Database::connect(database_url).await?;
    let deleted = crate::entities::user::Entity::delete_by_id(id)
        .exec(&db.conn)
        .await?;
    db.close().await;
    Ok(deleted.rows_affected > 0)
}

/// Swaps the database name (the path) of a PostgreSQL URL, keeping any query string.
fn replace_database_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..host_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Kind::Postgres { admin_url, name } = &self.kind else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime; do the async work on a thread of its own.
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(admin) = Database::connect(&admin_url).await else {
                    return;
                };
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let stmt = statement(DbBackend::Postgres, &sql, &[]);
                let _ = tokio::time::timeout(Duration::from_secs(30), admin.conn.execute_raw(stmt))
                    .await;
                admin.close().await;
            });
        });
        let _ = dropper.join();
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database_name;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            replace_database_name("postgres://root@127.0.0.1:5432/test", "x"),
            "postgres://root@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database_name("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(replace_database_name("postgres://h", "x"), "postgres://h/x");
    }
}
