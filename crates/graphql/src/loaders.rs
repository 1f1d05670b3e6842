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
        self.views.load_one((viewer, other)).await
    }

    /// How many friends `viewer` and `other` have in common (banned ones left out).
    pub async fn mutual_friend_count(&self, viewer: UserId, other: UserId) -> ApiResult<u32> {
        Ok(self
            .mutual_counts
            .load_one((viewer, other))
            .await?
            .unwrap_or(0))
    }
}

/// The loaders of the schema running this request.
pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> ApiResult<&'a Loaders> {
    ctx.data::<Loaders>()
        .map_err(|_| ApiError::new(ErrorCode::InternalServerError, "loaders missing"))
}

/// Answers (viewer, other) keys with one `read` per viewer (the pairs grouped by viewer).
async fn per_viewer<V, F, Fut>(
    keys: &[(UserId, UserId)],
    read: F,
) -> Result<HashMap<(UserId, UserId), V>, ApiError>
where
    F: Fn(UserId, Vec<UserId>) -> Fut,
    Fut: std::future::Future<Output = amity_domain::Result<HashMap<UserId, V>>>,
{
    let mut grouped: HashMap<UserId, Vec<UserId>> = HashMap::new();
    for (viewer, other) in keys {
        grouped.entry(*viewer).or_default().push(*other);
    }
    let mut found = HashMap::new();
    for (viewer, others) in grouped {
        let answers = read(viewer, others).await?;
        found.extend(answers.into_iter().map(|(other, v)| ((viewer, other), v)));
    }
    Ok(found)
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
    type Value = FriendState;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[(UserId, UserId)],
    ) -> Result<HashMap<(UserId, UserId), FriendState>, ApiError> {
        let friends = &self.0.friends;
        per_viewer(keys, |viewer, others| async move {
            friends.views_of(viewer, &others).await
        })
        .await
    }
}

/// Mutual-friend counts, by (viewer, other), counted by the store.
pub struct MutualCountLoader(Arc<Services>);

impl Loader<(UserId, UserId)> for MutualCountLoader {
    type Value = u32;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[(UserId, UserId)],
    ) -> Result<HashMap<(UserId, UserId), u32>, ApiError> {
        let friends = &self.0.friends;
        per_viewer(keys, |viewer, others| async move {
            friends.mutual_friend_counts(viewer, &others).await
        })
        .await
    }
}
