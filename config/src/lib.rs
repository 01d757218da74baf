//! Typed Roost configuration: YAML loading, embedded defaults, validation.
//!
//! Every key is optional. Relative paths are resolved against the directory of the
//! config file (or the current directory when running on embedded defaults), and
//! `{data_dir}` is substituted in `mail_path`, `users_file` and the TLS paths at load time,
//! so the rest of Roost only ever sees absolute, expanded values (`{user}` stays in
//! `mail_path` until [`Config::mail_dir`]).
//!
//! Unknown keys and bad values are refused with `file:line:column`, the dotted key path and
//! what to write instead. `docs/configuration.md` and `config/roost.example.yaml` describe
//! every key; tests keep them in step with these types.

#![warn(missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod index;
mod load;
mod net;
mod validate;

pub use index::Position;
pub use load::ConfigError;
pub use net::{Cidr, CidrError};

/// The whole configuration, as read from YAML (every key optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where Roost keeps its own state (users file, generated certificate, mail by default).
    pub data_dir: PathBuf,
    /// Template of each user's Maildir; `{data_dir}` is expanded at load, `{user}` per user.
    pub mail_path: String,
    /// Dovecot passwd-file with the users and their password hashes.
    pub users_file: PathBuf,
    /// Listener addresses per protocol.
    pub listen: Listen,
    /// Certificate and key for IMAPS, POP3S and STARTTLS.
    pub tls: Tls,
    /// Authentication policy.
    pub auth: Auth,
    /// Logging filter and output format.
    pub log: Log,
    /// Resource limits.
    pub limits: Limits,
    /// Mailboxes every user gets.
    pub mailboxes: Mailboxes,
    /// Maildir storage behaviour.
    pub storage: Storage,
    /// POP3 behaviour.
    pub pop3: Pop3,
    /// IMAP behaviour.
    pub imap: Imap,
    /// The unprivileged user and group sessions run as.
    pub run_as: RunAs,
    /// Prometheus metrics endpoint.
    pub metrics: Metrics,
    /// The local admin socket behind `roost who`, `kick`, `mailbox` and `expunge`.
    pub admin: Admin,
    /// Default per-user quota (the users file can override it per user).
    pub quota: Quota,
}

/// Where `GET /metrics` is served (Prometheus text format).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// Addresses to serve metrics on; empty (the default) turns metrics off.
    pub listen: Vec<SocketAddr>,
}

/// The admin socket: a Unix socket only the serving user can open (mode 0600).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    /// Path of the socket; `{data_dir}` is expanded.
    pub socket: PathBuf,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            socket: PathBuf::from("{data_dir}/roost-admin.sock"),
        }
    }
}

/// Default limits of every user's mail over all mailboxes (RFC 9208 STORAGE and MESSAGE);
/// 0 is unlimited. A users-file extra field `quota_rule=*:storage=1G` (Dovecot style) or
/// `quota_storage=`/`quota_messages=` overrides them per user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quota {
    /// Storage limit in KiB; 0 is unlimited.
    pub storage_kib: u64,
    /// Message count limit; 0 is unlimited.
    pub messages: u64,
}

/// Who serves sessions: Roost binds listeners and reads keys as root, then switches to this
/// user and group for good. Both null: `mail` when started as root, no change otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunAs {
    /// User name or numeric uid; must not be root.
    pub user: Option<String>,
    /// Group name or numeric gid; null is the user's primary group.
    pub group: Option<String>,
}

/// Addresses each listener binds; an empty list turns that listener off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// IMAP with STARTTLS (port 143).
    pub imap: Vec<SocketAddr>,
    /// IMAP over implicit TLS (port 993).
    pub imaps: Vec<SocketAddr>,
    /// POP3 with STLS (port 110).
    pub pop3: Vec<SocketAddr>,
    /// POP3 over implicit TLS (port 995).
    pub pop3s: Vec<SocketAddr>,
    /// LMTP delivery from the MTA (port 24, loopback only by default).
    pub lmtp: Vec<SocketAddr>,
}

/// Certificate chain and private key in PEM; both null means a generated self-signed pair.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key of the leaf certificate.
    pub key: Option<PathBuf>,
    /// Further certificates, each picked when the client asks for one of its names (SNI);
    /// other clients get `cert`.
    pub sni: Vec<SniCert>,
}

