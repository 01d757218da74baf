//! Command parser (RFC 9051 section 9, with the RFC 3501 forms that rev2 dropped).
//!
//! The input is one complete command as it arrived on the wire, literal data included, up to
//! and including the final CRLF. Two partial inputs are understood, both ending right after a
//! literal announcement that the framer reported:
//! - any command whose literal data is still missing parses to [`Parsed::NeedsLiteral`] when
//!   everything before the literal is valid, so the session can send `+` only for valid
//!   commands;
//! - APPEND parses to a full [`Command`] once its message literal is announced: the message is
//!   never collected here, the session streams it from the framer.

use std::num::NonZeroU32;

use nom::IResult;
use nom::bytes::complete::{tag, tag_no_case, take_while1};
use nom::error::{ErrorKind, ParseError};
use roost_storage::auth::Secret;
use thiserror::Error;

mod context;
mod ext;
pub use ext::{MetadataDepth, NotifyEvent, NotifyFilter, NotifyGroup, NotifySet};

use crate::types::{
    AString, Atom, Date, DateTime, FetchAttribute, FetchItems, Flag, ListReturn, ListSelect,
    Mailbox, Partial, SearchKey, SearchReturn, Section, SectionText, SeqSet, StatusItem, StoreKind,
    StoreOp, Tag, ValueError, is_astring_char, is_atom_char,
};

/// Limits of the parser; each with the reason for its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserLimits {
    /// Deepest nesting of parentheses/NOT/OR in search keys; 32 is far beyond what clients
    /// send and keeps recursion shallow.
    pub max_depth: usize,
    /// Most items in one sequence set, search program or list; bounds per-command memory.
    pub max_items: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_items: crate::types::DEFAULT_MAX_SET_ITEMS,
        }
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag.
    pub tag: Tag,
    /// What the command asks for.
    pub body: CommandBody,
}

/// The result of parsing a (possibly partial) command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A complete command (for APPEND: complete up to the announced message literal).
    Command(Command),
    /// Valid so far; the data of an announced literal is needed to go on.
    NeedsLiteral,
}

/// The message literal of APPEND, which the session streams instead of the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLiteral {
    /// Length in bytes.
    pub len: u32,
    /// `{n}` rather than `{n+}`.
    pub sync: bool,
    /// `~{n}` (BINARY APPEND).
    pub binary: bool,
    /// RFC 6855 `UTF8 (~{n})`: a `)` follows the message data.
    pub utf8: bool,
}

/// `select-param` (RFC 4466, RFC 7162).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectParam {
    /// `CONDSTORE`
    CondStore,
    /// `QRESYNC (uidvalidity modseq [known-uids] [(seq-match-data)])`
    QResync {
        /// Last known UIDVALIDITY.
        uid_validity: NonZeroU32,
        /// Last known HIGHESTMODSEQ.
        mod_seq: u64,
        /// Known UIDs.
        known_uids: Option<SeqSet>,
        /// `(known-sequence-set known-uid-set)`
        seq_match: Option<(SeqSet, SeqSet)>,
    },
}

/// `fetch-modifier` (RFC 7162).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchModifier {
    /// `CHANGEDSINCE mod-sequence-valzer`
    ChangedSince(u64),
    /// `VANISHED`
    Vanished,
    /// `PARTIAL range` (RFC 9394): only that slice of the messages, in UID order.
    Partial(crate::partial::PartialRange),
}

