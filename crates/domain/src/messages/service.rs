//! Sending and reading direct messages.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::events::{Event, EventBus};
use crate::friends::FriendState;
use crate::messages::{DirectMessage, MESSAGES_PAGE_MAX, MessageBody};
use crate::notifications::NotificationCode;
use crate::ports::{MessageStore, NewNotification};
use crate::time::Clock;
use crate::{DomainError, MessageId, NotificationId, Result, UserId};

/// How many times a send is tried when concurrent transactions get in its way.
const MAX_ATTEMPTS: u32 = 8;
/// How much of a body a DIRECT_MESSAGE notification quotes.
const PREVIEW_CHARS: usize = 100;

/// One page of a conversation, newest first.
#[derive(Debug, Clone)]
pub struct DirectMessagePage {
    /// The messages.
    pub items: Vec<DirectMessage>,
    /// Whether older ones follow.
    pub has_next_page: bool,
}

/// Sends direct messages between friends and reads conversations.
#[derive(Clone)]
pub struct DirectMessageService {
    store: Arc<dyn MessageStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
}

impl DirectMessageService {
    /// A service on the given store, bus and clock.
    pub fn new(
        store: Arc<dyn MessageStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, bus, clock }
    }

    /// Sends `body` from `sender` to `recipient`, who must be friends: the message and the
    /// recipient's DIRECT_MESSAGE notification are stored in one transaction, then published.
    pub async fn send(
        &self,
        sender: UserId,
        recipient: UserId,
        body: MessageBody,
    ) -> Result<DirectMessage> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_send(sender, recipient, &body).await {
                Err(err) if err.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tracing::debug!(%sender, attempt, error = %crate::error::chain(&err), "retrying direct message");
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5)).await;
                }
                other => return other,
            }
        }
    }

    async fn try_send(
        &self,
        sender: UserId,
        recipient: UserId,
        body: &MessageBody,
    ) -> Result<DirectMessage> {
        if sender == recipient {
            return Err(DomainError::invalid("to", "you cannot message yourself"));
        }
        let mut tx = self.store.begin_messages().await?;
        // The same locks as friend-graph changes: an unfriend or block either commits before
        // this send reads the pair, or waits for it.
        let found = tx.find_and_lock_users(&[sender, recipient], &[]).await?;
        let me = found
            .by_id
            .iter()
            .find(|u| u.id == sender)
            .cloned()
            .ok_or_else(|| DomainError::Unauthenticated("your account no longer exists".into()))?;
        // A banned user is hidden: to others they are unknown until unbanned.
        let now = self.clock.now();
        if !found
            .by_id
            .iter()
            .any(|u| u.id == recipient && !u.is_banned_at(now))
        {
            return Err(DomainError::NotFound(format!("no user has id {recipient}")));
        }
        let pair = tx
            .pairs(sender, &[recipient])
            .await?
            .remove(&recipient)
            .unwrap_or_default()
            .pair;
        if pair.mine != Some(FriendState::Friend) || pair.theirs != Some(FriendState::Friend) {
            return Err(DomainError::Forbidden(
                "you can only send direct messages to your friends".into(),
            ));
        }
        let message = DirectMessage {
            id: MessageId::new(),
            sender,
            recipient,
            body: body.clone(),
            created_at: now,
        };
        let preview: String = body.as_str().chars().take(PREVIEW_CHARS).collect();
        let note = NewNotification {
            id: NotificationId::new(),
            recipient,
            code: NotificationCode::DirectMessage,
            subject: format!("{} sent you a message", me.handle),
            content: json!({
                "messageId": message.id.to_string(),
                "userId": sender.to_string(),
                "handle": me.handle.as_str(),
                "preview": preview,
            }),
            sender: Some(sender),
        };
        tx.insert_direct_message(&message).await?;
        tx.insert_notifications(std::slice::from_ref(&note), now)
            .await?;
        tx.commit().await?;
        self.bus.publish(vec![
            Event::DirectMessageSent {
                id: message.id,
                sender,
                recipient,
            },
            Event::NotificationCreated {
                recipient,
                id: note.id,
            },
        ]);
        Ok(message)
    }

    /// The conversation between `viewer` and `other`, newest first, before `before`
    /// (exclusive). Only the two participants can read it; history stays readable after they
    /// stop being friends.
    pub async fn history(
        &self,
        viewer: UserId,
        other: UserId,
        before: Option<MessageId>,
        first: u32,
    ) -> Result<DirectMessagePage> {
        if first == 0 || first > MESSAGES_PAGE_MAX {
            return Err(DomainError::invalid(
                "first",
                format!("must be between 1 and {MESSAGES_PAGE_MAX}"),
            ));
        }
        let mut items = self
            .store
            .direct_messages(viewer, other, before, first + 1)
            .await?;
        let has_next_page = items.len() > first as usize;
        items.truncate(first as usize);
        Ok(DirectMessagePage {
            items,
            has_next_page,
        })
    }
}
