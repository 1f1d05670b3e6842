//! [`SqlStore`]: the domain's [`Store`] port on sea-orm.

use std::collections::HashMap;

use amity_domain::accounts::{NewUser, ProfileChange, User, search_key};
use amity_domain::friends::{FriendCounts, FriendListQuery, FriendState, FriendView};
use amity_domain::input::Metadata;
use amity_domain::messages::DirectMessage;
use amity_domain::moderation::{AccessStatus, ModerationEntry};
use amity_domain::notifications::Notification;
use amity_domain::ports::{
    Adjacency, AdjacentEdge, EdgeTransaction, FriendStore, LinkTransaction, MessageStore,
    MessageTransaction, ModerationStore, ModerationTransaction, NotificationJob, NotificationStore,
    SignInMethods, SocialLinkStore, Store, Unlinked, UserStore,
};
use amity_domain::social::Network;
use amity_domain::time::{from_micros, to_micros};
use amity_domain::{
    Handle, JobId, MessageId, ModerationEntryId, NotificationId, Result, SessionId, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use uuid::Uuid;

use crate::Database;
use crate::accounts;
use crate::convert::{
    access_from_row, conversation, db_err, message_from_row, metadata_from_text, metadata_to_text,
    moderation_entry_from_row, notification_from_row, state_from_rank, user_from_row,
    view_from_rows,
};
use crate::entities::{
    direct_message, external_account, friend_edge, moderation_log, notification, user,
};
use crate::queries::{counts_by_state, insert_user_row, uuids};
use crate::reads;
use crate::rows::{EdgeRecord, FriendPageRow, UserRecord, UserRow};
use crate::sql::Param;
use crate::transaction::SqlTransaction;

/// Owners per adjacency statement.
const ADJACENCY_CHUNK: usize = 1000;

/// The domain's store on a SQLite or PostgreSQL [`Database`].
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: Database,
}

impl SqlStore {
    /// Every row `select` finds, each converted by `convert`.
    async fn all<E, T>(
        &self,
        select: sea_orm::Select<E>,
        convert: impl Fn(E::Model) -> Result<T>,
    ) -> Result<Vec<T>>
    where
        E: EntityTrait,
    {
        select
            .all(&self.db.conn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(convert)
            .collect()
    }

    /// A store on this database.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The database underneath.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, new: NewUser) -> Result<User> {
        insert_user_row(&self.db.conn, &new).await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        user::Entity::find_by_id(id.as_uuid())
            .one(&self.db.conn)
            .await
            .map_err(db_err)?
            .map(user_from_row)
            .transpose()
    }

    async fn user_by_handle(&self, handle: &Handle) -> Result<Option<User>> {
        Ok(self.credentials_by_handle(handle).await?.map(|(u, _)| u))
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut users = Vec::with_capacity(ids.len());
        // Chunks well below SQLite's 32,766 parameters per statement.
        for chunk in ids.chunks(1000) {
            let params = reads::id_list(chunk.iter().map(|id| id.as_uuid()), 1000);
            let sql = reads::users_by_ids_sql(params.len());
            let rows: Vec<UserRow> = reads::fetch_all(&self.db, &sql, &params).await?;
            for row in rows {
                users.push(User::try_from(UserRecord::from(row))?);
            }
        }
        Ok(users)
    }

