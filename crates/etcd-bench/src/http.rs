//! A minimal HTTP/1.1 client over one keep-alive connection, in the clear or over TLS (rustls), on tokio: what a
//! load generator needs and nothing that would cost time per request (buffers are reused; no allocation beyond
//! a growing body). Every connection of a round is a task on one current-thread runtime, so the load costs
//! readiness polling instead of a thread switch per request: the generator shares the machine with the server
//! it measures, and what it spends is taken from the server.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// How long one answer may take (watches included) before the connection counts as failed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// One keep-alive connection to `host:port`.
pub struct Connection {
    reader: BufReader<Pin<Box<dyn Stream>>>,
    host: String,
    request: Vec<u8>,
    line: String,
    body: Vec<u8>,
}

/// An answer: status, `X-Etcd-Index`, body.
pub struct Answer<'a> {
    pub status: u16,
    pub etcd_index: u64,
    pub body: &'a [u8],
}

impl Connection {
    /// Connects to `url` (`http://host:port`, or `https://host:port` with `tls`).
    pub async fn open(url: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Connection> {
        let (https, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => anyhow::bail!("{url}: not an http:// or https:// URL"),
        };
        let host = rest.trim_end_matches('/').to_owned();
        let tcp = TcpStream::connect(&host)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        tcp.set_nodelay(true)?;
        let stream: Pin<Box<dyn Stream>> = if https {
            let config =
                tls.with_context(|| format!("{url}: https needs --cacert or --insecure"))?;
            let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
            let name = rustls_pki_types::ServerName::try_from(name.to_owned())?;
            let connector = tokio_rustls::TlsConnector::from(config.clone());
            Box::pin(connector.connect(name, tcp).await?)
        } else {
            Box::pin(tcp)
        };
        Ok(Connection {
            reader: BufReader::with_capacity(64 * 1024, stream),
            host,
            request: Vec::with_capacity(1024),
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Sends a request and reads its answer (the body must have a `Content-Length` or be chunked).
    pub async fn request(&mut self, method: &str, target: &str, form: &str) -> Result<Answer<'_>> {
        use std::io::Write as _;
        self.request.clear();
        write!(
            self.request,
            "{method} {target} HTTP/1.1\r\nHost: {}\r\n",
            self.host
        )?;
        if !form.is_empty() {
            write!(
                self.request,
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                form.len()
            )?;
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(form.as_bytes());
        let stream = self.reader.get_mut();
        stream.write_all(&self.request).await?;
        stream.flush().await?;
        let (status, etcd_index) = tokio::time::timeout(ANSWER_TIMEOUT, self.read_answer())
            .await
            .context("no answer before the timeout")??;
        Ok(Answer {
            status,
            etcd_index,
            body: &self.body,
        })
    }

    /// Reads one answer into `self.body`; returns its status and `X-Etcd-Index`.
    async fn read_answer(&mut self) -> Result<(u16, u64)> {
        let mut status = 0;
        let mut length = None;
        let mut chunked = false;
        let mut etcd_index = 0;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line).await? == 0 {
                bail!("the server closed the connection");
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if status == 0 {
                status = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            } else if let Some((name, value)) = l.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                } else if name.eq_ignore_ascii_case("x-etcd-index") {
                    etcd_index = value.parse().unwrap_or(0);
                }
            }
        }
        self.body.clear();
        if chunked {
            loop {
                self.line.clear();
                self.reader.read_line(&mut self.line).await?;
                let size = usize::from_str_radix(self.line.trim(), 16).context("chunk size")?;
                if size == 0 {
                    self.line.clear();
                    self.reader.read_line(&mut self.line).await?;
                    break;
                }
                let start = self.body.len();
                self.body.resize(start + size, 0);
                self.reader.read_exact(&mut self.body[start..]).await?;
                let mut crlf = [0u8; 2];
                self.reader.read_exact(&mut crlf).await?;
            }
        } else if let Some(length) = length {
            self.body.resize(length, 0);
            self.reader.read_exact(&mut self.body).await?;
        }
        Ok((status, etcd_index))
    }
}
