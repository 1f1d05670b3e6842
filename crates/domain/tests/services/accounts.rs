//! AccountService: sign-up, unique handles, sign-in, bans at sign-in, profiles.

use amity_domain::DomainError;
use amity_domain::accounts::{NewUser, ProfileChange, Role};
use amity_domain::input::{DisplayName, Metadata};
use amity_domain::moderation::Actor;
use amity_domain::ports::UserStore;
use amity_domain::time::Clock;
use amity_domain::{Handle, UserId};
use serde_json::json;

use crate::support::{World, ids};

#[tokio::test]
async fn sign_up_then_sign_in_with_the_right_password_only() {
    let w = World::new();
    let user = w
        .accounts
        .create_account("Ada_L", "correct horse", Some("  Ada  "), Role::User)
        .await
        .unwrap();
    assert_eq!(user.handle.as_str(), "Ada_L");
    assert_eq!(user.display_name.as_deref(), Some("Ada"));
    assert_eq!(user.created_at, w.clock.now());

    // Any case of the handle signs in.
    assert_eq!(
        w.accounts
            .sign_in("ada_l", "correct horse")
            .await
            .unwrap()
            .id,
        user.id
    );
    // Wrong password, unknown or malformed handle: one error, saying nothing more.
    for (handle, password) in [
        ("Ada_L", "wrong horse"),
        ("nobody", "correct horse"),
        ("no spaces allowed", "correct horse"),
    ] {
        assert!(
            matches!(
                w.accounts.sign_in(handle, password).await,
                Err(DomainError::InvalidCredentials)
            ),
            "{handle}/{password}"
        );
    }
    // An account without a password (made through a network) cannot sign in with one.
    w.user("no_password").await;
    assert!(matches!(
        w.accounts.sign_in("no_password", "anything at all").await,
        Err(DomainError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn handles_are_unique_whatever_their_case() {
    let w = World::new();
    w.accounts
        .create_account("grace", "password1", None, Role::User)
        .await
        .unwrap();
    assert!(matches!(
        w.accounts.create_account("GRACE", "password2", None, Role::User).await,
        Err(DomainError::HandleTaken(h)) if h == "GRACE"
    ));
    // The store refuses it too (two sign-ups racing past the service's check).
    let raced = w
        .store
        .insert_user(NewUser {
            id: UserId::new(),
            handle: Handle::parse("handle", "Grace").unwrap(),
            display_name: None,
            password_hash: None,
            role: Role::User,
            created_at: w.clock.now(),
        })
        .await;
    assert!(matches!(raced, Err(DomainError::HandleTaken(_))));
    // Bad input is refused before anything is stored.
    assert!(matches!(
        w.accounts
            .create_account("ok_handle", "short", None, Role::User)
            .await,
        Err(DomainError::InvalidInput {
            field: "password",
            ..
        })
    ));
    assert!(matches!(
        w.accounts
            .create_account("x", "password1", None, Role::User)
            .await,
        Err(DomainError::InvalidInput {
            field: "handle",
            ..
        })
    ));
    assert!(
        w.accounts
            .user_by_handle("ok_handle")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        w.accounts
            .user_by_handle("gRaCe")
            .await
            .unwrap()
            .unwrap()
            .handle
            .as_str(),
        "grace"
    );
}

#[tokio::test]
async fn a_banned_user_cannot_sign_in_until_the_ban_ends() {
    let w = World::new();
    let user = w
        .accounts
        .create_account("mallory", "password1", None, Role::User)
        .await
        .unwrap();
    let until = w.clock.now() + chrono::Duration::hours(2);
    w.moderation
        .ban(
            &Actor::CommandLine,
            &ids(&[&user]),
            Some("spam"),
            Some(until),
        )
        .await
        .unwrap();
    match w.accounts.sign_in("mallory", "password1").await {
        Err(DomainError::Forbidden(message)) => {
            assert!(message.contains("banned until"), "{message}")
        }
        other => panic!("expected FORBIDDEN, got {other:?}"),
    }
    // A wrong password is still just a wrong password.
    assert!(matches!(
        w.accounts.sign_in("mallory", "password2").await,
        Err(DomainError::InvalidCredentials)
    ));
    w.clock.set(until);
    assert!(w.accounts.sign_in("mallory", "password1").await.is_ok());
}

#[tokio::test]
async fn profiles_change_field_by_field() {
    let w = World::new();
    let user = w.user("ada").await;
    let named = w
        .accounts
        .update_profile(
            user.id,
            ProfileChange {
                display_name: Some(DisplayName::parse_optional(Some("Ada")).unwrap()),
                metadata: Some(Some(
                    Metadata::parse("metadata", json!({"level": 3})).unwrap(),
                )),
                ..ProfileChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(named.display_name.as_deref(), Some("Ada"));
    assert_eq!(named.metadata.unwrap().to_value(), json!({"level": 3}));
    // Clearing one field keeps the others; an empty change changes nothing.
    let cleared = w
        .accounts
        .update_profile(
            user.id,
            ProfileChange {
                display_name: Some(None),
                ..ProfileChange::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.display_name, None);
    assert!(cleared.metadata.is_some());
    assert_eq!(
        w.accounts
            .update_profile(user.id, ProfileChange::default())
            .await
            .unwrap(),
        cleared
    );
    assert_eq!(w.accounts.user_by_id(user.id).await.unwrap(), Some(cleared));
    assert!(matches!(
        w.accounts
            .update_profile(UserId::new(), ProfileChange::default())
            .await,
        Err(DomainError::Unauthenticated(_))
    ));
}
