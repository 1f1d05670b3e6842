//! Write transactions over the friend graph.
//!
//! Serializing changes to one pair: on PostgreSQL, the users involved are locked with
//! `SELECT ... ORDER BY id FOR UPDATE` (PostgreSQL takes row locks after the sort, so every
//! transaction locks in the same order and none deadlock); the edges are read only after those
//! locks are held, at READ COMMITTED, so each transaction sees the one before it. On SQLite the
//! transaction is `BEGIN IMMEDIATE` and, inside this process, waits its turn on the writer lock.

use std::collections::HashMap;

use amity_domain::accounts::{NewUser, Role, User};
use amity_domain::friends::{FriendCounts, FriendState, Pair};
use amity_domain::messages::DirectMessage;
use amity_domain::moderation::{Ban, ModerationEntry};
use amity_domain::ports::{
    EdgeTransaction, EdgeWrite, FoundUsers, LinkTransaction, MessageTransaction,
    ModerationTransaction, NewNotification, StoredPair, WriteTransaction,
};
use amity_domain::social::Network;
use amity_domain::time::{from_micros, to_micros};
use amity_domain::{DomainError, Handle, Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::convert::{
    conversation, db_err, metadata_from_text, metadata_to_text, state_from_rank, user_from_row,
};
use crate::entities::{
    direct_message, external_account, friend_edge, moderation_log, notification, user,
};
use crate::queries::{edge_upsert, insert_user_row, uuids};
use crate::{Backend, Database};

/// An open write transaction; see the module docs.
pub(crate) struct SqlTransaction {
    txn: DatabaseTransaction,
    backend: Backend,
    // Held until the transaction ends (SQLite only).
    _writer: Option<OwnedMutexGuard<()>>,
}

impl SqlTransaction {
    pub(crate) async fn begin(db: &Database) -> Result<Self> {
        let writer = match &db.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let options = TransactionOptions {
            sqlite_transaction_mode: (db.backend == Backend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let txn = db.conn.begin_with_options(options).await.map_err(db_err)?;
        Ok(Self {
            txn,
            backend: db.backend,
            _writer: writer,
        })
    }
}

impl SqlTransaction {
    /// The open transaction, for statements outside the write transaction ports.
    pub(crate) fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl SqlTransaction {
    /// Users by ids and handles; with `lock`, locked `FOR UPDATE` in id order.
    async fn find(&mut self, ids: &[UserId], handles: &[Handle], lock: bool) -> Result<FoundUsers> {
        let keys: Vec<String> = handles.iter().map(Handle::key).collect();
        let mut condition = Condition::any();
        if !ids.is_empty() {
            condition = condition.add(user::Column::Id.is_in(uuids(ids)));
        }
        if !keys.is_empty() {
            condition = condition.add(user::Column::HandleKey.is_in(keys.clone()));
        }
        // A deleted account (a tombstone) is nobody's target.
        let mut query = user::Entity::find()
            .filter(condition)
            .filter(user::Column::DeletedAt.is_null());
        if lock {
            query = query.order_by_asc(user::Column::Id).lock_exclusive();
        }
        let rows = query.all(&self.txn).await.map_err(db_err)?;
        let mut found = FoundUsers::default();
        for row in rows {
            let by_handle = keys.contains(&row.handle_key);
            let by_id = ids.iter().any(|id| id.as_uuid() == row.id);
            let user = user_from_row(row)?;
            if by_handle {
                found.by_handle.push(user.clone());
            }
            if by_id {
                found.by_id.push(user);
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl WriteTransaction for SqlTransaction {
    async fn find_users(&mut self, ids: &[UserId], handles: &[Handle]) -> Result<FoundUsers> {
        self.find(ids, handles, false).await
    }

    /// On PostgreSQL one statement: `FOR UPDATE` in id order, the order [`Self::lock_users`]
    /// locks in. (Not the pairs too: a statement reads other tables as of its start, before
    /// any lock it waited for was granted, so the pairs are read by the next statement.)
    async fn find_and_lock_users(
        &mut self,
        ids: &[UserId],
        handles: &[Handle],
    ) -> Result<FoundUsers> {
        self.find(ids, handles, self.backend == Backend::Postgres)
            .await
    }

    async fn lock_users(&mut self, ids: &[UserId]) -> Result<()> {
        if self.backend != Backend::Postgres || ids.is_empty() {
            return Ok(());
        }
        let _: Vec<Uuid> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(uuids(ids)))
            .order_by_asc(user::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn pairs(
        &mut self,
        me: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, StoredPair>> {
        use friend_edge::Column as C;
        if others.is_empty() {
            return Ok(HashMap::new());
        }
        let rows = friend_edge::Entity::find()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(C::UserId.eq(me.as_uuid()))
                            .add(C::FriendId.is_in(uuids(others))),
                    )
                    .add(
                        Condition::all()
                            .add(C::FriendId.eq(me.as_uuid()))
                            .add(C::UserId.is_in(uuids(others))),
                    ),
            )
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut pairs: HashMap<UserId, StoredPair> = HashMap::new();
        for row in rows {
            let state = state_from_rank(row.state)?;
            if row.user_id == me.as_uuid() {
                let entry = pairs.entry(UserId::from_uuid(row.friend_id)).or_default();
                entry.pair.mine = Some(state);
                entry.my_updated_at = Some(from_micros(row.updated_at));
                entry.my_metadata = metadata_from_text(row.metadata.as_deref());
                entry.my_source = row.source.as_deref().and_then(|s| s.parse().ok());
            } else {
                let entry = pairs.entry(UserId::from_uuid(row.user_id)).or_default();
                entry.pair = Pair::new(entry.pair.mine, Some(state));
            }
        }
        Ok(pairs)
    }

    async fn insert_notifications(
        &mut self,
        items: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let at = to_micros(at);
        let rows = items.iter().map(|n| notification::ActiveModel {
            id: sea_orm::Set(n.id.as_uuid()),
            recipient_id: sea_orm::Set(n.recipient.as_uuid()),
            code: sea_orm::Set(n.code.as_i16()),
            subject: sea_orm::Set(n.subject.clone()),
            content: sea_orm::Set(n.content.to_string()),
            sender_id: sea_orm::Set(n.sender.map(|s| s.as_uuid())),
            created_at: sea_orm::Set(at),
            read_at: sea_orm::Set(None),
        });
        notification::Entity::insert_many(rows)
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.txn.commit().await.map_err(db_err)
    }
}

#[async_trait]
impl EdgeTransaction for SqlTransaction {
    async fn counts_of(&mut self, owners: &[UserId]) -> Result<HashMap<UserId, FriendCounts>> {
        if owners.is_empty() {
            return Ok(HashMap::new());
        }
        // The friend-listing index (user, state, ...) serves it.
        let rows: Vec<(Uuid, i16, i64)> = friend_edge::Entity::find()
            .select_only()
            .column(friend_edge::Column::UserId)
            .column(friend_edge::Column::State)
            .column_as(friend_edge::Column::FriendId.count(), "n")
            .filter(friend_edge::Column::UserId.is_in(uuids(owners)))
            .group_by(friend_edge::Column::UserId)
            .group_by(friend_edge::Column::State)
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        let mut counts: HashMap<UserId, FriendCounts> = HashMap::new();
        for (owner, rank, n) in rows {
            counts
                .entry(UserId::from_uuid(owner))
                .or_default()
                .add(state_from_rank(rank)?, u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(counts)
    }

    async fn write_edges(&mut self, writes: &[EdgeWrite], at: DateTime<Utc>) -> Result<()> {
        use friend_edge::Column as C;
        let at = to_micros(at);
        let mut deletes = Condition::any();
        let mut any_delete = false;
        let mut with_metadata = Vec::new();
        let mut keep_metadata = Vec::new();
        for w in writes {
            match w.state {
                None => {
                    any_delete = true;
                    deletes = deletes.add(
                        Condition::all()
                            .add(C::UserId.eq(w.owner.as_uuid()))
                            .add(C::FriendId.eq(w.other.as_uuid())),
                    );
                }
                Some(state) => {
                    let row = friend_edge::ActiveModel {
                        user_id: sea_orm::Set(w.owner.as_uuid()),
                        friend_id: sea_orm::Set(w.other.as_uuid()),
                        state: sea_orm::Set(state.rank()),
                        updated_at: sea_orm::Set(at),
                        metadata: sea_orm::Set(metadata_to_text(w.metadata.as_ref())),
                        source: sea_orm::Set(w.source.map(|n| n.as_str().to_owned())),
                    };
                    if w.metadata.is_some() {
                        with_metadata.push(row);
                    } else {
                        keep_metadata.push(row);
                    }
                }
            }
        }
        if any_delete {
            friend_edge::Entity::delete_many()
                .filter(deletes)
                .exec(&self.txn)
                .await
                .map_err(db_err)?;
        }
        for (rows, with) in [(with_metadata, true), (keep_metadata, false)] {
            if rows.is_empty() {
                continue;
            }
            friend_edge::Entity::insert_many(rows)
                .on_conflict(edge_upsert(with))
                .exec_without_returning(&self.txn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl MessageTransaction for SqlTransaction {
    async fn insert_direct_message(&mut self, message: &DirectMessage) -> Result<()> {
        let (low, high) = conversation(message.sender, message.recipient);
        direct_message::ActiveModel {
            id: sea_orm::Set(message.id.as_uuid()),
            sender_id: sea_orm::Set(message.sender.as_uuid()),
            recipient_id: sea_orm::Set(message.recipient.as_uuid()),
            user_low: sea_orm::Set(low),
            user_high: sea_orm::Set(high),
            body: sea_orm::Set(message.body.as_str().to_owned()),
            created_at: sea_orm::Set(to_micros(message.created_at)),
        }
        .insert(&self.txn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl ModerationTransaction for SqlTransaction {
    async fn set_ban(&mut self, users: &[UserId], ban: Option<&Ban>) -> Result<()> {
        use sea_orm::sea_query::Expr;
        if users.is_empty() {
            return Ok(());
        }
        let mut update = user::Entity::update_many()
            .filter(user::Column::Id.is_in(uuids(users)))
            .col_expr(
                user::Column::BannedAt,
                Expr::value(ban.map(|b| to_micros(b.since))),
            )
            .col_expr(
                user::Column::BannedUntil,
                Expr::value(ban.and_then(|b| b.until).map(to_micros)),
            )
            .col_expr(
                user::Column::BanReason,
                Expr::value(ban.and_then(|b| b.reason.clone())),
            );
        if let Some(ban) = ban {
            update = update.col_expr(
                user::Column::SessionsValidAfter,
                Expr::value(Some(to_micros(ban.since))),
            );
        }
        update.exec(&self.txn).await.map_err(db_err)?;
        Ok(())
    }

    async fn set_role(&mut self, user: UserId, role: Role) -> Result<()> {
        use sea_orm::sea_query::Expr;
        user::Entity::update_many()
            .filter(user::Column::Id.eq(user.as_uuid()))
            .col_expr(user::Column::Role, Expr::value(role.as_str()))
            .exec(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_moderation_entries(&mut self, entries: &[ModerationEntry]) -> Result<()> {
        use sea_orm::Set;
        if entries.is_empty() {
            return Ok(());
        }
        let rows = entries.iter().map(|e| moderation_log::ActiveModel {
            id: Set(e.id.as_uuid()),
            actor_id: Set(e.actor.map(|a| a.as_uuid())),
            actor_label: Set(e.actor_label.clone()),
            target_id: Set(e.target.as_uuid()),
            action: Set(e.action.as_str().to_owned()),
            reason: Set(e.reason.clone()),
            until: Set(e.until.map(to_micros)),
            role: Set(e.role.map(|r| r.as_str().to_owned())),
            created_at: Set(to_micros(e.created_at)),
        });
        moderation_log::Entity::insert_many(rows)
            .exec_without_returning(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl LinkTransaction for SqlTransaction {
    async fn insert_user(&mut self, user: &NewUser) -> Result<User> {
        insert_user_row(&self.txn, user).await
    }

    async fn link_external(
        &mut self,
        user: UserId,
        network: Network,
        external_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        use sea_orm::Set;
        external_account::Entity::insert(external_account::ActiveModel {
            network: Set(network.as_str().to_owned()),
            external_id: Set(external_id.to_owned()),
            user_id: Set(user.as_uuid()),
            linked_at: Set(to_micros(at)),
        })
        .exec_without_returning(&self.txn)
        .await
        .map_err(|e| match e.sql_err() {
            // Someone linked it (or this user linked another account) concurrently.
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => DomainError::Conflict(
                format!("{network} account {external_id} was linked concurrently").into(),
            ),
            _ => db_err(e),
        })?;
        Ok(())
    }

    async fn users_by_external(&mut self, network: Network, ids: &[String]) -> Result<Vec<User>> {
        use external_account::Column as C;
        let mut users = Vec::new();
        // Bounded IN lists (a Steam friend list may hold thousands of ids).
        for chunk in ids.chunks(500) {
            let user_ids: Vec<Uuid> = external_account::Entity::find()
                .select_only()
                .column(C::UserId)
                .filter(C::Network.eq(network.as_str()))
                .filter(C::ExternalId.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(&self.txn)
                .await
                .map_err(db_err)?;
            if user_ids.is_empty() {
                continue;
            }
            let rows = user::Entity::find()
                .filter(user::Column::Id.is_in(user_ids))
                .all(&self.txn)
                .await
                .map_err(db_err)?;
            for row in rows {
                users.push(user_from_row(row)?);
            }
        }
        Ok(users)
    }

    async fn imported_friends(&mut self, owner: UserId, network: Network) -> Result<Vec<UserId>> {
        use friend_edge::Column as C;
        let ids: Vec<Uuid> = friend_edge::Entity::find()
            .select_only()
            .column(C::FriendId)
            .filter(C::UserId.eq(owner.as_uuid()))
            .filter(C::State.eq(FriendState::Friend.rank()))
            .filter(C::Source.eq(network.as_str()))
            .into_tuple()
            .all(&self.txn)
            .await
            .map_err(db_err)?;
        Ok(ids.into_iter().map(UserId::from_uuid).collect())
    }
}
