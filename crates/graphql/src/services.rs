//! What resolvers use: the domain services and the edge's own helpers, built once per server.

use std::sync::Arc;

use amity_domain::accounts::AccountService;
use amity_domain::friends::{FriendLimits, FriendService};
use amity_domain::notifications::NotificationService;
use amity_domain::ports::{PasswordHasher, Store};
use amity_domain::time::Clock;

use crate::auth::tokens::TokenService;
use crate::cursor::CursorCodec;

/// The services behind the schema. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// Accounts and sign-in.
    pub accounts: AccountService,
    /// The friend graph.
    pub friends: FriendService,
    /// Notifications.
    pub notifications: NotificationService,
    /// Session tokens.
    pub tokens: TokenService,
    /// Page cursors.
    pub cursors: CursorCodec,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The store, for readiness checks.
    pub store: Arc<dyn Store>,
}

impl Services {
    /// Wires the services on one store.
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        limits: FriendLimits,
        tokens: TokenService,
        cursors: CursorCodec,
    ) -> Self {
        Self {
            accounts: AccountService::new(store.clone(), hasher, clock.clone()),
            friends: FriendService::new(store.clone(), clock.clone(), limits),
            notifications: NotificationService::new(store.clone(), clock.clone()),
            tokens,
            cursors,
            clock,
            store,
        }
    }
}
