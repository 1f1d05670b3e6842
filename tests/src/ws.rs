//! A websocket GraphQL client for tests: graphql-ws-client (graphql-transport-ws) on
//! tokio-tungstenite, wrapped with timeouts so a missing event fails a test instead of hanging.

use std::time::Duration;

use amity_bench::ws::{Operation, WsSession};
use futures::{SinkExt, StreamExt};
use graphql_ws_client::Subscription;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// How long a test waits for an expected event.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A raw websocket, for tests that speak the protocol message by message.
pub type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text or close frame, skipping pings; fails the test after [`EVENT_TIMEOUT`].
pub async fn next_frame(ws: &mut Raw) -> Message {
    loop {
        let message = tokio::time::timeout(EVENT_TIMEOUT, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a valid frame");
        match message {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

/// The next text frame as JSON.
pub async fn next_json(ws: &mut Raw) -> Value {
    match next_frame(ws).await {
        Message::Text(text) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The code of a close frame.
pub fn close_code(message: &Message) -> u16 {
    match message {
        Message::Close(Some(frame)) => frame.code.into(),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// Sends a JSON message.
pub async fn send_json(ws: &mut Raw, value: Value) {
    ws.send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// The close code and reason a graphql-transport-ws `connection_init` with `payload` is
/// refused with; fails the test if it is accepted.
pub async fn refused_init(url: &str, payload: Value) -> (u16, String) {
    match WsClient::connect(url, payload.clone()).await {
        Err(e) => match e.downcast_ref::<graphql_ws_client::Error>() {
            Some(graphql_ws_client::Error::Close(code, reason)) => (*code, reason.clone()),
            _ => panic!("{payload}: expected a close, got {e:#}"),
        },
        Ok(_) => panic!("{payload} was accepted"),
    }
}

/// Opens a raw websocket with the given subprotocol (tests of refusals and of the legacy
/// protocol).
pub async fn connect_raw(url: &str, protocol: &str) -> Raw {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(protocol).unwrap(),
    );
    let (stream, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket handshake");
    stream
}

/// An authenticated graphql-transport-ws connection: the bench's client
/// ([`amity_bench::ws::WsSession`]) with subscriptions that fail the test instead of hanging.
pub struct WsClient {
    session: WsSession,
}

impl WsClient {
    /// Connects and sends `connection_init` with `payload`; fails if the server refuses.
    pub async fn connect(url: &str, payload: Value) -> anyhow::Result<Self> {
        let session = WsSession::connect_with(url, payload).await?;
        Ok(Self { session })
    }

    /// Starts a subscription.
    pub async fn subscribe(&self, query: &str, variables: Value) -> Sub {
        let op = Operation::new(query.to_owned(), variables);
        Sub {
            inner: self.session.subscribe(op).await.expect("subscribe"),
        }
    }

    /// Whether the connection has ended (closed by the server or dropped).
    pub fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    /// Waits until the server has closed the connection, up to `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        self.session.closed_within(within).await
    }

    /// Closes the connection normally.
    pub async fn close(self) {
        self.session.close().await;
    }

    /// Drops the connection without a close handshake, as a vanished client would.
    pub fn kill(self) {
        self.session.kill();
    }
}

/// A running subscription.
pub struct Sub {
    inner: Subscription<Operation>,
}

impl Sub {
    /// The next payload (`{"data": ...}` or `{"errors": ...}`), failing the test after
    /// [`EVENT_TIMEOUT`].
    pub async fn next(&mut self) -> Value {
        match tokio::time::timeout(EVENT_TIMEOUT, self.inner.next()).await {
            Ok(Some(Ok(value))) => value,
            Ok(Some(Err(e))) => panic!("subscription error: {e}"),
            Ok(None) => panic!("the subscription ended"),
            Err(_) => panic!("no event within {EVENT_TIMEOUT:?}"),
        }
    }

    /// The next payload's `data`, asserting it has no errors.
    pub async fn next_data(&mut self) -> Value {
        let payload = self.next().await;
        assert!(payload.get("errors").is_none(), "errors: {payload}");
        payload["data"].clone()
    }

    /// Asserts that nothing arrives within `quiet`.
    pub async fn assert_silent(&mut self, quiet: Duration) {
        if let Ok(item) = tokio::time::timeout(quiet, self.inner.next()).await {
            panic!("expected nothing, got {item:?}");
        }
    }

    /// Whether the subscription has ended within `within`.
    pub async fn ended_within(&mut self, within: Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.inner.next()).await,
            Ok(None)
        )
    }
}

/// A raw graphql-transport-ws connection initialised with `token` (acknowledged), for tests
/// that read the close code the server ends it with.
pub async fn signed_in_raw(url: &str, token: &str) -> Raw {
    let mut ws = connect_raw(url, "graphql-transport-ws").await;
    send_json(
        &mut ws,
        serde_json::json!({"type": "connection_init", "payload": {"token": token}}),
    )
    .await;
    let ack = next_json(&mut ws).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

/// The close frame the server ends a raw connection with, as (code, reason); fails the test
/// if anything else arrives first or nothing within `within`.
pub async fn closed_with(ws: &mut Raw, within: Duration) -> (u16, String) {
    let frame = tokio::time::timeout(within, next_frame(ws))
        .await
        .expect("the server closed the connection in time");
    match frame {
        Message::Close(Some(frame)) => (frame.code.into(), frame.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// Asserts the server keeps a raw connection open (no close, no message) for `quiet`.
pub async fn stays_open(ws: &mut Raw, quiet: Duration) {
    if let Ok(frame) = tokio::time::timeout(quiet, next_frame(ws)).await {
        panic!("expected the connection to stay open, got {frame:?}");
    }
}
