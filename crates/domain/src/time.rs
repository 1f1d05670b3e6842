//! Time as the domain sees it: UTC, truncated to microseconds so that a value survives a round
//! trip through any supported database unchanged (keyset cursors depend on that).

use chrono::{DateTime, TimeZone, Utc};

/// A source of the current time, injected so tests can control it.
pub trait Clock: Send + Sync {
    /// The current time, truncated to microseconds.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        from_micros(Utc::now().timestamp_micros())
    }
}

/// Microseconds since the Unix epoch, the storage form of every timestamp.
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The inverse of [`to_micros`]; out-of-range values clamp to the epoch.
pub fn from_micros(micros: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip() {
        let now = SystemClock.now();
        assert_eq!(from_micros(to_micros(now)), now);
    }
}
