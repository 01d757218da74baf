//! One client connection as protocol drivers see it: a plain or TLS byte stream with a
//! line reader, plus the per user+IP connection registry.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::rawlog::{RawProto, Rawlog, RawlogSettings};

/// How many bytes one socket read asks for.
const READ_CHUNK: usize = 8 * 1024;

/// Most bytes one read hands out when COMPRESS is active: input inflates in slices of this
/// size, so a decompression bomb costs no more memory than plain input does.
pub const INFLATE_CHUNK: usize = 64 * 1024;

/// The byte stream under a connection.
pub enum Stream {
    /// Cleartext TCP.
    Plain(TcpStream),
    /// TLS over TCP (implicit TLS, or after STARTTLS/STLS).
    Tls(Box<TlsStream<TcpStream>>),
    /// Left behind by a failed TLS upgrade; every I/O fails.
    Closed,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// What [`Connection::read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A complete line without its CRLF or LF.
    Line(Vec<u8>),
    /// The line was longer than allowed; the rest of it will be skipped.
    TooLong,
    /// The client closed the connection (a partial last line is dropped).
    Eof,
}

/// The error of a line not finished within its deadline.
pub fn line_too_slow() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "command line not finished within limits.line_deadline_secs",
    )
}

/// Tracks, for protocols that frame input themselves (IMAP), when the command line being
/// received started, so a slow-drip line can be cut. Literal data after `{n}` / `{n+}` /
/// `~{n}` is message content, not a line, and is not on the clock.
#[derive(Debug, Default)]
pub struct LineClock {
    started: Option<Instant>,
    literal_left: u64,
    /// The end of the current line, enough to find a literal announcement.
    tail: Vec<u8>,
}

/// Longest `{n+}` suffix worth keeping: 20 digits plus braces and `+`.
const LITERAL_TAIL: usize = 24;