/// Every command of RFC 3501 and RFC 9051.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `STARTTLS`
    StartTls,
    /// `COMPRESS mechanism` (RFC 4978)
    Compress(Atom),
    /// `AUTHENTICATE auth-type [SP initial-resp]` (SASL-IR, RFC 4959)
    Authenticate {
        /// The mechanism name.
        mechanism: Atom,
        /// The base64 initial response; `Some(empty)` for `=`.
        initial_response: Option<Secret<String>>,
    },
    /// `LOGIN userid password`
    Login {
        /// User name.
        username: AString,
        /// Password, redacted in logs.
        password: Secret<AString>,
    },
    /// `ENABLE capability...`
    Enable(Vec<Atom>),
    /// `ID (field value ...)` or `ID NIL` (RFC 2971): the client's fields, NIL values as None.
    Id(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// `SELECT mailbox [params]`
    Select {
        /// The mailbox.
        mailbox: Mailbox,
        /// CONDSTORE/QRESYNC parameters.
        params: Vec<SelectParam>,
    },
    /// `EXAMINE mailbox [params]`
    Examine {
        /// The mailbox.
        mailbox: Mailbox,
        /// CONDSTORE/QRESYNC parameters.
        params: Vec<SelectParam>,
    },
    /// `CREATE mailbox`
    Create(Mailbox),
    /// `CREATE mailbox (USE (attr ...))` (RFC 6154 CREATE-SPECIAL-USE)
    CreateSpecialUse {
        /// The new mailbox.
        mailbox: Mailbox,
        /// The special-use attributes, e.g. `\Sent`.
        uses: Vec<String>,
    },
    /// `GETMETADATA [(options)] mailbox entries` (RFC 5464); `""` is the server.
    GetMetadata {
        /// The mailbox, or `""` for server entries.
        mailbox: Mailbox,
        /// `MAXSIZE`: leave out larger values.
        max_size: Option<u32>,
        /// `DEPTH`.
        depth: MetadataDepth,
        /// Entry names.
        entries: Vec<String>,
    },
    /// `SETMETADATA mailbox (entry value ...)` (RFC 5464); a NIL value removes the entry.
    SetMetadata {
        /// The mailbox, or `""` for server entries.
        mailbox: Mailbox,
        /// Entry names and values.
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// `NOTIFY SET ...` or `NOTIFY NONE` (`None`) (RFC 5465).
    Notify(Option<NotifySet>),
    /// `DELETE mailbox`
    Delete(Mailbox),
    /// `RENAME from to`
    Rename {
        /// Existing name.
        from: Mailbox,
        /// New name.
        to: Mailbox,
    },
    /// `SUBSCRIBE mailbox`
    Subscribe(Mailbox),
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe(Mailbox),
    /// `LIST [select-opts] reference patterns [RETURN (...)]`
    List {
        /// Selection options (LIST-EXTENDED); empty for basic LIST.
        select: Vec<ListSelect>,
        /// Reference name, raw.
        reference: String,
        /// One or more patterns, raw (`*` and `%` wildcards).
        patterns: Vec<String>,
        /// Return options.
        ret: Vec<ListReturn>,
    },
    /// `LSUB reference pattern` (rev1)
    Lsub {
        /// Reference name, raw.
        reference: String,
        /// Pattern, raw.
        pattern: String,
    },
    /// `NAMESPACE`
    Namespace,
    /// `STATUS mailbox (items)`
    Status {
        /// The mailbox.
        mailbox: Mailbox,
        /// Requested items.
        items: Vec<StatusItem>,
    },
    /// `APPEND mailbox [flags] [date-time] literal`; the literal is streamed by the session.
    Append {
        /// Target mailbox.
        mailbox: Mailbox,
        /// Initial flags.
        flags: Vec<Flag>,
        /// Internal date to set.
        date: Option<DateTime>,
        /// The announced message literal.
        message: MessageLiteral,
    },
    /// `IDLE`
    Idle,
    /// `CHECK` (rev1)
    Check,
    /// `CLOSE`
    Close,
    /// `UNSELECT`
    Unselect,
    /// `EXPUNGE`
    Expunge,
    /// `UID EXPUNGE sequence-set`
    UidExpunge(SeqSet),
    /// `[UID] SEARCH [RETURN (...)] [CHARSET c] keys`
    Search {
        /// UID SEARCH.
        uid: bool,
        /// `RETURN (...)`; `Some(empty)` means ESEARCH with the default `ALL`.
        ret: Option<Vec<SearchReturn>>,
        /// Charset name.
        charset: Option<AString>,
        /// The criteria, an implicit AND.
        criteria: SearchKey,
    },
    /// `[UID] SORT [RETURN (...)] (criteria) charset keys` (RFC 5256, RFC 5267)
    Sort {
        /// UID SORT.
        uid: bool,
        /// `RETURN (...)` (ESORT); `Some(empty)` means ESEARCH with the default `ALL`.
        ret: Option<Vec<SearchReturn>>,
        /// Sort criteria, most significant first.
        criteria: Vec<crate::sort::SortCriterion>,
        /// Charset name.
        charset: AString,
        /// The search criteria, an implicit AND.
        search: SearchKey,
    },
    /// `[UID] THREAD algorithm charset keys` (RFC 5256)
    Thread {
        /// UID THREAD.
        uid: bool,
        /// The threading algorithm.
        algorithm: crate::thread::ThreadAlgorithm,
        /// Charset name.
        charset: AString,
        /// The search criteria, an implicit AND.
        search: SearchKey,
    },
    /// `CANCELUPDATE tag-string *(SP tag-string)` (RFC 5267 4.3): the tags of the
    /// SEARCH/SORT update contexts to end.
    CancelUpdate(Vec<String>),
    /// `[UID] FETCH set items [modifiers]`
    Fetch {
        /// UID FETCH.
        uid: bool,
        /// Messages.
        set: SeqSet,
        /// Items.
        items: FetchItems,
        /// CONDSTORE/QRESYNC modifiers.
        modifiers: Vec<FetchModifier>,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] op flags`
    Store {
        /// UID STORE.
        uid: bool,
        /// Messages.
        set: SeqSet,
        /// What to change.
        op: StoreOp,
        /// CONDSTORE `UNCHANGEDSINCE`.
        unchanged_since: Option<u64>,
    },
    /// `[UID] COPY set mailbox`
    Copy {
        /// UID COPY.
        uid: bool,
        /// Messages.
        set: SeqSet,
        /// Target.
        mailbox: Mailbox,
    },
    /// `[UID] MOVE set mailbox`
    Move {
        /// UID MOVE.
        uid: bool,
        /// Messages.
        set: SeqSet,
        /// Target.
        mailbox: Mailbox,
    },
    /// `GETQUOTA root` (RFC 9208)
    GetQuota(String),
    /// `GETQUOTAROOT mailbox` (RFC 9208)
    GetQuotaRoot(Mailbox),
    /// `SETQUOTA root (resource limit ...)` (RFC 9208)
    SetQuota {
        /// The quota root.
        root: String,
        /// Resource names (upper case) and limits.
        limits: Vec<(String, u64)>,
    },
    /// `UNAUTHENTICATE` (RFC 8437)
    Unauthenticate,
    /// `APPEND mailbox [flags] [date-time] CATENATE (part ...) ...` (RFC 4469), also as
    /// `[UID] REPLACE n mailbox ...` (RFC 8508): the command up to its first streamed literal
    /// (a TEXT part or a later MULTIAPPEND message) or its end. The first piece is the
    /// CATENATE message with its flags and date.
    Catenate {
        /// Target mailbox.
        mailbox: Mailbox,
        /// The pieces before `literal`, in order.
        pieces: Vec<AppendPiece>,
        /// The literal the session streams next; `None` when the command is complete.
        literal: Option<MessageLiteral>,
        /// REPLACE: `(uid, n)` of the message to replace.
        replace: Option<(bool, NonZeroU32)>,
    },
    /// `[UID] REPLACE n mailbox [flags] [date-time] literal` (RFC 8508)
    Replace {
        /// UID REPLACE.
        uid: bool,
        /// The message to replace: a sequence number, or a UID with `uid`.
        target: NonZeroU32,
        /// Where the new message goes.
        mailbox: Mailbox,
        /// Its flags.
        flags: Vec<Flag>,
        /// Its internal date.
        date: Option<DateTime>,
        /// Its literal, streamed by the session.
        message: MessageLiteral,
    },
}

impl CommandBody {
    /// The command name as a client would write it, for logs and responses.
    pub fn name(&self) -> &'static str {
        use CommandBody::*;
        match self {
            Capability => "CAPABILITY",
            Noop => "NOOP",
            Logout => "LOGOUT",
            StartTls => "STARTTLS",
            Compress(_) => "COMPRESS",
            Authenticate { .. } => "AUTHENTICATE",
            Login { .. } => "LOGIN",
            Enable(_) => "ENABLE",
            Id(_) => "ID",
            Select { .. } => "SELECT",
            Examine { .. } => "EXAMINE",
            Create(_) | CreateSpecialUse { .. } => "CREATE",
            GetMetadata { .. } => "GETMETADATA",
            SetMetadata { .. } => "SETMETADATA",
            Notify(_) => "NOTIFY",
            Delete(_) => "DELETE",
            Rename { .. } => "RENAME",
            Subscribe(_) => "SUBSCRIBE",
            Unsubscribe(_) => "UNSUBSCRIBE",
            List { .. } => "LIST",
            Lsub { .. } => "LSUB",
            Namespace => "NAMESPACE",
            Status { .. } => "STATUS",
            Append { .. } => "APPEND",
            Idle => "IDLE",
            Check => "CHECK",
            Close => "CLOSE",
            Unselect => "UNSELECT",
            Expunge => "EXPUNGE",
            UidExpunge(_) => "UID EXPUNGE",
            Search { uid: false, .. } => "SEARCH",
            Search { uid: true, .. } => "UID SEARCH",
            Sort { uid: false, .. } => "SORT",
            Sort { uid: true, .. } => "UID SORT",
            Thread { uid: false, .. } => "THREAD",
            Thread { uid: true, .. } => "UID THREAD",
            CancelUpdate(_) => "CANCELUPDATE",
            Fetch { uid: false, .. } => "FETCH",
            Fetch { uid: true, .. } => "UID FETCH",
            Store { uid: false, .. } => "STORE",
            Store { uid: true, .. } => "UID STORE",
            Copy { uid: false, .. } => "COPY",
            Copy { uid: true, .. } => "UID COPY",
            GetQuota(_) => "GETQUOTA",
            GetQuotaRoot(_) => "GETQUOTAROOT",
            SetQuota { .. } => "SETQUOTA",
            Unauthenticate => "UNAUTHENTICATE",
            Catenate { replace: None, .. } => "APPEND",
            Catenate {
                replace: Some((false, _)),
                ..
            } => "REPLACE",
            Catenate {
                replace: Some((true, _)),
                ..
            } => "UID REPLACE",
            Replace { uid: false, .. } => "REPLACE",
            Replace { uid: true, .. } => "UID REPLACE",
            Move { uid: false, .. } => "MOVE",
            Move { uid: true, .. } => "UID MOVE",
        }
    }
}

/// The class of a parse error, for tests and for choosing the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandErrorKind {
    /// No valid tag at the start of the line (answer with untagged `* BAD`).
    MissingTag,
    /// A command name we do not know.
    UnknownCommand,
    /// The arguments do not follow the grammar.
    Syntax,
    /// A NUL byte where none is allowed.
    Nul,
    /// A quoted string that is not valid UTF-8.
    BadUtf8,
    /// A `(` without `)` or a stray `)`.
    Unbalanced,
    /// Nesting deeper than [`ParserLimits::max_depth`].
    TooDeep,
    /// More items than [`ParserLimits::max_items`].
    TooManyItems,
    /// A number that does not fit its type.
    NumberTooLarge,
    /// `~{n}` where only a plain literal is allowed.
    UnexpectedLiteral8,
    /// A syntactically valid value that its type refuses.
    Invalid(ValueError),
    /// A literal larger than may be collected in memory (answer `BAD [TOOBIG]`).
    LiteralTooBig,
}

/// A command that cannot be parsed. The framer has already consumed the whole command, so the
/// session answers `tag BAD message` (or `* BAD` without a tag) and goes on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct CommandError {
    /// The tag, when one could be read.
    pub tag: Option<Tag>,
    /// The error class.
    pub kind: CommandErrorKind,
    /// Human-readable text for the BAD response.
    pub message: String,
}

/// Parser-internal error: where it happened and, for hard errors, what.
#[derive(Debug)]
struct PErr<'a> {
    input: &'a [u8],
    hard: Option<CommandErrorKind>,
}

impl<'a> ParseError<&'a [u8]> for PErr<'a> {
    fn from_error_kind(input: &'a [u8], _: ErrorKind) -> Self {
        PErr { input, hard: None }
    }
    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a [u8], T, PErr<'a>>;

/// A soft error: alternatives may still match.
fn soft<'a, T>(input: &'a [u8]) -> PResult<'a, T> {
    Err(nom::Err::Error(PErr { input, hard: None }))
}

/// A hard error: stops parsing with this class.
fn hard<'a, T>(input: &'a [u8], kind: CommandErrorKind) -> PResult<'a, T> {
    Err(nom::Err::Failure(PErr {
        input,
        hard: Some(kind),
    }))
}

fn invalid<'a, T>(input: &'a [u8], e: ValueError) -> PResult<'a, T> {
    hard(input, CommandErrorKind::Invalid(e))
}

struct Cx {
    limits: ParserLimits,
}

/// Parses one command with default limits.
pub fn parse_command(input: &[u8]) -> Result<Parsed, CommandError> {
    parse_command_with(input, &ParserLimits::default())
}

/// `command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF`
pub fn parse_command_with(input: &[u8], limits: &ParserLimits) -> Result<Parsed, CommandError> {
    let cx = Cx { limits: *limits };
    let (tag, rest) = match parse_tag(input) {
        Ok((rest, tag)) => (tag, rest),
        Err(_) => {
            // `tag CRLF`: the tag is valid, the command is missing; answer with the tag.
            let bare = input.strip_suffix(b"\n").unwrap_or(input);
            let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
            if let Some(tag) = std::str::from_utf8(bare)
                .ok()
                .and_then(|t| Tag::try_from(t).ok())
            {
                return Err(CommandError {
                    tag: Some(tag),
                    kind: CommandErrorKind::Syntax,
                    message: "Missing command".into(),
                });
            }
            let kind = if input.contains(&0) {
                CommandErrorKind::Nul
            } else {
                CommandErrorKind::MissingTag
            };
            return Err(CommandError {
                tag: None,
                kind,
                message: "Missing or invalid tag".into(),
            });
        }
    };
    let name_end = rest
        .iter()
        .position(|&b| !is_atom_char(b))
        .unwrap_or(rest.len());
    let name = String::from_utf8_lossy(&rest[..name_end]).to_ascii_uppercase();
    let fail = |kind, message: String| CommandError {
        tag: Some(tag.clone()),
        kind,
        message,
    };
    let res = match command_body(&cx, &name, &rest[name_end..]) {
        Some(r) => r,
        None => {
            let shown: String = name.chars().take(32).collect();
            return Err(fail(
                CommandErrorKind::UnknownCommand,
                format!("Unknown command {shown}"),
            ));
        }
    };
    match res {
        Ok((rest, body)) => {
            if matches!(
                body,
                CommandBody::Append { .. }
                    | CommandBody::Replace { .. }
                    | CommandBody::Catenate {
                        literal: Some(_),
                        ..
                    }
            ) {
                if rest.is_empty() {
                    return Ok(Parsed::Command(Command { tag, body }));
                }
                return Err(fail(
                    CommandErrorKind::Syntax,
                    "APPEND: data after the message literal announcement".into(),
                ));
            }
            match crlf_end(rest) {
                Ok(()) => Ok(Parsed::Command(Command { tag, body })),
                Err(kind) => Err(fail(
                    kind.clone(),
                    describe(&name, &kind, input.len() - rest.len(), rest),
                )),
            }
        }
        Err(nom::Err::Incomplete(_)) => Ok(Parsed::NeedsLiteral),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let kind = e.hard.unwrap_or_else(|| classify(e.input));
            let at = input.len() - e.input.len();
            Err(fail(kind.clone(), describe(&name, &kind, at, e.input)))
        }
    }
}

/// The command must end here: CRLF (a bare LF is tolerated, like Dovecot) and nothing after.
fn crlf_end(rest: &[u8]) -> Result<(), CommandErrorKind> {
    match rest {
        b"\r\n" | b"\n" => Ok(()),
        [b')', ..] => Err(CommandErrorKind::Unbalanced),
        _ => Err(classify(rest)),
    }
}

/// Finds the most useful class for a soft error at `at`.
fn classify(at: &[u8]) -> CommandErrorKind {
    match at.first() {
        Some(0) => CommandErrorKind::Nul,
        Some(b')') => CommandErrorKind::Unbalanced,
        _ => CommandErrorKind::Syntax,
    }
}

fn describe(name: &str, kind: &CommandErrorKind, at: usize, rest: &[u8]) -> String {
    let near: String = rest
        .iter()
        .take(24)
        .take_while(|&&b| b != b'\r' && b != b'\n')
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    let what = match kind {
        CommandErrorKind::Nul => "NUL byte not allowed".to_string(),
        CommandErrorKind::BadUtf8 => "invalid UTF-8 in quoted string".to_string(),
        CommandErrorKind::Unbalanced => "unbalanced parentheses".to_string(),
        CommandErrorKind::TooDeep => "nesting too deep".to_string(),
        CommandErrorKind::TooManyItems => "too many items".to_string(),
        CommandErrorKind::NumberTooLarge => "number too large".to_string(),
        CommandErrorKind::UnexpectedLiteral8 => "literal8 not allowed here".to_string(),
        CommandErrorKind::Invalid(e) => e.to_string(),
        CommandErrorKind::LiteralTooBig => "literal too big".to_string(),
        _ => "syntax error".to_string(),
    };
    if name == "LOGIN" || name == "AUTHENTICATE" {
        // Never echo credentials: the message may end up in logs.
        format!("{name}: {what}")
    } else if near.is_empty() {
        format!("{name}: {what} at end of command")
    } else {
        format!("{name}: {what} at byte {at} near \"{near}\"")
    }
}

/// `tag = 1*<any ASTRING-CHAR except "+">`, followed by SP.
fn parse_tag(i: &[u8]) -> PResult<'_, Tag> {
    let (i, t) = take_while1(|b| is_astring_char(b) && b != b'+')(i)?;
    let (i, _) = tag(" ")(i)?;
    // Only ASCII was taken, so this cannot fail; be defensive anyway.
    let s = std::str::from_utf8(t).unwrap_or_default();
    match Tag::try_from(s) {
        Ok(tag) => Ok((i, tag)),
        Err(_) => soft(i),
    }
}

type BodyResult<'a> = PResult<'a, CommandBody>;

/// `command-any / command-auth / command-nonauth / command-select`; None for unknown names.
fn command_body<'a>(cx: &Cx, name: &str, i: &'a [u8]) -> Option<BodyResult<'a>> {
    use CommandBody as C;
    let simple = |b: CommandBody| -> BodyResult<'a> { Ok((i, b)) };
    Some(match name {
        "CAPABILITY" => simple(C::Capability),
        "NOOP" => simple(C::Noop),
        "LOGOUT" => simple(C::Logout),
        "STARTTLS" => simple(C::StartTls),
        "NAMESPACE" => simple(C::Namespace),
        "IDLE" => simple(C::Idle),
        "CHECK" => simple(C::Check),
        "CLOSE" => simple(C::Close),
        "UNSELECT" => simple(C::Unselect),
        "EXPUNGE" => simple(C::Expunge),
        "AUTHENTICATE" => authenticate(i),
        "LOGIN" => login(cx, i),
        "ENABLE" => enable(i),
        "COMPRESS" => compress(i),
        "ID" => id(cx, i),
        "SELECT" | "EXAMINE" => select(cx, i, name == "EXAMINE"),
        "CREATE" => ext::create(cx, i),
        "GETMETADATA" => ext::getmetadata(cx, i),
        "SETMETADATA" => ext::setmetadata(cx, i),
        "NOTIFY" => ext::notify(cx, i),
        "DELETE" => one_mailbox(cx, i).map(|(i, m)| (i, C::Delete(m))),
        "SUBSCRIBE" => one_mailbox(cx, i).map(|(i, m)| (i, C::Subscribe(m))),
        "UNSUBSCRIBE" => one_mailbox(cx, i).map(|(i, m)| (i, C::Unsubscribe(m))),
        "RENAME" => rename(cx, i),
        "LIST" => list(cx, i),
        "LSUB" => lsub(cx, i),
        "STATUS" => status(cx, i),
        "APPEND" => append(cx, i),
        "SEARCH" => search(cx, i, false),
        "FETCH" => fetch(cx, i, false),
        "STORE" => store(cx, i, false),
        "COPY" => copy_move(cx, i, false, false),
        "MOVE" => copy_move(cx, i, false, true),
        "UID" => uid(cx, i),
        "SORT" => sort::sort(cx, i, false),
        "THREAD" => sort::thread(cx, i, false),
        "GETQUOTA" => quota::getquota(cx, i),
        "GETQUOTAROOT" => quota::getquotaroot(cx, i),
        "SETQUOTA" => quota::setquota(cx, i),
        "UNAUTHENTICATE" => simple(C::Unauthenticate),
        "REPLACE" => multiappend::replace(cx, i, false),
        "CANCELUPDATE" => context::cancelupdate(cx, i),
        _ => return None,
    })
}

/// `uid = "UID" SP ("COPY" / "MOVE" / "FETCH" / "SEARCH" / "STORE" / "EXPUNGE") ...`
fn uid<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, sub) = take_while1(|b: u8| b.is_ascii_alphabetic())(i)?;
    match sub.to_ascii_uppercase().as_slice() {
        b"COPY" => copy_move(cx, i, true, false),
        b"MOVE" => copy_move(cx, i, true, true),
        b"FETCH" => fetch(cx, i, true),
        b"SEARCH" => search(cx, i, true),
        b"STORE" => store(cx, i, true),
        b"SORT" => sort::sort(cx, i, true),
        b"THREAD" => sort::thread(cx, i, true),
        b"REPLACE" => multiappend::replace(cx, i, true),
        b"EXPUNGE" => {
            let (i, _) = sp(i)?;
            let (i, set) = sequence_set(cx, i)?;
            Ok((i, CommandBody::UidExpunge(set)))
        }
        _ => soft(i),
    }
}

fn sp(i: &[u8]) -> PResult<'_, &[u8]> {
    tag(" ")(i)
}

/// A case-insensitive keyword that must not run into further atom characters.
fn keyword<'a>(i: &'a [u8], word: &'static str) -> PResult<'a, ()> {
    let (rest, _) = tag_no_case(word)(i)?;
    if rest.first().is_some_and(|&b| is_atom_char(b)) {
        return soft(i);
    }
    Ok((rest, ()))
}

/// `"("`, counted for depth by the caller.
fn open(i: &[u8]) -> PResult<'_, ()> {
    let (i, _) = tag("(")(i)?;
    Ok((i, ()))
}

/// `")"`; running into the line end instead is an unbalanced parenthesis.
fn close(i: &[u8]) -> PResult<'_, ()> {
    match i.first() {
        Some(b')') => Ok((&i[1..], ())),
        None | Some(b'\r') | Some(b'\n') => hard(i, CommandErrorKind::Unbalanced),
        _ => soft(i),
    }
}

/// `number = 1*DIGIT` (32-bit)
fn number(i: &[u8]) -> PResult<'_, u32> {
    let (rest, d) = take_while1(|b: u8| b.is_ascii_digit())(i)?;
    match std::str::from_utf8(d).ok().and_then(|s| s.parse().ok()) {
        Some(n) => Ok((rest, n)),
        None => hard(i, CommandErrorKind::NumberTooLarge),
    }
}

/// `number64 = 1*DIGIT` (63-bit, RFC 9051)
fn number64(i: &[u8]) -> PResult<'_, u64> {
    let (rest, d) = take_while1(|b: u8| b.is_ascii_digit())(i)?;
    match std::str::from_utf8(d)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) if n <= i64::MAX as u64 => Ok((rest, n)),
        _ => hard(i, CommandErrorKind::NumberTooLarge),
    }
}

/// `nz-number = digit-nz *DIGIT`
fn nz_number(i: &[u8]) -> PResult<'_, NonZeroU32> {
    let (rest, n) = number(i)?;
    match NonZeroU32::new(n) {
        Some(n) if i.first() != Some(&b'0') => Ok((rest, n)),
        _ => soft(i),
    }
}

/// `atom = 1*ATOM-CHAR`
fn atom(i: &[u8]) -> PResult<'_, Atom> {
    let (rest, a) = take_while1(is_atom_char)(i)?;
    match std::str::from_utf8(a).ok().map(Atom::try_from) {
        Some(Ok(a)) => Ok((rest, a)),
        _ => soft(i),
    }
}

/// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`;
/// `QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4`
fn quoted(i: &[u8]) -> PResult<'_, Vec<u8>> {
    let (mut rest, _) = tag("\"")(i)?;
    let mut out = Vec::new();
    loop {
        match rest.first() {
            None | Some(b'\r') | Some(b'\n') => return soft(rest),
            Some(0) => return hard(rest, CommandErrorKind::Nul),
            Some(b'"') => {
                rest = &rest[1..];
                break;
            }
            Some(b'\\') => match rest.get(1) {
                Some(&c @ (b'"' | b'\\')) => {
                    out.push(c);
                    rest = &rest[2..];
                }
                _ => return soft(&rest[1..]),
            },
            Some(&c) => {
                out.push(c);
                rest = &rest[1..];
            }
        }
    }
    if std::str::from_utf8(&out).is_err() {
        return hard(i, CommandErrorKind::BadUtf8);
    }
    Ok((rest, out))
}

