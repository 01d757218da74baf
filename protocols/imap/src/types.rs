//! Validated protocol values (RFC 9051 section 9). Invalid values are unrepresentable: every
//! newtype is built with `TryFrom` and checks the grammar rule it stands for.

use std::fmt;
use std::num::NonZeroU32;

use thiserror::Error;

/// Why a value is not valid for its type.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// Empty where at least one character is required.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A character the rule does not allow.
    #[error("{what} contains forbidden byte 0x{byte:02x}")]
    Forbidden {
        /// The rule name.
        what: &'static str,
        /// The offending byte.
        byte: u8,
    },
    /// A malformed number, set, date or flag.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A mailbox name whose encoding is invalid.
    #[error("invalid mailbox name encoding: {0}")]
    MailboxEncoding(String),
}

/// `ATOM-CHAR = <any CHAR except atom-specials>`;
/// `atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials`
pub fn is_atom_char(b: u8) -> bool {
    b.is_ascii() && !b.is_ascii_control() && !b"(){ %*\"\\]".contains(&b)
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials`
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// `tag = 1*<any ASTRING-CHAR except "+">`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Tag {
    type Error = ValueError;
    fn try_from(s: &str) -> Result<Self, ValueError> {
        if s.is_empty() {
            return Err(ValueError::Empty("tag"));
        }
        if let Some(&byte) = s
            .as_bytes()
            .iter()
            .find(|&&b| !is_astring_char(b) || b == b'+')
        {
            return Err(ValueError::Forbidden { what: "tag", byte });
        }
        Ok(Tag(s.to_string()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `atom = 1*ATOM-CHAR`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Atom(String);

impl Atom {
    /// The atom text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Atom {
    type Error = ValueError;
    fn try_from(s: &str) -> Result<Self, ValueError> {
        if s.is_empty() {
            return Err(ValueError::Empty("atom"));
        }
        if let Some(&byte) = s.as_bytes().iter().find(|&&b| !is_atom_char(b)) {
            return Err(ValueError::Forbidden { what: "atom", byte });
        }
        Ok(Atom(s.to_string()))
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `astring = 1*ASTRING-CHAR / string`: the value, whatever form it was sent in.
/// Literal values may hold any byte but NUL (literal8 is only used for message data).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AString(Vec<u8>);

impl AString {
    /// The raw value.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The value as UTF-8, if it is.
    pub fn to_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
    /// The value, consumed.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for AString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AString({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl TryFrom<Vec<u8>> for AString {
    type Error = ValueError;
    fn try_from(v: Vec<u8>) -> Result<Self, ValueError> {
        if v.contains(&0) {
            return Err(ValueError::Forbidden {
                what: "string",
                byte: 0,
            });
        }
        Ok(AString(v))
    }
}

impl TryFrom<&str> for AString {
    type Error = ValueError;
    fn try_from(s: &str) -> Result<Self, ValueError> {
        AString::try_from(s.as_bytes().to_vec())
    }
}

/// `string = quoted / literal`: a value that was not sent as an atom. Kept distinct because
/// some rules (e.g. search criteria values are astrings, but `nstring` answers are strings).
pub type IString = AString;

/// `mailbox = "INBOX" / astring`: the raw wire name (modified UTF-7 or, with UTF8=ACCEPT,
/// UTF-8). INBOX is matched case-insensitively and normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mailbox {
    /// The INBOX, in any spelling.
    Inbox,
    /// Any other name, exactly as sent.
    Other(String),
}

impl Mailbox {
    /// The raw name as sent on the wire (`INBOX` for the inbox).
    pub fn raw(&self) -> &str {
        match self {
            Mailbox::Inbox => "INBOX",
            Mailbox::Other(s) => s,
        }
    }
}

impl TryFrom<&str> for Mailbox {
    type Error = ValueError;
    fn try_from(s: &str) -> Result<Self, ValueError> {
        if s.eq_ignore_ascii_case("INBOX") {
            return Ok(Mailbox::Inbox);
        }
        if let Some(&byte) = s.as_bytes().iter().find(|b| b.is_ascii_control()) {
            return Err(ValueError::Forbidden {
                what: "mailbox",
                byte,
            });
        }
        Ok(Mailbox::Other(s.to_string()))
    }
}

impl TryFrom<AString> for Mailbox {
    type Error = ValueError;
    fn try_from(a: AString) -> Result<Self, ValueError> {
        let s = String::from_utf8(a.0).map_err(|_| ValueError::Invalid("mailbox UTF-8"))?;
        Mailbox::try_from(s.as_str())
    }
}

/// Decodes a wire mailbox name into UTF-8: modified UTF-7 (RFC 3501 5.1.3) unless UTF-8 mode
/// (RFC 9051 / UTF8=ACCEPT) is on for the session.
pub fn decode_mailbox(raw: &Mailbox, utf8_enabled: bool) -> Result<String, ValueError> {
    match raw {
        Mailbox::Inbox => Ok("INBOX".to_string()),
        Mailbox::Other(s) if utf8_enabled => Ok(s.clone()),
        Mailbox::Other(s) => roost_storage::maildir::mutf7::decode(s)
            .map_err(|e| ValueError::MailboxEncoding(e.to_string())),
    }
}

/// `seq-number = nz-number / "*"`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNum {
    /// A concrete number.
    Value(NonZeroU32),
    /// `*`: the largest number in use.
    Last,
}

/// `seq-range = seq-number ":" seq-number` (or a single number when both ends are equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqRange {
    /// First end as sent (ranges may be given in either order).
    pub from: SeqNum,
    /// Second end as sent.
    pub to: SeqNum,
}

/// `sequence-set = (seq-number / seq-range) ["," sequence-set]` or `"$"` (RFC 5182 SEARCHRES).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SeqSet {
    /// An explicit set; never empty.
    Ranges(Vec<SeqRange>),
    /// `$`: the result saved by the last `SEARCH RETURN (SAVE)`.
    Saved,
}

/// Most items a set may hold; bounds the memory a single set can cost.
pub const DEFAULT_MAX_SET_ITEMS: usize = 100_000;

impl SeqSet {
    /// Parses a set with at most `max_items` comma-separated items.
    pub fn parse(s: &str, max_items: usize) -> Result<SeqSet, ValueError> {
        if s == "$" {
            return Ok(SeqSet::Saved);
        }
        if s.is_empty() {
            return Err(ValueError::Empty("sequence set"));
        }
        let mut ranges = Vec::new();
        for item in s.split(',') {
            if ranges.len() >= max_items {
                return Err(ValueError::Invalid("sequence set: too many items"));
            }
            let (a, b) = item.split_once(':').unwrap_or((item, item));
            ranges.push(SeqRange {
                from: seq_num(a)?,
                to: seq_num(b)?,
            });
        }
        Ok(SeqSet::Ranges(ranges))
    }

    /// True when `n` is in the set, given the largest number in use (`*`).
    /// Always false for `$`, which the session resolves itself.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        let SeqSet::Ranges(ranges) = self else {
            return false;
        };
        let v = |s: SeqNum| match s {
            SeqNum::Value(v) => v.get(),
            SeqNum::Last => largest,
        };
        ranges.iter().any(|r| {
            let (a, b) = (v(r.from), v(r.to));
            (a.min(b)..=a.max(b)).contains(&n)
        })
    }
}

fn seq_num(s: &str) -> Result<SeqNum, ValueError> {
    if s == "*" {
        return Ok(SeqNum::Last);
    }
    // nz-number = digit-nz *DIGIT: no sign, no leading zero.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return Err(ValueError::Invalid("sequence number"));
    }
    s.parse::<NonZeroU32>()
        .map(SeqNum::Value)
        .map_err(|_| ValueError::Invalid("sequence number"))
}

impl TryFrom<&str> for SeqSet {
    type Error = ValueError;
    fn try_from(s: &str) -> Result<Self, ValueError> {
        SeqSet::parse(s, DEFAULT_MAX_SET_ITEMS)
    }
}

impl fmt::Display for SeqSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges = match self {
            SeqSet::Saved => return f.write_str("$"),
            SeqSet::Ranges(r) => r,
        };
        let num = |s: SeqNum| match s {
            SeqNum::Value(v) => v.to_string(),
            SeqNum::Last => "*".to_string(),
        };
        for (i, r) in ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.from == r.to {
                f.write_str(&num(r.from))?;
            } else {
                write!(f, "{}:{}", num(r.from), num(r.to))?;
            }
        }
        Ok(())
    }
}

/// `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword /
/// flag-extension`; `flag-fetch` adds `\Recent`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Seen`
    Seen,
    /// `\Draft`
    Draft,
    /// `\Recent`: only in FETCH/FLAGS responses (and SEARCH RECENT), never stored by clients.
    Recent,
    /// `flag-keyword = "$MDNSent" / "$Forwarded" / ... / atom`
    Keyword(Atom),
    /// `flag-extension = "\" atom`: a backslash flag we do not know.
    Extension(Atom),
}

