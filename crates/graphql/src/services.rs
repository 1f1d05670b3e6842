//! What resolvers use: the domain services and the edge's own helpers, built once per server.

use std::sync::Arc;

use amity_domain::accounts::AccountService;
use amity_domain::accounts::lifecycle::AccountLifecycle;
use amity_domain::accounts::sessions::{SessionService, SessionSettings};
use amity_domain::events::EventBus;
use amity_domain::friends::{FriendLimits, FriendService};
use amity_domain::messages::DirectMessageService;
use amity_domain::moderation::{AccessControl, ModerationService};
use amity_domain::notifications::NotificationService;
use amity_domain::notifications::system::SystemNotifications;
use amity_domain::ports::{PasswordHasher, SecretDigest, Store};
use amity_domain::presence::PresenceService;
use amity_domain::realtime::Hub;
use amity_domain::social::{ImportService, SocialNetwork};
use amity_domain::time::Clock;

use crate::auth::tokens::TokenService;
use crate::cursor::CursorCodec;

/// The services behind the schema. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// Accounts and sign-in.
    pub accounts: AccountService,
    /// Sessions and refresh tokens.
    pub sessions: SessionService,
    /// Guest devices, password and handle changes, unlinking, deletion, export, search.
    pub lifecycle: AccountLifecycle,
    /// The friend graph.
    pub friends: FriendService,
    /// Notifications.
    pub notifications: NotificationService,
    /// System notifications from the operators, and the jobs that send them to everyone.
    pub system: SystemNotifications,
    /// Direct messages.
    pub messages: DirectMessageService,
    /// Who is online.
    pub presence: PresenceService,
    /// Accounts and friends from Facebook and Steam.
    pub imports: ImportService,
    /// Bans, roles and the audit log.
    pub moderation: ModerationService,
    /// Whether a session may still act, from memory.
    pub access: AccessControl,
    /// Routes bus events to this node's subscriptions.
    pub hub: Hub,
    /// Access tokens.
    pub tokens: TokenService,
    /// Page cursors.
    pub cursors: CursorCodec,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The store, for readiness checks.
    pub store: Arc<dyn Store>,
}

impl Services {
    /// Wires the services on one store, publishing to `bus`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn EventBus>,
        presence: PresenceService,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
        limits: FriendLimits,
        tokens: TokenService,
        cursors: CursorCodec,
        networks: Vec<Arc<dyn SocialNetwork>>,
        secrets: Arc<dyn SecretDigest>,
        session_settings: SessionSettings,
    ) -> Self {
        Self {
            lifecycle: AccountLifecycle::new(
                store.clone(),
                hasher.clone(),
                secrets.clone(),
                bus.clone(),
                clock.clone(),
            ),
            sessions: SessionService::new(
                store.clone(),
                secrets,
                bus.clone(),
                clock.clone(),
                session_settings,
            ),
            accounts: AccountService::new(store.clone(), hasher, clock.clone()),
            friends: FriendService::new(
                store.clone(),
                store.clone(),
                bus.clone(),
                clock.clone(),
                limits,
            ),
            notifications: NotificationService::new(store.clone(), clock.clone()),
            system: SystemNotifications::new(
                store.clone(),
                bus.clone(),
                clock.clone(),
                amity_domain::notifications::system::DEFAULT_BATCH,
            ),
            messages: DirectMessageService::new(store.clone(), bus.clone(), clock.clone()),
            presence,
            imports: ImportService::new(
                store.clone(),
                bus.clone(),
                clock.clone(),
                limits,
                networks,
            ),
            moderation: ModerationService::new(store.clone(), bus, clock.clone()),
            access: AccessControl::new(store.clone(), clock.clone()),
            hub: Hub::new(store.clone()),
            tokens,
            cursors,
            clock,
            store,
        }
    }
}
