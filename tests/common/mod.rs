//! Shared helpers for end-to-end tests: start the real `roost` binary on loopback with a
//! temp data dir, talk to it with real sockets and a real rustls client.

#![allow(dead_code)] // each test file uses a different subset

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

pub mod buffered;
pub mod imap;
pub mod privs;

/// How long any single wait in a test may take before it is a failure.
pub const WAIT: Duration = Duration::from_secs(20);

/// The binary under test.
pub fn roost() -> Command {
    Command::new(env!("CARGO_BIN_EXE_roost"))
}

/// A config listening on 127.0.0.1:0 for every protocol, data in `data_dir`.
pub fn config_yaml(data_dir: &Path) -> String {
    format!(
        "data_dir: {}\n\
         listen:\n  imap: [\"127.0.0.1:0\"]\n  imaps: [\"127.0.0.1:0\"]\n  \
         pop3: [\"127.0.0.1:0\"]\n  pop3s: [\"127.0.0.1:0\"]\n  lmtp: []\n\
         log:\n  level: debug\n\
         limits:\n  shutdown_grace_secs: 5\n\
         storage:\n  fsync: false\n",
        data_dir.display()
    )
}

/// A config with plain IMAP and POP3 on 127.0.0.1:0 only (no TLS listeners, no LMTP), info
/// logging, then `extra` (more top-level sections).
pub fn plain_yaml(data_dir: &Path, extra: &str) -> String {
    format!(
        "data_dir: {}\n\
         listen:\n  imap: [\"127.0.0.1:0\"]\n  imaps: []\n  \
         pop3: [\"127.0.0.1:0\"]\n  pop3s: []\n  lmtp: []\n\
         log:\n  level: info\n\
         storage:\n  fsync: false\n{extra}",
        data_dir.display()
    )
}

/// [`config_yaml`] with an LMTP listener on 127.0.0.1:0 too.
pub fn config_yaml_lmtp(data_dir: &Path) -> String {
    config_yaml(data_dir).replace("lmtp: []", "lmtp: [\"127.0.0.1:0\"]")
}

/// The users file of most tests: alice with password `secret`.
pub const ALICE: &str = "alice:{PLAIN}secret\n";

/// A running `roost serve`, killed on drop.
pub struct Server {
    child: Child,
    /// Holds config, data dir and the captured stderr.
    pub dir: PathBuf,
    /// The config file passed with `-c`.
    pub config: PathBuf,
    /// Actual addresses from the `listening <proto> <addr>` lines.
    pub addrs: HashMap<String, SocketAddr>,
    /// Every stdout line seen during startup.
    pub stdout: Vec<String>,
}

impl Server {
    /// Start with the standard test config in `dir` (which must outlive the server).
    pub fn start(dir: &Path) -> Server {
        Server::start_with(dir, config_yaml(&dir.join("data")))
    }

    /// Start with this config text, written to `dir/roost.yaml`.
    pub fn start_with(dir: &Path, yaml: String) -> Server {
        Server::spawn(dir, yaml, |lines| {
            lines.iter().any(|l| l.starts_with("no users yet"))
        })
    }

    /// Start with `users` (passwd-file lines) in `data/users` and this config; ready once
    /// `listeners` listening lines are printed (there is no users hint to wait for).
    pub fn start_with_users(dir: &Path, yaml: String, users: &str, listeners: usize) -> Server {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("data/users"), users).unwrap();
        Server::spawn(dir, yaml, move |lines| {
            lines.iter().filter(|l| l.starts_with("listening ")).count() >= listeners
        })
    }

    /// Start with the standard test config and `users`; ready once its four listeners
    /// (imap, imaps, pop3, pop3s) are up.
    pub fn start_users(dir: &Path, users: &str) -> Server {
        Server::start_users_with(dir, users, "")
    }

    /// [`Server::start_users`] with `extra` (more top-level sections) after the config.
    pub fn start_users_with(dir: &Path, users: &str, extra: &str) -> Server {
        let yaml = config_yaml(&dir.join("data")) + extra;
        Server::start_with_users(dir, yaml, users, 4)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn(dir: &Path, yaml: String, ready: impl Fn(&[String]) -> bool) -> Server {
        let_unprivileged_in(dir);
        let config = dir.join("roost.yaml");
        std::fs::write(&config, yaml).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut child = roost()
            .args(["serve", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            dir: dir.to_path_buf(),
            config,
            addrs: HashMap::new(),
            stdout: Vec::new(),
        };
        let deadline = Instant::now() + WAIT;
        while !ready(&server.stdout) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!(
                    "server did not start; stdout {:?}; stderr:\n{}",
                    server.stdout,
                    server.stderr()
                )
            });
            if let Some(rest) = line.strip_prefix("listening ") {
                let (proto, addr) = rest.split_once(' ').unwrap();
                server
                    .addrs
                    .insert(proto.to_string(), addr.parse().unwrap());
            }
            server.stdout.push(line);
        }
        server
    }

    /// The address of the first listener of `proto`.
    pub fn addr(&self, proto: &str) -> SocketAddr {
        self.addrs[proto]
    }

    /// Everything the server logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// The generated certificate (DER) the server presents.
    pub fn cert(&self) -> CertificateDer<'static> {
        cert_from(&self.dir.join("data/tls/cert.pem"))
    }

    /// Send a signal to the server process.
    pub fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Wait for the process to exit, failing the test after [`WAIT`].
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// As root, `roost serve` hands `data_dir` to the `mail` account and drops to it; that
/// account must be able to walk through the test's temp dir (created 0700) to reach it.
pub fn let_unprivileged_in(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
}

