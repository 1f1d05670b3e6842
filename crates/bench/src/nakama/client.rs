//! Nakama's REST API (its grpc-gateway on port 7350), the few calls the benchmarks make.
//!
//! A call is a success only when it answers 2xx with a JSON body of the expected shape; anything
//! else is a [`RequestError`] (`HTTP <status>`, `transport` or `malformed`), counted like the
//! GraphQL client's. Nakama writes its JSON with the proto field names (`refresh_token`,
//! `friends_of_friends`) and leaves out empty and zero fields (a friend's `state` 0, an empty
//! `friends` list), which the types here default.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::json;

use crate::client::RequestError;

/// The edge states of Nakama's friend list.
pub mod state {
    /// Mutual friends.
    pub const FRIEND: i32 = 0;
    /// The listing user asked, the other has not accepted yet.
    pub const INVITE_SENT: i32 = 1;
    /// The other user asked the listing user.
    pub const INVITE_RECEIVED: i32 = 2;
    /// The listing user blocked the other.
    pub const BLOCKED: i32 = 3;
}

/// A session from `authenticate/custom`, with what its token says.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session token, for `Authorization: Bearer`.
    pub token: String,
    /// The refresh token, when the server sent one.
    pub refresh_token: Option<String>,
    /// Whether this call created the account.
    pub created: bool,
    /// The user's id (the token's `uid` claim).
    pub user_id: String,
    /// When the token expires, in seconds since the Unix epoch (its `exp` claim).
    pub expires_at: i64,
}

#[derive(Deserialize)]
struct SessionBody {
    token: String,
    #[serde(default, alias = "refreshToken")]
    refresh_token: Option<String>,
    #[serde(default)]
    created: bool,
}

#[derive(Deserialize)]
struct Claims {
    uid: String,
    exp: i64,
}

/// One page of `GET /v2/friend`, read lightly: how many entries, each with a user.
#[derive(Debug, Deserialize)]
pub struct FriendPage {
    /// The entries (Nakama leaves the field out when there are none).
    #[serde(default)]
    pub friends: Vec<FriendEntry>,
}

/// An entry of a friend list, as the load reads it: it must carry a user.
#[derive(Debug, Deserialize)]
pub struct FriendEntry {
    /// The other user (not read).
    pub user: IgnoredAny,
}

/// One page of `GET /v2/friend` with what a check needs: the states and the next cursor.
#[derive(Debug, Deserialize)]
pub struct FriendStates {
    /// The entries.
    #[serde(default)]
    pub friends: Vec<FriendState>,
    /// The next page's cursor, when there is one.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// An entry's edge state and the other user's id.
#[derive(Debug, Deserialize)]
pub struct FriendState {
    /// The edge state (see [`state`]; left out when 0).
    #[serde(default)]
    pub state: i32,
    /// The other user.
    pub user: UserId,
}

/// A user, by id alone.
#[derive(Debug, Deserialize)]
pub struct UserId {
    /// The user's id.
    pub id: String,
}

/// One page of `GET /v2/friend/friends`.
#[derive(Debug, Deserialize)]
pub struct FriendsOfFriendsPage {
    /// The friends of friends (left out when there are none).
    #[serde(default, alias = "friendsOfFriends")]
    pub friends_of_friends: Vec<FriendEntry>,
}

/// A client of one Nakama server's REST API; cheap to clone (connections are pooled).
#[derive(Debug, Clone)]
pub struct NakamaClient {
    http: reqwest::Client,
    base: reqwest::Url,
    server_key: String,
}

impl NakamaClient {
    /// A client for the server at `url` (`http://host:7350`) with its server key (`defaultkey`
    /// unless the server sets `--socket.server_key`).
    pub fn new(url: &str, server_key: &str) -> anyhow::Result<Self> {
        let base = reqwest::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("--url {url} is not an address: {e}"))?;
        anyhow::ensure!(
            !base.cannot_be_a_base(),
            "--url {url} cannot be a base address"
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            http,
            base,
            server_key: server_key.to_owned(),
        })
    }

    /// The address of `path` (`/v2/...`) on the server, with `query` pairs.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Url {
        let mut url = self.base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// `POST /v2/account/authenticate/custom` with the server key: signs in the account whose
    /// custom id is `custom_id`, creating it with that username when `create`.
    pub async fn authenticate(
        &self,
        custom_id: &str,
        create: bool,
    ) -> Result<Session, RequestError> {
        let mut query = vec![("create", if create { "true" } else { "false" })];
        if create {
            query.push(("username", custom_id));
        }
        let response = self
            .http
            .post(self.url("/v2/account/authenticate/custom", &query))
            .basic_auth(&self.server_key, Some(""))
            .json(&json!({ "id": custom_id }))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let body: SessionBody = parse(status, &response.bytes().await.map_err(transport)?)?;
        let claims = token_claims(&body.token).ok_or_else(|| {
            RequestError::Malformed("the session token's claims are unreadable".to_owned())
        })?;
        Ok(Session {
            token: body.token,
            refresh_token: body.refresh_token,
            created: body.created,
            user_id: claims.uid,
            expires_at: claims.exp,
        })
    }

    /// `POST /v2/friend?ids=...` as the holder of `token`: asks each of `ids`, or accepts their
    /// requests. Nakama answers `{}` either way.
    pub async fn add_friends(&self, token: &str, ids: &[&str]) -> Result<(), RequestError> {
        let query: Vec<(&str, &str)> = ids.iter().map(|id| ("ids", *id)).collect();
        self.add_friends_at(token, self.url("/v2/friend", &query))
            .await
    }

    /// `POST` to an add-friends address made beforehand (see [`NakamaClient::url`]).
    pub async fn add_friends_at(&self, token: &str, url: reqwest::Url) -> Result<(), RequestError> {
        let response = self
            .http
            .post(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let _: IgnoredAny = parse(status, &response.bytes().await.map_err(transport)?)?;
        Ok(())
    }

    /// `GET` the address `url` as the holder of `token`, reading the answer as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        token: &str,
        url: reqwest::Url,
    ) -> Result<T, RequestError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        parse(status, &response.bytes().await.map_err(transport)?)
    }

    /// Every edge of the holder of `token` (all states), page by page (1,000 a page).
    pub async fn all_edges(&self, token: &str) -> Result<Vec<FriendState>, RequestError> {
        let mut edges = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "1000")];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor));
            }
            let page: FriendStates = self.get(token, self.url("/v2/friend", &query)).await?;
            edges.extend(page.friends);
            match page.cursor.filter(|c| !c.is_empty()) {
                Some(next) => cursor = Some(next),
                None => return Ok(edges),
            }
        }
    }
}