impl TryFrom<&str> for Flag {
    type Error = ValueError;
    fn try_from(s: &str) -> Result<Self, ValueError> {
        let Some(name) = s.strip_prefix('\\') else {
            return Ok(Flag::Keyword(Atom::try_from(s)?));
        };
        Ok(match name.to_ascii_lowercase().as_str() {
            "answered" => Flag::Answered,
            "flagged" => Flag::Flagged,
            "deleted" => Flag::Deleted,
            "seen" => Flag::Seen,
            "draft" => Flag::Draft,
            "recent" => Flag::Recent,
            _ => Flag::Extension(Atom::try_from(name)?),
        })
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Recent => f.write_str("\\Recent"),
            Flag::Keyword(a) => write!(f, "{a}"),
            Flag::Extension(a) => write!(f, "\\{a}"),
        }
    }
}

/// `flag-perm = flag / "\*"` (PERMANENTFLAGS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlagPerm {
    /// A flag that can be changed permanently.
    Flag(Flag),
    /// `\*`: clients may create new keywords.
    Wildcard,
}

impl fmt::Display for FlagPerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagPerm::Flag(fl) => fl.fmt(f),
            FlagPerm::Wildcard => f.write_str("\\*"),
        }
    }
}

/// `date = date-text / DQUOTE date-text DQUOTE`; `date-text = date-day "-" date-month "-" date-year`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year, four digits.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day, 1..=31 (checked against the month).
    pub day: u8,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// Builds a date, checking the day against the month.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, ValueError> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(ValueError::Invalid("date"));
        }
        Ok(Date { year, month, day })
    }
}

