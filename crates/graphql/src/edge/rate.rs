//! Rate limits: password guessing, sign-up floods and write floods.
//!
//! Three limits, each turned off by setting it to 0 (the end-to-end suite and the benchmark do,
//! since they create many users from one address on purpose):
//! - attempts to sign in, sign up or authenticate with a network, per client address
//!   ([`RateSettings::auth_per_address`] a minute; a token bucket, so a burst of that many is
//!   allowed and the allowance refills evenly over the minute);
//! - failed sign-ins per handle and client address
//!   ([`RateSettings::signin_failures_per_handle`] per fixed 15-minute window; a successful
//!   sign-in from that address clears its count), and per handle from every address together
//!   (ten times that, so that one address cannot lock the owner out, and a crowd of addresses
//!   cannot guess forever either);
//! - mutations per signed-in user ([`RateSettings::mutations_per_user`] a second, a token
//!   bucket).
//!
//! Every alias and every operation of a batch is one attempt: the checks run in the resolvers
//! (and, for mutations, per top-level field), not per HTTP request. An attempt past a limit is
//! refused before any password is checked. The state is per node, in memory, bounded in size.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use amity_domain::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::time::Instant;

use crate::edge::address::ClientAddress;

/// The window of the failed sign-in counts.
pub const SIGNIN_FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How many times the per-address failure limit one handle takes from all addresses together.
pub const HANDLE_FAILURES_FACTOR: u32 = 10;
/// Most failure counts kept; past it the oldest windows are dropped first.
pub const MAX_TRACKED_FAILURES: usize = 200_000;

/// The configured rates; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSettings {
    /// Failed sign-ins per handle and address per 15 minutes (`AMITY_RATE_SIGNIN_FAILURES_PER_HANDLE`).
    pub signin_failures_per_handle: u32,
    /// Sign-in, sign-up and authenticate attempts per address per minute
    /// (`AMITY_RATE_AUTH_PER_ADDRESS`).
    pub auth_per_address: u32,
    /// Mutations per signed-in user per second (`AMITY_RATE_MUTATIONS_PER_USER`).
    pub mutations_per_user: u32,
}

impl Default for RateSettings {
    fn default() -> Self {
        Self {
            signin_failures_per_handle: 10,
            auth_per_address: 30,
            mutations_per_user: 50,
        }
    }
}

impl RateSettings {
    /// Every limit off.
    pub fn off() -> Self {
        Self {
            signin_failures_per_handle: 0,
            auth_per_address: 0,
            mutations_per_user: 0,
        }
    }
}

/// A refusal: which limit, and when trying again can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// The setting of the limit, without `rate_` (`auth_per_address`, ...): a metric label.
    pub limit: &'static str,
    /// What was limited, for the message.
    pub what: &'static str,
    /// How long until an attempt can succeed.
    pub retry_after: Duration,
}

impl RateLimited {
    /// `retry_after` in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// A fixed window and the count in it.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// Failed sign-ins, per (handle, address) and per handle.
#[derive(Default)]
struct Failures {
    by_address: HashMap<(String, IpAddr), Window>,
    by_handle: HashMap<String, Window>,
}

/// The node's rate limits.
pub struct RateLimits {
    settings: RateSettings,
    auth: Option<DefaultKeyedRateLimiter<IpAddr>>,
    mutations: Option<DefaultKeyedRateLimiter<UserId>>,
    failures: Mutex<Failures>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Limits with these rates.
    pub fn new(settings: RateSettings) -> Self {
        Self {
            settings,
            auth: NonZeroU32::new(settings.auth_per_address)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            mutations: NonZeroU32::new(settings.mutations_per_user)
                .map(|n| RateLimiter::keyed(Quota::per_second(n))),
            failures: Mutex::default(),
        }
    }

    /// The rates.
    pub fn settings(&self) -> RateSettings {
        self.settings
    }

