//! The cache proper: entries bounded by weight, and the versions that keep a load which raced
//! an invalidation from installing what it read.
//!
//! Every user maps to one of [`STRIPES`] counters; an invalidation bumps its user's counter
//! before removing the entries, and dropping everything bumps the epoch before clearing. A load
//! takes a [`Stamp`] (epoch and counter) *before* it reads the store and installs only if the
//! stamp is unchanged, checking again after inserting (an invalidation that came in between
//! removes the entry, or the load removes it itself). Two users sharing a counter only cost a
//! skipped install.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use amity_domain::UserId;
use quick_cache::sync::Cache;

use crate::entries::{ByBytes, Key, Value};
use crate::{CACHE_BYTES, CACHE_INVALIDATIONS, CACHE_RESETS};

/// Version counters (a power of two).
const STRIPES: usize = 4096;

/// About how many bytes an entry weighs, to size the table.
const TYPICAL_ENTRY: u64 = 512;

/// What a load saw before reading the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    epoch: u64,
    version: u64,
}

/// Where an invalidation came from (a metric label).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    /// A write through this node's store.
    Local,
    /// An event from another node.
    Bus,
}

/// Entries and versions.
pub(crate) struct Entries {
    cache: Cache<Key, Value, ByBytes>,
    versions: Box<[AtomicU64]>,
    epoch: AtomicU64,
    /// Whether events from every node reach this one; nothing is installed while not.
    vouching: AtomicBool,
}

impl Entries {
    /// An empty cache of at most `bytes` (estimated), installing only once told it may vouch.
    pub(crate) fn new(bytes: u64, vouching: bool) -> Self {
        let items = usize::try_from((bytes / TYPICAL_ENTRY).max(16)).unwrap_or(usize::MAX);
        Self {
            cache: Cache::with_weighter(items, bytes, ByBytes),
            versions: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
            vouching: AtomicBool::new(vouching),
        }
    }

    fn counter(&self, user: UserId) -> &AtomicU64 {
        let bits = user.as_uuid().as_u128();
        // The low bits of a v7 id are random.
        let stripe = (bits as usize) & (STRIPES - 1);
        &self.versions[stripe]
    }

    /// The kept value, if any.
    pub(crate) fn get(&self, key: &Key) -> Option<Value> {
        self.cache.get(key)
    }

    /// Taken before reading `user`'s data from the store.
    pub(crate) fn stamp(&self, user: UserId) -> Stamp {
        Stamp {
            epoch: self.epoch.load(Ordering::SeqCst),
            version: self.counter(user).load(Ordering::SeqCst),
        }
    }

    /// Keeps `value` unless `key`'s user was invalidated (or everything dropped) since `stamp`
    /// was taken, or the cache cannot vouch for what it would keep.
    pub(crate) fn install(&self, key: Key, value: Value, stamp: Stamp) {
        let user = key.user();
        if !self.vouching.load(Ordering::SeqCst) || self.stamp(user) != stamp {
            return;
        }
        self.cache.insert(key, value);
        if self.stamp(user) != stamp {
            self.cache.remove(&key);
        }
    }

    /// Forgets these entries (all of one user's), so that the next read loads them.
    pub(crate) fn invalidate(&self, keys: &[Key], origin: Origin) {
        let Some(first) = keys.first() else { return };
        self.counter(first.user()).fetch_add(1, Ordering::SeqCst);
        for key in keys {
            debug_assert_eq!(key.user(), first.user());
            self.cache.remove(key);
        }
        let origin = match origin {
            Origin::Local => "local",
            Origin::Bus => "bus",
        };
        metrics::counter!(CACHE_INVALIDATIONS, "origin" => origin).increment(keys.len() as u64);
    }

    /// Drops everything; from now on installs only if `vouching`.
    pub(crate) fn reset(&self, vouching: bool) {
        self.vouching.store(vouching, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.clear();
        metrics::counter!(CACHE_RESETS).increment(1);
    }

    /// Estimated bytes held.
    pub(crate) fn weight(&self) -> u64 {
        self.cache.weight()
    }

    /// Publishes the weight gauge.
    pub(crate) fn report(&self) {
        metrics::gauge!(CACHE_BYTES).set(self.weight() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(user: UserId) -> Key {
        Key::Online(user)
    }

    #[test]
    fn a_load_that_raced_an_invalidation_installs_nothing() {
        let entries = Entries::new(1 << 20, true);
        let user = UserId::new();
        let stamp = entries.stamp(user);
        entries.invalidate(&[online(user)], Origin::Local);
        entries.install(online(user), Value::Online(true), stamp);
        assert!(entries.get(&online(user)).is_none());
        // A load stamped after the invalidation installs.
        let stamp = entries.stamp(user);
        entries.install(online(user), Value::Online(true), stamp);
        assert!(matches!(
            entries.get(&online(user)),
            Some(Value::Online(true))
        ));
    }

    #[test]
    fn a_reset_drops_everything_and_stops_installs_until_vouching_again() {
        let entries = Entries::new(1 << 20, true);
        let user = UserId::new();
        entries.install(online(user), Value::Online(true), entries.stamp(user));
        let before = entries.stamp(user);
        entries.reset(false);
        assert!(entries.get(&online(user)).is_none());
        entries.install(online(user), Value::Online(true), entries.stamp(user));
        assert!(entries.get(&online(user)).is_none(), "not vouching");
        entries.reset(true);
        entries.install(online(user), Value::Online(true), before);
        assert!(
            entries.get(&online(user)).is_none(),
            "stamped before the reset"
        );
        entries.install(online(user), Value::Online(true), entries.stamp(user));
        assert!(entries.get(&online(user)).is_some());
    }

    #[test]
    fn the_weight_stays_within_the_budget() {
        let entries = Entries::new(64 * 1024, true);
        for _ in 0..10_000 {
            let user = UserId::new();
            entries.install(online(user), Value::Online(false), entries.stamp(user));
        }
        assert!(entries.weight() <= 64 * 1024, "{}", entries.weight());
        assert!(entries.weight() > 0);
    }
}
