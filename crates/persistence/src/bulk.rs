//! Bulk loading of generated data sets (benchmarks): users and friendships written straight
//! into the tables in one transaction, much faster than the services.
//!
//! How it is fast: the secondary indexes of `friend_edges` are dropped inside the transaction
//! and rebuilt from their own stored definitions once the rows are in (one sort instead of
//! millions of index inserts); foreign keys are not checked row by row (every id is checked
//! here against the users being loaded instead); edges are written in primary-key order. On
//! PostgreSQL rows go through `COPY ... FROM STDIN`, the primary key and foreign keys are
//! dropped and added back (each one pass over the table), and the tables are vacuumed and
//! analyzed afterwards, so the planner has statistics and index-only scans work at once. On
//! SQLite rows go through multi-row INSERTs on a connection of its own with a large page cache
//! and the rollback journal in memory.
//!
//! Nothing is written if anything fails: DDL is transactional on both backends.

use std::str::FromStr;

use sea_orm::DbErr;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous,
};
use sea_orm::sqlx::{self, AssertSqlSafe, Connection, Executor};
use uuid::Uuid;

use crate::{Backend, Database, PersistenceError};

/// Rows per INSERT statement on SQLite (3 or 6 bound values each, under SQLite's limit of
/// 32,766).
const USERS_PER_STATEMENT: usize = 2000;
const EDGES_PER_STATEMENT: usize = 8000;
/// Rows of COPY data sent to PostgreSQL at a time (about 1 MiB of edges), and the buffer
/// reserved for them.
const COPY_ROWS_PER_CHUNK: usize = 12_000;
const COPY_CHUNK: usize = 1 << 20;

/// A user to load.
#[derive(Debug, Clone)]
pub struct BulkUser {
    /// Its id (UUID v7).
    pub id: Uuid,
    /// Its handle (unique case-insensitively; not checked here).
    pub handle: String,
    /// Creation time, microseconds since the epoch.
    pub created_at: i64,
}

/// A friendship to load: both directed FRIEND edges between `users[a]` and `users[b]`.
#[derive(Debug, Clone, Copy)]
pub struct BulkFriendship {
    /// Index of one user.
    pub a: u32,
    /// Index of the other.
    pub b: u32,
    /// When it was made, microseconds since the epoch.
    pub at: i64,
}

/// What a load reports as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkProgress {
    /// This many rows (users, then edge rows) are written.
    Rows(u64),
    /// All rows are written; the indexes are being rebuilt.
    Indexing,
    /// The transaction is committed; the tables are being vacuumed and analyzed
    /// (PostgreSQL).
    Analyzing,
}

/// Inserts `users` (all with `password_hash`, role `user`) and `friendships` in one
/// transaction into the database at `url` (`sqlite://PATH` or `postgres://...`), which must
/// be migrated already; `progress` is told how far it got. Nothing is written if anything
/// fails, including a friendship that names a user beyond `users` (checked before anything is
/// written). Nothing else may use the database meanwhile: on SQLite the load needs the file
/// to itself (it refuses to start while another connection, such as a running server, has it
/// open), on PostgreSQL it holds an exclusive lock on `friend_edges` throughout.
pub async fn load(
    url: &str,
    users: &[BulkUser],
    password_hash: &str,
    friendships: &[BulkFriendship],
    progress: &mut (dyn FnMut(BulkProgress) + Send),
) -> Result<(), PersistenceError> {
    let edges = directed_edges(users, friendships)?;
    match Database::backend_of(url)? {
        Backend::Sqlite => load_sqlite(url, users, password_hash, &edges, progress).await,
        Backend::Postgres => load_postgres(url, users, password_hash, &edges, progress).await,
    }
}

/// Both directions of every friendship as (owner id, friend id, time), in primary-key order.
fn directed_edges(
    users: &[BulkUser],
    friendships: &[BulkFriendship],
) -> Result<Vec<(Uuid, Uuid, i64)>, PersistenceError> {
    let id = |n: u32| users.get(n as usize).map(|u| u.id);
    let mut edges = Vec::with_capacity(friendships.len() * 2);
    for f in friendships {
        let (Some(a), Some(b)) = (id(f.a), id(f.b)) else {
            return Err(PersistenceError::Invalid(format!(
                "friendship between users {} and {}, beyond the {} users",
                f.a,
                f.b,
                users.len()
            )));
        };
        if a == b {
            return Err(PersistenceError::Invalid(format!(
                "user {} cannot be their own friend",
                f.a
            )));
        }
        edges.push((a, b, f.at));
        edges.push((b, a, f.at));
    }
    edges.sort_unstable_by_key(|&(a, b, _)| (a, b));
    if let Some(pair) = edges
        .windows(2)
        .find(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1))
    {
        return Err(PersistenceError::Invalid(format!(
            "the friendship between {} and {} is given twice",
            pair[0].0, pair[0].1
        )));
    }
    Ok(edges)
}

