//! Amity's social network clients: Facebook (Graph API) and Steam (Web API), each implementing
//! [`amity_domain::social::SocialNetwork`] on reqwest.
//!
//! The server reads an [`ImporterSettings`] from its configuration and calls [`networks`] once at
//! startup; both clients then share one [`HttpClient`] (one connection pool, rustls, request and
//! connect timeouts, bounded retries on 5xx and transport failures, never on 4xx).
//!
//! Layout:
//! - `settings`: [`ImporterSettings`], its defaults, [`ConfigError`] and base URL validation;
//! - `http`: [`HttpClient`], retries, the answer size cap, path-only error messages;
//! - `facebook`: [`FacebookClient`] (`/me`, `/me/friends` with cursor paging and a page limit);
//! - `steam`: [`SteamClient`] (`AuthenticateUserTicket`, `GetFriendList`);
//! - `friend_ids` and `redact`: ordered de-duplicated bounded id lists, and provider messages
//!   with credentials taken out.
//!
//! Errors follow the port: a credential the network refuses is `Refused` (with the network's
//! own message, credentials redacted), anything the network does wrong (timeouts, 5xx, answers
//! that are not its documented format, lists past the limits) is `Unavailable`, and Steam
//! without a key or app id is `NotConfigured`. No error message or log line carries an access
//! token, a ticket or a key: they are built from the request path, never the URL.

mod facebook;
mod friend_ids;
mod http;
mod redact;
mod settings;
mod steam;

use std::sync::Arc;

use amity_domain::social::SocialNetwork;

pub use facebook::{FacebookClient, FacebookConfig};
pub use http::HttpClient;
pub use settings::{
    ConfigError, DEFAULT_FACEBOOK_GRAPH_URL, DEFAULT_STEAM_API_URL, ImporterSettings,
};
pub use steam::{STEAM_NOT_CONFIGURED, SteamClient, SteamConfig};

use settings::non_blank;

/// The two networks, ready to hand to the import service.
#[derive(Clone)]
pub struct Networks {
    /// Facebook through the Graph API.
    pub facebook: Arc<dyn SocialNetwork>,
    /// Steam through the Web API; answers `NotConfigured` when the key or app id is missing.
    pub steam: Arc<dyn SocialNetwork>,
    /// Whether Steam has its publisher key and app id (for the server's startup log).
    pub steam_configured: bool,
}

/// Builds both clients on one shared [`HttpClient`] from `settings`.
///
/// Fails, naming the setting, when a base URL is not http(s), the timeouts or limits are zero,
/// or the app id is 0. A missing Steam key or app id is not an error: Steam is then unconfigured.
pub fn networks(settings: &ImporterSettings) -> Result<Networks, ConfigError> {
    let http = HttpClient::new(settings)?;
    let facebook = FacebookClient::new(
        FacebookConfig {
            graph_url: non_blank(settings.facebook_graph_url.as_deref())
                .unwrap_or(DEFAULT_FACEBOOK_GRAPH_URL)
                .to_owned(),
            max_pages: settings.max_pages,
            max_friends: settings.max_friends,
        },
        http.clone(),
    )?;
    let steam = SteamClient::new(
        SteamConfig {
            api_url: non_blank(settings.steam_api_url.as_deref())
                .unwrap_or(DEFAULT_STEAM_API_URL)
                .to_owned(),
            publisher_key: settings.steam_publisher_key.clone(),
            app_id: settings.steam_app_id,
            max_friends: settings.max_friends,
        },
        http,
    )?;
    let steam_configured = steam.is_configured();
    if !steam_configured
        && (non_blank(settings.steam_publisher_key.as_deref()).is_some()
            || settings.steam_app_id.is_some())
    {
        tracing::warn!(
            "Steam has only one of AMITY_STEAM_PUBLISHER_KEY and AMITY_STEAM_APP_ID: it stays \
             unconfigured"
        );
    }
    Ok(Networks {
        facebook: Arc::new(facebook),
        steam: Arc::new(steam),
        steam_configured,
    })
}
