//! `roost import imap`: a small IMAP4rev1 client (RFC 3501, STARTTLS, LIST with
//! SPECIAL-USE from RFC 6154) that copies every mailbox, keeping UIDVALIDITY and UIDs where
//! the local mailbox has no messages yet.
//!
//! Responses are read as lines with literals spliced in: a line ending in `{n}` is followed
//! by exactly n bytes, then the rest of the response. [`Response`] keeps the text with the
//! `{n}` markers and the literals in order; [`Parser`] walks it.

use std::collections::{BTreeMap, HashSet};

use roost_storage::maildir::filename::MAX_KEYWORDS;
use roost_storage::{Flags, MailboxName};

use super::net::Conn;
use super::progress::Progress;
use super::state::State;
use super::{ImportError, Source, Target};

/// Most literal bytes accepted in one response that is not a message (LIST, CAPABILITY...).
const MAX_SMALL_LITERAL: usize = 64 * 1024;

/// One complete server response: its text and the literals it contained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The response without its final CRLF; `{n}` markers stand where literals were.
    pub text: Vec<u8>,
    /// The literals, in order.
    pub literals: Vec<Vec<u8>>,
}

/// A value in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom (also numbers, flags like `\Seen`, `BODY[]`).
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    /// NIL.
    Nil,
    /// A parenthesized list.
    List(Vec<Value>),
}

impl Value {
    /// The value as text, for atoms and strings.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    /// The value as a number.
    pub fn number(&self) -> Option<u32> {
        match self {
            Value::Atom(a) => a.parse().ok(),
            _ => None,
        }
    }
}

/// The size of the literal announced at the end of `line` (`{n}` or `{n+}` before CRLF).
pub fn literal_at_end(line: &[u8]) -> Option<usize> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))?;
    let line = line.strip_suffix(b"}")?;
    let open = line.iter().rposition(|&b| b == b'{')?;
    let digits = &line[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Walks a [`Response`]: atoms, strings, literals, lists.
pub struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    literals: std::slice::Iter<'a, Vec<u8>>,
}

