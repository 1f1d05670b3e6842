//! Batch loading for fields that would otherwise read the store once per item of a list (or
//! once per live event): async-graphql's `DataLoader` collects the keys that resolvers ask
//! for within a millisecond, across every request and subscription running on this node, and
//! reads them in one call.
//!
//! Nothing is cached between batches: each answer is as fresh as a direct read would be.

use std::collections::HashMap;
use std::sync::Arc;

use amity_domain::UserId;
use amity_domain::accounts::User;
use amity_domain::friends::FriendState;
use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};

use crate::Services;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// The node's loaders, kept in the schema's data.
pub struct Loaders {
    online: DataLoader<OnlineLoader>,
    users: DataLoader<UserLoader>,
    views: DataLoader<ViewLoader>,
    mutual_counts: DataLoader<MutualCountLoader>,
}

impl Loaders {
    /// Loaders reading through `services`; call inside a tokio runtime (batches run as tasks).
    pub fn new(services: Services) -> Self {
        let services = Arc::new(services);
        Self {
            online: DataLoader::new(OnlineLoader(services.clone()), tokio::spawn),
            users: DataLoader::new(UserLoader(services.clone()), tokio::spawn),
            views: DataLoader::new(ViewLoader(services.clone()), tokio::spawn),
            mutual_counts: DataLoader::new(MutualCountLoader(services), tokio::spawn),
        }
    }

    /// Whether `user` is online (the caller has checked that the viewer may know).
    pub async fn is_online(&self, user: UserId) -> ApiResult<bool> {
        Ok(self.online.load_one(user).await?.unwrap_or(false))
    }

    /// A user by id; `None` if there is no such user.
    pub async fn user(&self, id: UserId) -> ApiResult<Option<User>> {
        self.users.load_one(id).await
    }

    /// How `viewer` sees `other` (`None`: no edge).
    pub async fn view(&self, viewer: UserId, other: UserId) -> ApiResult<Option<FriendState>> {
        answer(self.views.load_one((viewer, other)).await?)
    }

    /// How many friends `viewer` and `other` have in common (banned ones left out).
    pub async fn mutual_friend_count(&self, viewer: UserId, other: UserId) -> ApiResult<u32> {
        let count = self.mutual_counts.load_one((viewer, other)).await?;
        Ok(answer(count)?.unwrap_or(0))
    }
}

/// The loaders of the schema running this request.
pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> ApiResult<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| ApiError::new(ErrorCode::InternalServerError, "loaders missing"))
}

/// One key's answer from a loader whose batches mix viewers: a read that failed fails the keys
/// of its viewer only, not every request that shared the batch.
type PerViewer<V> = Result<V, ApiError>;

/// Answers (viewer, other) keys with one `read` per viewer (the pairs grouped by viewer), the
/// viewers' reads running at once (the database pool bounds how many really do).
async fn per_viewer<V, F, Fut>(
    keys: &[(UserId, UserId)],
    read: F,
) -> HashMap<(UserId, UserId), PerViewer<V>>
where
    F: Fn(UserId, Vec<UserId>) -> Fut,
    Fut: std::future::Future<Output = amity_domain::Result<HashMap<UserId, V>>>,
{
    let mut grouped: HashMap<UserId, Vec<UserId>> = HashMap::new();
    for (viewer, other) in keys {
        grouped.entry(*viewer).or_default().push(*other);
    }
    let reads = grouped.into_iter().map(|(viewer, others)| {
        let read = &read;
        async move { (viewer, others.clone(), read(viewer, others).await) }
    });
    let mut found = HashMap::new();
    for (viewer, others, answer) in futures::future::join_all(reads).await {
        match answer {
            Ok(answers) => {
                found.extend(answers.into_iter().map(|(o, v)| ((viewer, o), Ok(v))));
            }
            Err(e) => {
                let e = ApiError::from(e);
                found.extend(others.into_iter().map(|o| ((viewer, o), Err(e.clone()))));
            }
        }
    }
    found
}

/// A [`PerViewer`] answer as the resolvers take it (`None`: the key has no value).
fn answer<V>(loaded: Option<PerViewer<V>>) -> ApiResult<Option<V>> {
    loaded.transpose()
}

/// Who is online, by user.
pub struct OnlineLoader(Arc<Services>);

impl Loader<UserId> for OnlineLoader {
    type Value = bool;
    type Error = ApiError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, bool>, ApiError> {
        let online = self.0.presence.online_among(keys).await?;
        Ok(keys.iter().map(|id| (*id, online.contains(id))).collect())
    }
}

/// Users by id.
pub struct UserLoader(Arc<Services>);

impl Loader<UserId> for UserLoader {
    type Value = User;
    type Error = ApiError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, User>, ApiError> {
        let users = self.0.accounts.users_by_ids(keys).await?;
        Ok(users.into_iter().map(|u| (u.id, u)).collect())
    }
}

/// How one user sees another, by (viewer, other).
pub struct ViewLoader(Arc<Services>);

impl Loader<(UserId, UserId)> for ViewLoader {
    type Value = PerViewer<FriendState>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[(UserId, UserId)],
    ) -> Result<HashMap<(UserId, UserId), Self::Value>, ApiError> {
        let friends = &self.0.friends;
        Ok(per_viewer(keys, |viewer, others| async move {
            friends.views_of(viewer, &others).await
        })
        .await)
    }
}

/// Mutual-friend counts, by (viewer, other), counted by the store.
pub struct MutualCountLoader(Arc<Services>);

impl Loader<(UserId, UserId)> for MutualCountLoader {
    type Value = PerViewer<u32>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[(UserId, UserId)],
    ) -> Result<HashMap<(UserId, UserId), Self::Value>, ApiError> {
        let friends = &self.0.friends;
        Ok(per_viewer(keys, |viewer, others| async move {
            friends.mutual_friend_counts(viewer, &others).await
        })
        .await)
    }
}
