//! The POP3 session state machine (RFC 1939 states, RFC 2449 CAPA, RFC 5034 AUTH,
//! RFC 2595 STLS, RFC 6856 UTF8): frames in, [`Output`]s out, no sockets.
//!
//! The session talks to storage directly (blocking file I/O), so the driver runs
//! [`Pop3Session::handle`] on a blocking thread, except for what
//! [`Pop3Session::try_handle_nowait`] can answer without waiting (`nowait.rs`). Message bodies are never read here:
//! RETR and TOP hand the driver the open `File` storage gave us, and the driver
//! streams it through the [`DotStuffer`].
//!
//! Nothing is committed before QUIT: DELE marks, RETR remembers, and only the UPDATE
//! state writes \Seen, the deleted keyword or the expunge. A client that disconnects
//! without QUIT changes nothing (RFC 1939 section 6).
//!
//! One dispatch point ([`Pop3Session::handle`]); the commands of each state live in
//! `authorization.rs`, `transaction.rs` and `update.rs`.

use std::fs::File;
use std::sync::Arc;

use roost_storage::auth::Authenticator;
use roost_storage::auth::sasl::{self, SaslServer};
use roost_storage::{Mailbox, StorageError, Store};

use crate::command::{Command, parse_command};
use crate::dotstuff::DotStuffer;
use crate::framer::{Frame, FrameMode, LineLimits};
use crate::response::{RespCode, Response, Uidl};
use crate::uidl_format::UidlFormat;

mod authorization;
mod nowait;
mod shared;
mod transaction;
mod update;

pub use shared::{LoginDelays, LoginGate, MaildropLock, MaildropLocks};

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
    /// No authentication of any kind before TLS (`auth.require_tls`).
    pub require_tls: bool,
    /// Refusal text for a user whose `protocols=` field leaves POP3 out (`{protocol}`
    /// is replaced by `POP3`).
    pub protocol_denied_message: String,
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
            require_tls: false,
            protocol_denied_message: roost_storage::auth::policy::DEFAULT_DENIED_MESSAGE.into(),
        }
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
    /// Carries the user name tried, when the client named one, for the per-user penalty.
    AuthFailed(Option<String>),
    /// Close the connection after the writes before it.
    Close,
    /// A user logged in (for the driver's login record; nothing to send).
    LoggedIn {
        /// The authenticated user.
        user: String,
        /// How: `LOGIN`, `USER`, `APOP` or the SASL mechanism.
        mechanism: String,
    },
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

pub(super) fn write(resp: Response) -> Output {
    Output::Write(resp.to_bytes())
}

fn err(text: &str) -> Vec<Output> {
    vec![write(Response::err(text))]
}

/// The one mapping of storage failures to POP3 (RFC 3206): `[SYS/TEMP]` for what may work
/// later (a full disk, a busy lock, I/O), `[SYS/PERM]` for what will not.
fn storage_failure(what: &str, e: &StorageError) -> Vec<Output> {
    tracing::error!(error = %e, "{what}");
    let resp = if e.is_temporary() {
        Response::err_code(RespCode::SysTemp, format!("{what}; try again later."))
    } else {
        Response::err_code(
            RespCode::SysPerm,
            format!("{what}; this needs the administrator."),
        )
    };
    vec![write(resp)]
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

    /// The logged-in user's name (the driver's transcript needs it).
    pub fn user_name(&self) -> Option<&str> {
        match &self.state {
            State::Transaction(drop) => Some(drop.user.as_str()),
            _ => None,
        }
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
        if self.ctx.cleartext_allowed && !self.tls_missing() {
            caps.push("USER".to_owned());
        }
        let mut mechs = sasl::mechanisms(&self.ctx.auth, self.ctx.cleartext_allowed);
        if self.tls_missing() {
            mechs.clear();
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: Vec<Output>) -> String {
        match out.as_slice() {
            [Output::Write(b)] => String::from_utf8_lossy(b).into_owned(),
            _ => panic!("one write expected"),
        }
    }

    #[test]
    fn storage_failures_are_sys_temp_or_sys_perm() {
        let temp = text(storage_failure(
            "Cannot open the mailbox",
            &StorageError::NoSpace,
        ));
        assert_eq!(
            temp,
            "-ERR [SYS/TEMP] Cannot open the mailbox; try again later.\r\n"
        );
        let perm = text(storage_failure(
            "Cannot open the mailbox",
            &StorageError::NotAllowed("user name cannot be a path".into()),
        ));
        assert_eq!(
            perm,
            "-ERR [SYS/PERM] Cannot open the mailbox; this needs the administrator.\r\n"
        );
    }
}