/// `literal = "{" number64 ["+"] "}" CRLF *CHAR8`; `literal8 = "~{" number64 "}" CRLF *OCTET`
/// Returns the announcement; the data, when present, follows in the returned input.
fn literal_announcement(i: &[u8]) -> PResult<'_, (u32, bool, bool)> {
    let (i, binary) = match i.first() {
        Some(b'~') => (&i[1..], true),
        _ => (i, false),
    };
    let (i, _) = tag("{")(i)?;
    let (i, n) = number(i)?;
    let (i, plus) = match i.first() {
        Some(b'+') => (&i[1..], true),
        _ => (i, false),
    };
    let (i, _) = tag("}")(i)?;
    let (i, _) = match tag::<_, _, PErr<'_>>("\r\n")(i) {
        Ok(r) => r,
        Err(_) => tag("\n")(i)?,
    };
    Ok((i, (n, !plus, binary)))
}

/// `append-data = literal / literal8 / utf8-literal` (RFC 3516, RFC 6855)
/// `utf8-literal = "UTF8" SP "(" literal8 ")"`; the `)` follows the data.
fn append_data(i: &[u8]) -> PResult<'_, MessageLiteral> {
    let (i, utf8) = match keyword(i, "UTF8") {
        Ok((rest, ())) => (tag(" (")(rest)?.0, true),
        Err(_) => (i, false),
    };
    let (i, (len, sync, binary)) = literal_announcement(i)?;
    Ok((
        i,
        MessageLiteral {
            len,
            sync,
            binary,
            utf8,
        },
    ))
}

