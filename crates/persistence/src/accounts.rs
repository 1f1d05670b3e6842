//! The account lifecycle on SQL: credentials by id, guest devices, handle changes, deletion
//! (the row stays as a tombstone), prefix search, unlinking, notification counts and the
//! batches of notification jobs. [`crate::SqlStore`]'s port methods call these; each write is
//! one transaction.

use amity_domain::accounts::sessions::SessionScope;
use amity_domain::accounts::{NewUser, User, tombstone_key};
use amity_domain::notifications::NotificationCode;
use amity_domain::ports::{
    NewNotification, NotificationJob, SignInMethods, Unlinked, WriteTransaction,
};
use amity_domain::social::Network;
use amity_domain::time::{from_micros, to_micros};
use amity_domain::{DomainError, Handle, JobId, NotificationId, Result, SessionId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, SqlErr,
};
use uuid::Uuid;

use crate::convert::{db_err, user_from_row};
use crate::entities::{
    direct_message, dismissed_recommendation, external_account, friend_edge, notification,
    notification_job, presence, user,
};
use crate::queries::insert_user_row_with;
use crate::reads;
use crate::rows::{UserRecord, UserRow, user_columns};
use crate::sessions::{end_user_sessions, for_update};
use crate::sql::{Param, not_banned_at};
use crate::transaction::SqlTransaction;
use crate::{Backend, Database};

/// A live (not deleted) user's row.
async fn live_row(conn: &impl ConnectionTrait, id: UserId) -> Result<Option<user::Model>> {
    user::Entity::find_by_id(id.as_uuid())
        .filter(user::Column::DeletedAt.is_null())
        .one(conn)
        .await
        .map_err(db_err)
}

/// A live user and their password hash.
pub(crate) async fn credentials_by_id(
    db: &Database,
    id: UserId,
) -> Result<Option<(User, Option<String>)>> {
    let Some(mut row) = live_row(&db.conn, id).await? else {
        return Ok(None);
    };
    let hash = row.password_hash.take();
    Ok(Some((user_from_row(row)?, hash)))
}

/// How a live user can sign in.
pub(crate) async fn sign_in_methods(
    conn: &impl ConnectionTrait,
    id: UserId,
) -> Result<Option<SignInMethods>> {
    let Some(row) = live_row(conn, id).await? else {
        return Ok(None);
    };
    let links: Vec<(String, String)> = external_account::Entity::find()
        .select_only()
        .column(external_account::Column::Network)
        .column(external_account::Column::ExternalId)
        .filter(external_account::Column::UserId.eq(id.as_uuid()))
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    let mut networks = Vec::with_capacity(links.len());
    for (network, external) in links {
        let network: Network = network
            .parse()
            .map_err(|e: String| DomainError::Storage(e.into()))?;
        networks.push((network, external));
    }
    Ok(Some(SignInMethods {
        password: row.password_hash.is_some(),
        device: row.device_key.is_some(),
        networks,
    }))
}

/// Sets the password hash, ending the other sessions with `keep`.
pub(crate) async fn set_password_hash(
    db: &Database,
    id: UserId,
    hash: &str,
    keep: Option<SessionId>,
) -> Result<Option<Vec<SessionId>>> {
    let tx = SqlTransaction::begin(db).await?;
    let conn = tx.txn();
    let updated = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash.to_owned()))
        .filter(user::Column::Id.eq(id.as_uuid()))
        .filter(user::Column::DeletedAt.is_null())
        .exec(conn)
        .await
        .map_err(db_err)?;
    if updated.rows_affected == 0 {
        return Ok(None);
    }
    let ended = match keep {
        Some(keep) => end_user_sessions(conn, id, SessionScope::AllBut(keep)).await?,
        None => Vec::new(),
    };
    WriteTransaction::commit(Box::new(tx)).await?;
    Ok(Some(ended))
}

/// Changes a live user's handle.
pub(crate) async fn change_handle(
    db: &Database,
    id: UserId,
    handle: &Handle,
) -> Result<Option<User>> {
    let result = user::Entity::update_many()
        .col_expr(
            user::Column::Handle,
            Expr::value(handle.as_str().to_owned()),
        )
        .col_expr(user::Column::HandleKey, Expr::value(handle.key()))
        .filter(user::Column::Id.eq(id.as_uuid()))
        .filter(user::Column::DeletedAt.is_null())
        .exec(&db.conn)
        .await;
    match result {
        Ok(done) if done.rows_affected == 0 => Ok(None),
        Ok(_) => live_row(&db.conn, id).await?.map(user_from_row).transpose(),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Err(DomainError::HandleTaken(handle.to_string()))
        }
        Err(e) => Err(db_err(e)),
    }
}

