//! Conversions between rows and domain types, and the mapping of database errors.

use amity_domain::accounts::{Role, User};
use amity_domain::friends::{FriendState, FriendView};
use amity_domain::input::Metadata;
use amity_domain::messages::{DirectMessage, MessageBody};
use amity_domain::moderation::{AccessStatus, Ban, ModerationAction, ModerationEntry};
use amity_domain::notifications::{Notification, NotificationCode};
use amity_domain::time::from_micros;
use amity_domain::{
    DomainError, Fault, Handle, MessageId, ModerationEntryId, NotificationId, UserId,
};
use sea_orm::{DbErr, RuntimeErr};
use uuid::Uuid;

use crate::entities::{direct_message, friend_edge, moderation_log, notification, user};
use crate::rows::{EdgeRecord, UserRecord};

/// Maps a database error to the domain's: serialization failures, deadlocks and a busy SQLite
/// become [`DomainError::Conflict`] (retried by services); a database that cannot be reached
/// (no pooled connection within the pool's wait, connection refused or lost, the server
/// shutting down or out of connections) becomes [`DomainError::Unavailable`]; unique violations
/// on the handle become [`DomainError::HandleTaken`] at the call site; everything else is a
/// storage failure.
pub fn db_err(err: DbErr) -> DomainError {
    let failure = match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Failure::Unavailable,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            classify(e)
        }
        _ => Failure::Other,
    };
    failure.into_error(err)
}

/// Maps the error of a write that names the caller's own user row: a foreign-key violation
/// there means the account was removed (behind the server's back), which is the caller's
/// session failing, not a storage fault.
pub fn caller_write_err(err: DbErr) -> DomainError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
            DomainError::Unauthenticated("the account no longer exists".into())
        }
        _ => db_err(err),
    }
}

/// Maps an error of a statement run through sqlx directly (the fixed-SQL reads) as
/// [`db_err`] does.
pub fn sqlx_err(err: sea_orm::sqlx::Error) -> DomainError {
    classify(&err).into_error(err)
}

/// What kind of failure a sqlx error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Another transaction got in the way: retry.
    Conflict,
    /// The database cannot be reached or is saturated: fail fast, try later.
    Unavailable,
    /// Anything else.
    Other,
}

impl Failure {
    /// The domain error for `cause`, which it keeps as its source (logged with its chain).
    fn into_error(self, cause: impl std::error::Error + Send + Sync + 'static) -> DomainError {
        match self {
            Failure::Conflict => DomainError::Conflict(Fault::caused_by(
                "another transaction got in the way",
                cause,
            )),
            Failure::Unavailable => {
                DomainError::Unavailable(Fault::caused_by("the database is unreachable", cause))
            }
            Failure::Other => {
                DomainError::Storage(Fault::caused_by("a database statement failed", cause))
            }
        }
    }
}

pub(crate) fn classify(err: &sea_orm::sqlx::Error) -> Failure {
    use sea_orm::sqlx::Error;
    match err {
        Error::PoolTimedOut | Error::PoolClosed | Error::Io(_) | Error::Tls(_) => {
            Failure::Unavailable
        }
        Error::WorkerCrashed => Failure::Unavailable,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match &*code {
                // PostgreSQL: serialization_failure, deadlock_detected, lock_not_available.
                // SQLite: SQLITE_BUSY (5) and its extended codes, SQLITE_LOCKED (6).
                "40001" | "40P01" | "55P03" | "5" | "6" | "261" | "517" | "262" => {
                    Failure::Conflict
                }
                // PostgreSQL: connection exceptions (08...), too many connections (53300),
                // admin/crash shutdown and cannot connect now (57P01-57P03).
                code if code.starts_with("08") => Failure::Unavailable,
                "53300" | "57P01" | "57P02" | "57P03" => Failure::Unavailable,
                _ => Failure::Other,
            }
        }
        _ => Failure::Other,
    }
}

/// Parses a JSON text column that should hold an object.
pub fn metadata_from_text(text: Option<&str>) -> Option<Metadata> {
    text.and_then(|t| serde_json::from_str(t).ok())
        .and_then(Metadata::from_stored)
}

/// Serializes metadata for a text column.
pub fn metadata_to_text(metadata: Option<&Metadata>) -> Option<String> {
    metadata.map(|m| serde_json::Value::Object(m.as_map().clone()).to_string())
}

/// A user row as a domain user.
pub fn user_from_row(row: user::Model) -> Result<User, DomainError> {
    User::try_from(UserRecord::from(row))
}

impl TryFrom<UserRecord> for User {
    type Error = DomainError;

