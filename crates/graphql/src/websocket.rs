//! GraphQL over websockets on `/graphql`: the graphql-transport-ws protocol and the legacy
//! graphql-ws (subscriptions-transport-ws) one.
//!
//! async-graphql speaks the protocols; this module owns the connection around them:
//! - every client message is read here first: one that is not valid protocol JSON closes the
//!   connection with 4400, a frame over [`MAX_MESSAGE_BYTES`] with 1009; a `subscribe` passes
//!   [`Edge::admit`] like an HTTP request (a refusal is an `error` message for that id), may
//!   not reuse the id of a live operation (4409), and may not make more than
//!   [`WebSocketSettings::max_subscriptions`] live at once (an `error` message for that id);
//!   a query or mutation sent this way is cancelled after the request timeout;
//! - authentication in `connection_init` (`{"Authorization": "Bearer <token>"}`, the key in any
//!   case, `{"token": "<token>"}`, `{"authToken": "<token>"}` or
//!   `{"headers": {"Authorization": "Bearer <token>"}}`); a missing, forged or expired token,
//!   or a user who no longer exists, is refused with close code 4403 (graphql-transport-ws) or a
//!   `connection_error` (legacy); a user with [`WebSocketSettings::max_per_user`] websockets
//!   on this node already is refused with 4429; when the session cannot be checked (the
//!   database is unreachable) the close code is 1013, try again later;
//! - a connection that sends no `connection_init` within [`WebSocketSettings::init_timeout`] is
//!   closed with 4408;
//! - the connection outlives its access token while the token's session lives: the session
//!   ending (sign-out, ended from elsewhere, a reused refresh token, a password change, or
//!   running out unrefreshed) closes it with 4401; its user being banned, the token revoked or
//!   the account deleted closes it with 4403; both as soon as the change reaches this node; a
//!   check that fails because the database is unreachable changes nothing (it is tried again);
//! - keep-alive: a websocket ping every [`WebSocketSettings::keepalive`] (and a `ka` message on
//!   the legacy protocol); a peer that sends nothing, not even a pong, for two intervals is
//!   dropped;
//! - presence: an authenticated connection holds a [`PresenceGuard`] until it ends;
//! - shutdown: connections are closed with 1001 (going away);
//! - small buffers: a 4 KiB read buffer instead of tungstenite's 128 KiB, and writes that go
//!   straight to the socket, so an idle connection costs little memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amity_domain::DomainError;
use amity_domain::moderation::AccessWatch;
use amity_domain::presence::PresenceGuard;
use async_graphql::Data;
use async_graphql::futures_util::{SinkExt, StreamExt, stream};
use async_graphql::http::{ClientMessage, WebSocketProtocols, WsMessage};
use async_graphql::parser::types::OperationType;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::Instrument;

use crate::Services;
use crate::auth::tokens::VerifiedToken;
use crate::auth::{Admission, Caller};
use crate::edge::address::ClientAddress;
use crate::edge::{Edge, document};
use crate::error::{ApiError, ErrorCode};
use crate::observe::{self, Transport};
use crate::schema::AmitySchema;

/// Close code: the connection_init was refused (no or bad token).
pub const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code: the session's token expired, or a subscribe came before the init.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;
/// Close code: no connection_init in time.
pub const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Close code: the peer stopped answering pings.
pub const CLOSE_KEEPALIVE_TIMEOUT: u16 = 3008;
/// Close code: a message that is not valid protocol JSON.
pub const CLOSE_INVALID_MESSAGE: u16 = 4400;
/// Close code: a subscribe reused the id of a live operation.
pub const CLOSE_DUPLICATE_ID: u16 = 4409;
/// Close code: too many connections of this user (or a second connection_init).
pub const CLOSE_TOO_MANY: u16 = 4429;
/// Close code: a frame larger than [`MAX_MESSAGE_BYTES`].
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code: the server cannot serve the connection just now; try again later.
pub const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

/// Largest message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The read buffer of each connection.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// After a session check failed for want of the database, when to check again.
const RECHECK_AFTER: Duration = Duration::from_secs(2);
/// How long one message may take to go out: a client that stops reading is dropped instead of
/// holding its connection (and the loop that would notice anything else) forever.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

