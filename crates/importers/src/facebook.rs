//! Facebook through the Graph API: `/me` for the account a user access token belongs to,
//! `/me/friends` (cursor paged) for the friends who use the same app.

use std::collections::HashSet;

use amity_domain::social::{ExternalAccount, Network, NetworkError, SocialNetwork};
use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;
use url::Url;

use crate::friend_ids::FriendIds;
use crate::http::{Answer, HttpClient, endpoint, parse_json};
use crate::redact::provider_text;
use crate::settings::{ConfigError, DEFAULT_FACEBOOK_GRAPH_URL, parse_base_url};

const NETWORK: Network = Network::Facebook;

/// Friends asked for per page (the Graph API's usual maximum for this edge).
const PAGE_SIZE: &str = "100";

/// The longest access token sent on; real ones are a few hundred characters.
const MAX_TOKEN_LEN: usize = 4096;

/// The longest paging cursor sent back; real ones are under a hundred characters.
const MAX_CURSOR_LEN: usize = 1024;

/// Graph API error codes that say "later", not "no": unknown and service errors, and the
/// application, user and page rate limits.
const TRANSIENT_CODES: [i64; 6] = [1, 2, 4, 17, 32, 613];

/// Where the Graph API is and how far to page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacebookConfig {
    /// Base URL, version included (`https://graph.facebook.com/v19.0`); `/me` and
    /// `/me/friends` are appended to it.
    pub graph_url: String,
    /// How many pages of friends are read at most before the import fails.
    pub max_pages: u32,
    /// How many friend ids are accepted at most before the import fails.
    pub max_friends: usize,
}

impl Default for FacebookConfig {
    fn default() -> Self {
        FacebookConfig {
            graph_url: DEFAULT_FACEBOOK_GRAPH_URL.to_owned(),
            max_pages: 50,
            max_friends: 10_000,
        }
    }
}

/// The Graph API client: a [`SocialNetwork`] whose credential is a user access token.
#[derive(Debug, Clone)]
pub struct FacebookClient {
    http: HttpClient,
    base: Url,
    max_pages: u32,
    max_friends: usize,
}

#[derive(Deserialize)]
struct Me {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct FriendsPage {
    data: Vec<Friend>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Deserialize)]
struct Friend {
    id: String,
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    cursors: Option<Cursors>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct Cursors {
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    message: String,
    #[serde(default)]
    code: Option<i64>,
}

impl FacebookClient {
    /// A client for the Graph API at `config.graph_url`, sending through `http`.
    ///
    /// Fails when the URL is not an http(s) base URL or a limit is zero.
    pub fn new(config: FacebookConfig, http: HttpClient) -> Result<Self, ConfigError> {
        let base = parse_base_url("AMITY_FACEBOOK_GRAPH_URL", &config.graph_url)?;
        if config.max_pages == 0 {
            return Err(ConfigError::InvalidSetting {
                setting: "max_pages",
                reason: "must be at least 1",
            });
        }
        if config.max_friends == 0 {
            return Err(ConfigError::InvalidSetting {
                setting: "max_friends",
                reason: "must be at least 1",
            });
        }
        Ok(FacebookClient {
            http,
            base,
            max_pages: config.max_pages,
            max_friends: config.max_friends,
        })
    }

    /// Sends a GET and returns the body of a 200; any other answer becomes the error it means.
    async fn get_ok(&self, url: &Url, token: &str) -> Result<Vec<u8>, NetworkError> {
        let Answer { status, body } = self.http.get(NETWORK, url).await?;
        if status == StatusCode::OK {
            return Ok(body);
        }
        Err(refusal(status, &body, url.path(), token))
    }

    fn friends_url(&self, token: &str, after: Option<&str>) -> Result<Url, NetworkError> {
        let mut url = endpoint(NETWORK, &self.base, &["me", "friends"])?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("access_token", token)
                .append_pair("limit", PAGE_SIZE);
            if let Some(after) = after {
                query.append_pair("after", after);
            }
        }
        Ok(url)
    }
}