/// A certificate served to clients that name one of `names` in their TLS hello.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SniCert {
    /// Host names, e.g. `mail.example.org`, or `*.example.org` for one label of wildcard.
    pub names: Vec<String>,
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key: PathBuf,
}

/// When cleartext passwords (IMAP LOGIN, POP3 USER/PASS, PLAIN/LOGIN SASL) are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleartextPolicy {
    /// Never, not even over TLS (only challenge-response mechanisms work).
    Never,
    /// Over TLS, or from a loopback address.
    TlsOrLoopback,
    /// Always (only for trusted networks).
    Always,
}

impl CleartextPolicy {
    /// Whether cleartext authentication is allowed on a connection with these properties.
    pub fn allows(self, tls: bool, loopback: bool) -> bool {
        match self {
            CleartextPolicy::Never => false,
            CleartextPolicy::TlsOrLoopback => tls || loopback,
            CleartextPolicy::Always => true,
        }
    }
}

/// Authentication policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    /// When cleartext passwords are accepted.
    pub cleartext: CleartextPolicy,
    /// Delay before answering a failed authentication, slowing password guessing; it doubles
    /// with each further recent failure from the same IP address.
    pub failure_delay_ms: u64,
    /// Ceiling of that growing delay (Dovecot's auth penalty stops at 15 s).
    pub penalty_max_secs: u64,
    /// Failures from one IP address within `ban_window_secs` that ban it; 0 never bans.
    pub ban_after_failures: u32,
    /// The window in which failures are counted (and after which they are forgotten).
    pub ban_window_secs: u64,
    /// How long a ban lasts.
    pub ban_secs: u64,
    /// Networks never banned (still delayed), e.g. a webmail host or a proxy.
    pub ban_allow: Vec<Cidr>,
    /// Refuse every authentication (all mechanisms) on a connection without TLS.
    pub require_tls: bool,
    /// What a user hears when the users file's `protocols=` field leaves out the protocol
    /// they logged in with; `{protocol}` becomes `IMAP` or `POP3`.
    pub protocol_denied_message: String,
    /// How often the login record (`data_dir/logins.json`) is written; logins of the last
    /// interval are lost on a crash.
    pub login_state_flush_secs: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging filter and output format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// A tracing filter: `error`, `warn`, `info`, `debug`, `trace`, or directives like `roost_storage=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
    /// Directory for protocol transcripts (`{data_dir}` expanded); null records nothing.
    pub rawlog_dir: Option<PathBuf>,
    /// Login names whose IMAP and POP3 sessions are recorded into `rawlog_dir`.
    pub rawlog_users: Vec<String>,
    /// Bytes of a session's transcript held before login tells whose it is; past it the
    /// session is not recorded (a client cannot grow memory without logging in).
    pub rawlog_preauth_max_bytes: usize,
}

/// Resource limits; each has a reason on its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Open connections over all listeners; beyond it new connections are refused.
    pub max_connections: usize,
    /// Open connections of one user from one IP address (Dovecot's mail_max_userip_connections).
    pub max_connections_per_user_ip: usize,
    /// Largest message accepted by delivery (and later APPEND).
    pub max_message_size: u64,
    /// Seconds sessions get to finish after SIGTERM before they are cut.
    pub shutdown_grace_secs: u64,
    /// Recipients of one LMTP transaction; an MTA splits larger ones.
    pub lmtp_max_recipients: usize,
    /// Open connections from one IP address, over all listeners.
    pub max_connections_per_ip: usize,
    /// Seconds from connect to a successful login (IMAP and POP3); `imap.login_timeout_secs`
    /// overrides it for IMAP.
    pub login_timeout_secs: u64,
    /// Seconds a client gets to finish a command line once it started sending it.
    pub line_deadline_secs: u64,
    /// Bytes of input one connection may hold in memory at once (buffers, inline literals,
    /// decompressed COMPRESS input); above it the connection is told and closed.
    pub max_connection_memory: usize,
}

/// A mailbox created on first login with its RFC 6154 special-use attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialUseMailbox {
    /// Mailbox name, e.g. `Sent`; no `/`.
    pub name: String,
    /// One of `drafts`, `sent`, `trash`, `junk`, `archive`, `all`, `flagged`.
    #[serde(rename = "use")]
    pub special_use: SpecialUse,
}

