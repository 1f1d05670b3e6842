//! DirectMessageService: only between friends, stored with the recipient's notification,
//! published, paged newest first.

use amity_domain::DomainError;
use amity_domain::events::Event;
use amity_domain::messages::MessageBody;
use amity_domain::moderation::Actor;
use amity_domain::notifications::NotificationCode;
use amity_domain::time::Clock;

use crate::support::{World, drain, ids};

fn body(text: &str) -> MessageBody {
    MessageBody::parse(text).unwrap()
}

#[tokio::test]
async fn friends_exchange_messages_with_a_notification_and_events() {
    let w = World::new();
    let [a, b] = [w.user("ann").await, w.user("bob").await];
    w.befriend(&a, &b).await;
    let mut events = w.events();
    let notes_before = w
        .notifications
        .list(b.id, None, 100)
        .await
        .unwrap()
        .items
        .len();

    let sent = w
        .messages
        .send(a.id, b.id, body("hello bob"))
        .await
        .unwrap();
    assert_eq!((sent.sender, sent.recipient), (a.id, b.id));
    assert_eq!(sent.created_at, w.clock.now());

    let notes = w.notifications.list(b.id, None, 100).await.unwrap().items;
    assert_eq!(notes.len(), notes_before + 1);
    let note = notes.last().unwrap();
    assert_eq!(note.code, NotificationCode::DirectMessage);
    assert_eq!(note.sender, Some(a.id));
    assert_eq!(note.content["messageId"], sent.id.to_string());
    assert_eq!(note.content["preview"], "hello bob");
    assert_eq!(
        drain(&mut events),
        [
            Event::DirectMessageSent {
                id: sent.id,
                sender: a.id,
                recipient: b.id
            },
            Event::NotificationCreated {
                recipient: b.id,
                id: note.id
            },
        ]
    );
    // Both sides read the same conversation.
    let from_b = w.messages.history(b.id, a.id, None, 10).await.unwrap();
    assert!(!from_b.has_next_page);
    let from_a = w.messages.history(a.id, b.id, None, 10).await.unwrap();
    assert_eq!(from_a.items, from_b.items);
    assert_eq!(from_b.items, [sent]);
}

#[tokio::test]
async fn only_friends_may_write_and_nothing_is_stored_otherwise() {
    let w = World::new();
    let [a, b, c] = [
        w.user("ann").await,
        w.user("bob").await,
        w.user("cid").await,
    ];
    let forbidden = |r: amity_domain::Result<_>| matches!(r, Err(DomainError::Forbidden(_)));

    // Strangers, a pending request (either way), a block.
    assert!(forbidden(w.messages.send(a.id, b.id, body("hi")).await));
    w.add(&a, &[&b]).await;
    assert!(forbidden(w.messages.send(a.id, b.id, body("hi")).await));
    assert!(forbidden(w.messages.send(b.id, a.id, body("hi")).await));
    w.add(&b, &[&a]).await;
    w.messages
        .send(b.id, a.id, body("friends now"))
        .await
        .unwrap();
    w.friends.block_users(a.id, &ids(&[&b])).await.unwrap();
    assert!(forbidden(w.messages.send(b.id, a.id, body("hi")).await));
    assert!(forbidden(w.messages.send(a.id, b.id, body("hi")).await));
    // History stays readable after the friendship ends.
    assert_eq!(
        w.messages
            .history(a.id, b.id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // Oneself, unknown and banned users.
    assert!(matches!(
        w.messages.send(a.id, a.id, body("me")).await,
        Err(DomainError::InvalidInput { field: "to", .. })
    ));
    assert!(matches!(
        w.messages
            .send(a.id, amity_domain::UserId::new(), body("?"))
            .await,
        Err(DomainError::NotFound(_))
    ));
    w.befriend(&a, &c).await;
    w.moderation
        .ban(&Actor::CommandLine, &ids(&[&c]), None, None)
        .await
        .unwrap();
    assert!(matches!(
        w.messages.send(a.id, c.id, body("are you there")).await,
        Err(DomainError::NotFound(_))
    ));
    assert!(
        w.messages
            .history(a.id, c.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn history_pages_newest_first() {
    let w = World::new();
    let [a, b, c] = [
        w.user("ann").await,
        w.user("bob").await,
        w.user("cid").await,
    ];
    w.befriend(&a, &b).await;
    w.befriend(&a, &c).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        w.tick();
        let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        sent.push(
            w.messages
                .send(from.id, to.id, body(&format!("m{i}")))
                .await
                .unwrap(),
        );
        // Another conversation interleaved, never listed here.
        w.messages
            .send(a.id, c.id, body("elsewhere"))
            .await
            .unwrap();
    }
    sent.reverse();
    let mut read = Vec::new();
    let mut before = None;
    loop {
        let page = w.messages.history(b.id, a.id, before, 2).await.unwrap();
        before = page.items.last().map(|m| m.id);
        read.extend(page.items);
        if !page.has_next_page {
            break;
        }
    }
    assert_eq!(read, sent);
    assert!(matches!(
        w.messages.history(a.id, b.id, None, 0).await,
        Err(DomainError::InvalidInput { .. })
    ));
    assert!(MessageBody::parse("   ").is_err());
}