impl TryFrom<&str> for Date {
    type Error = ValueError;
    /// `date-text`, e.g. `1-Feb-1994` or `01-Feb-1994`.
    fn try_from(s: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::Invalid("date");
        let mut parts = s.split('-');
        let (Some(d), Some(m), Some(y), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if !(1..=2).contains(&d.len()) || y.len() != 4 {
            return Err(bad());
        }
        let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(d) || !all_digits(y) {
            return Err(bad());
        }
        let month = MONTHS
            .iter()
            .position(|n| n.eq_ignore_ascii_case(m))
            .ok_or_else(bad)? as u8
            + 1;
        Date::new(
            y.parse().map_err(|_| bad())?,
            month,
            d.parse().map_err(|_| bad())?,
        )
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = MONTHS[usize::from(self.month.clamp(1, 12) - 1)];
        write!(f, "{}-{}-{:04}", self.day, m, self.year)
    }
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// The calendar date.
    pub date: Date,
    /// Hour 0..=23.
    pub hour: u8,
    /// Minute 0..=59.
    pub minute: u8,
    /// Second 0..=60 (leap second).
    pub second: u8,
    /// Zone offset in minutes east of UTC.
    pub zone_minutes: i16,
}

impl TryFrom<&str> for DateTime {
    type Error = ValueError;
    /// The text between the quotes, e.g. ` 1-Feb-1994 21:52:25 -0800`.
    fn try_from(s: &str) -> Result<Self, ValueError> {
        let bad = || ValueError::Invalid("date-time");
        let b = s.as_bytes();
        if b.len() != 26 || b[11] != b' ' || b[20] != b' ' || b[14] != b':' || b[17] != b':' {
            return Err(bad());
        }
        let date = Date::try_from(s[..11].trim_start_matches(' ')).map_err(|_| bad())?;
        if b[0] == b' ' && !b[1].is_ascii_digit() {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, ValueError> {
            let t = &s[r];
            if !t.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        let (hour, minute, second) = (num(12..14)?, num(15..17)?, num(18..20)?);
        if hour > 23 || minute > 59 || second > 60 {
            return Err(bad());
        }
        let sign = match b[21] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(bad()),
        };
        let (zh, zm) = (num(22..24)?, num(24..26)?);
        if zm > 59 {
            return Err(bad());
        }
        Ok(DateTime {
            date,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            zone_minutes: sign * (zh * 60 + zm) as i16,
        })
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = MONTHS[usize::from(self.date.month.clamp(1, 12) - 1)];
        let z = self.zone_minutes;
        let sign = if z < 0 { '-' } else { '+' };
        let z = z.unsigned_abs();
        write!(
            f,
            "{:>2}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            self.date.day,
            m,
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            sign,
            z / 60,
            z % 60
        )
    }
}

/// `search-key` (RFC 3501 6.4.4 and RFC 9051 6.4.4), with room for extension keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// `ALL`
    All,
    /// `ANSWERED`
    Answered,
    /// `BCC astring`
    Bcc(AString),
    /// `BEFORE date` (internal date)
    Before(Date),
    /// `BODY astring`
    Body(AString),
    /// `CC astring`
    Cc(AString),
    /// `DELETED`
    Deleted,
    /// `DRAFT`
    Draft,
    /// `FLAGGED`
    Flagged,
    /// `FROM astring`
    From(AString),
    /// `HEADER header-fld-name astring`
    Header(AString, AString),
    /// `KEYWORD flag-keyword`
    Keyword(Atom),
    /// `LARGER number64`
    Larger(u64),
    /// `NEW` (rev1)
    New,
    /// `NOT search-key`
    Not(Box<SearchKey>),
    /// `OLD` (rev1)
    Old,
    /// `ON date`
    On(Date),
    /// `OR search-key search-key`
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `RECENT` (rev1)
    Recent,
    /// `SEEN`
    Seen,
    /// `SENTBEFORE date`
    SentBefore(Date),
    /// `SENTON date`
    SentOn(Date),
    /// `SENTSINCE date`
    SentSince(Date),
    /// `SINCE date`
    Since(Date),
    /// `SMALLER number64`
    Smaller(u64),
    /// `SUBJECT astring`
    Subject(AString),
    /// `TEXT astring`
    Text(AString),
    /// `TO astring`
    To(AString),
    /// `UID sequence-set`
    Uid(SeqSet),
    /// `UNANSWERED`
    Unanswered,
    /// `UNDELETED`
    Undeleted,
    /// `UNDRAFT`
    Undraft,
    /// `UNFLAGGED`
    Unflagged,
    /// `UNKEYWORD flag-keyword`
    Unkeyword(Atom),
    /// `UNSEEN`
    Unseen,
    /// `sequence-set`
    SequenceSet(SeqSet),
    /// `"(" search-key *(SP search-key) ")"`, and the implicit AND of the top level.
    And(Vec<SearchKey>),
    /// `MODSEQ [entry] mod-sequence-valzer` (RFC 7162; the entry is ignored).
    ModSeq(u64),
    /// `OLDER nz-number` (RFC 5032 WITHIN).
    Older(u32),
    /// `YOUNGER nz-number` (RFC 5032 WITHIN).
    Younger(u32),
    /// `SAVEDBEFORE date` (RFC 8514).
    SavedBefore(Date),
    /// `SAVEDON date` (RFC 8514).
    SavedOn(Date),
    /// `SAVEDSINCE date` (RFC 8514).
    SavedSince(Date),
    /// `SAVEDATESUPPORTED` (RFC 8514): true in every mailbox, all keep save dates.
    SaveDateSupported,
    /// `EMAILID objectid` (RFC 8474).
    EmailId(Atom),
    /// `THREADID objectid` (RFC 8474).
    ThreadId(Atom),
}

/// `section-text = section-msgtext / "MIME"`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS header-list`
    HeaderFields(Vec<AString>),
    /// `HEADER.FIELDS.NOT header-list`
    HeaderFieldsNot(Vec<AString>),
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number)
    Mime,
}

