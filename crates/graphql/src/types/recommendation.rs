//! "People you may know".

use async_graphql::{Context, Object};

use crate::error::ApiResult;
use crate::schema::{list_complexity, page_size, services, session};
use crate::types::UserGql;

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
        let me = session(ctx)?;
        let (users, _) = services(ctx)?
            .friends
            .mutual_friends(me.user_id, self.user.user_id(), page_size(first, 3))
            .await?;
        Ok(users.into_iter().map(|u| UserGql::new(u, true)).collect())
    }
}
