//! Signing in or up with a social network, linking one, and importing friends from it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::accounts::{NewUser, Role, User};
use crate::events::{EventBus, announce_notifications};
use crate::friends::{FriendLimits, FriendState, FriendView};
use crate::notifications::NotificationCode;
use crate::ports::{EdgeWrite, LinkTransaction, NewNotification, SocialLinkStore};
use crate::social::{ExternalAccount, Network, NetworkError, SocialNetwork};
use crate::time::Clock;
use crate::{DomainError, Handle, NotificationId, Result, UserId};

/// How many times a write is tried when a concurrent one gets in its way.
const MAX_ATTEMPTS: u32 = 5;

/// What an authentication, link or import did.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The (signed-in, linked or importing) user.
    pub user: User,
    /// Whether the user was created by this call.
    pub created: bool,
    /// The friendships this call created.
    pub friends: Vec<FriendView>,
}

/// Accounts and friends from Facebook and Steam.
#[derive(Clone)]
pub struct ImportService {
    store: Arc<dyn SocialLinkStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    limits: FriendLimits,
    networks: HashMap<Network, Arc<dyn SocialNetwork>>,
}

impl std::fmt::Debug for ImportService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportService").finish_non_exhaustive()
    }
}

fn failed(network: Network, error: NetworkError) -> DomainError {
    let message = match error {
        NetworkError::NotConfigured(what) => format!("{what} is not configured on this server"),
        NetworkError::Refused(why) => {
            format!("{network} refused the credential: {why} (nothing was changed)")
        }
        NetworkError::Unavailable(why) => {
            format!("{network} failed: {why} (nothing was changed)")
        }
    };
    DomainError::ImportFailed(message)
}

impl ImportService {
    /// A service on `store`, publishing on `bus`, with one client per network.
    pub fn new(
        store: Arc<dyn SocialLinkStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        limits: FriendLimits,
        networks: Vec<Arc<dyn SocialNetwork>>,
    ) -> Self {
        Self {
            store,
            bus,
            clock,
            limits,
            networks: networks.into_iter().map(|n| (n.network(), n)).collect(),
        }
    }

    fn client(&self, network: Network) -> Result<&Arc<dyn SocialNetwork>> {
        self.networks.get(&network).ok_or_else(|| {
            DomainError::ImportFailed(format!("{network} is not configured on this server"))
        })
    }

    async fn verify(&self, network: Network, credential: &str) -> Result<ExternalAccount> {
        if credential.trim().is_empty() {
            return Err(DomainError::invalid(
                credential_field(network),
                "must not be empty",
            ));
        }
        self.client(network)?
            .verify(credential.trim())
            .await
            .map_err(|e| failed(network, e))
    }

    async fn friends_of(
        &self,
        network: Network,
        account: &str,
        credential: Option<&str>,
    ) -> Result<Vec<String>> {
        self.client(network)?
            .friends(account, credential.map(str::trim))
            .await
            .map_err(|e| failed(network, e))
    }

