//! Amity's domain: what the product is, independent of how it is stored or served.
//!
//! Layout:
//! - [`ids`], [`handle`], [`input`]: parsed newtypes. A value of these types has been validated,
//!   so the rest of the code never re-checks it ("parse, don't validate").
//! - [`friends`]: the friend-graph state machine as pure functions ([`friends::state`]), the
//!   batch targets of an operation, limits, and the [`friends::FriendService`] that applies
//!   operations inside one store transaction.
//! - [`accounts`]: users, roles, sign-up and sign-in ([`accounts::AccountService`]), sessions
//!   with rotating refresh tokens ([`accounts::sessions::SessionService`]), deletion and export.
//! - [`notifications`]: persistent notifications and their service.
//! - [`messages`]: 1-on-1 direct messages between friends.
//! - [`presence`]: who is online across all nodes, and last-seen times.
//! - [`events`]: the event bus port and its in-process adapter; [`realtime`]: routing events to
//!   the subscriptions open on this node.
//! - [`ports`]: the traits that adapters (storage, password hashing, clock) implement.
//! - [`error`]: [`DomainError`], the one error type of this crate.
//!
//! The crate never names a database, HTTP or GraphQL library: adapters live in other crates.

pub mod accounts;
pub mod error;
pub mod events;
pub mod friends;
pub mod handle;
pub mod ids;
pub mod input;
/// Every port kept in memory: the reference implementation and the services' test fake.
#[cfg(feature = "memory")]
pub mod memory;
pub mod messages;
pub mod moderation;
pub mod notifications;
pub mod ports;
pub mod presence;
pub mod realtime;
pub mod social;
pub mod time;

pub use error::{DomainError, Fault, Result};
pub use handle::Handle;
pub use ids::{JobId, MessageId, ModerationEntryId, NodeId, NotificationId, SessionId, UserId};
