//! The graph cache of one node (SPEC section 12.6): friend pages, counts, mutual friends,
//! recommendations, profiles and presence served from memory.
//!
//! [`CachedStore`] is a decorator: it implements every port of the domain over the real store,
//! so that services and resolvers never know whether a read came from memory. What it keeps,
//! per user, bounded together by weight (bytes, estimated) with
//! [`CacheSettings::memory_bytes`]:
//! - the user's **edges** with state, time, metadata and source, in listing order, with the
//!   counts by state, who blocked the user and whom they dismissed (one
//!   [`amity_domain::ports::FriendStore::adjacency`] statement loads many users at once);
//! - the user's **profile** (what `users_by_ids` returns, ban included);
//! - whether the user is **online**.
//!
//! A cold entry is loaded, never approximated: every answer is the one the store would give.
//!
//! # Consistency, in one sentence
//! A change committed through this node's store is invalidated here after its commit and before
//! the call that made it returns (read-your-writes), and on every other node when the event bus
//! delivers the [`Event::UserChanged`](amity_domain::events::Event::UserChanged) it publishes; a load that began before an invalidation of
//! its user never installs what it read (a version per user), and whenever the bus may have lost
//! events (it disconnected, reconnected, or this node fell behind) the node drops everything and
//! caches nothing until events flow again.
//!
//! Presence follows the presence events ([`Event::PresenceChanged`](amity_domain::events::Event::PresenceChanged)): after a node dies, its
//! users read as online here until a live node's sweep records them offline (one heartbeat after
//! the dead node's presence expires), where a read from the database would say offline as soon
//! as the heartbeat is stale.
//!
//! # Adding an invalidation
//! A later feature that changes what a friend list shows writes through a port: record which
//! user and which [`CachedPart`](amity_domain::events::CachedPart) it changes in that port's wrapper here ([`store`] for store
//! calls, [`tracked`] for transactions), and the rest (local invalidation, the bus event, the
//! other nodes) follows. Changes made outside the server's store (another program writing the
//! database) are seen once their entries are evicted or the node restarts; the command line's
//! bans and role changes reach nodes as [`Event::AccessChanged`](amity_domain::events::Event::AccessChanged), which this cache follows.
//!
//! Layout: [`audit`] (the cache checked against its store), `entries` (the kept values and their weights), `shared` (the entries and where changes go, shared with transactions), `versions` (the cache proper:
//! install, invalidate, drop all), [`store`] (the decorator), [`tracked`] (transactions that
//! invalidate on commit), `reads` (pages, counts, mutual friends and recommendations computed
//! from entries).

pub mod audit;
mod entries;
mod reads;
mod shared;
pub mod store;
pub mod tracked;
mod versions;

pub use store::CachedStore;

/// Default budget, in MiB (`AMITY_CACHE_MEMORY_MB`).
pub const DEFAULT_MEMORY_MB: u64 = 256;

/// How big the cache may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// The budget in bytes (estimated from the entries' contents); 0 turns the cache off.
    pub memory_bytes: u64,
}

impl CacheSettings {
    /// A budget of `mb` MiB.
    pub fn megabytes(mb: u64) -> Self {
        Self {
            memory_bytes: mb.saturating_mul(1024 * 1024),
        }
    }

    /// Whether there is a cache at all.
    pub fn enabled(&self) -> bool {
        self.memory_bytes > 0
    }
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self::megabytes(DEFAULT_MEMORY_MB)
    }
}

/// Cache hits, by kind of entry (`kind` label: edges, profile, online).
pub const CACHE_HITS: &str = "amity_cache_hits_total";
/// Cache misses, by kind of entry (each miss is loaded; loads are batched).
pub const CACHE_MISSES: &str = "amity_cache_misses_total";
/// Invalidations applied, by origin (`origin` label: local, bus).
pub const CACHE_INVALIDATIONS: &str = "amity_cache_invalidations_total";
/// Times the whole cache was dropped (the bus may have lost events).
pub const CACHE_RESETS: &str = "amity_cache_resets_total";
/// The entries' weight, in bytes.
pub const CACHE_BYTES: &str = "amity_cache_bytes";

/// Describes this crate's metrics to the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(CACHE_HITS, "Graph cache reads served from memory, by kind");
    metrics::describe_counter!(
        CACHE_MISSES,
        "Graph cache reads loaded from the store, by kind"
    );
    metrics::describe_counter!(
        CACHE_INVALIDATIONS,
        "Graph cache entries invalidated, by origin (local write or bus event)"
    );
    metrics::describe_counter!(
        CACHE_RESETS,
        "Times the graph cache dropped everything because bus events may have been lost"
    );
    metrics::describe_gauge!(
        CACHE_BYTES,
        metrics::Unit::Bytes,
        "Estimated weight of the graph cache's entries"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_in_mebibytes_and_zero_is_off() {
        assert_eq!(CacheSettings::megabytes(2).memory_bytes, 2 * 1024 * 1024);
        assert!(!CacheSettings::megabytes(0).enabled());
        assert!(CacheSettings::default().enabled());
    }
}
