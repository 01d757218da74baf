//! Listeners, the accept loops, connection limits and graceful shutdown.
//!
//! [`run`] is the testable entry point: it takes already-bound listeners and a shutdown
//! future, so tests can bind 127.0.0.1:0 and stop the server whenever they like.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use roost_config::{Config, Listen};
use roost_storage::Store;
use roost_storage::auth::Authenticator;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::conn::{Connection, ConnectionRegistry, Stream};
use crate::guard::{GuardSettings, LoginGuard};

/// How long an implicit-TLS client gets to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A listener kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    /// IMAP on a cleartext port (STARTTLS available).
    Imap,
    /// IMAP with implicit TLS.
    Imaps,
    /// POP3 on a cleartext port (STLS available).
    Pop3,
    /// POP3 with implicit TLS.
    Pop3s,
    /// LMTP delivery from an MTA (cleartext; bind it to loopback or a trusted network).
    Lmtp,
}

impl Proto {
    /// The name printed in `listening <proto> <addr>` lines and logs.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Imap => "imap",
            Proto::Imaps => "imaps",
            Proto::Pop3 => "pop3",
            Proto::Pop3s => "pop3s",
            Proto::Lmtp => "lmtp",
        }
    }

    /// Whether TLS starts before the greeting.
    pub fn implicit_tls(self) -> bool {
        matches!(self, Proto::Imaps | Proto::Pop3s)
    }

    /// Whether this is an IMAP listener.
    pub fn is_imap(self) -> bool {
        matches!(self, Proto::Imap | Proto::Imaps)
    }

    /// The reply sent before closing when `limits.max_connections` is reached.
    pub fn too_many_connections_reply(self) -> &'static [u8] {
        match self {
            Proto::Imap | Proto::Imaps => {
                b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n"
            }
            Proto::Pop3 | Proto::Pop3s => {
                b"-ERR [SYS/TEMP] Too many connections, try again later\r\n"
            }
            Proto::Lmtp => b"421 4.3.2 Too many connections, try again later\r\n",
        }
    }

    /// The reply sent before closing a connection from a banned address (LMTP is never
    /// banned: it has no logins).
    pub fn banned_reply(self) -> &'static [u8] {
        match self {
            Proto::Imap | Proto::Imaps => {
                b"* BYE [UNAVAILABLE] Too many failed logins from your address, try again later\r\n"
            }
            Proto::Pop3 | Proto::Pop3s | Proto::Lmtp => {
                b"-ERR [SYS/TEMP] Too many failed logins from your address, try again later\r\n"
            }
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a listener could not be bound; messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A port below 1024 as a normal user.
    #[error(
        "cannot listen on {addr} ({proto}): permission denied; port {port} is privileged: \
         run roost as root, grant CAP_NET_BIND_SERVICE with \
         `setcap cap_net_bind_service=+ep $(which roost)`, or set `listen.{proto}` in a config \
         file (-c FILE) to a port above 1023"
    )]
    Privileged {
        /// The listener.
        proto: Proto,
        /// The address.
        addr: SocketAddr,
        /// Its port.
        port: u16,
    },
    /// Something else already listens there.
    #[error(
        "cannot listen on {addr} ({proto}): address already in use; stop the other server \
         on port {port} or change `listen.{proto}` in the config file"
    )]
    InUse {
        /// The listener.
        proto: Proto,
        /// The address.
        addr: SocketAddr,
        /// Its port.
        port: u16,
    },
    /// Any other failure (e.g. an address not on this host).
    #[error(
        "cannot listen on {addr} ({proto}): {source}; check `listen.{proto}` in the config file"
    )]
    Other {
        /// The listener.
        proto: Proto,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// Bound listening sockets, in config order.
pub struct Listeners {
    /// Each socket with its protocol.
    pub sockets: Vec<(Proto, TcpListener)>,
    /// `metrics.listen` sockets (bound by [`crate::metrics::bind`], empty when off).
    pub metrics: Vec<TcpListener>,
    /// The admin socket as [`crate::admin_socket::bind`] left it after privileges were
    /// dropped; [`run`] binds it itself when None.
    pub admin: Option<io::Result<tokio::net::UnixListener>>,
}

impl Listeners {
    /// Bind every address of `listen`.
    pub async fn bind(listen: &Listen) -> Result<Listeners, BindError> {
        let groups = [
            (Proto::Imap, &listen.imap),
            (Proto::Imaps, &listen.imaps),
            (Proto::Pop3, &listen.pop3),
            (Proto::Pop3s, &listen.pop3s),
            (Proto::Lmtp, &listen.lmtp),
        ];
        let mut sockets = Vec::new();
        for (proto, addrs) in groups {
            for &addr in addrs.iter() {
                let listener = TcpListener::bind(addr).await.map_err(|e| {
                    let port = addr.port();
                    match e.kind() {
                        // EACCES above 1023 comes from elsewhere (e.g. SELinux): no setcap advice.
                        io::ErrorKind::PermissionDenied if port < 1024 => {
                            BindError::Privileged { proto, addr, port }
                        }
                        io::ErrorKind::AddrInUse => BindError::InUse { proto, addr, port },
                        _ => BindError::Other {
                            proto,
                            addr,
                            source: e,
                        },
                    }
                })?;
                sockets.push((proto, listener));
            }
        }
        Ok(Listeners {
            sockets,
            metrics: Vec::new(),
            admin: None,
        })
    }

    /// The actual bound addresses (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<(Proto, SocketAddr)> {
        self.sockets
            .iter()
            .filter_map(|(p, l)| l.local_addr().ok().map(|a| (*p, a)))
            .collect()
    }
}

