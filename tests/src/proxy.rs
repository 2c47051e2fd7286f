//! A TCP proxy a test puts between a client and an emulator, to take the emulator away and bring
//! it back while the emulator keeps its state: [`Mode::Pass`] forwards, [`Mode::Refuse`] closes
//! every connection at once, [`Mode::Hold`] accepts connections and never answers (a black hole;
//! they are closed, never forwarded, when the mode changes).
//!
//! Leaving `Pass` forwards nothing new on open connections, but an exchange under way (a request
//! forwarded whole) still gets its answer before the connection closes: cutting it would make
//! the client retry a request the emulator already applied, a duplicate no outage test wants.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pass,
    Refuse,
    Hold,
}

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`: where clients connect.
    pub endpoint: String,
    mode: watch::Sender<Mode>,
    held: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// A proxy on a free loopback port to `upstream` (`http://host:port`), passing.
    pub async fn start(upstream: &str) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("an upstream of the form http://ip:port");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (mode, rx) = watch::channel(Mode::Pass);
        let held = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept(
            listener,
            upstream,
            rx,
            held.clone(),
            accepted.clone(),
        ));
        Proxy {
            endpoint,
            mode,
            held,
            accepted,
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Connections held unanswered right now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Connections accepted so far (in any mode).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    held: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
) {
    while let Ok((client, _)) = listener.accept().await {
        accepted.fetch_add(1, Ordering::SeqCst);
        let current = *mode.borrow();
        match current {
            Mode::Refuse => drop(client),
            Mode::Hold => {
                let mut mode = mode.clone();
                let held = held.clone();
                held.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    left(&mut mode, Mode::Hold).await;
                    held.fetch_sub(1, Ordering::SeqCst);
                    drop(client);
                });
            }
            Mode::Pass => {
                tokio::spawn(pipe(client, upstream, mode.clone()));
            }
        }
    }
}

/// Returns once the mode is no longer `from` (or the proxy is gone).
async fn left(mode: &mut watch::Receiver<Mode>, from: Mode) {
    let _ = mode.wait_for(|m| *m != from).await;
}

/// Forwards both ways until either side closes or the mode leaves `Pass`; then lets an answer
/// under way through (up to 10 s) and closes.
async fn pipe(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut up = vec![0u8; 64 << 10];
    let mut down = vec![0u8; 64 << 10];
    // Request bytes forwarded and no answer yet.
    let mut awaiting = false;
    loop {
        tokio::select! {
            n = client_read.read(&mut up) => match n {
                Ok(n) if n > 0 => {
                    if server_write.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                    awaiting = true;
                }
                _ => return,
            },
            n = server_read.read(&mut down) => match n {
                Ok(n) if n > 0 => {
                    if client_write.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                    awaiting = false;
                }
                _ => return,
            },
            () = left(&mut mode, Mode::Pass) => break,
        }
    }
    if awaiting {
        let mut wait = Duration::from_secs(10);
        while let Ok(Ok(n)) = tokio::time::timeout(wait, server_read.read(&mut down)).await {
            if n == 0 || client_write.write_all(&down[..n]).await.is_err() {
                break;
            }
            // The answer has started; the rest follows at once.
            wait = Duration::from_millis(200);
        }
    }
}
