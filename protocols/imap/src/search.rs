//! SEARCH evaluation (RFC 3501 / RFC 9051 section 6.4.4, RFC 7162 MODSEQ, RFC 5032
//! OLDER/YOUNGER) over a session's view of the selected mailbox.
//!
//! Keys that the index answers (flags, sets, sizes, internal dates) are evaluated before
//! keys that need the message text, so `SEEN SUBJECT x` opens no file for unseen messages.
//! A message file is read at most once per message per search, and only when a header or
//! body key is reached. Text matching is a case-insensitive substring match (Unicode simple
//! case folding) over RFC 2047-decoded header values and transfer- and charset-decoded
//! text parts, as Dovecot does it.

use std::io::Read;

use roost_mime::{body_structure, body_text, contains_ci, header_values};
use roost_storage::{Flags, Mailbox, MessageInfo, StorageError};

use crate::fetch::days_from_civil;
use crate::types::{AString, Date, SearchKey, SeqSet};

#[cfg(test)]
mod tests;

/// What SEARCH needs to know about the session and mailbox.
#[derive(Debug, Clone, Copy)]
pub struct SearchEnv<'a> {
    /// The selected mailbox.
    pub mailbox: &'a Mailbox,
    /// Keyword names by index, from [`Mailbox::keyword_names`].
    pub keyword_names: &'a [Option<String>],
    /// The session's view: index = sequence number - 1.
    pub messages: &'a [MessageInfo],
    /// UIDs >= this are \Recent in this session (`u32::MAX`: none).
    pub recent_from_uid: u32,
    /// SEARCHRES `$` as UIDs, if a result was saved.
    pub saved: Option<&'a [u32]>,
    /// Unix time now, for OLDER/YOUNGER.
    pub now: i64,
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A search string is not in the charset (UTF-8) it must be in (`NO [BADCHARSET]`).
    #[error("{0}")]
    BadCharset(String),
    /// Reading the mailbox failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Sequence numbers (ascending) of the messages matching `key`.
pub fn search(env: &SearchEnv<'_>, key: &SearchKey) -> Result<Vec<u32>, SearchError> {
    search_with_progress(env, key, &mut |_| {})
}

