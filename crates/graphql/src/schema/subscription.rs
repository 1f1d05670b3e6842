//! Live streams over websockets: notifications (with replay), presence and direct messages.
//!
//! Every stream registers with this node's [`amity_domain::realtime::Hub`] before reading
//! anything from the store, so nothing committed after the subscription starts can be missed.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use amity_domain::notifications::Notification;
use amity_domain::realtime::Feed;
use amity_domain::{NotificationId, UserId};
use async_graphql::futures_util::Stream;
use async_graphql::futures_util::stream;
use async_graphql::{Context, Subscription};

use crate::Services;
use crate::error::{ApiError, ApiResult};
use crate::schema::{services, session};
use crate::types::message::participants;
use crate::types::{DirectMessageGql, NotificationGql, PresenceEventGql};

/// How many stored notifications one replay query reads.
const REPLAY_PAGE: u32 = 200;

/// The subscription root.
pub struct SubscriptionRoot;

/// Where a notifications stream is: replaying what is stored, then live.
struct NotificationStream {
    svc: Services,
    user: UserId,
    feed: Feed<Arc<Notification>>,
    /// Replay position; `None` once the replay is over (or there was none).
    replay_after: Option<NotificationId>,
    buffer: VecDeque<Notification>,
    /// Ids sent by the replay; a live copy of one of them is skipped.
    replayed: HashSet<NotificationId>,
}

impl NotificationStream {
    async fn next(&mut self) -> Option<ApiResult<NotificationGql>> {
        loop {
            if let Some(n) = self.buffer.pop_front() {
                self.replayed.insert(n.id);
                let cursor = self.svc.cursors.notification(n.id);
                return Some(Ok(NotificationGql::unloaded(n, cursor)));
            }
            if let Some(after) = self.replay_after {
                match self
                    .svc
                    .notifications
                    .list(self.user, Some(after), REPLAY_PAGE)
                    .await
                {
                    Ok(page) => {
                        self.replay_after = if page.has_next_page {
                            page.items.last().map(|n| n.id)
                        } else {
                            None
                        };
                        self.buffer.extend(page.items);
                        continue;
                    }
                    Err(e) => {
                        self.replay_after = None;
                        return Some(Err(e.into()));
                    }
                }
            }
            let live = self.feed.recv().await?;
            if self.replayed.remove(&live.id) {
                continue;
            }
            let cursor = self.svc.cursors.notification(live.id);
            return Some(Ok(NotificationGql::unloaded((*live).clone(), cursor)));
        }
    }
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Each new notification of the signed-in user, on whichever node it was made. With
    /// `after` (a cursor from `notifications` or from a notification's `cursor`), first
    /// replays what was stored after it, then continues live, with no gap and no duplicate.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = ApiResult<NotificationGql>> + use<>, ApiError> {
        let me = session(ctx)?;
        let svc = services(ctx)?.clone();
        let after = after
            .as_deref()
            .map(|c| svc.cursors.parse_notification(c))
            .transpose()?;
        let feed = svc.hub.notifications(me.user_id);
        let state = NotificationStream {
            user: me.user_id,
            feed,
            replay_after: after,
            buffer: VecDeque::new(),
            replayed: HashSet::new(),
            svc,
        };
        Ok(stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        }))
    }

    /// Friends of the signed-in user going online or offline.
    async fn presence(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = PresenceEventGql> + use<>, ApiError> {
        let me = session(ctx)?;
        let feed = services(ctx)?.hub.presence(me.user_id);
        Ok(stream::unfold(feed, |mut feed| async move {
            let update = feed.recv().await?;
            Some((PresenceEventGql::from(update), feed))
        }))
    }

    /// Direct messages the signed-in user sends or receives, as they are sent.
    async fn direct_messages(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = ApiResult<DirectMessageGql>> + use<>, ApiError> {
        let me = session(ctx)?;
        let svc = services(ctx)?.clone();
        let feed = svc.hub.direct_messages(me.user_id);
        Ok(stream::unfold(
            (svc, feed),
            move |(svc, mut feed)| async move {
                loop {
                    let message = feed.recv().await?;
                    match participants(&svc, me.user_id, std::slice::from_ref(&*message)).await {
                        Ok(people) => {
                            // A participant deleted meanwhile: nothing to show.
                            if let Some(m) = DirectMessageGql::new(&message, &people) {
                                return Some((Ok(m), (svc, feed)));
                            }
                        }
                        Err(e) => return Some((Err(e), (svc, feed))),
                    }
                }
            },
        ))
    }
}