impl<'a> Parser<'a> {
    /// Start at the beginning of `r`.
    pub fn new(r: &'a Response) -> Parser<'a> {
        Parser {
            text: &r.text,
            pos: 0,
            literals: r.literals.iter(),
        }
    }

    fn skip_spaces(&mut self) {
        while self.text.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    /// The rest of the text from here (for human-readable response text).
    pub fn rest(&mut self) -> String {
        self.skip_spaces();
        let s = String::from_utf8_lossy(&self.text[self.pos..]).into_owned();
        self.pos = self.text.len();
        s
    }

    /// Skip a bracketed response code if one is here, returning its text.
    pub fn code(&mut self) -> Option<String> {
        self.skip_spaces();
        if self.text.get(self.pos) != Some(&b'[') {
            return None;
        }
        let end = self.text[self.pos..].iter().position(|&b| b == b']')?;
        let code = String::from_utf8_lossy(&self.text[self.pos + 1..self.pos + end]).into_owned();
        self.pos += end + 1;
        Some(code)
    }

    /// value = atom / quoted / literal / "NIL" / "(" [value *(SP value)] ")"
    pub fn value(&mut self) -> Option<Value> {
        self.skip_spaces();
        match *self.text.get(self.pos)? {
            b'(' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_spaces();
                    match self.text.get(self.pos)? {
                        b')' => {
                            self.pos += 1;
                            return Some(Value::List(items));
                        }
                        _ => items.push(self.value()?),
                    }
                }
            }
            b'"' => {
                // quoted = DQUOTE *(any char except \ and " / "\" (\ / ")) DQUOTE
                self.pos += 1;
                let mut s = Vec::new();
                loop {
                    let b = *self.text.get(self.pos)?;
                    self.pos += 1;
                    match b {
                        b'"' => return Some(Value::Str(s)),
                        b'\\' => {
                            s.push(*self.text.get(self.pos)?);
                            self.pos += 1;
                        }
                        _ => s.push(b),
                    }
                }
            }
            b'{' => {
                let end = self.text[self.pos..].iter().position(|&b| b == b'}')?;
                self.pos += end + 1;
                Some(Value::Str(self.literals.next()?.clone()))
            }
            _ => {
                // atom-ish: anything up to SP ( ) " or end; keeps [] for BODY[] and codes.
                let start = self.pos;
                let mut depth = 0usize;
                while let Some(&b) = self.text.get(self.pos) {
                    match b {
                        b'[' => depth += 1,
                        b']' => depth = depth.saturating_sub(1),
                        b' ' | b'(' | b')' if depth == 0 => break,
                        b'"' | b'{' if depth == 0 => break,
                        _ => {}
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return None;
                }
                let atom = String::from_utf8_lossy(&self.text[start..self.pos]).into_owned();
                if atom.eq_ignore_ascii_case("NIL") {
                    Some(Value::Nil)
                } else {
                    Some(Value::Atom(atom))
                }
            }
        }
    }
}

/// A quoted string or a literal for a command argument (`None`: needs a literal).
pub fn quoted(s: &[u8]) -> Option<String> {
    if s.iter()
        .any(|&b| b == b'\r' || b == b'\n' || b == 0 || b >= 0x80)
    {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s {
        if b == b'"' || b == b'\\' {
            out.push('\\');
        }
        out.push(b as char);
    }
    out.push('"');
    Some(out)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Month number (1-12) from its English abbreviation.
pub fn parse_month(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// Seconds since the epoch of a UTC civil time (Howard Hinnant's days_from_civil).
pub fn civil_to_unix(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h as i64 * 3600 + m as i64 * 60 + s as i64)
}

/// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
/// (quotes already removed), e.g. `17-Jul-1996 02:44:25 -0700`.
pub fn parse_internal_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let mut d = date.split('-');
    let day: u32 = d.next()?.trim().parse().ok()?;
    let month = parse_month(d.next()?)?;
    let year: i64 = d.next()?.parse().ok()?;
    let mut t = time.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, sec) = (t.next()??, t.next()??, t.next()??);
    let zone = zone.trim();
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let zh: i64 = digits[..2].parse().ok()?;
    let zm: i64 = digits[2..].parse().ok()?;
    let local = civil_to_unix(year, month, day, h, m, sec)?;
    Some(local - sign * (zh * 3600 + zm * 60))
}

/// System flags and keywords from a FLAGS list; `\Recent` and unknown `\` flags are dropped.
pub fn split_flags(values: &[Value]) -> (Flags, Vec<String>) {
    let mut flags = Flags::default();
    let mut keywords = Vec::new();
    for v in values {
        let Some(f) = v.text() else { continue };
        let system = match f.to_ascii_lowercase().as_str() {
            "\\seen" => Some(Flags::SEEN),
            "\\answered" => Some(Flags::ANSWERED),
            "\\flagged" => Some(Flags::FLAGGED),
            "\\deleted" => Some(Flags::DELETED),
            "\\draft" => Some(Flags::DRAFT),
            _ => None,
        };
        match system {
            Some(s) => flags.insert(s),
            None if f.starts_with('\\') => {}
            None => keywords.push(f),
        }
    }
    (flags, keywords)
}

/// Keywords of `wanted` that will not fit next to the mailbox's `known` ones.
pub fn keywords_over_capacity(known: &[Option<String>], wanted: &[String]) -> Vec<String> {
    let mut used: Vec<String> = known.iter().flatten().map(|k| k.to_lowercase()).collect();
    let mut lost = Vec::new();
    for k in wanted {
        if used.contains(&k.to_lowercase()) {
            continue;
        }
        if used.len() < MAX_KEYWORDS {
            used.push(k.to_lowercase());
        } else {
            lost.push(k.clone());
        }
    }
    lost
}

/// One mailbox from LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The name as the server sent it (modified UTF-7), used in commands and the state.
    pub raw: Vec<u8>,
    /// Hierarchy delimiter, if any.
    pub delimiter: Option<char>,
    /// Attributes such as `\Noselect`, `\Sent`.
    pub attributes: Vec<String>,
}

impl Listed {
    /// Whether the mailbox can be selected.
    pub fn selectable(&self) -> bool {
        !self.attributes.iter().any(|a| {
            a.eq_ignore_ascii_case("\\Noselect") || a.eq_ignore_ascii_case("\\NonExistent")
        })
    }

    /// Its RFC 6154 special-use attribute, if any.
    pub fn special_use(&self) -> Option<&str> {
        const USES: [&str; 7] = [
            "\\All",
            "\\Archive",
            "\\Drafts",
            "\\Flagged",
            "\\Junk",
            "\\Sent",
            "\\Trash",
        ];
        self.attributes
            .iter()
            .find(|a| USES.iter().any(|u| u.eq_ignore_ascii_case(a)))
            .map(String::as_str)
    }

