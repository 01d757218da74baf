//! The POP3 session state machine (RFC 1939 states, RFC 2449 CAPA, RFC 5034 AUTH,
//! RFC 2595 STLS, RFC 6856 UTF8): frames in, [`Output`]s out, no sockets.
//!
//! The session talks to storage directly (blocking file I/O), so the driver runs
//! [`Pop3Session::handle`] on a blocking thread. Message bodies are never read here:
//! RETR and TOP hand the driver the open `File` storage gave us, and the driver
//! streams it through the [`DotStuffer`].
//!
//! Nothing is committed before QUIT: DELE marks, RETR remembers, and only the UPDATE
//! state writes \Seen, the deleted keyword or the expunge. A client that disconnects
//! without QUIT changes nothing (RFC 1939 section 6).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use roost_storage::auth::Authenticator;
use roost_storage::auth::sasl::{self, SaslServer, SaslStep};
use roost_storage::{FlagOp, Flags, Mailbox, MailboxName, StorageError, Store};

use crate::command::{Command, MsgNum, SaslResponse, parse_command, parse_sasl_response};
use crate::dotstuff::DotStuffer;
use crate::framer::{Frame, FrameMode, LineLimits};
use crate::response::{RespCode, Response, Uidl};
use crate::uidl_format::UidlFormat;

/// Per-server POP3 behaviour, from the `pop3:` configuration section.
#[derive(Debug, Clone)]
pub struct Pop3Settings {
    /// How UIDLs are made from UID and UIDVALIDITY.
    pub uidl_format: UidlFormat,
    /// Hide deleted messages with this keyword instead of expunging them (Dovecot's
    /// `pop3_deleted_flag`); `None` expunges.
    pub deleted_keyword: Option<String>,
    /// RETR marks the message \Seen (at QUIT) for IMAP clients.
    pub retr_sets_seen: bool,
    /// RFC 1939 exclusive maildrop lock: a second POP3 session gets `[IN-USE]`.
    pub lock_maildrop: bool,
    /// Offer APOP (a timestamp in the greeting).
    pub apop: bool,
    /// Advertised `EXPIRE` days; `None` is `NEVER`.
    pub expire_days: Option<u32>,
    /// `LOGIN-DELAY` seconds: advertised, and a user's logins closer together are refused.
    pub login_delay_secs: u64,
    /// Command and SASL line limits.
    pub limits: LineLimits,
}

impl Default for Pop3Settings {
    fn default() -> Self {
        Pop3Settings {
            uidl_format: UidlFormat::default(),
            deleted_keyword: None,
            retr_sets_seen: true,
            lock_maildrop: false,
            apop: false,
            expire_days: None,
            login_delay_secs: 0,
            limits: LineLimits::default(),
        }
    }
}

/// Decides whether a user may log in (e.g. the per user+IP connection limit); the
/// returned guard is held for the session's lifetime. `None` refuses the login.
pub type LoginGate = Arc<dyn Fn(&str) -> Option<Box<dyn Send>> + Send + Sync>;

/// In-process registry of locked maildrops, shared by all POP3 sessions of a server.
/// IMAP never looks at it, so IMAP is never blocked by POP3.
#[derive(Debug, Clone, Default)]
pub struct MaildropLocks(Arc<Mutex<HashSet<String>>>);

/// Holds one user's maildrop lock; dropping it releases the lock.
#[derive(Debug)]
pub struct MaildropLock {
    user: String,
    locks: MaildropLocks,
}

impl MaildropLocks {
    /// Locks `user`'s maildrop, or `None` when another session holds it.
    pub fn try_lock(&self, user: &str) -> Option<MaildropLock> {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(user.to_owned()).then(|| MaildropLock {
            user: user.to_owned(),
            locks: self.clone(),
        })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        let mut set = self.locks.0.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.user);
    }
}

/// When each user last logged in over POP3, for RFC 2449 LOGIN-DELAY; shared by all
/// POP3 sessions of a server.
#[derive(Debug, Clone, Default)]
pub struct LoginDelays(Arc<Mutex<HashMap<String, Instant>>>);

impl LoginDelays {
    /// Records a login of `user` now, unless the previous one is less than `delay` ago;
    /// returns false then. A zero delay always allows.
    pub fn allow(&self, user: &str, delay: Duration) -> bool {
        if delay.is_zero() {
            return true;
        }
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Forget entries that can no longer refuse anything, so the map stays small.
        map.retain(|_, t| now.duration_since(*t) < delay);
        if map.contains_key(user) {
            return false;
        }
        map.insert(user.to_owned(), now);
        true
    }
}

