//! A streaming HTTP/1.1 exchange over a raw socket: the request sent whole, the chunked answer read a line at a
//! time as it arrives (the JSON gateway's streams are one JSON document per line).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// An answer being read.
pub struct HttpStream {
    stream: Option<TcpStream>,
    /// Bytes read and not yet decoded.
    raw: Vec<u8>,
    /// Decoded body text not yet returned.
    text: String,
    chunked: bool,
    ended: bool,
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl HttpStream {
    /// Sends `POST target` with `headers` and `body`, and reads the answer's head (status 0 if none came).
    pub fn post(base: &str, target: &str, headers: &[(&str, &str)], body: &str) -> HttpStream {
        let addr = base.trim_start_matches("http://");
        let mut s = HttpStream {
            stream: TcpStream::connect(addr).ok(),
            raw: Vec::new(),
            text: String::new(),
            chunked: false,
            ended: false,
            status: 0,
            headers: Vec::new(),
        };
        let mut head = format!(
            "POST {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(stream) = &mut s.stream {
            let _ = write!(stream, "{head}\r\n{body}");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !s.ended && Instant::now() < deadline {
            if let Some(end) = s.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&s.raw[..end]).into_owned();
                s.raw.drain(..end + 4);
                let mut lines = head.lines();
                s.status = lines
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                s.headers = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                s.chunked = s.header("transfer-encoding") == Some("chunked");
                break;
            }
            s.read_some(deadline);
        }
        s
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The next line of the body (without its newline); at the end, what is left after the last newline;
    /// `None` when nothing more came within `wait`.
    pub fn line(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            self.decode();
            if let Some(end) = self.text.find('\n') {
                let line = self.text[..end].to_owned();
                self.text.drain(..=end);
                return Some(line);
            }
            if self.ended {
                return (!self.text.is_empty()).then(|| std::mem::take(&mut self.text));
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.read_some(deadline);
        }
    }

    /// The rest of the body, up to `wait` for its end.
    pub fn rest(&mut self, wait: Duration) -> String {
        let mut lines = Vec::new();
        while let Some(line) = self.line(wait) {
            lines.push(line);
        }
        lines.join("\n")
    }

    /// Whether the answer has ended (waiting up to `wait` for it to end).
    pub fn ended(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        while !self.ended && Instant::now() < deadline {
            self.read_some(deadline);
            self.decode();
        }
        self.ended
    }

    fn read_some(&mut self, deadline: Instant) {
        let Some(stream) = &mut self.stream else {
            self.ended = true;
            return;
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        let _ = stream.set_read_timeout(Some(left.min(Duration::from_millis(200))));
        let mut buf = [0u8; 16384];
        match stream.read(&mut buf) {
            Ok(0) => self.ended = true,
            Ok(n) => self.raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => self.ended = true,
        }
    }

    /// Moves whole chunks (or, unchunked, all bytes) from `raw` to `text`.
    fn decode(&mut self) {
        if !self.chunked {
            self.text.push_str(&String::from_utf8_lossy(&self.raw));
            self.raw.clear();
            return;
        }
        while let Some(end) = self.raw.windows(2).position(|w| w == b"\r\n") {
            let size = std::str::from_utf8(&self.raw[..end])
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
            let Some(size) = size else {
                self.ended = true;
                return;
            };
            if size == 0 {
                self.ended = true;
                self.raw.clear();
                return;
            }
            if self.raw.len() < end + 2 + size + 2 {
                return;
            }
            let data = self.raw[end + 2..end + 2 + size].to_vec();
            self.text.push_str(&String::from_utf8_lossy(&data));
            self.raw.drain(..end + 2 + size + 2);
        }
    }
}