/// A request that did not complete, without its address (an add-friends address carries up to
/// a hundred ids).
fn transport(error: reqwest::Error) -> RequestError {
    RequestError::Transport(error.without_url())
}

/// Turns an answer into `T`, or the error it is.
fn parse<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, RequestError> {
    if !(200..300).contains(&status) {
        let body = String::from_utf8_lossy(body);
        return Err(RequestError::Status {
            status,
            body: body.chars().take(200).collect(),
        });
    }
    serde_json::from_slice(body).map_err(|e| {
        RequestError::Malformed(format!("the body is not the expected Nakama answer: {e}"))
    })
}

/// The claims of a JWT (its middle part, base64url JSON), unverified: the user id and expiry.
fn token_claims(token: &str) -> Option<Claims> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&base64url_decode(payload)?).ok()
}

/// Decodes base64url (or standard base64), padded or not.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_decoded() {
        assert_eq!(base64url_decode("").as_deref(), Some(&b""[..]));
        assert_eq!(base64url_decode("Zg").as_deref(), Some(&b"f"[..]));
        assert_eq!(base64url_decode("Zm8=").as_deref(), Some(&b"fo"[..]));
        assert_eq!(base64url_decode("Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(
            base64url_decode("-_-_").as_deref(),
            Some(&[0xfb, 0xff, 0xbf][..])
        );
        assert_eq!(base64url_decode("a b"), None);
    }

    #[test]
    fn a_nakama_token_tells_its_user_and_expiry() -> anyhow::Result<()> {
        // A token of Nakama 3.40 (its signature does not matter here).
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0aWQiOiI0NTJhMDgzNi03YThhLTQ3NTEtOTRlNi02MDZiN2M0ZjM2YmEiLCJ1aWQiOiI2NGU4MDYwYy0wMmVmLTQ2NjMtYTRiNC03NGE2M2ZiZDUxMmQiLCJ1c24iOiJwcm9iZV91c2VyXzEiLCJleHAiOjE3OTYyMjA0MTEsImlhdCI6MTc5NjIxMzIxMX0.sig";
        let claims = token_claims(token).ok_or_else(|| anyhow::anyhow!("unreadable"))?;
        assert_eq!(claims.uid, "64e8060c-02ef-4663-a4b4-74a63fbd512d");
        assert_eq!(claims.exp, 1_796_220_411);
        assert!(token_claims("not-a-token").is_none());
        Ok(())
    }

    #[test]
    fn answers_are_checked() -> anyhow::Result<()> {
        let page: FriendPage = parse(200, br#"{}"#)?;
        assert!(page.friends.is_empty());
        let page: FriendPage = parse(200, br#"{"friends":[{"user":{"id":"a"}},{"user":{}}]}"#)?;
        assert_eq!(page.friends.len(), 2);
        let states: FriendStates = parse(
            200,
            br#"{"friends":[{"user":{"id":"a"}},{"user":{"id":"b"},"state":1}]}"#,
        )?;
        let read: Vec<i32> = states.friends.iter().map(|f| f.state).collect();
        assert_eq!(read, [state::FRIEND, state::INVITE_SENT]);
        let fof: FriendsOfFriendsPage = parse(
            200,
            br#"{"friends_of_friends":[{"referrer":"x","user":{"id":"a"}}]}"#,
        )?;
        assert_eq!(fof.friends_of_friends.len(), 1);
        let kind = |status, body: &[u8]| parse::<FriendPage>(status, body).err().map(|e| e.kind());
        assert_eq!(
            kind(401, br#"{"code":16,"message":"Auth token invalid"}"#),
            Some("HTTP 401".to_owned())
        );
        assert_eq!(
            kind(200, br#"{"friends":[{}]}"#),
            Some("malformed".to_owned())
        );
        assert_eq!(kind(200, b"<html>"), Some("malformed".to_owned()));
        Ok(())
    }

    #[test]
    fn addresses_keep_the_base_path_and_repeat_ids() -> anyhow::Result<()> {
        let client = NakamaClient::new("http://127.0.0.1:7350", "defaultkey")?;
        let url = client.url("/v2/friend", &[("ids", "a"), ("ids", "b")]);
        assert_eq!(url.as_str(), "http://127.0.0.1:7350/v2/friend?ids=a&ids=b");
        let client = NakamaClient::new("http://proxy/nakama/", "defaultkey")?;
        let url = client.url("/v2/friend/friends", &[("limit", "10")]);
        assert_eq!(
            url.as_str(),
            "http://proxy/nakama/v2/friend/friends?limit=10"
        );
        Ok(())
    }
}