/// Everything one connection's session needs.
pub struct Pop3Context {
    /// The connection is encrypted.
    pub is_tls: bool,
    /// STLS can be offered (a cleartext listener with TLS configured).
    pub stls_available: bool,
    /// USER/PASS, PLAIN and LOGIN are allowed on this connection now.
    pub cleartext_allowed: bool,
    /// The one shared store.
    pub store: Arc<Store>,
    /// Users and passwords.
    pub auth: Arc<Authenticator>,
    /// Server-wide POP3 settings.
    pub settings: Arc<Pop3Settings>,
    /// Host name for the APOP timestamp.
    pub hostname: String,
    /// Client address, for log lines.
    pub peer: String,
    /// Maildrop locks shared by the server's POP3 sessions.
    pub locks: MaildropLocks,
    /// Last login times shared by the server's POP3 sessions.
    pub login_delays: LoginDelays,
    /// Called after a successful authentication, before the maildrop is opened.
    pub login_gate: Option<LoginGate>,
}

/// What the driver must do, in order.
#[derive(Debug)]
pub enum Output {
    /// Send these bytes.
    Write(Vec<u8>),
    /// Start the TLS handshake now (after writing what came before), dropping any
    /// input the client pipelined, then call [`Pop3Session::tls_started`].
    StartTls,
    /// Send `header`, then `file` through `stuffer` in chunks, then `stuffer.finish`.
    Stream {
        /// The message file as storage opened it.
        file: File,
        /// RETR or TOP encoder.
        stuffer: DotStuffer,
        /// The `+OK` line.
        header: Vec<u8>,
    },
    /// An authentication failed: wait the configured failure delay before the next write.
    AuthFailed,
    /// Close the connection after the writes before it.
    Close,
}

struct Msg {
    uid: u32,
    size: u64,
    uidl: Uidl,
    deleted: bool,
    retrieved: bool,
}

struct Maildrop {
    user: String,
    mailbox: Arc<Mailbox>,
    messages: Vec<Msg>,
    _lock: Option<MaildropLock>,
    _gate: Option<Box<dyn Send>>,
}

enum State {
    Authorization { user: Option<String> },
    Sasl(Box<SaslServer>),
    Transaction(Box<Maildrop>),
    Closed,
}

/// One POP3 session.
pub struct Pop3Session {
    ctx: Pop3Context,
    state: State,
    apop_timestamp: Option<String>,
    utf8: bool,
}

fn write(resp: Response) -> Output {
    Output::Write(resp.to_bytes())
}

fn err(text: &str) -> Vec<Output> {
    vec![write(Response::err(text))]
}

fn sys_temp(what: &str, e: &StorageError) -> Vec<Output> {
    tracing::error!(error = %e, "{what}");
    vec![write(Response::err_code(
        RespCode::SysTemp,
        format!("{what}; try again later."),
    ))]
}

impl Pop3Session {
    /// A session in the AUTHORIZATION state.
    pub fn new(ctx: Pop3Context) -> Pop3Session {
        let apop = ctx.settings.apop && ctx.auth.mechanisms_possible().plaintext_stored;
        let apop_timestamp = apop.then(|| sasl::challenge_timestamp(&ctx.hostname));
        Pop3Session {
            ctx,
            state: State::Authorization { user: None },
            apop_timestamp,
            utf8: false,
        }
    }

    /// The greeting line, with the APOP timestamp when APOP is offered.
    pub fn greeting(&self) -> Vec<u8> {
        let text = match &self.apop_timestamp {
            Some(ts) => format!("Roost ready. {ts}"),
            None => "Roost ready.".to_owned(),
        };
        Response::ok(text).to_bytes()
    }

    /// Which line limit applies to the next client line.
    pub fn frame_mode(&self) -> FrameMode {
        match self.state {
            State::Sasl(_) => FrameMode::Sasl,
            _ => FrameMode::Command,
        }
    }

    /// The longest line, CRLF included, the next read may return.
    pub fn max_line(&self) -> usize {
        match self.frame_mode() {
            FrameMode::Command => self.ctx.settings.limits.command,
            FrameMode::Sasl => self.ctx.settings.limits.sasl,
        }
    }

