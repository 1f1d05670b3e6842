//! "People you may know".

use amity_domain::friends::{RECOMMENDATIONS_MAX, Recommendation};
use amity_domain::{DomainError, UserId};
use async_graphql::{Context, Object};

use crate::error::ApiResult;
use crate::schema::{list_complexity, services};
use crate::types::UserGql;

/// A friend of the viewer's friends.
#[derive(Debug, Clone)]
pub struct FriendRecommendationGql {
    /// The recommended user.
    pub user: UserGql,
    /// Every friend they share with the viewer, most recent first.
    pub mutual_friend_ids: Vec<UserId>,
    /// The first few of those, loaded with the recommendation.
    pub mutual_friends: Vec<UserGql>,
}

impl FriendRecommendationGql {
    /// The GraphQL view of a recommendation (the recommended user's presence is not shown:
    /// they are not the viewer's friend; the mutual friends' is).
    pub fn new(found: Recommendation) -> Self {
        Self {
            user: UserGql::new(found.user, false),
            mutual_friend_ids: found.mutual_friend_ids,
            mutual_friends: found
                .mutual_friends
                .into_iter()
                .map(|u| UserGql::new(u, true))
                .collect(),
        }
    }
}

#[Object(name = "FriendRecommendation")]
impl FriendRecommendationGql {
    /// The recommended user.
    async fn user(&self) -> &UserGql {
        &self.user
    }

    /// How many friends they share with the viewer.
    async fn mutual_friend_count(&self) -> i32 {
        i32::try_from(self.mutual_friend_ids.len()).unwrap_or(i32::MAX)
    }

    /// Some of the friends they share with the viewer, most recent first (`first` 0..100).
    #[graphql(complexity = "list_complexity(first, 3, child_complexity)")]
    async fn mutual_friends(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 3)] first: Option<i32>,
    ) -> ApiResult<Vec<UserGql>> {
        let first = first.unwrap_or(3);
        let n = usize::try_from(first)
            .ok()
            .filter(|&n| n <= RECOMMENDATIONS_MAX as usize)
            .ok_or_else(|| {
                DomainError::invalid(
                    "first",
                    format!("must be between 0 and {RECOMMENDATIONS_MAX}"),
                )
            })?;
        let wanted = n.min(self.mutual_friend_ids.len());
        if wanted <= self.mutual_friends.len() {
            return Ok(self.mutual_friends[..wanted].to_vec());
        }
        let users = services(ctx)?
            .friends
            .users_in_order(&self.mutual_friend_ids[..wanted])
            .await?;
        // Mutual friends are the viewer's friends: their presence is visible.
        Ok(users.into_iter().map(|u| UserGql::new(u, true)).collect())
    }
}
