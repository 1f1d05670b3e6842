//! "People you may know": one set-based query over the friend graph, and mutual friends.
//!
//! Both are plain SQL (the same text on SQLite and PostgreSQL but for the placeholders): a
//! two-hop join on the friend-listing index `(user_id, state, ...)`, grouped by candidate, so
//! the database does the walk in one statement whatever the degrees, never a query per friend.

use amity_domain::accounts::User;
use amity_domain::time::to_micros;
use amity_domain::{Result, UserId};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use uuid::Uuid;

use crate::convert::db_err;

/// Friends of `me`'s friends, each once with its mutual-friend count, best first.
const RECOMMENDATIONS: &str = "\
SELECT f2.friend_id AS candidate, COUNT(*) AS mutual, MAX(f2.updated_at) AS recent
FROM friend_edges f1
JOIN users m ON m.id = f1.friend_id
JOIN friend_edges f2 ON f2.user_id = f1.friend_id AND f2.state = 0
JOIN users c ON c.id = f2.friend_id
WHERE f1.user_id = ? AND f1.state = 0
  AND (m.banned_at IS NULL OR m.banned_until <= ?)
  AND f2.friend_id <> ?
  AND (c.banned_at IS NULL OR c.banned_until <= ?)
  AND NOT EXISTS (SELECT 1 FROM friend_edges e WHERE e.user_id = ? AND e.friend_id = f2.friend_id)
  AND NOT EXISTS (SELECT 1 FROM friend_edges b
                  WHERE b.user_id = f2.friend_id AND b.friend_id = ? AND b.state = 3)
  AND NOT EXISTS (SELECT 1 FROM dismissed_recommendations d
                  WHERE d.user_id = ? AND d.dismissed_id = f2.friend_id)
GROUP BY f2.friend_id
ORDER BY mutual DESC, recent DESC, candidate
LIMIT ?";

/// Friends of both `a` and `b`, most recent (on `a`'s side) first.
const MUTUAL: &str = "\
SELECT a.friend_id AS mutual_id
FROM friend_edges a
JOIN friend_edges b ON b.user_id = ? AND b.friend_id = a.friend_id AND b.state = 0
JOIN users m ON m.id = a.friend_id
WHERE a.user_id = ? AND a.state = 0
  AND (m.banned_at IS NULL OR m.banned_until <= ?)
ORDER BY a.updated_at DESC, a.friend_id";

/// The statement with `?` placeholders numbered for PostgreSQL.
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        let mut numbered = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                numbered.push_str(&format!("${n}"));
            } else {
                numbered.push(c);
            }
        }
        numbered
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

fn uuid(id: UserId) -> Value {
    Value::Uuid(Some(id.as_uuid()))
}

/// See [`amity_domain::ports::Store::friend_recommendations`].
pub(crate) async fn recommendations(
    conn: &impl ConnectionTrait,
    me: UserId,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Vec<(UserId, u32)>> {
    let now = Value::BigInt(Some(to_micros(now)));
    let values = vec![
        uuid(me),
        now.clone(),
        uuid(me),
        now,
        uuid(me),
        uuid(me),
        uuid(me),
        Value::BigInt(Some(i64::from(limit))),
    ];
    let rows = conn
        .query_all_raw(statement(
            conn.get_database_backend(),
            RECOMMENDATIONS,
            values,
        ))
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let candidate: Uuid = row.try_get("", "candidate").map_err(db_err)?;
            let mutual: i64 = row.try_get("", "mutual").map_err(db_err)?;
            Ok((
                UserId::from_uuid(candidate),
                u32::try_from(mutual).unwrap_or(u32::MAX),
            ))
        })
        .collect()
}

/// See [`amity_domain::ports::Store::mutual_friends`]; `load` turns ids into users.
pub(crate) async fn mutual_friend_ids(
    conn: &impl ConnectionTrait,
    a: UserId,
    b: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<UserId>> {
    let values = vec![uuid(b), uuid(a), Value::BigInt(Some(to_micros(now)))];
    let rows = conn
        .query_all_raw(statement(conn.get_database_backend(), MUTUAL, values))
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get("", "mutual_id").map_err(db_err)?;
            Ok(UserId::from_uuid(id))
        })
        .collect()
}

/// Orders `users` as `ids` are ordered.
pub(crate) fn in_order(ids: &[UserId], users: Vec<User>) -> Vec<User> {
    let mut by_id: std::collections::HashMap<UserId, User> =
        users.into_iter().map(|u| (u.id, u)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let pg = statement(DbBackend::Postgres, "a = ? AND b = ?", vec![]);
        assert_eq!(pg.sql, "a = $1 AND b = $2");
        let lite = statement(DbBackend::Sqlite, "a = ? AND b = ?", vec![]);
        assert_eq!(lite.sql, "a = ? AND b = ?");
    }
}
