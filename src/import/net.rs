//! The client side of a connection to the old server: TCP, implicit TLS or a STARTTLS
//! upgrade, certificate checking, and bounded line and literal reads with timeouts.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::ImportError;

/// A server silent this long is treated as gone (Dovecot's own client timeouts are similar).
pub const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Connecting may take this long, including name resolution.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest protocol line accepted from the server; real servers stay far below.
pub const MAX_LINE: usize = 64 * 1024;

/// Where system CA bundles live on common distributions (what `rustls-native-certs` reads
/// on Linux); `SSL_CERT_FILE` wins.
const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// How to check the server's certificate.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The system's CA bundle.
    System,
    /// Only the CAs (or self-signed certificates) in this PEM file.
    CaFile(PathBuf),
    /// No check at all (`--insecure`): encrypted, but not authenticated.
    Insecure,
}

/// TLS settings for one import.
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
}

impl TlsClient {
    /// Build the client configuration for `trust`.
    pub fn new(trust: &Trust) -> Result<TlsClient, ImportError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ImportError::Tls(e.to_string()))?;
        let config = match trust {
            Trust::Insecure => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCheck { provider }))
                .with_no_client_auth(),
            Trust::CaFile(path) => {
                let roots = load_roots(path)?;
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::System => {
                let path = std::env::var_os("SSL_CERT_FILE")
                    .map(PathBuf::from)
                    .or_else(|| CA_BUNDLES.iter().map(PathBuf::from).find(|p| p.exists()))
                    .ok_or_else(|| {
                        ImportError::Tls(
                            "no system CA bundle found (install ca-certificates, or pass \
                             --ca-file)"
                                .into(),
                        )
                    })?;
                let roots = load_roots(&path)?;
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        Ok(TlsClient {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }
}

fn load_roots(path: &Path) -> Result<RootCertStore, ImportError> {
    let pem = std::fs::read(path)
        .map_err(|e| ImportError::Tls(format!("cannot read {}: {e}", path.display())))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| {
            ImportError::Tls(format!(
                "{} is not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
        // A bundle may hold certificates rustls cannot use; the rest still count.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(ImportError::Tls(format!(
            "no usable certificate in {}",
            path.display()
        )));
    }
    Ok(roots)
}

/// `--insecure`: accepts any certificate but still checks the handshake signatures.
#[derive(Debug)]
struct NoCheck {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoCheck {
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The byte stream: plain TCP or TLS over it.
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One connection to the old server, read line by line (and literal by literal).
pub struct Conn {
    io: BufReader<Io>,
    host: String,
}

fn lost(e: std::io::Error) -> ImportError {
    ImportError::Unreachable(format!("connection lost: {e}"))
}

impl Conn {
    /// Connect to `host:port`, with TLS at once when `tls` is given.
    pub async fn connect(
        host: &str,
        port: u16,
        tls: Option<&TlsClient>,
    ) -> Result<Conn, ImportError> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| ImportError::Unreachable(format!("{host}:{port}: connect timed out")))?
            .map_err(|e| ImportError::Unreachable(format!("{host}:{port}: {e}")))?;
        let conn = Conn {
            io: BufReader::new(Io::Plain(tcp)),
            host: host.to_string(),
        };
        match tls {
            Some(tls) => conn.start_tls(tls).await,
            None => Ok(conn),
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.io.get_ref(), Io::Tls(_))
    }

    /// Run the TLS handshake on the plain stream (implicit TLS, or after STARTTLS/STLS).
    pub async fn start_tls(self, tls: &TlsClient) -> Result<Conn, ImportError> {
        if !self.io.buffer().is_empty() {
            // Bytes sent before the handshake could be an injected plaintext answer.
            return Err(ImportError::Protocol(
                "server sent data after agreeing to start TLS".into(),
            ));
        }
        let name = match self.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(self.host.clone())
                .map_err(|e| ImportError::Tls(format!("{}: {e}", self.host)))?,
        };
        let Io::Plain(tcp) = self.io.into_inner() else {
            return Err(ImportError::Protocol("TLS is already on".into()));
        };
        let stream = tokio::time::timeout(IO_TIMEOUT, tls.connector.connect(name, tcp))
            .await
            .map_err(|_| ImportError::Unreachable("TLS handshake timed out".into()))?
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    ImportError::Tls(format!(
                        "TLS handshake with {} failed: {e} (use --ca-file for a private CA, \
                         or --insecure to skip the check)",
                        self.host
                    ))
                } else {
                    lost(e)
                }
            })?;
        Ok(Conn {
            io: BufReader::new(Io::Tls(Box::new(stream))),
            host: self.host,
        })
    }

    /// Read one line including its CRLF (or LF); at most [`MAX_LINE`] bytes.
    pub async fn read_line(&mut self) -> Result<Vec<u8>, ImportError> {
        let mut line = Vec::new();
        let fut = async {
            loop {
                let (done, used) = {
                    let buf = self.io.fill_buf().await.map_err(lost)?;
                    if buf.is_empty() {
                        return Err(ImportError::Unreachable(
                            "the server closed the connection".into(),
                        ));
                    }
                    match buf.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            line.extend_from_slice(&buf[..=i]);
                            (true, i + 1)
                        }
                        None => {
                            line.extend_from_slice(buf);
                            (false, buf.len())
                        }
                    }
                };
                self.io.consume(used);
                if line.len() > MAX_LINE {
                    return Err(ImportError::Protocol(format!(
                        "server sent a line longer than {MAX_LINE} bytes"
                    )));
                }
                if done {
                    return Ok(());
                }
            }
        };
        tokio::time::timeout(IO_TIMEOUT, fut)
            .await
            .map_err(|_| ImportError::Unreachable("the server stopped answering".into()))??;
        Ok(line)
    }

    /// Read exactly `n` bytes (an IMAP literal).
    pub async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, ImportError> {
        let mut buf = vec![0u8; n];
        tokio::time::timeout(IO_TIMEOUT, self.io.read_exact(&mut buf))
            .await
            .map_err(|_| ImportError::Unreachable("the server stopped answering".into()))?
            .map_err(lost)?;
        Ok(buf)
    }

    /// Send bytes and flush.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), ImportError> {
        let fut = async {
            self.io.get_mut().write_all(data).await?;
            self.io.get_mut().flush().await
        };
        tokio::time::timeout(IO_TIMEOUT, fut)
            .await
            .map_err(|_| ImportError::Unreachable("the server stopped reading".into()))?
            .map_err(lost)
    }
}
