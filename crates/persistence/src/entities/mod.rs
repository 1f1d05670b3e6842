//! sea-orm entities: the rows as stored. Converted to domain types in [`crate::convert`].

pub mod friend_edge;
pub mod notification;
pub mod user;