    fn failures(&self) -> MutexGuard<'_, Failures> {
        // Every update is a single insert or remove: the maps stay consistent after a panic.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One sign-in, sign-up or authenticate attempt from `client`.
    pub fn auth_attempt(&self, client: ClientAddress) -> Result<(), RateLimited> {
        let Some(limiter) = &self.auth else {
            return Ok(());
        };
        limiter
            .check_key(&client.rate_key())
            .map_err(|not_until| RateLimited {
                limit: "auth_per_address",
                what: "sign-in and sign-up attempts from your address",
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// `count` mutations of `user` at once (all or none are allowed).
    pub fn mutations(&self, user: UserId, count: u32) -> Result<(), RateLimited> {
        let (Some(limiter), Some(count)) = (&self.mutations, NonZeroU32::new(count)) else {
            return Ok(());
        };
        match limiter.check_key_n(&user, count) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(RateLimited {
                limit: "mutations_per_user",
                what: "changes by your account",
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }),
            // More at once than the bucket ever holds.
            Err(_) => Err(RateLimited {
                limit: "mutations_per_user",
                what: "changes in one request for your account's rate",
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    /// Reserves one password attempt on `handle` from `client`, counted as a failure until
    /// [`RateLimits::signin_succeeded`] or [`RateLimits::signin_abandoned`] says otherwise, so
    /// that attempts running at once (a batch) cannot all pass the check before any of them
    /// has failed. Refused when either count is at its limit.
    pub fn signin_attempt(&self, handle: &str, client: ClientAddress) -> Result<(), RateLimited> {
        let limit = self.settings.signin_failures_per_handle;
        if limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let handle = handle_key(handle);
        let mut failures = self.failures();
        let address_key = (handle.clone(), client.rate_key());
        let refused = |window: Option<&Window>, limit: u32| {
            window
                .filter(|w| now < w.started + SIGNIN_FAILURE_WINDOW && w.count >= limit)
                .map(|w| w.started + SIGNIN_FAILURE_WINDOW - now)
        };
        let per_address = refused(failures.by_address.get(&address_key), limit);
        let per_handle = refused(
            failures.by_handle.get(&handle),
            limit.saturating_mul(HANDLE_FAILURES_FACTOR),
        );
        if let Some(retry_after) = per_address.max(per_handle) {
            return Err(RateLimited {
                limit: "signin_failures_per_handle",
                what: "failed sign-ins to this account",
                retry_after,
            });
        }
        if failures.by_address.len() >= MAX_TRACKED_FAILURES
            || failures.by_handle.len() >= MAX_TRACKED_FAILURES
        {
            prune(&mut failures, now);
        }
        bump(
            failures.by_address.entry(address_key).or_insert(Window {
                started: now,
                count: 0,
            }),
            now,
        );
        bump(
            failures.by_handle.entry(handle).or_insert(Window {
                started: now,
                count: 0,
            }),
            now,
        );
        Ok(())
    }

    /// The reserved attempt was the right password: the address's count is cleared, and the
    /// attempt no longer counts against the handle.
    pub fn signin_succeeded(&self, handle: &str, client: ClientAddress) {
        if self.settings.signin_failures_per_handle == 0 {
            return;
        }
        let handle = handle_key(handle);
        let mut failures = self.failures();
        failures
            .by_address
            .remove(&(handle.clone(), client.rate_key()));
        unbump(failures.by_handle.get_mut(&handle));
    }

    /// The reserved attempt ended without checking the password (the server could not): it
    /// does not count.
    pub fn signin_abandoned(&self, handle: &str, client: ClientAddress) {
        if self.settings.signin_failures_per_handle == 0 {
            return;
        }
        let handle = handle_key(handle);
        let mut failures = self.failures();
        unbump(
            failures
                .by_address
                .get_mut(&(handle.clone(), client.rate_key())),
        );
        unbump(failures.by_handle.get_mut(&handle));
    }

    /// Forgets what no longer limits anyone (call it now and then; the server does every
    /// minute).
    pub fn sweep(&self) {
        if let Some(limiter) = &self.auth {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.mutations {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        prune(&mut self.failures(), Instant::now());
    }

    /// How many keys the limits hold (for tests and metrics).
    pub fn tracked(&self) -> usize {
        let failures = self.failures();
        failures.by_address.len()
            + failures.by_handle.len()
            + self.auth.as_ref().map_or(0, |l| l.len())
            + self.mutations.as_ref().map_or(0, |l| l.len())
    }
}

/// Handles are case-insensitive; a long string (never a valid handle) is cut so that a key
/// stays small.
fn handle_key(handle: &str) -> String {
    handle
        .chars()
        .take(40)
        .flat_map(char::to_lowercase)
        .collect()
}

fn unbump(window: Option<&mut Window>) {
    if let Some(window) = window {
        window.count = window.count.saturating_sub(1);
    }
}

fn bump(window: &mut Window, now: Instant) {
    if now >= window.started + SIGNIN_FAILURE_WINDOW {
        *window = Window {
            started: now,
            count: 0,
        };
    }
    window.count = window.count.saturating_add(1);
}

/// Drops expired windows; if a table is still full, its oldest half.
fn prune(failures: &mut Failures, now: Instant) {
    prune_table(&mut failures.by_address, now);
    prune_table(&mut failures.by_handle, now);
}

fn prune_table<K: std::hash::Hash + Eq>(table: &mut HashMap<K, Window>, now: Instant) {
    table.retain(|_, w| now < w.started + SIGNIN_FAILURE_WINDOW);
    if table.len() >= MAX_TRACKED_FAILURES {
        let mut starts: Vec<Instant> = table.values().map(|w| w.started).collect();
        starts.sort_unstable();
        let cut = starts[starts.len() / 2];
        table.retain(|_, w| w.started > cut);
        tracing::warn!(
            kept = table.len(),
            "the failed sign-in table was full; dropped its oldest half"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(last: u8) -> ClientAddress {
        ClientAddress::from_ip(IpAddr::from([192, 0, 2, last]))
    }

    fn limits(failures: u32) -> RateLimits {
        RateLimits::new(RateSettings {
            signin_failures_per_handle: failures,
            auth_per_address: 0,
            mutations_per_user: 0,
        })
    }

    /// A wrong password: the attempt is reserved and stays counted.
    fn fail(rates: &RateLimits, handle: &str, from: ClientAddress) -> Result<(), RateLimited> {
        rates.signin_attempt(handle, from)
    }

    #[tokio::test(start_paused = true)]
    async fn failures_lock_one_address_and_a_success_clears_it() {
        let rates = limits(3);
        for _ in 0..3 {
            assert!(fail(&rates, "Alice", client(1)).is_ok());
        }
        let refused = rates.signin_attempt("ALICE", client(1)).unwrap_err();
        assert_eq!(refused.retry_after, SIGNIN_FAILURE_WINDOW);
        // Another address may still try, and its success does not free the first.
        rates.signin_attempt("alice", client(2)).unwrap();
        rates.signin_succeeded("alice", client(2));
        assert!(rates.signin_attempt("alice", client(1)).is_err());
        // The window passes.
        tokio::time::advance(SIGNIN_FAILURE_WINDOW - Duration::from_secs(60)).await;
        assert_eq!(
            rates
                .signin_attempt("alice", client(1))
                .unwrap_err()
                .retry_after_secs(),
            60
        );
        tokio::time::advance(Duration::from_secs(60)).await;
        // A success from the address itself clears its count at once.
        for _ in 0..3 {
            assert!(fail(&rates, "alice", client(1)).is_ok());
        }
        assert!(rates.signin_attempt("alice", client(1)).is_err());
        tokio::time::advance(SIGNIN_FAILURE_WINDOW).await;
        rates.signin_attempt("alice", client(1)).unwrap();
        rates.signin_succeeded("alice", client(1));
        for _ in 0..3 {
            assert!(fail(&rates, "alice", client(1)).is_ok());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn abandoned_attempts_do_not_count() {
        let rates = limits(2);
        for _ in 0..10 {
            rates.signin_attempt("carol", client(1)).unwrap();
            rates.signin_abandoned("carol", client(1));
        }
        assert!(fail(&rates, "carol", client(1)).is_ok());
        assert!(fail(&rates, "carol", client(1)).is_ok());
        assert!(fail(&rates, "carol", client(1)).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn many_addresses_together_take_ten_times_the_limit() {
        let rates = limits(2);
        for address in 0..10 {
            for _ in 0..2 {
                assert!(fail(&rates, "victim", client(address)).is_ok());
            }
        }
        // Every address is at its own limit, and the handle at ten times it.
        assert!(rates.signin_attempt("victim", client(200)).is_err());
        assert!(rates.signin_attempt("someone_else", client(200)).is_ok());
        rates.sweep();
        assert!(rates.tracked() > 0);
        tokio::time::advance(SIGNIN_FAILURE_WINDOW).await;
        rates.sweep();
        assert_eq!(rates.tracked(), 0);
        assert!(rates.signin_attempt("victim", client(200)).is_ok());
    }

    #[test]
    fn zero_turns_every_limit_off() {
        let rates = RateLimits::new(RateSettings::off());
        for _ in 0..1000 {
            assert!(rates.auth_attempt(client(1)).is_ok());
            assert!(rates.signin_attempt("bob", client(1)).is_ok());
            assert!(rates.mutations(UserId::new(), 1).is_ok());
        }
        assert_eq!(rates.tracked(), 0);
    }

    #[test]
    fn address_and_mutation_buckets_refuse_past_their_burst() {
        let rates = RateLimits::new(RateSettings {
            signin_failures_per_handle: 0,
            auth_per_address: 5,
            mutations_per_user: 3,
        });
        for _ in 0..5 {
            assert!(rates.auth_attempt(client(9)).is_ok());
        }
        let refused = rates.auth_attempt(client(9)).unwrap_err();
        // One more attempt every 60 / 5 = 12 seconds.
        assert!(
            refused.retry_after <= Duration::from_secs(12),
            "{refused:?}"
        );
        assert!(refused.retry_after_secs() >= 1);
        assert!(rates.auth_attempt(client(10)).is_ok());
        let user = UserId::new();
        assert!(rates.mutations(user, 2).is_ok());
        assert!(rates.mutations(user, 2).is_err(), "all or none");
        assert!(rates.mutations(user, 1).is_ok());
        assert!(rates.mutations(user, 1).is_err());
        assert!(
            rates.mutations(UserId::new(), 4).is_err(),
            "more than the burst"
        );
        assert!(rates.mutations(UserId::new(), 3).is_ok());
    }

    #[test]
    fn long_handles_make_short_keys() {
        assert_eq!(handle_key(&"X".repeat(10_000)).len(), 40);
        assert_eq!(handle_key("MiXeD"), "mixed");
    }
}
