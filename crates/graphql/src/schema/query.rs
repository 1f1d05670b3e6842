//! Reads.

use std::collections::HashMap;

use amity_domain::UserId;
use amity_domain::friends::{FriendState, FriendView};
use amity_domain::moderation::Actor;
use amity_domain::presence::presence_visible;
use async_graphql::{Context, ID, Object};

use crate::error::{ApiError, ApiResult};
use crate::schema::{list_complexity, page_size, services, session};
use crate::types::{
    DirectMessageConnection, DirectMessageEdge, DirectMessageGql, FriendConnection,
    FriendCountsGql, FriendEdge, FriendEdges, FriendGql, FriendRecommendationGql, FriendStateGql,
    ModerationEntryGql, NotificationConnection, NotificationEdge, NotificationGql, PageInfo,
    UserGql,
};

/// The query root.
#[derive(Default)]
pub struct CoreQueries;

#[Object]
impl CoreQueries {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<UserGql> {
        let me = session(ctx)?;
        let svc = services(ctx)?;
        let user = svc.accounts.user_by_id(me.user_id).await?.ok_or_else(|| {
            // Removed behind the server's back: forget the cached status, so that every
            // request of this session is refused from now on, not only at the next re-check.
            svc.access.forget(me.user_id);
            ApiError::from(amity_domain::DomainError::Unauthenticated(
                "your account no longer exists".into(),
            ))
        })?;
        Ok(UserGql::myself(user))
    }

    /// One user by id or by handle (give exactly one); null if there is none.
    async fn user(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        handle: Option<String>,
    ) -> ApiResult<Option<UserGql>> {
        let me = session(ctx)?;
        let svc = services(ctx)?;
        let user = match (id, handle) {
            (Some(id), None) => {
                let id = UserId::parse("id", &id)?;
                svc.accounts.user_by_id(id).await?
            }
            (None, Some(handle)) => svc.accounts.user_by_handle(&handle).await?,
            _ => {
                return Err(ApiError::bad_input(
                    "id",
                    "give exactly one of id and handle",
                ));
            }
        };
        let Some(user) = user else { return Ok(None) };
        if !user.is_visible_to(me.user_id, me.role, svc.clock.now()) {
            return Ok(None);
        }
        let view = svc
            .friends
            .views_of(me.user_id, &[user.id])
            .await?
            .get(&user.id)
            .copied();
        Ok(Some(UserGql::seen_by(user, me.user_id, view)))
    }

    /// People you may know: friends of your friends, ranked by how many friends you share,
    /// then by how recently they became friends with them; never yourself, anyone you have any
    /// edge with, anyone who blocked you, banned users, or people you dismissed. `first` is
    /// 1..100.
    #[graphql(complexity = "list_complexity(first, 20, child_complexity)")]
    async fn friend_recommendations(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
    ) -> ApiResult<Vec<FriendRecommendationGql>> {
        let me = session(ctx)?;
        let found = services(ctx)?
            .friends
            .recommendations(me.user_id, page_size(first, 20))
            .await?;
        Ok(found
            .into_iter()
            .map(|found| FriendRecommendationGql::new(me.user_id, found))
            .collect())
    }