    /// Whether the client sent UTF8 (RFC 6856); user names and passwords are taken
    /// as UTF-8 either way.
    pub fn is_utf8(&self) -> bool {
        self.utf8
    }

    /// Whether a user is logged in.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Transaction(_))
    }

    /// The TLS handshake after STLS succeeded; `cleartext_allowed` is re-evaluated by
    /// the driver for the now encrypted connection.
    pub fn tls_started(&mut self, cleartext_allowed: bool) {
        self.ctx.is_tls = true;
        self.ctx.cleartext_allowed = cleartext_allowed;
    }

    /// Handles one client line.
    pub fn handle(&mut self, frame: Frame) -> Vec<Output> {
        if let State::Sasl(_) = self.state {
            return self.sasl_line(frame);
        }
        let line = match frame {
            Frame::Line(line) => line,
            Frame::TooLong => return err("Line too long."),
        };
        let cmd = match parse_command(&line) {
            Ok(cmd) => cmd,
            Err(e) => return vec![write(e.to_response())],
        };
        match (&self.state, cmd) {
            (_, Command::Capa) => vec![write(Response::multi_line("", self.capabilities()))],
            (State::Transaction(_), Command::Quit) => self.update(),
            (_, Command::Quit) => {
                self.state = State::Closed;
                vec![write(Response::ok("Logging out.")), Output::Close]
            }
            (_, Command::Noop) => vec![write(Response::ok(""))],
            (State::Authorization { .. }, cmd) => self.authorization(cmd),
            (State::Transaction(_), cmd) => self.transaction(cmd),
            (State::Sasl(_) | State::Closed, _) => vec![Output::Close],
        }
    }

    fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if self.ctx.cleartext_allowed {
            caps.push("USER".to_owned());
        }
        let mechs = sasl::mechanisms(&self.ctx.auth, self.ctx.cleartext_allowed);
        if !mechs.is_empty() {
            caps.push(format!("SASL {}", mechs.join(" ")));
        }
        if self.ctx.stls_available && !self.ctx.is_tls {
            caps.push("STLS".to_owned());
        }
        caps.push("UTF8".to_owned());
        caps.push(match self.ctx.settings.expire_days {
            None => "EXPIRE NEVER".to_owned(),
            Some(d) => format!("EXPIRE {d}"),
        });
        caps.push(format!(
            "LOGIN-DELAY {}",
            self.ctx.settings.login_delay_secs
        ));
        caps.push("IMPLEMENTATION Roost".to_owned());
        caps
    }

    fn cleartext_refused() -> Vec<Output> {
        vec![write(Response::err_code(
            RespCode::Auth,
            "Plaintext authentication disallowed on non-secure connections.",
        ))]
    }

    fn authorization(&mut self, cmd: Command) -> Vec<Output> {
        match cmd {
            Command::User(name) => {
                if !self.ctx.cleartext_allowed {
                    return Self::cleartext_refused();
                }
                if self.ctx.auth.is_empty() {
                    return vec![write(Response::err_code(
                        RespCode::Auth,
                        "No users are configured.",
                    ))];
                }
                self.state = State::Authorization { user: Some(name) };
                vec![write(Response::ok(""))]
            }
            Command::Pass(pass) => {
                let State::Authorization { user } = &mut self.state else {
                    return err("Unexpected PASS.");
                };
                let Some(user) = user.take() else {
                    return err("No USER given.");
                };
                if !self.ctx.cleartext_allowed {
                    return Self::cleartext_refused();
                }
                let step = match self.ctx.auth.verify(&user, pass.expose()) {
                    roost_storage::auth::AuthOutcome::Ok(e) => SaslStep::Success { user: e.name },
                    roost_storage::auth::AuthOutcome::Failed => SaslStep::Failure,
                    roost_storage::auth::AuthOutcome::TempFail(_) => SaslStep::TempFailure,
                };
                self.auth_result(step, "USER", Some(&user))
            }
            Command::Apop { name, digest } => match self.apop_timestamp.clone() {
                None => err("APOP is not enabled."),
                Some(ts) => {
                    let step = sasl::apop_verify(&self.ctx.auth, &name, &ts, &digest);
                    self.auth_result(step, "APOP", Some(&name))
                }
            },
            Command::AuthList => {
                let mechs = sasl::mechanisms(&self.ctx.auth, self.ctx.cleartext_allowed);
                let lines = mechs.iter().map(|m| (*m).to_owned()).collect();
                vec![write(Response::multi_line("", lines))]
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                let offered = sasl::mechanisms(&self.ctx.auth, self.ctx.cleartext_allowed);
                if !offered.contains(&mechanism.as_str()) {
                    if matches!(mechanism.as_str(), "PLAIN" | "LOGIN") {
                        return Self::cleartext_refused();
                    }
                    return err("Unsupported authentication mechanism.");
                }
                let mut server = match SaslServer::start(
                    mechanism.as_str(),
                    &self.ctx.auth,
                    self.ctx.cleartext_allowed,
                ) {
                    Ok(s) => s,
                    Err(e) => return err(&format!("{e}.")),
                };
                let step = server.step(initial_response.as_ref().map(|d| d.expose().as_slice()));
                self.sasl_step(Box::new(server), step)
            }
            Command::Stls if self.ctx.is_tls => err("TLS is already active."),
            Command::Stls if !self.ctx.stls_available => err("STLS is not available."),
            Command::Stls => vec![
                write(Response::ok("Begin TLS negotiation now.")),
                Output::StartTls,
            ],
            Command::Utf8 => {
                self.utf8 = true;
                vec![write(Response::ok("UTF8 enabled."))]
            }
            _ => err("Not logged in yet."),
        }
    }

    fn sasl_line(&mut self, frame: Frame) -> Vec<Output> {
        let State::Sasl(server) = std::mem::replace(&mut self.state, State::Closed) else {
            return vec![Output::Close];
        };
        self.state = State::Authorization { user: None };
        let line = match frame {
            Frame::Line(line) => line,
            Frame::TooLong => return err("Authentication line too long."),
        };
        match parse_sasl_response(&line) {
            Ok(SaslResponse::Cancel) => err("Authentication cancelled."),
            Ok(SaslResponse::Data(data)) => {
                let mut server = server;
                let step = server.step(Some(data.expose()));
                self.sasl_step(server, step)
            }
            Err(e) => vec![write(e.to_response())],
        }
    }

    fn sasl_step(&mut self, server: Box<SaslServer>, step: SaslStep) -> Vec<Output> {
        let mech = server.mechanism();
        match step {
            SaslStep::Challenge(data) => {
                self.state = State::Sasl(server);
                vec![write(Response::sasl_challenge(&data))]
            }
            other => self.auth_result(other, mech, None),
        }
    }

    fn auth_result(&mut self, step: SaslStep, mech: &str, tried: Option<&str>) -> Vec<Output> {
        let tls = self.ctx.is_tls;
        let peer = self.ctx.peer.as_str();
        match step {
            SaslStep::Success { user } => self.login(user, mech),
            SaslStep::TempFailure => {
                tracing::warn!(
                    user = tried,
                    peer,
                    mechanism = mech,
                    tls,
                    "login failed: temporary"
                );
                vec![write(Response::err_code(
                    RespCode::SysTemp,
                    "Authentication is temporarily unavailable.",
                ))]
            }
            SaslStep::Failure | SaslStep::Challenge(_) => {
                tracing::info!(user = tried, peer, mechanism = mech, tls, "login failed");
                vec![
                    Output::AuthFailed,
                    write(Response::err_code(RespCode::Auth, "Authentication failed.")),
                ]
            }
        }
    }

    /// After the credentials are right: limits, lock, first-login setup, snapshot.
    fn login(&mut self, user: String, mech: &str) -> Vec<Output> {
        let tls = self.ctx.is_tls;
        let gate = match &self.ctx.login_gate {
            None => None,
            Some(gate) => match gate(&user) {
                Some(g) => Some(g),
                None => {
                    tracing::info!(user, peer = self.ctx.peer, "too many connections");
                    return vec![write(Response::err_code(
                        RespCode::InUse,
                        "Too many connections for this user from this address.",
                    ))];
                }
            },
        };
        let delay = Duration::from_secs(self.ctx.settings.login_delay_secs);
        if !self.ctx.login_delays.allow(&user, delay) {
            return vec![write(Response::err_code(
                RespCode::LoginDelay,
                format!("Wait {} seconds between logins.", delay.as_secs()),
            ))];
        }
        let lock = if self.ctx.settings.lock_maildrop {
            match self.ctx.locks.try_lock(&user) {
                Some(l) => Some(l),
                None => {
                    return vec![write(Response::err_code(
                        RespCode::InUse,
                        "Mailbox is locked by another POP3 session.",
                    ))];
                }
            }
        } else {
            None
        };
        let maildrop = match self.open_maildrop(&user) {
            Ok(m) => m,
            Err(e) => return sys_temp("Cannot open the mailbox", &e),
        };
        tracing::info!(
            user,
            peer = self.ctx.peer,
            mechanism = mech,
            tls,
            messages = maildrop.len(),
            "login"
        );
        let count = maildrop.len();
        self.state = State::Transaction(Box::new(Maildrop {
            user,
            mailbox: maildrop.mailbox,
            messages: maildrop.messages,
            _lock: lock,
            _gate: gate,
        }));
        vec![write(Response::ok(format!("Logged in, {count} messages.")))]
    }

    fn open_maildrop(&self, user: &str) -> Result<Opened, StorageError> {
        let us = self.ctx.store.user(user)?;
        us.ensure_special_use()?;
        let inbox = MailboxName::new("INBOX")?;
        let mailbox = us.open(&inbox)?;
        let snap = mailbox.snapshot()?;
        let hidden = self.ctx.settings.deleted_keyword.as_deref().and_then(|kw| {
            mailbox
                .keyword_names()
                .iter()
                .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(kw)))
        });
        let visible: Vec<_> = snap
            .messages
            .into_iter()
            .filter(|m| hidden.is_none_or(|i| !m.keywords.contains(i)))
            .collect();
        // Only messages whose size is neither in the file name nor cached are read.
        let unknown: Vec<u32> = visible
            .iter()
            .filter(|m| m.vsize.is_none())
            .map(|m| m.uid)
            .collect();
        let computed = if unknown.is_empty() {
            Vec::new()
        } else {
            mailbox.vsizes(&unknown)?
        };
        let mut computed = unknown.into_iter().zip(computed);
        let mut messages = Vec::with_capacity(visible.len());
        for m in visible {
            let size = match m.vsize {
                Some(v) => v,
                None => match computed.next() {
                    Some((_, Some(v))) => v,
                    // Expunged between snapshot and sizing: leave it out.
                    _ => continue,
                },
            };
            let uidl = m
                .pop3_uidl
                .as_deref()
                .and_then(|u| Uidl::try_from(u).ok())
                .unwrap_or_else(|| self.ctx.settings.uidl_format.uidl(m.uid, snap.uid_validity));
            messages.push(Msg {
                uid: m.uid,
                size,
                uidl,
                deleted: false,
                retrieved: false,
            });
        }
        Ok(Opened { mailbox, messages })
    }

    fn transaction(&mut self, cmd: Command) -> Vec<Output> {
        let State::Transaction(drop) = &mut self.state else {
            return vec![Output::Close];
        };
        match cmd {
            Command::Stat => {
                let live = drop.messages.iter().filter(|m| !m.deleted);
                let (n, size) = live.fold((0u32, 0u64), |(n, s), m| (n + 1, s + m.size));
                vec![write(Response::stat(n, size))]
            }
            Command::List(None) => {
                let entries: Vec<(MsgNum, u64)> =
                    numbered(&drop.messages).map(|(n, m)| (n, m.size)).collect();
                vec![write(Response::scan_listings(&entries))]
            }
            Command::List(Some(n)) => match lookup(&drop.messages, n) {
                Ok(m) => vec![write(Response::scan_listing(n, m.size))],
                Err(out) => out,
            },
            Command::Uidl(None) => {
                let entries: Vec<(MsgNum, Uidl)> = numbered(&drop.messages)
                    .map(|(n, m)| (n, m.uidl.clone()))
                    .collect();
                vec![write(Response::unique_id_listings(&entries))]
            }
            Command::Uidl(Some(n)) => match lookup(&drop.messages, n) {
                Ok(m) => vec![write(Response::unique_id_listing(n, &m.uidl))],
                Err(out) => out,
            },
            Command::Retr(n) => {
                let size = match lookup(&drop.messages, n) {
                    Ok(m) => m.size,
                    Err(out) => return out,
                };
                let header = Response::ok(format!("{size} octets")).to_bytes();
                let out = stream(drop, n, DotStuffer::retr(), header);
                if matches!(out.first(), Some(Output::Stream { .. })) {
                    drop.messages[n.index()].retrieved = true;
                }
                out
            }
            Command::Top { msg, lines } => {
                if let Err(out) = lookup(&drop.messages, msg) {
                    return out;
                }
                let header = Response::ok("").to_bytes();
                stream(drop, msg, DotStuffer::top(lines), header)
            }
            Command::Dele(n) => {
                let uid = match lookup(&drop.messages, n) {
                    Ok(m) => m.uid,
                    Err(out) => return out,
                };
                match drop.mailbox.open_message(uid) {
                    Ok(Some(_)) => {
                        drop.messages[n.index()].deleted = true;
                        vec![write(Response::ok(format!("Message {n} deleted.")))]
                    }
                    Ok(None) => expunged(n),
                    Err(e) => sys_temp("Cannot read the mailbox", &e),
                }
            }
            Command::Rset => {
                for m in &mut drop.messages {
                    m.deleted = false;
                }
                let n = drop.messages.len();
                vec![write(Response::ok(format!("{n} messages.")))]
            }
            Command::Utf8 => err("UTF8 is only allowed before login."),
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop { .. }
            | Command::Auth { .. }
            | Command::AuthList => err("Already logged in."),
            Command::Stls => err("STLS is only allowed before login."),
            Command::Capa | Command::Quit | Command::Noop => {
                vec![write(Response::err("Unexpected command."))]
            }
        }
    }

    /// The UPDATE state (RFC 1939 section 6): commit \Seen, then remove what DELE marked.
    fn update(&mut self) -> Vec<Output> {
        let State::Transaction(drop) = std::mem::replace(&mut self.state, State::Closed) else {
            return vec![Output::Close];
        };
        let settings = &self.ctx.settings;
        let deleted: Vec<u32> = drop
            .messages
            .iter()
            .filter(|m| m.deleted)
            .map(|m| m.uid)
            .collect();
        let seen: Vec<u32> = drop
            .messages
            .iter()
            .filter(|m| m.retrieved && !m.deleted)
            .map(|m| m.uid)
            .collect();
        let mut result = Ok(());
        if settings.retr_sets_seen && !seen.is_empty() {
            result = drop
                .mailbox
                .store(&seen, FlagOp::Add, Flags::SEEN, &[], None)
                .map(|_| ());
        }
        if result.is_ok() && !deleted.is_empty() {
            result = match &settings.deleted_keyword {
                Some(kw) => drop
                    .mailbox
                    .store(
                        &deleted,
                        FlagOp::Add,
                        Flags::EMPTY,
                        std::slice::from_ref(kw),
                        None,
                    )
                    .map(|_| ()),
                None => drop.mailbox.expunge(&deleted).map(|_| ()),
            };
        }
        match result {
            Ok(()) => {
                tracing::info!(user = drop.user, deleted = deleted.len(), "logout");
                let left = drop.messages.len() - deleted.len();
                vec![
                    write(Response::ok(format!(
                        "Logging out, {} deleted, {left} left.",
                        deleted.len()
                    ))),
                    Output::Close,
                ]
            }
            Err(e) => {
                tracing::error!(user = drop.user, error = %e, "POP3 update failed");
                vec![
                    write(Response::err_code(
                        RespCode::SysTemp,
                        "Some deleted messages were not removed.",
                    )),
                    Output::Close,
                ]
            }
        }
    }
}