/// Whether the users file has at least one usable user.
pub fn has_users(users_file: &Path) -> bool {
    Authenticator::open(users_file).is_ok_and(|a| !a.is_empty())
}

/// Tells sessions that the server is stopping, or (per session) that an admin kicked it.
/// Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    /// `roost kick` for this session; None outside sessions.
    kick: Option<watch::Receiver<bool>>,
}

impl Shutdown {
    /// Whether shutdown has begun.
    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Whether an admin kicked this session (rather than the server stopping).
    pub fn kicked(&self) -> bool {
        self.kick.as_ref().is_some_and(|k| *k.borrow())
    }

    /// Resolves once shutdown begins or the session is kicked (at once if it already was).
    pub async fn wait(&mut self) {
        // An error means the sender is gone, which also means the server is stopping.
        match self.kick.as_mut() {
            None => {
                let _ = self.rx.wait_for(|&stop| stop).await;
            }
            Some(kick) => {
                tokio::select! {
                    _ = self.rx.wait_for(|&stop| stop) => {}
                    Ok(_) = kick.wait_for(|&k| k) => {}
                }
            }
        }
    }
}

/// What every session of this server shares.
#[derive(Clone)]
pub struct SessionContext {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// For implicit TLS and STARTTLS/STLS.
    pub tls: TlsAcceptor,
    /// Per user+IP session counts.
    pub registry: ConnectionRegistry,
    /// Fires when the server stops.
    pub shutdown: Shutdown,
    /// The one shared storage: every session of every protocol opens mailboxes here.
    pub store: Arc<Store>,
    /// Users and passwords.
    pub users: Arc<Authenticator>,
    /// Login failure penalties and bans, per client address.
    pub guard: Arc<LoginGuard>,
    /// Open sessions, for `roost who` and `roost kick`.
    pub sessions: crate::sessions::SessionTable,
    /// This connection's entry in `sessions` (None before a connection is served).
    pub this: Option<Arc<crate::sessions::SessionEntry>>,
    /// Prometheus counters.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Who logged in with what (`roost report protocols`).
    pub logins: Arc<roost_storage::logins::LoginLog>,
}

impl SessionContext {
    /// What a protocol session calls once a user's credentials are right: the login counts as
    /// a success for the abuse guard, and the per user+IP limit is checked (the returned guard
    /// frees the place when the session ends). `None`: over the limit. (The IMAP crate's
    /// `LoginGate` is the same type.)
    pub fn login_gate(&self, ip: std::net::IpAddr) -> roost_pop3::LoginGate {
        let registry = self.registry.clone();
        let guard = Arc::clone(&self.guard);
        let this = self.this.clone();
        Arc::new(move |user: &str| {
            guard.success_for(ip, user);
            let g = registry.try_register(user, ip)?;
            if let Some(this) = &this {
                this.set_user(user);
            }
            Some(Box::new(g) as Box<dyn Send>)
        })
    }
}