type Sink = async_graphql::futures_util::stream::SplitSink<WebSocket, Message>;

/// Sends `message`, giving up after [`SEND_TIMEOUT`]; false when the connection is done for.
async fn send(sink: &mut Sink, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// Timings and limits of websocket connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketSettings {
    /// How often the server pings; a peer silent for two intervals is dropped.
    pub keepalive: Duration,
    /// How long a new connection may take to send `connection_init`.
    pub init_timeout: Duration,
    /// Most live subscriptions (and other operations) per connection
    /// (`AMITY_WEBSOCKET_MAX_SUBSCRIPTIONS`).
    pub max_subscriptions: usize,
    /// Most connections per user on this node (`AMITY_MAX_CONNECTIONS_PER_USER`).
    pub max_per_user: usize,
}

impl Default for WebSocketSettings {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(15),
            init_timeout: Duration::from_secs(10),
            max_subscriptions: 20,
            max_per_user: 10,
        }
    }
}

/// What a `connection_init` without a usable token is told.
const INIT_HINT: &str = "send {\"Authorization\": \"Bearer <token>\"} in connection_init";

/// The token in a `connection_init` payload, in any of the shapes clients send (SPEC 12.2):
/// `{"Authorization": "Bearer t"}` (the key in any case), `{"token": t}`, `{"authToken": t}`,
/// or `{"headers": {"Authorization": "Bearer t"}}`.
fn token_from_init(payload: &serde_json::Value) -> Result<String, &'static str> {
    let Some(map) = payload.as_object() else {
        return Err(INIT_HINT);
    };
    if let Some(found) = bearer_in(map) {
        return found;
    }
    if let Some(found) = map
        .get("headers")
        .and_then(|h| h.as_object())
        .and_then(bearer_in)
    {
        return found;
    }
    ["token", "authToken"]
        .iter()
        .find_map(|key| map.get(*key).and_then(|t| t.as_str()))
        .map(|token| token.trim().to_owned())
        .ok_or(INIT_HINT)
}

/// The bearer token of an `Authorization` entry (the key in any case), if the map has one.
fn bearer_in(
    map: &serde_json::Map<String, serde_json::Value>,
) -> Option<Result<String, &'static str>> {
    let (_, value) = map
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))?;
    let value = value.as_str().unwrap_or_default().trim();
    Some(match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Ok(token.trim().to_owned())
        }
        _ => Err("Authorization must be \"Bearer <token>\""),
    })
}

/// The signed-in caller, the watch that wakes when their access may have changed, the token
/// (re-checked then), and when its session ends unless refreshed (checked again then: the
/// connection outlives the access token, not the session).
type SignedIn = (Caller, AccessWatch, VerifiedToken, DateTime<Utc>);

/// What the init handler found out, for the connection loop.
#[derive(Default)]
struct InitOutcome {
    /// The close code a refused init ends with (4403, 4429 or 1013), if it was refused.
    refusal: Mutex<Option<u16>>,
    /// Who signed in, once the init succeeded.
    access: Mutex<Option<SignedIn>>,
}

impl InitOutcome {
    fn refuse(&self, code: u16, message: String) -> async_graphql::Error {
        if let Ok(mut refusal) = self.refusal.lock() {
            *refusal = Some(code);
        }
        async_graphql::Error::new(message)
    }
}

/// What a websocket connection serves, and for whom.
pub struct Connection {
    /// The schema.
    pub schema: AmitySchema,
    /// The services.
    pub services: Arc<Services>,
    /// The edge's limits.
    pub edge: Arc<Edge>,
    /// Which protocol the client asked for.
    pub protocol: WebSocketProtocols,
    /// Timings and limits.
    pub settings: WebSocketSettings,
    /// The client's address.
    pub client: ClientAddress,
}

/// Why a `connection_init` was refused: the close code (none: the protocol's own) and reason.
struct InitRefusal {
    code: Option<u16>,
    message: String,
}

impl InitRefusal {
    fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code: Some(code),
            message: message.into(),
        }
    }

    fn token(reason: impl std::fmt::Display) -> Self {
        Self::new(CLOSE_FORBIDDEN, format!("the token was refused: {reason}"))
    }

    fn try_later() -> Self {
        Self::new(
            CLOSE_TRY_AGAIN_LATER,
            "the server cannot accept the connection just now; try again later",
        )
    }
}