/// `section-spec = section-msgtext / (section-part ["." section-text])`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Section {
    /// `section-part = nz-number *("." nz-number)`; empty for the whole message.
    pub part: Vec<NonZeroU32>,
    /// The text specifier, if any.
    pub text: Option<SectionText>,
}

/// `partial = "<" number "." nz-number ">"`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partial {
    /// First octet.
    pub offset: u32,
    /// Octet count (non-zero).
    pub len: NonZeroU32,
}

/// `fetch-att` (RFC 9051 with RFC 3501's RFC822 items, BINARY from RFC 3516, MODSEQ from 7162).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchAttribute {
    /// `ENVELOPE`
    Envelope,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822`
    Rfc822,
    /// `RFC822.HEADER`
    Rfc822Header,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `RFC822.TEXT`
    Rfc822Text,
    /// `BODY` (non-extensible BODYSTRUCTURE)
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `UID`
    Uid,
    /// `BODY[section]<partial>` / `BODY.PEEK[...]`
    BodySection {
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
        /// The section; default is the whole message.
        section: Section,
        /// Optional byte range.
        partial: Option<Partial>,
    },
    /// `BINARY[section-binary]<partial>` / `BINARY.PEEK[...]`
    Binary {
        /// `.PEEK`
        peek: bool,
        /// `section-binary = "[" [section-part] "]"`
        part: Vec<NonZeroU32>,
        /// Optional byte range.
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE section-binary`
    BinarySize {
        /// The part.
        part: Vec<NonZeroU32>,
    },
    /// `MODSEQ` (RFC 7162)
    ModSeq,
    /// `SAVEDATE` (RFC 8514)
    SaveDate,
    /// `EMAILID` (RFC 8474)
    EmailId,
    /// `THREADID` (RFC 8474)
    ThreadId,
    /// `PREVIEW [(LAZY)]` (RFC 8970)
    Preview {
        /// `LAZY`: NIL rather than reading the message when no preview is stored.
        lazy: bool,
    },
}

