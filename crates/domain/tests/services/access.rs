//! AccessControl: the per-request check from memory, its refreshes (bus events, the audit
//! log poll, revalidation) and its epochs (a load that raced a change is not cached).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use amity_domain::accounts::Role;
use amity_domain::events::{Event, EventBus};
use amity_domain::memory::MemoryStore;
use amity_domain::moderation::{
    AccessControl, AccessDenied, AccessStatus, Actor, ModerationEntry, ModerationService,
};
use amity_domain::ports::{ModerationStore, ModerationTransaction};
use amity_domain::time::Clock;
use amity_domain::{DomainError, ModerationEntryId, Result, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, watch};

use crate::support::{SilentBus, World, ids};

use amity_domain::moderation::REVALIDATE_AFTER;

fn system() -> Actor {
    Actor::System("tests".into())
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

#[tokio::test]
async fn a_ban_refuses_sessions_and_an_unban_keeps_older_ones_revoked() {
    let w = World::new();
    let u = w.user("ann").await;
    let access = AccessControl::new(w.store.clone(), w.clock.clone());
    tokio::spawn(access.clone().follow(w.bus.subscribe()));
    let issued = w.clock.now() - minutes(1);
    assert_eq!(access.admit(u.id, issued).await.unwrap(), Ok(Role::User));

    let mut watch = access.watch(u.id);
    w.tick();
    let banned_at = w.clock.now();
    w.moderation
        .ban(&system(), &ids(&[&u]), Some("spam"), None)
        .await
        .unwrap();
    // The bus event reaches `follow`, which forgets the cached status and wakes watchers.
    watch.changed().await;
    match access.admit(u.id, issued).await.unwrap() {
        Err(AccessDenied::Banned(ban)) => {
            assert_eq!(ban.since, banned_at);
            assert_eq!(ban.reason.as_deref(), Some("spam"));
            assert_eq!(ban.until, None);
        }
        other => panic!("expected a ban, got {other:?}"),
    }
    // A token issued during the ban is refused for the ban too.
    let during = w.clock.now() + minutes(1);
    assert!(matches!(
        access.admit(u.id, during).await.unwrap(),
        Err(AccessDenied::Banned(_))
    ));

    w.tick();
    w.moderation.unban(&system(), &ids(&[&u])).await.unwrap();
    watch.changed().await;
    // Sessions issued up to the ban stay dead; later ones are good.
    assert_eq!(
        access.admit(u.id, issued).await.unwrap(),
        Err(AccessDenied::Revoked)
    );
    assert_eq!(
        access.admit(u.id, banned_at).await.unwrap(),
        Err(AccessDenied::Revoked)
    );
    assert_eq!(access.admit(u.id, during).await.unwrap(), Ok(Role::User));
}

#[tokio::test]
async fn a_cached_status_is_used_until_forgotten_or_stale() {
    let w = World::new();
    let u = w.user("ann").await;
    // No `follow`: nothing tells this node of changes but revalidation.
    let access = AccessControl::new(w.store.clone(), w.clock.clone());
    let issued = w.clock.now();
    w.tick();
    assert_eq!(access.admit(u.id, issued).await.unwrap(), Ok(Role::User));
    w.moderation
        .set_role(&Actor::CommandLine, "ann", Role::Moderator)
        .await
        .unwrap();
    // Cached: the old role, until the entry is older than REVALIDATE_AFTER...
    assert_eq!(access.admit(u.id, issued).await.unwrap(), Ok(Role::User));
    // ...though a fresh check (new websockets) reads the store at once.
    assert_eq!(
        access.admit_fresh(u.id, issued).await.unwrap(),
        Ok(Role::Moderator)
    );
    w.moderation
        .set_role(&Actor::CommandLine, "ann", Role::Admin)
        .await
        .unwrap();
    w.clock.advance(REVALIDATE_AFTER);
    assert_eq!(access.admit(u.id, issued).await.unwrap(), Ok(Role::Admin));
    // forget() drops it at once.
    w.moderation
        .set_role(&Actor::CommandLine, "ann", Role::User)
        .await
        .unwrap();
    assert_eq!(access.admit(u.id, issued).await.unwrap(), Ok(Role::Admin));
    access.forget(u.id);
    assert_eq!(access.admit(u.id, issued).await.unwrap(), Ok(Role::User));
    // Unknown users are refused as such.
    assert_eq!(
        access.admit(UserId::new(), issued).await.unwrap(),
        Err(AccessDenied::Unknown)
    );
}

/// A moderation store whose `access_status` can be held at a gate, counting loads.
struct Gated {
    inner: Arc<MemoryStore>,
    loads: AtomicU32,
    closed: AtomicBool,
    entered: Notify,
    gate: Semaphore,
}

impl Gated {
    fn new(inner: Arc<MemoryStore>) -> Self {
        Self {
            inner,
            loads: AtomicU32::new(0),
            closed: AtomicBool::new(false),
            entered: Notify::new(),
            gate: Semaphore::new(0),
        }
    }

    fn loads(&self) -> u32 {
        self.loads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ModerationStore for Gated {
    async fn begin_moderation(&self) -> Result<Box<dyn ModerationTransaction>> {
        self.inner.begin_moderation().await
    }

    async fn access_status(&self, user: UserId) -> Result<Option<AccessStatus>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        if self.closed.swap(false, Ordering::SeqCst) {
            self.entered.notify_one();
            self.gate
                .acquire()
                .await
                .map_err(|_| DomainError::Internal("gate closed".into()))?
                .forget();
        }
        self.inner.access_status(user).await
    }

    async fn moderation_log(
        &self,
        before: Option<ModerationEntryId>,
        limit: u32,
    ) -> Result<Vec<ModerationEntry>> {
        self.inner.moderation_log(before, limit).await
    }

    async fn moderation_targets_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(ModerationEntryId, UserId, DateTime<Utc>)>> {
        self.inner.moderation_targets_since(since).await
    }
}

#[tokio::test]
async fn a_load_that_raced_a_change_is_not_cached() {
    let w = World::new();
    let u = w.user("ann").await;
    let gated = Arc::new(Gated::new(w.store.clone()));
    let access = AccessControl::new(gated.clone(), w.clock.clone());
    let issued = w.clock.now();

    // Without a race, one load serves every later check.
    access.admit(u.id, issued).await.unwrap().unwrap();
    access.admit(u.id, issued).await.unwrap().unwrap();
    assert_eq!(gated.loads(), 1);
    access.forget(u.id);

    // A load starts, the status changes and is forgotten while it is under way: what it
    // read may be stale, so it answers this once and is not kept.
    gated.closed.store(true, Ordering::SeqCst);
    let racing = tokio::spawn({
        let access = access.clone();
        async move { access.admit(u.id, issued).await }
    });
    gated.entered.notified().await;
    access.forget(u.id);
    gated.gate.add_permits(1);
    assert_eq!(racing.await.unwrap().unwrap(), Ok(Role::User));
    assert_eq!(gated.loads(), 2);
    access.admit(u.id, issued).await.unwrap().unwrap();
    assert_eq!(gated.loads(), 3, "the raced load was not cached");
    access.admit(u.id, issued).await.unwrap().unwrap();
    assert_eq!(gated.loads(), 3, "the next one was");
}

#[tokio::test(start_paused = true)]
async fn the_log_poll_sees_a_ban_made_by_another_process() {
    let w = World::new();
    let u = w.user("ann").await;
    let access = AccessControl::new(w.store.clone(), w.clock.clone());
    let (stop, stopped) = watch::channel(false);
    let mut announced = w.bus.subscribe();
    let poll = tokio::spawn(access.clone().poll_log(
        Duration::from_secs(1),
        stopped,
        w.bus.clone(),
    ));
    let issued = w.clock.now() - minutes(1);
    assert_eq!(access.admit(u.id, issued).await.unwrap(), Ok(Role::User));

    // The command line on the same database, with no bus to tell the server.
    let elsewhere =
        ModerationService::new(w.store.clone(), Arc::new(SilentBus::new()), w.clock.clone());
    let mut watch = access.watch(u.id);
    elsewhere
        .ban(
            &Actor::CommandLine,
            &ids(&[&u]),
            None,
            Some(w.clock.now() + minutes(60)),
        )
        .await
        .unwrap();
    assert_eq!(
        access.admit(u.id, issued).await.unwrap(),
        Ok(Role::User),
        "still cached"
    );
    tokio::time::timeout(Duration::from_secs(5), watch.changed())
        .await
        .expect("the poll forgets the banned user within a tick");
    assert_eq!(
        announced.recv().await.unwrap(),
        Event::AccessChanged { user: u.id },
        "and announces it to the node's caches"
    );
    assert!(matches!(
        access.admit(u.id, issued).await.unwrap(),
        Err(AccessDenied::Banned(_))
    ));
    // The ban runs out by itself.
    w.clock.advance(minutes(61));
    access.forget(u.id);
    assert_eq!(
        access.admit(u.id, issued).await.unwrap(),
        Err(AccessDenied::Revoked)
    );
    assert_eq!(
        access.admit(u.id, w.clock.now()).await.unwrap(),
        Ok(Role::User)
    );

    stop.send(true).unwrap();
    poll.await.unwrap();
}