/// Checks a `connection_init` and opens the session: the token, the user's place on this node
/// (before any database work, so refusing is cheap), their current status (read fresh), and
/// their presence. Returns the connection's data and what the loop watches.
async fn open_session(
    payload: &serde_json::Value,
    services: &Services,
    edge: &Edge,
    settings: WebSocketSettings,
    client: ClientAddress,
) -> Result<(Data, SignedIn), InitRefusal> {
    let token = token_from_init(payload).map_err(|m| InitRefusal::new(CLOSE_FORBIDDEN, m))?;
    let verified = services.tokens.verify(&token).map_err(InitRefusal::token)?;
    let user = verified.session.user_id;
    let slot = edge
        .websocket_slot(user, settings.max_per_user)
        .ok_or_else(|| {
            InitRefusal::new(
                CLOSE_TOO_MANY,
                format!(
                    "too many connections: at most {} per user on this server",
                    settings.max_per_user
                ),
            )
        })?;
    // Watch before checking, so that a ban landing in between is not missed.
    let watch = services.access.watch(user);
    let limit = edge.settings().request_timeout;
    let (session, ends_at) =
        match tokio::time::timeout(limit, crate::auth::admit_fresh(services, &verified)).await {
            Ok(Admission::Admitted(session, ends_at)) => (session, ends_at),
            Ok(Admission::Refused(reason) | Admission::Ended(reason)) => {
                return Err(InitRefusal::token(reason));
            }
            Ok(Admission::Unavailable) | Err(_) => return Err(InitRefusal::try_later()),
        };
    let guard: PresenceGuard = match tokio::time::timeout(limit, services.presence.connect(user))
        .await
    {
        Ok(Ok(guard)) => guard,
        Ok(Err(DomainError::Unauthenticated(reason))) => return Err(InitRefusal::token(reason)),
        Ok(Err(e @ DomainError::Unavailable(_))) => {
            tracing::warn!(error = %amity_domain::error::chain(&e), "recording presence failed");
            return Err(InitRefusal::try_later());
        }
        Err(_) => return Err(InitRefusal::try_later()),
        Ok(Err(e)) => {
            tracing::error!(error = %amity_domain::error::chain(&e), "recording presence failed");
            return Err(InitRefusal {
                code: None,
                message: "the server could not accept the connection".to_owned(),
            });
        }
    };
    let caller = Caller::User(session);
    let mut data = Data::default();
    data.insert(caller.clone());
    data.insert(client);
    data.insert(Arc::new(guard));
    data.insert(Arc::new(slot));
    Ok((data, (caller, watch, verified, ends_at)))
}

/// A live operation of the connection: its deadline, if it is a query or mutation.
type Live = HashMap<String, Option<Instant>>;

/// This connection's share of [`observe::SUBSCRIPTIONS_LIVE`].
#[derive(Default)]
struct LiveSubscriptions(usize);

impl LiveSubscriptions {
    /// Brings the gauge in line with the subscriptions (operations without a deadline) of
    /// `live`.
    fn update(&mut self, live: &Live) {
        let now = live.values().filter(|deadline| deadline.is_none()).count();
        if now != self.0 {
            observe::adjust(observe::SUBSCRIPTIONS_LIVE, now as f64 - self.0 as f64);
            self.0 = now;
        }
    }
}

/// Serves one upgraded websocket until either side ends it or the server shuts down, in a
/// `websocket` span that carries the user id once the connection is signed in.
pub async fn serve(socket: WebSocket, connection: Connection, shutdown: watch::Receiver<bool>) {
    let span = tracing::info_span!(
        "websocket",
        protocol = connection.protocol.sec_websocket_protocol(),
        client = %connection.client,
        user_id = tracing::field::Empty,
    );
    serve_connection(socket, connection, shutdown)
        .instrument(span)
        .await;
}