    async fn credentials_by_handle(
        &self,
        handle: &Handle,
    ) -> Result<Option<(User, Option<String>)>> {
        let Some(mut row) = user::Entity::find()
            .filter(user::Column::HandleKey.eq(handle.key()))
            .one(&self.db.conn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let hash = row.password_hash.take();
        Ok(Some((user_from_row(row)?, hash)))
    }

    async fn update_profile(&self, id: UserId, change: &ProfileChange) -> Result<Option<User>> {
        use user::Column as C;
        let mut update = user::Entity::update_many().filter(C::Id.eq(id.as_uuid()));
        if let Some(name) = &change.display_name {
            update = update
                .col_expr(
                    C::DisplayName,
                    Expr::value(name.as_ref().map(|n| n.as_str().to_owned())),
                )
                .col_expr(
                    C::DisplayNameKey,
                    Expr::value(name.as_ref().map(|n| search_key(n.as_str()))),
                );
        }
        if let Some(url) = &change.avatar_url {
            update = update.col_expr(
                C::AvatarUrl,
                Expr::value(url.as_ref().map(|u| u.as_str().to_owned())),
            );
        }
        if let Some(metadata) = &change.metadata {
            update = update.col_expr(
                C::Metadata,
                Expr::value(metadata_to_text(metadata.as_ref())),
            );
        }
        let result = update.exec(&self.db.conn).await.map_err(db_err)?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.user_by_id(id).await
    }

    async fn credentials_by_id(&self, id: UserId) -> Result<Option<(User, Option<String>)>> {
        accounts::credentials_by_id(&self.db, id).await
    }

    async fn sign_in_methods(&self, id: UserId) -> Result<Option<SignInMethods>> {
        accounts::sign_in_methods(&self.db.conn, id).await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &str,
        keep: Option<SessionId>,
    ) -> Result<Option<Vec<SessionId>>> {
        accounts::set_password_hash(&self.db, id, hash, keep).await
    }

    async fn change_handle(&self, id: UserId, handle: &Handle) -> Result<Option<User>> {
        accounts::change_handle(&self.db, id, handle).await
    }

    async fn user_by_device(&self, device_key: &str) -> Result<Option<User>> {
        accounts::user_by_device(&self.db, device_key).await
    }

    async fn insert_device_user(&self, user: NewUser, device_key: &str) -> Result<Option<User>> {
        accounts::insert_device_user(&self.db, &user, device_key).await
    }

    async fn delete_user(&self, id: UserId, at: DateTime<Utc>) -> Result<Option<Vec<UserId>>> {
        accounts::delete_user(&self.db, id, at).await
    }

    async fn search_users(
        &self,
        prefix: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<User>> {
        accounts::search_users(&self.db, prefix, limit, now).await
    }
}

#[async_trait]
impl FriendStore for SqlStore {
    async fn begin_edges(&self) -> Result<Box<dyn EdgeTransaction>> {
        Ok(Box::new(SqlTransaction::begin(&self.db).await?))
    }

    async fn views_of(
        &self,
        viewer: UserId,
        others: &[UserId],
    ) -> Result<HashMap<UserId, FriendState>> {
        if others.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(Uuid, i16)> = friend_edge::Entity::find()
            .select_only()
            .column(friend_edge::Column::FriendId)
            .column(friend_edge::Column::State)
            .filter(friend_edge::Column::UserId.eq(viewer.as_uuid()))
            .filter(friend_edge::Column::FriendId.is_in(uuids(others)))
            .into_tuple()
            .all(&self.db.conn)
            .await
            .map_err(db_err)?;
        rows.into_iter()
            .map(|(id, rank)| Ok((UserId::from_uuid(id), state_from_rank(rank)?)))
            .collect()
    }

    async fn list_friends(
        &self,
        owner: UserId,
        query: &FriendListQuery,
    ) -> Result<Vec<FriendView>> {
        let sql = reads::friend_page_sql(query.states.len(), query.after.is_some());
        let mut params = vec![
            Param::Uuid(owner.as_uuid()),
            // Banned users are hidden until their ban ends or is lifted.
            Param::BigInt(to_micros(query.visible_at)),
        ];
        params.extend(query.states.iter().map(|s| Param::SmallInt(s.rank())));
        if let Some(after) = &query.after {
            let (rank, at) = (after.state.rank(), to_micros(after.updated_at));
            params.extend([
                Param::SmallInt(rank),
                Param::SmallInt(rank),
                Param::BigInt(at),
                Param::BigInt(at),
                Param::Uuid(after.other.as_uuid()),
            ]);
        }
        params.push(Param::BigInt(i64::from(query.limit)));
        let rows: Vec<FriendPageRow> = reads::fetch_all(&self.db, &sql, &params).await?;
        rows.into_iter()
            .map(|row| FriendView::try_from(EdgeRecord::from(row)))
            .collect()
    }

    async fn friend_counts(
        &self,
        owner: UserId,
        visible_at: Option<DateTime<Utc>>,
    ) -> Result<FriendCounts> {
        counts_by_state(&self.db.conn, owner, visible_at).await
    }

    async fn set_edge_metadata(
        &self,
        owner: UserId,
        other: UserId,
        metadata: Option<&Metadata>,
    ) -> Result<Option<FriendView>> {
        let result = friend_edge::Entity::update_many()
            .col_expr(
                friend_edge::Column::Metadata,
                Expr::value(metadata_to_text(metadata)),
            )
            .filter(friend_edge::Column::UserId.eq(owner.as_uuid()))
            .filter(friend_edge::Column::FriendId.eq(other.as_uuid()))
            .exec(&self.db.conn)
            .await
            .map_err(db_err)?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        let row = friend_edge::Entity::find_by_id((owner.as_uuid(), other.as_uuid()))
            .find_also_related(user::Entity)
            .one(&self.db.conn)
            .await
            .map_err(db_err)?;
        match row {
            Some((edge, Some(other))) => Ok(Some(view_from_rows(edge, other)?)),
            _ => Ok(None),
        }
    }

    async fn friend_ids(&self, user: UserId) -> Result<Vec<UserId>> {
        use friend_edge::Column as C;
        let ids: Vec<Uuid> = friend_edge::Entity::find()
            .select_only()
            .column(C::FriendId)
            .filter(C::UserId.eq(user.as_uuid()))
            .filter(C::State.eq(FriendState::Friend.rank()))
            .into_tuple()
            .all(&self.db.conn)
            .await
            .map_err(db_err)?;
        Ok(ids.into_iter().map(UserId::from_uuid).collect())
    }

    async fn mutual_friends(
        &self,
        a: UserId,
        b: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<(Vec<User>, u32)> {
        let ids = crate::recommendations::mutual_friend_ids(&self.db.conn, a, b, now).await?;
        let total = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let first: Vec<UserId> = ids.into_iter().take(limit as usize).collect();
        let users = self.users_by_ids(&first).await?;
        Ok((crate::recommendations::in_order(&first, users), total))
    }

    async fn mutual_friend_counts(
        &self,
        viewer: UserId,
        others: &[UserId],
        now: DateTime<Utc>,
    ) -> Result<HashMap<UserId, u32>> {
        if others.is_empty() {
            return Ok(HashMap::new());
        }
        crate::recommendations::mutual_friend_counts(&self.db.conn, viewer, others, now).await
    }

    async fn friend_recommendations(
        &self,
        me: UserId,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<amity_domain::friends::RecommendationRow>> {
        crate::recommendations::recommendations(&self.db.conn, me, limit, now).await
    }

    async fn dismiss_recommendation(
        &self,
        me: UserId,
        other: UserId,
        at: DateTime<Utc>,
    ) -> Result<()> {
        use crate::entities::dismissed_recommendation as d;
        d::Entity::insert(d::ActiveModel {
            user_id: Set(me.as_uuid()),
            dismissed_id: Set(other.as_uuid()),
            dismissed_at: Set(to_micros(at)),
        })
        .on_conflict(
            OnConflict::columns([d::Column::UserId, d::Column::DismissedId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db.conn)
        .await
        // The other user was checked just before: a missing row is the caller's.
        .map_err(crate::convert::caller_write_err)?;
        Ok(())
    }

    async fn adjacency(&self, owners: &[UserId]) -> Result<HashMap<UserId, Adjacency>> {
        let mut all: HashMap<UserId, Adjacency> =
            owners.iter().map(|o| (*o, Adjacency::default())).collect();
        // Three parameters per owner; chunks keep every statement well under SQLite's and
        // PostgreSQL's limits on bound parameters.
        for chunk in owners.chunks(ADJACENCY_CHUNK) {
            let ids = reads::id_list(chunk.iter().map(|o| o.as_uuid()), ADJACENCY_CHUNK);
            let sql = reads::adjacency_sql(ids.len());
            let params: Vec<Param> = [ids.clone(), ids.clone(), ids].concat();
            let rows: Vec<reads::AdjacencyRow> = reads::fetch_all(&self.db, &sql, &params).await?;
            for (kind, owner, other, state, updated_at, metadata, source) in rows {
                let Some(adjacency) = all.get_mut(&UserId::from_uuid(owner)) else {
                    continue;
                };
                let other = UserId::from_uuid(other);
                match kind {
                    0 => adjacency.edges.push(AdjacentEdge {
                        other,
                        state: state_from_rank(state)?,
                        updated_at: from_micros(updated_at),
                        metadata: metadata_from_text(metadata.as_deref()),
                        source: source.as_deref().and_then(|s| s.parse().ok()),
                    }),
                    1 => adjacency.blocked_by.push(other),
                    _ => adjacency.dismissed.push(other),
                }
            }
        }
        Ok(all)
    }
}

#[async_trait]
impl ModerationStore for SqlStore {
    async fn begin_moderation(&self) -> Result<Box<dyn ModerationTransaction>> {
        Ok(Box::new(SqlTransaction::begin(&self.db).await?))
    }

    /// A deleted account (a tombstone) has no status: its tokens are refused as unknown.
    async fn access_status(&self, user: UserId) -> Result<Option<AccessStatus>> {
        let Some(mut status) = user::Entity::find_by_id(user.as_uuid())
            .filter(user::Column::DeletedAt.is_null())
            .one(&self.db.conn)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(access_from_row)
            .transpose()?
        else {
            return Ok(None);
        };
        status.sessions = crate::sessions::live_sessions(&self.db.conn, user).await?;
        Ok(Some(status))
    }

    async fn moderation_log(
        &self,
        before: Option<ModerationEntryId>,
        limit: u32,
    ) -> Result<Vec<ModerationEntry>> {
        use moderation_log::Column as C;
        let mut select = moderation_log::Entity::find();
        if let Some(before) = before {
            select = select.filter(C::Id.lt(before.as_uuid()));
        }
        let select = select.order_by_desc(C::Id).limit(u64::from(limit));
        self.all(select, moderation_entry_from_row).await
    }

    async fn moderation_targets_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(ModerationEntryId, UserId, DateTime<Utc>)>> {
        use moderation_log::Column as C;
        let rows: Vec<(Uuid, Uuid, i64)> = moderation_log::Entity::find()
            .select_only()
            .column(C::Id)
            .column(C::TargetId)
            .column(C::CreatedAt)
            .filter(C::CreatedAt.gte(to_micros(since)))
            .into_tuple()
            .all(&self.db.conn)
            .await
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, target, at)| {
                (
                    ModerationEntryId::from_uuid(id),
                    UserId::from_uuid(target),
                    from_micros(at),
                )
            })
            .collect())
    }
}

#[async_trait]
impl NotificationStore for SqlStore {
    async fn list_notifications(
        &self,
        recipient: UserId,
        after: Option<NotificationId>,
        limit: u32,
    ) -> Result<Vec<Notification>> {
        use notification::Column as C;
        let mut select =
            notification::Entity::find().filter(C::RecipientId.eq(recipient.as_uuid()));
        if let Some(after) = after {
            select = select.filter(C::Id.gt(after.as_uuid()));
        }
        let select = select.order_by_asc(C::Id).limit(u64::from(limit));
        self.all(select, notification_from_row).await
    }

    async fn mark_notifications_read(
        &self,
        recipient: UserId,
        ids: &[NotificationId],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        use notification::Column as C;
        let result = notification::Entity::update_many()
            .col_expr(C::ReadAt, Expr::value(to_micros(at)))
            .filter(C::RecipientId.eq(recipient.as_uuid()))
            .filter(C::Id.is_in(ids.iter().map(NotificationId::as_uuid)))
            .filter(C::ReadAt.is_null())
            .exec(&self.db.conn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected)
    }

    async fn delete_notifications(&self, recipient: UserId, ids: &[NotificationId]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        use notification::Column as C;
        let result = notification::Entity::delete_many()
            .filter(C::RecipientId.eq(recipient.as_uuid()))
            .filter(C::Id.is_in(ids.iter().map(NotificationId::as_uuid)))
            .exec(&self.db.conn)
            .await
            .map_err(db_err)?;
        Ok(result.rows_affected)
    }

    async fn notifications_by_ids(&self, ids: &[NotificationId]) -> Result<Vec<Notification>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let select = notification::Entity::find()
            .filter(notification::Column::Id.is_in(ids.iter().map(NotificationId::as_uuid)));
        self.all(select, notification_from_row).await
    }

    async fn notification_counts(&self, recipient: UserId) -> Result<(u64, u64)> {
        accounts::notification_counts(&self.db, recipient).await
    }

    async fn insert_notification_job(&self, job: &NotificationJob) -> Result<u64> {
        accounts::insert_notification_job(&self.db, job).await
    }

    async fn unfinished_notification_jobs(&self) -> Result<Vec<NotificationJob>> {
        accounts::unfinished_notification_jobs(&self.db).await
    }

    async fn run_notification_batch(
        &self,
        job: JobId,
        batch: u32,
        at: DateTime<Utc>,
        new_id: &(dyn Fn() -> NotificationId + Send + Sync),
    ) -> Result<Option<Vec<(UserId, NotificationId)>>> {
        accounts::run_notification_batch(&self.db, job, batch, at, new_id).await
    }
}

#[async_trait]
impl MessageStore for SqlStore {
    async fn begin_messages(&self) -> Result<Box<dyn MessageTransaction>> {
        Ok(Box::new(SqlTransaction::begin(&self.db).await?))
    }

    async fn direct_messages(
        &self,
        a: UserId,
        b: UserId,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<DirectMessage>> {
        use direct_message::Column as C;
        let (low, high) = conversation(a, b);
        let mut select = direct_message::Entity::find()
            .filter(C::UserLow.eq(low))
            .filter(C::UserHigh.eq(high));
        if let Some(before) = before {
            select = select.filter(C::Id.lt(before.as_uuid()));
        }
        let select = select.order_by_desc(C::Id).limit(u64::from(limit));
        self.all(select, |row| Ok(message_from_row(row))).await
    }

    async fn direct_messages_by_ids(&self, ids: &[MessageId]) -> Result<Vec<DirectMessage>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let select = direct_message::Entity::find()
            .filter(direct_message::Column::Id.is_in(ids.iter().map(MessageId::as_uuid)));
        self.all(select, |row| Ok(message_from_row(row))).await
    }

    async fn direct_messages_of(
        &self,
        user: UserId,
        after: Option<MessageId>,
        limit: u32,
    ) -> Result<Vec<DirectMessage>> {
        accounts::direct_messages_of(&self.db, user, after, limit).await
    }
}

#[async_trait]
impl SocialLinkStore for SqlStore {
    async fn begin_links(&self) -> Result<Box<dyn LinkTransaction>> {
        Ok(Box::new(SqlTransaction::begin(&self.db).await?))
    }

    async fn user_by_external(&self, network: Network, external_id: &str) -> Result<Option<User>> {
        let Some(link) = external_account::Entity::find_by_id((
            network.as_str().to_owned(),
            external_id.to_owned(),
        ))
        .one(&self.db.conn)
        .await
        .map_err(db_err)?
        else {
            return Ok(None);
        };
        self.user_by_id(UserId::from_uuid(link.user_id)).await
    }

    async fn external_id_of(&self, user: UserId, network: Network) -> Result<Option<String>> {
        use external_account::Column as C;
        Ok(external_account::Entity::find()
            .filter(C::UserId.eq(user.as_uuid()))
            .filter(C::Network.eq(network.as_str()))
            .one(&self.db.conn)
            .await
            .map_err(db_err)?
            .map(|link| link.external_id))
    }

    async fn unlink_external(&self, user: UserId, network: Network) -> Result<Unlinked> {
        accounts::unlink_external(&self.db, user, network).await
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn is_ready(&self) -> bool {
        self.db.ping().await
    }
}
