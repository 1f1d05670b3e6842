//! The hottest reads (a page of the friend list, and which of its users are online) as fixed
//! SQL run through sqlx directly, rows decoded by position into tuples and then named
//! (`rows.rs`).
//!
//! Why not through sea-orm like the rest: a page of 100 friends is 101 rows of 15 columns, and
//! sea-orm's model decoding looks every column up by a name it formats per row (and formats an
//! error message for every NULL it meets), which cost more than the query itself. The SQL is
//! public so that the benchmark tool's raw baseline runs exactly what the server runs.
//!
//! The statements of the recommendation walk are here too (re-exported from its module), for
//! the same reason, and so are the row types, [`Param`] and [`numbered`].
//!
//! Placeholders are written `?` (SQLite); [`numbered`] turns them into `$1, $2, ...` for
//! PostgreSQL, as it does for every raw statement of the crate (`sql.rs`).

use amity_domain::Result;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::{self, AssertSqlSafe, FromRow};
use uuid::Uuid;

pub use crate::recommendations::{
    MY_DEGREE, fan_out, mutual_of_candidates_sql, walk_depth, walk_sql,
};
pub use crate::rows::{EdgeRecord, FriendPageRow, UserRecord, UserRow};
pub use crate::sql::{Param, id_list, numbered};

use crate::convert::sqlx_err;
use crate::database::{Backend, Database};
use crate::rows::user_columns;
use crate::sql::{not_banned_at, push_placeholders};

/// The users whose ids are the `n` parameters, in no particular order.
pub fn users_by_ids_sql(n: usize) -> String {
    let mut sql = String::from(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users u WHERE u.id IN ("
    ));
    push_placeholders(&mut sql, n);
    sql.push(')');
    sql
}

/// A page of `owner`'s edges with the other users, best first. Parameters in order: the owner,
/// the time bans are judged at (a ban that ended by then hides nobody), then `states` state
/// ranks (when `states > 0`), then, when `after` is set, the position after which the page
/// starts (state rank twice, updated at twice, friend id), and last the row limit.
pub fn friend_page_sql(states: usize, after: bool) -> String {
    let mut sql = String::from(concat!(
        "SELECT ",
        user_columns!(),
        ", e.state, e.updated_at, e.metadata, e.source \
         FROM friend_edges e JOIN users u ON u.id = e.friend_id \
         WHERE e.user_id = ? AND ",
        not_banned_at!("u")
    ));
    if states > 0 {
        sql.push_str(" AND e.state IN (");
        push_placeholders(&mut sql, states);
        sql.push(')');
    }
    if after {
        sql.push_str(
            " AND (e.state > ? OR (e.state = ? AND (e.updated_at < ? \
             OR (e.updated_at = ? AND e.friend_id < ?))))",
        );
    }
    sql.push_str(" ORDER BY e.state, e.updated_at DESC, e.friend_id DESC LIMIT ?");
    sql
}

/// Which of `users` (one parameter each) hold a presence row on a node whose heartbeat is
/// after the first parameter.
pub fn live_users_sql(users: usize) -> String {
    let mut sql = String::from(
        "SELECT DISTINCT p.user_id FROM presence p JOIN nodes n ON n.id = p.node_id \
         WHERE n.heartbeat_at > ? AND p.user_id IN (",
    );
    push_placeholders(&mut sql, users);
    sql.push(')');
    sql
}

/// What a graph cache keeps of `owners` owners (their ids are the parameters, three times
/// over): each row is a kind (0: an edge of the owner's, 1: a user who blocked the owner, 2: a
/// user the owner dismissed), the owner, the other user, and for edges the state rank,
/// updated at, metadata and source. [`AdjacencyRow`] is its row.
pub fn adjacency_sql(owners: usize) -> String {
    let mut sql = String::from(
        "SELECT CAST(0 AS SMALLINT), e.user_id, e.friend_id, e.state, e.updated_at, e.metadata, \
         e.source FROM friend_edges e WHERE e.user_id IN (",
    );
    push_placeholders(&mut sql, owners);
    sql.push_str(
        ") UNION ALL SELECT CAST(1 AS SMALLINT), b.friend_id, b.user_id, b.state, b.updated_at, \
         NULL, NULL FROM friend_edges b WHERE b.state = 3 AND b.friend_id IN (",
    );
    push_placeholders(&mut sql, owners);
    sql.push_str(
        ") UNION ALL SELECT CAST(2 AS SMALLINT), d.user_id, d.dismissed_id, CAST(0 AS SMALLINT), \
         d.dismissed_at, NULL, NULL FROM dismissed_recommendations d WHERE d.user_id IN (",
    );
    push_placeholders(&mut sql, owners);
    sql.push(')');
    sql
}

/// A row of [`adjacency_sql`]: kind, owner, other, state rank, updated at, metadata, source.
pub type AdjacencyRow = (i16, Uuid, Uuid, i16, i64, Option<String>, Option<String>);

/// `query` with every parameter bound, in order.
macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                Param::Uuid(v) => query.bind(*v),
                Param::BigInt(v) => query.bind(*v),
                Param::SmallInt(v) => query.bind(*v),
                Param::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }};
}

/// Runs `sql` (with `?` placeholders) and `params` on `db`'s pool through sqlx, written and
/// numbered as every raw statement of the crate is (`sql.rs`), and decodes every row by
/// position as `T`: a tuple of the selected columns' types, such as [`UserRow`] or
/// [`FriendPageRow`] (which [`UserRecord`] and [`EdgeRecord`] name).
pub async fn fetch_all<T>(db: &Database, sql: &str, params: &[Param]) -> Result<Vec<T>>
where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    let rows = match db.backend {
        Backend::Sqlite => {
            // Built from this module's constants and `?` placeholders only; values are bound.
            bind_all!(sqlx::query_as::<_, T>(AssertSqlSafe(sql)), params)
                .fetch_all(db.conn.get_sqlite_connection_pool())
                .await
        }
        Backend::Postgres => {
            let sql = numbered(sql);
            bind_all!(sqlx::query_as::<_, T>(AssertSqlSafe(sql)), params)
                .fetch_all(db.conn.get_postgres_connection_pool())
                .await
        }
    };
    rows.map_err(sqlx_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered(&live_users_sql(2)),
            "SELECT DISTINCT p.user_id FROM presence p JOIN nodes n ON n.id = p.node_id \
             WHERE n.heartbeat_at > $1 AND p.user_id IN ($2,$3)"
        );
        let sql = friend_page_sql(2, true);
        assert_eq!(sql.matches('?').count(), 2 + 2 + 5 + 1);
        assert!(numbered(&sql).ends_with("LIMIT $10"));
    }
}
