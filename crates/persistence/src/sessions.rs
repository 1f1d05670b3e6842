//! Sessions and their refresh tokens ([`SessionStore`] for [`SqlStore`]). Each method is one
//! transaction; on PostgreSQL the statements that decide (the token presented, the user's
//! session count) lock the rows they read, so two refreshes of one token cannot both rotate it.

use amity_domain::accounts::sessions::{NewSession, Refreshed, SessionInfo, SessionScope};
use amity_domain::ports::{SessionStore, WriteTransaction};
use amity_domain::time::{from_micros, to_micros};
use amity_domain::{DomainError, Result, SessionId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};
use uuid::Uuid;

use crate::convert::{caller_write_err, db_err};
use crate::entities::{session, session_token, user};
use crate::transaction::SqlTransaction;
use crate::{Backend, SqlStore};

/// `Some` on PostgreSQL, where the rows a decision reads are locked `FOR UPDATE` (with
/// [`QueryTrait::apply_if`]); SQLite has no row locks, and its write transaction holds the
/// database's one writer slot from its start.
pub(crate) fn for_update(backend: Backend) -> Option<()> {
    (backend == Backend::Postgres).then_some(())
}

fn info_from_row(row: session::Model) -> SessionInfo {
    SessionInfo {
        id: SessionId::from_uuid(row.id),
        user: UserId::from_uuid(row.user_id),
        device_label: row.device_label,
        created_at: from_micros(row.created_at),
        last_used_at: from_micros(row.last_used_at),
        expires_at: from_micros(row.expires_at),
    }
}

fn token_row(hash: &str, session: Uuid, now: DateTime<Utc>) -> session_token::ActiveModel {
    session_token::ActiveModel {
        hash: Set(hash.to_owned()),
        session_id: Set(session),
        created_at: Set(to_micros(now)),
        used_at: Set(None),
    }
}

