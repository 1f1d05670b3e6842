//! Social networks friends come from (Facebook, Steam): the port their clients implement.
//!
//! The domain never sees HTTP: the importers crate implements [`SocialNetwork`] for each
//! network, and [`ImportService`] works on what it returns: signing in or up with a network,
//! linking one, and importing friends.

mod service;

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;

pub use service::{ImportService, Imported};

/// A network accounts can be linked to and friends imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    /// Facebook (Graph API, user access tokens).
    Facebook,
    /// Steam (Web API, session tickets).
    Steam,
}

impl Network {
    /// The stored form: `facebook`, `steam`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Facebook => "facebook",
            Network::Steam => "steam",
        }
    }

    /// The name people read: `Facebook`, `Steam`.
    pub fn display_name(self) -> &'static str {
        match self {
            Network::Facebook => "Facebook",
            Network::Steam => "Steam",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "facebook" => Ok(Network::Facebook),
            "steam" => Ok(Network::Steam),
            other => Err(format!("unknown network \"{other}\"")),
        }
    }
}

/// The account a credential belongs to on a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccount {
    /// The network's id of the account (a Facebook app-scoped id, a SteamID64).
    pub id: String,
    /// The name the network shows, when it gives one (used to derive a handle).
    pub name: Option<String>,
}

/// Why a network call failed. Every variant changes nothing and is reported as `IMPORT_FAILED`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The server has no configuration for this network.
    #[error("{0} is not configured on this server")]
    NotConfigured(&'static str),
    /// The network refused the credential (expired or forged token, bad ticket).
    #[error("the network refused the credential: {0}")]
    Refused(String),
    /// The network did not answer in time, answered an error, or answered something that is
    /// not its documented format.
    #[error("the network failed: {0}")]
    Unavailable(String),
}

/// One social network's API, as the import service needs it.
#[async_trait]
pub trait SocialNetwork: Send + Sync {
    /// Which network this is.
    fn network(&self) -> Network;

    /// The account a credential (a Facebook user access token, a Steam session ticket) belongs
    /// to.
    async fn verify(&self, credential: &str) -> Result<ExternalAccount, NetworkError>;

    /// The network ids of the account's friends (for Facebook, those using the same app).
    /// `credential` is the one the account was verified with when the network needs it to list
    /// friends (Facebook), and may be `None` for networks that list by id alone (Steam). A
    /// private friend list is an empty list, not an error.
    async fn friends(
        &self,
        account_id: &str,
        credential: Option<&str>,
    ) -> Result<Vec<String>, NetworkError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_round_trip_their_stored_form() {
        for network in [Network::Facebook, Network::Steam] {
            assert_eq!(network.as_str().parse::<Network>(), Ok(network));
        }
        assert!("myspace".parse::<Network>().is_err());
        assert_eq!(Network::Steam.to_string(), "Steam");
    }
}
