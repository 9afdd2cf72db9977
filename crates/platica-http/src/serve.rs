//! Serving HTTP: the accept loop, its limits, and graceful shutdown.
//!
//! Each accepted connection counts against a total and a per-address cap. Past the per-address
//! cap a connection waits for one of that address's connections to end (as many may wait as may
//! be served, each for at most the header read timeout): a burst from one busy client, such as a
//! webhook provider, is served a little later rather than cut. Past that, or past the total, it is
//! closed at once, so one address holding thousands of half-sent requests can neither exhaust the
//! process's file descriptors nor crowd out other clients. A connection must send its request
//! headers within [`Limits::header_read_timeout`] (hyper closes it otherwise), and every request
//! is answered within the router's request timeout (`AppState::request_timeout`). WebSockets
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
    by_address: HashMap<IpAddr, PerAddress>,
    refused: u64,
    logged: Option<Instant>,
}

/// One address's connections: served, and waiting for a turn.
#[derive(Default)]
struct PerAddress {
    served: usize,
    waiting: usize,
}

/// The connection table, and a signal for connections waiting for their address's turn.
#[derive(Default)]
struct Connections {
    open: Mutex<Open>,
    freed: tokio::sync::Notify,
}

/// One accepted connection: counted until dropped, served or waiting for a turn.
struct Admitted {
    table: Arc<Connections>,
    ip: IpAddr,
    waiting: bool,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut o = self.table.lock();
        o.total = o.total.saturating_sub(1);
        if let Some(n) = o.by_address.get_mut(&self.ip) {
            if self.waiting {
                n.waiting = n.waiting.saturating_sub(1);
            } else {
                n.served = n.served.saturating_sub(1);
            }
            if n.served == 0 && n.waiting == 0 {
                o.by_address.remove(&self.ip);
            }
        }
        drop(o);
        if !self.waiting {
            self.table.freed.notify_waiters();
        }
    }
}

impl Admitted {
    /// Waits until the address may be served one more connection (`false` after `patience`).
    async fn turn(&mut self, limits: &Limits, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        while self.waiting {
            // Registered before looking, so a connection ending meanwhile is not missed.
            let freed = self.table.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut o = self.table.lock();
                let n = o.by_address.entry(self.ip).or_default();
                if n.served < limits.max_per_address {
                    n.served += 1;
                    n.waiting = n.waiting.saturating_sub(1);
                    self.waiting = false;
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return false;
            }
        }
        true
    }
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a new connection from `ip`: served, waiting for its address's turn, or refused.
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: &Limits, proxy: bool) -> Option<Admitted> {
        let mut o = self.lock();
        let n = o.by_address.get(&ip).map_or((0, 0), |n| (n.served, n.waiting));
        let over_address = n.0 >= limits.max_per_address && !proxy;
        if o.total >= limits.max_connections || (over_address && n.1 >= limits.max_per_address) {
            o.refused += 1;
            if o.logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(refused = o.refused, open = o.total, %ip, served = n.0, waiting = n.1,
                    "connections refused: over the total or per-address limit (logged once per 10 s)");
                o.refused = 0;
                o.logged = Some(Instant::now());
            }
            return None;
        }
        o.total += 1;
        let entry = o.by_address.entry(ip).or_default();
        if over_address {
            entry.waiting += 1;
        } else {
            entry.served += 1;
        }
        Some(Admitted { table: Arc::clone(self), ip, waiting: over_address })
    }
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
    let table: Arc<Connections> = Arc::default();
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
        let Some(mut admitted) = table.admit(peer.ip(), &limits, edge.trusted(peer.ip())) else {
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
            if !admitted.turn(&limits, limits.header_read_timeout).await {
                tracing::debug!(%peer, "closed: no turn for its address within the header read timeout");
                return;
            }
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
