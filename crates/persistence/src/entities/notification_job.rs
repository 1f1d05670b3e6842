//! The `notification_jobs` table: system notifications to every user, sent in batches.

use sea_orm::entity::prelude::*;

/// One job.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_jobs")]
pub struct Model {
    /// UUID v7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The notification's subject.
    pub subject: String,
    /// The notification's content, a JSON object as text.
    pub content: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// The last user delivered to (users are walked in id order).
    pub cursor: Option<Uuid>,
    /// Notifications stored so far.
    pub delivered: i64,
    /// When the job finished, microseconds since the epoch.
    pub finished_at: Option<i64>,
}

/// No relations are navigated from jobs.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
