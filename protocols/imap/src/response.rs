//! Typed server responses and their serializer (RFC 9051 section 7 and 9).
//!
//! Strings are written in the cheapest form the grammar allows: atom where an astring may be an
//! atom, quoted when every byte is a TEXT-CHAR (8-bit only as valid UTF-8 and only in UTF-8
//! mode), literal otherwise. FETCH responses can stream a body literal: [`FetchWriter`] writes
//! the `{n}` header and the caller copies the n bytes from its reader.

use std::num::NonZeroU32;

use thiserror::Error;

use crate::types::{
    Atom, Capability, DateTime, Flag, FlagPerm, Section, SectionText, SeqSet, StatusItem, Tag,
    is_astring_char,
};

/// Human-readable text in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);

/// A value a response cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ResponseError {
    /// Text with CR, LF or NUL, empty text, or text starting with `[` (would read as a code).
    #[error("invalid response text")]
    InvalidText,
}

impl TryFrom<&str> for Text {
    type Error = ResponseError;
    /// `text = 1*TEXT-CHAR`
    fn try_from(s: &str) -> Result<Self, ResponseError> {
        if s.is_empty() || s.starts_with('[') || s.contains(['\r', '\n', '\0']) {
            return Err(ResponseError::InvalidText);
        }
        Ok(Text(s.to_string()))
    }
}

impl Text {
    /// Text from a string, with forbidden characters replaced so that a message from an error
    /// value can never break the protocol.
    pub fn sanitized(s: &str) -> Text {
        let mut t: String = s
            .chars()
            .map(|c| {
                if matches!(c, '\r' | '\n' | '\0') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        if t.starts_with('[') {
            t.insert(0, ' ');
        }
        if t.trim().is_empty() {
            t = "Done".into();
        }
        Text(t)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `resp-cond-state` kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
}

/// `resp-text-code` (RFC 9051, RFC 5530, RFC 4315, RFC 7162).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `ALERT`
    Alert,
    /// `BADCHARSET [(charsets)]`
    BadCharset(Vec<String>),
    /// `CAPABILITY ...`
    Capability(Vec<Capability>),
    /// `PARSE`
    Parse,
    /// `PERMANENTFLAGS (...)`
    PermanentFlags(Vec<FlagPerm>),
    /// `READ-ONLY`
    ReadOnly,
    /// `READ-WRITE`
    ReadWrite,
    /// `TRYCREATE`
    TryCreate,
    /// `UIDNEXT n`
    UidNext(NonZeroU32),
    /// `UIDVALIDITY n`
    UidValidity(NonZeroU32),
    /// `UNSEEN n` (rev1)
    Unseen(NonZeroU32),
    /// `APPENDUID uidvalidity uid-set`
    AppendUid {
        /// UIDVALIDITY of the target.
        uid_validity: NonZeroU32,
        /// Assigned UIDs.
        uids: SeqSet,
    },
    /// `COPYUID uidvalidity source-set dest-set`
    CopyUid {
        /// UIDVALIDITY of the target.
        uid_validity: NonZeroU32,
        /// Source UIDs.
        source: SeqSet,
        /// Target UIDs, in the same order.
        dest: SeqSet,
    },
    /// `UIDNOTSTICKY`
    UidNotSticky,
    /// `NONEXISTENT`
    NonExistent,
    /// `ALREADYEXISTS`
    AlreadyExists,
    /// `TOOBIG`
    TooBig,
    /// `OVERQUOTA`
    OverQuota,
    /// `UIDREQUIRED` (RFC 9586): a message sequence number was used in UIDONLY mode.
    UidRequired,
    /// `BADURL url` (RFC 4469): a CATENATE URL that cannot be used.
    BadUrl(String),
    /// `INUSE`
    InUse,
    /// `SERVERBUG`
    ServerBug,
    /// `CLIENTBUG`
    ClientBug,
    /// `CANNOT`
    Cannot,
    /// `LIMIT`
    Limit,
    /// `EXPUNGEISSUED`
    ExpungeIssued,
    /// `UNKNOWN-CTE` (RFC 3516): BINARY met a content-transfer-encoding it cannot decode.
    UnknownCte,
    /// `CONTACTADMIN`
    ContactAdmin,
    /// `NOPERM`
    NoPerm,
    /// `AUTHENTICATIONFAILED`
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED`
    AuthorizationFailed,
    /// `UNAVAILABLE`
    Unavailable,
    /// `PRIVACYREQUIRED`
    PrivacyRequired,
    /// `EXPIRED`
    Expired,
    /// `HASCHILDREN`
    HasChildren,
    /// `CLOSED`
    Closed,
    /// `COMPRESSIONACTIVE` (RFC 4978)
    CompressionActive,
    /// `HIGHESTMODSEQ n`
    HighestModSeq(u64),
    /// `MAILBOXID (id)` (RFC 8474)
    MailboxId(String),
    /// `NOMODSEQ`
    NoModSeq,
    /// `MODIFIED set`
    Modified(SeqSet),
    /// An extension code written as given: `USEATTR`, `METADATA TOOMANY`, `INPROGRESS (...)`.
    Other(String),
}

/// Mailbox attributes in LIST/LSUB (RFC 9051, RFC 6154 special use, RFC 5258).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxAttr {
    /// `\Noinferiors`
    NoInferiors,
    /// `\Noselect`
    NoSelect,
    /// `\Marked`
    Marked,
    /// `\Unmarked`
    Unmarked,
    /// `\NonExistent`
    NonExistent,
    /// `\Subscribed`
    Subscribed,
    /// `\Remote`
    Remote,
    /// `\HasChildren`
    HasChildren,
    /// `\HasNoChildren`
    HasNoChildren,
    /// `\All`
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
}

impl MailboxAttr {
    fn name(&self) -> &'static str {
        use MailboxAttr::*;
        match self {
            NoInferiors => "\\Noinferiors",
            NoSelect => "\\Noselect",
            Marked => "\\Marked",
            Unmarked => "\\Unmarked",
            NonExistent => "\\NonExistent",
            Subscribed => "\\Subscribed",
            Remote => "\\Remote",
            HasChildren => "\\HasChildren",
            HasNoChildren => "\\HasNoChildren",
            All => "\\All",
            Archive => "\\Archive",
            Drafts => "\\Drafts",
            Flagged => "\\Flagged",
            Junk => "\\Junk",
            Sent => "\\Sent",
            Trash => "\\Trash",
        }
    }
}

/// `mbox-list-extended-item` (RFC 5258).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListExtended {
    /// `"CHILDINFO" SP "(" "SUBSCRIBED" ")"`: a child matches the selection.
    ChildInfoSubscribed,
    /// `"OLDNAME" SP "(" mailbox ")"` (RFC 9051)
    OldName(String),
}

/// One LIST or LSUB entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Attributes.
    pub attributes: Vec<MailboxAttr>,
    /// Hierarchy delimiter; None for a flat namespace.
    pub delimiter: Option<char>,
    /// The wire name (already mUTF-7 encoded unless UTF-8 mode is on).
    pub mailbox: String,
    /// Extended data.
    pub extended: Vec<ListExtended>,
}

/// `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// Display name.
    pub name: Option<Vec<u8>>,
    /// Source route (obsolete).
    pub adl: Option<Vec<u8>>,
    /// Local part, or group name.
    pub mailbox: Option<Vec<u8>>,
    /// Domain; None marks group syntax.
    pub host: Option<Vec<u8>>,
}

/// `envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to
///  SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Date header, raw.
    pub date: Option<Vec<u8>>,
    /// Subject header, raw.
    pub subject: Option<Vec<u8>>,
    /// From addresses.
    pub from: Vec<Address>,
    /// Sender addresses.
    pub sender: Vec<Address>,
    /// Reply-To addresses.
    pub reply_to: Vec<Address>,
    /// To addresses.
    pub to: Vec<Address>,
    /// Cc addresses.
    pub cc: Vec<Address>,
    /// Bcc addresses.
    pub bcc: Vec<Address>,
    /// In-Reply-To header, raw.
    pub in_reply_to: Option<Vec<u8>>,
    /// Message-ID header, raw.
    pub message_id: Option<Vec<u8>>,
}

/// `body-fld-param`: attribute/value pairs; empty for NIL.
pub type BodyParams = Vec<(Vec<u8>, Vec<u8>)>;

/// `body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyFields {
    /// Content-Type parameters.
    pub params: BodyParams,
    /// Content-ID.
    pub id: Option<Vec<u8>>,
    /// Content-Description.
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding (`7BIT` when absent).
    pub encoding: Vec<u8>,
    /// Size in octets of the encoded body.
    pub octets: u32,
}

