//! How raw SQL is written and run in this crate, and the fragments statements share.
//!
//! Every raw statement is text with `?` placeholders (SQLite's style) and its [`Param`]s in
//! order. [`statement`] makes them a sea-orm [`Statement`] for any connection, the pool or a
//! transaction, numbering the placeholders `$1, $2, ...` ([`numbered`]) on PostgreSQL. The
//! hottest reads run the same text and parameters on the pool through sqlx instead
//! ([`crate::reads::fetch_all`]), numbered the same way.
//!
//! Shared fragments are macros that expand to string literals, so that they compose with
//! `concat!` into constant statements: [`not_banned_at!`] is the one spelling of "this user is
//! not banned at time T".

use sea_orm::{DbBackend, Statement, Value};
use uuid::Uuid;

/// SQL that is true when the user row aliased `$alias` (a string literal) is not banned at the
/// time bound to its one `?`: never banned, or a ban with an end that has passed.
///
/// A permanent ban has `banned_until` NULL; the fragment checks for it instead of letting
/// `banned_until <= ?` be NULL, so that the fragment is never NULL itself and its negation,
/// `NOT (...)`, is exactly "banned at that time" under SQL's three-valued logic.
macro_rules! not_banned_at {
    ($alias:literal) => {
        concat!(
            "(",
            $alias,
            ".banned_at IS NULL OR (",
            $alias,
            ".banned_until IS NOT NULL AND ",
            $alias,
            ".banned_until <= ?))"
        )
    };
}
pub(crate) use not_banned_at;

/// A parameter of a raw statement.
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

impl From<&Param> for Value {
    fn from(param: &Param) -> Self {
        match param {
            Param::Uuid(v) => Value::Uuid(Some(*v)),
            Param::BigInt(v) => Value::BigInt(Some(*v)),
            Param::SmallInt(v) => Value::SmallInt(Some(*v)),
            Param::Text(v) => Value::String(Some(v.clone())),
        }
    }
}

/// `sql` (with `?` placeholders) and `params` as a statement for `backend`: the one way raw
/// SQL is run on a sea-orm connection.
pub(crate) fn statement(backend: DbBackend, sql: &str, params: &[Param]) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        numbered(sql)
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, params.iter().map(Value::from))
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

/// `ids` as the parameters of an `IN (...)` list, padded with copies of the last one up to
/// the next power of two (at most `most`, never fewer than the ids): a repeated value changes
/// nothing in `IN (...)`, and a statement with a list then has a dozen shapes instead of one
/// per length. Every shape is prepared, and kept, on every pooled connection: unpadded, the
/// profile and adjacency loads of a recommendation run left 18 MiB of prepared statements.
pub fn id_list(ids: impl ExactSizeIterator<Item = Uuid>, most: usize) -> Vec<Param> {
    let n = ids.len();
    let mut params: Vec<Param> = ids.map(Param::Uuid).collect();
    if let Some(last) = params.last().cloned() {
        params.resize(n.next_power_of_two().min(most).max(n), last);
    }
    params
}

/// Appends `n` comma-separated `?` placeholders.
pub(crate) fn push_placeholders(sql: &mut String, n: usize) {
    for i in 0..n {
        sql.push_str(if i == 0 { "?" } else { ",?" });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_are_padded_to_a_power_of_two_with_the_last_id() {
        let ids: Vec<Uuid> = (0..5u128).map(Uuid::from_u128).collect();
        assert!(id_list(ids[..0].iter().copied(), 100).is_empty());
        assert_eq!(id_list(ids[..1].iter().copied(), 100).len(), 1);
        let padded = id_list(ids.iter().copied(), 100);
        assert_eq!(padded.len(), 8);
        assert!(
            padded[5..]
                .iter()
                .all(|p| matches!(p, Param::Uuid(u) if *u == ids[4]))
        );
        assert_eq!(id_list(ids.iter().copied(), 6).len(), 6);
        assert_eq!(id_list(ids.iter().copied(), 3).len(), 5);
    }

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let params = [Param::BigInt(1), Param::Text("x".into())];
        let pg = statement(DbBackend::Postgres, "a = ? AND b = ?", &params);
        assert_eq!(pg.sql, "a = $1 AND b = $2");
        assert_eq!(pg.values.map(|v| v.0.len()), Some(2));
        let lite = statement(DbBackend::Sqlite, "a = ? AND b = ?", &[]);
        assert_eq!(lite.sql, "a = ? AND b = ?");
    }

    #[test]
    fn the_ban_rule_is_null_safe_and_takes_one_time() {
        assert_eq!(
            not_banned_at!("u"),
            "(u.banned_at IS NULL OR (u.banned_until IS NOT NULL AND u.banned_until <= ?))"
        );
        assert_eq!(not_banned_at!("u").matches('?').count(), 1);
    }
}
