//! Accepting connections on a listener: the one accept loop every server of the workspace uses.
//!
//! Accepting fails for reasons that pass (a client that reset before it was accepted) and for reasons that
//! persist until something else changes (out of file descriptors, `EMFILE`/`ENFILE`, out of buffers). Retrying
//! at once on those would spin a core; so each failure in a row doubles a pause, from 5 ms to 1 s, as Go's
//! HTTP server does. Open connections are bounded: past the bound, accepting waits for one to close.
//!
//! Shutdown follows one pattern everywhere (see ARCHITECTURE.md, "Threads, tasks and locks"): the owner of a
//! server holds a `CancellationToken` and a `TaskTracker`; the accept loop ends when the token is cancelled
//! ([`Listener::accept_until`]); each connection runs in the tracker and, once the token is cancelled, is asked to
//! finish what it is answering ([`serve_until`]); the owner then waits for the tracker with a deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::conn::{Bound, Conn};

/// The first pause after a failed accept.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// The longest pause.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// Connections open at once per listener, by default.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16 * 1024;

/// A listener whose [`Listener::accept`] backs off on errors and bounds open connections.
#[derive(Debug)]
pub struct Listener {
    inner: Bound,
    open: Arc<Semaphore>,
}

/// An accepted connection; the slot it holds is given back when the permit is dropped.
#[derive(Debug)]
pub struct Accepted {
    /// The connection (over TCP, Nagle off: answers are small and latency-bound).
    pub stream: Conn,
    /// The peer's TCP address (`None` over a Unix socket).
    pub remote: Option<std::net::SocketAddr>,
    /// Hold for as long as the connection is served.
    pub permit: OwnedSemaphorePermit,
}

impl Listener {
    /// Wraps `inner`, allowing at most `max_connections` connections open at once.
    pub fn new(inner: impl Into<Bound>, max_connections: usize) -> Listener {
        Listener {
            inner: inner.into(),
            open: Arc::new(Semaphore::new(max_connections.max(1))),
        }
    }

    /// The next connection. Never fails: errors are logged and retried after a pause.
    pub async fn accept(&self) -> Accepted {
        let mut pause = FIRST_PAUSE;
        loop {
            let permit = match self.open.clone().acquire_owned().await {
                Ok(permit) => permit,
                // The semaphore is never closed; should it be, wait as for a failed accept.
                Err(_) => {
                    tokio::time::sleep(LONGEST_PAUSE).await;
                    continue;
                }
            };
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    return Accepted {
                        stream,
                        remote,
                        permit,
                    };
                }
                Err(e) => {
                    tracing::warn!("accepting a connection failed: {e}; retrying in {pause:?}");
                    drop(permit);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LONGEST_PAUSE);
                }
            }
        }
    }

    /// The next connection, or `None` once `shutdown` is cancelled: the accept loop of a server that stops
    /// (`while let Some(accepted) = listener.accept_until(&shutdown).await { ... }`).
    pub async fn accept_until(&self, shutdown: &CancellationToken) -> Option<Accepted> {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => None,
            accepted = self.accept() => Some(accepted),
        }
    }

    /// The TCP address it listens on (`None` for a Unix socket).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// How long a connection may take to finish its requests after shutdown began, before it is dropped.
pub const CONNECTION_GRACE: Duration = Duration::from_secs(2);

/// Runs `connection` (a server's future for one connection) until it ends; once `shutdown` is cancelled,
/// calls `finish` on it (an HTTP server's graceful shutdown: no new requests, the ones in flight answered) and
/// gives it [`CONNECTION_GRACE`] more, then drops it (long-lived streams such as watches end there).
pub async fn serve_until<C, T>(
    connection: C,
    shutdown: &CancellationToken,
    finish: impl FnOnce(std::pin::Pin<&mut C>),
) -> Option<T>
where
    C: std::future::Future<Output = T>,
{
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        done = connection.as_mut() => return Some(done),
        _ = shutdown.cancelled() => {}
    }
    finish(connection.as_mut());
    tokio::time::timeout(CONNECTION_GRACE, connection)
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn connections_are_bounded_and_slots_come_back() {
        let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = inner.local_addr().expect("addr");
        let listener = Listener::new(inner, 1);
        let _a = TcpStream::connect(addr).await.expect("connect a");
        let first = listener.accept().await;
        let _b = TcpStream::connect(addr).await.expect("connect b");
        let waiting = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(
            waiting.is_err(),
            "a second connection waits while one is open"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await;
        assert!(second.is_ok(), "the slot came back");
    }

    #[tokio::test]
    async fn accepting_ends_at_shutdown() {
        let inner = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let listener = Listener::new(inner, 4);
        let shutdown = CancellationToken::new();
        let stopper = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stopper.cancel();
        });
        let accepted =
            tokio::time::timeout(Duration::from_secs(10), listener.accept_until(&shutdown))
                .await
                .expect("the accept loop ends");
        assert!(accepted.is_none());
    }

    #[tokio::test]
    async fn a_connection_is_asked_to_finish_then_dropped_after_the_grace() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let mut asked = false;
        // A connection that finishes once asked, and one that never does (a watch stream).
        let quick = serve_until(std::future::ready(7), &shutdown, |_| asked = true).await;
        assert_eq!(quick, Some(7));
        let started = tokio::time::Instant::now();
        let stuck = serve_until(std::future::pending::<()>(), &shutdown, |_| asked = true).await;
        assert!(asked && stuck.is_none());
        assert!(started.elapsed() >= CONNECTION_GRACE);
    }
}
