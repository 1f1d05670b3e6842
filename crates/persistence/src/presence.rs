//! The domain's [`PresenceStore`] port: node heartbeats and presence rows.
//!
//! Each change to a user's presence runs in one write transaction that first locks the user
//! (the same lock friend-graph changes take), so two nodes changing one user's presence at the
//! same moment are serialized and exactly one of them sees the online or offline transition.

use std::collections::HashSet;

use amity_domain::ports::{PresenceStore, WriteTransaction};
use amity_domain::time::{from_micros, to_micros};
use amity_domain::{NodeId, Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    RelationTrait, Set,
};
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::db_err;
use crate::entities::{node, presence, user};
use crate::reads;
use crate::sql::{Param, statement};
use crate::transaction::SqlTransaction;

/// Most ids in one `IN (...)` list (SQLite allows 32,766 parameters per statement).
const CHUNK: usize = 1000;

/// Which of `users` hold a presence row on a node with a heartbeat after `live_after` (one
/// statement per thousand users, as [`reads::live_users_sql`] reads it).
async fn live_users(
    conn: &impl ConnectionTrait,
    users: &[Uuid],
    live_after: i64,
) -> Result<HashSet<Uuid>> {
    let backend = conn.get_database_backend();
    let mut live = HashSet::new();
    for chunk in users.chunks(CHUNK) {
        let ids = reads::id_list(chunk.iter().copied(), CHUNK);
        let sql = reads::live_users_sql(ids.len());
        let mut params = Vec::with_capacity(ids.len() + 1);
        params.push(Param::BigInt(live_after));
        params.extend(ids);
        let rows = conn
            .query_all_raw(statement(backend, &sql, &params))
            .await
            .map_err(db_err)?;
        for row in rows {
            live.insert(row.try_get_by_index::<Uuid>(0).map_err(db_err)?);
        }
    }
    Ok(live)
}

