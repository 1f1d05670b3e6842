//! "People you may know": a bounded two-hop walk over the friend graph, then the exact mutual
//! friends of the few users it picked.
//!
//! 1. The walk. Each of my friends contributes only its [`fan_out`] most recent friendships
//!    (about 10,000 two-hop rows in all, whatever the degrees: 100 each for a user with up to
//!    100 friends, 10 each at the 1,000 limit), counted per candidate in one statement: a
//!    `LATERAL` subquery on PostgreSQL; on SQLite, a range of the friend-listing index from
//!    the friend's K-th most recent friendship on. Candidates are sorted by that count and
//!    recency, and the exclusions (my edges in any state, users who blocked me, dismissed and
//!    banned users) are checked in that order until `limit` pass, so their cost does not grow
//!    with the number of candidates either. For users whose friends have more than K friends
//!    each, the walk's counts are a sample: a candidate known to my friends only through older
//!    friendships can be missed.
//! 2. The exact part. For the (at most 100) candidates picked, every mutual friend is read in
//!    one statement, so the counts and lists shown are exact and the page is ordered by them.
//!
//! Never one query per friend.

use std::collections::HashMap;

use amity_domain::accounts::User;
use amity_domain::friends::RecommendationRow;
use amity_domain::time::to_micros;
use amity_domain::{Result, UserId};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend};
use uuid::Uuid;

use crate::convert::db_err;
use crate::sql::{Param, not_banned_at, push_placeholders, statement};

/// About how many two-hop edges one walk reads.
const WALK_BUDGET: u64 = 10_000;
/// Fewest and most recent friendships taken from each friend.
const FAN_OUT_MIN: u64 = 10;
const FAN_OUT_MAX: u64 = 100;

/// How many of each friend's most recent friendships the walk takes when I have `degree`
/// friends.
pub fn fan_out(degree: u64) -> u64 {
    (WALK_BUDGET / degree.max(1)).clamp(FAN_OUT_MIN, FAN_OUT_MAX)
}

/// My number of friends (parameter: me).
pub const MY_DEGREE: &str =
    "SELECT COUNT(*) AS degree FROM friend_edges WHERE user_id = ? AND state = 0";

/// The exclusions, checked per candidate in rank order (`w` is the ranked walk) until
/// `limit` pass. One `NOT EXISTS` over a `UNION ALL` on purpose: PostgreSQL turns separate
/// `NOT EXISTS` into anti-joins that check every candidate (and may re-sort), while this stays a
/// filter evaluated lazily in rank order. PostgreSQL then sees that the ranked walk is already
/// in the order of [`RANKED`] and stops at the limit; SQLite would sort again after checking
/// every candidate, so there the order is left to the walk, which SQLite reads in its own order
/// (the page is ordered again by the exact counts afterwards).
const RANKED: &str = "ORDER BY w.mutual DESC, w.recent DESC, w.candidate\n";
const EXCLUSIONS: &str = concat!(
    "\
WHERE NOT EXISTS (
  SELECT 1 FROM friend_edges e WHERE e.user_id = ? AND e.friend_id = w.candidate
  UNION ALL
  SELECT 1 FROM friend_edges b WHERE b.user_id = w.candidate AND b.friend_id = ? AND b.state = 3
  UNION ALL
  SELECT 1 FROM dismissed_recommendations d WHERE d.user_id = ? AND d.dismissed_id = w.candidate
  UNION ALL
  SELECT 1 FROM users c WHERE c.id = w.candidate AND NOT ",
    // Exactly "banned now": the rule is never NULL, so its negation is not either.
    not_banned_at!("c"),
    ")\n"
);

/// The walk, around its second hop: my friends (not banned), then a sample of each one's
/// friendships, counted per candidate and ranked.
const WALK_HEAD: &str = "\
SELECT w.candidate FROM (
  SELECT f2.friend_id AS candidate, COUNT(*) AS mutual, MAX(f2.updated_at) AS recent
  FROM friend_edges f1
  JOIN users m ON m.id = f1.friend_id
";
const WALK_TAIL: &str = concat!(
    "  WHERE f1.user_id = ? AND f1.state = 0 AND ",
    not_banned_at!("m"),
    "
    AND f2.friend_id <> ?
  GROUP BY f2.friend_id
  ORDER BY mutual DESC, recent DESC, candidate
) w
"
);

/// The second hop on PostgreSQL: each friend's K most recent friends through `LATERAL`.
const HOP_POSTGRES: &str = "\
  CROSS JOIN LATERAL (SELECT e.friend_id, e.updated_at FROM friend_edges e
                      WHERE e.user_id = f1.friend_id AND e.state = 0
                      ORDER BY e.updated_at DESC LIMIT ?) f2
