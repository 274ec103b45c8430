//! The HTTP listener: accepts TCP connections under caps, serves the router on each with timeouts (over TLS when
//! the server has a certificate: `tls_cert`, `tls_key`), and stops gracefully.
//!
//! - **Header timeout**: a request's headers must arrive within `http_header_timeout_seconds` of the
//!   connection opening or of the previous response (so it is also how long an idle keep-alive connection
//!   stays open). Slowloris clients are closed by it.
//! - **Body timeout**: a request's whole body must arrive within `http_body_timeout_seconds` of its headers
//!   (enforced where bodies are read, `input::read_body`; answered 408).
//! - **Send timeout**: a connection whose client reads nothing of what the server sends for
//!   `http_idle_timeout_seconds` is closed (and a WebSocket on which the client sends nothing for as long).
//! - **Caps**: at most `max_connections` open connections (by default, from the process's file-descriptor
//!   limit, with room left for the database and models), at most `max_connections_per_address` from one
//!   address (not applied behind a reverse proxy, `client_ip_header`). When the server is full, a new
//!   connection takes the place of the connection that has waited longest without a request in flight (an
//!   idle keep-alive or a client still sending headers); only when every connection is busy is it answered
//!   503. Over the per-address cap it is answered 429. Either answer closes the connection.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::http_error::ErrorAnswer;
use app::config::ServerConfig;
use app::error::{ApiError, Code};

/// How long a stopping server waits for open requests before it closes their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The listener's limits, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub send_timeout: Duration,
    pub max_connections: usize,
    /// `None`: no cap per address (behind a reverse proxy every client shares its address).
    pub max_per_address: Option<usize>,
}

impl ConnectionLimits {
    /// The limits of `config`; `max_connections = 0` is derived from the file-descriptor limit, which is first
    /// raised to its hard maximum.
    pub fn from_config(config: &ServerConfig) -> Self {
        let max_connections = match config.max_connections {
            0 => connections_for_fd_limit(open_file_limit()),
            n => n,
        };
        let max_per_address = match (config.max_connections_per_address, &config.client_ip_header) {
            (0, _) | (_, Some(_)) => None,
            (n, None) => Some(n),
        };
        ConnectionLimits {
            header_timeout: Duration::from_secs(config.http_header_timeout_seconds),
            send_timeout: Duration::from_secs(config.http_idle_timeout_seconds),
            max_connections,
            max_per_address,
        }
    }
}

/// The soft limit on open files, after raising it to the hard limit.
fn open_file_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .unwrap_or(1024)
}

/// Connections that fit under a file-descriptor limit: a quarter of it (at least 64) stays for the database,
/// the models, logs and the connections being refused.
pub fn connections_for_fd_limit(fd_limit: u64) -> usize {
    let reserve = (fd_limit / 4).max(64);
    let n = fd_limit.saturating_sub(reserve).clamp(16, 16_384);
    usize::try_from(n).unwrap_or(16_384)
}

/// What one connection's task shares with the registry.
struct Activity {
    /// Requests being answered on the connection.
    in_flight: AtomicUsize,
    /// Whether a request has been answered on it.
    served: AtomicBool,
    /// Milliseconds since the registry's epoch of the last response (or of the connection opening).
    last_ms: AtomicU64,
    /// Set to close the connection in favour of a new one.
    evict: Notify,
}

struct Entry {
    ip: IpAddr,
    activity: Arc<Activity>,
    evicted: bool,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Entry>,
    per_address: HashMap<IpAddr, usize>,
    evicting: usize,
}

/// The open connections, counted overall and per address.
struct Registry {
    limits: ConnectionLimits,
    epoch: Instant,
    table: Mutex<Table>,
    /// Refused connections not yet closed.
    refusing: AtomicUsize,
    /// Signalled whenever a connection closes.
    released: Notify,
}

enum Admission {
    Open(Permit),
    TooManyFromAddress,
    Full,
}

/// A connection's place in the registry, released when dropped (the permit travels with the socket, into a
/// WebSocket after an upgrade).
struct Permit {
    registry: Arc<Registry>,
    id: u64,
    activity: Arc<Activity>,
}

