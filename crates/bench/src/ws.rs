//! Websocket sessions over graphql-transport-ws (graphql-ws-client on tokio-tungstenite):
//! connect with an authenticated `connection_init`, subscribe, close. The one websocket client
//! of the project's Rust tools: the bench drives load with it and the end-to-end tests
//! (`amity_e2e::ws`) wrap it with their assertions.

use std::borrow::Cow;
use std::time::Duration;

use anyhow::Context;
use graphql_ws_client::graphql::GraphqlOperation;
use graphql_ws_client::{Client, Subscription};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long a handshake plus `connection_init`/`connection_ack` may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The websocket address of a GraphQL endpoint: `http` becomes `ws`, `https` becomes `wss`.
pub fn websocket_url(http_url: &reqwest::Url) -> anyhow::Result<String> {
    let mut url = http_url.clone();
    let scheme = match url.scheme() {
        "http" => "ws",
        "https" => "wss",
        other => anyhow::bail!("the server URL must be http:// or https://, not {other}://"),
    };
    url.set_scheme(scheme)
        .map_err(|()| anyhow::anyhow!("cannot make a websocket address of {http_url}"))?;
    Ok(url.into())
}

/// A GraphQL operation with JSON variables, answered with the raw JSON payload.
#[derive(Debug, Clone, Serialize)]
pub struct Operation {
    query: Cow<'static, str>,
    variables: Value,
}

impl Operation {
    /// An operation with `variables`.
    pub fn new(query: impl Into<Cow<'static, str>>, variables: Value) -> Self {
        Self {
            query: query.into(),
            variables,
        }
    }
}

impl GraphqlOperation for Operation {
    type Response = Value;
    type Error = serde_json::Error;

    fn decode(&self, data: Value) -> Result<Value, serde_json::Error> {
        Ok(data)
    }
}

/// One authenticated graphql-transport-ws connection.
pub struct WsSession {
    client: Client,
    actor: JoinHandle<()>,
}

impl WsSession {
    /// Opens a websocket to `url` and authenticates with `token`; fails if the server refuses
    /// or does not acknowledge within 30 s.
    pub async fn connect(url: &str, token: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, json!({ "token": token })).await
    }

    /// Opens a websocket to `url` with `payload` as the `connection_init` payload (any of the
    /// shapes the server accepts); fails if the server refuses or does not acknowledge within
    /// 30 s.
    pub async fn connect_with(url: &str, payload: Value) -> anyhow::Result<Self> {
        let mut request = url.into_client_request()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        // Small client buffers: thousands of connections live in this one process.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let connect = async {
            let (stream, _) =
                tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                    .await
                    .context("websocket handshake")?;
            let (client, actor) = Client::build(stream)
                .payload(payload)?
                .build()
                .await
                .context("connection_init was not acknowledged")?;
            anyhow::Ok((client, actor))
        };
        let (client, actor) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .context("connecting timed out")??;
        let actor = tokio::spawn(async move {
            actor.into_future().await;
        });
        Ok(Self { client, actor })
    }

    /// Starts a subscription; its items are the raw payloads (`{"data": ...}` or
    /// `{"errors": ...}`).
    pub async fn subscribe(&self, operation: Operation) -> anyhow::Result<Subscription<Operation>> {
        Ok(self.client.subscribe(operation).await?)
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.actor.is_finished()
    }

    /// Waits up to `within` for the server to end the connection; true if it did.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, &mut self.actor).await.is_ok()
    }

    /// Closes the connection with a normal close frame and waits (briefly) for it to end.
    pub async fn close(self) {
        self.client.close(1000, "done").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.actor).await;
    }

    /// Drops the connection without a close handshake, as a vanished client would.
    pub fn kill(self) {
        self.actor.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_addresses_follow_the_http_ones() -> anyhow::Result<()> {
        let url = |s: &str| reqwest::Url::parse(s);
        assert_eq!(
            websocket_url(&url("http://127.0.0.1:8080/graphql")?)?,
            "ws://127.0.0.1:8080/graphql"
        );
        assert_eq!(
            websocket_url(&url("https://amity.example/api/graphql")?)?,
            "wss://amity.example/api/graphql"
        );
        assert!(websocket_url(&url("ftp://x/graphql")?).is_err());
        Ok(())
    }
}
