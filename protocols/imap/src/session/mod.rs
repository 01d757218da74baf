//! The IMAP session state machine (RFC 3501 and RFC 9051 states): bytes in, [`Output`]s
//! out, no sockets.
//!
//! The session talks to storage directly (blocking file I/O), so the driver runs
//! [`ImapSession::feed`] on a blocking thread. One dispatch point ([`ImapSession::command`]);
//! the commands live in one file per group; errors become wire answers in `error.rs` only.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use roost_storage::auth::Authenticator;
use roost_storage::auth::sasl::SaslServer;
use roost_storage::{MailboxName, Store, TmpWriter, UserStore};
use tokio::sync::watch;

use crate::command::{CommandBody, CommandErrorKind, ParserLimits};
use crate::framing::FramingLimits;
use crate::reader::{Command, CommandReader, Input};
use crate::response::{Code, Data, Encoder, Response, StatusKind, Text};
use crate::types::{Atom, Capability, Flag, Tag};
use crate::view::{Update, View};

mod append;
mod auth;
mod catenate;
mod compress;
mod condstore;
mod context;
mod error;
mod list;
mod mailboxes;
mod messages;
mod metadata;
mod notify;
mod progress;
mod quota;
mod select;
mod sort;
mod special_use;
mod stats;
mod stream;
mod uid_only;

pub use condstore::{MAX_ID_FIELDS, MAX_ID_VALUE};
pub use error::CmdError;
pub use progress::ProgressSink;
pub use stats::CommandStat;
pub use stream::{BodyFile, BodyStream};

/// Decides whether a user may log in (the per user+IP connection limit); the guard is held
/// for the session's lifetime. `None` refuses the login.
pub type LoginGate = Arc<dyn Fn(&str) -> Option<Box<dyn Send>> + Send + Sync>;

/// Server-wide IMAP settings, from the `imap:` and `limits:` configuration.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    /// Line and literal framing limits.
    pub framing: FramingLimits,
    /// Parser limits (nesting depth, set items).
    pub parser: ParserLimits,
    /// Largest APPEND message (`NO [TOOBIG]` above it).
    pub max_append_size: u64,
    /// Whole-message FETCH bodies of at least this many octets are streamed from the file
    /// ([`Output::Stream`]) instead of built in memory.
    pub stream_body_from: u64,
    /// Input one connection may hold in memory (unconsumed bytes plus the command being
    /// assembled); above it the session answers `* BAD [LIMIT]` and closes.
    pub max_connection_memory: usize,
    /// No authentication of any kind before TLS (`auth.require_tls`).
    pub require_tls: bool,
    /// Refusal text for a user whose `protocols=` field leaves IMAP out (`{protocol}`
    /// is replaced by `IMAP`).
    pub protocol_denied_message: String,
    /// Largest METADATA value (`NO [METADATA MAXSIZE n]` above it).
    pub metadata_max_size: usize,
    /// Most METADATA entries per user (`NO [METADATA TOOMANY]` beyond it).
    pub metadata_max_entries: usize,
    /// Most mailboxes one NOTIFY SET may watch (`NO [LIMIT]` beyond it).
    pub notify_max_mailboxes: usize,
    /// Most live SEARCH/SORT `RETURN (UPDATE)` results per session (`NO [NOUPDATE]` beyond).
    pub max_search_contexts: usize,
    /// A command running this long starts sending `* OK [INPROGRESS ...]` (RFC 9585).
    pub inprogress_after: std::time::Duration,
    /// Time between two INPROGRESS responses of one command.
    pub inprogress_interval: std::time::Duration,
}