";

/// The second hop on SQLite (no `LATERAL`): each friend's friendships from its K-th most
/// recent on (the `?` is K - 1, an OFFSET), a range of the listing index.
const HOP_SQLITE: &str = "\
  JOIN friend_edges f2 ON f2.user_id = f1.friend_id AND f2.state = 0
    AND f2.updated_at >= COALESCE((SELECT t.updated_at FROM friend_edges t
                                   WHERE t.user_id = f1.friend_id AND t.state = 0
                                   ORDER BY t.updated_at DESC LIMIT 1 OFFSET ?),
                                  -9223372036854775808)
";

/// Every mutual friend of `me` and each of some candidates (`IN` list appended), with when
/// the candidate befriended them, my most recent friendships first.
const MUTUAL_OF_CANDIDATES: &str = concat!(
    "\
SELECT f.user_id AS candidate, f.friend_id AS mutual_id, f.updated_at AS made_at
FROM friend_edges f
JOIN friend_edges mine ON mine.user_id = ? AND mine.friend_id = f.friend_id AND mine.state = 0
JOIN users m ON m.id = f.friend_id
WHERE f.state = 0 AND ",
    not_banned_at!("m"),
    " AND f.user_id IN "
);

/// Friends of both `a` and `b`, most recent (on `a`'s side) first.
const MUTUAL: &str = concat!(
    "\
SELECT a.friend_id AS mutual_id
FROM friend_edges a
JOIN friend_edges b ON b.user_id = ? AND b.friend_id = a.friend_id AND b.state = 0
JOIN users m ON m.id = a.friend_id
WHERE a.user_id = ? AND a.state = 0
  AND ",
    not_banned_at!("m"),
    "
ORDER BY a.updated_at DESC, a.friend_id"
);

/// The walk's statement (PostgreSQL's or SQLite's second hop). Parameters in order: the
/// [`walk_depth`], me, now (for bans), me four times (the exclusions), now, the limit.
pub fn walk_sql(postgres: bool) -> String {
    let (hop, ranked) = if postgres {
        (HOP_POSTGRES, RANKED)
    } else {
        (HOP_SQLITE, "")
    };
    format!("{WALK_HEAD}{hop}{WALK_TAIL}{EXCLUSIONS}{ranked}LIMIT ?")
}

/// The walk's first parameter for a fan-out of `k`: `k` itself (a `LIMIT`) on PostgreSQL, and
/// `k - 1` (an `OFFSET`) on SQLite.
pub fn walk_depth(k: u64, postgres: bool) -> i64 {
    let k = if postgres { k } else { k.saturating_sub(1) };
    i64::try_from(k).unwrap_or(i64::MAX)
}

/// Every mutual friend of me and each of `n` candidates. Parameters: me, now, the candidates.
pub fn mutual_of_candidates_sql(n: usize) -> String {
    let mut sql = mutual_of_listed(n);
    sql.push_str("\nORDER BY mine.updated_at DESC, f.friend_id");
    sql
}

/// [`MUTUAL_OF_CANDIDATES`] for `n` candidates, in no order.
fn mutual_of_listed(n: usize) -> String {
    let mut sql = String::from(MUTUAL_OF_CANDIDATES);
    sql.push('(');
    push_placeholders(&mut sql, n);
    sql.push(')');
    sql
}

/// How many friends me has in common with each of `n` users, counted in one statement over
/// [`MUTUAL_OF_CANDIDATES`]. Parameters: me, now, the users.
fn mutual_counts_sql(n: usize) -> String {
    format!(
        "SELECT c.candidate AS other, COUNT(*) AS n FROM ({}) c GROUP BY c.candidate",
        mutual_of_listed(n)
    )
}

fn uuid(id: UserId) -> Param {
    Param::Uuid(id.as_uuid())
}