/// `fetch = ... ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItems {
    /// `ALL` = FLAGS INTERNALDATE RFC822.SIZE ENVELOPE
    All,
    /// `FAST` = FLAGS INTERNALDATE RFC822.SIZE
    Fast,
    /// `FULL` = ALL plus BODY
    Full,
    /// An explicit list.
    List(Vec<FetchAttribute>),
}

impl FetchItems {
    /// The attributes a macro stands for.
    pub fn expand(&self) -> Vec<FetchAttribute> {
        use FetchAttribute::*;
        match self {
            FetchItems::All => vec![Flags, InternalDate, Rfc822Size, Envelope],
            FetchItems::Fast => vec![Flags, InternalDate, Rfc822Size],
            FetchItems::Full => vec![Flags, InternalDate, Rfc822Size, Envelope, Body],
            FetchItems::List(l) => l.clone(),
        }
    }
}

/// How STORE changes flags: `["+" / "-"] "FLAGS"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}

/// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOp {
    /// Replace, add or remove.
    pub kind: StoreKind,
    /// `.SILENT`: no untagged FETCH for this command's changes.
    pub silent: bool,
    /// The flags (never `\Recent`).
    pub flags: Vec<Flag>,
}

/// `status-att` (RFC 9051, STATUS=SIZE, CONDSTORE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `RECENT` (rev1)
    Recent,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `DELETED`
    Deleted,
    /// `SIZE`
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162)
    HighestModSeq,
    /// `MAILBOXID` (RFC 8474)
    MailboxId,
    /// `APPENDLIMIT` (RFC 7889)
    AppendLimit,
}

impl StatusItem {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::MailboxId => "MAILBOXID",
            StatusItem::AppendLimit => "APPENDLIMIT",
        }
    }

    /// Looks up a wire name, case-insensitively.
    pub fn from_name(s: &str) -> Option<StatusItem> {
        use StatusItem::*;
        [
            Messages,
            Recent,
            UidNext,
            UidValidity,
            Unseen,
            Deleted,
            Size,
            HighestModSeq,
            MailboxId,
            AppendLimit,
        ]
        .into_iter()
        .find(|i| i.name().eq_ignore_ascii_case(s))
    }
}

/// `list-select-opt` (RFC 5258 / RFC 9051).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListSelect {
    /// `SUBSCRIBED`
    Subscribed,
    /// `REMOTE`
    Remote,
    /// `RECURSIVEMATCH`
    RecursiveMatch,
    /// `SPECIAL-USE` (RFC 6154)
    SpecialUse,
}

/// `return-option` (RFC 5258, RFC 5819 LIST-STATUS, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListReturn {
    /// `SUBSCRIBED`
    Subscribed,
    /// `CHILDREN`
    Children,
    /// `SPECIAL-USE`
    SpecialUse,
    /// `STATUS (status-att ...)`
    Status(Vec<StatusItem>),
}

/// `search-ret-opt` (RFC 4731 ESEARCH, RFC 5182 SAVE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `ALL`
    All,
    /// `COUNT`
    Count,
    /// `SAVE`
    Save,
    /// `PARTIAL range` (RFC 5267 CONTEXT=SEARCH, RFC 9394 PARTIAL).
    Partial(crate::partial::PartialRange),
    /// `UPDATE` (RFC 5267 CONTEXT=SEARCH/SORT): keep the result and report its changes.
    Update,
    /// `UPDATE (fetch-att ...)` (RFC 5465 section 7): as `UPDATE`, and FETCH these for each
    /// new message that joins the result.
    UpdateFetch(Vec<FetchAttribute>),
}

