//! The hottest reads (a page of the friend list, and which of its users are online) as fixed
//! SQL run through sqlx directly, rows decoded by position into tuples.
//!
//! Why not through sea-orm like the rest: a page of 100 friends is 101 rows of 15 columns, and
//! sea-orm's model decoding looks every column up by a name it formats per row (and formats an
//! error message for every NULL it meets), which cost more than the query itself. The SQL is
//! public so that the benchmark tool's raw baseline runs exactly what the server runs.
//!
//! The statements of the recommendation walk are here too (re-exported from its module), for
//! the same reason.
//!
//! Placeholders are written `?` (SQLite); [`numbered`] turns them into `$1, $2, ...` for
//! PostgreSQL.

use amity_domain::Result;
use amity_domain::friends::FriendView;
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::sqlite::SqliteRow;
use sea_orm::sqlx::{self, AssertSqlSafe, FromRow};
use uuid::Uuid;

pub use crate::recommendations::{
    MY_DEGREE, fan_out, mutual_of_candidates_sql, walk_depth, walk_sql,
};

use crate::convert::{edge_view, user_from_columns};
use crate::database::{Backend, Database};

/// The user columns both [`users_by_ids_sql`] and [`friend_page_sql`] select (users as `u`),
/// decoded by [`UserRow`].
macro_rules! user_columns {
    () => {
        "u.id, u.handle, u.display_name, u.avatar_url, u.metadata, u.role, u.created_at, \
         u.last_seen_at, u.banned_at, u.banned_until, u.ban_reason"
    };
}

/// The columns of a user in the order they are selected: id, handle, display name, avatar
/// URL, metadata, role, created at, last seen at, banned at, banned until, ban reason.
pub type UserRow = (
    Uuid,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// One row of a friends page as [`friend_page_sql`] selects it: the other user's columns
/// (those of [`UserRow`], the friend's id first), then the edge's state rank, updated at,
/// metadata and source. (sqlx decodes tuples flat, so the user's types are spelled again.)
pub type FriendPageRow = (
    Uuid,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i16,
    i64,
    Option<String>,
    Option<String>,
);

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
         WHERE e.user_id = ? AND (u.banned_at IS NULL OR u.banned_until <= ?)"
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

/// Appends `n` comma-separated `?` placeholders.
pub(crate) fn push_placeholders(sql: &mut String, n: usize) {
    for i in 0..n {
        sql.push_str(if i == 0 { "?" } else { ",?" });
    }
}

/// `sql` with its `?` placeholders numbered `$1, $2, ...` for PostgreSQL (the statements here
/// have no `?` inside string literals).
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// A parameter of one of these statements.
#[derive(Debug, Clone)]
pub enum Param {
    /// An id.
    Uuid(Uuid),
    /// A time in microseconds, a count or a limit.
    BigInt(i64),
    /// A friend state's rank.
    SmallInt(i16),
    /// A text, such as a handle.
    Text(String),
}

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

/// Runs `sql` (with `?` placeholders) on `db`'s pool and decodes every row as `T` (a tuple of
/// the selected columns' types).
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
    rows.map_err(crate::convert::sqlx_err)
}

/// A friends-page row as the domain's view of the edge and the other user.
pub(crate) fn view_from_page_row(row: FriendPageRow) -> Result<FriendView> {
    let user = user_from_columns((
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10,
    ))?;
    edge_view(user, row.11, row.12, row.13.as_deref(), row.14.as_deref())
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
