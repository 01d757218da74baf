//! A minimal IMAP and POP3 client: just enough protocol to drive a server and time it.
//!
//! It reads whole responses (IMAP literals included) into memory and checks only the status
//! of each reply; the servers' conformance is proven elsewhere (tests/, transcripts).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// No single reply may take longer; keeps every workload bounded in time even when a server
/// stalls (100,000-message BODYSTRUCTURE is the slowest legitimate reply).
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

/// A byte stream: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One connection, buffered for reading.
pub struct Conn {
    io: BufReader<Box<dyn Io>>,
    tag: u32,
}

/// A tagged IMAP reply with the untagged lines before it.
pub struct Reply {
    /// Untagged and continuation lines (with their literals) before the tagged line.
    pub untagged: Vec<Vec<u8>>,
    /// The tagged line itself.
    pub tagged: Vec<u8>,
}

impl Reply {
    /// How many untagged lines contain `needle`.
    pub fn count(&self, needle: &[u8]) -> usize {
        self.untagged.iter().filter(|l| contains(l, needle)).count()
    }
}

/// Whether `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Accepts the benchmark servers' self-signed certificates (loopback only), but still
/// checks the handshake signatures so TLS costs what it costs for a real client.
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connector for the benchmark's self-signed servers.
pub fn tls_connector() -> Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn timed<T>(what: &str, f: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(REPLY_TIMEOUT, f)
        .await
        .with_context(|| format!("{what}: no reply within {REPLY_TIMEOUT:?}"))?
}

impl Conn {
    /// Connect over plain TCP and read the greeting.
    pub async fn connect(addr: SocketAddr) -> Result<Conn> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        tcp.set_nodelay(true)?;
        Conn::greet(Box::new(tcp)).await
    }

    /// Connect with implicit TLS and read the greeting.
    pub async fn connect_tls(addr: SocketAddr, tls: &TlsConnector) -> Result<Conn> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost")?;
        let stream = tls.connect(name, tcp).await.context("TLS handshake")?;
        Conn::greet(Box::new(stream)).await
    }

    async fn greet(io: Box<dyn Io>) -> Result<Conn> {
        let mut conn = Conn {
            io: BufReader::with_capacity(64 * 1024, io),
            tag: 0,
        };
        let greeting = conn.line().await?;
        if !(greeting.starts_with(b"* OK") || greeting.starts_with(b"+OK")) {
            bail!("greeting: {}", String::from_utf8_lossy(&greeting));
        }
        Ok(conn)
    }

    /// One raw line including CRLF; EOF is an error.
    async fn line(&mut self) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        timed("read", async {
            if self.io.read_until(b'\n', &mut line).await? == 0 {
                bail!("connection closed by server");
            }
            Ok(())
        })
        .await?;
        Ok(line)
    }

    /// One IMAP response line with any literals (`{n}` at line end) folded in.
    async fn response_line(&mut self) -> Result<Vec<u8>> {
        let mut full = self.line().await?;
        while let Some(n) = literal_len(&full) {
            let start = full.len();
            full.resize(start + n, 0);
            timed("literal", async {
                self.io.read_exact(&mut full[start..]).await?;
                Ok(())
            })
            .await?;
            let rest = self.line().await?;
            full.extend_from_slice(&rest);
        }
        Ok(full)
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let io = self.io.get_mut();
        io.write_all(bytes).await?;
        io.flush().await?;
        Ok(())
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("b{}", self.tag)
    }

    async fn until_tagged(&mut self, tag: &str) -> Result<Reply> {
        let mut untagged = Vec::new();
        let prefix = format!("{tag} ");
        loop {
            let line = self.response_line().await?;
            if line.starts_with(prefix.as_bytes()) {
                return Ok(Reply {
                    untagged,
                    tagged: line,
                });
            }
            untagged.push(line);
        }
    }

    /// Send an IMAP command and read its reply; a NO or BAD is an error.
    pub async fn imap(&mut self, command: &str) -> Result<Reply> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        let reply = self.until_tagged(&tag).await?;
        if !reply.tagged[tag.len() + 1..].starts_with(b"OK") {
            bail!(
                "{command}: {}",
                String::from_utf8_lossy(&reply.tagged).trim_end()
            );
        }
        Ok(reply)
    }

    /// `LOGIN` with quoted user and password.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        self.imap(&format!("LOGIN \"{user}\" \"{password}\""))
            .await
            .map(drop)
    }

    /// `LOGOUT`, then wait for the server to close.
    pub async fn logout(&mut self) -> Result<()> {
        self.imap("LOGOUT").await.map(drop)
    }

    /// `APPEND` with a synchronizing literal; returns the tagged line (with APPENDUID).
    pub async fn append(&mut self, mailbox: &str, message: &[u8]) -> Result<Vec<u8>> {
        let tag = self.next_tag();
        self.send(format!("{tag} APPEND {mailbox} {{{}}}\r\n", message.len()).as_bytes())
            .await?;
        loop {
            let line = self.response_line().await?;
            if line.starts_with(b"+") {
                break;
            }
            if line.starts_with(tag.as_bytes()) {
                bail!("APPEND refused: {}", String::from_utf8_lossy(&line));
            }
        }
        let mut data = Vec::with_capacity(message.len() + 2);
        data.extend_from_slice(message);
        data.extend_from_slice(b"\r\n");
        self.send(&data).await?;
        let reply = self.until_tagged(&tag).await?;
        if !reply.tagged[tag.len() + 1..].starts_with(b"OK") {
            bail!("APPEND: {}", String::from_utf8_lossy(&reply.tagged));
        }
        Ok(reply.tagged)
    }

    /// Start `IDLE` and wait for the continuation.
    pub async fn idle(&mut self) -> Result<()> {
        let tag = self.next_tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
        loop {
            let line = self.response_line().await?;
            if line.starts_with(b"+") {
                return Ok(());
            }
            if line.starts_with(tag.as_bytes()) {
                bail!("IDLE refused: {}", String::from_utf8_lossy(&line));
            }
        }
    }

    /// While idling: wait for a line containing `needle` (such as `EXISTS`).
    pub async fn wait_for(&mut self, needle: &[u8]) -> Result<()> {
        loop {
            let line = self.response_line().await?;
            if contains(&line, needle) {
                return Ok(());
            }
        }
    }

    /// A POP3 command with a one-line reply; `-ERR` is an error.
    pub async fn pop(&mut self, command: &str) -> Result<Vec<u8>> {
        self.send(format!("{command}\r\n").as_bytes()).await?;
        let line = self.line().await?;
        if !line.starts_with(b"+OK") {
            let shown = command.split(' ').next().unwrap_or(command);
            bail!("{shown}: {}", String::from_utf8_lossy(&line).trim_end());
        }
        Ok(line)
    }

    /// A POP3 command with a multi-line reply; returns the number of lines and bytes.
    pub async fn pop_multi(&mut self, command: &str) -> Result<(usize, usize)> {
        self.pop(command).await?;
        let (mut lines, mut bytes) = (0, 0);
        loop {
            let line = self.line().await?;
            if line == b".\r\n" || line == b".\n" {
                return Ok((lines, bytes));
            }
            lines += 1;
            bytes += line.len();
        }
    }
}

