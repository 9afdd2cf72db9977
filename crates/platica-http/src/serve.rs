//! Serving HTTP: the accept loop, its limits, and graceful shutdown.
//!
//! Each accepted connection counts against a total and a per-address cap; past either, it is
//! closed at once, so one address holding thousands of half-sent requests can neither exhaust the
//! process's file descriptors nor crowd out other clients. A connection must send its request
//! headers within [`Limits::header_read_timeout`] (hyper closes it otherwise), and every request
//! is answered within the router's request timeout ([`crate::app::REQUEST_TIMEOUT`]). WebSockets
//! per user are capped by the realtime endpoint.
//!
//! On shutdown the listener closes, in-flight requests are answered (for at most
//! [`DRAIN_TIMEOUT`]), and WebSockets are told to close (`AppState::shutdown`).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Connection limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at most, from everyone.
    pub max_connections: usize,
    /// Open connections at most from one client address.
    pub max_per_address: usize,
    /// A connection must have sent a request's headers this long after it opened (or after its
    /// previous request).
    pub header_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: 8_192, max_per_address: 256, header_read_timeout: Duration::from_secs(10) }
    }
}

/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    refused: u64,
    logged: Option<Instant>,
}

/// One admitted connection: counted until dropped.
struct Admitted {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut o = lock(&self.open);
        o.total = o.total.saturating_sub(1);
        if let Some(n) = o.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                o.by_address.remove(&self.ip);
            }
        }
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn admit(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: &Limits, proxy: bool) -> Option<Admitted> {
    let mut o = lock(open);
    let from_ip = o.by_address.get(&ip).copied().unwrap_or(0);
    if o.total >= limits.max_connections || (from_ip >= limits.max_per_address && !proxy) {
        o.refused += 1;
        if o.logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            tracing::warn!(refused = o.refused, open = o.total, %ip, from_ip,
                "connections refused: over the total or per-address limit (logged once per 10 s)");
            o.refused = 0;
            o.logged = Some(Instant::now());
        }
        return None;
    }
    o.total += 1;
    *o.by_address.entry(ip).or_default() += 1;
    Some(Admitted { open: open.clone(), ip })
}

/// Serves `router` on `listener` until `shutdown` completes; `closing` is called first thing
/// at shutdown (to close WebSockets), then in-flight requests are drained. Connections from
/// `edge`'s trusted proxies are not capped per address (they carry many clients).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    edge: Arc<crate::edge::Edge>,
    shutdown: impl Future<Output = ()> + Send,
    closing: impl FnOnce() + Send,
) -> std::io::Result<()> {
    let open: Arc<Mutex<Open>> = Arc::default();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or the peer gave up: never a reason to stop.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = admit(&open, peer.ip(), &limits, edge.trusted(peer.ip())) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _admitted = admitted;
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    closing();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("in-flight requests still running after 30 s: closing anyway"),
    }
    Ok(())
}