/// A literal whose data is collected (not APPEND's message).
fn literal(i: &[u8]) -> PResult<'_, Vec<u8>> {
    let start = i;
    let (i, (n, _, binary)) = literal_announcement(i)?;
    if binary {
        return hard(start, CommandErrorKind::UnexpectedLiteral8);
    }
    let n = n as usize;
    if i.len() < n {
        return Err(nom::Err::Incomplete(nom::Needed::new(n - i.len())));
    }
    let data = &i[..n];
    if data.contains(&0) {
        return hard(i, CommandErrorKind::Nul);
    }
    Ok((&i[n..], data.to_vec()))
}

/// `string = quoted / literal`
fn string(i: &[u8]) -> PResult<'_, Vec<u8>> {
    match i.first() {
        Some(b'"') => quoted(i),
        Some(b'{') => literal(i),
        // `~` alone is an atom character (`~user`); only `~{` announces a literal8.
        Some(b'~') if i.get(1) == Some(&b'{') => literal(i),
        _ => soft(i),
    }
}

/// True when `i` starts a `string` rather than an atom.
fn starts_string(i: &[u8]) -> bool {
    matches!(i.first(), Some(b'"' | b'{')) || i.starts_with(b"~{")
}

/// `astring = 1*ASTRING-CHAR / string`
fn astring(i: &[u8]) -> PResult<'_, AString> {
    let (rest, v) = match i.first() {
        _ if starts_string(i) => string(i)?,
        Some(0) => return hard(i, CommandErrorKind::Nul),
        _ => {
            let (rest, a) = take_while1(is_astring_char)(i)?;
            (rest, a.to_vec())
        }
    };
    match AString::try_from(v) {
        Ok(a) => Ok((rest, a)),
        Err(e) => invalid(i, e),
    }
}

fn utf8_string(i: &[u8], v: Vec<u8>) -> PResult<'_, String> {
    match String::from_utf8(v) {
        Ok(s) => Ok((i, s)),
        Err(_) => hard(i, CommandErrorKind::BadUtf8),
    }
}

/// `mailbox = "INBOX" / astring`
fn mailbox(i: &[u8]) -> PResult<'_, Mailbox> {
    let (rest, a) = astring(i)?;
    match Mailbox::try_from(a) {
        Ok(m) => Ok((rest, m)),
        Err(e) => invalid(i, e),
    }
}

fn one_mailbox<'a>(_cx: &Cx, i: &'a [u8]) -> PResult<'a, Mailbox> {
    let (i, _) = sp(i)?;
    mailbox(i)
}

