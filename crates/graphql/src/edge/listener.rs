//! The HTTP server loop, with the limits that protect the process itself rather than one
//! request: how many connections may be open, how long request headers may take, and how long
//! a connection may sit idle.
//!
//! axum's `serve` has none of these (it accepts without bound and waits for headers forever),
//! so connections are served here with hyper directly, as axum's own `serve` does inside.
//! HTTP/1.1 only (with upgrades to websockets): HTTP/2 comes through the TLS-terminating proxy
//! in front, and serving only one protocol means no protocol-sniffing phase without a deadline.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::edge::EdgeSettings;

/// The TCP peer of a request, put into its extensions by [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish (websockets are closed by the router's own shutdown signal).
///
/// At most [`EdgeSettings::max_connections`] connections are open at once; past that, new
/// ones wait in the kernel's backlog until one closes. Request headers must arrive within
/// [`EdgeSettings::header_read_timeout`] of the connection opening (or of the previous
/// response, on a kept-alive connection: so an idle kept-alive connection is closed after
/// that too), and a connection that moves no byte for [`EdgeSettings::idle_timeout`] (a
/// request whose body stalls, say) is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &EdgeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned_full = false;
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        if slots.available_permits() == 0 && !warned_full {
            warned_full = true;
            tracing::warn!(
                max = settings.max_connections,
                "the connection limit is reached; new connections wait until one closes"
            );
        } else if slots.available_permits() > settings.max_connections / 10 {
            warned_full = false;
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %amity_domain::error::chain(&e), "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            router: router.clone(),
            peer,
            header_read_timeout: settings.header_read_timeout,
            idle_timeout: settings.idle_timeout,
        };
        let held = Held {
            _slot: slot,
            _open: done_rx.clone(),
            _counted: crate::observe::Held::new(crate::observe::HTTP_CONNECTIONS_OPEN),
        };
        let stop = stop_rx.clone();
        tokio::spawn(connection.run(stream, held, stop));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
    Ok(())
}

struct Connection {
    router: Router,
    peer: SocketAddr,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl Connection {
    async fn run(self, stream: TcpStream, held: Held, mut stop: watch::Receiver<bool>) {
        let started = Instant::now();
        let activity = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Watched {
            inner: stream,
            started,
            activity: activity.clone(),
            _held: held,
        });
        let peer = self.peer;
        let service = self.router.map_request(move |mut request: Request<_>| {
            request.extensions_mut().insert(PeerAddr(peer));
            request.map(axum::body::Body::new)
        });
        let service = TowerToHyperService::new(service);
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        let mut conn = std::pin::pin!(builder.serve_connection(io, service).with_upgrades());
        let mut check =
            tokio::time::interval((self.idle_timeout / 4).max(Duration::from_millis(1)));
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopping = *stop.borrow();
        if stopping {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(peer = %self.peer, error = %amity_domain::error::chain(&e), "connection ended with an error");
                    }
                    return;
                }
                _ = check.tick() => {
                    let last = started + Duration::from_millis(activity.load(Ordering::Relaxed));
                    if last.elapsed() >= self.idle_timeout {
                        tracing::debug!(peer = %self.peer, "closing an idle connection");
                        return;
                    }
                }
                changed = stop.changed(), if !stopping => {
                    if changed.is_err() || *stop.borrow() {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

/// What an open connection holds until it is dropped: its place under the connection limit,
/// and a handle that keeps a stopping server waiting for it. Both live in the stream itself,
/// so that a connection upgraded to a websocket keeps them until the websocket closes.
struct Held {
    _slot: OwnedSemaphorePermit,
    _open: watch::Receiver<()>,
    _counted: crate::observe::Held,
}

/// A TCP stream that notes when it last moved a byte.
struct Watched {
    inner: TcpStream,
    started: Instant,
    activity: Arc<AtomicU64>,
    _held: Held,
}

impl Watched {
    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
