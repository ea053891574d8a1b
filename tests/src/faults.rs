//! The network's faults, made on purpose: a delaying proxy, a proxy that
//! cuts connections, a server that accepts and never answers, and signals
//! to processes.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sends `signal` (`STOP`, `CONT`...) to a process of this machine's.
pub fn signal(pid: i32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(
        status.success(),
        "kill -{signal} {pid}: the process must be local and alive"
    );
}

/// A TCP proxy to `upstream` that holds each connection for `delay` before
/// connecting it through, as a Neon compute that is waking up does. Returns
/// its port; abort the handle to stop it.
pub async fn delaying_proxy(
    upstream: String,
    delay: std::time::Duration,
) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (port, task)
}

/// A TCP proxy to `upstream` whose open connections can be cut: after
/// [`CuttingProxy::cut`], a connection opened before it closes both ends when
/// its client next sends anything, without passing it on. That is a
/// statement sent on a connection that has died under it (a pooler restart,
/// a dropped path), seen by the client only once it has sent. New
/// connections pass through.
pub struct CuttingProxy {
    pub port: u16,
    generation: std::sync::Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    pub async fn start(upstream: String) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let generation = std::sync::Arc::new(AtomicU64::new(0));
        let current = generation.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let born = current.load(Ordering::SeqCst);
                let current = current.clone();
                tokio::spawn(async move {
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let back = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    });
                    let mut chunk = [0u8; 8192];
                    loop {
                        let n = match client_read.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if current.load(Ordering::SeqCst) != born
                            || server_write.write_all(&chunk[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                    // Dropping every half closes both connections.
                    back.abort();
                });
            }
        });
        CuttingProxy {
            port,
            generation,
            task,
        }
    }

    /// Cuts every connection open now.
    pub fn cut(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server that accepts connections and never says a word: a dependency
/// that hangs. Abort the handle to stop it.
pub async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (port, task)
}