/// The live guest account of a device.
pub(crate) async fn user_by_device(db: &Database, key: &str) -> Result<Option<User>> {
    user::Entity::find()
        .filter(user::Column::DeviceKey.eq(key))
        .filter(user::Column::DeletedAt.is_null())
        .one(&db.conn)
        .await
        .map_err(db_err)?
        .map(user_from_row)
        .transpose()
}

/// Stores a guest user; `None` when the device already has one.
pub(crate) async fn insert_device_user(
    db: &Database,
    new: &NewUser,
    key: &str,
) -> Result<Option<User>> {
    match insert_user_row_with(&db.conn, new, Some(key)).await {
        Ok(user) => Ok(Some(user)),
        // Either unique key: the device (a concurrent first sign-in won) or the handle.
        Err(DomainError::HandleTaken(handle)) => {
            if user_by_device(db, key).await?.is_some() {
                Ok(None)
            } else {
                Err(DomainError::HandleTaken(handle))
            }
        }
        Err(e) => Err(e),
    }
}

/// Deletes an account, leaving a tombstone; the users who had an edge with it.
pub(crate) async fn delete_user(
    db: &Database,
    id: UserId,
    at: DateTime<Utc>,
) -> Result<Option<Vec<UserId>>> {
    let tx = SqlTransaction::begin(db).await?;
    let conn = tx.txn();
    let me = id.as_uuid();
    // Locked: a concurrent friend request to this user waits, then finds no one.
    let found: Option<Uuid> = user::Entity::find_by_id(me)
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::DeletedAt.is_null())
        .apply_if(for_update(db.backend), |q, ()| q.lock_exclusive())
        .into_tuple()
        .one(conn)
        .await
        .map_err(db_err)?;
    if found.is_none() {
        return Ok(None);
    }
    let mine: Vec<Uuid> = friend_edge::Entity::find()
        .select_only()
        .column(friend_edge::Column::FriendId)
        .filter(friend_edge::Column::UserId.eq(me))
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    let theirs: Vec<Uuid> = friend_edge::Entity::find()
        .select_only()
        .column(friend_edge::Column::UserId)
        .filter(friend_edge::Column::FriendId.eq(me))
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    let mut others: Vec<UserId> = mine
        .into_iter()
        .chain(theirs)
        .map(UserId::from_uuid)
        .collect();
    others.sort();
    others.dedup();
    let either = |a: SimpleExpr, b: SimpleExpr| a.or(b);
    delete_where::<friend_edge::Entity>(
        conn,
        either(
            friend_edge::Column::UserId.eq(me),
            friend_edge::Column::FriendId.eq(me),
        ),
    )
    .await?;
    delete_where::<dismissed_recommendation::Entity>(
        conn,
        either(
            dismissed_recommendation::Column::UserId.eq(me),
            dismissed_recommendation::Column::DismissedId.eq(me),
        ),
    )
    .await?;
    delete_where::<external_account::Entity>(conn, external_account::Column::UserId.eq(me)).await?;
    end_user_sessions(conn, id, SessionScope::All).await?;
    delete_where::<presence::Entity>(conn, presence::Column::UserId.eq(me)).await?;
    delete_where::<notification::Entity>(
        conn,
        either(
            notification::Column::RecipientId.eq(me),
            notification::Column::SenderId.eq(me),
        ),
    )
    .await?;
    delete_where::<direct_message::Entity>(
        conn,
        either(
            direct_message::Column::SenderId.eq(me),
            direct_message::Column::RecipientId.eq(me),
        ),
    )
    .await?;
    let null_text = || SimpleExpr::from(Expr::value(Option::<String>::None));
    user::Entity::update_many()
        .col_expr(user::Column::Handle, Expr::value(tombstone_key(id)))
        .col_expr(user::Column::HandleKey, Expr::value(tombstone_key(id)))
        .col_expr(user::Column::DisplayName, null_text())
        .col_expr(user::Column::DisplayNameKey, null_text())
        .col_expr(user::Column::AvatarUrl, null_text())
        .col_expr(user::Column::Metadata, null_text())
        .col_expr(user::Column::PasswordHash, null_text())
        .col_expr(user::Column::DeviceKey, null_text())
        .col_expr(user::Column::DeletedAt, Expr::value(to_micros(at)))
        .filter(user::Column::Id.eq(me))
        .exec(conn)
        .await
        .map_err(db_err)?;
    WriteTransaction::commit(Box::new(tx)).await?;
    Ok(Some(others))
}