/// `body-fld-dsp = "(" string SP body-fld-param ")" / nil`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    /// Disposition type, e.g. `attachment`.
    pub kind: Vec<u8>,
    /// Its parameters.
    pub params: BodyParams,
}

/// Extension data shared by both part kinds (BODYSTRUCTURE only, never BODY):
/// `[SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyExtension {
    /// Content-Disposition.
    pub disposition: Option<Disposition>,
    /// Content-Language values.
    pub language: Vec<Vec<u8>>,
    /// Content-Location.
    pub location: Option<Vec<u8>>,
}

/// What kind of single part this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinglePartKind {
    /// `body-type-basic`: any non-text, non-message/rfc822 type.
    Basic,
    /// `body-type-text`: `TEXT/*` with its line count.
    Text {
        /// Lines of the encoded body.
        lines: u32,
    },
    /// `body-type-msg`: `MESSAGE/RFC822` (or GLOBAL) with the inner message.
    Message {
        /// The inner message's envelope.
        envelope: Box<Envelope>,
        /// The inner message's structure.
        body: Box<BodyStructure>,
        /// Lines of the encoded body.
        lines: u32,
    },
}

/// `body = "(" (body-type-1part / body-type-mpart) ")"`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    /// A leaf part.
    Single {
        /// Media type, e.g. `TEXT`.
        media_type: Vec<u8>,
        /// Media subtype, e.g. `PLAIN`.
        subtype: Vec<u8>,
        /// Common fields.
        fields: BodyFields,
        /// Kind-specific fields.
        kind: SinglePartKind,
        /// `body-fld-md5` then the shared extension data; None omits all extension data.
        extension: Option<(Option<Vec<u8>>, BodyExtension)>,
    },
    /// `body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]`
    Multi {
        /// The parts (at least one).
        parts: Vec<BodyStructure>,
        /// Subtype, e.g. `MIXED`.
        subtype: Vec<u8>,
        /// `body-fld-param` then the shared extension data; None omits all extension data.
        extension: Option<(BodyParams, BodyExtension)>,
    },
}

