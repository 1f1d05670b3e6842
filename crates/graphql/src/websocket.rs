//! GraphQL over websockets on `/graphql`: the graphql-transport-ws protocol and the legacy
//! graphql-ws (subscriptions-transport-ws) one.
//!
//! async-graphql speaks the protocols; this module owns the connection around them:
//! - authentication in `connection_init` (`{"Authorization": "Bearer <token>"}`, the key in any
//!   case, or `{"token": "<token>"}`); a missing, forged or expired token is refused with close
//!   code 4403 (graphql-transport-ws) or a `connection_error` (legacy);
//! - a connection that sends no `connection_init` within [`WebSocketSettings::init_timeout`] is
//!   closed with 4408;
//! - the session's token expiring closes the connection with 4401; its user being banned (or
//!   the session revoked) closes it with 4403 as soon as the change reaches this node;
//! - keep-alive: a websocket ping every [`WebSocketSettings::keepalive`] (and a `ka` message on
//!   the legacy protocol); a peer that sends nothing, not even a pong, for two intervals is
//!   dropped;
//! - presence: an authenticated connection holds a [`PresenceGuard`] until it ends;
//! - shutdown: connections are closed with 1001 (going away);
//! - small buffers: a 4 KiB read buffer instead of tungstenite's 128 KiB, and writes that go
//!   straight to the socket, so an idle connection costs little memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amity_domain::moderation::AccessWatch;
use amity_domain::presence::PresenceGuard;
use async_graphql::Data;
use async_graphql::futures_util::{SinkExt, StreamExt, future};
use async_graphql::http::{WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::Utc;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Services;
use crate::auth::Caller;
use crate::auth::tokens::VerifiedToken;
use crate::schema::AmitySchema;

/// Close code: the connection_init was refused (no or bad token).
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code: the session's token expired, or a subscribe came before the init.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code: no connection_init in time.
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Close code: the peer stopped answering pings.
pub const CLOSE_KEEPALIVE_TIMEOUT: u16 = 3008;

/// Largest message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The read buffer of each connection.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;

/// Timings of websocket connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketSettings {
    /// How often the server pings; a peer silent for two intervals is dropped.
    pub keepalive: Duration,
    /// How long a new connection may take to send `connection_init`.
    pub init_timeout: Duration,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(15),
            init_timeout: Duration::from_secs(10),
        }
    }
}

/// The token in a `connection_init` payload.
fn token_from_init(payload: &serde_json::Value) -> Result<String, &'static str> {
    let Some(map) = payload.as_object() else {
        return Err("send {\"Authorization\": \"Bearer <token>\"} in connection_init");
    };
    for (key, value) in map {
        if key.eq_ignore_ascii_case("authorization") {
            let value = value.as_str().unwrap_or_default().trim();
            return match value.split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Ok(token.trim().to_owned())
                }
                _ => Err("Authorization must be \"Bearer <token>\""),
            };
        }
    }
    match map.get("token").and_then(|t| t.as_str()) {
        Some(token) => Ok(token.trim().to_owned()),
        None => Err("send {\"Authorization\": \"Bearer <token>\"} in connection_init"),
    }
}

/// What the init handler found out, for the connection loop.
#[derive(Default)]
struct InitOutcome {
    refused: AtomicBool,
    /// Wakes when the user's access may have changed, and the token (re-checked then; its
    /// expiry closes the connection).
    access: Mutex<Option<(AccessWatch, VerifiedToken)>>,
}