impl LineClock {
    /// Account for bytes received at `now`.
    pub fn feed(&mut self, mut bytes: &[u8], now: Instant) {
        while !bytes.is_empty() {
            if self.literal_left > 0 {
                let take = usize::try_from(self.literal_left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.literal_left -= take as u64;
                bytes = &bytes[take..];
                if self.literal_left == 0 {
                    // The command goes on after its literal.
                    self.started = Some(now);
                }
                continue;
            }
            self.started.get_or_insert(now);
            let (segment, rest, ended) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            self.tail.extend_from_slice(segment);
            if self.tail.len() > LITERAL_TAIL {
                self.tail.drain(..self.tail.len() - LITERAL_TAIL);
            }
            bytes = rest;
            if ended {
                self.literal_left = literal_len(&self.tail).unwrap_or(0);
                self.tail.clear();
                self.started = None;
            }
        }
    }

    /// When the unfinished line started; None between lines and inside literals.
    pub fn started(&self) -> Option<Instant> {
        self.started
    }
}

/// `n` when a line (without LF) ends in `{n}`, `{n+}` or `~{n}` (then CR).
pub(crate) fn literal_len(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let inner = line.strip_suffix(b"}")?;
    let inner = inner.strip_suffix(b"+").unwrap_or(inner);
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A client connection: stream, read buffer and addresses.
pub struct Connection {
    stream: Stream,
    buf: Vec<u8>,
    /// Set after `TooLong`: bytes up to the next LF belong to the rejected line.
    skipping: bool,
    peer: SocketAddr,
    local: SocketAddr,
    /// `limits.line_deadline_secs` for [`Connection::read_line`]; None waits forever.
    line_deadline: Option<Duration>,
    /// When the line being read started to arrive.
    line_started: Option<Instant>,
    /// The protocol's byte counters of the metrics, once the server set them.
    bytes: Option<crate::metrics::ByteCounters>,
    /// COMPRESS=DEFLATE state, once the client asked for it.
    deflate: Option<Box<crate::deflate::Deflate>>,
    /// The session's transcript, when `log.rawlog_dir` may want it.
    rawlog: Option<Box<Rawlog>>,
}

impl Connection {
    /// Wrap an accepted stream.
    pub fn new(stream: Stream, peer: SocketAddr, local: SocketAddr) -> Self {
        Connection {
            stream,
            buf: Vec::new(),
            skipping: false,
            peer,
            local,
            line_deadline: None,
            line_started: None,
            bytes: None,
            deflate: None,
            rawlog: None,
        }
    }

    /// Record this connection's traffic when its user turns out to be listed in
    /// `log.rawlog_users` (a no-op when transcripts are off).
    pub fn set_rawlog(&mut self, config: &roost_config::Config, proto: RawProto) {
        self.rawlog = RawlogSettings::from_config(config).map(|s| Box::new(Rawlog::new(s, proto)));
    }

    /// Tell the transcript who is logged in; drivers call it after each session step.
    pub fn rawlog_user(&mut self, user: Option<&str>) {
        if let Some(log) = self.rawlog.as_mut() {
            log.user(user);
            if log.is_off() {
                self.rawlog = None;
            }
        }
    }

    /// Count this connection's bytes into `counters` from now on.
    pub fn count_bytes(&mut self, counters: crate::metrics::ByteCounters) {
        self.bytes = Some(counters);
    }

    /// Once a line has started to arrive, [`Connection::read_line`] fails with
    /// [`io::ErrorKind::TimedOut`] unless it is finished within `deadline`: a client dripping
    /// a line byte by byte cannot hold its connection slot for longer.
    pub fn set_line_deadline(&mut self, deadline: Duration) {
        self.line_deadline = Some(deadline);
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The server address the client connected to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Whether the client is on this host (cleartext may be allowed then).
    pub fn is_loopback(&self) -> bool {
        match self.peer.ip() {
            IpAddr::V4(ip) => ip.is_loopback(),
            IpAddr::V6(ip) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }

    /// Read once into `buf`. Cancel-safe: `read_buf` only extends `buf` by the bytes it
    /// actually read, so a read abandoned by `select!` (a timeout, shutdown, an IDLE wake-up)
    /// leaves nothing behind and loses nothing.
    async fn fill(&mut self) -> io::Result<usize> {
        let before = self.buf.len();
        let n = self.fill_plain().await?;
        if let Some(log) = self.rawlog.as_mut() {
            log.client(&self.buf[before..]);
        }
        Ok(n)
    }

    /// One read into `buf`, through the inflater under COMPRESS; `fill`'s cancel-safety
    /// holds because inflated bytes are appended only right before returning.
    async fn fill_plain(&mut self) -> io::Result<usize> {
        let Some(z) = self.deflate.as_mut() else {
            self.buf.reserve(READ_CHUNK);
            let n = self.stream.read_buf(&mut self.buf).await?;
            if let Some(c) = &self.bytes {
                c.received(n);
            }
            return Ok(n);
        };
        loop {
            let n = z.inflate(&mut self.buf, INFLATE_CHUNK)?;
            if n > 0 || z.ended() {
                return Ok(n);
            }
            let raw = z.raw_mut();
            raw.reserve(READ_CHUNK);
            let read = self.stream.read_buf(raw).await?;
            // Metrics count bytes on the wire, compressed as they are.
            if let Some(c) = &self.bytes {
                c.received(read);
            }
            if read == 0 {
                return Ok(0);
            }
        }
    }

    /// Compress both directions from now on (RFC 4978); `pipelined` is compressed input
    /// that arrived with the COMPRESS command. Bytes already buffered here are compressed
    /// too: they were read after the command line.
    pub fn start_compress(&mut self, mut pipelined: Vec<u8>) {
        pipelined.append(&mut self.buf);
        self.deflate = Some(Box::new(crate::deflate::Deflate::new(pipelined)));
    }

    /// Whether COMPRESS=DEFLATE is active.
    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Read one line of at most `max_len` bytes (terminator excluded), ending in CRLF or LF.
    /// Memory stays bounded by `max_len` plus one read, whatever the client sends. Cancel-safe:
    /// bytes already read stay buffered for the next call.
    pub async fn read_line(&mut self, max_len: usize) -> io::Result<LineRead> {
        let mut scanned = 0;
        loop {
            if let Some(i) = self.buf[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + i;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.line_started = None;
                if self.skipping {
                    self.skipping = false;
                    scanned = 0;
                    continue;
                }
                if line.len() > max_len {
                    return Ok(LineRead::TooLong);
                }
                return Ok(LineRead::Line(line));
            }
            scanned = self.buf.len();
            // +1: a CR may still be waiting for its LF.
            if self.skipping || self.buf.len() > max_len + 1 {
                self.buf.clear();
                scanned = 0;
                if !self.skipping {
                    self.skipping = true;
                    return Ok(LineRead::TooLong);
                }
            }
            let mid_line = self.skipping || !self.buf.is_empty();
            let deadline = match self.line_deadline {
                Some(d) if mid_line => {
                    Some(*self.line_started.get_or_insert_with(Instant::now) + d)
                }
                _ => None,
            };
            let read = match deadline {
                None => self.fill().await?,
                Some(at) => match tokio::time::timeout_at(at.into(), self.fill()).await {
                    Ok(r) => r?,
                    Err(_) => return Err(line_too_slow()),
                },
            };
            if read == 0 {
                self.buf.clear();
                return Ok(LineRead::Eof);
            }
        }
    }

    /// Bytes as they arrive (buffered ones first), for protocols that frame input themselves;
    /// empty at end of stream. At most one read's worth, so memory stays bounded. Cancel-safe,
    /// like every read here: the IMAP driver races it against mailbox notifications.
    pub async fn read_some(&mut self) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() {
            self.fill().await?;
        }
        Ok(std::mem::take(&mut self.buf))
    }

    /// Send a last line (a BYE, an -ERR), flush, and close the stream.
    pub async fn goodbye(&mut self, line: &[u8]) -> io::Result<()> {
        self.write_all(line).await?;
        self.flush().await?;
        let _ = self.shutdown().await;
        Ok(())
    }

    /// Write all of `data`.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(log) = self.rawlog.as_mut() {
            log.server(data);
        }
        let sent = match self.deflate.as_mut() {
            None => {
                self.stream.write_all(data).await?;
                data.len()
            }
            Some(z) => {
                let mut out = Vec::with_capacity(data.len() / 2 + 64);
                z.deflate(data, false, &mut out)?;
                self.stream.write_all(&out).await?;
                out.len()
            }
        };
        if let Some(c) = &self.bytes {
            c.sent(sent);
        }
        Ok(())
    }

    /// Push buffered output (TLS records) to the socket; with COMPRESS, a sync flush first
    /// so the client can decode everything up to here without waiting for more.
    pub async fn flush(&mut self) -> io::Result<()> {
        if let Some(z) = self.deflate.as_mut() {
            let mut out = Vec::new();
            z.deflate(&[], true, &mut out)?;
            self.stream.write_all(&out).await?;
            if let Some(c) = &self.bytes {
                c.sent(out.len());
            }
        }
        self.stream.flush().await
    }

    /// Upgrade to TLS after STARTTLS/STLS was answered. Bytes the client sent after the
    /// command but before the handshake are dropped: a man in the middle could have
    /// injected them, and they would otherwise run inside the TLS session (CVE-2011-0411).
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        self.buf.clear();
        self.skipping = false;
        self.line_started = None;
        match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::Plain(tcp) => {
                let tls = acceptor.accept(tcp).await?;
                self.stream = Stream::Tls(Box::new(tls));
                Ok(())
            }
            other => {
                self.stream = other;
                Err(io::Error::other("TLS is already active"))
            }
        }
    }

    /// Close the write side (sends TLS close_notify first).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.stream.shutdown().await
    }
}