/// `sequence-set = (seq-number / seq-range) ["," sequence-set]` / `"$"`
fn sequence_set<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, SeqSet> {
    let (rest, s) = take_while1(|b: u8| b.is_ascii_digit() || b":,*$".contains(&b))(i)?;
    let s = std::str::from_utf8(s).unwrap_or_default();
    match SeqSet::parse(s, cx.limits.max_items) {
        Ok(set) => Ok((rest, set)),
        Err(ValueError::Invalid(m)) if m.contains("too many") => {
            hard(i, CommandErrorKind::TooManyItems)
        }
        Err(e)
            if s.split(&[',', ':'])
                .any(|n| n.len() > 9 && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            let _ = e;
            hard(i, CommandErrorKind::NumberTooLarge)
        }
        Err(e) => invalid(i, e),
    }
}

/// Parses `"(" [item *(SP item)] ")"`, bounded by the item limit.
fn paren_list<'a, T>(
    cx: &Cx,
    i: &'a [u8],
    allow_empty: bool,
    mut item: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let (mut i, _) = open(i)?;
    let mut out = Vec::new();
    if let Some(rest) = try_close(i)? {
        if !allow_empty {
            // Classified here: a soft error at `)` would read as unbalanced.
            return hard(i, CommandErrorKind::Syntax);
        }
        return Ok((rest, out));
    }
    loop {
        if out.len() >= cx.limits.max_items {
            return hard(i, CommandErrorKind::TooManyItems);
        }
        let (rest, v) = item(i)?;
        out.push(v);
        i = rest;
        if let Some(rest) = try_close(i)? {
            return Ok((rest, out));
        }
        let (rest, _) = sp(i)?;
        i = rest;
    }
}

/// `Some(rest)` after a `)`, `None` if something else follows, a hard error at the line end.
fn try_close(i: &[u8]) -> Result<Option<&[u8]>, nom::Err<PErr<'_>>> {
    match close(i) {
        Ok((rest, ())) => Ok(Some(rest)),
        Err(nom::Err::Error(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF base64)`;
/// `initial-resp = (base64 / "=")` (RFC 4959)
fn authenticate(i: &[u8]) -> BodyResult<'_> {
    let (i, _) = sp(i)?;
    let (i, mechanism) = atom(i)?;
    let (i, initial) = match sp(i) {
        Ok((i, _)) => {
            let (rest, b) =
                take_while1(|b: u8| b.is_ascii_alphanumeric() || b"+/=".contains(&b))(i)?;
            let text = String::from_utf8_lossy(b).into_owned();
            let text = if text == "=" { String::new() } else { text };
            (rest, Some(Secret::new(text)))
        }
        Err(_) => (i, None),
    };
    Ok((
        i,
        CommandBody::Authenticate {
            mechanism,
            initial_response: initial,
        },
    ))
}

/// `login = "LOGIN" SP userid SP password`; `userid = astring`; `password = astring`
fn login<'a>(_cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, username) = astring(i)?;
    let (i, _) = sp(i)?;
    let (i, password) = astring(i)?;
    Ok((
        i,
        CommandBody::Login {
            username,
            password: Secret::new(password),
        },
    ))
}

/// `compress = "COMPRESS" SP algorithm` (RFC 4978)
fn compress(i: &[u8]) -> BodyResult<'_> {
    let (i, _) = sp(i)?;
    let (i, a) = atom(i)?;
    Ok((i, CommandBody::Compress(a)))
}

/// `enable = "ENABLE" 1*(SP capability)`
fn enable(mut i: &[u8]) -> BodyResult<'_> {
    let mut caps = Vec::new();
    while let Ok((rest, _)) = sp(i) {
        let (rest, a) = atom(rest)?;
        caps.push(a);
        i = rest;
    }
    if caps.is_empty() {
        return soft(i);
    }
    Ok((i, CommandBody::Enable(caps)))
}

/// `id = "ID" SP id_params_list`;
/// `id_params_list = "(" *(string SP nstring) ")" / nil` (RFC 2971; the session bounds what it keeps)
fn id<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    if let Ok((rest, ())) = keyword(i, "NIL") {
        return Ok((rest, CommandBody::Id(Vec::new())));
    }
    let (i, fields) = paren_list(cx, i, true, |i| {
        let (i, k) = string(i)?;
        let (i, _) = sp(i)?;
        if let Ok((rest, ())) = keyword(i, "NIL") {
            return Ok((rest, (k, None)));
        }
        let (i, v) = string(i)?;
        Ok((i, (k, Some(v))))
    })?;
    Ok((i, CommandBody::Id(fields)))
}

/// `select = "SELECT" SP mailbox [select-params]`;
/// `select-params = SP "(" select-param *(SP select-param) ")"`
fn select<'a>(cx: &Cx, i: &'a [u8], examine: bool) -> BodyResult<'a> {
    let (i, mailbox) = one_mailbox(cx, i)?;
    let (i, params) = match sp(i) {
        Ok((i, _)) => paren_list(cx, i, false, |i| select_param(cx, i))?,
        Err(_) => (i, Vec::new()),
    };
    Ok((
        i,
        if examine {
            CommandBody::Examine { mailbox, params }
        } else {
            CommandBody::Select { mailbox, params }
        },
    ))
}

/// `select-param = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
///  [SP known-uids] [SP seq-match-data] ")"` (RFC 7162)
fn select_param<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, SelectParam> {
    if let Ok((i, ())) = keyword(i, "CONDSTORE") {
        return Ok((i, SelectParam::CondStore));
    }
    let (i, ()) = keyword(i, "QRESYNC")?;
    let (i, _) = sp(i)?;
    let (i, ()) = open(i)?;
    let (i, uid_validity) = nz_number(i)?;
    let (i, _) = sp(i)?;
    let (mut i, mod_seq) = number64(i)?;
    let mut known_uids = None;
    let mut seq_match = None;
    if let Ok((rest, _)) = sp(i)
        && rest.first() != Some(&b'(')
    {
        let (rest, s) = sequence_set(cx, rest)?;
        known_uids = Some(s);
        i = rest;
    }
    if let Ok((rest, _)) = sp(i) {
        let (rest, ()) = open(rest)?;
        let (rest, a) = sequence_set(cx, rest)?;
        let (rest, _) = sp(rest)?;
        let (rest, b) = sequence_set(cx, rest)?;
        let (rest, ()) = close(rest)?;
        seq_match = Some((a, b));
        i = rest;
    }
    let (i, ()) = close(i)?;
    Ok((
        i,
        SelectParam::QResync {
            uid_validity,
            mod_seq,
            known_uids,
            seq_match,
        },
    ))
}

/// `rename = "RENAME" SP mailbox SP mailbox`
fn rename<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, from) = one_mailbox(cx, i)?;
    let (i, to) = one_mailbox(cx, i)?;
    Ok((i, CommandBody::Rename { from, to }))
}

/// `list-mailbox = 1*list-char / string`; `list-char = ATOM-CHAR / list-wildcards / resp-specials`
fn list_mailbox(i: &[u8]) -> PResult<'_, String> {
    match i.first() {
        _ if starts_string(i) => {
            let (rest, v) = string(i)?;
            utf8_string(rest, v)
        }
        _ => {
            let (rest, v) = take_while1(|b| is_astring_char(b) || b == b'%' || b == b'*')(i)?;
            utf8_string(rest, v.to_vec())
        }
    }
}

/// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]`;
/// `mbox-or-pat = list-mailbox / patterns`; `patterns = "(" list-mailbox *(SP list-mailbox) ")"`
fn list<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (mut i, _) = sp(i)?;
    let mut select = Vec::new();
    if i.first() == Some(&b'(') {
        let (rest, s) = paren_list(cx, i, true, list_select_opt)?;
        let (rest, _) = sp(rest)?;
        select = s;
        i = rest;
    }
    let (i, reference) = {
        let (rest, a) = astring(i)?;
        utf8_string(rest, a.into_bytes())?
    };
    let (i, _) = sp(i)?;
    let (mut i, patterns) = if i.first() == Some(&b'(') {
        paren_list(cx, i, false, list_mailbox)?
    } else {
        let (rest, p) = list_mailbox(i)?;
        (rest, vec![p])
    };
    let mut ret = Vec::new();
    if let Ok((rest, _)) = sp(i) {
        let (rest, ()) = keyword(rest, "RETURN")?;
        let (rest, _) = sp(rest)?;
        let (rest, r) = paren_list(cx, rest, true, |i| return_option(cx, i))?;
        ret = r;
        i = rest;
    }
    Ok((
        i,
        CommandBody::List {
            select,
            reference,
            patterns,
            ret,
        },
    ))
}

