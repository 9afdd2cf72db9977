//! A TCP proxy to PostgreSQL for fault tests: a network partition between one part of the server
//! (the live inbox's stream) and the database, while the rest still reaches it directly.

use std::sync::Arc;

/// A TCP proxy to PostgreSQL that the test can cut (every connection through it reset, new ones
/// refused) or silence (bytes held, nothing closed: a partition that drops packets without a
/// reset), and restore: a network partition between the live inbox and the database, while the
/// rest of the server reaches it directly.
pub struct Proxy {
    port: u16,
    cut: Arc<std::sync::atomic::AtomicBool>,
    silent: tokio::sync::watch::Sender<bool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Copies one direction of a link, holding each chunk while the proxy is silent.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut silent: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if silent.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Proxy {
    pub async fn start(target_port: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let silent = tokio::sync::watch::Sender::new(false);
        let links = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut2, links2, silent2) = (Arc::clone(&cut), Arc::clone(&links), silent.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if cut2.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let silent = silent2.subscribe();
                let link = tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await {
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            pump(client_read, server_write, silent.clone()),
                            pump(server_read, client_write, silent),
                        );
                    }
                });
                links2.lock().unwrap().push(link.abort_handle());
            }
        });
        Proxy { port, cut, silent, links, task }
    }

    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
        if cut {
            for link in self.links.lock().unwrap().drain(..) {
                link.abort();
            }
        }
    }

    /// Holds every byte in both directions (and of new connections) until set back.
    pub fn set_silent(&self, silent: bool) {
        self.silent.send_replace(silent);
    }

    /// `url` with its port replaced by the proxy's.
    pub fn url(&self, url: &str, target_port: u16) -> String {
        url.replace(&format!(":{target_port}/"), &format!(":{}/", self.port))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.set_cut(true);
    }
}
