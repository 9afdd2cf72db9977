//! The simulator's listener: plain TCP, except that a handler can reset the connection its
//! request came on (the `after_accept: "reset"` fault), the way a network drop after the request
//! was written looks to a client: no answer, the connection torn down.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// A TCP listener whose connections can be reset by a handler.
pub(crate) struct SimListener(pub TcpListener);

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimStream, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((inner, addr)) => return (SimStream { inner, reset: Arc::new(AtomicBool::new(false)) }, addr),
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, as axum's own does.
                    tracing::warn!(error = %e, "simulator: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// One accepted connection. Once reset, every read and write fails and the socket closes with
/// `SO_LINGER` 0, so the peer sees a reset rather than an orderly close.
pub(crate) struct SimStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl SimStream {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::SeqCst) {
            // Best effort: without it the peer sees an orderly close, which is still no answer.
            let _ = self.inner.set_zero_linger();
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset by a simulated fault"));
        }
        Ok(())
    }
}

impl AsyncRead for SimStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The connection a request came on (`ConnectInfo<Conn>`), to reset it.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    reset: Arc<AtomicBool>,
}

impl Conn {
    /// Resets the connection: the answer being prepared is never written.
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        Conn { reset: Arc::clone(&stream.io().reset) }
    }
}