/// Sets the last-seen time of `users` to `at`, unless a later one is already recorded.
async fn set_last_seen(conn: &impl ConnectionTrait, users: &[Uuid], at: i64) -> Result<()> {
    for chunk in users.chunks(CHUNK) {
        user::Entity::update_many()
            .col_expr(user::Column::LastSeenAt, Expr::value(at))
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .filter(
                sea_orm::Condition::any()
                    .add(user::Column::LastSeenAt.is_null())
                    .add(user::Column::LastSeenAt.lt(at)),
            )
            .exec(conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// The users with a presence row on `node`.
async fn users_on(conn: &impl ConnectionTrait, node: Uuid) -> Result<Vec<Uuid>> {
    presence::Entity::find()
        .select_only()
        .column(presence::Column::UserId)
        .filter(presence::Column::NodeId.eq(node))
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)
}

/// Removes `node` and its presence rows inside `tx`, returning the users that left with it and
/// are now offline everywhere (their last-seen set to `seen_at`). `None` if the node row was
/// already gone or did not match `node_filter`.
async fn remove_node(
    tx: &mut SqlTransaction,
    node: Uuid,
    node_filter: sea_orm::Condition,
    seen_at: i64,
    live_after: i64,
) -> Result<Option<Vec<Uuid>>> {
    let users = users_on(tx.txn(), node).await?;
    let ids: Vec<UserId> = users.iter().copied().map(UserId::from_uuid).collect();
    tx.lock_users(&ids).await?;
    let removed = node::Entity::delete_many()
        .filter(node::Column::Id.eq(node))
        .filter(node_filter)
        .exec(tx.txn())
        .await
        .map_err(db_err)?;
    if removed.rows_affected == 0 {
        return Ok(None);
    }
    presence::Entity::delete_many()
        .filter(presence::Column::NodeId.eq(node))
        .exec(tx.txn())
        .await
        .map_err(db_err)?;
    let live = live_users(tx.txn(), &users, live_after).await?;
    let offline: Vec<Uuid> = users.into_iter().filter(|u| !live.contains(u)).collect();
    set_last_seen(tx.txn(), &offline, seen_at).await?;
    Ok(Some(offline))
}

/// How many live nodes other than `node` hold a presence row of `user`.
async fn live_elsewhere(
    tx: &SqlTransaction,
    node: NodeId,
    user: UserId,
    live_after: DateTime<Utc>,
) -> Result<u64> {
    presence::Entity::find()
        .join(sea_orm::JoinType::InnerJoin, presence::Relation::Node.def())
        .filter(presence::Column::UserId.eq(user.as_uuid()))
        .filter(presence::Column::NodeId.ne(node.as_uuid()))
        .filter(node::Column::HeartbeatAt.gt(to_micros(live_after)))
        .count(tx.txn())
        .await
        .map_err(db_err)
}

#[async_trait]
impl PresenceStore for SqlStore {
    async fn register_node(&self, node: NodeId, now: DateTime<Utc>) -> Result<()> {
        let row = node::ActiveModel {
            id: Set(node.as_uuid()),
            started_at: Set(to_micros(now)),
            heartbeat_at: Set(to_micros(now)),
        };
        node::Entity::insert(row)
            .on_conflict(
                OnConflict::column(node::Column::Id)
                    .update_column(node::Column::HeartbeatAt)
                    .to_owned(),
            )
            .exec_without_returning(&self.database().conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn heartbeat(&self, node: NodeId, now: DateTime<Utc>) -> Result<bool> {
        let result = node::Entity::update_many()
            .col_expr(node::Column::HeartbeatAt, Expr::value(to_micros(now)))
            .filter(node::Column::Id.eq(node.as_uuid()))
            .exec(&self.database().conn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected == 1)
    }

    async fn connect(
        &self,
        node: NodeId,
        user: UserId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = SqlTransaction::begin(self.database()).await?;
        tx.lock_users(&[user]).await?;
        let elsewhere = live_elsewhere(&tx, node, user, live_after).await?;
        presence::Entity::insert(presence::ActiveModel {
            user_id: Set(user.as_uuid()),
            node_id: Set(node.as_uuid()),
            connected_at: Set(to_micros(now)),
        })
        .on_conflict(
            OnConflict::columns([presence::Column::UserId, presence::Column::NodeId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(tx.txn())
        .await
        .map_err(crate::convert::caller_write_err)?;
        Box::new(tx).commit().await?;
        Ok(elsewhere == 0)
    }

    async fn disconnect(
        &self,
        node: NodeId,
        user: UserId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = SqlTransaction::begin(self.database()).await?;
        tx.lock_users(&[user]).await?;
        presence::Entity::delete_many()
            .filter(presence::Column::UserId.eq(user.as_uuid()))
            .filter(presence::Column::NodeId.eq(node.as_uuid()))
            .exec(tx.txn())
            .await
            .map_err(db_err)?;
        let elsewhere = live_elsewhere(&tx, node, user, live_after).await?;
        if elsewhere == 0 {
            set_last_seen(tx.txn(), &[user.as_uuid()], to_micros(now)).await?;
        }
        Box::new(tx).commit().await?;
        Ok(elsewhere == 0)
    }

    async fn deregister_node(
        &self,
        node: NodeId,
        now: DateTime<Utc>,
        live_after: DateTime<Utc>,
    ) -> Result<Vec<UserId>> {
        let mut tx = SqlTransaction::begin(self.database()).await?;
        let offline = remove_node(
            &mut tx,
            node.as_uuid(),
            sea_orm::Condition::all(),
            to_micros(now),
            to_micros(live_after),
        )
        .await?
        .unwrap_or_default();
        Box::new(tx).commit().await?;
        Ok(offline.into_iter().map(UserId::from_uuid).collect())
    }

    async fn sweep_dead_nodes(
        &self,
        live_after: DateTime<Utc>,
    ) -> Result<Vec<(UserId, DateTime<Utc>)>> {
        let live_after = to_micros(live_after);
        let dead: Vec<(Uuid, i64)> = node::Entity::find()
            .select_only()
            .column(node::Column::Id)
            .column(node::Column::HeartbeatAt)
            .filter(node::Column::HeartbeatAt.lte(live_after))
            .into_tuple()
            .all(&self.database().conn)
            .await
            .map_err(db_err)?;
        let mut gone = Vec::new();
        for (id, last_heartbeat) in dead {
            let mut tx = SqlTransaction::begin(self.database()).await?;
            // Only if it is still dead: another node may have swept it, or it may have revived.
            let still_dead =
                sea_orm::Condition::all().add(node::Column::HeartbeatAt.lte(live_after));
            let Some(offline) =
                remove_node(&mut tx, id, still_dead, last_heartbeat, live_after).await?
            else {
                continue;
            };
            Box::new(tx).commit().await?;
            tracing::info!(node = %id, users = offline.len(), "removed a dead node");
            gone.extend(
                offline
                    .into_iter()
                    .map(|u| (UserId::from_uuid(u), from_micros(last_heartbeat))),
            );
        }
        Ok(gone)
    }

    async fn online_among(
        &self,
        users: &[UserId],
        live_after: DateTime<Utc>,
    ) -> Result<HashSet<UserId>> {
        let ids: Vec<Uuid> = users.iter().map(UserId::as_uuid).collect();
        Ok(
            live_users(&self.database().conn, &ids, to_micros(live_after))
                .await?
                .into_iter()
                .map(UserId::from_uuid)
                .collect(),
        )
    }
}
