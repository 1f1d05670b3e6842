//! Steam through the Steam Web API: `ISteamUserAuth/AuthenticateUserTicket` for the account a
//! session ticket belongs to, `ISteamUser/GetFriendList` for its friends.

use std::fmt;

use amity_domain::social::{ExternalAccount, Network, NetworkError, SocialNetwork};
use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use crate::friend_ids::FriendIds;
use crate::http::{Answer, HttpClient, endpoint, parse_json};
use crate::redact::provider_text;
use crate::settings::{ConfigError, DEFAULT_STEAM_API_URL, non_blank, parse_base_url};

const NETWORK: Network = Network::Steam;

/// What every call answers when the publisher key or the app id is missing.
pub const STEAM_NOT_CONFIGURED: &str =
    "Steam (set AMITY_STEAM_PUBLISHER_KEY and AMITY_STEAM_APP_ID)";

/// The longest session ticket sent on; real ones are a few hundred hex digits.
const MAX_TICKET_LEN: usize = 8192;

/// Where the Steam Web API is and the credentials Amity calls it with.
#[derive(Clone, PartialEq, Eq)]
pub struct SteamConfig {
    /// Base URL (`https://api.steampowered.com`); the interface paths are appended to it.
    pub api_url: String,
    /// The publisher Web API key; `None` (or blank) leaves the client unconfigured.
    pub publisher_key: Option<String>,
    /// The app id tickets are issued for; `None` leaves the client unconfigured.
    pub app_id: Option<u32>,
    /// How many friend ids are accepted at most before the import fails.
    pub max_friends: usize,
}

impl Default for SteamConfig {
    fn default() -> Self {
        SteamConfig {
            api_url: DEFAULT_STEAM_API_URL.to_owned(),
            publisher_key: None,
            app_id: None,
            max_friends: 10_000,
        }
    }
}

impl fmt::Debug for SteamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SteamConfig")
            .field("api_url", &self.api_url)
            .field(
                "publisher_key",
                &self.publisher_key.as_ref().map(|_| "<redacted>"),
            )
            .field("app_id", &self.app_id)
            .field("max_friends", &self.max_friends)
            .finish()
    }
}

/// The Steam Web API client: a [`SocialNetwork`] whose credential is a session ticket
/// (`ISteamUser::GetAuthTicketForWebApi`, hex encoded).
///
/// Without a publisher key and an app id the client still builds, so the server starts without
/// Steam, but every call answers [`NetworkError::NotConfigured`] ([`STEAM_NOT_CONFIGURED`])
/// without touching the network; [`SteamClient::is_configured`] tells which it is.
#[derive(Clone)]
pub struct SteamClient {
    http: HttpClient,
    base: Url,
    credentials: Option<Credentials>,
    max_friends: usize,
}

#[derive(Clone)]
struct Credentials {
    key: String,
    app_id: String,
}

impl fmt::Debug for SteamClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SteamClient")
            .field("base", &self.base.as_str())
            .field("configured", &self.is_configured())
            .field("max_friends", &self.max_friends)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TicketAnswer {
    response: TicketResponse,
}

#[derive(Deserialize)]
struct TicketResponse {
    #[serde(default)]
    params: Option<TicketParams>,
    #[serde(default)]
    error: Option<TicketError>,
}

#[derive(Deserialize)]
struct TicketParams {
    result: String,
    steamid: String,
}

#[derive(Deserialize)]
struct TicketError {
    errorcode: i64,
    errordesc: String,
}

#[derive(Deserialize)]
struct FriendListAnswer {
    friendslist: FriendList,
}

#[derive(Deserialize)]
struct FriendList {
    #[serde(default)]
    friends: Vec<SteamFriend>,
}

#[derive(Deserialize)]
struct SteamFriend {
    steamid: String,
    #[serde(default)]
    relationship: Option<String>,
}

impl SteamClient {
    /// A client for the Steam Web API at `config.api_url`, sending through `http`; unconfigured
    /// (see the type's documentation) when the key or the app id is missing.
    ///
    /// Fails when the URL is not an http(s) base URL, the app id is 0 or `max_friends` is 0.
    pub fn new(config: SteamConfig, http: HttpClient) -> Result<Self, ConfigError> {
        let base = parse_base_url("AMITY_STEAM_API_URL", &config.api_url)?;
        if config.app_id == Some(0) {
            return Err(ConfigError::InvalidSetting {
                setting: "AMITY_STEAM_APP_ID",
                reason: "must be a Steam app id, not 0",
            });
        }
        if config.max_friends == 0 {
            return Err(ConfigError::InvalidSetting {
                setting: "max_friends",
                reason: "must be at least 1",
            });
        }
        let credentials = match (non_blank(config.publisher_key.as_deref()), config.app_id) {
            (Some(key), Some(app_id)) => Some(Credentials {
                key: key.to_owned(),
                app_id: app_id.to_string(),
            }),
            _ => None,
        };
        Ok(SteamClient {
            http,
            base,
            credentials,
            max_friends: config.max_friends,
        })
    }

    /// Whether the client has a publisher key and an app id, i.e. whether calls reach Steam.
    pub fn is_configured(&self) -> bool {
        self.credentials.is_some()
    }