/// What a non-200 answer means. A Graph API error body is the network speaking: a refusal of
/// the token, except for rate limits and service errors, which are the network being
/// unavailable. Anything else (an HTML 404 from a wrong base URL, a 429) is unavailability.
fn refusal(status: StatusCode, body: &[u8], path: &str, token: &str) -> NetworkError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) if status.is_client_error() => {
            let message = provider_text(&error.message, &[token]);
            match error.code {
                Some(code) if TRANSIENT_CODES.contains(&code) => NetworkError::Unavailable(
                    format!("Facebook is limiting or failing requests: {message} (code {code})"),
                ),
                _ => NetworkError::Refused(message),
            }
        }
        _ => NetworkError::Unavailable(format!("Facebook answered HTTP {status} to {path}")),
    }
}

/// Checks a token before it is sent: present, and of a sane length.
fn usable_token(token: Option<&str>) -> Result<&str, NetworkError> {
    match token.map(str::trim) {
        None | Some("") => Err(NetworkError::Refused(
            "a Facebook access token is needed".to_owned(),
        )),
        Some(token) if token.len() > MAX_TOKEN_LEN => Err(NetworkError::Refused(
            "the Facebook access token is too long to be one".to_owned(),
        )),
        Some(token) => Ok(token),
    }
}

#[async_trait]
impl SocialNetwork for FacebookClient {
    fn network(&self) -> Network {
        NETWORK
    }

    /// `GET {base}/me?fields=id,name&access_token=…`.
    async fn verify(&self, credential: &str) -> Result<ExternalAccount, NetworkError> {
        let token = usable_token(Some(credential))?;
        let mut url = endpoint(NETWORK, &self.base, &["me"])?;
        url.query_pairs_mut()
            .append_pair("fields", "id,name")
            .append_pair("access_token", token);
        let body = self.get_ok(&url, token).await?;
        let me: Me = parse_json(NETWORK, url.path(), &body)?;
        let id = me.id.trim();
        if id.is_empty() || id.len() > 64 {
            return Err(NetworkError::Unavailable(format!(
                "Facebook answered {} without a valid id",
                url.path()
            )));
        }
        Ok(ExternalAccount {
            id: id.to_owned(),
            name: me
                .name
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty()),
        })
    }

    /// `GET {base}/me/friends?access_token=…&limit=100`, then `&after=<cursor>` while the page
    /// has a `paging.next`. The `next` URL itself is never requested: the token only ever goes
    /// to the configured base URL.
    async fn friends(
        &self,
        _account_id: &str,
        credential: Option<&str>,
    ) -> Result<Vec<String>, NetworkError> {
        let token = usable_token(credential)?;
        let mut ids = FriendIds::new(NETWORK, self.max_friends);
        let mut cursors_seen = HashSet::new();
        let mut after: Option<String> = None;
        for _ in 0..self.max_pages {
            let url = self.friends_url(token, after.as_deref())?;
            let body = self.get_ok(&url, token).await?;
            let page: FriendsPage = parse_json(NETWORK, url.path(), &body)?;
            for friend in page.data {
                ids.push(friend.id)?;
            }
            let Some(Paging {
                cursors,
                next: Some(_),
            }) = page.paging
            else {
                return Ok(ids.into_vec());
            };
            let cursor = cursors
                .and_then(|cursors| cursors.after)
                .filter(|cursor| !cursor.is_empty() && cursor.len() <= MAX_CURSOR_LEN)
                .ok_or_else(|| {
                    NetworkError::Unavailable(format!(
                        "Facebook announced another page of {} without a usable after cursor",
                        url.path()
                    ))
                })?;
            if !cursors_seen.insert(cursor.clone()) {
                return Err(NetworkError::Unavailable(format!(
                    "Facebook repeated a paging cursor for {}",
                    url.path()
                )));
            }
            after = Some(cursor);
        }
        Err(NetworkError::Unavailable(format!(
            "Facebook listed more than {} pages of friends (100 a page), more than one import \
             reads",
            self.max_pages
        )))
    }
}