/// RFC 6154 special-use attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialUse {
    /// `\All`: a virtual view of all messages.
    All,
    /// `\Archive`.
    Archive,
    /// `\Drafts`.
    Drafts,
    /// `\Flagged`: a virtual view of flagged messages.
    Flagged,
    /// `\Junk`: spam.
    Junk,
    /// `\Sent`.
    Sent,
    /// `\Trash`.
    Trash,
}

impl SpecialUse {
    /// The attribute as written on the wire, e.g. `\Sent`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }
}

/// Mailboxes every user gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mailboxes {
    /// Create the special-use mailboxes below on a user's first login.
    pub autocreate: bool,
    /// Special-use mailboxes, advertised in LIST (RFC 6154).
    pub special_use: Vec<SpecialUseMailbox>,
    /// Other names clients look for (Outlook's "Sent Items"), per special use; they lead
    /// to the user's mailbox with that use.
    pub aliases: std::collections::BTreeMap<SpecialUse, Vec<String>>,
}

/// Maildir storage behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// Full rescan of open mailboxes as a fallback when inotify misses a change (e.g. NFS).
    pub rescan_interval_secs: u64,
    /// How long to wait for another process's `dovecot-uidlist.lock` (or `roost-quota.lock`) before failing.
    pub lock_timeout_secs: u64,
    /// A lock file untouched this long is taken to be left by a crashed process (Dovecot: 120 s).
    pub stale_lock_secs: u64,
    /// fsync message files and directories on delivery (off only for throwaway test setups).
    pub fsync: bool,
}

/// POP3 behaviour; defaults match Dovecot's so users moving over see no difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pop3 {
    /// UIDL template (`%u` UID, `%v` UIDVALIDITY, `%08Xu` ...) or a preset: `dovecot`,
    /// `cyrus`, `courier`. A legacy UIDL stored for a message always wins.
    pub uidl_format: String,
    /// Keyword that hides POP3-deleted messages instead of expunging them (Dovecot's
    /// `pop3_deleted_flag`); null expunges.
    pub deleted_keyword: Option<String>,
    /// RETR marks the message \Seen for IMAP clients (at QUIT, like every POP3 change).
    pub retr_sets_seen: bool,
    /// RFC 1939 exclusive maildrop lock: a second POP3 session of a user gets `[IN-USE]`.
    pub lock_maildrop: bool,
    /// Offer APOP (needs users with `{PLAIN}`/`{CLEAR}` passwords).
    pub apop: bool,
    /// Seconds without a command before the session is closed (RFC 1939: at least 600).
    pub idle_timeout_secs: u64,
    /// Longest command line in octets including CRLF (RFC 2449: at least 255).
    pub max_line_length: usize,
    /// `LOGIN-DELAY` in seconds (RFC 2449): advertised, and closer logins are refused.
    pub login_delay_secs: u64,
    /// `EXPIRE` advertised in CAPA, in days; null is `NEVER` (RFC 2449).
    pub expire_days: Option<u32>,
    /// RETR/TOP of a message up to this many octets whose file is in the page cache is
    /// answered on the connection's own thread, without a blocking-pool round trip; 0 never.
    pub cached_retr_max_size: u64,
}

/// IMAP behaviour and limits; APPEND messages are bounded by `limits.max_message_size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Imap {
    /// Seconds without a command before a logged-in session is closed (RFC 9051: >= 1800).
    pub idle_timeout_secs: u64,
    /// Seconds from connect to login for IMAP; null uses `limits.login_timeout_secs`.
    pub login_timeout_secs: Option<u64>,
    /// Longest command line in octets including CRLF.
    pub max_line_length: usize,
    /// Deepest nesting of parentheses, NOT and OR in one command.
    pub max_nesting_depth: usize,
    /// Most items in one sequence set, search program or list.
    pub max_set_items: usize,
    /// Seconds between `* OK Still here` lines during IDLE.
    pub idle_keepalive_secs: u64,
    /// Largest METADATA value in octets (RFC 5464 `[METADATA MAXSIZE]`).
    pub metadata_max_size: usize,
    /// Most METADATA entries one user may hold (`[METADATA TOOMANY]`).
    pub metadata_max_entries: usize,
    /// Most mailboxes one NOTIFY SET may watch (each is kept open).
    pub notify_max_mailboxes: usize,
    /// Most live SEARCH/SORT `RETURN (UPDATE)` results per session (RFC 5267 contexts).
    pub max_search_contexts: usize,
    /// Milliseconds a SEARCH, COPY, MOVE or EXPUNGE runs before `* OK [INPROGRESS]` starts.
    pub inprogress_after_ms: u64,
    /// Milliseconds between two INPROGRESS lines of one command.
    pub inprogress_interval_ms: u64,
}