struct Opened {
    mailbox: Arc<Mailbox>,
    messages: Vec<Msg>,
}

impl Opened {
    fn len(&self) -> usize {
        self.messages.len()
    }
}

fn numbered(messages: &[Msg]) -> impl Iterator<Item = (MsgNum, &Msg)> {
    messages.iter().enumerate().filter_map(|(i, m)| {
        let n = u32::try_from(i + 1)
            .ok()
            .and_then(|n| MsgNum::try_from(n).ok())?;
        (!m.deleted).then_some((n, m))
    })
}

fn lookup(messages: &[Msg], n: MsgNum) -> Result<&Msg, Vec<Output>> {
    match messages.get(n.index()) {
        None => Err(err("No such message.")),
        Some(m) if m.deleted => Err(err("Message is deleted.")),
        Some(m) => Ok(m),
    }
}

fn expunged(n: MsgNum) -> Vec<Output> {
    err(&format!("Message {n} was deleted by another session."))
}

fn stream(drop: &Maildrop, n: MsgNum, stuffer: DotStuffer, header: Vec<u8>) -> Vec<Output> {
    let uid = drop.messages[n.index()].uid;
    match drop.mailbox.open_message(uid) {
        Ok(Some((file, _))) => vec![Output::Stream {
            file,
            stuffer,
            header,
        }],
        Ok(None) => expunged(n),
        Err(e) => sys_temp("Cannot read the message", &e),
    }
}