/// Serve `listeners` until `shutdown` resolves, then tell every session to say goodbye
/// and wait up to `limits.shutdown_grace_secs` for them. Sessions still running after
/// that are cut when the caller drops the runtime (as `roost serve` does).
pub async fn run(
    config: Arc<Config>,
    listeners: Listeners,
    tls: TlsAcceptor,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every session holds a clone of `done_tx`; when all are dropped, `recv` returns None.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let store = crate::wiring::store(&config);
    let users = match crate::wiring::authenticator(&config) {
        Ok(a) => a,
        Err(e) => {
            // `roost serve` checked it before binding; it can only have broken since.
            tracing::error!("{e}; not serving");
            return;
        }
    };
    crate::wiring::apply_quota(&config, &store, &users);
    let guard = Arc::new(LoginGuard::new(
        GuardSettings::from_config(&config),
        Some(config.data_dir.clone()),
    ));
    let logins = crate::wiring::login_log(&config);
    let ctx = SessionContext {
        logins: Arc::clone(&logins),
        store: Arc::clone(&store),
        users,
        guard: Arc::clone(&guard),
        registry: ConnectionRegistry::new(config.limits.max_connections_per_user_ip),
        config: Arc::clone(&config),
        tls,
        shutdown: Shutdown {
            rx: stop_rx,
            kick: None,
        },
        sessions: crate::sessions::SessionTable::default(),
        this: None,
        metrics: Arc::default(),
    };
    let ops_tasks = crate::admin_socket::start(&ctx, listeners.metrics, listeners.admin);
    // Semaphore::new panics above MAX_PERMITS; no host gets near that many sockets anyway.
    let permits = config.limits.max_connections.min(Semaphore::MAX_PERMITS);
    let limit = Arc::new(Semaphore::new(permits));
    let per_ip = ConnectionRegistry::new(config.limits.max_connections_per_ip);
    let mut accept_tasks = Vec::new();
    for (proto, listener) in listeners.sockets {
        accept_tasks.push(tokio::spawn(accept_loop(
            proto,
            listener,
            ctx.clone(),
            Limits {
                total: Arc::clone(&limit),
                per_ip: per_ip.clone(),
            },
            done_tx.clone(),
        )));
    }
    let housekeeping = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let g = Arc::clone(&guard);
            let _ = tokio::task::spawn_blocking(move || g.tick()).await;
        }
    });
    drop(ctx);
    drop(done_tx);
    shutdown.await;
    tracing::info!("shutting down: no new connections, asking sessions to finish");
    let _ = stop_tx.send(true);
    for task in accept_tasks {
        let _ = task.await;
    }
    housekeeping.abort();
    ops_tasks.stop();
    let grace = Duration::from_secs(config.limits.shutdown_grace_secs);
    if tokio::time::timeout(grace, done_rx.recv()).await.is_err() {
        tracing::warn!(
            grace_secs = config.limits.shutdown_grace_secs,
            "sessions still open after the grace period; cutting them"
        );
    }
    // Indexes are caches written lazily: write them now, marked as cleanly closed.
    let _ = tokio::task::spawn_blocking(move || store.flush_all(true)).await;
    if let Err(e) = tokio::task::spawn_blocking(move || logins.flush()).await {
        tracing::warn!("writing the login state failed: {e}");
    }
}

/// The connection bounds checked at accept.
struct Limits {
    /// `limits.max_connections`.
    total: Arc<Semaphore>,
    /// `limits.max_connections_per_ip` (keyed by an empty user name).
    per_ip: ConnectionRegistry,
}

async fn accept_loop(
    proto: Proto,
    listener: TcpListener,
    ctx: SessionContext,
    limits: Limits,
    done: mpsc::Sender<()>,
) {
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => return,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::error!(proto = %proto, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Replies are written in pieces (a header, then a body); without this the last piece
        // waits for the client's delayed ACK, about 40 ms per reply (docs/benchmarks.md).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let permit = Arc::clone(&limits.total)
            .try_acquire_owned()
            .ok()
            .zip(limits.per_ip.try_register("", peer.ip()));
        let ctx = ctx.clone();
        let done = done.clone();
        let span = tracing::info_span!(
            "conn",
            session = %crate::logging::session_id(),
            proto = %proto,
            peer = %peer
        );
        tokio::spawn(
            async move {
                let _done = done;
                match permit {
                    Some(_permit) => serve_connection(proto, tcp, peer, ctx).await,
                    None => refuse(proto, tcp, &ctx).await,
                }
            }
            .instrument(span),
        );
    }
}

