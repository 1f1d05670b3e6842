//! Sign-up and sign-in (banned users are refused), lookups and profiles.

use std::sync::Arc;

use crate::accounts::{NewUser, ProfileChange, Role, User};
use crate::input::{DisplayName, Password};
use crate::ports::{PasswordHasher, UserStore};
use crate::time::Clock;
use crate::{DomainError, Handle, Result, UserId};

/// Creates accounts and checks credentials.
#[derive(Clone)]
pub struct AccountService {
    store: Arc<dyn UserStore>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
}

impl AccountService {
    /// A service on the given store, password hasher and clock.
    pub fn new(
        store: Arc<dyn UserStore>,
        hasher: Arc<dyn PasswordHasher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            hasher,
            clock,
        }
    }

    /// Creates an account with a password. `role` other than USER is for the command line only.
    pub async fn create_account(
        &self,
        handle: &str,
        password: &str,
        display_name: Option<&str>,
        role: Role,
    ) -> Result<User> {
        let handle = Handle::parse("handle", handle)?;
        let password = Password::parse(password)?;
        let display_name = DisplayName::parse_optional(display_name)?;
        if self.store.user_by_handle(&handle).await?.is_some() {
            return Err(DomainError::HandleTaken(handle.to_string()));
        }
        let password_hash = self.hasher.hash(&password).await?;
        self.store
            .insert_user(NewUser {
                id: UserId::new(),
                handle,
                display_name: display_name.map(DisplayName::into_string),
                password_hash: Some(password_hash),
                role,
                created_at: self.clock.now(),
            })
            .await
    }

    /// Checks a handle and password; the same error whether the handle or the password is wrong.
    pub async fn sign_in(&self, handle: &str, password: &str) -> Result<User> {
        let Ok(handle) = Handle::parse("handle", handle) else {
            return Err(DomainError::InvalidCredentials);
        };
        let found = self.store.credentials_by_handle(&handle).await?;
        let hash = found.as_ref().and_then(|(_, hash)| hash.as_deref());
        // Verify even when the user is unknown, so timing does not tell which handles exist.
        let ok = self.hasher.verify(password, hash).await?;
        match found {
            Some((user, Some(_))) if ok => user.may_sign_in(self.clock.now()),
            _ => Err(DomainError::InvalidCredentials),
        }
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>> {
        self.store.user_by_id(id).await
    }

    /// The user with this handle (case-insensitive).
    pub async fn user_by_handle(&self, handle: &str) -> Result<Option<User>> {
        let handle = Handle::parse("handle", handle)?;
        self.store.user_by_handle(&handle).await
    }

    /// Users by id, in no particular order; unknown ids are skipped.
    pub async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        self.store.users_by_ids(ids).await
    }

    /// Changes the user's own display name, avatar address or metadata (already parsed).
    pub async fn update_profile(&self, id: UserId, change: ProfileChange) -> Result<User> {
        if change.is_empty() {
            return self.store.user_by_id(id).await?.ok_or_else(|| {
                DomainError::Unauthenticated("your account no longer exists".into())
            });
        }
        self.store
            .update_profile(id, &change)
            .await?
            .ok_or_else(|| DomainError::Unauthenticated("your account no longer exists".into()))
    }
}
