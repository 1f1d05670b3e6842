//! NotificationService: oldest-first pages with a reusable cursor; marking read and deleting
//! one's own only.

use amity_domain::DomainError;
use amity_domain::NotificationId;
use amity_domain::notifications::NotificationCode;

use crate::support::{World, ids};

#[tokio::test]
async fn pages_run_oldest_first_and_a_kept_cursor_gives_only_newer_ones() {
    let w = World::new();
    let me = w.user("ann").await;
    let askers = w.users(&["bob", "cid", "dee", "eve", "fay"]).await;
    for asker in &askers[..3] {
        w.tick();
        w.add(asker, &[&me]).await;
    }
    let first = w.notifications.list(me.id, None, 2).await.unwrap();
    assert!(first.has_next_page);
    let senders: Vec<_> = first.items.iter().map(|n| n.sender).collect();
    assert_eq!(senders, [Some(askers[0].id), Some(askers[1].id)]);
    assert!(
        first
            .items
            .iter()
            .all(|n| n.code == NotificationCode::FriendRequest)
    );
    let cursor = first.items.last().map(|n| n.id);
    let rest = w.notifications.list(me.id, cursor, 2).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(!rest.has_next_page);

    // Later, the same cursor gives what came since, and nobody else's.
    for asker in &askers[3..] {
        w.tick();
        w.add(asker, &[&me]).await;
    }
    w.friends
        .add_friends(me.id, &ids(&[&askers[0]]), None)
        .await
        .unwrap();
    let since = w.notifications.list(me.id, cursor, 100).await.unwrap();
    let senders: Vec<_> = since.items.iter().map(|n| n.sender).collect();
    assert_eq!(
        senders,
        [Some(askers[2].id), Some(askers[3].id), Some(askers[4].id)]
    );
    for bad in [0, 1001] {
        assert!(matches!(
            w.notifications.list(me.id, None, bad).await,
            Err(DomainError::InvalidInput { field: "first", .. })
        ));
    }
}

#[tokio::test]
async fn one_can_mark_read_and_delete_only_ones_own() {
    let w = World::new();
    let [a, b, c] = [
        w.user("ann").await,
        w.user("bob").await,
        w.user("cid").await,
    ];
    w.add(&b, &[&a]).await;
    w.add(&c, &[&a]).await;
    w.add(&a, &[&b]).await;
    let mine: Vec<NotificationId> = w
        .notifications
        .list(a.id, None, 100)
        .await
        .unwrap()
        .items
        .iter()
        .map(|n| n.id)
        .collect();
    let bobs = w.notifications.list(b.id, None, 100).await.unwrap().items;
    assert_eq!((mine.len(), bobs.len()), (2, 1));

    // Someone else's ids are ignored; duplicates count once; a second marking changes
    // nothing.
    assert_eq!(
        w.notifications
            .mark_read(a.id, &[bobs[0].id])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        w.notifications
            .mark_read(a.id, &[mine[0], mine[0]])
            .await
            .unwrap(),
        1
    );
    assert_eq!(w.notifications.mark_read(a.id, &mine).await.unwrap(), 1);
    assert_eq!(w.notifications.mark_read(a.id, &mine).await.unwrap(), 0);
    let read = w.notifications.list(a.id, None, 100).await.unwrap().items;
    assert!(read.iter().all(|n| n.read_at == Some(n.created_at)));
    assert_eq!(
        w.notifications.list(b.id, None, 100).await.unwrap().items,
        bobs
    );

    assert_eq!(
        w.notifications.delete(a.id, &[bobs[0].id]).await.unwrap(),
        0
    );
    assert_eq!(w.notifications.delete(a.id, &mine).await.unwrap(), 2);
    assert_eq!(w.notifications.delete(a.id, &mine).await.unwrap(), 0);
    assert!(
        w.notifications
            .list(a.id, None, 100)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        w.notifications
            .list(b.id, None, 100)
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    let too_many = vec![NotificationId::new(); 1001];
    assert!(w.notifications.mark_read(a.id, &too_many).await.is_err());
    assert!(w.notifications.delete(a.id, &too_many).await.is_err());
}

#[tokio::test]
async fn a_job_interrupted_after_a_batch_resumes_and_delivers_each_user_once() {
    use amity_domain::events::EventBus;
    use amity_domain::notifications::system::{SystemMessage, SystemNotifications};
    use amity_domain::ports::NotificationStore;
    use amity_domain::time::Clock;

    let w = World::new();
    let users = w
        .users(&["j01", "j02", "j03", "j04", "j05", "j06", "j07"])
        .await;
    // Batches of 3 users.
    let system = SystemNotifications::new(w.store.clone(), w.bus.clone(), w.clock.clone(), 3);
    let mut events = w.bus.subscribe();
    let message = SystemMessage::parse("Patch notes", None).unwrap();
    let (job, recipients) = system.send_to_all(&message).await.unwrap();
    assert_eq!(recipients, 7);
    // One batch, then the process "stops".
    let first = w
        .store
        .run_notification_batch(job.id, 3, w.clock.now(), &NotificationId::new)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.len(), 3);
    // A new process (another node) resumes the job where it stopped.
    let resumed = SystemNotifications::new(w.store.clone(), w.bus.clone(), w.clock.clone(), 3);
    resumed.run_pending().await;
    assert!(
        w.store
            .unfinished_notification_jobs()
            .await
            .unwrap()
            .is_empty()
    );
    for user in &users {
        let page = w.notifications.list(user.id, None, 100).await.unwrap();
        let system: Vec<_> = page
            .items
            .iter()
            .filter(|n| n.code == NotificationCode::System)
            .collect();
        assert_eq!(
            system.len(),
            1,
            "{} got it {} times",
            user.handle,
            system.len()
        );
        assert_eq!(system[0].subject, "Patch notes");
    }
    // Running it again delivers nothing more.
    assert_eq!(resumed.run_job(job.id, &|_| {}).await.unwrap(), 0);
    // The resumed batches were announced live (the first, run by hand here, was not).
    let mut announced = 0;
    while let Ok(event) = events.try_recv() {
        if matches!(
            event,
            amity_domain::events::Event::NotificationCreated { .. }
        ) {
            announced += 1;
        }
    }
    assert_eq!(announced, 4);
}
