//! Listening sockets and connections over TCP or a Unix domain socket (etcd's `unix://` and `unixs://` URLs,
//! whose socket path is the URL's `host:port` text).

use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A bound listening socket.
#[derive(Debug)]
pub enum Bound {
    /// A TCP port.
    Tcp(TcpListener),
    /// A Unix domain socket; its file is removed when this is dropped.
    Unix(UnixListener, SocketFile),
}

/// The file of a listening Unix socket, removed when dropped (as etcd removes it on shutdown).
#[derive(Debug)]
pub struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl From<TcpListener> for Bound {
    fn from(listener: TcpListener) -> Bound {
        Bound::Tcp(listener)
    }
}

impl Bound {
    /// Binds a Unix socket at `path`. A socket file left by a process that is gone is replaced (as Go's
    /// listeners in etcd do); any other file there is an error.
    pub fn unix(path: &std::path::Path) -> std::io::Result<Bound> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            use std::os::unix::fs::FileTypeExt;
            if meta.file_type().is_socket()
                && std::os::unix::net::UnixStream::connect(path).is_err()
            {
                std::fs::remove_file(path)?;
            }
        }
        let listener = UnixListener::bind(path)?;
        Ok(Bound::Unix(listener, SocketFile(path.to_path_buf())))
    }

    /// The next connection, with the peer's TCP address (`None` over a Unix socket).
    pub async fn accept(&self) -> std::io::Result<(Conn, Option<std::net::SocketAddr>)> {
        match self {
            Bound::Tcp(l) => {
                let (stream, remote) = l.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok((Conn::Tcp(stream), Some(remote)))
            }
            Bound::Unix(l, _) => Ok((Conn::Unix(l.accept().await?.0), None)),
        }
    }

    /// The TCP address it listens on (`None` for a Unix socket).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Bound::Tcp(l) => l.local_addr().ok(),
            Bound::Unix(..) => None,
        }
    }
}

/// An accepted or dialed connection.
#[derive(Debug)]
pub enum Conn {
    /// Over TCP.
    Tcp(TcpStream),
    /// Over a Unix domain socket.
    Unix(UnixStream),
}

macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self.get_mut() {
            Conn::Tcp($s) => $body,
            Conn::Unix($s) => $body,
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Tcp(s) => s.is_write_vectored(),
            Conn::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