/// Deletes sessions (their tokens go with them: `ON DELETE CASCADE`).
pub(crate) async fn delete_sessions(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    session_token::Entity::delete_many()
        .filter(session_token::Column::SessionId.is_in(ids.iter().copied()))
        .exec(conn)
        .await
        .map_err(db_err)?;
    session::Entity::delete_many()
        .filter(session::Column::Id.is_in(ids.iter().copied()))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn start_session(&self, new: &NewSession, keep_at_most: u32) -> Result<Vec<SessionId>> {
        let tx = SqlTransaction::begin(self.database()).await?;
        let conn = tx.txn();
        let info = &new.info;
        // The user's row, locked: concurrent sign-ins of one user count their sessions in turn.
        let exists: Option<Uuid> = user::Entity::find_by_id(info.user.as_uuid())
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::DeletedAt.is_null())
            .apply_if(for_update(self.database().backend), |q, ()| {
                q.lock_exclusive()
            })
            .into_tuple()
            .one(conn)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            return Err(DomainError::Unauthenticated(
                "the account no longer exists".into(),
            ));
        }
        session::ActiveModel {
            id: Set(info.id.as_uuid()),
            user_id: Set(info.user.as_uuid()),
            device_label: Set(info.device_label.clone()),
            created_at: Set(to_micros(info.created_at)),
            last_used_at: Set(to_micros(info.last_used_at)),
            expires_at: Set(to_micros(info.expires_at)),
        }
        .insert(conn)
        .await
        .map_err(caller_write_err)?;
        token_row(&new.refresh_digest, info.id.as_uuid(), info.created_at)
            .insert(conn)
            .await
            .map_err(db_err)?;
        // Ended or run out, they all count: the least recently used beyond the limit go.
        let beyond: Vec<Uuid> = session::Entity::find()
            .select_only()
            .column(session::Column::Id)
            .filter(session::Column::UserId.eq(info.user.as_uuid()))
            .order_by_desc(session::Column::LastUsedAt)
            .order_by_desc(session::Column::Id)
            .offset(u64::from(keep_at_most.max(1)))
            // SQLite takes an OFFSET only after a LIMIT.
            .limit(i64::MAX as u64)
            .into_tuple()
            .all(conn)
            .await
            .map_err(db_err)?;
        delete_sessions(conn, &beyond).await?;
        WriteTransaction::commit(Box::new(tx)).await?;
        Ok(beyond.into_iter().map(SessionId::from_uuid).collect())
    }

    async fn refresh_session(
        &self,
        presented: &str,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Refreshed> {
        let tx = SqlTransaction::begin(self.database()).await?;
        let conn = tx.txn();
        let Some(token) = session_token::Entity::find_by_id(presented.to_owned())
            .apply_if(for_update(self.database().backend), |q, ()| {
                q.lock_exclusive()
            })
            .one(conn)
            .await
            .map_err(db_err)?
        else {
            return Ok(Refreshed::Unknown);
        };
        let Some(found) = session::Entity::find_by_id(token.session_id)
            .apply_if(for_update(self.database().backend), |q, ()| {
                q.lock_exclusive()
            })
            .one(conn)
            .await
            .map_err(db_err)?
        else {
            return Ok(Refreshed::Unknown);
        };
        if token.used_at.is_some() {
            delete_sessions(conn, &[found.id]).await?;
            WriteTransaction::commit(Box::new(tx)).await?;
            return Ok(Refreshed::Reused {
                session: SessionId::from_uuid(found.id),
                user: UserId::from_uuid(found.user_id),
            });
        }
        if found.expires_at <= to_micros(now) {
            return Ok(Refreshed::Expired);
        }
        let info = rotate(conn, found, next, now, expires_at).await?;
        WriteTransaction::commit(Box::new(tx)).await?;
        Ok(Refreshed::Rotated(info))
    }

    async fn replace_refresh_token(
        &self,
        session: SessionId,
        next: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>> {
        let tx = SqlTransaction::begin(self.database()).await?;
        let conn = tx.txn();
        let Some(found) = session::Entity::find_by_id(session.as_uuid())
            .filter(session::Column::ExpiresAt.gt(to_micros(now)))
            .apply_if(for_update(self.database().backend), |q, ()| {
                q.lock_exclusive()
            })
            .one(conn)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let info = rotate(conn, found, next, now, expires_at).await?;
        WriteTransaction::commit(Box::new(tx)).await?;
        Ok(Some(info))
    }

    async fn sessions_of(&self, user: UserId, now: DateTime<Utc>) -> Result<Vec<SessionInfo>> {
        Ok(session::Entity::find()
            .filter(session::Column::UserId.eq(user.as_uuid()))
            .filter(session::Column::ExpiresAt.gt(to_micros(now)))
            .all(&self.database().conn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(info_from_row)
            .collect())
    }

    async fn end_sessions(&self, user: UserId, scope: SessionScope) -> Result<Vec<SessionId>> {
        let tx = SqlTransaction::begin(self.database()).await?;
        let ended = end_user_sessions(tx.txn(), user, scope).await?;
        WriteTransaction::commit(Box::new(tx)).await?;
        Ok(ended)
    }
}

/// Ends (deletes) the sessions of `user` that `scope` names, inside the caller's transaction;
/// returns them.
pub(crate) async fn end_user_sessions(
    conn: &impl ConnectionTrait,
    user: UserId,
    scope: SessionScope,
) -> Result<Vec<SessionId>> {
    let mut select = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .filter(session::Column::UserId.eq(user.as_uuid()));
    select = match scope {
        SessionScope::One(id) => select.filter(session::Column::Id.eq(id.as_uuid())),
        SessionScope::All => select,
        SessionScope::AllBut(id) => select.filter(session::Column::Id.ne(id.as_uuid())),
    };
    let ids: Vec<Uuid> = select.into_tuple().all(conn).await.map_err(db_err)?;
    delete_sessions(conn, &ids).await?;
    Ok(ids.into_iter().map(SessionId::from_uuid).collect())
}

/// Marks every token of the session used, stores `next` as its current one, and moves its
/// last use and end.
async fn rotate(
    conn: &impl ConnectionTrait,
    found: session::Model,
    next: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<SessionInfo> {
    session_token::Entity::update_many()
        .col_expr(session_token::Column::UsedAt, Expr::value(to_micros(now)))
        .filter(session_token::Column::SessionId.eq(found.id))
        .filter(session_token::Column::UsedAt.is_null())
        .exec(conn)
        .await
        .map_err(db_err)?;
    token_row(next, found.id, now)
        .insert(conn)
        .await
        .map_err(db_err)?;
    let mut info = info_from_row(found);
    info.last_used_at = from_micros(to_micros(now));
    info.expires_at = from_micros(to_micros(expires_at));
    session::Entity::update_many()
        .col_expr(
            session::Column::LastUsedAt,
            Expr::value(to_micros(info.last_used_at)),
        )
        .col_expr(
            session::Column::ExpiresAt,
            Expr::value(to_micros(info.expires_at)),
        )
        .filter(session::Column::Id.eq(info.id.as_uuid()))
        .exec(conn)
        .await
        .map_err(db_err)?;
    Ok(info)
}

/// The sessions of `user` and when each ends, for the access check.
pub(crate) async fn live_sessions(
    conn: &impl ConnectionTrait,
    user: UserId,
) -> Result<Vec<(SessionId, DateTime<Utc>)>> {
    let rows: Vec<(Uuid, i64)> = session::Entity::find()
        .select_only()
        .column(session::Column::Id)
        .column(session::Column::ExpiresAt)
        .filter(session::Column::UserId.eq(user.as_uuid()))
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|(id, ends)| (SessionId::from_uuid(id), from_micros(ends)))
        .collect())
}