/// The length of a literal announced at the end of an IMAP line (`{123}\r\n` or `{123+}`).
pub fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n").or(line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The UID from `[APPENDUID <validity> <uid>]` in an APPEND's tagged OK.
pub fn append_uid(tagged: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(tagged).ok()?;
    let rest = &text[text.find("[APPENDUID ")? + 11..];
    let rest = &rest[..rest.find(']')?];
    rest.split(' ').nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_lengths() {
        let table: &[(&[u8], Option<usize>)] = &[
            (b"* 1 FETCH (BODY[] {12}\r\n", Some(12)),
            (b"* 1 FETCH (BODY[] {0}\r\n", Some(0)),
            (b"a APPEND INBOX {5+}\r\n", Some(5)),
            (b"* OK {x}\r\n", None),
            (b"* OK {}\r\n", None),
            (b"* OK done\r\n", None),
            (b"* 1 FETCH (FLAGS ())\r\n", None),
            (b"{3}", None),
        ];
        for (line, want) in table {
            assert_eq!(
                literal_len(line),
                *want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn append_uids() {
        assert_eq!(
            append_uid(b"b3 OK [APPENDUID 1700000000 42] Append completed.\r\n"),
            Some(42)
        );
        assert_eq!(append_uid(b"b3 OK Append completed.\r\n"), None);
        assert_eq!(append_uid(b"b3 OK [APPENDUID 1 x]\r\n"), None);
    }

    #[tokio::test]
    async fn reads_literals_and_tagged_reply_from_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"* OK hi\r\n").await.unwrap();
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"b1 FETCH 1 BODY[]\r\n");
            s.write_all(b"* 1 FETCH (BODY[] {7}\r\nb1 OK \n)\r\nb1 OK done\r\n")
                .await
                .unwrap();
        });
        let mut c = Conn::connect(addr).await.unwrap();
        let reply = c.imap("FETCH 1 BODY[]").await.unwrap();
        assert_eq!(
            reply.untagged,
            vec![b"* 1 FETCH (BODY[] {7}\r\nb1 OK \n)\r\n".to_vec()]
        );
        assert_eq!(reply.tagged, b"b1 OK done\r\n");
        server.await.unwrap();
    }
}