async fn serve_connection(
    socket: WebSocket,
    connection: Connection,
    mut shutdown: watch::Receiver<bool>,
) {
    let _open = observe::Held::new(observe::WEBSOCKETS_OPEN);
    let Connection {
        schema,
        services,
        edge,
        protocol,
        settings,
        client,
    } = connection;
    let (mut sink, mut frames) = socket.split();
    // Client messages reach async-graphql through this channel, after the checks here.
    let (to_protocol, mut from_client) = mpsc::channel::<serde_json::Result<ClientMessage>>(16);
    let input = stream::poll_fn(move |cx| from_client.poll_recv(cx));

    let outcome = Arc::new(InitOutcome::default());
    let init = {
        let outcome = outcome.clone();
        let (services, edge) = (services.clone(), edge.clone());
        move |payload: serde_json::Value| async move {
            match open_session(&payload, &services, &edge, settings, client).await {
                Ok((data, access)) => {
                    if let Ok(mut slot) = outcome.access.lock() {
                        *slot = Some(access);
                    }
                    Ok(data)
                }
                Err(InitRefusal {
                    code: Some(code),
                    message,
                }) => Err(outcome.refuse(code, message)),
                Err(InitRefusal {
                    code: None,
                    message,
                }) => Err(async_graphql::Error::new(message)),
            }
        }
    };
    let mut messages = async_graphql::http::WebSocket::from_message_stream(schema, input, protocol)
        .on_connection_init(init);

    let started = Instant::now();
    let mut last_heard = started;
    let mut ticker = tokio::time::interval_at(started + settings.keepalive, settings.keepalive);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut acknowledged = false;
    // Between a connection_init and its answer nothing else is read, so that every later
    // message is checked as the signed-in user it will run as.
    let mut init_pending = false;
    let mut access: Option<SignedIn> = None;
    let mut recheck: Option<Instant> = None;
    let mut live = Live::new();
    let mut subscriptions = LiveSubscriptions::default();
    let close = loop {
        subscriptions.update(&live);
        if access.is_none() {
            access = outcome.access.lock().ok().and_then(|mut slot| slot.take());
            if let Some((Caller::User(session), _, _, _)) = &access {
                tracing::Span::current()
                    .record("user_id", tracing::field::display(session.user_id));
                tracing::info!("websocket signed in");
            }
        }
        let caller = access
            .as_ref()
            .map_or(Caller::Anonymous, |(caller, _, _, _)| caller.clone());
        let expiry = access.as_ref().map(|(_, _, _, ends_at)| {
            let left = (*ends_at - services.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO);
            Instant::now() + left
        });
        let deadline = live.values().flatten().min().copied();
        tokio::select! {
            frame = frames.next(), if to_protocol.capacity() > 0 && !init_pending => {
                let bytes = match frame {
                    Some(Ok(Message::Text(text))) => text.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        last_heard = Instant::now();
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => break Some((1000, String::new())),
                    Some(Err(e)) => break read_failure(e),
                };
                last_heard = Instant::now();
                // Variables nested too deep for the JSON parser would make the whole message
                // invalid; refuse that operation as HTTP refuses the request instead.
                if document::json_nesting(&bytes) > document::MAX_NESTING + 3 {
                    match too_deep_operation(&bytes) {
                        Some(id) if !live.contains_key(&id) => {
                            let error = ApiError::new(
                                ErrorCode::BadUserInput,
                                format!(
                                    "the variables are nested too deep: at most {} levels of \
                                     arrays and objects",
                                    document::MAX_NESTING
                                ),
                            );
                            if !send(&mut sink, error_message(protocol, &id, error)).await {
                                break None;
                            }
                            continue;
                        }
                        _ => {
                            break Some((CLOSE_INVALID_MESSAGE, "invalid message: nested too deep".to_owned()));
                        }
                    }
                }
                let message = match ClientMessage::from_bytes(&bytes) {
                    Ok(message) => message,
                    Err(e) => {
                        break Some((CLOSE_INVALID_MESSAGE, format!("invalid message: {e}")));
                    }
                };
                let message = match message {
                    ClientMessage::Start { id, payload } => {
                        if live.contains_key(&id) {
                            break Some((
                                CLOSE_DUPLICATE_ID,
                                format!("Subscriber for {id} already exists"),
                            ));
                        }
                        let (payload, refusal) = if live.len() >= settings.max_subscriptions {
                            (payload, Err(ApiError::new(
                                ErrorCode::LimitExceeded,
                                format!(
                                    "at most {} live subscriptions per connection; complete \
                                     one first",
                                    settings.max_subscriptions
                                ),
                            )))
                        } else {
                            edge.admit_request(payload, &caller).await
                        };
                        observe::record_operation(
                            Transport::Websocket,
                            refusal.as_ref().ok().copied().flatten(),
                            match &refusal {
                                Ok(_) => "OK",
                                Err(error) => observe::code_label(error.code().as_deref()),
                            },
                        );
                        match refusal {
                            Ok(kind) => {
                                let deadline = (kind != Some(OperationType::Subscription))
                                    .then(|| Instant::now() + edge.settings().request_timeout);
                                live.insert(id.clone(), deadline);
                                ClientMessage::Start { id, payload }
                            }
                            Err(error) => {
                                if !send(&mut sink, error_message(protocol, &id, error)).await {
                                    break None;
                                }
                                continue;
                            }
                        }
                    }
                    ClientMessage::Stop { id } => {
                        live.remove(&id);
                        ClientMessage::Stop { id }
                    }
                    ClientMessage::ConnectionInit { payload } => {
                        init_pending = !acknowledged;
                        ClientMessage::ConnectionInit { payload }
                    }
                    other => other,
                };
                if to_protocol.send(Ok(message)).await.is_err() {
                    break None;
                }
            }
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if !acknowledged && text.contains("connection_ack") {
                        acknowledged = true;
                        init_pending = false;
                    }
                    if let Some(id) = completed_id(&text) {
                        live.remove(&id);
                    }
                    if !send(&mut sink, Message::Text(text.into())).await {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let refusal = outcome.refusal.lock().ok().and_then(|r| *r);
                    let code = match (code, refusal) {
                        (1002, Some(refusal)) => refusal,
                        (1011, _) if !acknowledged => CLOSE_UNAUTHORIZED,
                        (other, _) => other,
                    };
                    break Some((code, reason));
                }
                // The legacy protocol ended the connection: after a connection_error (closed
                // with the refusal's code, as on the other protocol) or connection_terminate.
                None => {
                    let refusal = outcome.refusal.lock().ok().and_then(|r| *r);
                    break Some((refusal.unwrap_or(1000), String::new()));
                }
            },
            _ = ticker.tick() => {
                let silent = last_heard.elapsed();
                if silent > settings.keepalive * 2 {
                    tracing::debug!(?silent, "dropping a websocket that stopped answering");
                    break Some((CLOSE_KEEPALIVE_TIMEOUT, "keep-alive timeout".to_owned()));
                }
                if !send(&mut sink, Message::Ping(Default::default())).await {
                    break None;
                }
                if acknowledged
                    && protocol == WebSocketProtocols::SubscriptionsTransportWS
                    && !send(&mut sink, Message::Text(r#"{"type":"ka"}"#.into())).await
                {
                    break None;
                }
            }
            _ = tokio::time::sleep_until(started + settings.init_timeout), if !acknowledged => {
                break Some((CLOSE_INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            // The session's end as last known; a refresh may have moved it since.
            _ = sleep_until(expiry) => {
                if let Some(signed_in) = &mut access {
                    let admission = crate::auth::admit_fresh(&services, &signed_in.2).await;
                    if let Some(close) = judge(admission, signed_in, &mut recheck) {
                        break Some(close);
                    }
                    // Unchecked (the database is unreachable): look again later, not at once.
                    let now = services.clock.now();
                    if signed_in.3 <= now {
                        signed_in.3 = now
                            + chrono::Duration::from_std(RECHECK_AFTER)
                                .unwrap_or(chrono::Duration::seconds(1));
                    }
                }
            }
            _ = sleep_until(deadline) => {
                let now = Instant::now();
                let overdue: Vec<String> = live
                    .iter()
                    .filter(|(_, at)| at.is_some_and(|at| at <= now))
                    .map(|(id, _)| id.clone())
                    .collect();
                let mut gone = false;
                for id in overdue {
                    live.remove(&id);
                    let message = timed_out_message(protocol, &id, edge.timed_out());
                    // Stopping it makes async-graphql drop the operation and send `complete`.
                    // try_send: awaiting room here would stop the loop that makes it.
                    gone = !send(&mut sink, message).await
                        || to_protocol.try_send(Ok(ClientMessage::Stop { id })).is_err();
                    if gone {
                        break;
                    }
                }
                if gone {
                    break None;
                }
            }
            _ = sleep_until(recheck) => {
                recheck = None;
                if let Some(signed_in) = &mut access {
                    let admission = crate::auth::admit(&services, &signed_in.2).await;
                    if let Some(close) = judge(admission, signed_in, &mut recheck) {
                        break Some(close);
                    }
                }
            }
            verified = access_changed(&mut access) => {
                let admission = crate::auth::admit(&services, &verified).await;
                if let Some(signed_in) = &mut access
                    && let Some(close) = judge(admission, signed_in, &mut recheck)
                {
                    tracing::info!(user = %verified.session.user_id, reason = %close.1, "closing a websocket");
                    break Some(close);
                }
            }
            _ = shutdown.changed() => {
                break Some((1001, "the server is shutting down".to_owned()));
            }
        }
    };
    subscriptions.update(&Live::new());
    observe::record_websocket_close(close.as_ref().map(|(code, _)| *code));
    match &close {
        Some((code, reason)) => tracing::info!(code, reason = %reason, "websocket closed"),
        None => tracing::info!("websocket ended by the client"),
    }
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: close_reason(reason).into(),
        };
        send(&mut sink, Message::Close(Some(frame))).await;
    }
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.close()).await;
    // Dropping the protocol state drops the connection data, and with it the presence guard
    // and the user's connection slot.
    drop(messages);
}

/// A close frame carries at most 123 bytes of reason: longer ones are cut at a character.
fn close_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX - 3;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str("...");
    }
    reason
}