    fn credentials(&self) -> Result<&Credentials, NetworkError> {
        self.credentials
            .as_ref()
            .ok_or(NetworkError::NotConfigured(STEAM_NOT_CONFIGURED))
    }
}

/// What a 4xx or other unexpected status means; the caller handles the ones with a meaning of
/// their own (401 on the friend list, 400 on a ticket).
fn unexpected_status(status: StatusCode, path: &str) -> NetworkError {
    if status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED {
        NetworkError::Unavailable(format!(
            "Steam refused the publisher key (HTTP {status} to {path}); check \
             AMITY_STEAM_PUBLISHER_KEY and AMITY_STEAM_APP_ID"
        ))
    } else {
        NetworkError::Unavailable(format!("Steam answered HTTP {status} to {path}"))
    }
}

/// A SteamID64: decimal digits that fit in 64 bits.
fn is_steam_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

#[async_trait]
impl SocialNetwork for SteamClient {
    fn network(&self) -> Network {
        NETWORK
    }

    /// `GET {base}/ISteamUserAuth/AuthenticateUserTicket/v1/?key=…&appid=…&ticket=…`. Steam
    /// gives no name, so the account's `name` is `None`.
    async fn verify(&self, credential: &str) -> Result<ExternalAccount, NetworkError> {
        let credentials = self.credentials()?;
        let ticket = credential.trim();
        if ticket.is_empty() {
            return Err(NetworkError::Refused(
                "a Steam session ticket is needed".to_owned(),
            ));
        }
        if ticket.len() > MAX_TICKET_LEN {
            return Err(NetworkError::Refused(
                "the Steam session ticket is too long to be one".to_owned(),
            ));
        }
        let mut url = endpoint(
            NETWORK,
            &self.base,
            &["ISteamUserAuth", "AuthenticateUserTicket", "v1", ""],
        )?;
        url.query_pairs_mut()
            .append_pair("key", &credentials.key)
            .append_pair("appid", &credentials.app_id)
            .append_pair("ticket", ticket);
        let path = url.path();
        let Answer { status, body } = self.http.get(NETWORK, &url).await?;
        match status {
            StatusCode::OK => {}
            // The key and app id are the server's own; a malformed request is the ticket.
            StatusCode::BAD_REQUEST => {
                return Err(NetworkError::Refused(
                    "Steam rejected the session ticket as malformed".to_owned(),
                ));
            }
            status => return Err(unexpected_status(status, path)),
        }
        let answer: TicketAnswer = parse_json(NETWORK, path, &body)?;
        let secrets = [ticket, credentials.key.as_str()];
        match answer.response {
            TicketResponse {
                error: Some(error), ..
            } => Err(NetworkError::Refused(format!(
                "{} ({})",
                provider_text(&error.errordesc, &secrets),
                error.errorcode
            ))),
            TicketResponse {
                params: Some(params),
                ..
            } => {
                if params.result != "OK" {
                    return Err(NetworkError::Refused(format!(
                        "Steam did not accept the ticket (result {})",
                        provider_text(&params.result, &secrets)
                    )));
                }
                if !is_steam_id(&params.steamid) {
                    return Err(NetworkError::Unavailable(format!(
                        "Steam answered {path} without a valid steamid"
                    )));
                }
                Ok(ExternalAccount {
                    id: params.steamid,
                    name: None,
                })
            }
            TicketResponse { .. } => Err(NetworkError::Unavailable(format!(
                "Steam answered {path} with neither params nor an error"
            ))),
        }
    }

    /// `GET {base}/ISteamUser/GetFriendList/v1/?key=…&steamid=…&relationship=friend`. A 401
    /// is a private profile: no friends, not an error. The credential is not used.
    async fn friends(
        &self,
        account_id: &str,
        _credential: Option<&str>,
    ) -> Result<Vec<String>, NetworkError> {
        let credentials = self.credentials()?;
        if !is_steam_id(account_id) {
            return Err(NetworkError::Refused(
                "a Steam account id is a SteamID64 (decimal digits)".to_owned(),
            ));
        }
        let mut url = endpoint(
            NETWORK,
            &self.base,
            &["ISteamUser", "GetFriendList", "v1", ""],
        )?;
        url.query_pairs_mut()
            .append_pair("key", &credentials.key)
            .append_pair("steamid", account_id)
            .append_pair("relationship", "friend");
        let path = url.path();
        let Answer { status, body } = self.http.get(NETWORK, &url).await?;
        match status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => return Ok(Vec::new()),
            status => return Err(unexpected_status(status, path)),
        }
        let answer: FriendListAnswer = parse_json(NETWORK, path, &body)?;
        let mut ids = FriendIds::new(NETWORK, self.max_friends);
        for friend in answer.friendslist.friends {
            if friend
                .relationship
                .as_deref()
                .is_some_and(|relationship| relationship != "friend")
            {
                continue;
            }
            if !is_steam_id(&friend.steamid) {
                return Err(NetworkError::Unavailable(format!(
                    "Steam answered {path} with a friend without a valid steamid"
                )));
            }
            ids.push(friend.steamid)?;
        }
        Ok(ids.into_vec())
    }
}