/// `msg-att-dynamic / msg-att-static` items of a FETCH response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    /// `FLAGS (...)` (may include `\Recent`)
    Flags(Vec<Flag>),
    /// `UID n`
    Uid(NonZeroU32),
    /// `INTERNALDATE "..."`
    InternalDate(DateTime),
    /// `RFC822.SIZE n`
    Rfc822Size(u64),
    /// `MODSEQ (n)`
    ModSeq(u64),
    /// `ENVELOPE (...)`
    Envelope(Box<Envelope>),
    /// `BODY (...)`: structure without extension data (any extension present is not sent).
    Body(Box<BodyStructure>),
    /// `BODYSTRUCTURE (...)`
    BodyStructure(Box<BodyStructure>),
    /// `BODY[section]<origin> nstring`, data held in memory.
    BodySection {
        /// The section as requested (without `.PEEK`).
        section: Section,
        /// Origin octet for partial fetches.
        origin: Option<u32>,
        /// Data; None for NIL.
        data: Option<Vec<u8>>,
    },
    /// `BINARY[part]<origin> (nstring / literal8)`
    Binary {
        /// The part.
        part: Vec<NonZeroU32>,
        /// Origin octet.
        origin: Option<u32>,
        /// Decoded data; None for NIL.
        data: Option<Vec<u8>>,
    },
    /// `BINARY.SIZE[part] n`
    BinarySize {
        /// The part.
        part: Vec<NonZeroU32>,
        /// Decoded size.
        size: u64,
    },
    /// `RFC822 nstring` (rev1)
    Rfc822(Option<Vec<u8>>),
    /// `RFC822.HEADER nstring` (rev1)
    Rfc822Header(Option<Vec<u8>>),
    /// `RFC822.TEXT nstring` (rev1)
    Rfc822Text(Option<Vec<u8>>),
}

/// Name of a streamed FETCH item, written before its literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamedItem {
    /// `BODY[section]<origin>`
    BodySection {
        /// The section.
        section: Section,
        /// Origin octet.
        origin: Option<u32>,
    },
    /// `BINARY[part]<origin>`, sent as literal8 (`~{n}`) since decoded data may hold NUL.
    Binary {
        /// The part.
        part: Vec<NonZeroU32>,
        /// Origin octet.
        origin: Option<u32>,
    },
    /// `RFC822`
    Rfc822,
}

/// `esearch-response` (RFC 4731 / RFC 9051).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ESearch {
    /// `search-correlator`: the command's tag.
    pub tag: Option<Tag>,
    /// `UID` indicator.
    pub uid: bool,
    /// `MIN n`
    pub min: Option<NonZeroU32>,
    /// `MAX n`
    pub max: Option<NonZeroU32>,
    /// `ALL set`
    pub all: Option<SeqSet>,
    /// `PARTIAL (range set)` (RFC 5267 / RFC 9394); None as the set is `NIL`.
    pub partial: Option<(crate::partial::PartialRange, Option<SeqSet>)>,
    /// `COUNT n`
    pub count: Option<u32>,
    /// `MODSEQ n` (RFC 7162 3.1.5): the highest modseq of the found messages, when the
    /// search used the MODSEQ key.
    pub modseq: Option<u64>,
}

/// `Namespace = nil / "(" 1*Namespace-Descr ")"`: (prefix, delimiter) pairs.
pub type Namespace = Vec<(String, Option<char>)>;