/// How a failed read ends the connection: an oversized frame with 1009, a protocol violation
/// with 1002, a vanished peer without a close frame.
fn read_failure(error: axum::Error) -> Option<(u16, String)> {
    use tungstenite::Error;
    let inner = error.into_inner();
    match inner.downcast_ref::<Error>() {
        Some(Error::Capacity(e)) => Some((
            CLOSE_TOO_BIG,
            format!("{e}; at most {MAX_MESSAGE_BYTES} bytes per message"),
        )),
        Some(Error::Protocol(e)) => Some((1002, e.to_string())),
        Some(Error::Utf8(_)) => Some((1007, "text frames must be UTF-8".to_owned())),
        _ => None,
    }
}

/// The id of a `subscribe` (or legacy `start`) message whose payload nests too deep to parse,
/// read without descending into the payload.
fn too_deep_operation(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Shallow {
        id: String,
        #[serde(rename = "type")]
        kind: String,
        // Skipped without recursion, however deep.
        #[serde(rename = "payload")]
        _payload: serde::de::IgnoredAny,
    }
    let shallow: Shallow = serde_json::from_slice(bytes).ok()?;
    matches!(shallow.kind.as_str(), "subscribe" | "start").then_some(shallow.id)
}

/// The id of a `complete` message async-graphql sends (it writes the type first).
fn completed_id(text: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Complete {
        id: String,
    }
    if !text.starts_with(r#"{"type":"complete""#) {
        return None;
    }
    serde_json::from_str::<Complete>(text).ok().map(|c| c.id)
}