/// The first certificate in a PEM file.
pub fn cert_from(path: &Path) -> CertificateDer<'static> {
    let pem = std::fs::read(path).unwrap();
    CertificateDer::from_pem_slice(&pem).unwrap()
}

/// Trusts exactly one certificate, byte for byte (self-signed, so no chain to check),
/// while still verifying the handshake signatures against it.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
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

/// A client config that trusts only `cert`, with the given protocol versions.
pub fn pinned_config(
    cert: CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Pinned {
        cert,
        provider: Arc::clone(&provider),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Arc::new(config)
}

/// A TLS client stream.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Run the TLS handshake over `tcp`; Err if the server or the pin refuses.
pub fn handshake(tcp: TcpStream, config: Arc<ClientConfig>) -> Result<Tls, std::io::Error> {
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// Connect over plain TCP with read timeouts so a broken server fails the test.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp
}

/// Read one CRLF line byte by byte, so nothing past it is consumed (matters before
/// a TLS handshake). Returns the line without CRLF, or None at EOF.
pub fn read_line(r: &mut impl Read) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match r.read(&mut byte) {
            Ok(0) => return (!line.is_empty()).then(|| String::from_utf8_lossy(&line).into()),
            Ok(_) if byte[0] == b'\n' => {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(String::from_utf8_lossy(&line).into());
            }
            Ok(_) => line.push(byte[0]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("read timed out after {line:?}: {e}")
            }
            // A reset or TLS close without close_notify counts as EOF for these tests.
            Err(_) => return None,
        }
    }
}

/// Write `text` and flush.
pub fn send(w: &mut impl Write, text: &str) {
    w.write_all(text.as_bytes()).unwrap();
    w.flush().unwrap();
}

/// Write `body` as a message file straight into `maildir/new`, the way procmail or
/// another MTA would (no `,W=` size in the name).
pub fn drop_message(maildir: &Path, name: &str, body: &[u8]) {
    std::fs::create_dir_all(maildir.join("tmp")).unwrap();
    std::fs::create_dir_all(maildir.join("cur")).unwrap();
    std::fs::create_dir_all(maildir.join("new")).unwrap();
    let tmp = maildir.join("tmp").join(name);
    std::fs::write(&tmp, body).unwrap();
    std::fs::rename(&tmp, maildir.join("new").join(name)).unwrap();
}

/// Write `size` bytes of text lines (the last one cut short) to `w`, reading the resident
/// memory of process `pid` after each MiB; returns the highest seen, `peak` included.
pub fn stream_lines_watching_rss(w: &mut impl Write, size: usize, pid: u32, peak: u64) -> u64 {
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
    let (mut left, mut peak) = (size, peak);
    while left > 0 {
        let n = left.min(line.len());
        w.write_all(&line[..n]).unwrap();
        left -= n;
        if left % (1024 * 1024) < line.len() {
            peak = peak.max(vm_rss_kib(pid));
        }
    }
    peak
}

/// Resident memory of a process in KiB, from /proc/<pid>/status.
pub fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Run `tests/clients/<script>` with python3 and `args`; its stdout, failing the test
/// (with the client's and the server's logs) unless it exits 0.
pub fn python_client(server: &Server, script: &str, args: &[String]) -> String {
    let out = Command::new("python3")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/clients")
                .join(script),
        )
        .args(args)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    stdout
}

/// `python_client` against a fresh server with LMTP and [`ALICE`], called as `script
/// IMAP-HOST IMAP-PORT LMTP-PORT alice secret`; None (said on stderr) without python3.
pub fn python_with_lmtp(script: &str) -> Option<String> {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let yaml = config_yaml_lmtp(&dir.path().join("data"));
    let server = Server::start_with_users(dir.path(), yaml, ALICE, 5);
    let (imap, lmtp) = (server.addr("imap"), server.addr("lmtp"));
    let args = [
        imap.ip().to_string(),
        imap.port().to_string(),
        lmtp.port().to_string(),
        "alice".into(),
        "secret".into(),
    ];
    Some(python_client(&server, script, &args))
}

/// `tests/clients/lmtp_send.py` delivering `message` from `from` to `rcpts` over the LMTP
/// listener at `addr`; its output as is (it prints one `DONE` line a recipient).
pub fn lmtp_send_py(addr: SocketAddr, from: &str, rcpts: &[&str], message: &[u8]) -> Output {
    roost_testkit::process::output_with_input(
        Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/lmtp_send.py"))
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .arg(from)
            .args(rcpts),
        message,
    )
}

/// Whether a program is on PATH (tests of optional clients say so when it is missing).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
