//! A TCP proxy in front of a member's peer port that can cut every connection and refuse new ones, and a
//! cluster whose members reach each other only through such proxies.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Flavor, Server, free_port};

/// A TCP proxy in front of a member's peer port that can cut every connection and refuse new ones.
pub struct FaultProxy {
    pub port: u16,
    blocked: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    pub fn start(target: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let blocked = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, o, s) = (blocked.clone(), open.clone(), stop.clone());
        std::thread::spawn(move || {
            for incoming in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = incoming else { continue };
                if b.load(Ordering::Relaxed) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let pairs = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                {
                    let mut open = o.lock().unwrap_or_else(|p| p.into_inner());
                    open.extend(client.try_clone());
                    open.extend(server.try_clone());
                }
                for pair in pairs {
                    if let (Ok(mut from), Ok(mut to)) = pair {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(Shutdown::Both);
                            let _ = from.shutdown(Shutdown::Both);
                        });
                    }
                }
            }
        });
        FaultProxy {
            port,
            blocked,
            open,
            stop,
        }
    }

    /// Cuts every connection through the proxy and refuses new ones: the member hears from nobody.
    pub fn cut(&self) {
        self.blocked.store(true, Ordering::Relaxed);
        for c in self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn heal(&self) {
        self.blocked.store(false, Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// How much longer each WAL sync takes while a member's disk is slow ([`slow_disk_flag`]).
pub const SLOW_SYNC: std::time::Duration = std::time::Duration::from_millis(200);

/// The file whose presence makes `member`'s disk slow: every WAL sync takes [`SLOW_SYNC`] longer while it exists
/// (etcd-wal's `delay-sync` failpoint, compiled into test builds of etcd-node).
pub fn slow_disk_flag(member: &Server) -> std::path::PathBuf {
    member.dir.path().join("slow-disk")
}

fn slow_disk_failpoint(member: &Server) -> (String, String) {
    (
        "ETCD_WAL_FAILPOINT".to_owned(),
        format!(
            "delay-sync:{}:{}",
            SLOW_SYNC.as_millis(),
            slow_disk_flag(member).display()
        ),
    )
}

/// `n` etcd-node members, started and ready, each advertising a fault proxy's port as its peer URL (the proxies
/// forward to the real peer ports): cutting a member's proxy cuts it off from the others. Each member's disk can
/// be made slow with [`slow_disk_flag`].
pub fn cluster_behind_proxies(n: usize) -> (Vec<FaultProxy>, Vec<Server>) {
    let listen: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let proxies: Vec<FaultProxy> = listen.iter().map(|p| FaultProxy::start(*p)).collect();
    let initial: Vec<String> = proxies
        .iter()
        .enumerate()
        .map(|(i, p)| format!("n{}=http://127.0.0.1:{}", i + 1, p.port))
        .collect();
    let initial = initial.join(",");
    let mut members: Vec<Server> = proxies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut m = Server::new(
                Flavor::EtcdNode,
                &format!("n{}", i + 1),
                &format!("http://127.0.0.1:{}", p.port),
                &initial,
            );
            m.listen_peer_url = Some(format!("http://127.0.0.1:{}", listen[i]));
            m.env.push(slow_disk_failpoint(&m));
            m
        })
        .collect();
    for m in &mut members {
        m.launch();
    }
    for m in &members {
        m.wait_ready();
    }
    (proxies, members)
}