fn sql_err(e: sqlx::Error) -> PersistenceError {
    PersistenceError::Database(DbErr::Custom(e.to_string()))
}

async fn load_sqlite(
    url: &str,
    users: &[BulkUser],
    password_hash: &str,
    edges: &[(Uuid, Uuid, i64)],
    progress: &mut (dyn FnMut(BulkProgress) + Send),
) -> Result<(), PersistenceError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| PersistenceError::Connect(DbErr::Custom(e.to_string())))?
        .create_if_missing(false)
        // The rollback journal in memory instead of the write-ahead log for this load: every
        // page is then written once, not to the log and then again to the file. A failed load
        // still rolls back; only a crash in the middle could damage the file (benchmark data
        // only). SQLite refuses to leave WAL while another connection has the file open.
        .journal_mode(SqliteJournalMode::Memory)
        .synchronous(SqliteSynchronous::Off)
        // Every id is checked against `users` before anything is written.
        .foreign_keys(false)
        // A large page cache: the table and its primary key stay in memory while they grow,
        // and the rebuilt index sorts in memory (SQLite's default is 2 MiB).
        .pragma("cache_size", "-2097152")
        // Two threads for sorting the rebuilt index (about a fifth faster on two cores).
        .pragma("threads", "2");
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| {
            PersistenceError::Connect(DbErr::Custom(format!(
                "{e} (is a server or another program using the database? stop it first)"
            )))
        })?;
    let result = async {
        let mut tx = Connection::begin(&mut conn).await.map_err(sql_err)?;
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sql FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = 'friend_edges' AND sql IS NOT NULL",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(sql_err)?;
        for (name, _) in &indexes {
            tx.execute(AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                .await
                .map_err(sql_err)?;
        }
        let mut written = 0u64;
        for chunk in users.chunks(USERS_PER_STATEMENT) {
            let sql = multi_row_insert(
                "INSERT INTO users (id, handle, handle_key, role, password_hash, created_at) \
                 VALUES ",
                "(?,?,?,'user',?,?)",
                chunk.len(),
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for user in chunk {
                query = query
                    .bind(user.id)
                    .bind(user.handle.as_str())
                    .bind(user.handle.to_lowercase())
                    .bind(password_hash)
                    .bind(user.created_at);
            }
            query.execute(&mut *tx).await.map_err(sql_err)?;
            written += chunk.len() as u64;
            progress(BulkProgress::Rows(written));
        }
        for chunk in edges.chunks(EDGES_PER_STATEMENT) {
            let sql = multi_row_insert(
                "INSERT INTO friend_edges (user_id, friend_id, state, updated_at) VALUES ",
                "(?,?,0,?)",
                chunk.len(),
            );
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for &(a, b, at) in chunk {
                query = query.bind(a).bind(b).bind(at);
            }
            query.execute(&mut *tx).await.map_err(sql_err)?;
            written += chunk.len() as u64;
            progress(BulkProgress::Rows(written));
        }
        progress(BulkProgress::Indexing);
        for (_, sql) in &indexes {
            tx.execute(AssertSqlSafe(sql.as_str()))
                .await
                .map_err(sql_err)?;
        }
        tx.commit().await.map_err(sql_err)
    }
    .await;
    // Back to the write-ahead log the server uses (it would switch back itself, too).
    let restored = conn.execute("PRAGMA journal_mode = WAL").await;
    let closed = conn.close().await;
    result?;
    restored.map_err(sql_err)?;
    closed.map_err(sql_err)?;
    Ok(())
}

async fn load_postgres(
    url: &str,
    users: &[BulkUser],
    password_hash: &str,
    edges: &[(Uuid, Uuid, i64)],
    progress: &mut (dyn FnMut(BulkProgress) + Send),
) -> Result<(), PersistenceError> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| PersistenceError::Connect(DbErr::Custom(e.to_string())))?;
    let mut tx = Connection::begin(&mut conn).await.map_err(sql_err)?;
    // Memory for rebuilding the index in one sort; a lost commit is as good as a failed load.
    for setting in [
        "SET LOCAL maintenance_work_mem = '1GB'",
        "SET LOCAL synchronous_commit = off",
    ] {
        tx.execute(setting).await.map_err(sql_err)?;
    }
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indrelid = 'friend_edges'::regclass AND NOT i.indisprimary AND NOT i.indisunique",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(sql_err)?;
    // The foreign keys, then the primary key ('f' < 'p'): dropped in that order, added back
    // in the other. Adding the primary key back checks that no loaded edge repeats one that
    // was there before.
    let constraints: Vec<(String, String)> = sqlx::query_as(
        "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = 'friend_edges'::regclass AND contype IN ('f', 'p') ORDER BY contype",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(sql_err)?;
    for (name, _) in &indexes {
        tx.execute(AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
            .await
            .map_err(sql_err)?;
    }
    for (name, _) in &constraints {
        tx.execute(AssertSqlSafe(format!(
            "ALTER TABLE friend_edges DROP CONSTRAINT \"{name}\""
        )))
        .await
        .map_err(sql_err)?;
    }

    use std::fmt::Write;
    let hash = copy_text(password_hash);
    let written = copy_rows(
        &mut tx,
        "COPY users (id, handle, handle_key, role, password_hash, created_at) FROM STDIN",
        users,
        0,
        progress,
        |buf, user| {
            let _ = writeln!(
                buf,
                "{}\t{}\t{}\tuser\t{hash}\t{}",
                user.id,
                copy_text(&user.handle),
                copy_text(&user.handle.to_lowercase()),
                user.created_at
            );
        },
    )
    .await?;
    copy_rows(
        &mut tx,
        "COPY friend_edges (user_id, friend_id, state, updated_at) FROM STDIN",
        edges,
        written,
        progress,
        |buf, (a, b, at)| {
            let _ = writeln!(buf, "{a}\t{b}\t0\t{at}");
        },
    )
    .await?;

    progress(BulkProgress::Indexing);
    for (_, definition) in &indexes {
        tx.execute(AssertSqlSafe(definition.as_str()))
            .await
            .map_err(sql_err)?;
    }
    for (name, definition) in constraints.iter().rev() {
        tx.execute(AssertSqlSafe(format!(
            "ALTER TABLE friend_edges ADD CONSTRAINT \"{name}\" {definition}"
        )))
        .await
        .map_err(sql_err)?;
    }
    tx.commit().await.map_err(sql_err)?;
    progress(BulkProgress::Analyzing);
    // Outside the transaction: statistics for the planner, and the visibility map that lets
    // the friend-listing index answer without visiting the table.
    conn.execute("VACUUM (ANALYZE) users, friend_edges")
        .await
        .map_err(sql_err)?;
    conn.close().await.map_err(sql_err)?;
    Ok(())
}

/// Streams `rows` through `statement` (a `COPY ... FROM STDIN` in text format), each written
/// as one line by `line`, a chunk at a time; progress counts on from `before`. Returns the
/// count after the last row.
async fn copy_rows<T>(
    conn: &mut PgConnection,
    statement: &'static str,
    rows: &[T],
    before: u64,
    progress: &mut (dyn FnMut(BulkProgress) + Send),
    mut line: impl FnMut(&mut String, &T),
) -> Result<u64, PersistenceError> {
    let mut copy = conn.copy_in_raw(statement).await.map_err(sql_err)?;
    let mut buf = String::with_capacity(COPY_CHUNK + 1024);
    let mut written = before;
    for chunk in rows.chunks(COPY_ROWS_PER_CHUNK) {
        for row in chunk {
            line(&mut buf, row);
        }
        copy.send(buf.as_bytes()).await.map_err(sql_err)?;
        buf.clear();
        written += chunk.len() as u64;
        progress(BulkProgress::Rows(written));
    }
    copy.finish().await.map_err(sql_err)?;
    Ok(written)
}

/// `head` followed by `rows` copies of `row`, comma-separated.
fn multi_row_insert(head: &str, row: &str, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * (row.len() + 1));
    sql.push_str(head);
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(row);
    }
    sql
}