/// Deletes the rows of `E` that match `condition`.
async fn delete_where<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    condition: SimpleExpr,
) -> Result<()> {
    E::delete_many()
        .filter(condition)
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The key compared byte by byte: on PostgreSQL under the "C" collation, which the prefix
/// indexes are built with (SQLite compares bytes already).
fn key_column(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Postgres => format!("u.{column} COLLATE \"C\""),
        Backend::Sqlite => format!("u.{column}"),
    }
}

/// Live users, not banned at `now`, whose handle or display name starts with `prefix`, by
/// handle. Two index range scans (`idx_users_handle_prefix`,
/// `idx_users_display_name_prefix`), merged.
pub(crate) async fn search_users(
    db: &Database,
    prefix: &str,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Vec<User>> {
    // Every string that starts with `prefix` sorts in [prefix, prefix + U+10FFFF).
    let upper = format!("{prefix}\u{10FFFF}");
    let mut found: std::collections::BTreeMap<String, User> = std::collections::BTreeMap::new();
    for column in ["handle_key", "display_name_key"] {
        let key = key_column(db.backend, column);
        let sql = format!(
            "SELECT {} FROM users u WHERE {key} >= ? AND {key} < ? AND u.deleted_at IS NULL \
             AND {} ORDER BY {key} LIMIT ?",
            user_columns!(),
            not_banned_at!("u"),
        );
        let params = [
            Param::Text(prefix.to_owned()),
            Param::Text(upper.clone()),
            Param::BigInt(to_micros(now)),
            Param::BigInt(i64::from(limit)),
        ];
        let rows: Vec<UserRow> = reads::fetch_all(db, &sql, &params).await?;
        for row in rows {
            let user = User::try_from(UserRecord::from(row))?;
            found.insert(user.handle.key(), user);
        }
    }
    Ok(found
        .into_values()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect())
}

/// Unlinks a network unless it is the last way in, in one transaction with the user locked.
pub(crate) async fn unlink_external(
    db: &Database,
    id: UserId,
    network: Network,
) -> Result<Unlinked> {
    let tx = SqlTransaction::begin(db).await?;
    let conn = tx.txn();
    let locked: Option<Uuid> = user::Entity::find_by_id(id.as_uuid())
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::DeletedAt.is_null())
        .apply_if(for_update(db.backend), |q, ()| q.lock_exclusive())
        .into_tuple()
        .one(conn)
        .await
        .map_err(db_err)?;
    if locked.is_none() {
        return Ok(Unlinked::NoUser);
    }
    let Some(methods) = sign_in_methods(conn, id).await? else {
        return Ok(Unlinked::NoUser);
    };
    let Some((_, external)) = methods.networks.iter().find(|(n, _)| *n == network) else {
        return Ok(Unlinked::NotLinked);
    };
    if methods.count() <= 1 {
        return Ok(Unlinked::LastWayIn);
    }
    external_account::Entity::delete_by_id((network.as_str().to_owned(), external.clone()))
        .exec(conn)
        .await
        .map_err(db_err)?;
    WriteTransaction::commit(Box::new(tx)).await?;
    Ok(Unlinked::Done)
}

/// Unread and total notifications of a recipient (the recipient index serves both).
pub(crate) async fn notification_counts(db: &Database, recipient: UserId) -> Result<(u64, u64)> {
    let mine = || {
        notification::Entity::find()
            .filter(notification::Column::RecipientId.eq(recipient.as_uuid()))
    };
    let total = mine().count(&db.conn).await.map_err(db_err)?;
    let unread = mine()
        .filter(notification::Column::ReadAt.is_null())
        .count(&db.conn)
        .await
        .map_err(db_err)?;
    Ok((unread, total))
}

fn job_from_row(row: notification_job::Model) -> NotificationJob {
    NotificationJob {
        id: JobId::from_uuid(row.id),
        subject: row.subject,
        content: row
            .content
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_else(|| serde_json::json!({})),
        created_at: from_micros(row.created_at),
        delivered: u64::try_from(row.delivered).unwrap_or(0),
        finished_at: row.finished_at.map(from_micros),
    }
}