    fn try_from(row: UserRecord) -> Result<Self, DomainError> {
        Ok(User {
            id: UserId::from_uuid(row.id),
            handle: Handle::from_stored(row.handle),
            display_name: row.display_name,
            avatar_url: row.avatar_url,
            metadata: metadata_from_text(row.metadata.as_deref()),
            role: role_of(row.id, &row.role)?,
            created_at: from_micros(row.created_at),
            last_seen_at: row.last_seen_at.map(from_micros),
            ban: ban_from_columns(row.banned_at, row.banned_until, row.ban_reason),
            deleted_at: row.deleted_at.map(from_micros),
        })
    }
}

/// A stored role.
fn role_of(user: Uuid, role: &str) -> Result<Role, DomainError> {
    role.parse::<Role>()
        .map_err(|e| DomainError::Storage(format!("user {user}: {e}").into()))
}

/// The ban recorded on a user row, if any.
pub fn ban_from_row(row: &user::Model) -> Option<Ban> {
    ban_from_columns(row.banned_at, row.banned_until, row.ban_reason.clone())
}

fn ban_from_columns(
    banned_at: Option<i64>,
    banned_until: Option<i64>,
    reason: Option<String>,
) -> Option<Ban> {
    banned_at.map(|since| Ban {
        since: from_micros(since),
        until: banned_until.map(from_micros),
        reason,
    })
}

/// A user row's access status.
pub fn access_from_row(row: &user::Model) -> Result<AccessStatus, DomainError> {
    Ok(AccessStatus {
        role: role_of(row.id, &row.role)?,
        ban: ban_from_row(row),
        sessions_valid_after: row.sessions_valid_after.map(from_micros),
        sessions: Vec::new(),
    })
}

/// A log row as a domain entry.
pub fn moderation_entry_from_row(
    row: moderation_log::Model,
) -> Result<ModerationEntry, DomainError> {
    let bad =
        |what: &str| DomainError::Storage(format!("moderation entry {}: {what}", row.id).into());
    Ok(ModerationEntry {
        id: ModerationEntryId::from_uuid(row.id),
        actor: row.actor_id.map(UserId::from_uuid),
        target: UserId::from_uuid(row.target_id),
        action: ModerationAction::parse(&row.action).ok_or_else(|| bad("unknown action"))?,
        role: row
            .role
            .as_deref()
            .map(str::parse::<Role>)
            .transpose()
            .map_err(|_| bad("unknown role"))?,
        reason: row.reason,
        until: row.until.map(from_micros),
        created_at: from_micros(row.created_at),
        actor_label: row.actor_label,
    })
}

/// A stored state rank as a domain state.
pub fn state_from_rank(rank: i16) -> Result<FriendState, DomainError> {
    FriendState::from_rank(rank)
        .ok_or_else(|| DomainError::Storage(format!("unknown friend state {rank}").into()))
}

/// An edge row joined with its other user as a domain view.
pub fn view_from_rows(
    edge: friend_edge::Model,
    other: user::Model,
) -> Result<FriendView, DomainError> {
    FriendView::try_from(EdgeRecord::from((edge, other)))
}

impl TryFrom<EdgeRecord> for FriendView {
    type Error = DomainError;

    fn try_from(row: EdgeRecord) -> Result<Self, DomainError> {
        Ok(FriendView {
            user: User::try_from(row.user)?,
            state: state_from_rank(row.state)?,
            updated_at: from_micros(row.updated_at),
            metadata: metadata_from_text(row.metadata.as_deref()),
            source: row.source.as_deref().and_then(|s| s.parse().ok()),
        })
    }
}

/// A notification row as a domain notification.
pub fn notification_from_row(row: notification::Model) -> Result<Notification, DomainError> {
    let code = NotificationCode::from_i16(row.code).ok_or_else(|| {
        DomainError::Storage(format!("unknown notification code {}", row.code).into())
    })?;
    Ok(Notification {
        id: NotificationId::from_uuid(row.id),
        recipient: UserId::from_uuid(row.recipient_id),
        code,
        subject: row.subject,
        content: serde_json::from_str(&row.content).unwrap_or(serde_json::Value::Null),
        sender: row.sender_id.map(UserId::from_uuid),
        created_at: from_micros(row.created_at),
        read_at: row.read_at.map(from_micros),
    })
}

/// A direct message row as a domain message.
pub fn message_from_row(row: direct_message::Model) -> DirectMessage {
    DirectMessage {
        id: MessageId::from_uuid(row.id),
        sender: UserId::from_uuid(row.sender_id),
        recipient: UserId::from_uuid(row.recipient_id),
        body: MessageBody::from_stored(row.body),
        created_at: from_micros(row.created_at),
    }
}

/// The conversation key of a pair: both ids, smaller first.
pub fn conversation(a: UserId, b: UserId) -> (uuid::Uuid, uuid::Uuid) {
    let (a, b) = (a.as_uuid(), b.as_uuid());
    if a <= b { (a, b) } else { (b, a) }
}