/// Untagged data responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// `CAPABILITY ...`
    Capability(Vec<Capability>),
    /// `ENABLED ...`
    Enabled(Vec<Atom>),
    /// `LIST ...`
    List(ListEntry),
    /// `LSUB ...` (rev1)
    Lsub(ListEntry),
    /// `STATUS mailbox (item value ...)`
    Status {
        /// The wire name.
        mailbox: String,
        /// Items with values.
        items: Vec<(StatusItem, u64)>,
        /// `MAILBOXID (id)` (RFC 8474), when asked for.
        mailbox_id: Option<String>,
    },
    /// `FLAGS (...)`
    Flags(Vec<Flag>),
    /// `n EXISTS`
    Exists(u32),
    /// `n RECENT`
    Recent(u32),
    /// `n EXPUNGE`
    Expunge(NonZeroU32),
    /// `SEARCH n...` with an optional CONDSTORE `(MODSEQ n)`
    Search(Vec<NonZeroU32>, Option<u64>),
    /// `ESEARCH ...`
    ESearch(ESearch),
    /// `SORT n...` (RFC 5256) in sort order, with an optional CONDSTORE `(MODSEQ n)`
    Sort(Vec<NonZeroU32>, Option<u64>),
    /// `THREAD thread-list...` (RFC 5256)
    Thread(crate::thread::Threads),
    /// `n FETCH (...)` with in-memory items; use [`FetchWriter`] to stream.
    Fetch {
        /// Sequence number.
        seq: NonZeroU32,
        /// Items.
        items: Vec<FetchItem>,
    },
    /// `VANISHED [(EARLIER)] known-uids` (RFC 7162 3.2.10)
    Vanished {
        /// `(EARLIER)`: an answer to SELECT (QRESYNC) or UID FETCH VANISHED, not news.
        earlier: bool,
        /// The expunged UIDs.
        uids: SeqSet,
    },
    /// `ID (field value ...)` (RFC 2971); values are sent as quoted strings or literals.
    Id(Vec<(String, String)>),
    /// `NAMESPACE personal other shared`
    Namespace {
        /// Personal namespaces.
        personal: Namespace,
        /// Other users' namespaces.
        other: Namespace,
        /// Shared namespaces.
        shared: Namespace,
    },
    /// `QUOTA root (resource usage limit ...)` (RFC 9208)
    Quota {
        /// The quota root name.
        root: String,
        /// Resource name, usage, limit.
        resources: Vec<(&'static str, u64, u64)>,
    },
    /// `uid UIDFETCH (...)` (RFC 9586): a FETCH response in UIDONLY mode, without the UID
    /// item.
    UidFetch {
        /// The message's UID.
        uid: NonZeroU32,
        /// Items.
        items: Vec<FetchItem>,
    },
    /// `QUOTAROOT mailbox root...` (RFC 9208)
    QuotaRoot {
        /// The wire name of the mailbox.
        mailbox: String,
        /// Its quota roots.
        roots: Vec<String>,
    },
}

/// A complete server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `tag (OK / NO / BAD) [code] text`
    Tagged {
        /// The command's tag.
        tag: Tag,
        /// Result.
        kind: StatusKind,
        /// Optional code.
        code: Option<Code>,
        /// Text.
        text: Text,
    },
    /// `* (OK / NO / BAD) [code] text`
    Untagged {
        /// Kind.
        kind: StatusKind,
        /// Optional code.
        code: Option<Code>,
        /// Text.
        text: Text,
    },
    /// `* PREAUTH [code] text` (greeting only)
    PreAuth {
        /// Optional code.
        code: Option<Code>,
        /// Text.
        text: Text,
    },
    /// `* BYE [code] text`
    Bye {
        /// Optional code.
        code: Option<Code>,
        /// Text.
        text: Text,
    },
    /// `+ text`
    Continue(Text),
    /// `+ base64` (SASL challenge); empty for an empty challenge.
    ContinueBase64(String),
    /// Untagged data.
    Data(Data),
}

/// Serializer settings that depend on the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encoder {
    /// UTF-8 mode (IMAP4rev2 or UTF8=ACCEPT enabled): 8-bit UTF-8 may be quoted.
    pub utf8: bool,
}