/// The connection after any implicit-TLS handshake; None when the handshake failed or
/// shutdown began first (a stalled client must not hold up shutdown for the grace period).
async fn open(
    proto: Proto,
    tcp: TcpStream,
    peer: SocketAddr,
    ctx: &SessionContext,
) -> Option<Connection> {
    let mut shutdown = ctx.shutdown.clone();
    tokio::select! {
        c = handshake(proto, tcp, peer, &ctx.tls) => c,
        _ = shutdown.wait() => None,
    }
}

async fn handshake(
    proto: Proto,
    tcp: TcpStream,
    peer: SocketAddr,
    tls: &TlsAcceptor,
) -> Option<Connection> {
    let local = tcp.local_addr().ok()?;
    let stream = if proto.implicit_tls() {
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
            Ok(Ok(s)) => Stream::Tls(Box::new(s)),
            Ok(Err(e)) => {
                tracing::info!(error = %e, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::info!("TLS handshake timed out");
                return None;
            }
        }
    } else {
        Stream::Plain(tcp)
    };
    Some(Connection::new(stream, peer, local))
}

async fn serve_connection(proto: Proto, tcp: TcpStream, peer: SocketAddr, mut ctx: SessionContext) {
    tracing::info!("connected");
    let Some(mut conn) = open(proto, tcp, peer, &ctx).await else {
        if proto.implicit_tls() && !ctx.shutdown.is_shutdown() {
            ctx.metrics.error(proto, "tls_handshake");
        }
        return;
    };
    let this = ctx.sessions.register(proto, peer, conn.is_tls());
    conn.count_bytes(ctx.metrics.byte_counters(proto));
    ctx.shutdown.kick = Some(this.kicked());
    ctx.this = Some(Arc::clone(&this));
    let metrics = Arc::clone(&ctx.metrics);
    if proto != Proto::Lmtp && ctx.guard.is_banned(peer.ip()) {
        tracing::info!("address is banned; refusing");
        let _ = conn.write_all(proto.banned_reply()).await;
        let _ = conn.flush().await;
        let _ = conn.shutdown().await;
        return;
    }
    let result = match proto {
        Proto::Imap | Proto::Imaps => crate::imap::serve(conn, ctx).await,
        Proto::Pop3 | Proto::Pop3s => crate::pop3::serve(conn, ctx).await,
        Proto::Lmtp => crate::lmtp::serve(conn, ctx).await,
    };
    match result {
        Ok(()) => tracing::info!("disconnected"),
        Err(e) => {
            metrics.error(proto, "io");
            tracing::info!(error = %e, "disconnected");
        }
    }
    drop(this);
}

async fn refuse(proto: Proto, tcp: TcpStream, ctx: &SessionContext) {
    tracing::warn!(
        max = ctx.config.limits.max_connections,
        max_per_ip = ctx.config.limits.max_connections_per_ip,
        "too many connections; refusing"
    );
    let peer = match tcp.peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    if let Some(mut conn) = open(proto, tcp, peer, ctx).await {
        let _ = conn.write_all(proto.too_many_connections_reply()).await;
        let _ = conn.flush().await;
        let _ = conn.shutdown().await;
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn signals() -> io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// On each SIGHUP, read the TLS certificate and key again: new handshakes get the new
/// pair, open sessions carry on. A broken pair is logged and the old one stays.
pub fn reload_on_sighup(certs: Arc<crate::tls::CertStore>) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let certs = Arc::clone(&certs);
            let result = tokio::task::spawn_blocking(move || {
                certs
                    .reload()
                    .map(|()| certs.cert_path().display().to_string())
            })
            .await;
            match result {
                Ok(Ok(cert)) => tracing::info!(cert, "SIGHUP: TLS certificate reloaded"),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "SIGHUP: TLS reload failed; keeping the old certificate")
                }
                Err(e) => tracing::error!(error = %e, "SIGHUP: TLS reload failed"),
            }
        }
    });
    Ok(())
}

