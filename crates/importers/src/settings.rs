//! The crate's one configuration value, and the error a bad configuration is.

use std::fmt;
use std::time::Duration;

use url::Url;

/// Where the Graph API lives when `AMITY_FACEBOOK_GRAPH_URL` is not set.
pub const DEFAULT_FACEBOOK_GRAPH_URL: &str = "https://graph.facebook.com/v19.0";

/// Where the Steam Web API lives when `AMITY_STEAM_API_URL` is not set.
pub const DEFAULT_STEAM_API_URL: &str = "https://api.steampowered.com";

/// Everything the importers need to know, as the server reads it from its configuration.
///
/// Blank strings count as absent, so an environment variable set to nothing means "use the
/// default" (URLs) or "not configured" (the Steam publisher key).
#[derive(Clone, PartialEq, Eq)]
pub struct ImporterSettings {
    /// Base URL of the Graph API, version included (`AMITY_FACEBOOK_GRAPH_URL`); `None` is
    /// [`DEFAULT_FACEBOOK_GRAPH_URL`].
    pub facebook_graph_url: Option<String>,
    /// Base URL of the Steam Web API (`AMITY_STEAM_API_URL`); `None` is
    /// [`DEFAULT_STEAM_API_URL`].
    pub steam_api_url: Option<String>,
    /// The Steam Web API publisher key (`AMITY_STEAM_PUBLISHER_KEY`). Without it (or without
    /// the app id) Steam answers every call with `NetworkError::NotConfigured`.
    pub steam_publisher_key: Option<String>,
    /// The Steam app id session tickets are issued for (`AMITY_STEAM_APP_ID`).
    pub steam_app_id: Option<u32>,
    /// How long one request may take, from sending it to the last byte of the answer
    /// (default 10 s).
    pub timeout: Duration,
    /// How long connecting (TCP and TLS) may take (default 5 s).
    pub connect_timeout: Duration,
    /// How many times a request is tried again after a 5xx answer, a timeout or a transport
    /// error (default 2, so 3 attempts). 4xx answers are never tried again.
    pub retries: u32,
    /// The pause before retry number `n` is `retry_backoff * n` (default 100 ms).
    pub retry_backoff: Duration,
    /// How many pages of Facebook friends are read at most (default 50, 100 friends a page).
    pub max_pages: u32,
    /// How many friend ids one import may bring back at most (default 10,000).
    pub max_friends: usize,
}

impl Default for ImporterSettings {
    fn default() -> Self {
        ImporterSettings {
            facebook_graph_url: None,
            steam_api_url: None,
            steam_publisher_key: None,
            steam_app_id: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retries: 2,
            retry_backoff: Duration::from_millis(100),
            max_pages: 50,
            max_friends: 10_000,
        }
    }
}

// The publisher key is a secret: it never reaches logs through `{:?}`.
impl fmt::Debug for ImporterSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImporterSettings")
            .field("facebook_graph_url", &self.facebook_graph_url)
            .field("steam_api_url", &self.steam_api_url)
            .field(
                "steam_publisher_key",
                &self.steam_publisher_key.as_ref().map(|_| "<redacted>"),
            )
            .field("steam_app_id", &self.steam_app_id)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retries", &self.retries)
            .field("retry_backoff", &self.retry_backoff)
            .field("max_pages", &self.max_pages)
            .field("max_friends", &self.max_friends)
            .finish()
    }
}

/// Why the importers could not be built from the configuration. Found at startup, so the server
/// refuses to start rather than failing on the first import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A base URL that does not parse, is not http or https, or carries a query or fragment.
    #[error("{setting} must be an http or https base URL: {reason}")]
    InvalidUrl {
        /// The setting, named as its environment variable.
        setting: &'static str,
        /// What is wrong with it (the value itself is not repeated).
        reason: String,
    },
    /// A setting outside what it can be.
    #[error("{setting} {reason}")]
    InvalidSetting {
        /// The setting, named as its environment variable or field.
        setting: &'static str,
        /// What it must be.
        reason: &'static str,
    },
    /// The HTTP client could not be built (no TLS backend, for instance).
    #[error("the HTTP client for the social networks could not be built: {0}")]
    HttpClient(String),
}

/// `value` with surrounding blanks removed, or `None` when nothing is left.
pub(crate) fn non_blank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

/// Parses a base URL and checks it can have API paths appended to it.
pub(crate) fn parse_base_url(setting: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidUrl { setting, reason };
    let url = Url::parse(value.trim()).map_err(|error| invalid(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme is \"{}\", not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".to_owned()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "it must not have a query string or a fragment (keys have their own settings)"
                .to_owned(),
        ));
    }
    Ok(url)
}