/// Records a job.
pub(crate) async fn insert_notification_job(db: &Database, job: &NotificationJob) -> Result<u64> {
    use sea_orm::{ActiveModelTrait, Set};
    notification_job::ActiveModel {
        id: Set(job.id.as_uuid()),
        subject: Set(job.subject.clone()),
        content: Set(Some(job.content.to_string())),
        created_at: Set(to_micros(job.created_at)),
        cursor: Set(None),
        delivered: Set(0),
        finished_at: Set(None),
    }
    .insert(&db.conn)
    .await
    .map_err(db_err)?;
    user::Entity::find()
        .filter(user::Column::DeletedAt.is_null())
        .count(&db.conn)
        .await
        .map_err(db_err)
}

/// Jobs not finished, oldest first.
pub(crate) async fn unfinished_notification_jobs(db: &Database) -> Result<Vec<NotificationJob>> {
    Ok(notification_job::Entity::find()
        .filter(notification_job::Column::FinishedAt.is_null())
        .order_by_asc(notification_job::Column::Id)
        .all(&db.conn)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(job_from_row)
        .collect())
}

/// The next batch of a job, in one transaction with the job's row locked.
pub(crate) async fn run_notification_batch(
    db: &Database,
    job: JobId,
    batch: u32,
    at: DateTime<Utc>,
    new_id: &(dyn Fn() -> NotificationId + Send + Sync),
) -> Result<Option<Vec<(UserId, NotificationId)>>> {
    let mut tx = SqlTransaction::begin(db).await?;
    let Some(row) = notification_job::Entity::find_by_id(job.as_uuid())
        .filter(notification_job::Column::FinishedAt.is_null())
        .apply_if(for_update(db.backend), |q, ()| q.lock_exclusive())
        .one(tx.txn())
        .await
        .map_err(db_err)?
    else {
        return Ok(None);
    };
    let mut next = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::DeletedAt.is_null())
        .order_by_asc(user::Column::Id)
        .limit(u64::from(batch));
    if let Some(cursor) = row.cursor {
        next = next.filter(user::Column::Id.gt(cursor));
    }
    let recipients: Vec<Uuid> = next.into_tuple().all(tx.txn()).await.map_err(db_err)?;
    let content = job_from_row(row.clone()).content;
    let items: Vec<NewNotification> = recipients
        .iter()
        .map(|recipient| NewNotification {
            id: new_id(),
            recipient: UserId::from_uuid(*recipient),
            code: NotificationCode::System,
            subject: row.subject.clone(),
            content: content.clone(),
            sender: None,
        })
        .collect();
    tx.insert_notifications(&items, at).await?;
    let mut update = notification_job::Entity::update_many()
        .filter(notification_job::Column::Id.eq(row.id))
        .col_expr(
            notification_job::Column::Delivered,
            Expr::value(row.delivered + i64::try_from(items.len()).unwrap_or(0)),
        );
    update = match recipients.last() {
        Some(last) => update.col_expr(notification_job::Column::Cursor, Expr::value(*last)),
        None => update.col_expr(
            notification_job::Column::FinishedAt,
            Expr::value(to_micros(at)),
        ),
    };
    update.exec(tx.txn()).await.map_err(db_err)?;
    WriteTransaction::commit(Box::new(tx)).await?;
    Ok(Some(items.iter().map(|n| (n.recipient, n.id)).collect()))
}

/// Every message `user` sent or received after `after`, oldest first.
pub(crate) async fn direct_messages_of(
    db: &Database,
    user: UserId,
    after: Option<amity_domain::MessageId>,
    limit: u32,
) -> Result<Vec<amity_domain::messages::DirectMessage>> {
    let me = user.as_uuid();
    let mut select = direct_message::Entity::find().filter(
        direct_message::Column::SenderId
            .eq(me)
            .or(direct_message::Column::RecipientId.eq(me)),
    );
    if let Some(after) = after {
        select = select.filter(direct_message::Column::Id.gt(after.as_uuid()));
    }
    Ok(select
        .order_by_asc(direct_message::Column::Id)
        .limit(u64::from(limit))
        .all(&db.conn)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(crate::convert::message_from_row)
        .collect())
}
