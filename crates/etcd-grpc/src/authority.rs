//! Clients whose HTTP/2 `:authority` is not a valid authority, served anyway.
//!
//! grpc-go as etcdctl 3.4 and clientv3 3.4 ship it sends the endpoint as written, scheme included
//! (`http://127.0.0.1:2379`) once per-RPC credentials are set (any `--user`), and older grpc-go sends a socket
//! path for `unix://` endpoints. Go's HTTP/2 server takes both; the HTTP/2 library here refuses such a request
//! with a stream reset (PROTOCOL_ERROR), so every authenticated etcdctl 3.4 command would fail.
//!
//! [`LenientAuthority`] sits between the connection and the HTTP/2 server and repairs the request headers
//! before they are parsed. The connection's first header block is decoded (HPACK): a client whose
//! `:authority` is valid there (every client but the ones above; grpc-go sends one authority per connection)
//! gets its connection passed through untouched from then on, at no further cost. Otherwise each header block
//! is decoded, its `:authority` made valid (the scheme dropped; anything still invalid becomes `localhost`), and
//! re-encoded with an encoder of its own, which the server's decoder then follows. From that first repair on,
//! every block is re-encoded, never only the broken ones, so the server's view of the header table always
//! matches the encoder that wrote the bytes. Everything else passes as it came; a connection that does not open
//! with the HTTP/2 preface (HTTP/1.1) is not touched at all.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADER: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The frame size every HTTP/2 peer accepts (the server advertises no larger one).
const MAX_FRAME: usize = 16_384;
/// A header block larger than this is passed on untouched (the server refuses it anyway).
const MAX_BLOCK: usize = 1 << 20;

/// What the connection turned out to be.
enum Mode {
    /// Not enough bytes yet to tell.
    Detecting,
    /// HTTP/1.1 (or anything else): bytes pass untouched.
    Passthrough,
    /// HTTP/2, before its first header block.
    Http2,
    /// HTTP/2 with an `:authority` to repair: every header block is re-encoded.
    Repairing,
}

/// A header block being gathered from a HEADERS frame and its CONTINUATION frames.
struct PendingBlock {
    stream: u32,
    end_stream: bool,
    priority: Option<[u8; 5]>,
    block: Vec<u8>,
}

/// A connection whose inbound HTTP/2 header blocks get a valid `:authority`.
pub(crate) struct LenientAuthority<S> {
    inner: S,
    mode: Mode,
    /// Bytes read from the client, not yet processed.
    input: Vec<u8>,
    /// Processed bytes for the server, from `output_at` on.
    output: Vec<u8>,
    output_at: usize,
    pending: Option<PendingBlock>,
    decoder: loona_hpack::Decoder<'static>,
    encoder: loona_hpack::Encoder<'static>,
    /// A header block could not be decoded: from then on bytes pass untouched (the server ends the
    /// connection on the same block).
    broken: bool,
}

impl<S> LenientAuthority<S> {
    pub(crate) fn new(inner: S) -> Self {
        LenientAuthority {
            inner,
            mode: Mode::Detecting,
            input: Vec::new(),
            output: Vec::new(),
            output_at: 0,
            pending: None,
            decoder: loona_hpack::Decoder::new(),
            encoder: loona_hpack::Encoder::new(),
            broken: false,
        }
    }

    /// Moves what can be decided from `input` to `output`.
    fn process(&mut self) {
        if matches!(self.mode, Mode::Detecting) {
            let n = self.input.len().min(PREFACE.len());
            if self.input[..n] != PREFACE[..n] {
                self.mode = Mode::Passthrough;
            } else if n == PREFACE.len() {
                self.output.extend_from_slice(PREFACE);
                self.input.drain(..PREFACE.len());
                self.mode = Mode::Http2;
            } else {
                return;
            }
        }
        if matches!(self.mode, Mode::Passthrough) || self.broken {
            self.output.append(&mut self.input);
            return;
        }
        let mut at = 0;
        while self.input.len() - at >= FRAME_HEADER {
            // The first header block showed nothing to repair: the rest goes as it is.
            if matches!(self.mode, Mode::Passthrough) {
                break;
            }
            let head = &self.input[at..at + FRAME_HEADER];
            let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
            if self.input.len() - at < FRAME_HEADER + len {
                break;
            }
            let (kind, flags) = (head[3], head[4]);
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
            let frame = at..at + FRAME_HEADER + len;
            at = frame.end;
            let payload = frame.start + FRAME_HEADER..frame.end;
            match kind {
                HEADERS if self.pending.is_none() => {
                    let Some(block) = headers_block(flags, &self.input[payload.clone()]) else {
                        self.pass_on(frame);
                        continue;
                    };
                    self.pending = Some(PendingBlock {
                        stream,
                        end_stream: flags & END_STREAM != 0,
                        priority: block.0,
                        block: block.1.to_vec(),
                    });
                }
                CONTINUATION if self.pending.as_ref().is_some_and(|p| p.stream == stream) => {
                    if let Some(p) = self.pending.as_mut() {
                        p.block.extend_from_slice(&self.input[payload.clone()]);
                    }
                }
                // Out of order: the server refuses the connection on it; hand it over as it came.
                _ => {
                    if let Some(p) = self.pending.take() {
                        self.emit(p);
                    }
                    self.pass_on(frame);
                    continue;
                }
            }
            let too_big = self
                .pending
                .as_ref()
                .is_some_and(|p| p.block.len() > MAX_BLOCK);
            let complete = flags & END_HEADERS != 0 || too_big;
            if let Some(p) = self.pending.take_if(|_| complete) {
                self.emit(p);
            }
        }
        self.input.drain(..at);
        if matches!(self.mode, Mode::Passthrough) {
            self.output.append(&mut self.input);
        }
    }

