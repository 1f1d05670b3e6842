//! Checking the cache against the store it decorates: every friend-graph read of some users,
//! once from memory and once from the store, compared.
//!
//! Tests call it at quiescent points (after the bus has delivered everything); an operator
//! could call it on a live node too, where a difference may also be a change in flight.

use std::fmt::Debug;

use amity_domain::friends::{FriendListQuery, FriendPosition};
use amity_domain::ports::{FriendStore, PresenceStore, UserStore};
use amity_domain::{Result, UserId};
use chrono::{DateTime, Duration, Utc};

use crate::store::CachedStore;

/// Page size of the paged comparison (small, so that several pages are read).
const AUDIT_PAGE: u32 = 3;

/// Differences found, one line each.
#[derive(Debug, Default)]
struct Findings(Vec<String>);

impl Findings {
    fn compare<T: PartialEq + Debug>(
        &mut self,
        what: impl FnOnce() -> String,
        cached: T,
        stored: T,
    ) {
        if cached != stored {
            self.0
                .push(format!("{}: cache {cached:?}, store {stored:?}", what()));
        }
    }
}

fn all(limit: u32, after: Option<FriendPosition>, now: DateTime<Utc>) -> FriendListQuery {
    FriendListQuery {
        states: vec![],
        after,
        limit,
        visible_at: now,
    }
}

impl CachedStore {
    /// Reads, for each of `users`, their friend list (whole and in pages), counts, views of and
    /// mutual friends with each of `users`, recommendations, profiles and presence, from the
    /// cache and from the store, at `now`; returns one line per difference (none: they agree).
    /// Recommendations are compared where the store is exact (its walk may sample the friends
    /// of users with many friends; see its documentation).
    pub async fn audit(&self, users: &[UserId], now: DateTime<Utc>) -> Result<Vec<String>> {
        let store = &self.inner;
        let mut found = Findings::default();
        let sorted = |mut ids: Vec<UserId>| {
            ids.sort();
            ids
        };
        for &user in users {
            found.compare(
                || format!("{user}: friend list"),
                self.list_friends(user, &all(u32::MAX, None, now)).await?,
                store.list_friends(user, &all(u32::MAX, None, now)).await?,
            );
            let mut after = None;
            loop {
                let query = all(AUDIT_PAGE, after, now);
                let page = self.list_friends(user, &query).await?;
                found.compare(
                    || format!("{user}: the page after {after:?}"),
                    &page,
                    &store.list_friends(user, &query).await?,
                );
                match page.last() {
                    Some(last) if page.len() == AUDIT_PAGE as usize => {
                        after = Some(last.position())
                    }
                    _ => break,
                }
            }
            for visible_at in [None, Some(now)] {
                found.compare(
                    || format!("{user}: counts (visible at {visible_at:?})"),
                    self.friend_counts(user, visible_at).await?,
                    store.friend_counts(user, visible_at).await?,
                );
            }
            found.compare(
                || format!("{user}: views"),
                self.views_of(user, users).await?,
                store.views_of(user, users).await?,
            );
            found.compare(
                || format!("{user}: friend ids"),
                sorted(self.friend_ids(user).await?),
                sorted(store.friend_ids(user).await?),
            );
            found.compare(
                || format!("{user}: mutual friend counts"),
                self.mutual_friend_counts(user, users, now).await?,
                store.mutual_friend_counts(user, users, now).await?,
            );
            for &other in users {
                found.compare(
                    || format!("{user}: mutual friends with {other}"),
                    self.mutual_friends(user, other, 2, now).await?,
                    store.mutual_friends(user, other, 2, now).await?,
                );
            }
            for limit in [1, 10] {
                found.compare(
                    || format!("{user}: recommendations (limit {limit})"),
                    self.friend_recommendations(user, limit, now).await?,
                    store.friend_recommendations(user, limit, now).await?,
                );
            }
        }
        let mut cached = self.users_by_ids(users).await?;
        let mut stored = store.users_by_ids(users).await?;
        cached.sort_by_key(|u| u.id);
        stored.sort_by_key(|u| u.id);
        found.compare(|| "profiles".to_owned(), cached, stored);
        let live_after = now - Duration::seconds(15);
        found.compare(
            || "online".to_owned(),
            self.online_among(users, live_after).await?,
            store.online_among(users, live_after).await?,
        );
        Ok(found.0)
    }
}