/// `list-select-opt = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"`
fn list_select_opt(i: &[u8]) -> PResult<'_, ListSelect> {
    let (rest, a) = atom(i)?;
    let opt = match a.as_str().to_ascii_uppercase().as_str() {
        "SUBSCRIBED" => ListSelect::Subscribed,
        "REMOTE" => ListSelect::Remote,
        "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
        "SPECIAL-USE" => ListSelect::SpecialUse,
        _ => return soft(i),
    };
    Ok((rest, opt))
}

/// `return-option = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / "STATUS" SP "(" status-att ... ")"`
fn return_option<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, ListReturn> {
    let (rest, a) = atom(i)?;
    let opt = match a.as_str().to_ascii_uppercase().as_str() {
        "SUBSCRIBED" => ListReturn::Subscribed,
        "CHILDREN" => ListReturn::Children,
        "SPECIAL-USE" => ListReturn::SpecialUse,
        "STATUS" => {
            let (rest, _) = sp(rest)?;
            let (rest, items) = paren_list(cx, rest, false, status_att)?;
            return Ok((rest, ListReturn::Status(items)));
        }
        _ => return soft(i),
    };
    Ok((rest, opt))
}

/// `lsub = "LSUB" SP mailbox SP list-mailbox`
fn lsub<'a>(_cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, a) = astring(i)?;
    let (i, reference) = utf8_string(i, a.into_bytes())?;
    let (i, _) = sp(i)?;
    let (i, pattern) = list_mailbox(i)?;
    Ok((i, CommandBody::Lsub { reference, pattern }))
}

/// `status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" / "DELETED" / "SIZE"`
/// (plus rev1 `RECENT` and RFC 7162 `HIGHESTMODSEQ`)
fn status_att(i: &[u8]) -> PResult<'_, StatusItem> {
    let (rest, a) = atom(i)?;
    match StatusItem::from_name(a.as_str()) {
        Some(s) => Ok((rest, s)),
        None => soft(i),
    }
}

/// `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`
fn status<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, mailbox) = one_mailbox(cx, i)?;
    let (i, _) = sp(i)?;
    let (i, items) = paren_list(cx, i, false, status_att)?;
    Ok((i, CommandBody::Status { mailbox, items }))
}

/// `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension`
/// (`\Recent` is refused: clients cannot set it)
fn flag(i: &[u8]) -> PResult<'_, Flag> {
    let (rest, bs) = match i.first() {
        Some(b'\\') => (&i[1..], true),
        _ => (i, false),
    };
    let (rest, a) = atom(rest)?;
    let text = if bs {
        format!("\\{}", a.as_str())
    } else {
        a.as_str().to_string()
    };
    match Flag::try_from(text.as_str()) {
        Ok(Flag::Recent) => invalid(i, ValueError::Invalid("flag: \\Recent cannot be set")),
        Ok(f) => Ok((rest, f)),
        Err(e) => invalid(i, e),
    }
}

/// `flag-list = "(" [flag *(SP flag)] ")"`
fn flag_list<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, Vec<Flag>> {
    paren_list(cx, i, true, flag)
}

/// `append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP append-data`;
/// `append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"` (RFC 4469)
fn append<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, mailbox) = one_mailbox(cx, i)?;
    let (mut i, _) = sp(i)?;
    let mut flags = Vec::new();
    if i.first() == Some(&b'(') {
        let (rest, f) = flag_list(cx, i)?;
        let (rest, _) = sp(rest)?;
        flags = f;
        i = rest;
    }
    let mut date = None;
    if i.first() == Some(&b'"') {
        let (rest, d) = date_time(i)?;
        let (rest, _) = sp(rest)?;
        date = Some(d);
        i = rest;
    }
    if let Ok((rest, ())) = keyword(i, "CATENATE") {
        let mut pieces = vec![AppendPiece::Message {
            flags,
            date,
            catenate: true,
        }];
        let (rest, literal) = multiappend::pieces(cx, rest, multiappend::At::CatOpen, &mut pieces)?;
        let replace = None;
        return Ok((
            rest,
            CommandBody::Catenate {
                mailbox,
                pieces,
                literal,
                replace,
            },
        ));
    }
    let (i, message) = append_data(i)?;
    Ok((
        i,
        CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
        },
    ))
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`
fn date_time(i: &[u8]) -> PResult<'_, DateTime> {
    let (rest, q) = quoted(i)?;
    match std::str::from_utf8(&q).map(DateTime::try_from) {
        Ok(Ok(d)) => Ok((rest, d)),
        Ok(Err(e)) => invalid(i, e),
        Err(_) => hard(i, CommandErrorKind::BadUtf8),
    }
}

/// `date = date-text / DQUOTE date-text DQUOTE`
fn date(i: &[u8]) -> PResult<'_, Date> {
    let (rest, text) = if i.first() == Some(&b'"') {
        quoted(i)?
    } else {
        let (rest, t) = take_while1(|b: u8| b.is_ascii_alphanumeric() || b == b'-')(i)?;
        (rest, t.to_vec())
    };
    match std::str::from_utf8(&text).map(Date::try_from) {
        Ok(Ok(d)) => Ok((rest, d)),
        Ok(Err(e)) => invalid(i, e),
        Err(_) => hard(i, CommandErrorKind::BadUtf8),
    }
}

/// `search = "SEARCH" [search-return-opts] SP search-program`;
/// `search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"`;
/// `search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)`
fn search<'a>(cx: &Cx, i: &'a [u8], uid: bool) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (mut i, ret) = search_return_opts(cx, i)?;
    let mut charset = None;
    if let Ok((rest, ())) = keyword(i, "CHARSET") {
        let (rest, _) = sp(rest)?;
        let (rest, c) = astring(rest)?;
        let (rest, _) = sp(rest)?;
        charset = Some(c);
        i = rest;
    }
    let (i, criteria) = search_program(cx, i)?;
    Ok((
        i,
        CommandBody::Search {
            uid,
            ret,
            charset,
            criteria,
        },
    ))
}

/// `1*(search-key SP) search-key`, an implicit AND.
fn search_program<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, SearchKey> {
    let (mut i, first) = search_key(cx, i, 0)?;
    let mut keys = vec![first];
    while let Ok((rest, _)) = sp(i) {
        if keys.len() >= cx.limits.max_items {
            return hard(i, CommandErrorKind::TooManyItems);
        }
        let (rest, k) = search_key(cx, rest, 0)?;
        keys.push(k);
        i = rest;
    }
    let criteria = if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    };
    Ok((i, criteria))
}

/// `search-return-opt = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE" / "PARTIAL" SP partial-range /
///  "UPDATE" [SP "(" fetch-att *(SP fetch-att) ")"]` (RFC 5267 section 4.3, RFC 5465 section 7)
/// `[search-return-opts SP]` of SEARCH and SORT (RFC 4731, 5267): the options, if given.
fn search_return_opts<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, Option<Vec<SearchReturn>>> {
    let Ok((rest, ())) = keyword(i, "RETURN") else {
        return Ok((i, None));
    };
    let (rest, _) = sp(rest)?;
    let (rest, r) = paren_list(cx, rest, true, |i| search_return_opt(cx, i))?;
    let (rest, _) = sp(rest)?;
    Ok((rest, Some(r)))
}

fn search_return_opt<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, SearchReturn> {
    let (rest, a) = atom(i)?;
    if a.as_str().eq_ignore_ascii_case("UPDATE") && rest.starts_with(b" (") {
        let (r, atts) = paren_list(cx, &rest[1..], false, |i| fetch_att(cx, i))?;
        return Ok((r, SearchReturn::UpdateFetch(atts)));
    }
    let r = match a.as_str().to_ascii_uppercase().as_str() {
        "MIN" => SearchReturn::Min,
        "MAX" => SearchReturn::Max,
        "ALL" => SearchReturn::All,
        "COUNT" => SearchReturn::Count,
        "SAVE" => SearchReturn::Save,
        "PARTIAL" => return sort::partial_opt(rest),
        "UPDATE" => SearchReturn::Update,
        _ => return soft(i),
    };
    Ok((rest, r))
}