    fn pass_on(&mut self, frame: std::ops::Range<usize>) {
        self.output.extend_from_slice(&self.input[frame]);
    }

    /// Writes a whole header block: repaired and re-encoded, in frames of at most [`MAX_FRAME`] bytes.
    fn emit(&mut self, p: PendingBlock) {
        let headers = match self.decoder.decode(&p.block) {
            Ok(headers) => headers,
            Err(_) => {
                self.broken = true;
                write_frames(&mut self.output, &p, &p.block);
                return;
            }
        };
        if matches!(self.mode, Mode::Http2) {
            let valid = headers
                .iter()
                .filter(|(name, _)| name == b":authority")
                .all(|(_, value)| hyper::http::uri::Authority::try_from(value.as_slice()).is_ok());
            if valid {
                // The block as the client wrote it, so that the server's header table stays the client's.
                write_frames(&mut self.output, &p, &p.block);
                self.mode = Mode::Passthrough;
                return;
            }
            self.mode = Mode::Repairing;
        }
        let headers: Vec<(Vec<u8>, Vec<u8>)> = headers
            .into_iter()
            .map(|(name, value)| {
                if name == b":authority" {
                    let fixed = valid_authority(&value);
                    (name, fixed)
                } else {
                    (name, value)
                }
            })
            .collect();
        let block = self
            .encoder
            .encode(headers.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        write_frames(&mut self.output, &p, &block);
    }
}

/// The priority fields and the header block fragment of a HEADERS frame's payload; `None` when malformed.
fn headers_block(flags: u8, payload: &[u8]) -> Option<(Option<[u8; 5]>, &[u8])> {
    let mut rest = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = usize::from(*rest.first()?);
        rest = &rest[1..];
    }
    let mut priority = None;
    if flags & PRIORITY != 0 {
        priority = Some(<[u8; 5]>::try_from(rest.get(..5)?).ok()?);
        rest = &rest[5..];
    }
    let end = rest.len().checked_sub(pad)?;
    Some((priority, &rest[..end]))
}

fn write_frames(out: &mut Vec<u8>, p: &PendingBlock, block: &[u8]) {
    let mut first = true;
    let mut rest = block;
    loop {
        let room = if first && p.priority.is_some() {
            MAX_FRAME - 5
        } else {
            MAX_FRAME
        };
        let (chunk, after) = rest.split_at(rest.len().min(room));
        let mut flags = if after.is_empty() { END_HEADERS } else { 0 };
        let kind = if first { HEADERS } else { CONTINUATION };
        let mut len = chunk.len();
        if first {
            if p.end_stream {
                flags |= END_STREAM;
            }
            if p.priority.is_some() {
                flags |= PRIORITY;
                len += 5;
            }
        }
        out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
        out.extend_from_slice(&p.stream.to_be_bytes());
        if let (true, Some(priority)) = (first, p.priority) {
            out.extend_from_slice(&priority);
        }
        out.extend_from_slice(chunk);
        first = false;
        rest = after;
        if rest.is_empty() {
            return;
        }
    }
}

/// `value` if it is a valid authority; else without a scheme, if that makes it one; else `localhost`.
fn valid_authority(value: &[u8]) -> Vec<u8> {
    let valid = |v: &[u8]| hyper::http::uri::Authority::try_from(v).is_ok();
    if valid(value) {
        return value.to_vec();
    }
    let text = String::from_utf8_lossy(value);
    if let Some((_, rest)) = text.split_once("://") {
        let host = rest.split('/').next().unwrap_or_default();
        if !host.is_empty() && valid(host.as_bytes()) {
            return host.as_bytes().to_vec();
        }
    }
    b"localhost".to_vec()
}

