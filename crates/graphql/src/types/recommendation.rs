//! "People you may know".

use amity_domain::UserId;
use amity_domain::friends::Recommendation;
use async_graphql::{Context, Object};

use crate::error::ApiResult;
use crate::schema::{list_complexity, page_size, services};
use crate::types::UserGql;

/// A friend of the viewer's friends.
#[derive(Debug, Clone)]
pub struct FriendRecommendationGql {
    viewer: UserId,
    found: Recommendation,
}

impl FriendRecommendationGql {
    /// The GraphQL view of a recommendation made for `viewer`.
    pub fn new(viewer: UserId, found: Recommendation) -> Self {
        Self { viewer, found }
    }
}

#[Object(name = "FriendRecommendation")]
impl FriendRecommendationGql {
    /// The recommended user.
    async fn user(&self) -> UserGql {
        // Never the viewer, and no edge with them (or they would not be recommended).
        UserGql::seen_by(self.found.user.clone(), self.viewer, None)
    }

    /// How many friends they share with the viewer.
    async fn mutual_friend_count(&self) -> i32 {
        i32::try_from(self.found.mutual_friend_ids.len()).unwrap_or(i32::MAX)
    }

    /// Some of the friends they share with the viewer, most recent first (`first` 0..100).
    #[graphql(complexity = "list_complexity(first, 3, child_complexity)")]
    async fn mutual_friends(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] first: Option<i32>,
    ) -> ApiResult<Vec<UserGql>> {
        let users = services(ctx)?
            .friends
            .recommendation_mutual_friends(&self.found, page_size(first, 3))
            .await?;
        Ok(users.into_iter().map(UserGql::friend).collect())
    }
}