#[derive(Default)]
struct RegistryInner {
    counts: HashMap<(String, IpAddr), usize>,
}

/// Counts logged-in sessions per user and client IP, to enforce
/// `limits.max_connections_per_user_ip` across both protocols.
#[derive(Clone)]
pub struct ConnectionRegistry {
    max: usize,
    inner: Arc<Mutex<RegistryInner>>,
}

/// Holds one registered session; dropping it frees the slot.
pub struct RegistryGuard {
    key: (String, IpAddr),
    inner: Arc<Mutex<RegistryInner>>,
}

impl ConnectionRegistry {
    /// A registry allowing `max` sessions per user+IP.
    pub fn new(max: usize) -> Self {
        ConnectionRegistry {
            max,
            inner: Arc::default(),
        }
    }

    /// Register a session after login; `None` means the user is over the limit from `ip`.
    pub fn try_register(&self, user: &str, ip: IpAddr) -> Option<RegistryGuard> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = (user.to_string(), ip);
        let count = inner.counts.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(RegistryGuard {
            key,
            inner: Arc::clone(&self.inner),
        })
    }

    /// Sessions currently registered for `user` from `ip`.
    pub fn count(&self, user: &str, ip: IpAddr) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .counts
            .get(&(user.to_string(), ip))
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = inner.counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                // Keep the map from growing with every user ever seen.
                inner.counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A real loopback socket pair: (server side Connection, client side stream).
    async fn pair() -> (Connection, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let local = server.local_addr().unwrap();
        (Connection::new(Stream::Plain(server), peer, local), client)
    }

    fn line(s: &str) -> LineRead {
        LineRead::Line(s.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn cancelled_reads_lose_nothing_and_add_nothing() {
        let (mut conn, mut client) = pair().await;
        // A read abandoned while waiting (as a timeout or shutdown select does)...
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(20), conn.read_line(100)).await;
        assert!(waited.is_err(), "nothing was sent yet");
        // ... and one abandoned with half a line buffered.
        client.write_all(b"A1 NO").await.unwrap();
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), conn.read_line(100)).await;
        assert!(waited.is_err(), "the line is not complete yet");
        client.write_all(b"OP\r\nA2 X\r\n").await.unwrap();
        assert_eq!(
            conn.read_line(100).await.unwrap(),
            LineRead::Line(b"A1 NOOP".to_vec())
        );
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(20), conn.read_some()).await;
        assert_eq!(waited.unwrap().unwrap(), b"A2 X\r\n");
    }

    #[tokio::test]
    async fn lines_with_crlf_lf_and_too_long_recovery() {
        let (mut conn, mut client) = pair().await;
        assert!(conn.is_loopback());
        assert!(!conn.is_tls());
        client
            .write_all(b"A1 NOOP\r\nB2 LF only\n\r\n0123456789ABCDEF\r\nafter\r\nlast-no-eol")
            .await
            .unwrap();
        client.shutdown().await.unwrap();
        assert_eq!(conn.read_line(10).await.unwrap(), line("A1 NOOP"));
        assert_eq!(conn.read_line(10).await.unwrap(), line("B2 LF only"));
        assert_eq!(conn.read_line(10).await.unwrap(), line(""));
        assert_eq!(conn.read_line(10).await.unwrap(), LineRead::TooLong);
        assert_eq!(conn.read_line(10).await.unwrap(), line("after"));
        assert_eq!(conn.read_line(10).await.unwrap(), LineRead::Eof);
    }

    #[tokio::test]
    async fn too_long_line_spanning_many_reads_is_skipped_entirely() {
        let (mut conn, mut client) = pair().await;
        let writer = tokio::spawn(async move {
            let junk = vec![b'x'; 100_000];
            for chunk in junk.chunks(777) {
                client.write_all(chunk).await.unwrap();
            }
            client.write_all(b"\r\nA2 NOOP\r\n").await.unwrap();
            client
        });
        assert_eq!(conn.read_line(64).await.unwrap(), LineRead::TooLong);
        assert_eq!(conn.read_line(64).await.unwrap(), line("A2 NOOP"));
        assert!(conn.buf.capacity() < 64 * 1024, "buffer must stay bounded");
        drop(writer.await.unwrap());
        assert_eq!(conn.read_line(64).await.unwrap(), LineRead::Eof);
    }

    #[tokio::test]
    async fn chunk_size_sweep_gives_same_lines() {
        let stream = b"a1 x\r\nb2 yy\nTOOLONGTOOLONG\r\nc3\r\n";
        for size in 1..stream.len() {
            let (mut conn, mut client) = pair().await;
            let writer = tokio::spawn(async move {
                for chunk in stream.chunks(size) {
                    client.write_all(chunk).await.unwrap();
                    client.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            });
            let mut got = Vec::new();
            loop {
                let l = conn.read_line(8).await.unwrap();
                let eof = l == LineRead::Eof;
                got.push(l);
                if eof {
                    break;
                }
            }
            writer.await.unwrap();
            assert_eq!(
                got,
                vec![
                    line("a1 x"),
                    line("b2 yy"),
                    LineRead::TooLong,
                    line("c3"),
                    LineRead::Eof
                ],
                "chunk size {size}"
            );
        }
    }

    #[tokio::test]
    async fn compressed_both_ways_with_pipelined_input_and_literals() {
        use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
        let (mut conn, mut client) = pair().await;
        let mut z = Compress::new(Compression::default(), false);
        let mut wire = Vec::with_capacity(4096);
        z.compress_vec(
            b"A1 NOOP\r\nA2 APPEND {10}\r\n0123456789A3 X\r\n",
            &mut wire,
            FlushCompress::Sync,
        )
        .unwrap();
        // The first bytes arrived with the COMPRESS command; the rest comes later.
        let (early, late) = wire.split_at(5);
        conn.start_compress(early.to_vec());
        assert!(conn.is_compressed());
        client.write_all(late).await.unwrap();
        assert_eq!(conn.read_line(100).await.unwrap(), line("A1 NOOP"));
        assert_eq!(conn.read_line(100).await.unwrap(), line("A2 APPEND {10}"));
        assert_eq!(conn.read_some().await.unwrap(), b"0123456789A3 X\r\n");

        conn.write_all(b"* OK one\r\n").await.unwrap();
        conn.write_all(b"A1 OK two\r\n").await.unwrap();
        conn.flush().await.unwrap();
        // The sync flush makes all of it decodable without more input.
        let mut d = Decompress::new(false);
        let mut plain = Vec::with_capacity(4096);
        let mut got = vec![0u8; 4096];
        while !plain.ends_with(b"two\r\n") {
            let n = client.read(&mut got).await.unwrap();
            assert_ne!(n, 0, "{plain:?}");
            d.decompress_vec(&got[..n], &mut plain, FlushDecompress::Sync)
                .unwrap();
        }
        assert_eq!(plain, b"* OK one\r\nA1 OK two\r\n");
        drop(client);
        assert_eq!(conn.read_line(100).await.unwrap(), LineRead::Eof);
    }

    #[tokio::test]
    async fn start_tls_discards_pipelined_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let (cert, key) = crate::tls::ensure_self_signed(tmp.path()).unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(crate::tls::server_config(&cert, &key).unwrap()));
        let (mut conn, mut client) = pair().await;
        client
            .write_all(b"S1 STARTTLS\r\nINJECTED\r\n")
            .await
            .unwrap();
        // Make sure both lines are already in the server's buffer.
        while !conn.buf.ends_with(b"INJECTED\r\n") {
            assert_ne!(conn.fill().await.unwrap(), 0);
        }
        assert_eq!(conn.read_line(100).await.unwrap(), line("S1 STARTTLS"));

        let pem = std::fs::read(&cert).unwrap();
        let der = CertificateDer::from_pem_slice(&pem).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let client_side = tokio::spawn(async move {
            let mut tls = connector.connect(name, client).await.unwrap();
            tls.write_all(b"S2 AFTER\r\n").await.unwrap();
            tls.flush().await.unwrap();
            tls
        });
        conn.start_tls(&acceptor).await.unwrap();
        assert!(conn.is_tls());
        assert_eq!(conn.read_line(100).await.unwrap(), line("S2 AFTER"));
        let err = conn.start_tls(&acceptor).await.unwrap_err();
        assert!(err.to_string().contains("already"));
        drop(client_side.await.unwrap());
    }

    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    #[tokio::test]
    async fn slow_drip_line_is_cut_at_the_deadline_but_slow_gaps_between_lines_are_not() {
        let (mut conn, mut client) = pair().await;
        conn.set_line_deadline(Duration::from_millis(300));
        // Waiting for a line to start is not on the clock (idle timeouts cover that).
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            client.write_all(b"A1 NOOP\r\n").await.unwrap();
            // 1.8 s for the whole line: far past the 300 ms deadline, so a late timer on a
            // loaded machine still fires long before the line could complete.
            for b in b"A2 NOOP\r\n" {
                client.write_all(&[*b]).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            client
        });
        assert_eq!(conn.read_line(100).await.unwrap(), line("A1 NOOP"));
        let started = Instant::now();
        let err = conn.read_line(100).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(1200), "{took:?}");
        drop(writer.await.unwrap());
    }

    #[test]
    fn line_clock_table() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        // (chunks fed at t0 then t1, started() after the last, literal bytes left)
        type Row<'a> = (&'a [&'a [u8]], Option<Instant>, u64);
        let table: [Row; 8] = [
            (&[b"A1 NOOP\r\n"], None, 0),
            (&[b"A1 NO", b"OP"], Some(t0), 0),
            (&[b"A1 NOOP\r\nA2", b" X"], Some(t0), 0),
            (&[b"A1 APPEND INBOX {5}\r\n", b"abc"], None, 2),
            (&[b"A1 APPEND INBOX {5+}\r\nabcde", b" {3}"], Some(t0), 0),
            (&[b"A1 APPEND INBOX ~{3}\r\nab", b"c"], Some(t1), 0),
            (&[b"A1 LOGIN {3}\r\nbob {2}\r\nxy", b"\r\n"], None, 0),
            (&[b"A1 SEARCH TEXT {x}\r\n", b"A2"], Some(t1), 0),
        ];
        for (chunks, want, left) in table {
            let mut clock = LineClock::default();
            for (i, c) in chunks.iter().enumerate() {
                clock.feed(c, if i == 0 { t0 } else { t1 });
            }
            assert_eq!(clock.started(), want, "{chunks:?}");
            assert_eq!(clock.literal_left, left, "{chunks:?}");
        }
        assert_eq!(literal_len(b"x {18446744073709551615}"), Some(u64::MAX));
        assert_eq!(literal_len(b"x {18446744073709551616}"), None);
    }

    #[test]
    fn registry_counts_per_user_and_ip_and_frees_on_drop() {
        let reg = ConnectionRegistry::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let g1 = reg.try_register("alice", a).unwrap();
        let g2 = reg.try_register("alice", a).unwrap();
        assert!(reg.try_register("alice", a).is_none(), "third from same IP");
        let other_ip = reg.try_register("alice", b).unwrap();
        let other_user = reg.try_register("bob", a).unwrap();
        assert_eq!(reg.count("alice", a), 2);
        drop(g1);
        assert_eq!(reg.count("alice", a), 1);
        let g3 = reg.try_register("alice", a).unwrap();
        drop((g2, g3, other_ip, other_user));
        assert_eq!(reg.count("alice", a), 0);
        assert!(reg.inner.lock().unwrap().counts.is_empty());
    }
}
