//! What a run needs before it measures: fresh users and friendships, made over the same API
//! with bounded concurrency and a progress line.

use futures::{StreamExt, TryStreamExt};

use crate::client::{Account, GraphqlClient};
use crate::progress::Progress;

/// How many ids go into one `addFriends` call (the API's batch limit).
const BATCH: usize = 100;

/// A handle prefix no earlier run used, so runs against the same database do not collide.
pub fn run_prefix() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    // The last hex digits of a v7 UUID are random.
    format!("bench_{}", &id[id.len() - 8..])
}

/// Signs up `count` users named `<prefix>_<role>_<n>`.
pub async fn sign_up_many(
    client: &GraphqlClient,
    prefix: &str,
    role: &str,
    count: u32,
    concurrency: u32,
) -> anyhow::Result<Vec<Account>> {
    let mut progress = Progress::new(format!("signing up {role} users"), u64::from(count));
    let accounts = futures::stream::iter(0..count)
        .map(|n| {
            let handle = format!("{prefix}_{role}_{n}");
            async move { client.sign_up(&handle).await }
        })
        .buffered(concurrency as usize)
        .inspect(|result| progress.tick(result.is_ok()))
        .try_collect::<Vec<_>>()
        .await;
    progress.finish();
    Ok(accounts?)
}

/// Makes each `(a, b)` pair friends: `a` asks, `b` accepts.
pub async fn befriend_pairs(
    client: &GraphqlClient,
    pairs: &[(Account, Account)],
    concurrency: u32,
) -> anyhow::Result<()> {
    let mut progress = Progress::new("making friends", pairs.len() as u64);
    let result = futures::stream::iter(pairs)
        .map(|(a, b)| async move {
            client
                .add_friends(&a.token, std::slice::from_ref(&b.id))
                .await?;
            let states = client
                .add_friends(&b.token, std::slice::from_ref(&a.id))
                .await?;
            expect_friends(&states)
        })
        .buffer_unordered(concurrency as usize)
        .inspect(|result| progress.tick(result.is_ok()))
        .try_collect::<Vec<()>>()
        .await;
    progress.finish();
    result.map(|_| ())
}

/// Makes every one of `friends` a friend of `hub`: each asks, then the hub accepts in batches.
pub async fn befriend_hub(
    client: &GraphqlClient,
    hub: &Account,
    friends: &[Account],
    concurrency: u32,
) -> anyhow::Result<()> {
    let mut progress = Progress::new("friend requests to the hub", friends.len() as u64);
    let asked = futures::stream::iter(friends)
        .map(|friend| async move {
            client
                .add_friends(&friend.token, std::slice::from_ref(&hub.id))
                .await
        })
        .buffer_unordered(concurrency as usize)
        .inspect(|result| progress.tick(result.is_ok()))
        .try_collect::<Vec<_>>()
        .await;
    progress.finish();
    asked?;
    for batch in friends.chunks(BATCH) {
        let ids: Vec<String> = batch.iter().map(|f| f.id.clone()).collect();
        let states = client.add_friends(&hub.token, &ids).await?;
        expect_friends(&states)?;
    }
    Ok(())
}

/// Fails unless every edge came out as `FRIEND`.
fn expect_friends(states: &[String]) -> anyhow::Result<()> {
    match states.iter().find(|state| state.as_str() != "FRIEND") {
        None => Ok(()),
        Some(state) => anyhow::bail!(
            "an edge ended as {state} instead of FRIEND (does the server's AMITY_MAX_FRIENDS allow this many?)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_valid_distinct_handles() {
        let (a, b) = (run_prefix(), run_prefix());
        assert_ne!(a, b);
        let longest = format!("{a}_presence_99999");
        assert!(longest.len() <= 32, "{longest}");
        assert!(
            longest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{longest}"
        );
    }

    #[test]
    fn only_friend_edges_pass() {
        assert!(expect_friends(&["FRIEND".to_owned(), "FRIEND".to_owned()]).is_ok());
        assert!(expect_friends(&["FRIEND".to_owned(), "INVITE_SENT".to_owned()]).is_err());
    }
}
