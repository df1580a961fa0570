//! The listener: accepts TCP connections and serves the router on each with hyper-util's
//! HTTP/1.1-and-HTTP/2 connection builder, with the limits a server on the open internet needs
//! (the slowloris defences of OWASP's Denial of Service Cheat Sheet):
//!
//! - **header read timeout**: a request's head must arrive within it, counted from when the
//!   connection starts waiting for one — so a silent connection, a slowly trickled head and an idle
//!   keep-alive connection are all closed after it (hyper's `http1::Builder::header_read_timeout`,
//!   and for the first request, which hyper's timer does not cover while it tells HTTP/1.1 from
//!   HTTP/2, a deadline of the listener's own);
//! - **idle timeout**: a connection on which no byte moves in either direction for this long is
//!   closed (a stalled body, a client that stops reading its response);
//! - **bounded head**: hyper buffers at most 64 KiB of request head per connection
//!   ([`crate::head::PARSER_BUFFER_BYTES`]);
//! - **connection cap**: at most this many connections are served at once; further ones wait in the
//!   kernel's accept queue until one closes (a permit of a `tokio::sync::Semaphore` per connection).
//!
//! Graceful shutdown is kept: when `shutdown` resolves the listener stops accepting, in-flight
//! requests finish, idle connections close, then [`serve`] returns.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// The listener's limits (the `serve` flags `--header-read-timeout`, `--idle-timeout`,
/// `--max-connections`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// How long a request's head may take to arrive (also how long an idle keep-alive connection
    /// stays open).
    pub header_read_timeout: Duration,
    /// How long a connection may go without a byte in either direction.
    pub idle_timeout: Duration,
    /// How many connections are served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests. Each
/// request carries the peer's `ConnectInfo<SocketAddr>` (for per-address limits).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: ListenerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.map_err(io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: transient; back off a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let watcher = graceful.watcher();
        let config = config.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let first_request = Arc::new(tokio::sync::Notify::new());
            let arrived = first_request.clone();
            let service =
                hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    // A stored permit: a request that comes before the wait below starts counts.
                    arrived.notify_one();
                    req.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().oneshot(req)
                });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(config.header_read_timeout)
                // A bounded head per connection; scimd's own, lower limits answer first with a
                // SCIM body (crate::head).
                .max_buf_size(crate::head::PARSER_BUFFER_BYTES)
                .max_headers(crate::head::PARSER_MAX_HEADERS);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(crate::head::PARSER_BUFFER_BYTES).unwrap_or(u32::MAX));
            let io = TokioIo::new(Idle::new(stream, config.idle_timeout));
            let conn = watcher.watch(builder.serve_connection_with_upgrades(io, service));
            tokio::pin!(conn);
            // hyper's header timer starts only once the protocol is known, and telling HTTP/1.1
            // from HTTP/2 waits for the first bytes (up to the 24 of the HTTP/2 preface): a
            // connection that sends nothing, or trickles a preface, would be held until the idle
            // timeout. So the first request must arrive within the header read timeout too.
            let deadline = tokio::time::sleep(config.header_read_timeout);
            tokio::select! {
                result = &mut conn => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection closed with an error");
                    }
                    return;
                }
                () = deadline => {
                    tracing::debug!(%peer, "no request within the header read timeout; connection closed");
                    return;
                }
                () = first_request.notified() => {}
            }
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A stream that fails with `TimedOut` once no byte has moved in either direction for `timeout`.
struct Idle {
    inner: TcpStream,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Idle {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self { inner, timeout, deadline: Box::pin(tokio::time::sleep(timeout)) }
    }

    fn moved(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.timeout);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle for longer than the idle timeout")
}

impl AsyncRead for Idle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Idle {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