/// [`search`], calling `progress` with the number of messages looked at so far.
pub fn search_with_progress(
    env: &SearchEnv<'_>,
    key: &SearchKey,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<u32>, SearchError> {
    check_utf8(key)?;
    let key = cheap_first(key);
    let mut ctx = Ctx {
        env,
        largest_uid: env.messages.last().map_or(0, |m| m.uid),
        count: env.messages.len() as u32,
        vsizes: None,
    };
    let mut out = Vec::new();
    for (i, info) in env.messages.iter().enumerate() {
        progress(i);
        let seq = i as u32 + 1;
        let mut content = Content {
            mailbox: env.mailbox,
            uid: info.uid,
            state: Loaded::No,
            body: None,
            headers: None,
        };
        if ctx.matches(&key, seq, i, info, &mut content)? {
            out.push(seq);
        }
    }
    Ok(out)
}

/// Every search string must be UTF-8 (US-ASCII is a subset); the session maps other
/// CHARSETs to UTF-8 before calling us, or refuses them.
fn check_utf8(key: &SearchKey) -> Result<(), SearchError> {
    let bad = |s: &AString| {
        if s.to_str().is_none() {
            Err(SearchError::BadCharset(format!(
                "search string is not valid UTF-8: {:?}",
                String::from_utf8_lossy(s.as_bytes())
            )))
        } else {
            Ok(())
        }
    };
    match key {
        SearchKey::Bcc(s)
        | SearchKey::Body(s)
        | SearchKey::Cc(s)
        | SearchKey::From(s)
        | SearchKey::Subject(s)
        | SearchKey::Text(s)
        | SearchKey::To(s) => bad(s),
        SearchKey::Header(n, v) => bad(n).and_then(|()| bad(v)),
        SearchKey::Not(k) => check_utf8(k),
        SearchKey::Or(a, b) => check_utf8(a).and_then(|()| check_utf8(b)),
        SearchKey::And(keys) => keys.iter().try_for_each(check_utf8),
        _ => Ok(()),
    }
}

/// How much evaluating a key costs: 0 index only, 1 message header, 2 message body.
fn cost(key: &SearchKey) -> u8 {
    match key {
        SearchKey::Bcc(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Subject(_)
        | SearchKey::Header(..)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => 1,
        SearchKey::Body(_) | SearchKey::Text(_) | SearchKey::EmailId(_) => 2,
        SearchKey::Not(k) => cost(k),
        SearchKey::Or(a, b) => cost(a).max(cost(b)),
        SearchKey::And(keys) => keys.iter().map(cost).max().unwrap_or(0),
        _ => 0,
    }
}

/// The same key with AND members and OR branches ordered cheapest first, so that
/// short-circuiting skips the expensive ones whenever it can.
fn cheap_first(key: &SearchKey) -> SearchKey {
    match key {
        SearchKey::And(keys) => {
            let mut keys: Vec<SearchKey> = keys.iter().map(cheap_first).collect();
            keys.sort_by_key(cost);
            SearchKey::And(keys)
        }
        SearchKey::Or(a, b) => {
            let (a, b) = (cheap_first(a), cheap_first(b));
            if cost(&b) < cost(&a) {
                SearchKey::Or(Box::new(b), Box::new(a))
            } else {
                SearchKey::Or(Box::new(a), Box::new(b))
            }
        }
        SearchKey::Not(k) => SearchKey::Not(Box::new(cheap_first(k))),
        other => other.clone(),
    }
}

struct Ctx<'e, 'a> {
    env: &'e SearchEnv<'a>,
    largest_uid: u32,
    count: u32,
    /// RFC822.SIZE of every message, filled on the first LARGER/SMALLER.
    vsizes: Option<Vec<Option<u64>>>,
}

enum Loaded {
    No,
    Expunged,
    /// Read up to (at least) the end of the header only; the file is kept for the rest.
    Head(std::fs::File, Vec<u8>),
    Yes(Vec<u8>),
}

/// Header reads go in steps of this size: most headers fit in one.
const HEAD_CHUNK: usize = 8 * 1024;

/// Whether `data` holds the whole header: the blank line that ends it was read.
fn has_header_end(data: &[u8]) -> bool {
    data.starts_with(b"\n")
        || data.starts_with(b"\r\n")
        || data.windows(2).any(|w| w == b"\n\n")
        || data.windows(3).any(|w| w == b"\n\r\n")
}

/// One message's text and what is derived from it, each computed at most once.
struct Content<'a> {
    mailbox: &'a Mailbox,
    uid: u32,
    state: Loaded,
    body: Option<String>,
    headers: Option<String>,
}

impl Content<'_> {
    /// The stored message, or None when it has been expunged meanwhile.
    fn msg(&mut self) -> Result<Option<&[u8]>, SearchError> {
        let uid = self.uid;
        let read_err = |e| StorageError::io(format!("reading message UID {uid}"), e);
        match std::mem::replace(&mut self.state, Loaded::Expunged) {
            Loaded::No => {
                self.state = match self.mailbox.open_message(uid)? {
                    None => Loaded::Expunged,
                    Some((mut file, _)) => {
                        let mut data = Vec::new();
                        file.read_to_end(&mut data).map_err(read_err)?;
                        Loaded::Yes(data)
                    }
                };
            }
            Loaded::Head(mut file, mut data) => {
                file.read_to_end(&mut data).map_err(read_err)?;
                self.state = Loaded::Yes(data);
            }
            other => self.state = other,
        }
        Ok(match &self.state {
            Loaded::Yes(d) => Some(d),
            _ => None,
        })
    }

    /// The message's EMAILID (RFC 8474), from the cache or computed; None if expunged.
    fn email_id(&mut self) -> Result<Option<String>, SearchError> {
        if let Some(id) = crate::fetch::cached_email_id(self.mailbox, self.uid) {
            return Ok(Some(id));
        }
        let (mailbox, uid) = (self.mailbox, self.uid);
        Ok(self
            .msg()?
            .map(|m| crate::fetch::store_email_id(mailbox, uid, m)))
    }

    /// At least the message's header (all of it when the file has no blank line), or
    /// None when it has been expunged: HEADER and SENT* keys need nothing else, and
    /// reading only this far skips the body and attachments of every message.
    fn head(&mut self) -> Result<Option<&[u8]>, SearchError> {
        let uid = self.uid;
        let read_err = |e| StorageError::io(format!("reading message UID {uid}"), e);
        if let Loaded::No = self.state {
            self.state = match self.mailbox.open_message(uid)? {
                None => Loaded::Expunged,
                Some((mut file, _)) => {
                    let mut data = Vec::new();
                    loop {
                        let got = (&mut file)
                            .take(HEAD_CHUNK as u64)
                            .read_to_end(&mut data)
                            .map_err(read_err)?;
                        if got == 0 {
                            break Loaded::Yes(data);
                        }
                        if has_header_end(&data) {
                            break Loaded::Head(file, data);
                        }
                    }
                }
            };
        }
        Ok(match &self.state {
            Loaded::Yes(d) | Loaded::Head(_, d) => Some(d),
            Loaded::No | Loaded::Expunged => None,
        })
    }

    /// Whether any value of header `name` contains `needle`.
    fn header_has(&mut self, name: &str, needle: &str) -> Result<bool, SearchError> {
        let Some(msg) = self.head()? else {
            return Ok(false);
        };
        Ok(header_values(msg, name)
            .iter()
            .any(|v| contains_ci(v, needle)))
    }

    fn body_has(&mut self, needle: &str) -> Result<bool, SearchError> {
        if self.body.is_none() {
            let Some(msg) = self.msg()? else {
                return Ok(false);
            };
            self.body = Some(body_text(msg));
        }
        Ok(self.body.as_deref().is_some_and(|b| contains_ci(b, needle)))
    }

    /// TEXT: the decoded header fields of all parts, then the body.
    fn text_has(&mut self, needle: &str) -> Result<bool, SearchError> {
        if self.headers.is_none() {
            let Some(msg) = self.msg()? else {
                return Ok(false);
            };
            self.headers = Some(decoded_header(msg));
        }
        if self
            .headers
            .as_deref()
            .is_some_and(|h| contains_ci(h, needle))
        {
            return Ok(true);
        }
        self.body_has(needle)
    }

    /// The calendar date of the Date: header as written (RFC 3501: time and zone are
    /// disregarded). A missing or unparsable Date: counts as 1-Jan-1970, as in Dovecot
    /// (so it is SENTBEFORE any date). None only for a vanished message.
    fn sent_date(&mut self) -> Result<Option<Date>, SearchError> {
        let Some(msg) = self.head()? else {
            return Ok(None);
        };
        let epoch = Date {
            year: 1970,
            month: 1,
            day: 1,
        };
        Ok(Some(
            header_values(msg, "Date")
                .first()
                .and_then(|d| parse_rfc5322_date(d))
                .unwrap_or(epoch),
        ))
    }
}

