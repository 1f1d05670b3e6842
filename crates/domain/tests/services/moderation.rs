//! ModerationService: who may ban, unban and set roles, what a ban hides and what an unban
//! restores, and the audit log.

use amity_domain::DomainError;
use amity_domain::accounts::Role;
use amity_domain::error::TargetProblemKind;
use amity_domain::events::Event;
use amity_domain::friends::FriendState;
use amity_domain::moderation::{Actor, ModerationAction};
use amity_domain::ports::ModerationStore;
use amity_domain::time::Clock;

use crate::support::{World, drain, handles, ids};

fn forbidden<T: std::fmt::Debug>(result: amity_domain::Result<T>) -> bool {
    matches!(result, Err(DomainError::Forbidden(_)))
}

#[tokio::test]
async fn a_ban_hides_the_user_and_an_unban_restores_every_edge_unchanged() {
    let w = World::new();
    let moderator = w.user_with_role("mod", Role::Moderator).await;
    let [a, b, c] = [
        w.user("ann").await,
        w.user("bob").await,
        w.user("cid").await,
    ];
    w.befriend(&a, &b).await;
    w.add(&b, &[&c]).await;
    let edges_before = w.friends.list(a.id, &[], None, 100).await.unwrap().items;
    let mut events = w.events();

    w.tick();
    let banned = w
        .moderation
        .ban(
            &Actor::User(moderator.id),
            &handles(&["BOB"]),
            Some("  spam "),
            None,
        )
        .await
        .unwrap();
    assert_eq!(banned.len(), 1);
    assert_eq!(drain(&mut events), [Event::AccessChanged { user: b.id }]);
    // Hidden from friend lists and counts, unknown as a target, but the edges are kept.
    assert!(
        w.friends
            .list(a.id, &[], None, 100)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(w.friends.counts(a.id).await.unwrap().friends, 0);
    assert_eq!(w.friends.counts(c.id).await.unwrap().invites_received, 0);
    match w.friends.remove_friends(a.id, &ids(&[&b])).await {
        Err(DomainError::InvalidTargets(problems)) => {
            assert_eq!(problems[0].kind, TargetProblemKind::Unknown)
        }
        other => panic!("expected an unknown target, got {other:?}"),
    }
    assert_eq!(
        w.friends.views_of(a.id, &[b.id]).await.unwrap().get(&b.id),
        Some(&FriendState::Friend)
    );

    w.tick();
    w.moderation
        .unban(&Actor::User(moderator.id), &ids(&[&b]))
        .await
        .unwrap();
    assert_eq!(
        w.friends
            .list(a.id, &[], None, 100)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let edges_after = w.friends.list(a.id, &[], None, 100).await.unwrap().items;
    assert_eq!(edges_after[0].updated_at, edges_before[0].updated_at);
    assert_eq!(w.friends.counts(c.id).await.unwrap().invites_received, 1);
}

#[tokio::test]
async fn only_moderators_ban_and_never_an_admin_or_themselves() {
    let w = World::new();
    let moderator = w.user_with_role("mod", Role::Moderator).await;
    let admin = w.user_with_role("root", Role::Admin).await;
    let [a, b] = [w.user("ann").await, w.user("bob").await];

    assert!(forbidden(
        w.moderation
            .ban(&Actor::User(a.id), &ids(&[&b]), None, None)
            .await
    ));
    // One admin among the targets refuses the whole call.
    assert!(forbidden(
        w.moderation
            .ban(&Actor::User(moderator.id), &ids(&[&b, &admin]), None, None)
            .await
    ));
    assert!(matches!(
        w.moderation
            .ban(&Actor::User(moderator.id), &ids(&[&moderator]), None, None)
            .await,
        Err(DomainError::InvalidTargets(_))
    ));
    let past = w.clock.now() - chrono::Duration::seconds(1);
    assert!(matches!(
        w.moderation
            .ban(&Actor::User(moderator.id), &ids(&[&b]), None, Some(past))
            .await,
        Err(DomainError::InvalidInput { field: "until", .. })
    ));
    assert!(matches!(
        w.moderation
            .ban(
                &Actor::User(moderator.id),
                &ids(&[&b]),
                Some(&"x".repeat(501)),
                None
            )
            .await,
        Err(DomainError::InvalidInput {
            field: "reason",
            ..
        })
    ));
    // Nothing of that was done or logged.
    assert!(w.store.moderation_log(None, 100).await.unwrap().is_empty());
    assert!(
        w.store
            .access_status(b.id)
            .await
            .unwrap()
            .unwrap()
            .ban
            .is_none()
    );
    // An admin may ban anyone but themselves.
    w.moderation
        .ban(&Actor::User(admin.id), &ids(&[&moderator, &b]), None, None)
        .await
        .unwrap();
    // A banned moderator's role still says moderator; the ban is what stops them, at the
    // session check (AccessControl).
    let status = w.store.access_status(moderator.id).await.unwrap().unwrap();
    assert_eq!(status.role, Role::Moderator);
    assert!(status.ban.is_some());
}

#[tokio::test]
async fn roles_are_set_by_admins_and_the_command_line_only() {
    let w = World::new();
    let moderator = w.user_with_role("mod", Role::Moderator).await;
    let admin = w.user_with_role("root", Role::Admin).await;
    let a = w.user("ann").await;
    assert!(forbidden(
        w.moderation
            .set_role(&Actor::User(moderator.id), "ann", Role::Moderator)
            .await
    ));
    assert!(forbidden(
        w.moderation
            .set_role(&Actor::User(a.id), "ann", Role::Admin)
            .await
    ));
    let promoted = w
        .moderation
        .set_role(&Actor::User(admin.id), "ANN", Role::Moderator)
        .await
        .unwrap();
    assert_eq!(promoted.role, Role::Moderator);
    assert_eq!(
        w.store.access_status(a.id).await.unwrap().unwrap().role,
        Role::Moderator
    );
    w.moderation
        .set_role(&Actor::CommandLine, "ann", Role::Admin)
        .await
        .unwrap();
    assert_eq!(
        w.accounts.user_by_id(a.id).await.unwrap().unwrap().role,
        Role::Admin
    );
    assert!(matches!(
        w.moderation
            .set_role(&Actor::CommandLine, "nobody", Role::Admin)
            .await,
        Err(DomainError::InvalidTargets(_))
    ));
}

#[tokio::test]
async fn the_audit_log_pages_newest_first_for_moderators_only() {
    let w = World::new();
    let moderator = w.user_with_role("mod", Role::Moderator).await;
    let [a, b] = [w.user("ann").await, w.user("bob").await];
    let until = w.clock.now() + chrono::Duration::days(1);
    w.moderation
        .ban(
            &Actor::User(moderator.id),
            &ids(&[&a, &b]),
            Some("cheating"),
            Some(until),
        )
        .await
        .unwrap();
    w.tick();
    w.moderation
        .unban(&Actor::CommandLine, &ids(&[&a]))
        .await
        .unwrap();
    w.tick();
    w.moderation
        .set_role(&Actor::System("anti-cheat".into()), "bob", Role::Moderator)
        .await
        .unwrap();

    let log = w
        .moderation
        .log(&Actor::User(moderator.id), None, 100)
        .await
        .unwrap();
    let summary: Vec<_> = log
        .iter()
        .map(|e| (e.action, e.target, e.actor_label.as_str()))
        .collect();
    assert_eq!(summary.len(), 4);
    assert_eq!(summary[0], (ModerationAction::SetRole, b.id, "anti-cheat"));
    assert_eq!(summary[1], (ModerationAction::Unban, a.id, "command line"));
    assert_eq!(summary[2].0, ModerationAction::Ban);
    assert_eq!(summary[2].2, "mod");
    assert_eq!(log[0].role, Some(Role::Moderator));
    assert_eq!(log[1].actor, None);
    assert_eq!(log[2].actor, Some(moderator.id));
    assert_eq!(log[2].reason.as_deref(), Some("cheating"));
    assert_eq!(log[2].until, Some(until));

    // Pages of one, by the `before` cursor, give the same entries.
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = w
            .moderation
            .log(&Actor::CommandLine, before, 1)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        paged.extend(page);
    }
    assert_eq!(paged, log);
    // Entries made since a moment, for the poll of other processes' changes.
    let since = w.clock.now() - chrono::Duration::seconds(1);
    let recent = w.store.moderation_targets_since(since).await.unwrap();
    assert_eq!(
        recent
            .iter()
            .map(|(_, target, _)| *target)
            .collect::<Vec<_>>(),
        [a.id, b.id]
    );

    assert!(forbidden(
        w.moderation.log(&Actor::User(a.id), None, 10).await
    ));
    assert!(matches!(
        w.moderation.log(&Actor::CommandLine, None, 0).await,
        Err(DomainError::InvalidInput { .. })
    ));
}
