//! Bulk loading of generated data sets (benchmarks): users and friendships written straight
//! into the tables in one transaction, with multi-row INSERTs, much faster than the services.

use sea_orm::{ConnectionTrait, TransactionTrait, Value};
use uuid::Uuid;

use crate::recommendations::statement;
use crate::{Database, PersistenceError};

/// Rows per INSERT statement (kept under SQLite's and PostgreSQL's bound-parameter limits).
const USERS_PER_STATEMENT: usize = 1000;
const EDGES_PER_STATEMENT: usize = 2000;

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

/// Inserts `users` (all with `password_hash`, role `user`) and `friendships` in one
/// transaction; `progress` is called with the number of rows written so far. Nothing is
/// written if anything fails.
pub async fn load(
    db: &Database,
    users: &[BulkUser],
    password_hash: &str,
    friendships: &[BulkFriendship],
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<(), PersistenceError> {
    let backend = db.conn.get_database_backend();
    let txn = db.conn.begin().await?;
    if backend == sea_orm::DbBackend::Sqlite {
        // A large page cache for this connection: the indexes of millions of rows stay in
        // memory while they are built (SQLite's default is 2 MiB).
        txn.execute_unprepared("PRAGMA cache_size = -1048576")
            .await?;
    }
    let mut written = 0u64;
    for chunk in users.chunks(USERS_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO users (id, handle, handle_key, role, password_hash, created_at) VALUES ",
        );
        let mut values = Vec::with_capacity(chunk.len() * 6);
        for (i, user) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 {
                "(?,?,?,?,?,?)"
            } else {
                ",(?,?,?,?,?,?)"
            });
            values.extend([
                Value::Uuid(Some(user.id)),
                Value::String(Some(user.handle.clone())),
                Value::String(Some(user.handle.to_lowercase())),
                Value::String(Some("user".to_owned())),
                Value::String(Some(password_hash.to_owned())),
                Value::BigInt(Some(user.created_at)),
            ]);
        }
        txn.execute_raw(statement(backend, &sql, values)).await?;
        written += chunk.len() as u64;
        progress(written);
    }
    // Both directions of every friendship, in primary-key order for locality.
    let mut edges: Vec<(u32, u32, i64)> = friendships
        .iter()
        .flat_map(|f| [(f.a, f.b, f.at), (f.b, f.a, f.at)])
        .collect();
    edges.sort_unstable_by_key(|&(a, b, _)| (a, b));
    for chunk in edges.chunks(EDGES_PER_STATEMENT) {
        let mut sql = String::from(
            "INSERT INTO friend_edges (user_id, friend_id, state, updated_at) VALUES ",
        );
        let mut values = Vec::with_capacity(chunk.len() * 4);
        for (i, &(a, b, at)) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(?,?,0,?)" } else { ",(?,?,0,?)" });
            let id = |n: u32| users.get(n as usize).map(|u| u.id);
            let (Some(a), Some(b)) = (id(a), id(b)) else {
                return Err(PersistenceError::Invalid(format!(
                    "friendship between users {a} and {b}, beyond the {} users",
                    users.len()
                )));
            };
            values.extend([
                Value::Uuid(Some(a)),
                Value::Uuid(Some(b)),
                Value::BigInt(Some(at)),
            ]);
        }
        txn.execute_raw(statement(backend, &sql, values)).await?;
        written += chunk.len() as u64;
        progress(written);
    }
    txn.commit().await?;
    Ok(())
}
