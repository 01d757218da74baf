//! Prometheus metrics: a lock-free registry of counters and histograms, and a minimal
//! HTTP/1.1 responder for `GET /metrics` (text exposition format 0.0.4).
//!
//! Every label value comes from a fixed list compiled in: command names, mechanisms and
//! protocols a client sends that are not on the list count as `other`, so no client can
//! grow the registry or inject text into the output.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::guard::LoginGuard;
use crate::server::{Proto, Shutdown};
use crate::sessions::SessionTable;

/// Protocol families for per-protocol counters.
pub const PROTOCOLS: [&str; 3] = ["imap", "pop3", "lmtp"];

/// IMAP command names as the parser names them, then `other`.
pub const IMAP_COMMANDS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "ENABLE",
    "ID",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "NAMESPACE",
    "STATUS",
    "APPEND",
    "IDLE",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "UID EXPUNGE",
    "SEARCH",
    "UID SEARCH",
    "FETCH",
    "UID FETCH",
    "STORE",
    "UID STORE",
    "COPY",
    "UID COPY",
    "MOVE",
    "UID MOVE",
    "other",
];

/// POP3 commands (RFC 1939, 2449, 5034, 2595, 6856), then `other`.
pub const POP3_COMMANDS: &[&str] = &[
    "USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP",
    "UIDL", "CAPA", "STLS", "UTF8", "other",
];

/// Login mechanisms; `USER` is POP3's USER/PASS, `LOGIN` also IMAP's LOGIN command.
pub const MECHANISMS: &[&str] = &[
    "LOGIN",
    "PLAIN",
    "USER",
    "APOP",
    "CRAM-MD5",
    "DIGEST-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "OAUTHBEARER",
    "XOAUTH2",
    "EXTERNAL",
    "ANONYMOUS",
    "other",
];

/// Histogram bucket upper bounds in seconds.
pub const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// Longest HTTP request head the responder reads; a scrape needs a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;
/// A scraper that has not sent its request within this long is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Every metric name with its help text, in output order (docs/operations.md lists the same).
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "roost_sessions_open",
        "gauge",
        "Open client connections by listener and whether they are encrypted now.",
    ),
    (
        "roost_logins_total",
        "counter",
        "Login attempts by protocol, mechanism and result.",
    ),
    (
        "roost_commands_total",
        "counter",
        "Commands handled by protocol and command name.",
    ),
    (
        "roost_command_duration_seconds",
        "histogram",
        "Time the session spent on a command (storage work, not sending the answer).",
    ),
    (
        "roost_bytes_received_total",
        "counter",
        "Bytes read from clients by protocol (after TLS decryption).",
    ),
    (
        "roost_bytes_sent_total",
        "counter",
        "Bytes written to clients by protocol (before TLS encryption).",
    ),
    (
        "roost_deliveries_total",
        "counter",
        "LMTP deliveries per recipient by result.",
    ),
    (
        "roost_errors_total",
        "counter",
        "Connections that ended in an I/O error or a failed TLS handshake, by protocol and kind.",
    ),
    (
        "roost_bans_total",
        "counter",
        "Addresses banned for too many failed logins.",
    ),
    (
        "roost_banned_addresses",
        "gauge",
        "Addresses banned right now.",
    ),
];

/// Kinds of `roost_errors_total`.
pub const ERROR_KINDS: [&str; 2] = ["io", "tls_handshake"];

/// One histogram: bucket counts (not cumulative), sum in microseconds, count.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

fn counters(n: usize) -> Box<[AtomicU64]> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

fn index_of(list: &[&str], name: &str) -> usize {
    list.iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .unwrap_or(list.len() - 1)
}

fn family(proto: Proto) -> usize {
    match proto {
        Proto::Imap | Proto::Imaps => 0,
        Proto::Pop3 | Proto::Pop3s => 1,
        Proto::Lmtp => 2,
    }
}

/// The registry of one server. Every update is one relaxed atomic add.
pub struct Metrics {
    /// [imap|pop3][mechanism][ok, failed]
    logins: Box<[AtomicU64]>,
    imap_commands: Box<[Histogram]>,
    pop3_commands: Box<[Histogram]>,
    bytes_in: [AtomicU64; 3],
    bytes_out: [AtomicU64; 3],
    /// [ok, failed]
    deliveries: [AtomicU64; 2],
    /// [protocol][kind]
    errors: Box<[AtomicU64]>,
    bans: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            logins: counters(2 * MECHANISMS.len() * 2),
            imap_commands: IMAP_COMMANDS.iter().map(|_| Histogram::default()).collect(),
            pop3_commands: POP3_COMMANDS.iter().map(|_| Histogram::default()).collect(),
            bytes_in: Default::default(),
            bytes_out: Default::default(),
            deliveries: Default::default(),
            errors: counters(PROTOCOLS.len() * ERROR_KINDS.len()),
            bans: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// A login attempt (`proto` IMAP or POP3; LMTP has no logins).
    pub fn login(&self, proto: Proto, mechanism: &str, ok: bool) {
        let p = family(proto).min(1);
        let i = (p * MECHANISMS.len() + index_of(MECHANISMS, mechanism)) * 2 + usize::from(!ok);
        self.logins[i].fetch_add(1, Ordering::Relaxed);
    }

