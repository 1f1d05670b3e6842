//! The one HTTP client both networks share: timeouts, bounded retries, a cap on answer size, and
//! error messages built from the request's path alone (queries carry tokens, tickets and keys).

use std::time::Duration;

use amity_domain::social::{Network, NetworkError};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use crate::settings::{ConfigError, ImporterSettings};

/// The largest answer read from a network. A page of 100 Facebook friends is a few kilobytes and
/// a full Steam friend list a few hundred; anything past this is not the documented format.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A `reqwest::Client` (rustls, request and connect timeouts, no redirects) with the retry
/// policy of [`ImporterSettings`]. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    retries: u32,
    retry_backoff: Duration,
}

/// A network's answer that is not a 5xx: its status and its body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
}

/// Why one attempt failed before an answer was read.
enum AttemptFailure {
    /// Timeouts, refused connections, answers cut off: worth another attempt.
    Transport(&'static str),
    /// An answer too large to be the documented format: not worth another attempt.
    TooLarge,
}

impl HttpClient {
    /// Builds the client from the timeouts and retry policy in `settings`.
    ///
    /// Redirects are not followed: neither API redirects, and following one could carry a
    /// credential to another host.
    pub fn new(settings: &ImporterSettings) -> Result<Self, ConfigError> {
        if settings.timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "timeout",
                reason: "must be longer than zero",
            });
        }
        if settings.connect_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "connect_timeout",
                reason: "must be longer than zero",
            });
        }
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("amity-importers/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ConfigError::HttpClient(error.without_url().to_string()))?;
        Ok(HttpClient {
            client,
            retries: settings.retries,
            retry_backoff: settings.retry_backoff,
        })
    }

    /// GETs `url`, trying again after 5xx answers and transport failures (never after a 4xx),
    /// and returns the first answer that is not a 5xx.
    pub(crate) async fn get(&self, network: Network, url: &Url) -> Result<Answer, NetworkError> {
        let path = url.path();
        let attempts = self.retries.saturating_add(1);
        let mut attempt: u32 = 1;
        loop {
            let failure = match self.attempt(url).await {
                Ok(answer) if answer.status.is_server_error() => {
                    format!("{network} answered HTTP {} to {path}", answer.status)
                }
                Ok(answer) => return Ok(answer),
                Err(AttemptFailure::Transport(reason)) => {
                    format!("{network} did not answer {path}: {reason}")
                }
                Err(AttemptFailure::TooLarge) => {
                    return Err(NetworkError::Unavailable(format!(
                        "{network} answered {path} with more than {MAX_BODY_BYTES} bytes"
                    )));
                }
            };
            if attempt >= attempts {
                tracing::warn!(%network, path, attempts, %failure, "giving up on the network");
                return Err(NetworkError::Unavailable(format!(
                    "{failure} (after {attempts} attempts)"
                )));
            }
            tracing::debug!(%network, path, attempt, %failure, "retrying");
            tokio::time::sleep(self.retry_backoff.saturating_mul(attempt)).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, url: &Url) -> Result<Answer, AttemptFailure> {
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport_failure)?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|length| length > MAX_BODY_BYTES as u64)
        {
            return Err(AttemptFailure::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(AttemptFailure::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status, body })
    }
}

/// What went wrong, in words that never include the URL (`reqwest::Error`'s `Display` does).
fn transport_failure(error: reqwest::Error) -> AttemptFailure {
    AttemptFailure::Transport(if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off"
    } else {
        "the request failed"
    })
}

/// Parses a body as the documented JSON `T`; anything else is `Unavailable`. The reason is a
/// category, not serde's message, which can quote the body.
pub(crate) fn parse_json<T: DeserializeOwned>(
    network: Network,
    path: &str,
    body: &[u8],
) -> Result<T, NetworkError> {
    serde_json::from_slice(body).map_err(|error| {
        let what = match error.classify() {
            serde_json::error::Category::Data => "JSON that is not its documented format",
            _ => "something that is not JSON",
        };
        NetworkError::Unavailable(format!("{network} answered {path} with {what}"))
    })
}

/// The base URL with `segments` appended to its path (the base's own path, such as a Graph API
/// version, is kept).
pub(crate) fn endpoint(
    network: Network,
    base: &Url,
    segments: &[&str],
) -> Result<Url, NetworkError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| {
            NetworkError::Unavailable(format!("the {network} base URL cannot take a path"))
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}