impl Default for Imap {
    fn default() -> Self {
        Imap {
            // RFC 9051 section 5.4: the autologout timer is at least 30 minutes.
            idle_timeout_secs: 30 * 60,
            // The same pre-login bound as every protocol (limits.login_timeout_secs).
            login_timeout_secs: None,
            // 64 KiB is what Dovecot accepts (imap_max_line_length).
            max_line_length: 64 * 1024,
            // Far beyond what clients send; keeps the parser's recursion shallow.
            max_nesting_depth: 32,
            // Bounds the memory one command can cost while allowing long UID sets.
            max_set_items: 100_000,
            // RFC 2177 lets clients idle for 29 minutes, but NAT gateways drop quiet TCP
            // connections after a few minutes; 2 minutes keeps them alive cheaply.
            idle_keepalive_secs: 120,
            // Room for a long comment or a client's settings blob.
            metadata_max_size: 64 * 1024,
            // Far more than any client sets; bounds the per-user file.
            metadata_max_entries: 1000,
            // A large folder tree; each watched mailbox stays open with its inotify watch.
            notify_max_mailboxes: 1000,
            // Each context re-runs its search when the mailbox changes; a client shows a
            // handful of views at once.
            max_search_contexts: 10,
            // RFC 9585: a client waiting this long wants to know the server is working.
            inprogress_after_ms: 1000,
            // Often enough for a progress bar, rare enough to cost nothing.
            inprogress_interval_ms: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./roost-data"),
            mail_path: "{data_dir}/mail/{user}/Maildir".to_string(),
            users_file: PathBuf::from("{data_dir}/users"),
            listen: Listen::default(),
            tls: Tls::default(),
            auth: Auth::default(),
            log: Log::default(),
            limits: Limits::default(),
            mailboxes: Mailboxes::default(),
            storage: Storage::default(),
            pop3: Pop3::default(),
            imap: Imap::default(),
            run_as: RunAs::default(),
            metrics: Metrics::default(),
            admin: Admin::default(),
            quota: Quota::default(),
        }
    }
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter()
        .map(|a| a.parse().expect("built-in address is valid"))
        .collect()
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            imap: addrs(&["0.0.0.0:143"]),
            imaps: addrs(&["0.0.0.0:993"]),
            pop3: addrs(&["0.0.0.0:110"]),
            pop3s: addrs(&["0.0.0.0:995"]),
            lmtp: addrs(&["127.0.0.1:24"]),
        }
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            cleartext: CleartextPolicy::TlsOrLoopback,
            failure_delay_ms: 2000,
            // Dovecot's anvil stops its auth penalty at 15 seconds.
            penalty_max_secs: 15,
            // No person mistypes a password 10 times in 5 minutes; a guessing bot does.
            ban_after_failures: 10,
            ban_window_secs: 300,
            // Long enough to make guessing useless, short enough to forgive a locked-out user.
            ban_secs: 900,
            // A webmail or proxy on this host speaks for many users; one bad password
            // must not lock them all out.
            ban_allow: vec![
                "127.0.0.0/8".parse().expect("built-in network is valid"),
                "::1/128".parse().expect("built-in network is valid"),
            ],
            // `cleartext` already keeps passwords off the wire; this is for sites that
            // want no login at all, of any mechanism, outside TLS.
            require_tls: false,
            protocol_denied_message:
                "{protocol} is not enabled for this account; ask your administrator.".into(),
            // One small write per interval at most, whatever the login rate; a report
            // read a few seconds late loses nothing.
            login_state_flush_secs: 5,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".to_string(),
            format: LogFormat::Text,
            rawlog_dir: None,
            rawlog_users: Vec::new(),
            rawlog_preauth_max_bytes: 64 * 1024,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            // Thunderbird opens up to 5 per account; allow several devices behind one NAT.
            max_connections_per_user_ip: 50,
            // 50 MiB: larger than any mainstream provider accepts for sending.
            max_message_size: 50 * 1024 * 1024,
            shutdown_grace_secs: 10,
            // Postfix sends at most 50 per LMTP transaction by default; leave headroom.
            lmtp_max_recipients: 1000,
            // A whole office behind one NAT, each with a few devices of 5 connections.
            max_connections_per_ip: 100,
            // Dovecot's login processes give a client a minute to authenticate, too.
            login_timeout_secs: 60,
            // Even a 64 KiB line over a slow mobile link arrives well within this.
            line_deadline_secs: 30,
            // A backstop far above the 1 MiB one IMAP command may hold; APPEND literals
            // stream to disk and do not count.
            max_connection_memory: 64 * 1024 * 1024,
        }
    }
}