impl Encoder {
    /// Serializes one response, including the final CRLF.
    pub fn encode(&self, r: &Response, out: &mut Vec<u8>) {
        match r {
            Response::Tagged {
                tag,
                kind,
                code,
                text,
            } => {
                out.extend_from_slice(tag.as_str().as_bytes());
                out.push(b' ');
                self.cond(kind_name(*kind), code, text, out);
            }
            Response::Untagged { kind, code, text } => {
                out.extend_from_slice(b"* ");
                self.cond(kind_name(*kind), code, text, out);
            }
            Response::PreAuth { code, text } => {
                out.extend_from_slice(b"* ");
                self.cond("PREAUTH", code, text, out);
            }
            Response::Bye { code, text } => {
                out.extend_from_slice(b"* ");
                self.cond("BYE", code, text, out);
            }
            Response::Continue(text) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(text.0.as_bytes());
            }
            Response::ContinueBase64(b64) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(b64.as_bytes());
            }
            Response::Data(d) => self.data(d, out),
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Serializes to a fresh buffer.
    pub fn to_bytes(&self, r: &Response) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(r, &mut out);
        out
    }

    fn cond(&self, name: &str, code: &Option<Code>, text: &Text, out: &mut Vec<u8>) {
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        if let Some(code) = code {
            out.push(b'[');
            self.code(code, out);
            out.extend_from_slice(b"] ");
        }
        out.extend_from_slice(text.0.as_bytes());
    }

    fn code(&self, code: &Code, out: &mut Vec<u8>) {
        use Code::*;
        let w = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
        match code {
            Alert => w(out, "ALERT"),
            BadCharset(cs) => {
                w(out, "BADCHARSET");
                if !cs.is_empty() {
                    w(out, " (");
                    for (i, c) in cs.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        self.astring(c.as_bytes(), out);
                    }
                    out.push(b')');
                }
            }
            Capability(caps) => {
                w(out, "CAPABILITY");
                for c in caps {
                    w(out, &format!(" {c}"));
                }
            }
            Parse => w(out, "PARSE"),
            PermanentFlags(flags) => {
                w(out, "PERMANENTFLAGS (");
                let list: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
                w(out, &list.join(" "));
                out.push(b')');
            }
            ReadOnly => w(out, "READ-ONLY"),
            ReadWrite => w(out, "READ-WRITE"),
            TryCreate => w(out, "TRYCREATE"),
            UidNext(n) => w(out, &format!("UIDNEXT {n}")),
            UidValidity(n) => w(out, &format!("UIDVALIDITY {n}")),
            Unseen(n) => w(out, &format!("UNSEEN {n}")),
            AppendUid { uid_validity, uids } => w(out, &format!("APPENDUID {uid_validity} {uids}")),
            CopyUid {
                uid_validity,
                source,
                dest,
            } => w(out, &format!("COPYUID {uid_validity} {source} {dest}")),
            UidNotSticky => w(out, "UIDNOTSTICKY"),
            NonExistent => w(out, "NONEXISTENT"),
            AlreadyExists => w(out, "ALREADYEXISTS"),
            TooBig => w(out, "TOOBIG"),
            OverQuota => w(out, "OVERQUOTA"),
            UidRequired => w(out, "UIDREQUIRED"),
            BadUrl(url) => {
                w(out, "BADURL ");
                // url-resp-text: text without `]`.
                let safe: String = url
                    .chars()
                    .filter(|c| *c != ']' && !c.is_control())
                    .collect();
                w(out, &safe);
            }
            InUse => w(out, "INUSE"),
            ServerBug => w(out, "SERVERBUG"),
            ClientBug => w(out, "CLIENTBUG"),
            Cannot => w(out, "CANNOT"),
            Limit => w(out, "LIMIT"),
            ExpungeIssued => w(out, "EXPUNGEISSUED"),
            UnknownCte => w(out, "UNKNOWN-CTE"),
            ContactAdmin => w(out, "CONTACTADMIN"),
            NoPerm => w(out, "NOPERM"),
            AuthenticationFailed => w(out, "AUTHENTICATIONFAILED"),
            AuthorizationFailed => w(out, "AUTHORIZATIONFAILED"),
            Unavailable => w(out, "UNAVAILABLE"),
            PrivacyRequired => w(out, "PRIVACYREQUIRED"),
            Expired => w(out, "EXPIRED"),
            HasChildren => w(out, "HASCHILDREN"),
            Closed => w(out, "CLOSED"),
            CompressionActive => w(out, "COMPRESSIONACTIVE"),
            HighestModSeq(n) => w(out, &format!("HIGHESTMODSEQ {n}")),
            MailboxId(id) => w(out, &format!("MAILBOXID ({id})")),
            NoModSeq => w(out, "NOMODSEQ"),
            Modified(set) => w(out, &format!("MODIFIED {set}")),
            Other(text) => w(out, text),
        }
    }

    fn data(&self, d: &Data, out: &mut Vec<u8>) {
        let w = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
        match d {
            Data::Capability(caps) => {
                w(out, "* CAPABILITY");
                for c in caps {
                    w(out, &format!(" {c}"));
                }
            }
            Data::Enabled(caps) => {
                w(out, "* ENABLED");
                for c in caps {
                    w(out, &format!(" {c}"));
                }
            }
            Data::List(e) => {
                w(out, "* LIST ");
                self.list_entry(e, out);
            }
            Data::Lsub(e) => {
                w(out, "* LSUB ");
                self.list_entry(e, out);
            }
            Data::Status {
                mailbox,
                items,
                mailbox_id,
            } => {
                w(out, "* STATUS ");
                self.astring(mailbox.as_bytes(), out);
                w(out, " (");
                let mut list: Vec<String> = items
                    .iter()
                    .map(|(i, v)| format!("{} {v}", i.name()))
                    .collect();
                list.extend(mailbox_id.iter().map(|id| format!("MAILBOXID ({id})")));
                w(out, &list.join(" "));
                out.push(b')');
            }
            Data::Flags(flags) => {
                w(out, "* FLAGS ");
                flag_list(flags, out);
            }
            Data::Exists(n) => w(out, &format!("* {n} EXISTS")),
            Data::Recent(n) => w(out, &format!("* {n} RECENT")),
            Data::Expunge(n) => w(out, &format!("* {n} EXPUNGE")),
            Data::Sort(nums, modseq) => {
                w(out, "* SORT");
                for n in nums {
                    w(out, &format!(" {n}"));
                }
                if let Some(m) = modseq {
                    w(out, &format!(" (MODSEQ {m})"));
                }
            }
            Data::Thread(threads) => crate::thread::write_threads(threads, out),
            Data::Search(nums, modseq) => {
                w(out, "* SEARCH");
                for n in nums {
                    w(out, &format!(" {n}"));
                }
                if let Some(m) = modseq {
                    w(out, &format!(" (MODSEQ {m})"));
                }
            }
            Data::ESearch(e) => {
                w(out, "* ESEARCH");
                if let Some(t) = &e.tag {
                    w(out, " (TAG ");
                    self.string(t.as_str().as_bytes(), out);
                    out.push(b')');
                }
                if e.uid {
                    w(out, " UID");
                }
                if let Some(n) = e.min {
                    w(out, &format!(" MIN {n}"));
                }
                if let Some(n) = e.max {
                    w(out, &format!(" MAX {n}"));
                }
                if let Some(s) = &e.all {
                    w(out, &format!(" ALL {s}"));
                }
                if let Some((range, set)) = &e.partial {
                    match set {
                        Some(s) => w(out, &format!(" PARTIAL ({range} {s})")),
                        None => w(out, &format!(" PARTIAL ({range} NIL)")),
                    }
                }
                if let Some(n) = e.count {
                    w(out, &format!(" COUNT {n}"));
                }
                if let Some(n) = e.modseq {
                    w(out, &format!(" MODSEQ {n}"));
                }
            }
            Data::Vanished { earlier, uids } => {
                w(out, "* VANISHED ");
                if *earlier {
                    w(out, "(EARLIER) ");
                }
                w(out, &uids.to_string());
            }
            Data::Id(fields) => {
                w(out, "* ID ");
                if fields.is_empty() {
                    w(out, "NIL");
                } else {
                    out.push(b'(');
                    for (i, (k, v)) in fields.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        self.string(k.as_bytes(), out);
                        out.push(b' ');
                        self.string(v.as_bytes(), out);
                    }
                    out.push(b')');
                }
            }
            Data::Fetch { seq, items } => {
                let mut fw = FetchWriter::start(*self, *seq, out);
                for item in items {
                    fw.item(item);
                }
                fw.finish_without_crlf();
            }
            Data::UidFetch { uid, items } => {
                out.extend_from_slice(format!("* {uid} UIDFETCH (").as_bytes());
                let mut fw = FetchWriter {
                    enc: *self,
                    out,
                    first: true,
                };
                for item in items {
                    fw.item(item);
                }
                fw.finish_without_crlf();
            }
            Data::Quota { root, resources } => {
                w(out, "* QUOTA ");
                self.astring(root.as_bytes(), out);
                let list: Vec<String> = resources
                    .iter()
                    .map(|(name, used, limit)| format!("{name} {used} {limit}"))
                    .collect();
                w(out, &format!(" ({})", list.join(" ")));
            }
            Data::QuotaRoot { mailbox, roots } => {
                w(out, "* QUOTAROOT ");
                self.astring(mailbox.as_bytes(), out);
                for r in roots {
                    out.push(b' ');
                    self.astring(r.as_bytes(), out);
                }
            }
            Data::Namespace {
                personal,
                other,
                shared,
            } => {
                w(out, "* NAMESPACE");
                for ns in [personal, other, shared] {
                    out.push(b' ');
                    if ns.is_empty() {
                        w(out, "NIL");
                        continue;
                    }
                    out.push(b'(');
                    for (prefix, delim) in ns {
                        out.push(b'(');
                        self.string(prefix.as_bytes(), out);
                        out.push(b' ');
                        delimiter(*delim, out);
                        out.push(b')');
                    }
                    out.push(b')');
                }
            }
        }
    }

    /// `mailbox-list = "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE / nil) SP mailbox
    ///  [SP mbox-list-extended]`
    fn list_entry(&self, e: &ListEntry, out: &mut Vec<u8>) {
        out.push(b'(');
        let attrs: Vec<&str> = e.attributes.iter().map(MailboxAttr::name).collect();
        out.extend_from_slice(attrs.join(" ").as_bytes());
        out.extend_from_slice(b") ");
        delimiter(e.delimiter, out);
        out.push(b' ');
        self.astring(e.mailbox.as_bytes(), out);
        if !e.extended.is_empty() {
            out.extend_from_slice(b" (");
            for (i, x) in e.extended.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                match x {
                    ListExtended::ChildInfoSubscribed => {
                        out.extend_from_slice(b"\"CHILDINFO\" (\"SUBSCRIBED\")")
                    }
                    ListExtended::OldName(n) => {
                        out.extend_from_slice(b"\"OLDNAME\" (");
                        self.astring(n.as_bytes(), out);
                        out.push(b')');
                    }
                }
            }
            out.push(b')');
        }
    }

    fn quotable(&self, v: &[u8]) -> bool {
        let ascii_ok = v.iter().all(|&b| b != 0 && b != b'\r' && b != b'\n');
        ascii_ok && (v.is_ascii() || (self.utf8 && std::str::from_utf8(v).is_ok()))
    }

    /// `string = quoted / literal`
    pub fn string(&self, v: &[u8], out: &mut Vec<u8>) {
        if self.quotable(v) && v.len() <= 1024 {
            out.push(b'"');
            for &b in v {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(format!("{{{}}}\r\n", v.len()).as_bytes());
            out.extend_from_slice(v);
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`
    pub fn astring(&self, v: &[u8], out: &mut Vec<u8>) {
        // NIL as an atom would read as nil where an nstring is possible; quote it.
        if !v.is_empty() && v.iter().all(|&b| is_astring_char(b)) && !v.eq_ignore_ascii_case(b"NIL")
        {
            out.extend_from_slice(v);
        } else {
            self.string(v, out);
        }
    }

    /// `nstring = string / nil`
    pub fn nstring(&self, v: Option<&[u8]>, out: &mut Vec<u8>) {
        match v {
            Some(v) => self.string(v, out),
            None => out.extend_from_slice(b"NIL"),
        }
    }

    fn address_list(&self, list: &[Address], out: &mut Vec<u8>) {
        if list.is_empty() {
            out.extend_from_slice(b"NIL");
            return;
        }
        out.push(b'(');
        for a in list {
            out.push(b'(');
            self.nstring(a.name.as_deref(), out);
            out.push(b' ');
            self.nstring(a.adl.as_deref(), out);
            out.push(b' ');
            self.nstring(a.mailbox.as_deref(), out);
            out.push(b' ');
            self.nstring(a.host.as_deref(), out);
            out.push(b')');
        }
        out.push(b')');
    }

    fn envelope(&self, e: &Envelope, out: &mut Vec<u8>) {
        out.push(b'(');
        self.nstring(e.date.as_deref(), out);
        out.push(b' ');
        self.nstring(e.subject.as_deref(), out);
        for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
            out.push(b' ');
            self.address_list(list, out);
        }
        out.push(b' ');
        self.nstring(e.in_reply_to.as_deref(), out);
        out.push(b' ');
        self.nstring(e.message_id.as_deref(), out);
        out.push(b')');
    }
}

impl Encoder {
    fn params(&self, p: &BodyParams, out: &mut Vec<u8>) {
        if p.is_empty() {
            out.extend_from_slice(b"NIL");
            return;
        }
        out.push(b'(');
        for (i, (k, v)) in p.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            self.string(k, out);
            out.push(b' ');
            self.string(v, out);
        }
        out.push(b')');
    }

    /// `[SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]`, always written in full.
    fn body_ext(&self, x: &BodyExtension, out: &mut Vec<u8>) {
        out.push(b' ');
        match &x.disposition {
            None => out.extend_from_slice(b"NIL"),
            Some(d) => {
                out.push(b'(');
                self.string(&d.kind, out);
                out.push(b' ');
                self.params(&d.params, out);
                out.push(b')');
            }
        }
        out.push(b' ');
        match x.language.as_slice() {
            [] => out.extend_from_slice(b"NIL"),
            [one] => self.string(one, out),
            many => {
                out.push(b'(');
                for (i, l) in many.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    self.string(l, out);
                }
                out.push(b')');
            }
        }
        out.push(b' ');
        self.nstring(x.location.as_deref(), out);
    }

    /// `body`; `extended` selects BODYSTRUCTURE (with extension data) over BODY.
    /// Recursion is bounded by the depth of the structure the storage layer parsed.
    fn body(&self, b: &BodyStructure, extended: bool, out: &mut Vec<u8>) {
        out.push(b'(');
        match b {
            BodyStructure::Single {
                media_type,
                subtype,
                fields,
                kind,
                extension,
            } => {
                self.string(media_type, out);
                out.push(b' ');
                self.string(subtype, out);
                out.push(b' ');
                self.params(&fields.params, out);
                out.push(b' ');
                self.nstring(fields.id.as_deref(), out);
                out.push(b' ');
                self.nstring(fields.description.as_deref(), out);
                out.push(b' ');
                self.string(&fields.encoding, out);
                out.extend_from_slice(format!(" {}", fields.octets).as_bytes());
                match kind {
                    SinglePartKind::Basic => {}
                    SinglePartKind::Text { lines } => {
                        out.extend_from_slice(format!(" {lines}").as_bytes())
                    }
                    SinglePartKind::Message {
                        envelope,
                        body,
                        lines,
                    } => {
                        out.push(b' ');
                        self.envelope(envelope, out);
                        out.push(b' ');
                        self.body(body, extended, out);
                        out.extend_from_slice(format!(" {lines}").as_bytes());
                    }
                }
                if let (true, Some((md5, x))) = (extended, extension) {
                    out.push(b' ');
                    self.nstring(md5.as_deref(), out);
                    self.body_ext(x, out);
                }
            }
            BodyStructure::Multi {
                parts,
                subtype,
                extension,
            } => {
                for p in parts {
                    self.body(p, extended, out);
                }
                out.push(b' ');
                self.string(subtype, out);
                if let (true, Some((params, x))) = (extended, extension) {
                    out.push(b' ');
                    self.params(params, out);
                    self.body_ext(x, out);
                }
            }
        }
        out.push(b')');
    }
}

fn kind_name(k: StatusKind) -> &'static str {
    match k {
        StatusKind::Ok => "OK",
        StatusKind::No => "NO",
        StatusKind::Bad => "BAD",
    }
}

fn delimiter(d: Option<char>, out: &mut Vec<u8>) {
    match d {
        None => out.extend_from_slice(b"NIL"),
        Some(c) => {
            out.push(b'"');
            if c == '"' || c == '\\' {
                out.push(b'\\');
            }
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            out.push(b'"');
        }
    }
}

fn flag_list(flags: &[Flag], out: &mut Vec<u8>) {
    out.push(b'(');
    let list: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    out.extend_from_slice(list.join(" ").as_bytes());
    out.push(b')');
}

fn part_text(part: &[NonZeroU32]) -> String {
    part.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// `section` as echoed in a FETCH response.
fn section_text(enc: &Encoder, s: &Section, out: &mut Vec<u8>) {
    out.push(b'[');
    out.extend_from_slice(part_text(&s.part).as_bytes());
    if let Some(t) = &s.text {
        if !s.part.is_empty() {
            out.push(b'.');
        }
        let (name, fields) = match t {
            SectionText::Header => ("HEADER", None),
            SectionText::Text => ("TEXT", None),
            SectionText::Mime => ("MIME", None),
            SectionText::HeaderFields(f) => ("HEADER.FIELDS", Some(f)),
            SectionText::HeaderFieldsNot(f) => ("HEADER.FIELDS.NOT", Some(f)),
        };
        out.extend_from_slice(name.as_bytes());
        if let Some(fields) = fields {
            out.extend_from_slice(b" (");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                enc.astring(f.as_bytes(), out);
            }
            out.push(b')');
        }
    }
    out.push(b']');
}

/// Writes one `* n FETCH (...)` response item by item, so a large body can be streamed.
///
/// ```text
/// let mut fw = FetchWriter::start(enc, seq, &mut out);
/// fw.item(&FetchItem::Uid(uid));
/// fw.literal_header(&StreamedItem::BodySection { .. }, len); // out ends with "{len}\r\n"
/// // flush `out`, copy exactly `len` bytes from the message file to the socket, clear `out`
/// fw.finish();                                                  // ")\r\n"
/// ```
#[derive(Debug)]
pub struct FetchWriter<'o> {
    enc: Encoder,
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> FetchWriter<'o> {
    /// Writes `* seq FETCH (`.
    pub fn start(enc: Encoder, seq: NonZeroU32, out: &'o mut Vec<u8>) -> Self {
        out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        FetchWriter {
            enc,
            out,
            first: true,
        }
    }

    /// The output buffer, for flushing between a literal header and its streamed data.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        self.out
    }

    fn sep(&mut self) {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
    }

    /// Writes one in-memory item.
    pub fn item(&mut self, item: &FetchItem) {
        self.sep();
        let enc = self.enc;
        let out = &mut *self.out;
        let w = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
        match item {
            FetchItem::Flags(f) => {
                w(out, "FLAGS ");
                flag_list(f, out);
            }
            FetchItem::Uid(u) => w(out, &format!("UID {u}")),
            FetchItem::InternalDate(d) => w(out, &format!("INTERNALDATE \"{d}\"")),
            FetchItem::Rfc822Size(n) => w(out, &format!("RFC822.SIZE {n}")),
            FetchItem::ModSeq(n) => w(out, &format!("MODSEQ ({n})")),
            FetchItem::Envelope(e) => {
                w(out, "ENVELOPE ");
                enc.envelope(e, out);
            }
            FetchItem::Body(b) => {
                w(out, "BODY ");
                enc.body(b, false, out);
            }
            FetchItem::BodyStructure(b) => {
                w(out, "BODYSTRUCTURE ");
                enc.body(b, true, out);
            }
            FetchItem::BodySection {
                section,
                origin,
                data,
            } => {
                w(out, "BODY");
                section_text(&enc, section, out);
                if let Some(o) = origin {
                    w(out, &format!("<{o}>"));
                }
                out.push(b' ');
                enc.nstring(data.as_deref(), out);
            }
            FetchItem::Binary { part, origin, data } => {
                w(out, &format!("BINARY[{}]", part_text(part)));
                if let Some(o) = origin {
                    w(out, &format!("<{o}>"));
                }
                out.push(b' ');
                match data {
                    Some(d) if d.contains(&0) => {
                        w(out, &format!("~{{{}}}\r\n", d.len()));
                        out.extend_from_slice(d);
                    }
                    d => enc.nstring(d.as_deref(), out),
                }
            }
            FetchItem::BinarySize { part, size } => {
                w(out, &format!("BINARY.SIZE[{}] {size}", part_text(part)))
            }
            FetchItem::Rfc822(d) => {
                w(out, "RFC822 ");
                enc.nstring(d.as_deref(), out);
            }
            FetchItem::Rfc822Header(d) => {
                w(out, "RFC822.HEADER ");
                enc.nstring(d.as_deref(), out);
            }
            FetchItem::Rfc822Text(d) => {
                w(out, "RFC822.TEXT ");
                enc.nstring(d.as_deref(), out);
            }
        }
    }

    /// Writes the item name and a literal header for `len` bytes the caller streams next.
    pub fn literal_header(&mut self, item: &StreamedItem, len: u64) {
        self.sep();
        let enc = self.enc;
        let out = &mut *self.out;
        let binary = match item {
            StreamedItem::BodySection { section, origin } => {
                out.extend_from_slice(b"BODY");
                section_text(&enc, section, out);
                if let Some(o) = origin {
                    out.extend_from_slice(format!("<{o}>").as_bytes());
                }
                false
            }
            StreamedItem::Binary { part, origin } => {
                out.extend_from_slice(format!("BINARY[{}]", part_text(part)).as_bytes());
                if let Some(o) = origin {
                    out.extend_from_slice(format!("<{o}>").as_bytes());
                }
                true
            }
            StreamedItem::Rfc822 => {
                out.extend_from_slice(b"RFC822");
                false
            }
        };
        let tilde = if binary { "~" } else { "" };
        out.extend_from_slice(format!(" {tilde}{{{len}}}\r\n").as_bytes());
    }

    fn finish_without_crlf(self) {
        self.out.push(b')');
    }

    /// Writes the closing `)` and CRLF.
    pub fn finish(self) {
        self.out.extend_from_slice(b")\r\n");
    }
}

#[cfg(test)]
mod tests;