/// `search-key = "ALL" / "ANSWERED" / "BCC" SP astring / ... / sequence-set /
///  "(" search-key *(SP search-key) ")"` (RFC 9051 plus rev1 NEW, OLD, RECENT)
fn search_key<'a>(cx: &Cx, i: &'a [u8], depth: usize) -> PResult<'a, SearchKey> {
    use SearchKey as K;
    if depth >= cx.limits.max_depth {
        return hard(i, CommandErrorKind::TooDeep);
    }
    match i.first() {
        Some(b'(') => {
            let (rest, keys) = paren_list(cx, i, false, |i| search_key(cx, i, depth + 1))?;
            return Ok((rest, K::And(keys)));
        }
        Some(b) if b.is_ascii_digit() || *b == b'*' || *b == b'$' => {
            let (rest, s) = sequence_set(cx, i)?;
            return Ok((rest, K::SequenceSet(s)));
        }
        _ => {}
    }
    let (rest, word) = take_while1(|b: u8| b.is_ascii_alphabetic())(i)?;
    if rest.first().is_some_and(|&b| is_atom_char(b)) {
        return soft(i);
    }
    let word = word.to_ascii_uppercase();
    let arg_astring = |r| -> PResult<'a, AString> {
        let (r, _) = sp(r)?;
        astring(r)
    };
    let arg_date = |r| -> PResult<'a, Date> {
        let (r, _) = sp(r)?;
        date(r)
    };
    let arg_keyword = |r| -> PResult<'a, Atom> {
        let (r, _) = sp(r)?;
        atom(r)
    };
    let arg_num = |r| -> PResult<'a, u64> {
        let (r, _) = sp(r)?;
        number64(r)
    };
    let arg_nz = |r| -> PResult<'a, u32> {
        let (r, _) = sp(r)?;
        let (r, n) = nz_number(r)?;
        Ok((r, n.get()))
    };
    match word.as_slice() {
        b"ALL" => Ok((rest, K::All)),
        b"ANSWERED" => Ok((rest, K::Answered)),
        b"DELETED" => Ok((rest, K::Deleted)),
        b"DRAFT" => Ok((rest, K::Draft)),
        b"FLAGGED" => Ok((rest, K::Flagged)),
        b"NEW" => Ok((rest, K::New)),
        b"OLD" => Ok((rest, K::Old)),
        b"RECENT" => Ok((rest, K::Recent)),
        b"SEEN" => Ok((rest, K::Seen)),
        b"UNANSWERED" => Ok((rest, K::Unanswered)),
        b"UNDELETED" => Ok((rest, K::Undeleted)),
        b"UNDRAFT" => Ok((rest, K::Undraft)),
        b"UNFLAGGED" => Ok((rest, K::Unflagged)),
        b"UNSEEN" => Ok((rest, K::Unseen)),
        b"BCC" => m(arg_astring(rest), K::Bcc),
        b"BODY" => m(arg_astring(rest), K::Body),
        b"CC" => m(arg_astring(rest), K::Cc),
        b"FROM" => m(arg_astring(rest), K::From),
        b"SUBJECT" => m(arg_astring(rest), K::Subject),
        b"TEXT" => m(arg_astring(rest), K::Text),
        b"TO" => m(arg_astring(rest), K::To),
        b"BEFORE" => m(arg_date(rest), K::Before),
        b"ON" => m(arg_date(rest), K::On),
        b"SINCE" => m(arg_date(rest), K::Since),
        b"SENTBEFORE" => m(arg_date(rest), K::SentBefore),
        b"SENTON" => m(arg_date(rest), K::SentOn),
        b"SENTSINCE" => m(arg_date(rest), K::SentSince),
        b"KEYWORD" => m(arg_keyword(rest), K::Keyword),
        b"UNKEYWORD" => m(arg_keyword(rest), K::Unkeyword),
        b"LARGER" => m(arg_num(rest), K::Larger),
        b"SMALLER" => m(arg_num(rest), K::Smaller),
        b"MODSEQ" => m(modseq_key(rest), K::ModSeq),
        b"OLDER" => m(arg_nz(rest), K::Older),
        b"SAVEDBEFORE" => m(arg_date(rest), K::SavedBefore),
        b"SAVEDON" => m(arg_date(rest), K::SavedOn),
        b"SAVEDSINCE" => m(arg_date(rest), K::SavedSince),
        b"SAVEDATESUPPORTED" => Ok((rest, K::SaveDateSupported)),
        b"EMAILID" => m(sort::objectid(rest), K::EmailId),
        b"THREADID" => m(sort::objectid(rest), K::ThreadId),
        b"YOUNGER" => m(arg_nz(rest), K::Younger),
        b"HEADER" => {
            let (r, name) = arg_astring(rest)?;
            let (r, value) = arg_astring(r)?;
            Ok((r, K::Header(name, value)))
        }
        b"UID" => {
            let (r, _) = sp(rest)?;
            let (r, s) = sequence_set(cx, r)?;
            Ok((r, K::Uid(s)))
        }
        b"NOT" => {
            let (r, _) = sp(rest)?;
            let (r, k) = search_key(cx, r, depth + 1)?;
            Ok((r, K::Not(Box::new(k))))
        }
        b"OR" => {
            let (r, _) = sp(rest)?;
            let (r, a) = search_key(cx, r, depth + 1)?;
            let (r, _) = sp(r)?;
            let (r, b) = search_key(cx, r, depth + 1)?;
            Ok((r, K::Or(Box::new(a), Box::new(b))))
        }
        _ => soft(i),
    }
}

/// Wraps a parsed search argument into its key.
/// `search-modsequence = "MODSEQ" [search-modseq-ext] SP mod-sequence-valzer`;
/// `search-modseq-ext = SP entry-name SP entry-type-req`; `entry-name = entry-flag-name`;
/// `entry-type-req = "priv" / "shared" / "all"` (RFC 7162). The entry is accepted and
/// ignored: modseqs are kept per message, which the RFC allows for every entry.
fn modseq_key(i: &[u8]) -> PResult<'_, u64> {
    let (mut i, _) = sp(i)?;
    if i.first() == Some(&b'"') {
        let (r, _) = quoted(i)?;
        let (r, _) = sp(r)?;
        let (r, kind) = take_while1(|b: u8| b.is_ascii_alphabetic())(r)?;
        if !matches!(
            kind.to_ascii_lowercase().as_slice(),
            b"priv" | b"shared" | b"all"
        ) {
            return hard(r, CommandErrorKind::Syntax);
        }
        let (r, _) = sp(r)?;
        i = r;
    }
    number64(i)
}

fn m<'a, T>(r: PResult<'a, T>, f: fn(T) -> SearchKey) -> PResult<'a, SearchKey> {
    r.map(|(r, v)| (r, f(v)))
}

/// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
///  "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]`
fn fetch<'a>(cx: &Cx, i: &'a [u8], uid: bool) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, set) = sequence_set(cx, i)?;
    let (i, _) = sp(i)?;
    let (mut i, items) = if i.first() == Some(&b'(') {
        let (r, l) = paren_list(cx, i, false, |i| fetch_att(cx, i))?;
        (r, FetchItems::List(l))
    } else if let Ok((r, ())) = keyword(i, "ALL") {
        (r, FetchItems::All)
    } else if let Ok((r, ())) = keyword(i, "FAST") {
        (r, FetchItems::Fast)
    } else if let Ok((r, ())) = keyword(i, "FULL") {
        (r, FetchItems::Full)
    } else {
        let (r, a) = fetch_att(cx, i)?;
        (r, FetchItems::List(vec![a]))
    };
    let mut modifiers = Vec::new();
    if let Ok((rest, _)) = sp(i) {
        let (rest, m) = paren_list(cx, rest, false, fetch_modifier)?;
        modifiers = m;
        i = rest;
    }
    Ok((
        i,
        CommandBody::Fetch {
            uid,
            set,
            items,
            modifiers,
        },
    ))
}

/// `fetch-modifier = "CHANGEDSINCE" SP mod-sequence-valzer / "VANISHED"` (RFC 7162)
fn fetch_modifier(i: &[u8]) -> PResult<'_, FetchModifier> {
    if let Ok((r, ())) = keyword(i, "VANISHED") {
        return Ok((r, FetchModifier::Vanished));
    }
    if let Ok((r, ())) = keyword(i, "PARTIAL") {
        return match sort::partial_opt(r)? {
            (r, SearchReturn::Partial(p)) => Ok((r, FetchModifier::Partial(p))),
            _ => soft(i),
        };
    }
    let (r, ()) = keyword(i, "CHANGEDSINCE")?;
    let (r, _) = sp(r)?;
    let (r, n) = number64(r)?;
    Ok((r, FetchModifier::ChangedSince(n)))
}