/// Serves one upgraded websocket until either side ends it or the server shuts down.
pub async fn serve(
    socket: WebSocket,
    schema: AmitySchema,
    services: Arc<Services>,
    protocol: WebSocketProtocols,
    settings: WebSocketSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut sink, stream) = socket.split();
    let last_heard = Arc::new(Mutex::new(Instant::now()));
    let heard = last_heard.clone();
    let input = stream
        .take_while(|m| future::ready(m.is_ok()))
        .filter_map(move |m| {
            if let Ok(mut at) = heard.lock() {
                *at = Instant::now();
            }
            future::ready(match m {
                Ok(Message::Text(text)) => Some(text.as_str().as_bytes().to_vec()),
                Ok(Message::Binary(bytes)) => Some(bytes.to_vec()),
                _ => None,
            })
        });

    let outcome = Arc::new(InitOutcome::default());
    let init = {
        let outcome = outcome.clone();
        let services = services.clone();
        move |payload: serde_json::Value| async move {
            let refuse = |message: String| {
                outcome.refused.store(true, Ordering::SeqCst);
                async_graphql::Error::new(message)
            };
            let token = token_from_init(&payload).map_err(|m| refuse(m.to_owned()))?;
            let verified = services
                .tokens
                .verify(&token)
                .map_err(|reason| refuse(format!("the token was refused: {reason}")))?;
            // Watch before checking, so that a ban landing in between is not missed.
            let watch = services.access.watch(verified.session.user_id);
            let session = crate::auth::admit(&services, &verified)
                .await
                .map_err(|reason| refuse(format!("the token was refused: {reason}")))?;
            let guard: PresenceGuard =
                services
                    .presence
                    .connect(session.user_id)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "recording presence failed");
                        async_graphql::Error::new("the server could not accept the connection")
                    })?;
            if let Ok(mut slot) = outcome.access.lock() {
                *slot = Some((watch, verified));
            }
            let mut data = Data::default();
            data.insert(Caller::User(session));
            data.insert(Arc::new(guard));
            Ok(data)
        }
    };
    let mut messages =
        async_graphql::http::WebSocket::new(schema, input, protocol).on_connection_init(init);

    let started = Instant::now();
    let mut ticker = tokio::time::interval_at(started + settings.keepalive, settings.keepalive);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut acknowledged = false;
    let mut access: Option<(AccessWatch, VerifiedToken)> = None;
    let close = loop {
        if access.is_none() {
            access = outcome.access.lock().ok().and_then(|mut slot| slot.take());
        }
        let expiry = access
            .as_ref()
            .map(|(_, verified)| verified.expires_at)
            .map(|at| {
                let left = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                Instant::now() + left
            });
        tokio::select! {
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if !acknowledged && text.contains("connection_ack") {
                        acknowledged = true;
                    }
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let code = match code {
                        1002 if outcome.refused.load(Ordering::SeqCst) => CLOSE_FORBIDDEN,
                        1011 if !acknowledged => CLOSE_UNAUTHORIZED,
                        other => other,
                    };
                    break Some((code, reason));
                }
                // The peer went away, or the legacy protocol ended the connection (after a
                // connection_error or connection_terminate).
                None => break Some((1000, String::new())),
            },
            _ = ticker.tick() => {
                let silent = last_heard.lock().map(|t| t.elapsed()).unwrap_or_default();
                if silent > settings.keepalive * 2 {
                    tracing::debug!(?silent, "dropping a websocket that stopped answering");
                    break Some((CLOSE_KEEPALIVE_TIMEOUT, "keep-alive timeout".to_owned()));
                }
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
                if acknowledged
                    && protocol == WebSocketProtocols::SubscriptionsTransportWS
                    && sink.send(Message::Text(r#"{"type":"ka"}"#.into())).await.is_err()
                {
                    break None;
                }
            }
            _ = tokio::time::sleep_until(started + settings.init_timeout), if !acknowledged => {
                break Some((CLOSE_INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            _ = sleep_until(expiry) => {
                break Some((CLOSE_UNAUTHORIZED, "the session token expired; sign in again".to_owned()));
            }
            verified = access_changed(&mut access) => {
                if let Err(reason) = crate::auth::admit(&services, &verified).await {
                    tracing::info!(user = %verified.session.user_id, %reason, "closing a websocket");
                    break Some((CLOSE_FORBIDDEN, reason));
                }
            }
            _ = shutdown.changed() => {
                break Some((1001, "the server is shutting down".to_owned()));
            }
        }
    };
    if let Some((code, reason)) = close {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await;
    }
    let _ = sink.close().await;
    // Dropping the protocol state drops the connection data, and with it the presence guard.
    drop(messages);
}

/// Resolves with the token to re-check when the user's access may have changed; never without
/// a watch.
async fn access_changed(access: &mut Option<(AccessWatch, VerifiedToken)>) -> VerifiedToken {
    match access {
        Some((watch, verified)) => {
            watch.changed().await;
            *verified
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_are_found_in_every_accepted_form() {
        assert_eq!(
            token_from_init(&json!({"Authorization": "Bearer abc"})).unwrap(),
            "abc"
        );
        assert_eq!(
            token_from_init(&json!({"authorization": "bearer abc"})).unwrap(),
            "abc"
        );
        assert_eq!(
            token_from_init(&json!({"AUTHORIZATION": "Bearer  abc "})).unwrap(),
            "abc"
        );
        assert_eq!(token_from_init(&json!({"token": "abc"})).unwrap(), "abc");
        assert!(token_from_init(&json!({"Authorization": "Basic abc"})).is_err());
        assert!(token_from_init(&json!({})).is_err());
        assert!(token_from_init(&json!(null)).is_err());
        assert!(token_from_init(&json!("Bearer abc")).is_err());
    }
}
