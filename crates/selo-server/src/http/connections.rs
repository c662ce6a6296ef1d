//! Accepting and serving connections with the bounds of CONTRACT §19: a connection that has not
//! sent a request's complete headers within the header timeout (10 s, counted from when it
//! opened or from the first byte of a later request) is closed, an idle keep-alive connection is
//! closed after the idle timeout (60 s), and at most `max_connections` are open at once (further
//! ones wait in the listen backlog). Shutdown stops accepting and lets in-flight requests finish.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::ServiceExt;

/// The connection bounds.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a request's headers may take to arrive in full.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait, idle, for its next request.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// When one connection last did something, as its socket and its requests tell.
struct Activity {
    /// When the head of the next request began to arrive: the connection's opening for its
    /// first request, else the first byte read while no request was in flight.
    head_started: Option<Instant>,
    /// The last moment the connection did something (read, write, request finished).
    last_active: Instant,
}

/// What a connection's socket, its service and its watchdog share.
struct Shared {
    /// Requests being answered. While one is, the socket's reads and writes are not recorded
    /// (the request timeout bounds it), so an upload pays no lock or clock read per read.
    in_flight: AtomicUsize,
    activity: Mutex<Activity>,
}

/// A connection's [`Shared`] state.
#[derive(Clone)]
struct Watch(Arc<Shared>);

impl Watch {
    fn new(opened: Instant) -> Self {
        Watch(Arc::new(Shared {
            in_flight: AtomicUsize::new(0),
            activity: Mutex::new(Activity {
                head_started: Some(opened),
                last_active: opened,
            }),
        }))
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.0.activity.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn busy(&self) -> bool {
        self.0.in_flight.load(Ordering::Acquire) > 0
    }

    fn read(&self, bytes: usize) {
        if bytes == 0 || self.busy() {
            return;
        }
        let now = Instant::now();
        let mut a = self.activity();
        a.last_active = now;
        if a.head_started.is_none() {
            a.head_started = Some(now);
        }
    }

    fn wrote(&self) {
        if !self.busy() {
            self.activity().last_active = Instant::now();
        }
    }

    fn request_started(&self) {
        self.0.in_flight.fetch_add(1, Ordering::AcqRel);
        self.activity().head_started = None;
    }

    fn request_finished(&self) {
        let mut a = self.activity();
        a.last_active = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// When the connection breaks a bound unless something happens first (`None` while a
    /// request is in flight: its time is the request timeout's business).
    fn deadline(&self, limits: ConnectionLimits) -> Option<Instant> {
        if self.busy() {
            return None;
        }
        let a = self.activity();
        Some(match a.head_started {
            Some(started) => started + limits.header_timeout,
            None => a.last_active + limits.idle_timeout,
        })
    }

    /// Resolves when the connection has broken a bound. While a request is in flight it looks
    /// again every header timeout (nothing wakes it per request, which would cost every request
    /// a task switch); a bound is then enforced at most one header timeout late.
    async fn expired(&self, limits: ConnectionLimits) {
        loop {
            match self.deadline(limits) {
                Some(deadline) if Instant::now() >= deadline => return,
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => tokio::time::sleep(limits.header_timeout).await,
            }
        }
    }
}

/// A socket that reports its reads and writes to the connection's [`Watch`].
struct WatchedStream {
    inner: TcpStream,
    watch: Watch,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.watch.read(buf.filled().len() - before);
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.watch.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.watch.wrote();
        }
        polled
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

/// Counts a request as in flight until dropped.
struct InFlight(Watch);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Serves `router` on `listener` within `limits` (each listener its own
/// `max_connections` places: a flood on one never takes another's) until `shutdown` resolves,
/// then waits for the open connections' in-flight requests to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let place = tokio::select! {
            place = open.clone().acquire_owned() => place.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: let some close, then go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let watch = Watch::new(Instant::now());
        let io = TokioIo::new(WatchedStream {
            inner: stream,
            watch: watch.clone(),
        });
        let app = router.clone();
        let requests = watch.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                requests.request_started();
                let in_flight = InFlight(requests.clone());
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                let app = app.clone();
                async move {
                    let res = app.oneshot(req).await;
                    drop(in_flight);
                    res
                }
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The header bound is the watchdog's, which also tells idle time apart.
        builder.header_read_timeout(None);
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, peer = %peer, "connection ended with an error");
                    }
                }
                () = watch.expired(limits) => {
                    tracing::debug!(peer = %peer, "closing a slow or idle connection");
                }
            }
            drop(place);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
