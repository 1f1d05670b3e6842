//! Amity's password hashing: the argon2id adapter of the domain's
//! [`amity_domain::ports::PasswordHasher`] port, used by the server and the command line (which
//! need no GraphQL to hash a password) and by the bench's data-set generator.
//!
//! Hashes run off the async threads, at most one per core at once.
//!
//! A hash costs tens of milliseconds of a core and 19 MiB: without a bound, a flood of sign-in
//! attempts queues hundreds of them, starving every other request. Past the bound, attempts
//! wait up to [`HASH_WAIT`] for a turn, then fail as unavailable.

mod secrets;

pub use secrets::Sha256Secrets;

use std::sync::Arc;
use std::time::Duration;

use amity_domain::input::Password;
use amity_domain::ports::PasswordHasher;
use amity_domain::{DomainError, Result};
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a hash waits for a turn before the attempt fails as unavailable.
pub const HASH_WAIT: Duration = Duration::from_secs(2);

/// Cost parameters of argon2id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
}

impl Default for HashCost {
    /// OWASP's recommended minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
        }
    }
}

/// Hashes with argon2id and verifies any argon2 PHC string.
#[derive(Clone)]
pub struct Argon2Hasher {
    argon: Arc<Argon2<'static>>,
    /// A hash of a random password, verified against when the user is unknown, so that an
    /// unknown handle costs as much time as a wrong password.
    decoy: Arc<String>,
    /// One permit per hash allowed at once.
    turns: Arc<Semaphore>,
    wait: Duration,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher").finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// A hasher with these costs, hashing at most one password per core at once.
    pub fn new(cost: HashCost) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_turns(cost, cores, HASH_WAIT)
    }

    /// A hasher with these costs, hashing at most `at_once` passwords at once and failing an
    /// attempt that waited `wait` for its turn.
    pub fn with_turns(cost: HashCost, at_once: usize, wait: Duration) -> Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, 1, None)
            .map_err(|e| DomainError::Internal(format!("argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let decoy = hash_with(&argon, &format!("decoy-{}", uuid::Uuid::now_v7()))?;
        Ok(Self {
            argon: Arc::new(argon),
            decoy: Arc::new(decoy),
            turns: Arc::new(Semaphore::new(at_once.max(1))),
            wait,
        })
    }

    /// A turn to hash, or unavailable after the wait.
    async fn turn(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(DomainError::Internal("the hashing semaphore closed".into())),
            Err(_) => Err(DomainError::Unavailable(
                format!(
                    "no turn to hash a password within {} ms",
                    self.wait.as_millis()
                )
                .into(),
            )),
        }
    }
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DomainError::Internal(format!("hashing a password: {e}")))
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<String> {
        let turn = self.turn().await?;
        let argon = self.argon.clone();
        let password = password.expose().to_owned();
        tokio::task::spawn_blocking(move || {
            let hashed = hash_with(&argon, &password);
            drop(turn);
            hashed
        })
        .await
        .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))?
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool> {
        let argon = self.argon.clone();
        let known = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.decoy.as_ref().clone());
        let password = password.to_owned();
        let turn = self.turn().await?;
        let matches = tokio::task::spawn_blocking(move || {
            let matches = PasswordHash::new(&hash)
                .map(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false);
            drop(turn);
            matches
        })
        .await
        .map_err(|e| DomainError::Internal(format!("verifying task: {e}")))?;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Hasher {
        Argon2Hasher::new(HashCost {
            memory_kib: 1024,
            iterations: 1,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hashing_waits_for_a_turn_then_gives_up() {
        let hasher = Argon2Hasher::with_turns(
            HashCost {
                memory_kib: 1024,
                iterations: 1,
            },
            1,
            Duration::from_millis(50),
        )
        .unwrap();
        let held = hasher.turn().await.unwrap();
        let err = hasher.verify("whatever1", None).await.unwrap_err();
        assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
        drop(held);
        assert!(!hasher.verify("whatever1", None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = cheap();
        let pw = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(hasher.verify("correct horse", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("wrong horse!", Some(&hash)).await.unwrap());
        assert!(!hasher.verify("correct horse", None).await.unwrap());
        assert!(
            !hasher
                .verify("correct horse", Some("garbage"))
                .await
                .unwrap()
        );
    }
}