    /// The moderation audit log, newest first (MODERATOR and ADMIN only). `first` is 1..1000;
    /// pass an entry's `cursor` as `after` for the entries before it.
    #[graphql(complexity = "list_complexity(first, 100, child_complexity)")]
    async fn moderation_log(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Vec<ModerationEntryGql>> {
        let me = session(ctx)?;
        let svc = services(ctx)?;
        let before = after
            .as_deref()
            .map(|c| svc.cursors.parse_moderation(c))
            .transpose()?;
        let entries = svc
            .moderation
            .log(&Actor::User(me.user_id), before, page_size(first, 100))
            .await?;
        let mut ids: Vec<UserId> = entries
            .iter()
            .flat_map(|e| e.actor.into_iter().chain([e.target]))
            .collect();
        ids.sort();
        ids.dedup();
        let users: HashMap<UserId, _> = svc
            .accounts
            .users_by_ids(&ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let views = svc.friends.views_of(me.user_id, &ids).await?;
        let user = |id: UserId| {
            users
                .get(&id)
                .map(|u| UserGql::seen_by(u.clone(), me.user_id, views.get(&id).copied()))
        };
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let target = user(entry.target)?;
                let actor = entry.actor.and_then(user);
                let cursor = svc.cursors.moderation(entry.id);
                Some(ModerationEntryGql::new(entry, actor, target, cursor))
            })
            .collect())
    }

    /// The signed-in user's friends, requests and blocks: by state (FRIEND, INVITE_SENT,
    /// INVITE_RECEIVED, BLOCKED), then most recent change first. `first` is 1..1000.
    #[graphql(complexity = "list_complexity(first, 100, child_complexity)")]
    async fn friends(
        &self,
        ctx: &Context<'_>,
        states: Option<Vec<FriendStateGql>>,
        #[graphql(default = 100)] first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<FriendConnection> {
        let me = session(ctx)?;
        let svc = services(ctx)?;
        let after = after.map(|c| svc.cursors.parse_friend(&c)).transpose()?;
        let states: Vec<FriendState> = states
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        let page = svc
            .friends
            .list(me.user_id, &states, after, page_size(first, 100))
            .await?;
        // Presence of the whole page in one query, and only if it was asked for.
        let wants_online = ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("user")
            .field("online")
            .exists();
        let online = if wants_online {
            let friends: Vec<UserId> = page
                .items
                .iter()
                .filter(|v| presence_visible(false, Some(v.state)))
                .map(|v| v.user.id)
                .collect();
            Some(svc.presence.online_among(&friends).await?)
        } else {
            None
        };
        let edges: Vec<FriendEdge> = page
            .items
            .into_iter()
            .map(|view: FriendView| {
                let is_online = online.as_ref().map(|set| set.contains(&view.user.id));
                FriendEdge {
                    cursor: svc.cursors.friend(&view.position()),
                    node: FriendGql::new(me.user_id, view, is_online),
                }
            })
            .collect();
        Ok(FriendConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges: FriendEdges(edges),
        })
    }

    /// How many users the signed-in user has in each state.
    async fn friend_counts(&self, ctx: &Context<'_>) -> ApiResult<FriendCountsGql> {
        let me = session(ctx)?;
        Ok(services(ctx)?.friends.counts(me.user_id).await?.into())
    }

    /// The signed-in user's notifications, oldest first. Keep `pageInfo.endCursor` and pass it
    /// as `after` later to get only newer ones. `first` is 1..1000.
    #[graphql(complexity = "list_complexity(first, 100, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100)] first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<NotificationConnection> {
        let me = session(ctx)?;
        let svc = services(ctx)?;
        let after_id = after
            .as_deref()
            .map(|c| svc.cursors.parse_notification(c))
            .transpose()?;
        let page = svc
            .notifications
            .list(me.user_id, after_id, page_size(first, 100))
            .await?;

        // Load every sender, and whether the viewer may see their presence, in two queries.
        let mut sender_ids: Vec<UserId> = page.items.iter().filter_map(|n| n.sender).collect();
        sender_ids.sort();
        sender_ids.dedup();
        let senders: HashMap<UserId, _> = svc
            .accounts
            .users_by_ids(&sender_ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let views = svc.friends.views_of(me.user_id, &sender_ids).await?;
        let wants_online = ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("sender")
            .field("online")
            .exists();
        let online = if wants_online {
            let friends: Vec<UserId> = views
                .iter()
                .filter(|(_, s)| presence_visible(false, Some(**s)))
                .map(|(id, _)| *id)
                .collect();
            svc.presence.online_among(&friends).await?
        } else {
            Default::default()
        };

        let edges: Vec<NotificationEdge> = page
            .items
            .into_iter()
            .map(|n| {
                let sender = n.sender.and_then(|id| senders.get(&id)).map(|u| {
                    let is_online = wants_online.then(|| online.contains(&u.id));
                    UserGql::seen_by(u.clone(), me.user_id, views.get(&u.id).copied())
                        .knowing_online(is_online)
                });
                let cursor = svc.cursors.notification(n.id);
                NotificationEdge {
                    cursor: cursor.clone(),
                    node: NotificationGql::new(n, sender, cursor),
                }
            })
            .collect();
        // With nothing new, hand back the cursor the client came with, so it can always keep
        // `endCursor`.
        let end_cursor = edges.last().map(|e| e.cursor.clone()).or(after);
        Ok(NotificationConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor,
            },
            edges,
        })
    }

    /// The conversation with user `with`, newest first; pass `pageInfo.endCursor` as `before`
    /// for older messages. `first` is 1..1000.
    #[graphql(complexity = "list_complexity(first, 50, child_complexity)")]
    async fn direct_messages(
        &self,
        ctx: &Context<'_>,
        with: ID,
        #[graphql(default = 50)] first: Option<i32>,
        before: Option<String>,
    ) -> ApiResult<DirectMessageConnection> {
        let me = session(ctx)?;
        let svc = services(ctx)?;
        let other = UserId::parse("with", &with)?;
        let before = before
            .as_deref()
            .map(|c| svc.cursors.parse_message(c))
            .transpose()?;
        let page = svc
            .messages
            .history(me.user_id, other, before, page_size(first, 50))
            .await?;
        let people = crate::types::message::participants(svc, me.user_id, &page.items).await?;
        let edges: Vec<DirectMessageEdge> = page
            .items
            .into_iter()
            .filter_map(|m| {
                let cursor = svc.cursors.message(m.id);
                DirectMessageGql::new(&m, &people).map(|node| DirectMessageEdge { cursor, node })
            })
            .collect();
        Ok(DirectMessageConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }
}