/// A value for PostgreSQL's COPY text format: backslash, tab, newline and carriage return
/// escaped.
fn copy_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u128) -> BulkUser {
        BulkUser {
            id: Uuid::from_u128(n),
            handle: format!("u{n}"),
            created_at: 0,
        }
    }

    #[test]
    fn edges_go_both_ways_in_key_order_and_bad_input_is_refused() {
        let users = [user(3), user(1), user(2)];
        let f = |a, b| BulkFriendship { a, b, at: 7 };
        let edges = directed_edges(&users, &[f(0, 1), f(2, 1)]).unwrap();
        let pairs: Vec<(u128, u128)> = edges
            .iter()
            .map(|(a, b, _)| (a.as_u128(), b.as_u128()))
            .collect();
        assert_eq!(pairs, [(1, 2), (1, 3), (2, 1), (3, 1)]);
        assert!(directed_edges(&users, &[f(0, 3)]).is_err());
        assert!(directed_edges(&users, &[f(1, 1)]).is_err());
        assert!(directed_edges(&users, &[f(0, 1), f(1, 0)]).is_err());
    }

    #[test]
    fn copy_text_escapes_what_the_format_needs() {
        assert_eq!(copy_text("a\tb\\c\nd\re"), "a\\tb\\\\c\\nd\\re");
        assert_eq!(copy_text("$argon2id$v=19$m=1024"), "$argon2id$v=19$m=1024");
    }

    #[test]
    fn multi_row_insert_repeats_the_row() {
        assert_eq!(multi_row_insert("V ", "(?)", 3), "V (?),(?),(?)");
    }
}
