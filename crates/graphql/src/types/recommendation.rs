//! "People you may know".

use async_graphql::{Context, Object};

use crate::error::ApiResult;
use crate::schema::list_complexity;
use crate::types::UserGql;
use crate::types::user::mutual_friends_of;

/// A friend of the viewer's friends.
#[derive(Debug, Clone)]
pub struct FriendRecommendationGql {
    /// The recommended user.
    pub user: UserGql,
    /// How many friends they share with the viewer.
    pub mutual_friend_count: u32,
}

#[Object(name = "FriendRecommendation")]
impl FriendRecommendationGql {
    /// The recommended user.
    async fn user(&self) -> &UserGql {
        &self.user
    }

    /// How many friends they share with the viewer.
    async fn mutual_friend_count(&self) -> i32 {
        i32::try_from(self.mutual_friend_count).unwrap_or(i32::MAX)
    }

    /// Some of the friends they share with the viewer, most recent first (`first` 0..100).
    #[graphql(complexity = "list_complexity(first, 3, child_complexity)")]
    async fn mutual_friends(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] first: Option<i32>,
    ) -> ApiResult<Vec<UserGql>> {
        mutual_friends_of(ctx, self.user.user_id(), first).await
    }
}