fn error_json(error: ApiError) -> serde_json::Value {
    serde_json::to_value(error.into_server_error())
        .unwrap_or_else(|_| json!({ "message": "refused" }))
}

/// An `error` message refusing operation `id`.
fn error_message(protocol: WebSocketProtocols, id: &str, error: ApiError) -> Message {
    let error = error_json(error);
    let message = match protocol {
        WebSocketProtocols::GraphQLWS => json!({ "id": id, "type": "error", "payload": [error] }),
        WebSocketProtocols::SubscriptionsTransportWS => {
            json!({ "id": id, "type": "error", "payload": error })
        }
    };
    Message::Text(message.to_string().into())
}

/// A result with the timeout error for operation `id` (its `complete` follows).
fn timed_out_message(protocol: WebSocketProtocols, id: &str, error: ApiError) -> Message {
    let kind = match protocol {
        WebSocketProtocols::GraphQLWS => "next",
        WebSocketProtocols::SubscriptionsTransportWS => "data",
    };
    let message = json!({ "id": id, "type": kind, "payload": { "data": null, "errors": [error_json(error)] } });
    Message::Text(message.to_string().into())
}

/// What a re-check of a signed-in connection means: the close code and reason when it must
/// end (4401 for an ended session, 4403 for a ban, a revocation or a deleted account); when it
/// may go on, the session's end is updated; when the check could not be made (the database is
/// unreachable), nothing is known to have changed and it is tried again shortly.
fn judge(
    admission: Admission,
    signed_in: &mut SignedIn,
    recheck: &mut Option<Instant>,
) -> Option<(u16, String)> {
    match admission {
        Admission::Admitted(_, ends_at) => {
            signed_in.3 = ends_at;
            None
        }
        Admission::Ended(reason) => Some((CLOSE_UNAUTHORIZED, reason)),
        Admission::Refused(reason) => Some((CLOSE_FORBIDDEN, reason)),
        Admission::Unavailable => {
            *recheck = Some(Instant::now() + RECHECK_AFTER);
            None
        }
    }
}

