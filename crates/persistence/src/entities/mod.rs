//! sea-orm entities: the rows as stored. Converted to domain types in [`crate::convert`].

pub mod direct_message;
pub mod dismissed_recommendation;
pub mod external_account;
pub mod friend_edge;
pub mod moderation_log;
pub mod node;
pub mod notification;
pub mod notification_job;
pub mod presence;
pub mod session;
pub mod session_token;
pub mod user;
