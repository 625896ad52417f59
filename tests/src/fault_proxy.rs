//! A TCP proxy in front of a real service, whose faults a test switches on and off: forward
//! everything, refuse every connection (the service is down), or deliver requests but lose every
//! answer (the service acts, the caller never learns it did).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    None,
    /// Close every connection at once, open ones included.
    Down,
    /// Forward requests, drop every byte of the answers.
    LoseAnswers,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    fault: Arc<watch::Sender<Fault>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `target` (`host:port`).
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the proxy");
        let address = listener.local_addr().expect("the proxy's address");
        let (sender, _) = watch::channel(Fault::None);
        let fault = Arc::new(sender);
        let shared = Arc::clone(&fault);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let faults = shared.subscribe();
                let target = target.clone();
                tokio::spawn(relay(client, target, faults));
            }
        });
        Self {
            address,
            fault,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Switches to `fault` (open connections follow at once).
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one connection until either side closes or the proxy goes [`Fault::Down`].
async fn relay(mut client: TcpStream, target: String, mut faults: watch::Receiver<Fault>) {
    if *faults.borrow_and_update() == Fault::Down {
        return;
    }
    let Ok(mut server) = TcpStream::connect(&target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut up = [0_u8; 16 * 1024];
    let mut down = [0_u8; 16 * 1024];
    loop {
        tokio::select! {
            read = client_read.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => if server_write.write_all(&up[..n]).await.is_err() { return },
            },
            read = server_read.read(&mut down) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if *faults.borrow() == Fault::LoseAnswers {
                        continue;
                    }
                    if client_write.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                }
            },
            changed = faults.changed() => {
                if changed.is_err() || *faults.borrow() == Fault::Down {
                    return;
                }
            }
        }
    }
}
