//! A loopback TCP forwarder that a test can cut and restore, to make a real
//! server (a database) vanish and come back without touching the server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Forwards `addr` → `upstream` while up.
pub struct TcpProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    /// Starts forwarding on a free loopback port.
    pub async fn start(upstream: SocketAddr) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let p = TcpProxy {
            addr: l.local_addr().unwrap(),
            upstream,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        p.serve(l);
        p
    }

    fn serve(&self, l: TcpListener) {
        let (upstream, tasks) = (self.upstream, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = l.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Refuses new connections and resets every open one.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        let l = TcpListener::bind(self.addr).await.unwrap();
        self.serve(l);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