/// See [`amity_domain::ports::FriendStore::friend_recommendations`] and the module's notes.
pub(crate) async fn recommendations(
    conn: &impl ConnectionTrait,
    me: UserId,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Vec<RecommendationRow>> {
    let backend = conn.get_database_backend();
    let now = Param::BigInt(to_micros(now));
    let degree = conn
        .query_one_raw(statement(backend, MY_DEGREE, &[uuid(me)]))
        .await
        .map_err(db_err)?
        .map(|row| row.try_get::<i64>("", "degree"))
        .transpose()
        .map_err(db_err)?
        .unwrap_or(0);
    if degree == 0 {
        return Ok(Vec::new());
    }
    let postgres = backend == DbBackend::Postgres;
    let sql = walk_sql(postgres);
    let params = [
        Param::BigInt(walk_depth(
            fan_out(u64::try_from(degree).unwrap_or(0)),
            postgres,
        )),
        uuid(me),
        now.clone(),
        uuid(me),
        uuid(me),
        uuid(me),
        uuid(me),
        now.clone(),
        Param::BigInt(i64::from(limit)),
    ];
    let candidates: Vec<UserId> = conn
        .query_all_raw(statement(backend, &sql, &params))
        .await
        .map_err(db_err)?
        .iter()
        .map(|row| {
            let id: Uuid = row.try_get("", "candidate").map_err(db_err)?;
            Ok(UserId::from_uuid(id))
        })
        .collect::<Result<_>>()?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }

    let sql = mutual_of_candidates_sql(candidates.len());
    let mut params = vec![uuid(me), now];
    params.extend(candidates.iter().map(|c| uuid(*c)));
    let rows = conn
        .query_all_raw(statement(backend, &sql, &params))
        .await
        .map_err(db_err)?;
    // Per candidate: its mutual friends in my order, and the newest of its friendships with
    // them.
    let mut found: HashMap<UserId, (Vec<UserId>, i64)> = HashMap::with_capacity(candidates.len());
    for row in &rows {
        let candidate: Uuid = row.try_get("", "candidate").map_err(db_err)?;
        let mutual: Uuid = row.try_get("", "mutual_id").map_err(db_err)?;
        let made_at: i64 = row.try_get("", "made_at").map_err(db_err)?;
        let entry = found
            .entry(UserId::from_uuid(candidate))
            .or_insert_with(|| (Vec::new(), i64::MIN));
        entry.0.push(UserId::from_uuid(mutual));
        entry.1 = entry.1.max(made_at);
    }
    let mut ranked: Vec<(UserId, Vec<UserId>, i64)> = candidates
        .into_iter()
        .filter_map(|c| found.remove(&c).map(|(ids, recent)| (c, ids, recent)))
        .collect();
    ranked.sort_by(|a, b| {
        b.1.len()
            .cmp(&a.1.len())
            .then(b.2.cmp(&a.2))
            .then(a.0.cmp(&b.0))
    });
    Ok(ranked
        .into_iter()
        .map(|(candidate, mutual_friend_ids, _)| RecommendationRow {
            candidate,
            mutual_friend_ids,
        })
        .collect())
}

/// See [`amity_domain::ports::FriendStore::mutual_friends`]; `load` turns ids into users.
pub(crate) async fn mutual_friend_ids(
    conn: &impl ConnectionTrait,
    a: UserId,
    b: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<UserId>> {
    let params = [uuid(b), uuid(a), Param::BigInt(to_micros(now))];
    let rows = conn
        .query_all_raw(statement(conn.get_database_backend(), MUTUAL, &params))
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get("", "mutual_id").map_err(db_err)?;
            Ok(UserId::from_uuid(id))
        })
        .collect()
}

/// See [`amity_domain::ports::FriendStore::mutual_friend_counts`].
pub(crate) async fn mutual_friend_counts(
    conn: &impl ConnectionTrait,
    viewer: UserId,
    others: &[UserId],
    now: DateTime<Utc>,
) -> Result<HashMap<UserId, u32>> {
    let sql = mutual_counts_sql(others.len());
    let mut params = vec![uuid(viewer), Param::BigInt(to_micros(now))];
    params.extend(others.iter().map(|o| uuid(*o)));
    let rows = conn
        .query_all_raw(statement(conn.get_database_backend(), &sql, &params))
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let other: Uuid = row.try_get("", "other").map_err(db_err)?;
            let n: i64 = row.try_get("", "n").map_err(db_err)?;
            Ok((
                UserId::from_uuid(other),
                u32::try_from(n).unwrap_or(u32::MAX),
            ))
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
    fn the_walk_reads_about_the_budget_within_the_bounds() {
        assert_eq!(fan_out(0), 100);
        assert_eq!(fan_out(100), 100);
        assert_eq!(fan_out(250), 40);
        assert_eq!(fan_out(1000), 10);
        assert_eq!(fan_out(5000), 10);
    }

    #[test]
    fn each_statement_takes_the_parameters_its_callers_bind() {
        for postgres in [true, false] {
            assert_eq!(walk_sql(postgres).matches('?').count(), 9);
        }
        assert_eq!(MY_DEGREE.matches('?').count(), 1);
        assert_eq!(MUTUAL.matches('?').count(), 3);
        assert_eq!(mutual_counts_sql(3).matches('?').count(), 2 + 3);
        assert_eq!(mutual_of_candidates_sql(4).matches('?').count(), 2 + 4);
        // Banned candidates are excluded by the negation of the one ban rule.
        assert!(EXCLUSIONS.contains(concat!("AND NOT ", not_banned_at!("c"), ")\n")));
    }
}