/// `fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
///  "BODY" ["STRUCTURE"] / "UID" / "BODY" section [partial] / "BODY.PEEK" section [partial] /
///  "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary` (+ `MODSEQ`)
fn fetch_att<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, FetchAttribute> {
    use FetchAttribute as F;
    let (rest, name) = take_while1(|b: u8| b.is_ascii_alphanumeric() || b == b'.')(i)?;
    let name = name.to_ascii_uppercase();
    let bracket = rest.first() == Some(&b'[');
    let plain = |a: FetchAttribute| -> PResult<'a, FetchAttribute> {
        if bracket || rest.first().is_some_and(|&b| is_atom_char(b)) {
            soft(i)
        } else {
            Ok((rest, a))
        }
    };
    match (name.as_slice(), bracket) {
        (b"ENVELOPE", _) => plain(F::Envelope),
        (b"FLAGS", _) => plain(F::Flags),
        (b"INTERNALDATE", _) => plain(F::InternalDate),
        (b"RFC822", _) => plain(F::Rfc822),
        (b"RFC822.HEADER", _) => plain(F::Rfc822Header),
        (b"RFC822.SIZE", _) => plain(F::Rfc822Size),
        (b"RFC822.TEXT", _) => plain(F::Rfc822Text),
        (b"BODYSTRUCTURE", _) => plain(F::BodyStructure),
        (b"UID", _) => plain(F::Uid),
        (b"MODSEQ", _) => plain(F::ModSeq),
        (b"SAVEDATE", _) => plain(F::SaveDate),
        (b"EMAILID", _) => plain(F::EmailId),
        (b"THREADID", _) => plain(F::ThreadId),
        (b"PREVIEW", false) => {
            sort::preview_att(rest).or_else(|_| plain(F::Preview { lazy: false }))
        }
        (b"BODY", false) => plain(F::Body),
        (b"BODY" | b"BODY.PEEK", true) => {
            let (r, section) = section(cx, rest)?;
            let (r, partial) = partial(r)?;
            Ok((
                r,
                F::BodySection {
                    peek: name.len() > 4,
                    section,
                    partial,
                },
            ))
        }
        (b"BINARY" | b"BINARY.PEEK", true) => {
            let (r, part) = section_binary(rest)?;
            let (r, partial) = partial(r)?;
            Ok((
                r,
                F::Binary {
                    peek: name.len() > 6,
                    part,
                    partial,
                },
            ))
        }
        (b"BINARY.SIZE", true) => {
            let (r, part) = section_binary(rest)?;
            Ok((r, F::BinarySize { part }))
        }
        _ => soft(i),
    }
}

/// `section-binary = "[" [section-part] "]"`
fn section_binary(i: &[u8]) -> PResult<'_, Vec<NonZeroU32>> {
    let (i, _) = tag("[")(i)?;
    let (i, part) = if i.first() == Some(&b']') {
        (i, Vec::new())
    } else {
        section_part(i)?
    };
    let (i, _) = tag("]")(i)?;
    Ok((i, part))
}

/// `section-part = nz-number *("." nz-number)`; stops before `.TEXT`-style suffixes.
fn section_part(i: &[u8]) -> PResult<'_, Vec<NonZeroU32>> {
    let (mut i, first) = nz_number(i)?;
    let mut part = vec![first];
    while i.first() == Some(&b'.') && i.get(1).is_some_and(|b| b.is_ascii_digit()) {
        if part.len() >= 64 {
            return hard(i, CommandErrorKind::TooDeep);
        }
        let (r, n) = nz_number(&i[1..])?;
        part.push(n);
        i = r;
    }
    Ok((i, part))
}

/// `section = "[" [section-spec] "]"`;
/// `section-spec = section-msgtext / (section-part ["." section-text])`;
/// `section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"`;
/// `section-text = section-msgtext / "MIME"`
fn section<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, Section> {
    let (i, _) = tag("[")(i)?;
    let (mut i, part) = if i.first().is_some_and(|b| b.is_ascii_digit()) {
        section_part(i)?
    } else {
        (i, Vec::new())
    };
    let mut text = None;
    let want_text = if part.is_empty() {
        i.first() != Some(&b']')
    } else if i.first() == Some(&b'.') {
        i = &i[1..];
        true
    } else {
        false
    };
    if want_text {
        let (r, name) = take_while1(|b: u8| b.is_ascii_alphabetic() || b == b'.')(i)?;
        let t = match name.to_ascii_uppercase().as_slice() {
            b"HEADER" => (r, SectionText::Header),
            b"TEXT" => (r, SectionText::Text),
            b"MIME" if !part.is_empty() => (r, SectionText::Mime),
            b"HEADER.FIELDS" => {
                let (r, l) = header_list(cx, r)?;
                (r, SectionText::HeaderFields(l))
            }
            b"HEADER.FIELDS.NOT" => {
                let (r, l) = header_list(cx, r)?;
                (r, SectionText::HeaderFieldsNot(l))
            }
            _ => return soft(i),
        };
        i = t.0;
        text = Some(t.1);
    }
    let (i, _) = tag("]")(i)?;
    Ok((i, Section { part, text }))
}

/// `header-list = "(" header-fld-name *(SP header-fld-name) ")"`; `header-fld-name = astring`
fn header_list<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, Vec<AString>> {
    let (i, _) = sp(i)?;
    paren_list(cx, i, false, astring)
}

/// `partial = "<" number64 "." nz-number64 ">"`
fn partial(i: &[u8]) -> PResult<'_, Option<Partial>> {
    if i.first() != Some(&b'<') {
        return Ok((i, None));
    }
    let (r, offset) = number(&i[1..])?;
    let (r, _) = tag(".")(r)?;
    let (r, len) = nz_number(r)?;
    let (r, _) = tag(">")(r)?;
    Ok((r, Some(Partial { offset, len })))
}

/// `store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags`;
/// `store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"` (RFC 7162);
/// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))`
fn store<'a>(cx: &Cx, i: &'a [u8], uid: bool) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, set) = sequence_set(cx, i)?;
    let (mut i, _) = sp(i)?;
    let mut unchanged_since = None;
    if i.first() == Some(&b'(') {
        let (r, ()) = open(i)?;
        let (r, ()) = keyword(r, "UNCHANGEDSINCE")?;
        let (r, _) = sp(r)?;
        let (r, n) = number64(r)?;
        let (r, ()) = close(r)?;
        let (r, _) = sp(r)?;
        unchanged_since = Some(n);
        i = r;
    }
    let (i, kind) = match i.first() {
        Some(b'+') => (&i[1..], StoreKind::Add),
        Some(b'-') => (&i[1..], StoreKind::Remove),
        _ => (i, StoreKind::Replace),
    };
    let (i, word) = take_while1(|b: u8| b.is_ascii_alphabetic() || b == b'.')(i)?;
    let silent = match word.to_ascii_uppercase().as_slice() {
        b"FLAGS" => false,
        b"FLAGS.SILENT" => true,
        _ => return soft(i),
    };
    let (i, _) = sp(i)?;
    let (i, flags) = if i.first() == Some(&b'(') {
        flag_list(cx, i)?
    } else {
        let (mut i, f) = flag(i)?;
        let mut flags = vec![f];
        while let Ok((r, _)) = sp(i) {
            if flags.len() >= cx.limits.max_items {
                return hard(i, CommandErrorKind::TooManyItems);
            }
            let (r, f) = flag(r)?;
            flags.push(f);
            i = r;
        }
        (i, flags)
    };
    Ok((
        i,
        CommandBody::Store {
            uid,
            set,
            op: StoreOp {
                kind,
                silent,
                flags,
            },
            unchanged_since,
        },
    ))
}

/// `copy = "COPY" SP sequence-set SP mailbox`; `move = "MOVE" SP sequence-set SP mailbox`
fn copy_move<'a>(cx: &Cx, i: &'a [u8], uid: bool, is_move: bool) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, set) = sequence_set(cx, i)?;
    let (i, mailbox) = one_mailbox(cx, i)?;
    Ok((
        i,
        if is_move {
            CommandBody::Move { uid, set, mailbox }
        } else {
            CommandBody::Copy { uid, set, mailbox }
        },
    ))
}

mod multiappend;
mod quota;
mod sort;

pub use multiappend::{
    AppendNext, AppendPiece, AppendTail, TailParsed, in_catenate, parse_append_tail,
};

#[cfg(test)]
mod tests;