impl Ctx<'_, '_> {
    fn vsize(&mut self, i: usize, info: &MessageInfo) -> Result<Option<u64>, SearchError> {
        if let Some(v) = info.vsize {
            return Ok(Some(v));
        }
        if self.vsizes.is_none() {
            let uids: Vec<u32> = self.env.messages.iter().map(|m| m.uid).collect();
            self.vsizes = Some(self.env.mailbox.vsizes(&uids)?);
        }
        Ok(self
            .vsizes
            .as_ref()
            .and_then(|v| v.get(i).copied().flatten()))
    }

    fn keyword(&self, info: &MessageInfo, name: &str) -> bool {
        // Maildir's `P` is the $Forwarded keyword.
        if name.eq_ignore_ascii_case("$Forwarded") && info.flags.contains(Flags::PASSED) {
            return true;
        }
        self.env.keyword_names.iter().enumerate().any(|(i, n)| {
            n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)) && info.keywords.contains(i)
        })
    }

    fn in_saved(&self, uid: u32) -> bool {
        self.env.saved.is_some_and(|s| s.contains(&uid))
    }

    fn matches(
        &mut self,
        key: &SearchKey,
        seq: u32,
        i: usize,
        info: &MessageInfo,
        c: &mut Content<'_>,
    ) -> Result<bool, SearchError> {
        use SearchKey as K;
        let flag = |f: Flags| info.flags.contains(f);
        let recent = info.uid >= self.env.recent_from_uid;
        let day = info.internal_date.div_euclid(86_400);
        let s = |a: &AString| String::from_utf8_lossy(a.as_bytes()).into_owned();
        Ok(match key {
            K::All => true,
            K::Answered => flag(Flags::ANSWERED),
            K::Deleted => flag(Flags::DELETED),
            K::Draft => flag(Flags::DRAFT),
            K::Flagged => flag(Flags::FLAGGED),
            K::Seen => flag(Flags::SEEN),
            K::Unanswered => !flag(Flags::ANSWERED),
            K::Undeleted => !flag(Flags::DELETED),
            K::Undraft => !flag(Flags::DRAFT),
            K::Unflagged => !flag(Flags::FLAGGED),
            K::Unseen => !flag(Flags::SEEN),
            K::Recent => recent,
            K::New => recent && !flag(Flags::SEEN),
            K::Old => !recent,
            K::Keyword(k) => self.keyword(info, k.as_str()),
            K::Unkeyword(k) => !self.keyword(info, k.as_str()),
            K::Before(d) => day < days_from_civil(*d),
            K::On(d) => day == days_from_civil(*d),
            K::Since(d) => day >= days_from_civil(*d),
            K::Older(n) => info.internal_date <= self.env.now - i64::from(*n),
            K::Younger(n) => info.internal_date > self.env.now - i64::from(*n),
            K::ModSeq(n) => info.modseq >= *n,
            K::Larger(n) => self.vsize(i, info)?.is_some_and(|v| v > *n),
            K::Smaller(n) => self.vsize(i, info)?.is_some_and(|v| v < *n),
            K::Uid(SeqSet::Saved) | K::SequenceSet(SeqSet::Saved) => self.in_saved(info.uid),
            K::Uid(set) => set.contains(info.uid, self.largest_uid),
            K::SequenceSet(set) => set.contains(seq, self.count),
            K::From(v) => c.header_has("From", &s(v))?,
            K::To(v) => c.header_has("To", &s(v))?,
            K::Cc(v) => c.header_has("Cc", &s(v))?,
            K::Bcc(v) => c.header_has("Bcc", &s(v))?,
            K::Subject(v) => c.header_has("Subject", &s(v))?,
            K::Header(name, v) => c.header_has(&s(name), &s(v))?,
            K::Body(v) => c.body_has(&s(v))?,
            K::Text(v) => c.text_has(&s(v))?,
            K::SentBefore(d) => c.sent_date()?.is_some_and(|s| s < *d),
            K::SentOn(d) => c.sent_date()?.is_some_and(|s| s == *d),
            K::SentSince(d) => c.sent_date()?.is_some_and(|s| s >= *d),
            K::SavedBefore(d) => saved_day(info) < days_from_civil(*d),
            K::SavedOn(d) => saved_day(info) == days_from_civil(*d),
            K::SavedSince(d) => saved_day(info) >= days_from_civil(*d),
            K::SaveDateSupported => true,
            K::EmailId(id) => c.email_id()?.is_some_and(|e| e == id.as_str()),
            // THREADID is always NIL here, so no message has the one asked for.
            K::ThreadId(_) => false,
            K::Not(k) => !self.matches(k, seq, i, info, c)?,
            K::Or(a, b) => self.matches(a, seq, i, info, c)? || self.matches(b, seq, i, info, c)?,
            K::And(keys) => {
                for k in keys {
                    if !self.matches(k, seq, i, info, c)? {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }
}

/// The day a message was saved (RFC 8514), its INTERNALDATE's day when the save date is
/// not known (messages indexed before it was kept), in UTC as INTERNALDATE is kept.
fn saved_day(info: &MessageInfo) -> i64 {
    info.save_date
        .unwrap_or(info.internal_date)
        .div_euclid(86_400)
}

/// Every header field of every part (the message's, each MIME part's and each
/// encapsulated message's, as Dovecot searches TEXT) as `Name: decoded value` lines.
fn decoded_header(msg: &[u8]) -> String {
    let tree = body_structure(msg);
    let mut out = String::new();
    let mut stack = vec![&tree];
    while let Some(part) = stack.pop() {
        let (start, end) = (part.header_start as usize, part.body_start as usize);
        if let Some(header) = msg.get(start..end.max(start)) {
            decoded_fields(header, &mut out);
        }
        // Depth-first in document order.
        stack.extend(part.children.iter().rev());
    }
    out
}

/// Appends the fields of one header block, RFC 2047-decoded.
fn decoded_fields(header: &[u8], out: &mut String) {
    let mut names: Vec<String> = Vec::new();
    for line in header.split(|&b| b == b'\n') {
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]).trim().to_string();
        if !name.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            names.push(name);
        }
    }
    for name in &names {
        for v in header_values(header, name) {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(&v);
            out.push('\n');
        }
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The date part of an RFC 5322 `date-time` (`[day-of-week ","] day month year ...`),
/// with the obsolete two- and three-digit years of RFC 5322 section 4.3.
fn parse_rfc5322_date(s: &str) -> Option<Date> {
    rfc5322_date_words(&mut date_words(s), true)
}

/// The words of a `date-time`: split at white space and commas.
pub(crate) fn date_words(s: &str) -> std::iter::Peekable<impl Iterator<Item = &str>> {
    s.split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .peekable()
}

/// `[day-of-week] day month year` from the front of `words`, leaving the time and zone.
/// SEARCH's SENT* keys take a month by its first three letters (`month_prefix`), SORT
/// only the three-letter name; each matches Dovecot's answers on the corpus tests.
pub(crate) fn rfc5322_date_words<'a>(
    words: &mut std::iter::Peekable<impl Iterator<Item = &'a str>>,
    month_prefix: bool,
) -> Option<Date> {
    // Skip a day-of-week (anything not starting with a digit).
    if words
        .peek()
        .is_some_and(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
    {
        words.next();
    }
    let day: u8 = words.next()?.parse().ok()?;
    let month_word = words.next()?.to_ascii_lowercase();
    let month = MONTHS
        .iter()
        .position(|m| {
            if month_prefix {
                month_word.starts_with(m)
            } else {
                month_word == *m
            }
        })
        .map(|m| m as u8 + 1)?;
    let year_word = words.next()?;
    if !year_word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: u16 = year_word.parse().ok()?;
    let year = match year_word.len() {
        1 | 2 if year < 50 => year + 2000,
        1..=3 => year + 1900,
        _ => year,
    };
    Date::new(year, month, day).ok()
}
