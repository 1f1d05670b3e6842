//! The domain's services on [`amity_domain::memory::MemoryStore`]: no database, no network,
//! no wall clock (time is a `ManualClock`, or tokio's paused time through `TokioClock`).
//!
//! One module per service, plus `store` (the in-memory store where the services leave room)
//! and `graph_properties` (random friend operations checked against the state machine).

// The helpers of these tests fail them by panicking, as the tests themselves do (clippy's
// `allow-unwrap-in-tests` covers only `#[test]` functions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "services/access.rs"]
mod access;
#[path = "services/accounts.rs"]
mod accounts;
#[path = "services/friends.rs"]
mod friends;
#[path = "services/graph_properties.rs"]
mod graph_properties;
#[path = "services/messages.rs"]
mod messages;
#[path = "services/moderation.rs"]
mod moderation;
#[path = "services/notifications.rs"]
mod notifications;
#[path = "services/presence.rs"]
mod presence;
#[path = "services/retries.rs"]
mod retries;
#[path = "services/store.rs"]
mod store;
#[path = "services/support.rs"]
mod support;