impl Default for ImapSettings {
    fn default() -> Self {
        ImapSettings {
            framing: FramingLimits {
                // APPEND literals are streamed and checked against max_append_size with a
                // tagged answer, so the framer only enforces the protocol's 32-bit bound.
                max_literal_len: u64::from(u32::MAX),
                ..FramingLimits::default()
            },
            parser: ParserLimits::default(),
            max_append_size: 50 * 1024 * 1024,
            // Below this one buffered write is cheaper than a file copy; above it a
            // message would cost its size in memory per FETCH.
            stream_body_from: 1024 * 1024,
            max_connection_memory: compress::DEFAULT_MAX_CONNECTION_MEMORY,
            require_tls: false,
            protocol_denied_message: roost_storage::auth::policy::DEFAULT_DENIED_MESSAGE.into(),
            // Room for a long comment or a client's settings blob; Dovecot has no limit.
            metadata_max_size: 64 * 1024,
            // Far more than any client sets; bounds the per-user file.
            metadata_max_entries: 1000,
            // A large folder tree; each watched mailbox stays open with its inotify watch.
            notify_max_mailboxes: 1000,
            // Each context re-runs its search when the mailbox changes; a client window
            // shows a handful of views at once.
            max_search_contexts: 10,
            // RFC 9585 suggests a few seconds before the first, then every few seconds.
            inprogress_after: std::time::Duration::from_secs(1),
            inprogress_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// Everything one connection's session needs.
pub struct ImapContext {
    /// The connection is encrypted.
    pub is_tls: bool,
    /// STARTTLS can be offered (a cleartext listener with TLS configured).
    pub starttls_available: bool,
    /// LOGIN and PLAIN/LOGIN SASL are allowed on this connection now.
    pub cleartext_allowed: bool,
    /// The one shared store.
    pub store: Arc<Store>,
    /// Users and passwords.
    pub auth: Arc<Authenticator>,
    /// Server-wide settings.
    pub settings: Arc<ImapSettings>,
    /// Client address, for log lines.
    pub peer: String,
    /// Called after a successful authentication, before the user's mail is touched.
    pub login_gate: Option<LoginGate>,
}

/// What the driver must do, in order.
#[derive(Debug)]
pub enum Output {
    /// Send these bytes.
    Write(Vec<u8>),
    /// Start the TLS handshake now (after the writes before it), then call
    /// [`ImapSession::tls_started`]. Input pipelined after STARTTLS was already dropped.
    StartTls,
    /// Copy this message file into the literal whose header was just written, converted
    /// by [`BodyStream`] (after the writes before it, before the ones after it).
    Stream(BodyFile),
    /// An authentication failed: wait the failure delay before the next write. Carries
    /// the user name tried, when the client named one, for the per-user penalty.
    AuthFailed(Option<String>),
    /// Compress both directions with raw DEFLATE from now on (after the writes before it).
    /// `pipelined` is what the client sent after the COMPRESS line: already compressed.
    StartCompress {
        /// Compressed input to inflate before anything read later.
        pipelined: Vec<u8>,
    },
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

/// An APPEND whose message is being streamed.
struct Append {
    tag: Tag,
    name: MailboxName,
    mailbox: Arc<roost_storage::Mailbox>,
    writer: Option<TmpWriter>,
    flags: Vec<Flag>,
    date: Option<i64>,
    /// The first write error; the rest of the literal is drained.
    failed: Option<std::io::Error>,
    /// MULTIAPPEND: the messages before this one, committed together with it.
    done: Vec<roost_storage::NewMessage>,
    /// REPLACE: the UID in the selected mailbox expunged once the new message is in.
    replace: Option<u32>,
}

enum Mode {
    Commands,
    Sasl { tag: Tag, server: Box<SaslServer> },
    Idle { tag: Tag },
    Append(Box<Append>),
}

/// The logged-in user and the selected mailbox.
struct User {
    name: String,
    store: UserStore,
    selected: Option<View>,
    /// SEARCHRES `$`, as UIDs.
    saved: Option<Vec<u32>>,
    _gate: Option<Box<dyn Send>>,
}

/// One IMAP session.
pub struct ImapSession {
    ctx: ImapContext,
    reader: CommandReader,
    user: Option<Box<User>>,
    mode: Mode,
    /// ENABLE IMAP4rev2: UTF-8 names, no \Recent, ESEARCH answers.
    rev2: bool,
    /// ENABLE UTF8=ACCEPT (RFC 6855): UTF-8 mailbox names and quoted strings, no CHARSET.
    utf8_accept: bool,
    /// ENABLE UIDONLY (RFC 9586): no sequence numbers in commands or responses.
    uid_only: bool,
    /// A CONDSTORE enabling command was seen (RFC 7162 3.1): MODSEQ in flag FETCHes.
    condstore: bool,
    /// ENABLE QRESYNC: VANISHED instead of EXPUNGE, QRESYNC SELECT allowed.
    qresync: bool,
    /// The client's ID fields, as logged.
    client_id: Option<String>,
    out: Vec<Output>,
    logged_out: bool,
    /// Set while idling: the driver waits on it for changes.
    idle_watch: Option<watch::Receiver<u64>>,
    /// Commands handled and their times, for the driver's metrics.
    stats: stats::Stats,
    /// COMPRESS=DEFLATE is active.
    compressed: bool,
    /// NOTIFY SET: the watched mailboxes and what was last reported about them.
    notify: Option<Box<notify::NotifyState>>,
    /// CONTEXT=SEARCH/SORT: the results kept up to date (RFC 5267 section 4).
    contexts: context::Contexts,
    /// Where INPROGRESS lines go while a command runs.
    progress_sink: Option<ProgressSink>,
    /// The tag of the command running, for INPROGRESS.
    current_tag: Option<Tag>,
}

/// How a command ended when it did not fail.
pub(crate) enum Done {
    /// `tag OK [code] text`
    Ok(Option<Code>, String),
    /// The command continues (IDLE, AUTHENTICATE, APPEND): no tagged answer yet.
    Pending,
}

pub(crate) type CmdResult = Result<Done, CmdError>;

pub(crate) fn ok(text: &str) -> CmdResult {
    Ok(Done::Ok(None, text.to_string()))
}

/// Owned copy of a reader input, so the reader is free while the command runs.
enum Event {
    Command(Command),
    Continue,
    AppendDone,
    AppendNext(crate::command::AppendNext),
    AppendTail(crate::command::AppendTail),
    Line(Vec<u8>),
    Bad(crate::command::CommandError),
    Framing(crate::framing::FramingError),
}

impl ImapSession {
    /// A session in the not-authenticated state.
    pub fn new(ctx: ImapContext) -> ImapSession {
        let reader = CommandReader::new(ctx.settings.framing, ctx.settings.parser);
        ImapSession {
            ctx,
            reader,
            user: None,
            mode: Mode::Commands,
            rev2: false,
            utf8_accept: false,
            uid_only: false,
            condstore: false,
            qresync: false,
            client_id: None,
            out: Vec::new(),
            logged_out: false,
            idle_watch: None,
            stats: stats::Stats::default(),
            compressed: false,
            notify: None,
            contexts: context::Contexts::default(),
            progress_sink: None,
            current_tag: None,
        }
    }

    /// The greeting, with the capabilities.
    pub fn greeting(&self) -> Vec<u8> {
        self.encoder().to_bytes(&Response::Untagged {
            kind: StatusKind::Ok,
            code: Some(Code::Capability(self.capabilities())),
            text: Text::sanitized("Roost ready."),
        })
    }

    /// Whether a user is logged in (the driver picks the longer timeout then).
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some()
    }

    /// The logged-in user's name (the driver's transcript needs it).
    pub fn user_name(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.name.as_str())
    }

    /// Whether the session is in IDLE.
    pub fn is_idling(&self) -> bool {
        matches!(self.mode, Mode::Idle { .. })
    }

    /// The change notifications to wait on while idling (taken once per IDLE).
    pub fn take_idle_watch(&mut self) -> Option<watch::Receiver<u64>> {
        self.idle_watch.take()
    }

    /// The TLS handshake after STARTTLS succeeded.
    pub fn tls_started(&mut self, cleartext_allowed: bool) {
        self.ctx.is_tls = true;
        self.ctx.cleartext_allowed = cleartext_allowed;
    }

    /// `* BYE` for a server shutdown or an idle timeout.
    pub fn bye(&self, text: &str) -> Vec<u8> {
        self.encoder().to_bytes(&Response::Bye {
            code: None,
            text: Text::sanitized(text),
        })
    }

    /// The keepalive sent during IDLE so NAT gateways keep the connection.
    pub fn keepalive(&self) -> Vec<u8> {
        b"* OK Still here\r\n".to_vec()
    }

    fn encoder(&self) -> Encoder {
        Encoder {
            utf8: self.utf8_names(),
        }
    }

    pub(crate) fn send(&mut self, r: Response) {
        let r = self.uid_only_form(r);
        let bytes = self.encoder().to_bytes(&r);
        self.write(bytes);
    }

    pub(crate) fn write(&mut self, bytes: Vec<u8>) {
        if let Some(Output::Write(last)) = self.out.last_mut() {
            last.extend_from_slice(&bytes);
        } else {
            self.out.push(Output::Write(bytes));
        }
    }

    pub(crate) fn data(&mut self, d: Data) {
        self.send(Response::Data(d));
    }

    pub(crate) fn untagged_ok(&mut self, code: Option<Code>, text: &str) {
        self.send(Response::Untagged {
            kind: StatusKind::Ok,
            code,
            text: Text::sanitized(text),
        });
    }

    /// Handles received bytes: every complete command in them, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Output> {
        self.reader.push(bytes);
        self.check_memory();
        while !self.logged_out {
            let event = match self.reader.next_input() {
                None => break,
                Some(Input::AppendData(data)) => {
                    if let Mode::Append(a) = &mut self.mode
                        && a.failed.is_none()
                        && let Some(w) = a.writer.as_mut()
                        && let Err(e) = std::io::Write::write_all(w, data)
                    {
                        a.failed = Some(e);
                    }
                    continue;
                }
                Some(Input::Command(c)) => Event::Command(c),
                Some(Input::SendContinuation) => Event::Continue,
                Some(Input::AppendDone) => Event::AppendDone,
                Some(Input::AppendNext(n)) => Event::AppendNext(n),
                Some(Input::AppendTail(t)) => Event::AppendTail(t),
                Some(Input::Line(l)) => Event::Line(l.to_vec()),
                Some(Input::Bad(e)) => Event::Bad(e),
                Some(Input::Framing(e)) => Event::Framing(e),
            };
            match event {
                Event::Command(c) => {
                    let starttls = matches!(c.body, CommandBody::StartTls);
                    let clock = self.stats.begin(&c.body);
                    self.command(c);
                    self.stats.end(clock);
                    if let Some(Output::StartCompress { pipelined }) = self.out.last_mut() {
                        *pipelined = self.reader.take_buffered();
                        break;
                    }
                    if starttls && matches!(self.out.last(), Some(Output::StartTls)) {
                        // Anything pipelined after STARTTLS could have been injected by a
                        // man in the middle (CVE-2011-0411): drop it.
                        self.reader =
                            CommandReader::new(self.ctx.settings.framing, self.ctx.settings.parser);
                        break;
                    }
                }
                Event::Continue => self.send(Response::Continue(Text::sanitized("Ready"))),
                Event::AppendDone => self.append_done(),
                Event::AppendNext(n) => self.append_next(n),
                Event::AppendTail(t) => self.append_tail(t),
                Event::Line(l) => self.line(l),
                Event::Bad(mut e) => {
                    self.stats.refused();
                    if let Mode::Append(a) = std::mem::replace(&mut self.mode, Mode::Commands) {
                        // The literal ended but the command line did not: the APPEND fails
                        // as a whole and its upload is dropped.
                        e.tag = Some(a.tag.clone());
                    }
                    let text = Text::sanitized(&e.message);
                    let code =
                        matches!(e.kind, CommandErrorKind::LiteralTooBig).then_some(Code::TooBig);
                    let r = match e.tag {
                        Some(tag) => Response::Tagged {
                            tag,
                            kind: StatusKind::Bad,
                            code,
                            text,
                        },
                        None => Response::Untagged {
                            kind: StatusKind::Bad,
                            code,
                            text,
                        },
                    };
                    self.send(r);
                }
                Event::Framing(e) => {
                    // A pending AUTHENTICATE or IDLE ends with this error, tagged.
                    let pending = match std::mem::replace(&mut self.mode, Mode::Commands) {
                        Mode::Sasl { tag, .. } => Some((tag, "AUTHENTICATE")),
                        Mode::Idle { tag } => Some((tag, "IDLE")),
                        Mode::Append(_) | Mode::Commands => None,
                    };
                    if let Some((tag, name)) = pending {
                        self.reader.set_line_mode(false);
                        self.idle_watch = None;
                        self.finish(tag, name, Err(CmdError::Bad(e.to_string())));
                        continue;
                    }
                    if e.is_fatal() || self.reader.is_dead() {
                        let bye = self.bye(&format!("{e}; closing"));
                        self.write(bye);
                        self.out.push(Output::Close);
                        self.logged_out = true;
                    } else {
                        self.send(Response::Untagged {
                            kind: StatusKind::Bad,
                            code: None,
                            text: Text::sanitized(&e.to_string()),
                        });
                    }
                }
            }
            self.check_memory();
        }
        std::mem::take(&mut self.out)
    }

    /// A line in line mode: a SASL response or IDLE's DONE.
    fn line(&mut self, line: Vec<u8>) {
        match std::mem::replace(&mut self.mode, Mode::Commands) {
            Mode::Sasl { tag, server } => {
                self.reader.set_line_mode(false);
                let result = self.sasl_response(&tag, server, &line);
                self.finish(tag, "AUTHENTICATE", result);
            }
            Mode::Idle { tag } => {
                self.reader.set_line_mode(false);
                self.idle_watch = None;
                if line.eq_ignore_ascii_case(b"DONE") {
                    self.finish(tag, "IDLE", ok("IDLE terminated"));
                } else {
                    self.finish(
                        tag,
                        "IDLE",
                        Err(CmdError::Bad(format!(
                            "Expected DONE to end IDLE, got {:?}",
                            String::from_utf8_lossy(&line)
                        ))),
                    );
                }
            }
            other => self.mode = other,
        }
    }

    /// Called by the driver when the mailbox changed during IDLE.
    pub fn idle_update(&mut self) -> Vec<Output> {
        if self.is_idling() {
            if let Err(e) = self.report_updates(true) {
                tracing::warn!(error = %e, "update during IDLE failed");
            }
            self.context_updates();
        }
        std::mem::take(&mut self.out)
    }

    /// [`ImapSession::idle_update`] without blocking: answered from what the mailbox last
    /// published, so the driver can run it on the async runtime for every idle session
    /// at once. `None`: nothing was done; call `idle_update` on the blocking pool.
    pub fn try_idle_update(&mut self) -> Option<Vec<Output>> {
        if self.is_idling()
            && let Some(view) = self.user.as_mut().and_then(|u| u.selected.as_mut())
        {
            let known = view.messages().len();
            let (updates, names) = view.try_sync_published(true)?;
            if let Err(e) = self.send_updates(updates, Some(names), known) {
                tracing::warn!(error = %e, "update during IDLE failed");
            }
        }
        Some(std::mem::take(&mut self.out))
    }

    /// The one dispatch point.
    fn command(&mut self, cmd: Command) {
        use CommandBody as C;
        let Command { tag, body } = cmd;
        self.current_tag = Some(tag.clone());
        let name = body.name();
        if self.uid_only && uid_only::uses_sequence_numbers(&body) {
            let e = CmdError::BadCode(
                Code::UidRequired,
                format!("{name}: message sequence numbers are not allowed after ENABLE UIDONLY"),
            );
            // REPLACE's literal must not be awaited.
            self.reader.reject_command();
            self.finish(tag, name, Err(e));
            return;
        }
        let authed = self.user.is_some();
        let selected = self.user.as_ref().is_some_and(|u| u.selected.is_some());
        let result = match body {
            C::Capability => {
                let caps = self.capabilities();
                self.data(Data::Capability(caps));
                ok("CAPABILITY completed")
            }
            C::Noop => self.noop("NOOP completed"),
            C::Id(fields) => self.id(fields),
            C::Logout => {
                if let Some(u) = &self.user {
                    tracing::info!(user = u.name, peer = self.ctx.peer, "logout");
                }
                let bye = self.bye("Logging out");
                self.write(bye);
                self.finish(tag, name, ok("LOGOUT completed"));
                self.out.push(Output::Close);
                self.logged_out = true;
                return;
            }
            C::StartTls if authed => Err(CmdError::Bad("Already logged in".into())),
            C::StartTls => self.starttls(&tag),
            C::Login { username, password } if !authed => self.login_cmd(username, password),
            C::Authenticate {
                mechanism,
                initial_response,
            } if !authed => self.authenticate(&tag, mechanism, initial_response),
            C::Login { .. } | C::Authenticate { .. } => {
                Err(CmdError::Bad("Already logged in".into()))
            }
            _ if !authed => Err(CmdError::Bad(format!("{name}: log in first"))),
            C::Compress(mechanism) => self.compress(&tag, &mechanism),
            C::Enable(caps) => self.enable(caps),
            C::Select { mailbox, params } => self.select(mailbox, false, params),
            C::Examine { mailbox, params } => self.select(mailbox, true, params),
            C::Create(m) => self.create(m),
            C::CreateSpecialUse { mailbox, uses } => self.create_special_use(mailbox, uses),
            C::GetMetadata {
                mailbox,
                max_size,
                depth,
                entries,
            } => self.getmetadata(mailbox, max_size, depth, entries),
            C::SetMetadata { mailbox, entries } => self.setmetadata(mailbox, entries),
            C::Notify(set) => self.notify(set),
            C::Delete(m) => self.delete(m),
            C::Rename { from, to } => self.rename(from, to),
            C::Subscribe(m) => self.subscribe(m, true),
            C::Unsubscribe(m) => self.subscribe(m, false),
            C::List {
                select,
                reference,
                patterns,
                ret,
            } => self.list(select, &reference, &patterns, ret),
            C::Lsub { reference, pattern } => self.lsub(&reference, &pattern),
            C::Namespace => self.namespace(),
            C::Status { mailbox, items } => self.status(mailbox, &items),
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.append(&tag, mailbox, flags, date, message),
            C::Idle => self.idle(&tag),
            C::Catenate {
                mailbox,
                pieces,
                literal,
                replace: None,
            } => self.begin_append(&tag, mailbox, pieces, literal, None),
            C::GetQuota(root) => self.getquota(&root),
            C::GetQuotaRoot(m) => self.getquotaroot(m),
            C::SetQuota { .. } => self.setquota(),
            C::Unauthenticate => self.unauthenticate(),
            _ if !selected => Err(CmdError::Bad(format!("{name}: no mailbox selected"))),
            C::Check => self.noop("CHECK completed"),
            C::Close => self.close(),
            C::Unselect => self.unselect(),
            C::CancelUpdate(tags) => self.cancel_update(&tags),
            C::Expunge => self.expunge(None),
            C::UidExpunge(set) => self.expunge(Some(set)),
            C::Search {
                uid,
                ret,
                charset,
                criteria,
            } => self.search(&tag, uid, ret, charset, criteria),
            C::Sort {
                uid,
                ret,
                criteria,
                charset,
                search,
            } => self.sort(&tag, uid, ret, &criteria, &charset, &search),
            C::Thread {
                uid,
                algorithm,
                charset,
                search,
            } => self.thread(uid, algorithm, &charset, &search),
            C::Fetch {
                uid,
                set,
                items,
                modifiers,
            } => self.fetch(uid, &set, &items, &modifiers),
            C::Store {
                uid,
                set,
                op,
                unchanged_since,
            } => self.store_flags(uid, &set, &op, unchanged_since),
            C::Copy { uid, set, mailbox } => self.copy(uid, &set, mailbox, false),
            C::Move { uid, set, mailbox } => self.copy(uid, &set, mailbox, true),
            C::Replace {
                uid,
                target,
                mailbox,
                flags,
                date,
                message,
            } => self.replace(&tag, (uid, target), mailbox, flags, date, message),
            C::Catenate {
                mailbox,
                pieces,
                literal,
                replace,
            } => self.begin_append(&tag, mailbox, pieces, literal, replace),
        };
        if !matches!(result, Ok(Done::Pending)) {
            // A refused APPEND-like command (not logged in, no mailbox selected...) must not
            // leave the reader waiting for a decision about its literal.
            self.reader.reject_command();
        }
        self.notify_after_command(name);
        self.context_after_command(name);
        self.finish(tag, name, result);
        // FETCHes NOTIFY and search contexts send between commands name no command, so
        // they send no INPROGRESS.
        self.current_tag = None;
    }

    /// The capabilities true on this connection now.
    pub fn capabilities(&self) -> Vec<Capability> {
        let atom = |s: &str| Atom::try_from(s).ok();
        let mut caps = vec![Capability::Imap4Rev1, Capability::Imap4Rev2];
        if self.user.is_none() {
            if self.ctx.starttls_available && !self.ctx.is_tls {
                caps.push(Capability::StartTls);
            }
            if !self.ctx.cleartext_allowed || self.tls_missing() {
                caps.push(Capability::LoginDisabled);
            }
            let mut mechs =
                roost_storage::auth::sasl::mechanisms(&self.ctx.auth, self.ctx.cleartext_allowed);
            if self.tls_missing() {
                mechs.clear();
            }
            caps.extend(mechs.iter().filter_map(|m| atom(m)).map(Capability::Auth));
            caps.extend(atom("SASL-IR").map(Capability::Other));
        }
        let rest = [
            "LITERAL+",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UNSELECT",
            "UIDPLUS",
            "MULTIAPPEND",
            "UTF8=ACCEPT",
            "REPLACE",
            "CATENATE",
            "UIDONLY",
            "MOVE",
            "CHILDREN",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "METADATA",
            "METADATA-SERVER",
            "NOTIFY",
            "STATUS=SIZE",
            "ESEARCH",
            "SEARCHRES",
            "SORT",
            "SORT=DISPLAY",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "ESORT",
            "PARTIAL",
            "CONTEXT=SEARCH",
            "CONTEXT=SORT",
            "WITHIN",
            "PREVIEW",
            "OBJECTID",
            "SAVEDATE",
            "BINARY",
            "CONDSTORE",
            "QRESYNC",
            "ID",
        ];
        caps.extend(rest.iter().filter_map(|s| atom(s)).map(Capability::Other));
        let authed = [
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "QUOTA=RES-MESSAGE",
            "UNAUTHENTICATE",
        ];
        if self.user.is_some() {
            caps.extend(authed.iter().filter_map(|s| atom(s)).map(Capability::Other));
            if !self.compressed {
                caps.extend(atom("COMPRESS=DEFLATE").map(Capability::Other));
            }
        }
        // RFC 7889: the limit APPEND enforces (with NO [TOOBIG] before the literal).
        caps.extend(
            atom(&format!(
                "APPENDLIMIT={}",
                self.ctx.settings.max_append_size
            ))
            .map(Capability::Other),
        );
        caps
    }

    /// Untagged updates of the selected mailbox, where the command allows them.
    pub(crate) fn report_updates(&mut self, allow_expunge: bool) -> Result<(), CmdError> {
        let Some(view) = self.user.as_mut().and_then(|u| u.selected.as_mut()) else {
            return Ok(());
        };
        let known = view.messages().len();
        let updates = view.sync(allow_expunge)?;
        self.send_updates(updates, None, known)
    }

    /// Turns view updates into untagged responses; `names` are the keyword names when the
    /// caller already has them, `known` the number of messages the client knew before.
    fn send_updates(
        &mut self,
        updates: Vec<Update>,
        names: Option<Vec<Option<String>>>,
        known: usize,
    ) -> Result<(), CmdError> {
        let rev2 = self.rev2;
        let flags_wanted = self.selected_flag_updates();
        let Some(view) = self.user.as_mut().and_then(|u| u.selected.as_mut()) else {
            return Ok(());
        };
        let condstore = self.condstore;
        // QRESYNC clients keep the highest modseq as their resync point; tell them when it
        // moved (own STOREs and APPENDs too), as Dovecot does, but never past an expunge
        // not reported yet.
        let news = if self.qresync {
            view.take_modseq_news()
        } else {
            None
        };
        if updates.is_empty() {
            if let Some(m) = news {
                self.untagged_ok(Some(Code::HighestModSeq(m)), "Highest");
            }
            return Ok(());
        }
        let names = names.unwrap_or_else(|| view.mailbox().keyword_names());
        // Another session's new keyword: FLAGS first, so no FETCH names an unknown flag.
        let new_keywords = view
            .take_new_keywords(names.len())
            .then_some(view.read_only());
        // The messages the client still knows once these expunges are through: NOTIFY's
        // MessageNew FETCH is for those after them.
        let gone = updates
            .iter()
            .filter(|u| matches!(u, Update::Expunge(_) | Update::Vanished(_)))
            .count();
        let known = known.saturating_sub(gone);
        let mut responses = Vec::new();
        // Expunges come first and highest first; VANISHED takes them as one UID set.
        let mut vanished: Vec<u32> = Vec::new();
        for u in updates {
            if let Update::Vanished(uid) = u {
                vanished.push(uid);
                continue;
            }
            if let Some(uids) = crate::session::messages::to_set(&std::mem::take(&mut vanished)) {
                responses.push(Response::Data(Data::Vanished {
                    earlier: false,
                    uids,
                }));
            }
            match u {
                Update::Vanished(_) => {}
                Update::Expunge(seq) => {
                    if let Some(n) = std::num::NonZeroU32::new(seq) {
                        responses.push(Response::Data(Data::Expunge(n)));
                    }
                }
                Update::Exists(n) => responses.push(Response::Data(Data::Exists(n))),
                Update::Recent(n) if !rev2 => responses.push(Response::Data(Data::Recent(n))),
                Update::Recent(_) => {}
                Update::Flags(_) if !flags_wanted => {}
                Update::Flags(seq) => {
                    let Some(info) = view.messages().get(seq as usize - 1) else {
                        continue;
                    };
                    let recent = !rev2 && info.uid >= view.recent_from();
                    if let Some(n) = std::num::NonZeroU32::new(seq) {
                        let mut items = vec![
                            crate::response::FetchItem::Flags(crate::view::flags_of(
                                info, &names, recent,
                            )),
                            crate::response::FetchItem::Uid(
                                std::num::NonZeroU32::new(info.uid)
                                    .unwrap_or(std::num::NonZeroU32::MIN),
                            ),
                        ];
                        if condstore {
                            items.push(crate::response::FetchItem::ModSeq(info.modseq));
                        }
                        responses.push(Response::Data(Data::Fetch { seq: n, items }));
                    }
                }
            }
        }
        if let Some(uids) = crate::session::messages::to_set(&vanished) {
            responses.push(Response::Data(Data::Vanished {
                earlier: false,
                uids,
            }));
        }
        if let Some(read_only) = new_keywords {
            self.announce_flags(&names, read_only);
        }
        // RFC 5267: REMOVEFROM before the EXPUNGEs, ADDTO after the EXISTS (and, RFC 5465
        // section 7, after NOTIFY's MessageNew FETCH).
        let (removes, adds) = self.context_changes();
        self.write_some(removes);
        for r in responses {
            self.send(r);
        }
        if let Some(m) = news {
            self.untagged_ok(Some(Code::HighestModSeq(m)), "Highest");
        }
        self.notify_new_messages(known);
        self.context_fetches();
        self.write_some(adds);
        Ok(())
    }

    fn noop(&mut self, text: &str) -> CmdResult {
        self.report_updates(true)?;
        ok(text)
    }

    /// Writes the tagged answer; the one place where errors become wire responses.
    fn finish(&mut self, tag: Tag, name: &str, result: CmdResult) {
        let (kind, code, text) = match result {
            Ok(Done::Pending) => return,
            Ok(Done::Ok(code, text)) => (StatusKind::Ok, code, text),
            Err(e) => {
                let (kind, code, text) = e.to_wire(name, &self.ctx.peer);
                if let CmdError::AuthFailed(user) = &e {
                    self.out.push(Output::AuthFailed(user.clone()));
                }
                (kind, code, text)
            }
        };
        self.send(Response::Tagged {
            tag,
            kind,
            code,
            text: Text::sanitized(&text),
        });
    }

    fn user(&mut self) -> Result<&mut User, CmdError> {
        self.user
            .as_deref_mut()
            .ok_or_else(|| CmdError::Bad("log in first".into()))
    }

    /// Mailbox names are UTF-8 on the wire (IMAP4rev2 or UTF8=ACCEPT), not modified UTF-7.
    pub(crate) fn utf8_names(&self) -> bool {
        self.rev2 || self.utf8_accept
    }

    /// A wire mailbox name as a storage name: modified UTF-7 for rev1, UTF-8 for rev2.
    pub(crate) fn mailbox_name(&self, m: &crate::types::Mailbox) -> Result<MailboxName, CmdError> {
        let s = crate::types::decode_mailbox(m, self.utf8_names())
            .map_err(|e| CmdError::No(Some(Code::Cannot), format!("{e}")))?;
        Ok(MailboxName::new(&s).map_err(roost_storage::StorageError::from)?)
    }

    /// A storage name as the client must see it.
    pub(crate) fn wire_name(&self, name: &str) -> String {
        if self.utf8_names() || name == "INBOX" {
            name.to_string()
        } else {
            roost_storage::maildir::mutf7::encode(name)
        }
    }

    pub(crate) fn b64(data: &[u8]) -> String {
        BASE64.encode(data)
    }

    pub(crate) fn unb64(data: &[u8]) -> Option<Vec<u8>> {
        BASE64.decode(data).ok()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod ext_tests;

#[cfg(test)]
mod context_tests;

#[cfg(test)]
mod notify_tests;

#[cfg(test)]
mod uid_only_tests;

#[cfg(test)]
mod notify_rules_tests;

#[cfg(test)]
mod progress_tests;