    /// The Roost name: decoded from modified UTF-7, the server's delimiter turned into `.`.
    pub fn local_name(&self) -> Result<MailboxName, String> {
        let raw = String::from_utf8(self.raw.clone())
            .map_err(|_| "the name is not ASCII (modified UTF-7 expected)".to_string())?;
        if raw.eq_ignore_ascii_case("INBOX") {
            return MailboxName::new("INBOX").map_err(|e| e.to_string());
        }
        let parts: Vec<&str> = match self.delimiter {
            Some(d) => raw.split(d).collect(),
            None => vec![raw.as_str()],
        };
        let mut decoded = Vec::with_capacity(parts.len());
        for p in parts {
            let d = roost_storage::maildir::mutf7::decode(p).map_err(|e| e.to_string())?;
            if d.contains(roost_storage::maildir::names::SEPARATOR) && self.delimiter != Some('.') {
                return Err(format!(
                    "the name part {d:?} contains '.', Roost's hierarchy separator"
                ));
            }
            decoded.push(d);
        }
        MailboxName::new(&decoded.join(".")).map_err(|e| e.to_string())
    }
}

/// `* LIST (attrs) delim name` or `* LSUB ...`, after the `LIST`/`LSUB` word.
pub fn parse_list(p: &mut Parser<'_>) -> Option<Listed> {
    let Value::List(attrs) = p.value()? else {
        return None;
    };
    let delimiter = match p.value()? {
        Value::Nil => None,
        Value::Str(s) if s.len() == 1 => Some(s[0] as char),
        _ => return None,
    };
    let raw = match p.value()? {
        Value::Str(s) => s,
        Value::Atom(a) => a.into_bytes(),
        _ => return None,
    };
    Some(Listed {
        raw,
        delimiter,
        attributes: attrs.iter().filter_map(Value::text).collect(),
    })
}

/// One message's FETCH data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// UID.
    pub uid: u32,
    /// FLAGS.
    pub flags: Option<Vec<Value>>,
    /// INTERNALDATE, parsed.
    pub internal_date: Option<i64>,
    /// RFC822.SIZE.
    pub size: Option<u64>,
    /// BODY[] (the whole message).
    pub body: Option<Vec<u8>>,
}

/// The `(...)` after `* n FETCH`.
pub fn parse_fetch(p: &mut Parser<'_>) -> Option<Fetched> {
    let Value::List(items) = p.value()? else {
        return None;
    };
    let mut f = Fetched::default();
    let mut it = items.into_iter();
    while let Some(key) = it.next() {
        let key = key.text()?.to_ascii_uppercase();
        let val = it.next()?;
        match key.as_str() {
            "UID" => f.uid = val.number()?,
            "FLAGS" => match val {
                Value::List(l) => f.flags = Some(l),
                _ => return None,
            },
            "INTERNALDATE" => f.internal_date = parse_internal_date(&val.text()?),
            "RFC822.SIZE" => f.size = val.text()?.parse().ok(),
            "BODY[]" | "RFC822" => match val {
                Value::Str(s) => f.body = Some(s),
                Value::Nil => f.body = Some(Vec::new()),
                _ => return None,
            },
            _ => {}
        }
    }
    Some(f)
}

/// How a tagged command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// OK with its text.
    Ok(String),
    /// NO with its text.
    No(String),
    /// BAD with its text.
    Bad(String),
}

struct Client {
    conn: Conn,
    tag: u32,
    literal_limit: usize,
}

impl Client {
    /// Read one response with its literals (each at most `limit` bytes).
    async fn response(&mut self, limit: usize) -> Result<Response, ImportError> {
        let mut r = Response::default();
        loop {
            let line = self.conn.read_line().await?;
            match literal_at_end(&line) {
                Some(n) => {
                    if n > limit {
                        return Err(ImportError::Protocol(format!(
                            "server announced a {n}-byte literal, more than the {limit} allowed"
                        )));
                    }
                    r.text.extend_from_slice(
                        &line[..line.len() - if line.ends_with(b"\r\n") { 2 } else { 1 }],
                    );
                    r.literals.push(self.conn.read_exact(n).await?);
                }
                None => {
                    let end = line.len()
                        - if line.ends_with(b"\r\n") {
                            2
                        } else {
                            usize::from(line.ends_with(b"\n"))
                        };
                    r.text.extend_from_slice(&line[..end]);
                    return Ok(r);
                }
            }
        }
    }