/// Resolves with the token to re-check when the user's access may have changed; never without
/// a watch.
async fn access_changed(access: &mut Option<SignedIn>) -> VerifiedToken {
    match access {
        Some((_, watch, verified, _)) => {
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
        assert_eq!(
            token_from_init(&json!({"authToken": "abc"})).unwrap(),
            "abc"
        );
        assert_eq!(
            token_from_init(&json!({"headers": {"Authorization": "Bearer abc"}})).unwrap(),
            "abc"
        );
        assert_eq!(
            token_from_init(&json!({"headers": {"authorization": "Bearer abc"}})).unwrap(),
            "abc"
        );
        assert!(token_from_init(&json!({"headers": {"Authorization": "abc"}})).is_err());
        assert!(token_from_init(&json!({"headers": "Bearer abc"})).is_err());
        assert!(token_from_init(&json!({"Authorization": "Basic abc"})).is_err());
        assert!(token_from_init(&json!({})).is_err());
        assert!(token_from_init(&json!(null)).is_err());
        assert!(token_from_init(&json!("Bearer abc")).is_err());
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        assert_eq!(close_reason("short".into()), "short");
        let long = close_reason("é".repeat(100));
        assert!(long.len() <= 123 && long.ends_with("..."), "{long}");
    }

    #[test]
    fn operations_too_deep_to_parse_are_still_named() {
        let deep = format!(
            r#"{{"id":"7","type":"subscribe","payload":{{"query":"q","variables":{{"x":{}1{}}}}}}}"#,
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        assert_eq!(too_deep_operation(deep.as_bytes()).as_deref(), Some("7"));
        let legacy = deep.replace("subscribe", "start");
        assert_eq!(too_deep_operation(legacy.as_bytes()).as_deref(), Some("7"));
        assert_eq!(too_deep_operation(b"[[[[1]]]]"), None);
        let init = deep.replace("subscribe", "connection_init");
        assert_eq!(too_deep_operation(init.as_bytes()), None);
    }

    #[test]
    fn completions_are_recognised_by_their_prefix() {
        assert_eq!(
            completed_id(r#"{"type":"complete","id":"7"}"#).as_deref(),
            Some("7")
        );
        assert_eq!(
            completed_id(r#"{"type":"next","id":"7","payload":{}}"#),
            None
        );
        assert_eq!(completed_id(r#"{"type":"complete"}"#), None);
    }

    #[test]
    fn refusals_follow_each_protocol() {
        let error = || ApiError::new(ErrorCode::LimitExceeded, "too many");
        let Message::Text(modern) = error_message(WebSocketProtocols::GraphQLWS, "1", error())
        else {
            panic!("text")
        };
        let modern: serde_json::Value = serde_json::from_str(modern.as_str()).unwrap();
        assert_eq!(modern["type"], "error");
        assert_eq!(modern["payload"][0]["extensions"]["code"], "LIMIT_EXCEEDED");
        let Message::Text(legacy) =
            error_message(WebSocketProtocols::SubscriptionsTransportWS, "1", error())
        else {
            panic!("text")
        };
        let legacy: serde_json::Value = serde_json::from_str(legacy.as_str()).unwrap();
        assert_eq!(legacy["payload"]["message"], "too many");
    }
}