impl Registry {
    fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Registry {
            limits,
            epoch: Instant::now(),
            table: Mutex::new(Table::default()),
            refusing: AtomicUsize::new(0),
            released: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let now = self.now_ms();
        let mut table = self.lock();
        if let Some(max) = self.limits.max_per_address {
            if table.per_address.get(&ip).copied().unwrap_or(0) >= max {
                return Admission::TooManyFromAddress;
            }
        }
        if table.open.len().saturating_sub(table.evicting) >= self.limits.max_connections {
            // The connection without a request in flight that has waited longest (one that never had a request
            // answered first) gives its place.
            let victim = table
                .open
                .iter()
                .filter(|(_, e)| !e.evicted && e.activity.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, e)| {
                    (e.activity.served.load(Ordering::Relaxed), e.activity.last_ms.load(Ordering::Relaxed))
                })
                .map(|(&id, _)| id);
            let Some(victim) = victim else { return Admission::Full };
            if let Some(entry) = table.open.get_mut(&victim) {
                entry.evicted = true;
                entry.activity.evict.notify_one();
            }
            table.evicting += 1;
        }
        let id = table.next_id;
        table.next_id += 1;
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            last_ms: AtomicU64::new(now),
            evict: Notify::new(),
        });
        table.open.insert(id, Entry { ip, activity: activity.clone(), evicted: false });
        *table.per_address.entry(ip).or_insert(0) += 1;
        Admission::Open(Permit { registry: self.clone(), id, activity })
    }

    fn open_count(&self) -> usize {
        self.lock().open.len()
    }

    /// Sockets held: open connections (those told to make room included, until they are gone) and refused
    /// ones being answered.
    fn sockets_held(&self) -> usize {
        self.open_count() + self.refusing.load(Ordering::Acquire)
    }

    /// Sockets the listener may hold before it stops accepting for a moment: the cap and an eighth for
    /// connections on their way out (evicted or refused), all within the file-descriptor reserve.
    fn socket_ceiling(&self) -> usize {
        self.limits.max_connections + (self.limits.max_connections / 8).max(4)
    }

    /// Waits until the listener holds fewer sockets than its ceiling (evicted and refused connections close
    /// within moments).
    async fn room_for_a_socket(&self) {
        while self.sockets_held() >= self.socket_ceiling() {
            let released = self.released.notified();
            tokio::select! {
                () = released => {}
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
}

/// Counts a refused connection until it is closed.
struct Refusing(Arc<Registry>);

impl Refusing {
    fn new(registry: Arc<Registry>) -> Self {
        registry.refusing.fetch_add(1, Ordering::AcqRel);
        Refusing(registry)
    }
}

impl Drop for Refusing {
    fn drop(&mut self) {
        self.0.refusing.fetch_sub(1, Ordering::AcqRel);
        self.0.released.notify_waiters();
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut table = self.registry.lock();
        if let Some(entry) = table.open.remove(&self.id) {
            if entry.evicted {
                table.evicting = table.evicting.saturating_sub(1);
            }
            if let Some(n) = table.per_address.get_mut(&entry.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    table.per_address.remove(&entry.ip);
                }
            }
        }
        drop(table);
        self.registry.released.notify_waiters();
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight {
    activity: Arc<Activity>,
    registry: Arc<Registry>,
}

impl InFlight {
    fn new(activity: Arc<Activity>, registry: Arc<Registry>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight { activity, registry }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.served.store(true, Ordering::Relaxed);
        self.activity.last_ms.store(self.registry.now_ms(), Ordering::Relaxed);
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A client connection: plain TCP, or TLS over it (`tls_cert`).
enum Socket {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Socket::Plain(s) => s.is_write_vectored(),
            Socket::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_flush(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The connection as the server speaks on it: TLS first when it has a certificate (the handshake within the
/// header timeout; `None` when it fails or times out).
async fn open(stream: TcpStream, tls: Option<&TlsAcceptor>, timeout: Duration) -> Option<Socket> {
    let Some(tls) = tls else { return Some(Socket::Plain(stream)) };
    match tokio::time::timeout(timeout, tls.accept(stream)).await {
        Ok(Ok(s)) => Some(Socket::Tls(Box::new(s))),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// A client socket that errors when a write has made no progress for the send timeout, and that holds the
/// connection's permit.
struct GuardedStream {
    inner: Socket,
    send_timeout: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    _permit: Permit,
}

impl GuardedStream {
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.send_timeout;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")),
            Poll::Pending => Poll::Pending,
        }
    }

    fn on_write<T>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => match self.poll_stall(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.on_write(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.on_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.on_write(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.on_write(cx, polled)
    }
}

/// Accepts connections on `listener` and serves `app` on them until `shutdown` resolves; then stops accepting,
/// lets open requests finish (up to a grace period) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let registry = Registry::new(limits);
    tracing::info!(
        max_connections = limits.max_connections,
        max_per_address = limits.max_per_address.map_or(-1, |n| n as i64),
        header_timeout_s = limits.header_timeout.as_secs(),
        send_timeout_s = limits.send_timeout.as_secs(),
        "accepting connections"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned_full = false;
    loop {
        let accepted = tokio::select! {
            accepted = async {
                registry.room_for_a_socket().await;
                listener.accept().await
            } => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors (or another resource): wait for connections to close.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match registry.admit(peer.ip()) {
            Admission::Open(permit) => {
                warned_full = false;
                let app = app.clone();
                let stop = stop_rx.clone();
                let done = done_rx.clone();
                let registry = registry.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    if let Some(socket) = open(stream, tls.as_ref(), limits.header_timeout).await {
                        serve_connection(socket, peer, app, permit, registry, stop).await;
                    }
                    drop(done);
                });
            }
            refused => {
                let (status, code, message) = match refused {
                    Admission::TooManyFromAddress => {
                        ("429 Too Many Requests", "too_many_connections", "too many connections from this address")
                    }
                    _ => {
                        if !warned_full {
                            tracing::warn!(
                                open = registry.open_count(),
                                "connection cap reached: refusing new connections"
                            );
                            warned_full = true;
                        }
                        ("503 Service Unavailable", "server_busy", "the server has no free connection")
                    }
                };
                let held = Refusing::new(registry.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    if let Some(socket) = open(stream, tls.as_ref(), Duration::from_secs(1)).await {
                        refuse(socket, status, code, message).await;
                    }
                    drop(held);
                });
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    if tokio::time::timeout(SHUTDOWN_GRACE, done_tx.closed()).await.is_err() {
        tracing::warn!(open = registry.open_count(), "connections still open after the grace period: closing them");
    }
    Ok(())
}

/// Errors of one connection that say nothing about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Answers a refused connection in one write and closes it.
async fn refuse(mut stream: Socket, status: &str, code: &str, message: &str) {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

async fn serve_connection(
    stream: Socket,
    peer: SocketAddr,
    app: Router,
    permit: Permit,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
) {
    let limits = registry.limits;
    let activity = permit.activity.clone();
    let io = TokioIo::new(GuardedStream {
        inner: stream,
        send_timeout: limits.send_timeout,
        stalled: None,
        _permit: permit,
    });
    let counted = activity.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let in_flight = InFlight::new(counted.clone(), registry.clone());
        request.extensions_mut().insert(ConnectInfo(peer));
        // RFC 9112 §3.2: a request with more than one Host is answered 400 (which host it meant is ambiguous).
        let hosts = request.headers().get_all(axum::http::header::HOST).iter().count();
        let answer = (hosts <= 1).then(|| app.clone().oneshot(request.map(axum::body::Body::new)));
        async move {
            let response = match answer {
                Some(answer) => answer.await,
                None => {
                    let mut refused = ApiError::new(Code::InvalidRequest, "the request has more than one Host header")
                        .into_response();
                    let close = axum::http::HeaderValue::from_static("close");
                    refused.headers_mut().insert(axum::http::header::CONNECTION, close);
                    Ok(refused)
                }
            };
            drop(in_flight);
            response
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
    let mut connection = std::pin::pin!(builder.serve_connection(io, service).with_upgrades());
    let mut stopping = *stop.borrow();
    if stopping {
        connection.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_err() || *stop.borrow() {
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = activity.evict.notified() => {
                tracing::debug!(%peer, "connection closed to make room for a new one");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fd_limit_leaves_room() {
        assert_eq!(connections_for_fd_limit(165), 101);
        assert_eq!(connections_for_fd_limit(1024), 768);
        assert_eq!(connections_for_fd_limit(1 << 20), 16_384);
        assert_eq!(connections_for_fd_limit(20), 16);
    }

    fn limits(max: usize, per_address: Option<usize>) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(1),
            send_timeout: Duration::from_secs(1),
            max_connections: max,
            max_per_address: per_address,
        }
    }

    fn open(a: Admission) -> Permit {
        match a {
            Admission::Open(p) => p,
            Admission::Full => panic!("refused: full"),
            Admission::TooManyFromAddress => panic!("refused: per address"),
        }
    }

    #[test]
    fn per_address_cap_counts_open_connections() {
        let registry = Registry::new(limits(10, Some(2)));
        let a: IpAddr = [10, 0, 0, 1].into();
        let first = open(registry.admit(a));
        let _second = open(registry.admit(a));
        assert!(matches!(registry.admit(a), Admission::TooManyFromAddress));
        assert!(matches!(registry.admit([10, 0, 0, 2].into()), Admission::Open(_)));
        drop(first);
        assert!(matches!(registry.admit(a), Admission::Open(_)));
    }

    #[test]
    fn a_full_server_evicts_the_longest_idle_connection_never_a_busy_one() {
        let registry = Registry::new(limits(2, None));
        let ip: IpAddr = [10, 0, 0, 1].into();
        let busy = open(registry.admit(ip));
        let _request = InFlight::new(busy.activity.clone(), registry.clone());
        let idle = open(registry.admit(ip));
        let newcomer = open(registry.admit(ip));
        // The idle connection was told to go; the busy one was not.
        assert!(futures_util::FutureExt::now_or_never(idle.activity.evict.notified()).is_some());
        assert!(futures_util::FutureExt::now_or_never(busy.activity.evict.notified()).is_none());
        // Until it has gone, the newcomer is busy too and nothing else can be evicted.
        let _busy_newcomer = InFlight::new(newcomer.activity.clone(), registry.clone());
        assert!(matches!(registry.admit(ip), Admission::Full));
        drop(idle);
        assert_eq!(registry.open_count(), 2);
        assert!(matches!(registry.admit(ip), Admission::Full));
    }
}
