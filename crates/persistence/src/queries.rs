//! Statements that both the store ([`crate::SqlStore`], on the pool) and its write
//! transactions (`transaction.rs`) run, on whichever connection they are given: a user's edge
//! counts by state, inserting a user row, and the edge upsert.

use amity_domain::accounts::{NewUser, User, search_key};
use amity_domain::friends::FriendCounts;
use amity_domain::time::to_micros;
use amity_domain::{DomainError, Result, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, SqlErr};
use uuid::Uuid;

use crate::convert::{db_err, state_from_rank, user_from_row};
use crate::entities::{friend_edge, user};
use crate::sql::{Param, not_banned_at, statement};

/// How many edges of each state a user (the parameter) has.
const COUNTS_BY_STATE: &str = "SELECT e.state, COUNT(e.friend_id) AS n FROM friend_edges e \
     WHERE e.user_id = ? GROUP BY e.state";

/// As [`COUNTS_BY_STATE`], leaving out the other users banned at a time. Parameters: the user,
/// the time.
const VISIBLE_COUNTS_BY_STATE: &str = concat!(
    "SELECT e.state, COUNT(e.friend_id) AS n FROM friend_edges e \
     JOIN users u ON u.id = e.friend_id WHERE e.user_id = ? AND ",
    not_banned_at!("u"),
    " GROUP BY e.state"
);

/// The ids of `ids`.
pub(crate) fn uuids(ids: &[UserId]) -> Vec<Uuid> {
    ids.iter().map(UserId::as_uuid).collect()
}

/// How many edges of each state `owner` has, on a pool or inside a transaction; with
/// `visible_at`, the users banned at that time are left out (as in the listing).
pub(crate) async fn counts_by_state(
    conn: &impl ConnectionTrait,
    owner: UserId,
    visible_at: Option<DateTime<Utc>>,
) -> Result<FriendCounts> {
    let owner = Param::Uuid(owner.as_uuid());
    let (sql, params) = match visible_at {
        None => (COUNTS_BY_STATE, vec![owner]),
        Some(at) => (
            VISIBLE_COUNTS_BY_STATE,
            vec![owner, Param::BigInt(to_micros(at))],
        ),
    };
    let rows = conn
        .query_all_raw(statement(conn.get_database_backend(), sql, &params))
        .await
        .map_err(db_err)?;
    let mut counts = FriendCounts::default();
    for row in rows {
        let rank: i16 = row.try_get_by_index(0).map_err(db_err)?;
        let n: i64 = row.try_get_by_index(1).map_err(db_err)?;
        counts.add(state_from_rank(rank)?, u32::try_from(n).unwrap_or(u32::MAX));
    }
    Ok(counts)
}

/// Inserts a user row; [`DomainError::HandleTaken`] on a handle clash.
pub(crate) async fn insert_user_row(conn: &impl ConnectionTrait, new: &NewUser) -> Result<User> {
    insert_user_row_with(conn, new, None).await
}

/// Inserts a user row, a guest's with its device digest; [`DomainError::HandleTaken`] on a
/// clash of any unique key (the caller tells a device clash apart).
pub(crate) async fn insert_user_row_with(
    conn: &impl ConnectionTrait,
    new: &NewUser,
    device_key: Option<&str>,
) -> Result<User> {
    let row = user::ActiveModel {
        id: Set(new.id.as_uuid()),
        handle: Set(new.handle.as_str().to_owned()),
        handle_key: Set(new.handle.key()),
        display_name: Set(new.display_name.clone()),
        avatar_url: Set(None),
        metadata: Set(None),
        role: Set(new.role.as_str().to_owned()),
        password_hash: Set(new.password_hash.clone()),
        created_at: Set(to_micros(new.created_at)),
        last_seen_at: Set(None),
        banned_at: Set(None),
        banned_until: Set(None),
        ban_reason: Set(None),
        sessions_valid_after: Set(None),
        deleted_at: Set(None),
        device_key: Set(device_key.map(str::to_owned)),
        display_name_key: Set(new.display_name.as_deref().map(search_key)),
    };
    match row.insert(conn).await {
        Ok(model) => user_from_row(model),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(DomainError::HandleTaken(new.handle.to_string()))
        }
        Err(e) => Err(db_err(e)),
    }
}

/// The upsert used for edges: on an existing (owner, other) row, replace the state and time,
/// and the metadata only when `with_metadata`.
pub(crate) fn edge_upsert(with_metadata: bool) -> OnConflict {
    use friend_edge::Column as C;
    let mut columns = vec![C::State, C::UpdatedAt, C::Source];
    if with_metadata {
        columns.push(C::Metadata);
    }
    OnConflict::columns([C::UserId, C::FriendId])
        .update_columns(columns)
        .to_owned()
}