    /// Signs in the user linked to the network account `credential` belongs to; or, when there
    /// is none, creates one (with a free handle derived from the network's name), links it and
    /// imports its friends. The network is asked everything before anything is written.
    pub async fn authenticate(&self, network: Network, credential: &str) -> Result<Imported> {
        let account = self.verify(network, credential).await?;
        if let Some(user) = self.linked_user(network, &account.id).await? {
            return Ok(Imported {
                user,
                created: false,
                friends: Vec::new(),
            });
        }
        let friends = self
            .friends_of(network, &account.id, Some(credential))
            .await?;
        for attempt in 1..=MAX_ATTEMPTS {
            match self.try_create(network, &account, &friends).await {
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    // Someone linked the account meanwhile (a double tap): sign them in.
                    if let Some(user) = self.linked_user(network, &account.id).await? {
                        return Ok(Imported {
                            user,
                            created: false,
                            friends: Vec::new(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5)).await;
                }
                other => return other,
            }
        }
        Err(DomainError::Internal(
            "authenticate: out of attempts".into(),
        ))
    }

    /// The user linked to a network account, refusing banned ones.
    async fn linked_user(&self, network: Network, id: &str) -> Result<Option<User>> {
        self.store
            .user_by_external(network, id)
            .await?
            .map(|user| user.may_sign_in(self.clock.now()))
            .transpose()
    }

    async fn try_create(
        &self,
        network: Network,
        account: &ExternalAccount,
        friends: &[String],
    ) -> Result<Imported> {
        let now = self.clock.now();
        let mut tx = self.store.begin_links().await?;
        let handle = free_handle(tx.as_mut(), network, account).await?;
        let user = tx
            .insert_user(&NewUser {
                id: UserId::new(),
                handle,
                display_name: account.name.as_ref().map(|n| n.chars().take(64).collect()),
                password_hash: None,
                role: Role::User,
                created_at: now,
            })
            .await
            .map_err(|e| match e {
                // Another sign-up took the handle meanwhile: try again with a fresh one.
                DomainError::HandleTaken(h) => DomainError::Conflict(format!("handle {h}").into()),
                other => other,
            })?;
        tx.link_external(user.id, network, &account.id, now).await?;
        let (created, notes) = self
            .apply_import(tx.as_mut(), &user, network, friends, false)
            .await?;
        tx.commit().await?;
        announce_notifications(self.bus.as_ref(), &notes);
        tracing::info!(user = %user.handle, %network, friends = created.len(), "signed up with a network");
        Ok(Imported {
            user,
            created: true,
            friends: created,
        })
    }

    /// Links the network account `credential` belongs to to the signed-in user, and (with
    /// `import_friends`) imports its friends. An account linked to someone else is refused, as
    /// is a second account of the same network.
    pub async fn link(
        &self,
        user: UserId,
        network: Network,
        credential: &str,
        import_friends: bool,
    ) -> Result<Imported> {
        let account = self.verify(network, credential).await?;
        if let Some(owner) = self.store.user_by_external(network, &account.id).await?
            && owner.id != user
        {
            return Err(DomainError::Forbidden(format!(
                "this {network} account is linked to another user"
            )));
        }
        let linked = self.store.external_id_of(user, network).await?;
        if linked.as_ref().is_some_and(|id| *id != account.id) {
            return Err(DomainError::invalid(
                credential_field(network),
                format!("you already linked another {network} account"),
            ));
        }
        let friends = if import_friends {
            self.friends_of(network, &account.id, Some(credential))
                .await?
        } else {
            Vec::new()
        };
        let needs_link = linked.is_none();
        self.write(user, network, &friends, false, |tx, now| {
            let account = account.id.clone();
            Box::pin(async move {
                if needs_link {
                    tx.link_external(user, network, &account, now).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Imports friends again from the network linked to `user` (Facebook needs a fresh access
    /// token of the same account; Steam lists by the linked id). With `reset`, friendships
    /// imported from that network that it no longer reports are removed; hand-made ones and
    /// blocks are never touched. Returns the friendships created.
    pub async fn import(
        &self,
        user: UserId,
        network: Network,
        credential: Option<&str>,
        reset: bool,
    ) -> Result<Vec<FriendView>> {
        let Some(linked) = self.store.external_id_of(user, network).await? else {
            return Err(DomainError::invalid(
                credential_field(network),
                format!(
                    "link a {network} account first (link{})",
                    network.display_name()
                ),
            ));
        };
        if let Some(credential) = credential {
            let account = self.verify(network, credential).await?;
            if account.id != linked {
                return Err(DomainError::invalid(
                    credential_field(network),
                    format!("it belongs to another {network} account than the one you linked"),
                ));
            }
        }
        let friends = self.friends_of(network, &linked, credential).await?;
        Ok(self
            .write(user, network, &friends, reset, |_, _| {
                Box::pin(async { Ok(()) })
            })
            .await?
            .friends)
    }

    /// One import transaction for an existing user, with `before` run first inside it.
    async fn write<F>(
        &self,
        user: UserId,
        network: Network,
        friends: &[String],
        reset: bool,
        before: F,
    ) -> Result<Imported>
    where
        F: for<'t> Fn(
            &'t mut dyn LinkTransaction,
            chrono::DateTime<chrono::Utc>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<()>> + Send + 't>,
        >,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let result: Result<Imported> = async {
                let now = self.clock.now();
                let mut tx = self.store.begin_links().await?;
                let me = tx
                    .find_users(&[user], &[])
                    .await?
                    .by_id
                    .pop()
                    .ok_or_else(|| {
                        DomainError::Unauthenticated("your account no longer exists".into())
                    })?;
                before(tx.as_mut(), now).await?;
                let (created, notes) = self
                    .apply_import(tx.as_mut(), &me, network, friends, reset)
                    .await?;
                tx.commit().await?;
                announce_notifications(self.bus.as_ref(), &notes);
                Ok(Imported {
                    user: me,
                    created: false,
                    friends: created,
                })
            }
            .await;
            match result {
                Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 5)).await;
                }
                other => return other,
            }
        }
        Err(DomainError::Internal("import: out of attempts".into()))
    }

    /// Inside `tx`: makes `me` FRIEND with every matched user (both sides, source `network`),
    /// except across a block either way or past a limit; with `reset`, removes friendships
    /// imported from `network` that it no longer reports. Returns the created views and the
    /// FRIEND_JOINED notifications stored.
    async fn apply_import(
        &self,
        tx: &mut dyn LinkTransaction,
        me: &User,
        network: Network,
        external_ids: &[String],
        reset: bool,
    ) -> Result<(Vec<FriendView>, Vec<NewNotification>)> {
        let now = self.clock.now();
        let matched: Vec<User> = tx
            .users_by_external(network, external_ids)
            .await?
            .into_iter()
            .filter(|u| u.id != me.id && !u.is_banned_at(now))
            .collect();
        let matched_ids: HashSet<UserId> = matched.iter().map(|u| u.id).collect();
        let to_remove: Vec<UserId> = if reset {
            tx.imported_friends(me.id, network)
                .await?
                .into_iter()
                .filter(|id| !matched_ids.contains(id))
                .collect()
        } else {
            Vec::new()
        };
        let mut involved: Vec<UserId> = matched_ids.iter().copied().collect();
        involved.extend(&to_remove);
        if involved.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut lock_ids = involved.clone();
        lock_ids.push(me.id);
        tx.lock_users(&lock_ids).await?;
        let pairs = tx.pairs(me.id, &involved).await?;
        let mut counted: Vec<UserId> = matched_ids.iter().copied().collect();
        counted.push(me.id);
        let counts = tx.counts_of(&counted).await?;
        let mut my_friends = counts.get(&me.id).map_or(0, |c| c.friends);
        let mut their_friends: HashMap<UserId, u32> = counts
            .iter()
            .filter(|(id, _)| **id != me.id)
            .map(|(id, c)| (*id, c.friends))
            .collect();

        let mut writes = Vec::new();
        let mut notes = Vec::new();
        let mut created = Vec::new();
        for other in &matched {
            let pair = pairs.get(&other.id).map(|p| p.pair).unwrap_or_default();
            let blocked = pair.mine == Some(FriendState::Blocked)
                || pair.theirs == Some(FriendState::Blocked);
            let friends =
                pair.mine == Some(FriendState::Friend) && pair.theirs == Some(FriendState::Friend);
            if blocked || friends {
                continue;
            }
            let theirs = their_friends.entry(other.id).or_default();
            if my_friends >= self.limits.max_friends || *theirs >= self.limits.max_friends {
                tracing::info!(user = %me.handle, other = %other.handle, %network, "import skipped a friend: limit reached");
                continue;
            }
            my_friends += 1;
            *theirs += 1;
            for (owner, with) in [(me.id, other.id), (other.id, me.id)] {
                writes.push(EdgeWrite {
                    owner,
                    other: with,
                    state: Some(FriendState::Friend),
                    metadata: None,
                    source: Some(network),
                });
            }
            notes.push(joined(other, me, network));
            notes.push(joined(me, other, network));
            let mine = pairs.get(&other.id);
            created.push(FriendView {
                user: other.clone(),
                state: FriendState::Friend,
                updated_at: now,
                metadata: mine.and_then(|p| p.my_metadata.clone()),
                source: Some(network),
            });
        }
        for other in &to_remove {
            let pair = pairs.get(other).map(|p| p.pair).unwrap_or_default();
            if pair.mine == Some(FriendState::Friend) && pair.theirs == Some(FriendState::Friend) {
                for (owner, with) in [(me.id, *other), (*other, me.id)] {
                    writes.push(EdgeWrite {
                        owner,
                        other: with,
                        state: None,
                        metadata: None,
                        source: None,
                    });
                }
            }
        }
        if !writes.is_empty() {
            tx.write_edges(&writes, now).await?;
        }
        if !notes.is_empty() {
            tx.insert_notifications(&notes, now).await?;
        }
        Ok((created, notes))
    }
}

/// The argument a network's credential arrives in.
fn credential_field(network: Network) -> &'static str {
    match network {
        Network::Facebook => "accessToken",
        Network::Steam => "ticket",
    }
}

/// FRIEND_JOINED for `recipient` about `friend`.
fn joined(recipient: &User, friend: &User, network: Network) -> NewNotification {
    NewNotification {
        id: NotificationId::new(),
        recipient: recipient.id,
        code: NotificationCode::FriendJoined,
        subject: format!(
            "{}, your {network} friend, is now your friend here",
            friend.handle
        ),
        content: json!({
            "userId": friend.id.to_string(),
            "handle": friend.handle.as_str(),
            "network": network.as_str(),
        }),
        sender: Some(friend.id),
    }
}

/// A handle no one has: the network name made handle-safe (or `<network>_<id>`), then with a
/// number, then with a random suffix.
async fn free_handle(
    tx: &mut dyn LinkTransaction,
    network: Network,
    account: &ExternalAccount,
) -> Result<Handle> {
    let base = handle_base(network, account);
    let mut candidates: Vec<String> = vec![base.clone()];
    candidates.extend((2..=9).map(|n| suffixed(&base, &n.to_string())));
    let parsed: Vec<Handle> = candidates
        .iter()
        .filter_map(|c| Handle::parse("handle", c).ok())
        .collect();
    let taken: HashSet<String> = tx
        .find_users(&[], &parsed)
        .await?
        .by_handle
        .iter()
        .map(|u| u.handle.key())
        .collect();
    if let Some(free) = parsed.into_iter().find(|h| !taken.contains(&h.key())) {
        return Ok(free);
    }
    let random = UserId::new().as_uuid().simple().to_string();
    Handle::parse("handle", &suffixed(&base, &random[random.len() - 6..]))
}

/// The handle-safe form of the account's name, or `<network>_<id>`.
fn handle_base(network: Network, account: &ExternalAccount) -> String {
    let from_name: String = account
        .name
        .as_deref()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(24)
        .collect();
    let from_name = from_name.trim_matches(['_', '.', '-']).to_owned();
    if from_name.len() >= 3 {
        return from_name;
    }
    let id: String = account
        .id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect();
    format!("{}_{id}", network.as_str())
}

fn suffixed(base: &str, suffix: &str) -> String {
    let keep = 32usize.saturating_sub(suffix.len() + 1);
    format!("{}_{suffix}", &base[..base.len().min(keep)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, name: Option<&str>) -> ExternalAccount {
        ExternalAccount {
            id: id.to_owned(),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn handles_come_from_names_or_ids_and_stay_valid() {
        let base = |n, a: &ExternalAccount| handle_base(n, a);
        assert_eq!(
            base(Network::Facebook, &account("10", Some("Ada Lovelace"))),
            "Ada_Lovelace"
        );
        assert_eq!(
            base(Network::Facebook, &account("10", Some("Émile Zola"))),
            "mile_Zola"
        );
        assert_eq!(
            base(Network::Facebook, &account("1234", Some("李"))),
            "facebook_1234"
        );
        assert_eq!(
            base(Network::Steam, &account("76561197960287930", None)),
            "steam_76561197960287930"
        );
        let long = suffixed(&"x".repeat(40), "123456");
        assert_eq!(long.len(), 32);
        assert!(Handle::parse("handle", &long).is_ok());
    }
}