/// A capability the server may advertise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `IMAP4rev1`
    Imap4Rev1,
    /// `IMAP4rev2`
    Imap4Rev2,
    /// `STARTTLS`
    StartTls,
    /// `LOGINDISABLED`
    LoginDisabled,
    /// `AUTH=<mechanism>`
    Auth(Atom),
    /// Any other capability atom (`IDLE`, `LITERAL+`, `UIDPLUS`, ...).
    Other(Atom),
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Capability::Imap4Rev1 => f.write_str("IMAP4rev1"),
            Capability::Imap4Rev2 => f.write_str("IMAP4rev2"),
            Capability::StartTls => f.write_str("STARTTLS"),
            Capability::LoginDisabled => f.write_str("LOGINDISABLED"),
            Capability::Auth(m) => write!(f, "AUTH={m}"),
            Capability::Other(a) => write!(f, "{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_atoms() {
        assert!(Tag::try_from("a001").is_ok());
        assert!(Tag::try_from("a]1").is_ok());
        for bad in ["", "a+b", "a b", "a(", "a{", "a\"", "a%", "a*", "a\u{e9}"] {
            assert!(Tag::try_from(bad).is_err(), "{bad:?}");
        }
        assert!(Atom::try_from("a]").is_err());
        assert!(AString::try_from("x\0y").is_err());
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(Mailbox::try_from("iNbOx").unwrap(), Mailbox::Inbox);
        assert_eq!(
            Mailbox::try_from("INBOX.x").unwrap(),
            Mailbox::Other("INBOX.x".into())
        );
        assert!(Mailbox::try_from("a\rb").is_err());
    }

    #[test]
    fn mailbox_decoding() {
        let m = Mailbox::try_from("Entw&APw-rfe").unwrap();
        assert_eq!(decode_mailbox(&m, false).unwrap(), "Entwürfe");
        assert_eq!(decode_mailbox(&m, true).unwrap(), "Entw&APw-rfe");
        let bad = Mailbox::try_from("a&Jjo").unwrap();
        assert!(matches!(
            decode_mailbox(&bad, false),
            Err(ValueError::MailboxEncoding(_))
        ));
    }

    #[test]
    fn seq_sets() {
        let s = SeqSet::try_from("1,3:5,7:*").unwrap();
        assert_eq!(s.to_string(), "1,3:5,7:*");
        assert!(s.contains(4, 10) && s.contains(10, 10) && !s.contains(2, 10));
        assert!(SeqSet::try_from("5:3").unwrap().contains(4, 9));
        assert_eq!(SeqSet::try_from("$").unwrap(), SeqSet::Saved);
        for bad in [
            "",
            "0",
            "1,",
            ",1",
            "1:",
            "01",
            "-1",
            "4294967296",
            "1::2",
            "a",
        ] {
            assert!(SeqSet::try_from(bad).is_err(), "{bad:?}");
        }
        assert!(SeqSet::parse("1,2,3", 2).is_err());
    }

    #[test]
    fn flags() {
        assert_eq!(Flag::try_from("\\seen").unwrap(), Flag::Seen);
        assert_eq!(Flag::try_from("\\Seen").unwrap().to_string(), "\\Seen");
        assert_eq!(
            Flag::try_from("$Junk").unwrap(),
            Flag::Keyword(Atom::try_from("$Junk").unwrap())
        );
        assert!(Flag::try_from("\\").is_err());
        assert_eq!(FlagPerm::Wildcard.to_string(), "\\*");
    }

    #[test]
    fn dates() {
        assert_eq!(
            Date::try_from("1-Feb-1994").unwrap(),
            Date::new(1994, 2, 1).unwrap()
        );
        assert_eq!(
            Date::try_from("29-feb-2000").unwrap().to_string(),
            "29-Feb-2000"
        );
        for bad in [
            "29-Feb-1900",
            "0-Jan-2000",
            "32-Jan-2000",
            "1-Foo-2000",
            "1-Jan-20",
            "1--Jan-2000",
        ] {
            assert!(Date::try_from(bad).is_err(), "{bad}");
        }
        let dt = DateTime::try_from(" 1-Feb-1994 21:52:25 -0800").unwrap();
        assert_eq!(dt.zone_minutes, -480);
        assert_eq!(dt.to_string(), " 1-Feb-1994 21:52:25 -0800");
        for bad in [
            "1-Feb-1994 21:52:25 -0800",
            " 1-Feb-1994 24:00:00 +0000",
            " 1-Feb-1994 21:52:25 0800",
        ] {
            assert!(DateTime::try_from(bad).is_err(), "{bad}");
        }
    }
}
