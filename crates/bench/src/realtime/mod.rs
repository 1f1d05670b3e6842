//! The realtime benchmarks: one module each, and what they share (opening many websockets).

mod ban_close;
mod idle_connections;
mod notify_latency;
mod presence_fanout;

use futures::{StreamExt, TryStreamExt};

use crate::cli::RealtimeCommand;
use crate::client::{Account, GraphqlClient, endpoint_url};
use crate::progress::Progress;
use crate::report::Report;
use crate::ws::{WsSession, websocket_url};

/// Runs one realtime benchmark.
pub async fn run(command: RealtimeCommand) -> anyhow::Result<Report> {
    match command {
        RealtimeCommand::NotifyLatency(args) => notify_latency::run(args).await,
        RealtimeCommand::PresenceFanout(args) => presence_fanout::run(args).await,
        RealtimeCommand::IdleConnections(args) => idle_connections::run(args).await,
        RealtimeCommand::BanClose(args) => ban_close::run(args).await,
    }
}

/// The HTTP client and the websocket address for the endpoint `url`.
fn endpoints(url: &str) -> anyhow::Result<(GraphqlClient, String)> {
    let url = endpoint_url(url)?;
    Ok((GraphqlClient::new(&url)?, websocket_url(&url)?))
}

/// Opens one authenticated websocket per account, `concurrency` at a time, in the accounts'
/// order; fails on the first connection the server refuses.
async fn connect_many<'a>(
    ws_url: &str,
    accounts: impl IntoIterator<Item = &'a Account>,
    total: usize,
    concurrency: u32,
) -> anyhow::Result<Vec<WsSession>> {
    let mut progress = Progress::new("opening websockets", total as u64);
    let sessions = futures::stream::iter(accounts)
        .map(|account| WsSession::connect(ws_url, &account.token))
        .buffered(concurrency as usize)
        .inspect(|result| progress.tick(result.is_ok()))
        .try_collect::<Vec<_>>()
        .await;
    progress.finish();
    sessions
}

/// Closes every session, `concurrency` at a time.
async fn close_all(sessions: Vec<WsSession>, concurrency: u32) {
    futures::stream::iter(sessions)
        .for_each_concurrent(concurrency as usize, WsSession::close)
        .await;
}