impl<S: AsyncRead + Unpin> AsyncRead for LenientAuthority<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // HTTP/1.1 once nothing detected is left: straight into the caller's buffer, no copy.
        if matches!(this.mode, Mode::Passthrough) && this.output_at >= this.output.len() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            if this.output_at < this.output.len() {
                let n = buf.remaining().min(this.output.len() - this.output_at);
                buf.put_slice(&this.output[this.output_at..this.output_at + n]);
                this.output_at += n;
                if this.output_at == this.output.len() {
                    this.output.clear();
                    this.output_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    // End of input: whatever is left goes as it is.
                    this.output.append(&mut this.input);
                    if this.output.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Ok(())) => {
                    this.input.extend_from_slice(read.filled());
                    this.process();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LenientAuthority<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn headers_frame(stream: u32, flags: u8, block: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let p = PendingBlock {
            stream,
            end_stream: flags & END_STREAM != 0,
            priority: None,
            block: Vec::new(),
        };
        write_frames(&mut out, &p, block);
        out
    }

    async fn through(input: Vec<u8>) -> Vec<u8> {
        let mut shim = LenientAuthority::new(&input[..]);
        let mut out = Vec::new();
        shim.read_to_end(&mut out).await.expect("read");
        out
    }

    fn decode_frames(bytes: &[u8]) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut decoder = loona_hpack::Decoder::new();
        let mut rest = &bytes[PREFACE.len()..];
        let mut blocks = Vec::new();
        while rest.len() >= FRAME_HEADER {
            let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
            let payload = &rest[FRAME_HEADER..FRAME_HEADER + len];
            if rest[3] == HEADERS {
                blocks.push(decoder.decode(payload).expect("decode"));
            }
            rest = &rest[FRAME_HEADER + len..];
        }
        blocks
    }

    #[tokio::test]
    async fn an_authority_with_a_scheme_loses_it_and_the_table_stays_in_step() {
        let mut client = loona_hpack::Encoder::new();
        let mut input = PREFACE.to_vec();
        for authority in [
            &b"http://127.0.0.1:2379"[..],
            b"127.0.0.1:2379",
            b"/var/run/etcd.sock",
        ] {
            let block = client.encode([
                (&b":method"[..], &b"POST"[..]),
                (b":path", b"/etcdserverpb.KV/Range"),
                (b":authority", authority),
                (b"token", b"abc.12"),
            ]);
            input.extend(headers_frame(1, END_HEADERS, &block));
        }
        let out = through(input).await;
        let blocks = decode_frames(&out);
        let authorities: Vec<&[u8]> = blocks
            .iter()
            .map(|b| {
                b.iter()
                    .find(|(n, _)| n == b":authority")
                    .map(|(_, v)| v.as_slice())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(
            authorities,
            [&b"127.0.0.1:2379"[..], b"127.0.0.1:2379", b"localhost"]
        );
        assert!(
            blocks
                .iter()
                .all(|b| b.iter().any(|(n, v)| n == b"token" && v == b"abc.12"))
        );
    }

    #[tokio::test]
    async fn a_connection_whose_first_authority_is_valid_passes_untouched() {
        let mut client = loona_hpack::Encoder::new();
        let mut input = PREFACE.to_vec();
        for (stream, authority) in [(1, &b"127.0.0.1:2379"[..]), (3, b"127.0.0.1:2379")] {
            let block = client.encode([
                (&b":method"[..], &b"POST"[..]),
                (b":path", b"/etcdserverpb.KV/Range"),
                (b":authority", authority),
            ]);
            input.extend(headers_frame(stream, END_HEADERS, &block));
            input.extend_from_slice(&[0, 0, 3, 0, 1, 0, 0, 0, stream as u8, b'a', b'b', b'c']);
        }
        assert_eq!(through(input.clone()).await, input);
    }

    #[tokio::test]
    async fn http1_passes_untouched() {
        let request = b"GET /version HTTP/1.1\r\nHost: 127.0.0.1:2379\r\n\r\n".to_vec();
        assert_eq!(through(request.clone()).await, request);
    }

    #[tokio::test]
    async fn other_frames_pass_untouched() {
        let mut input = PREFACE.to_vec();
        // SETTINGS (empty), then a DATA frame.
        input.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        input.extend_from_slice(&[0, 0, 3, 0, 1, 0, 0, 0, 1, b'a', b'b', b'c']);
        assert_eq!(through(input.clone()).await, input);
    }
}