impl Default for Mailboxes {
    fn default() -> Self {
        let mb = |name: &str, special_use| SpecialUseMailbox {
            name: name.to_string(),
            special_use,
        };
        Mailboxes {
            autocreate: true,
            special_use: vec![
                mb("Drafts", SpecialUse::Drafts),
                mb("Sent", SpecialUse::Sent),
                mb("Trash", SpecialUse::Trash),
                mb("Junk", SpecialUse::Junk),
                mb("Archive", SpecialUse::Archive),
            ],
            // What Outlook, Apple Mail and Thunderbird create when they find no folder
            // of their own name.
            aliases: [
                (
                    SpecialUse::Sent,
                    &["Sent Items", "Sent Messages", "Sent Mail"][..],
                ),
                (
                    SpecialUse::Trash,
                    &["Deleted Items", "Deleted Messages"][..],
                ),
                (SpecialUse::Junk, &["Junk E-mail", "Junk Email", "Spam"][..]),
                (SpecialUse::Archive, &["Archives"][..]),
            ]
            .into_iter()
            .map(|(u, names)| (u, names.iter().map(|n| n.to_string()).collect()))
            .collect(),
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            rescan_interval_secs: 60,
            lock_timeout_secs: 30,
            stale_lock_secs: 120,
            fsync: true,
        }
    }
}

impl Default for Pop3 {
    fn default() -> Self {
        Pop3 {
            // Dovecot's default, so UIDLs survive a move from Dovecot.
            uidl_format: "dovecot".to_string(),
            // Expunging is what RFC 1939 says DELE means.
            deleted_keyword: None,
            // Mail read over POP3 should not look unread in webmail or IMAP.
            retr_sets_seen: true,
            // Off like Dovecot: the lock only blocks phones and desktops polling together.
            lock_maildrop: false,
            // APOP is MD5 over a cleartext-stored password; only for old clients that need it.
            apop: false,
            // RFC 1939 section 3: the autologout timer is at least 10 minutes.
            idle_timeout_secs: 600,
            // RFC 2449 section 4: command lines are at most 255 octets.
            max_line_length: 255,
            login_delay_secs: 0,
            expire_days: None,
            // Most mail is smaller; a bigger message ties up the runtime thread for longer
            // (copy and dot-stuffing) than the round trip it saves.
            cached_retr_max_size: 128 * 1024,
        }
    }
}

impl Config {
    /// Seconds from connect to login for IMAP.
    pub fn imap_login_timeout_secs(&self) -> u64 {
        self.imap
            .login_timeout_secs
            .unwrap_or(self.limits.login_timeout_secs)
    }

    /// The Maildir of `user`, from the `mail_path` template.
    pub fn mail_dir(&self, user: &str) -> PathBuf {
        PathBuf::from(self.mail_path.replace("{user}", user))
    }

    /// Load `path`, or `./roost.yaml` when present, or the embedded defaults.
    pub fn load_default_or(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            Some(p) => Config::load_file(p),
            None => {
                let local = Path::new("roost.yaml");
                if local.exists() {
                    Config::load_file(local)
                } else {
                    Config::from_yaml_str("", None)
                }
            }
        }
    }

    /// Load and validate a YAML file; relative paths resolve against its directory.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        Config::from_yaml_str(&text, Some(path))
    }

    /// Parse, resolve and validate YAML text; `origin` is the file it came from, if any.
    pub fn from_yaml_str(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
        load::from_yaml_str(text, origin)
    }

    /// The effective configuration as YAML (what `roost check-config` prints); loading the
    /// text again gives an equal `Config`.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