    /// Send a command (pieces joined; `Err` pieces are sent as synchronizing literals) and
    /// collect untagged responses until its tagged answer.
    async fn run(
        &mut self,
        pieces: &[Arg<'_>],
        limit: usize,
    ) -> Result<(Done, Vec<Response>), ImportError> {
        self.tag += 1;
        let tag = format!("R{}", self.tag);
        let mut line = format!("{tag} ").into_bytes();
        let mut untagged = Vec::new();
        for piece in pieces {
            match piece {
                Arg::Text(t) => line.extend_from_slice(t.as_bytes()),
                Arg::Secret(t) | Arg::Bytes(t) => match quoted(t) {
                    Some(q) => line.extend_from_slice(q.as_bytes()),
                    None => {
                        line.extend_from_slice(format!("{{{}}}\r\n", t.len()).as_bytes());
                        self.conn.send(&line).await?;
                        line.clear();
                        // Wait for the go-ahead before sending the literal.
                        loop {
                            let r = self.response(MAX_SMALL_LITERAL).await?;
                            if r.text.starts_with(b"+") {
                                break;
                            }
                            if r.text.starts_with(tag.as_bytes()) {
                                let done = parse_done(&r, &tag);
                                return Ok((done, untagged));
                            }
                            untagged.push(r);
                        }
                        line.extend_from_slice(t);
                    }
                },
            }
        }
        line.extend_from_slice(b"\r\n");
        self.conn.send(&line).await?;
        loop {
            let r = self.response(limit).await?;
            if r.text.starts_with(tag.as_bytes()) && r.text.get(tag.len()) == Some(&b' ') {
                return Ok((parse_done(&r, &tag), untagged));
            }
            if r.text.starts_with(b"* BYE") {
                return Err(ImportError::Unreachable(format!(
                    "server closed the session: {}",
                    String::from_utf8_lossy(&r.text)
                )));
            }
            untagged.push(r);
        }
    }

    async fn simple(&mut self, text: &str) -> Result<(Done, Vec<Response>), ImportError> {
        let limit = self.literal_limit;
        self.run(&[Arg::Text(text)], limit).await
    }
}

/// A command piece.
enum Arg<'a> {
    Text(&'a str),
    /// An astring argument (quoted or literal).
    Bytes(&'a [u8]),
    /// Like Bytes, but a password.
    Secret(&'a [u8]),
}

fn parse_done(r: &Response, tag: &str) -> Done {
    let mut p = Parser::new(r);
    let _tag = p.value();
    let status = p.value().and_then(|v| v.text()).unwrap_or_default();
    let text = String::from_utf8_lossy(&r.text[tag.len()..])
        .trim()
        .to_string();
    match status.to_ascii_uppercase().as_str() {
        "OK" => Done::Ok(text),
        "NO" => Done::No(text),
        _ => Done::Bad(text),
    }
}

/// Untagged `* <word> ...` responses: the parser placed after the word.
fn untagged<'a>(responses: &'a [Response], word: &str) -> Vec<(Parser<'a>, Option<u32>)> {
    let mut out = Vec::new();
    for r in responses {
        let mut p = Parser::new(r);
        if p.value() != Some(Value::Atom("*".into())) {
            continue;
        }
        let first = p.value();
        let (number, w) = match first.as_ref().and_then(Value::number) {
            Some(n) => (Some(n), p.value()),
            None => (None, first),
        };
        if w.and_then(|v| v.text())
            .is_some_and(|t| t.eq_ignore_ascii_case(word))
        {
            out.push((p, number));
        }
    }
    out
}

fn capabilities(r: &Response) -> Option<Vec<String>> {
    let mut p = Parser::new(r);
    p.value()?;
    let first = p.value()?.text()?;
    let code;
    let words = if first.eq_ignore_ascii_case("CAPABILITY") {
        p.rest()
    } else if first.eq_ignore_ascii_case("OK") || first.eq_ignore_ascii_case("PREAUTH") {
        code = p.code()?;
        code.strip_prefix("CAPABILITY ")?.to_string()
    } else {
        return None;
    };
    Some(
        words
            .split_whitespace()
            .map(|w| w.to_ascii_uppercase())
            .collect(),
    )
}

fn all_caps(responses: &[Response]) -> Option<Vec<String>> {
    responses.iter().rev().find_map(capabilities)
}

fn check(done: Done, what: &str) -> Result<(), ImportError> {
    match done {
        Done::Ok(_) => Ok(()),
        Done::No(t) | Done::Bad(t) => Err(ImportError::Protocol(format!("{what}: {t}"))),
    }
}

/// Log in, list, and copy every mailbox.
pub async fn import(
    src: &Source,
    target: &Target<'_>,
    state: &mut State,
    progress: &mut Progress,
) -> Result<(), ImportError> {
    let url = &src.url;
    let conn = Conn::connect(&url.host, url.port, url.implicit_tls.then_some(&src.tls)).await?;
    let literal_limit = usize::try_from(target.max_size).unwrap_or(usize::MAX);
    let mut c = Client {
        conn,
        tag: 0,
        literal_limit,
    };
    let greeting = c.response(MAX_SMALL_LITERAL).await?;
    if greeting.text.starts_with(b"* BYE") {
        return Err(ImportError::Unreachable(format!(
            "greeting: {}",
            String::from_utf8_lossy(&greeting.text)
        )));
    }
    let mut caps = match capabilities(&greeting) {
        Some(c) => c,
        None => {
            let (done, rs) = c.simple("CAPABILITY").await?;
            check(done, "CAPABILITY")?;
            all_caps(&rs).unwrap_or_default()
        }
    };
    if !c.conn.is_tls() {
        if caps.iter().any(|w| w == "STARTTLS") {
            let (done, _) = c.simple("STARTTLS").await?;
            if let Done::No(t) | Done::Bad(t) = done {
                return Err(ImportError::Tls(format!("STARTTLS refused: {t}")));
            }
            c.conn = c.conn.start_tls(&src.tls).await?;
            // Capabilities before TLS cannot be trusted (RFC 3501 6.2.1).
            let (done, rs) = c.simple("CAPABILITY").await?;
            check(done, "CAPABILITY")?;
            caps = all_caps(&rs).unwrap_or_default();
        } else if !src.allow_plaintext {
            return Err(ImportError::Tls(format!(
                "{}:{} offers no STARTTLS: use imaps://, or --allow-plaintext to send the \
                 password unencrypted",
                url.host, url.port
            )));
        }
    }
    if caps.iter().any(|w| w == "LOGINDISABLED") {
        return Err(ImportError::Auth(
            "the server does not allow LOGIN on this connection".into(),
        ));
    }
    let (done, rs) = c
        .run(
            &[
                Arg::Text("LOGIN "),
                Arg::Bytes(src.login.as_bytes()),
                Arg::Text(" "),
                Arg::Secret(src.password.expose().as_bytes()),
            ],
            MAX_SMALL_LITERAL,
        )
        .await?;
    match done {
        Done::Ok(text) => {
            // A CAPABILITY code on the OK replaces what was known before login.
            let ok = Response {
                text: format!("* {text}").into_bytes(),
                literals: Vec::new(),
            };
            if let Some(new) = capabilities(&ok).or_else(|| all_caps(&rs)) {
                caps = new;
            }
        }
        Done::No(t) if t.contains("[UNAVAILABLE]") || t.contains("[INUSE]") => {
            return Err(ImportError::Unreachable(t));
        }
        Done::No(t) | Done::Bad(t) => return Err(ImportError::Auth(t)),
    }

    let special = caps.iter().any(|w| w == "SPECIAL-USE");
    let extended = caps.iter().any(|w| w == "LIST-EXTENDED");
    let list_cmd = if special && extended {
        "LIST \"\" \"*\" RETURN (SPECIAL-USE)"
    } else {
        "LIST \"\" \"*\""
    };
    let (done, rs) = c.run(&[Arg::Text(list_cmd)], MAX_SMALL_LITERAL).await?;
    check(done, "LIST")?;
    let mut mailboxes: Vec<Listed> = untagged(&rs, "LIST")
        .into_iter()
        .filter_map(|(mut p, _)| parse_list(&mut p))
        .collect();
    let (done, rs) = c
        .run(&[Arg::Text("LSUB \"\" \"*\"")], MAX_SMALL_LITERAL)
        .await?;
    check(done, "LSUB")?;
    let subscribed: Vec<Listed> = untagged(&rs, "LSUB")
        .into_iter()
        .filter_map(|(mut p, _)| parse_list(&mut p))
        .collect();
    // INBOX first, so a quick look at the result shows the most important mailbox done.
    mailboxes.sort_by_key(|m| (!m.raw.eq_ignore_ascii_case(b"INBOX"), m.raw.clone()));

    let key = src.state_key();
    let mut local_of: BTreeMap<Vec<u8>, MailboxName> = BTreeMap::new();
    for m in &mailboxes {
        let shown = String::from_utf8_lossy(&m.raw).into_owned();
        let mut name = match m.local_name() {
            Ok(n) => n,
            Err(e) => {
                progress.failed(&format!("mailbox {shown:?}"), &e);
                continue;
            }
        };
        if let Some(attr) = m.special_use()
            && let Some(local) = target.special_mailbox(attr)
            && local != name.as_str()
        {
            // Roost's special-use names come from the configuration: the old Sent folder
            // goes where this server's clients will look for it.
            progress.note(&format!(
                "{shown} ({attr}) is imported into {local}, this server's {attr} mailbox"
            ));
            name = MailboxName::new(local)?;
        }
        local_of.insert(m.raw.clone(), name.clone());
        if !m.selectable() {
            // Only a level of the hierarchy on the old server.
            if !name.is_inbox() && !target.mailboxes.exists(&name) {
                let _ = target.mailboxes.create(&name);
            }
            continue;
        }
        copy_mailbox(&mut c, m, &name, &key, target, state, progress).await?;
    }
    let existing: HashSet<String> = target.mailboxes.subscriptions()?.into_iter().collect();
    for s in &subscribed {
        let name = match local_of.get(&s.raw) {
            Some(n) => n.clone(),
            None => match s.local_name() {
                Ok(n) => n,
                Err(_) => continue,
            },
        };
        if !existing.contains(name.as_str()) {
            target.mailboxes.subscribe(name.as_str())?;
        }
    }
    let _ = c.simple("LOGOUT").await;
    Ok(())
}

/// Copy one mailbox: EXAMINE, list UIDs, fetch each missing message.
async fn copy_mailbox(
    c: &mut Client,
    m: &Listed,
    name: &MailboxName,
    key: &str,
    target: &Target<'_>,
    state: &mut State,
    progress: &mut Progress,
) -> Result<(), ImportError> {
    let shown = String::from_utf8_lossy(&m.raw).into_owned();
    let (done, rs) = c
        .run(
            &[Arg::Text("EXAMINE "), Arg::Bytes(&m.raw)],
            MAX_SMALL_LITERAL,
        )
        .await?;
    if let Done::No(t) | Done::Bad(t) = done {
        progress.failed(
            &format!("mailbox {shown:?}"),
            &format!("EXAMINE refused: {t}"),
        );
        return Ok(());
    }
    let mut uid_validity = None;
    let mut uid_next = None;
    let mut exists = 0u32;
    for r in &rs {
        let mut p = Parser::new(r);
        p.value();
        match p.value() {
            Some(Value::Atom(a)) if a.eq_ignore_ascii_case("OK") => {
                if let Some(code) = p.code() {
                    let mut w = code.split_whitespace();
                    match (w.next().map(str::to_ascii_uppercase).as_deref(), w.next()) {
                        (Some("UIDVALIDITY"), Some(v)) => uid_validity = v.parse::<u32>().ok(),
                        (Some("UIDNEXT"), Some(v)) => uid_next = v.parse::<u32>().ok(),
                        _ => {}
                    }
                }
            }
            Some(v) => {
                if let Some(n) = v.number()
                    && p.value()
                        .and_then(|w| w.text())
                        .is_some_and(|w| w.eq_ignore_ascii_case("EXISTS"))
                {
                    exists = n;
                }
            }
            None => {}
        }
    }
    let Some(uid_validity) = uid_validity else {
        progress.failed(
            &format!("mailbox {shown:?}"),
            "the server sent no UIDVALIDITY",
        );
        return Ok(());
    };
    let mb = target.open_or_create(name)?;
    let vstr = uid_validity.to_string();
    let mode_key = ["imapbox", key, &shown, &vstr];
    let keep = match state.value(&mode_key).as_deref() {
        Some("keep") => true,
        Some(_) => false,
        None => {
            let earlier: Vec<String> = state
                .find(&["imapbox", key, &shown])
                .into_iter()
                .filter_map(|rest| rest.first().cloned())
                .filter(|v| *v != vstr)
                .collect();
            if let Some(old) = earlier.first() {
                progress.note(&format!(
                    "the UIDVALIDITY of {shown} changed from {old} to {vstr} since the last \
                     import: the old server renumbered it, so all its messages are copied \
                     again"
                ));
            }
            // Only a mailbox without messages can take the old numbering. (An equal
            // UIDVALIDITY proves nothing: both are creation times and can coincide.)
            let snap = mb.snapshot()?;
            let keep = snap.messages.is_empty();
            if !keep {
                progress.note(&format!(
                    "{} already has {} message(s): messages from {shown} are appended with \
                     new UIDs (IMAP clients will download them again)",
                    name.as_str(),
                    snap.messages.len()
                ));
            }
            let mode = if keep { "keep" } else { "append" };
            state.add(&[mode_key[0], mode_key[1], mode_key[2], mode_key[3], mode])?;
            keep
        }
    };
    progress.enter(
        &format!("{shown} -> {}", name.as_str()),
        Some(u64::from(exists)),
    );
    if exists == 0 {
        if keep && let Some(next) = uid_next {
            let st = mb.status()?;
            if st.messages == 0 && (st.uid_validity != uid_validity || st.uid_next < next) {
                // The empty mailbox keeps its UIDVALIDITY and UIDNEXT too.
                mb.commit_keeping_uids(uid_validity, next, Vec::new())?;
            }
        }
        return Ok(());
    }
    let (done, rs) = c
        .simple("UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)")
        .await?;
    check(done, &format!("listing {shown}"))?;
    let mut wanted = Vec::new();
    for (mut p, _) in untagged(&rs, "FETCH") {
        if let Some(f) = parse_fetch(&mut p)
            && f.uid != 0
        {
            wanted.push((f.uid, f.size));
        }
    }
    wanted.sort_unstable();
    wanted.dedup_by_key(|w| w.0);
    for (uid, size) in wanted {
        let ustr = uid.to_string();
        let record = ["imap", key, &shown, &vstr, &ustr];
        // Only the journal says what was copied: a local message with the same UID may be
        // new mail delivered here meanwhile.
        if state.has(&record) {
            progress.skipped();
            continue;
        }
        let what = format!("{shown} UID {uid}");
        if size.is_some_and(|s| s > target.max_size) {
            // Refused before fetching: the literal would exceed what the reader accepts.
            progress.failed(&what, "larger than limits.max_message_size");
            continue;
        }
        let (done, rs) = c
            .simple(&format!(
                "UID FETCH {uid} (UID FLAGS INTERNALDATE BODY.PEEK[])"
            ))
            .await?;
        if let Done::No(t) | Done::Bad(t) = done {
            progress.failed(&what, &format!("FETCH refused: {t}"));
            continue;
        }
        let fetched = untagged(&rs, "FETCH")
            .into_iter()
            .filter_map(|(mut p, _)| parse_fetch(&mut p))
            .find(|f| f.uid == uid && f.body.is_some());
        let Some(f) = fetched else {
            progress.failed(&what, "the server sent no message body");
            continue;
        };
        let (flags, keywords) = split_flags(f.flags.as_deref().unwrap_or_default());
        let lost = keywords_over_capacity(&mb.keyword_names(), &keywords);
        if !lost.is_empty() {
            progress.note(&format!(
                "{what}: keyword(s) {lost:?} not kept: a mailbox holds at most {MAX_KEYWORDS} \
                 keywords (Maildir flag letters a-z)"
            ));
        }
        let data = super::crlf_to_lf(f.body.as_deref().unwrap_or_default());
        let staged = super::stage(
            &mb,
            &data,
            flags,
            keywords,
            f.internal_date,
            target.max_size,
        );
        let committed = staged.and_then(|msg| {
            let st = mb.status()?;
            let can_keep = keep
                && if st.uid_validity == uid_validity {
                    uid >= st.uid_next
                } else {
                    st.messages == 0
                };
            if can_keep {
                mb.commit_keeping_uids(uid_validity, uid + 1, vec![(uid, msg)])
            } else {
                mb.commit(vec![msg], false)
            }
        });
        match committed {
            Ok(new) => {
                if keep && new.first() != Some(&uid) {
                    progress.note(&format!(
                        "{what} got the new UID {:?} (its old UID was already used here)",
                        new.first()
                    ));
                }
                state.add(&record)?;
                progress.copied(data.len() as u64);
            }
            Err(e) => progress.failed(&what, &e.to_string()),
        }
    }
    if keep && let Some(next) = uid_next {
        // Raise UIDNEXT to the old server's, so clients see the same value.
        let st = mb.status()?;
        if st.uid_next < next && st.uid_validity == uid_validity {
            mb.commit_keeping_uids(uid_validity, next, Vec::new())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(text: &str, literals: &[&[u8]]) -> Response {
        Response {
            text: text.as_bytes().to_vec(),
            literals: literals.iter().map(|l| l.to_vec()).collect(),
        }
    }

    #[test]
    fn literal_markers() {
        let table: &[(&[u8], Option<usize>)] = &[
            (b"* 1 FETCH (BODY[] {12}\r\n", Some(12)),
            (b"* 1 FETCH (BODY[] {0}\r\n", Some(0)),
            (b"A1 LOGIN {5+}\r\n", Some(5)),
            (b"* OK {x}\r\n", None),
            (b"* OK done\r\n", None),
            (b"* OK {}\r\n", None),
            (b"{3}", None),
        ];
        for (line, want) in table {
            assert_eq!(literal_at_end(line), *want, "{line:?}");
        }
    }

    #[test]
    fn fetch_with_literal_flags_and_date() {
        let r = resp(
            "* 3 FETCH (UID 17 FLAGS (\\Seen $Forwarded \\Recent Work) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[] {12})",
            &[b"Subject: x\r\n"],
        );
        let mut p = Parser::new(&r);
        let found = untagged(std::slice::from_ref(&r), "FETCH");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, Some(3));
        p.value();
        p.value();
        p.value();
        let f = parse_fetch(&mut p).unwrap();
        assert_eq!(f.uid, 17);
        assert_eq!(f.internal_date, Some(837_596_665));
        assert_eq!(f.body.as_deref(), Some(&b"Subject: x\r\n"[..]));
        let (flags, kws) = split_flags(&f.flags.unwrap());
        assert_eq!(flags, Flags::SEEN);
        assert_eq!(kws, vec!["$Forwarded".to_string(), "Work".to_string()]);
    }

    #[test]
    fn list_lines_and_names() {
        let table = [
            (
                "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
                "Sent",
                Some("\\Sent"),
                true,
            ),
            ("* LIST (\\Noselect) \"/\" \"Work\"", "Work", None, false),
            (
                "* LIST () \"/\" \"Work/Projects 2026\"",
                "Work.Projects 2026",
                None,
                true,
            ),
            ("* LIST () \".\" \"A.B\"", "A.B", None, true),
            ("* LIST () \"/\" &AMk-t&AOk-", "Été", None, true),
            ("* LIST () NIL inbox", "INBOX", None, true),
        ];
        for (line, name, special, selectable) in table {
            let r = resp(line, &[]);
            let (mut p, _) = untagged(std::slice::from_ref(&r), "LIST").pop().unwrap();
            let l = parse_list(&mut p).unwrap();
            assert_eq!(l.local_name().unwrap().as_str(), name, "{line}");
            assert_eq!(l.special_use(), special, "{line}");
            assert_eq!(l.selectable(), selectable, "{line}");
        }
        let r = resp("* LIST () \"/\" \"a.b/c\"", &[]);
        let (mut p, _) = untagged(std::slice::from_ref(&r), "LIST").pop().unwrap();
        assert!(parse_list(&mut p).unwrap().local_name().is_err());
        let r = resp("* LIST () \"/\" {3}", &[b"x/y"]);
        let (mut p, _) = untagged(std::slice::from_ref(&r), "LIST").pop().unwrap();
        assert_eq!(
            parse_list(&mut p).unwrap().local_name().unwrap().as_str(),
            "x.y"
        );
    }

    #[test]
    fn capabilities_from_greeting_and_response() {
        let g = resp(
            "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready",
            &[],
        );
        assert_eq!(
            capabilities(&g).unwrap(),
            vec!["IMAP4REV1", "STARTTLS", "LOGINDISABLED"]
        );
        let c = resp("* CAPABILITY IMAP4rev1 SPECIAL-USE LIST-EXTENDED", &[]);
        assert!(
            capabilities(&c)
                .unwrap()
                .contains(&"SPECIAL-USE".to_string())
        );
        assert_eq!(capabilities(&resp("* OK ready", &[])), None);
    }

    #[test]
    fn keyword_capacity() {
        let full: Vec<Option<String>> = (0..26).map(|i| Some(format!("k{i}"))).collect();
        let want = vec!["K3".to_string(), "new".to_string()];
        assert_eq!(
            keywords_over_capacity(&full, &want),
            vec!["new".to_string()]
        );
        let mut holes = full.clone();
        holes[4] = None;
        assert!(keywords_over_capacity(&holes, &want).is_empty());
        assert!(keywords_over_capacity(&[], &want).is_empty());
    }

    #[test]
    fn dates_and_quoting() {
        assert_eq!(parse_internal_date("01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_internal_date(" 1-Jan-1970 01:00:00 +0100"), Some(0));
        assert_eq!(
            parse_internal_date("31-Dec-1999 23:59:59 -0000"),
            Some(946_684_799)
        );
        assert_eq!(parse_internal_date("01-Foo-1970 00:00:00 +0000"), None);
        assert_eq!(parse_internal_date("01-Jan-1970 00:00:00"), None);
        assert_eq!(quoted(b"a\"b\\c").as_deref(), Some("\"a\\\"b\\\\c\""));
        assert_eq!(quoted(b"caf\xc3\xa9"), None);
        assert_eq!(quoted(b"line\r\n"), None);
    }
}
