//! A minimal blocking HTTP/1.1 client over one keep-alive connection, in the clear or over TLS (rustls): what a
//! load generator needs and nothing that would cost time per request (no allocation beyond the response body).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One keep-alive connection to `host:port`.
pub struct Connection {
    reader: BufReader<Box<dyn Stream>>,
    host: String,
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
    pub fn open(url: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Connection> {
        let (https, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => anyhow::bail!("{url}: not an http:// or https:// URL"),
        };
        let host = rest.trim_end_matches('/').to_owned();
        let tcp = TcpStream::connect(&host).with_context(|| format!("connecting to {url}"))?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
        let stream: Box<dyn Stream> = if https {
            let config =
                tls.with_context(|| format!("{url}: https needs --cacert or --insecure"))?;
            let name = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
            let name = rustls_pki_types::ServerName::try_from(name.to_owned())?;
            let conn = rustls::ClientConnection::new(config.clone(), name)?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        } else {
            Box::new(tcp)
        };
        Ok(Connection {
            reader: BufReader::with_capacity(64 * 1024, stream),
            host,
            line: String::new(),
            body: Vec::new(),
        })
    }

    /// Sends a request and reads its answer (the body must have a `Content-Length` or be chunked).
    pub fn request(&mut self, method: &str, target: &str, form: &str) -> Result<Answer<'_>> {
        let stream = self.reader.get_mut();
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if !form.is_empty() {
            head.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                form.len()
            ));
        }
        head.push_str("\r\n");
        head.push_str(form);
        stream.write_all(head.as_bytes())?;
        stream.flush()?;
        self.read_answer()
    }

    fn read_answer(&mut self) -> Result<Answer<'_>> {
        let mut status = 0;
        let mut length = None;
        let mut chunked = false;
        let mut etcd_index = 0;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 {
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
                self.reader.read_line(&mut self.line)?;
                let size = usize::from_str_radix(self.line.trim(), 16).context("chunk size")?;
                if size == 0 {
                    self.line.clear();
                    self.reader.read_line(&mut self.line)?;
                    break;
                }
                let start = self.body.len();
                self.body.resize(start + size, 0);
                self.reader.read_exact(&mut self.body[start..])?;
                let mut crlf = [0u8; 2];
                self.reader.read_exact(&mut crlf)?;
            }
        } else if let Some(length) = length {
            self.body.resize(length, 0);
            self.reader.read_exact(&mut self.body)?;
        }
        Ok(Answer {
            status,
            etcd_index,
            body: &self.body,
        })
    }
}