    /// One command and the time the session spent on it.
    pub fn command(&self, proto: Proto, name: &str, took: Duration) {
        let h = match family(proto) {
            0 => &self.imap_commands[index_of(IMAP_COMMANDS, name)],
            1 => &self.pop3_commands[index_of(POP3_COMMANDS, name)],
            _ => return,
        };
        h.observe(took);
    }

    /// The byte counters of a protocol, for [`crate::conn::Connection::count_bytes`].
    pub fn byte_counters(self: &Arc<Self>, proto: Proto) -> ByteCounters {
        ByteCounters {
            metrics: Arc::clone(self),
            family: family(proto),
        }
    }

    /// One LMTP recipient's delivery result.
    pub fn delivery(&self, ok: bool) {
        self.deliveries[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection ended badly; `kind` is one of [`ERROR_KINDS`].
    pub fn error(&self, proto: Proto, kind: &str) {
        let k = ERROR_KINDS.iter().position(|&e| e == kind).unwrap_or(0);
        self.errors[family(proto) * ERROR_KINDS.len() + k].fetch_add(1, Ordering::Relaxed);
    }

    /// An address was banned.
    pub fn ban(&self) {
        self.bans.fetch_add(1, Ordering::Relaxed);
    }

    /// The whole exposition text.
    pub fn render(&self, sessions: &SessionTable, guard: &LoginGuard) -> String {
        let mut out = String::with_capacity(16 * 1024);
        for &(name, kind, help) in METRICS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            match name {
                "roost_sessions_open" => {
                    let counts = sessions.counts();
                    for proto in [
                        Proto::Imap,
                        Proto::Imaps,
                        Proto::Pop3,
                        Proto::Pop3s,
                        Proto::Lmtp,
                    ] {
                        for tls in [false, true] {
                            let n: u64 = counts
                                .iter()
                                .filter(|c| c.0 == proto && c.1 == tls)
                                .map(|c| c.2)
                                .sum();
                            let _ = writeln!(
                                out,
                                "{name}{{listener=\"{}\",tls=\"{tls}\"}} {n}",
                                proto.name()
                            );
                        }
                    }
                }
                "roost_logins_total" => {
                    for (p, proto) in PROTOCOLS[..2].iter().enumerate() {
                        for (m, mech) in MECHANISMS.iter().enumerate() {
                            for (r, result) in ["ok", "failed"].iter().enumerate() {
                                let v = load(&self.logins[(p * MECHANISMS.len() + m) * 2 + r]);
                                let _ = writeln!(
                                    out,
                                    "{name}{{protocol=\"{proto}\",mechanism=\"{mech}\",result=\"{result}\"}} {v}"
                                );
                            }
                        }
                    }
                }
                "roost_commands_total" => {
                    for (proto, names, hs) in self.command_tables() {
                        for (cmd, h) in names.iter().zip(hs) {
                            let _ = writeln!(
                                out,
                                "{name}{{protocol=\"{proto}\",command=\"{cmd}\"}} {}",
                                load(&h.count)
                            );
                        }
                    }
                }
                "roost_command_duration_seconds" => {
                    for (proto, names, hs) in self.command_tables() {
                        for (cmd, h) in names.iter().zip(hs) {
                            let labels = format!("protocol=\"{proto}\",command=\"{cmd}\"");
                            let mut cumulative = 0;
                            for (b, bound) in BUCKETS.iter().enumerate() {
                                cumulative += load(&h.buckets[b]);
                                let _ = writeln!(
                                    out,
                                    "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                                );
                            }
                            let count = load(&h.count);
                            let sum = load(&h.sum_us) as f64 / 1e6;
                            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
                            let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
                            let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
                        }
                    }
                }
                "roost_bytes_received_total" | "roost_bytes_sent_total" => {
                    let c = if name == "roost_bytes_sent_total" {
                        &self.bytes_out
                    } else {
                        &self.bytes_in
                    };
                    for (p, proto) in PROTOCOLS.iter().enumerate() {
                        let _ = writeln!(out, "{name}{{protocol=\"{proto}\"}} {}", load(&c[p]));
                    }
                }
                "roost_deliveries_total" => {
                    for (r, result) in ["ok", "failed"].iter().enumerate() {
                        let _ = writeln!(
                            out,
                            "{name}{{protocol=\"lmtp\",result=\"{result}\"}} {}",
                            load(&self.deliveries[r])
                        );
                    }
                }
                "roost_errors_total" => {
                    for (p, proto) in PROTOCOLS.iter().enumerate() {
                        for (k, kind) in ERROR_KINDS.iter().enumerate() {
                            let v = load(&self.errors[p * ERROR_KINDS.len() + k]);
                            let _ =
                                writeln!(out, "{name}{{protocol=\"{proto}\",kind=\"{kind}\"}} {v}");
                        }
                    }
                }
                "roost_bans_total" => {
                    let _ = writeln!(out, "{name} {}", load(&self.bans));
                }
                "roost_banned_addresses" => {
                    let _ = writeln!(out, "{name} {}", guard.bans().len());
                }
                _ => {}
            }
        }
        out
    }

    fn command_tables(&self) -> [(&'static str, &'static [&'static str], &[Histogram]); 2] {
        [
            ("imap", IMAP_COMMANDS, &self.imap_commands),
            ("pop3", POP3_COMMANDS, &self.pop3_commands),
        ]
    }
}

fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Counts one connection's bytes into its protocol's counters.
#[derive(Clone)]
pub struct ByteCounters {
    metrics: Arc<Metrics>,
    family: usize,
}

impl ByteCounters {
    /// Bytes read from the client.
    pub fn received(&self, n: usize) {
        self.metrics.bytes_in[self.family].fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Bytes written to the client.
    pub fn sent(&self, n: usize) {
        self.metrics.bytes_out[self.family].fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Bind every `metrics.listen` address (before privileges are dropped).
pub async fn bind(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, String> {
    let mut out = Vec::new();
    for &addr in addrs {
        let l = TcpListener::bind(addr).await.map_err(|e| {
            format!("cannot listen on {addr} (metrics): {e}; check `metrics.listen`")
        })?;
        out.push(l);
    }
    Ok(out)
}

/// What a scrape needs.
#[derive(Clone)]
pub struct Scrape {
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// For the sessions-open gauge.
    pub sessions: SessionTable,
    /// For the banned-addresses gauge.
    pub guard: Arc<LoginGuard>,
}

/// Serve `GET /metrics` on `listener` until shutdown.
pub async fn serve(listener: TcpListener, scrape: Scrape, mut shutdown: Shutdown) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, _)) => {
                let scrape = scrape.clone();
                tokio::spawn(async move {
                    if let Err(e) = respond(tcp, &scrape).await {
                        tracing::debug!(error = %e, "metrics request failed");
                    }
                });
            }
            Err(e) => {
                tracing::error!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One request, one answer, then close (no keep-alive: a scrape is one request).
async fn respond(mut tcp: TcpStream, scrape: &Scrape) -> io::Result<()> {
    let mut head = Vec::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
            if head.len() > MAX_REQUEST {
                return Ok(false);
            }
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                return Ok(false);
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<bool, io::Error>(true)
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request too slow"))??;
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = if !read {
        ("400 Bad Request", "bad request\n".to_string())
    } else if method != "GET" && method != "HEAD" {
        ("405 Method Not Allowed", "only GET\n".to_string())
    } else if target.split('?').next() != Some("/metrics") {
        ("404 Not Found", "metrics are at /metrics\n".to_string())
    } else {
        (
            "200 OK",
            scrape.metrics.render(&scrape.sessions, &scrape.guard),
        )
    };
    let ctype = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        reply.extend_from_slice(body.as_bytes());
    }
    tcp.write_all(&reply).await?;
    tcp.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_labels_fall_into_other_and_histograms_are_cumulative() {
        let m = Metrics::default();
        m.command(Proto::Imaps, "uid fetch", Duration::from_micros(700));
        m.command(Proto::Imap, "X-EVIL\"}\n", Duration::from_secs(20));
        m.command(Proto::Pop3, "RETR", Duration::from_millis(2));
        m.login(Proto::Pop3s, "apop", false);
        m.login(Proto::Imap, "X-ANY", true);
        let guard = LoginGuard::new(
            crate::guard::GuardSettings::from_config(&roost_config::Config::default()),
            None,
        );
        let text = m.render(&SessionTable::default(), &guard);
        assert!(!text.contains("X-EVIL"));
        for want in [
            "roost_commands_total{protocol=\"imap\",command=\"UID FETCH\"} 1",
            "roost_commands_total{protocol=\"imap\",command=\"other\"} 1",
            "roost_command_duration_seconds_bucket{protocol=\"imap\",command=\"UID FETCH\",le=\"0.0005\"} 0",
            "roost_command_duration_seconds_bucket{protocol=\"imap\",command=\"UID FETCH\",le=\"0.001\"} 1",
            "roost_command_duration_seconds_bucket{protocol=\"imap\",command=\"UID FETCH\",le=\"10\"} 1",
            "roost_command_duration_seconds_bucket{protocol=\"imap\",command=\"other\",le=\"10\"} 0",
            "roost_command_duration_seconds_bucket{protocol=\"imap\",command=\"other\",le=\"+Inf\"} 1",
            "roost_command_duration_seconds_sum{protocol=\"imap\",command=\"other\"} 20",
            "roost_command_duration_seconds_count{protocol=\"pop3\",command=\"RETR\"} 1",
            "roost_logins_total{protocol=\"pop3\",mechanism=\"APOP\",result=\"failed\"} 1",
            "roost_logins_total{protocol=\"imap\",mechanism=\"other\",result=\"ok\"} 1",
            "roost_sessions_open{listener=\"imaps\",tls=\"true\"} 0",
        ] {
            assert!(text.lines().any(|l| l == want), "missing {want}\n{text}");
        }
    }
}