/// Write `listening <proto> <addr>` lines, then the hint about adding a first user.
pub fn announce(
    out: &mut impl io::Write,
    listeners: &Listeners,
    config: &Config,
    config_path: Option<&Path>,
) -> io::Result<()> {
    for (proto, addr) in listeners.local_addrs() {
        writeln!(out, "listening {proto} {addr}")?;
    }
    for addr in listeners.metrics.iter().filter_map(|l| l.local_addr().ok()) {
        writeln!(out, "listening metrics {addr}")?;
    }
    if !has_users(&config.users_file) {
        let flag = config_path
            .map(|p| format!(" -c {}", p.display()))
            .unwrap_or_default();
        writeln!(out, "no users yet: add one with: roost user add NAME{flag}")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::sync::oneshot;

    #[test]
    fn users_file_needs_a_user_line() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("users");
        assert!(!has_users(&f), "missing file");
        let table = [
            ("", false),
            ("# only a comment\n\n", false),
            ("   \n", false),
            ("alice:{SHA512-CRYPT}$6$x::::::\n", true),
            ("# header\nbob:{PLAIN}x\n", true),
        ];
        for (text, want) in table {
            std::fs::write(&f, text).unwrap();
            assert_eq!(has_users(&f), want, "{text:?}");
        }
    }

    fn loopback_listen() -> Listen {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        Listen {
            imap: vec![any],
            imaps: vec![],
            pop3: vec![any],
            pop3s: vec![],
            lmtp: vec![any],
        }
    }

    #[tokio::test]
    async fn announce_prints_actual_ports_and_hint_only_without_users() {
        let tmp = tempfile::tempdir().unwrap();
        let listeners = Listeners::bind(&loopback_listen()).await.unwrap();
        assert_eq!(listeners.sockets.len(), 3, "imap, pop3 and lmtp");
        let config = Config {
            users_file: tmp.path().join("users"),
            ..Config::default()
        };
        let mut out = Vec::new();
        announce(
            &mut out,
            &listeners,
            &config,
            Some(Path::new("/etc/r.yaml")),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].starts_with("listening imap 127.0.0.1:"));
        assert!(!lines[0].ends_with(":0"));
        assert!(lines[1].starts_with("listening pop3 127.0.0.1:"));
        assert!(lines[2].starts_with("listening lmtp 127.0.0.1:"));
        assert_eq!(
            lines[3],
            "no users yet: add one with: roost user add NAME -c /etc/r.yaml"
        );
        std::fs::write(&config.users_file, "alice:{PLAIN}x\n").unwrap();
        let mut out = Vec::new();
        announce(&mut out, &listeners, &config, None).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap().lines().count(),
            3,
            "listeners only, no hint"
        );
    }

    async fn line(r: &mut (impl tokio::io::AsyncBufRead + Unpin)) -> String {
        let mut s = String::new();
        r.read_line(&mut s).await.unwrap();
        s
    }

    #[tokio::test]
    async fn global_limit_refuses_with_protocol_reply_and_shutdown_says_bye() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: tmp.path().to_path_buf(),
            ..Config::default()
        };
        config.limits.max_connections = 1;
        let tls = crate::tls::acceptor(&config).unwrap();
        let listeners = Listeners::bind(&loopback_listen()).await.unwrap();
        let addrs = listeners.local_addrs();
        let (imap, pop3) = (addrs[0].1, addrs[1].1);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(run(Arc::new(config), listeners, tls, async {
            let _ = stopped.await;
        }));

        let mut first = BufReader::new(TcpStream::connect(imap).await.unwrap());
        assert!(line(&mut first).await.starts_with("* OK"));
        let mut second = BufReader::new(TcpStream::connect(pop3).await.unwrap());
        assert_eq!(
            line(&mut second).await,
            "-ERR [SYS/TEMP] Too many connections, try again later\r\n"
        );
        assert_eq!(line(&mut second).await, "", "closed after the refusal");

        // Once the first session ends its slot is free again (released asynchronously).
        first.get_mut().write_all(b"x LOGOUT\r\n").await.unwrap();
        while !line(&mut first).await.is_empty() {}
        let mut third = loop {
            let mut c = BufReader::new(TcpStream::connect(imap).await.unwrap());
            if line(&mut c).await.starts_with("* OK") {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };

        stop.send(()).unwrap();
        assert_eq!(line(&mut third).await, "* BYE Server shutting down\r\n");
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap()
            .unwrap();
        assert!(TcpStream::connect(imap).await.is_err(), "listener closed");
    }
}
