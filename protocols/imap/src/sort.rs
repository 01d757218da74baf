//! SORT (RFC 5256 section 3, RFC 5957 DISPLAYFROM/DISPLAYTO) over the result of a search,
//! and the sort values THREAD shares: base subject (RFC 5256 section 2.1) and sent date.
//!
//! Values are computed once per message (the header is read at most once, and only when a
//! criterion needs it), then the messages are ordered by the criteria in turn, ties going
//! to the lower sequence number, as RFC 5256 and Dovecot do. Strings compare as their
//! Unicode uppercase with accented Latin letters decomposed (RFC 5256's i;ascii-casemap,
//! widened to non-ASCII as Dovecot's decomposed titlecase does).

use std::cmp::Ordering;
use std::io::{BufRead, BufReader};

use roost_mime::{Address, header_values, parse_list};
use roost_storage::{Mailbox, MessageInfo, StorageError};

use crate::fetch::days_from_civil;
use crate::search::{SearchEnv, SearchError};

mod decompose;
#[cfg(test)]
mod tests;

/// `sort-key` (RFC 5256, RFC 5957).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// `ARRIVAL`: INTERNALDATE.
    Arrival,
    /// `CC`: local part of the first Cc address.
    Cc,
    /// `DATE`: the Date: header in UTC, INTERNALDATE when it is missing or unreadable.
    Date,
    /// `FROM`: local part of the first From address.
    From,
    /// `SIZE`: RFC822.SIZE.
    Size,
    /// `SUBJECT`: base subject.
    Subject,
    /// `TO`: local part of the first To address.
    To,
    /// `DISPLAYFROM` (RFC 5957): display name of the first From address, else its address.
    DisplayFrom,
    /// `DISPLAYTO` (RFC 5957): display name of the first To address, else its address.
    DisplayTo,
}

impl SortKey {
    /// The key for a criterion name (case-insensitive), None if unknown.
    pub fn from_name(name: &str) -> Option<SortKey> {
        Some(match name.to_ascii_uppercase().as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return None,
        })
    }

    fn needs_header(self) -> bool {
        !matches!(self, SortKey::Arrival | SortKey::Size)
    }
}

/// `sort-criterion = ["REVERSE" SP] sort-key`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    /// `REVERSE`
    pub reverse: bool,
    /// What to compare.
    pub key: SortKey,
}

/// A computed sort value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Num(i64),
    Text(String),
}

/// Orders `seqs` (sequence numbers into `env.messages`) by `criteria`.
pub fn sort(
    env: &SearchEnv<'_>,
    seqs: &[u32],
    criteria: &[SortCriterion],
) -> Result<Vec<u32>, SearchError> {
    let needs_header = criteria.iter().any(|c| c.key.needs_header());
    let needs_size = criteria.iter().any(|c| c.key == SortKey::Size);
    let infos: Vec<&MessageInfo> = seqs
        .iter()
        .filter_map(|&s| env.messages.get(s as usize - 1))
        .collect();
    let sizes = if needs_size && infos.iter().any(|i| i.vsize.is_none()) {
        let uids: Vec<u32> = infos.iter().map(|i| i.uid).collect();
        Some(env.mailbox.vsizes(&uids)?)
    } else {
        None
    };
    let mut rows: Vec<(u32, Vec<Value>)> = Vec::with_capacity(infos.len());
    for (n, (&seq, info)) in seqs.iter().zip(&infos).enumerate() {
        let header = if needs_header {
            read_header(env.mailbox, info.uid)?.unwrap_or_default()
        } else {
            Vec::new()
        };
        let values = criteria
            .iter()
            .map(|c| match c.key {
                SortKey::Arrival => Value::Num(info.internal_date),
                SortKey::Size => Value::Num(
                    info.vsize
                        .or_else(|| sizes.as_ref().and_then(|s| s.get(n).copied().flatten()))
                        .map_or(0, |v| v as i64),
                ),
                SortKey::Date => Value::Num(sent_time(&header).unwrap_or(info.internal_date)),
                SortKey::Subject => Value::Text(sort_text(&base_subject(&subject(&header)).0)),
                SortKey::From => Value::Text(sort_text(&first_mailbox(&header, "From"))),
                SortKey::To => Value::Text(sort_text(&first_mailbox(&header, "To"))),
                SortKey::Cc => Value::Text(sort_text(&first_mailbox(&header, "Cc"))),
                SortKey::DisplayFrom => Value::Text(sort_text(&display_name(&header, "From"))),
                SortKey::DisplayTo => Value::Text(sort_text(&display_name(&header, "To"))),
            })
            .collect();
        rows.push((seq, values));
    }
    rows.sort_by(|(sa, a), (sb, b)| {
        for (i, c) in criteria.iter().enumerate() {
            let o = a[i].cmp(&b[i]);
            if o != Ordering::Equal {
                return if c.reverse { o.reverse() } else { o };
            }
        }
        sa.cmp(sb)
    });
    Ok(rows.into_iter().map(|(s, _)| s).collect())
}

/// The header block of a stored message (up to and including the blank line); None when
/// the message has been expunged meanwhile (it then sorts as if every header were empty).
pub(crate) fn read_header(mailbox: &Mailbox, uid: u32) -> Result<Option<Vec<u8>>, SearchError> {
    let Some((file, _)) = mailbox.open_message(uid)? else {
        return Ok(None);
    };
    let mut r = BufReader::new(file);
    let mut out = Vec::new();
    loop {
        let start = out.len();
        let n = r
            .read_until(b'\n', &mut out)
            .map_err(|e| StorageError::io(format!("reading message UID {uid}"), e))?;
        let line = &out[start..];
        if n == 0 || line == b"\n" || line == b"\r\n" {
            break;
        }
    }
    Ok(Some(out))
}

/// The first Subject: value, RFC 2047-decoded ("" when there is none).
pub(crate) fn subject(header: &[u8]) -> String {
    header_values(header, "Subject")
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// First address of the first `name` header, parsed from its decoded value as Dovecot does.
fn first_address(header: &[u8], name: &str) -> Option<Address> {
    let value = header_values(header, name).into_iter().next()?;
    parse_list(value.as_bytes()).into_iter().next()
}

fn lossy(b: &Option<Vec<u8>>) -> String {
    b.as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// RFC 5256: the `addr-mailbox` (local part) of the first address.
fn first_mailbox(header: &[u8], name: &str) -> String {
    first_address(header, name)
        .map(|a| lossy(&a.mailbox))
        .unwrap_or_default()
}

/// RFC 5957: the display name of the first address, or `mailbox@host` when it has none.
fn display_name(header: &[u8], name: &str) -> String {
    let Some(a) = first_address(header, name) else {
        return String::new();
    };
    let display = lossy(&a.name);
    if !display.is_empty() {
        return display;
    }
    match (&a.mailbox, &a.host) {
        (Some(_), Some(_)) => format!("{}@{}", lossy(&a.mailbox), lossy(&a.host)),
        (Some(_), None) => lossy(&a.mailbox),
        _ => String::new(),
    }
}

/// The comparison form of a string: its Unicode uppercase, accented Latin letters
/// decomposed (so `Über` sorts with `U`).
pub(crate) fn sort_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_uppercase) {
        match decompose::decompose(c) {
            Some(d) => out.push_str(d),
            None => out.push(c),
        }
    }
    out
}

/// The Date: header as seconds since the epoch (UTC), None if missing or unreadable.
pub(crate) fn sent_time(header: &[u8]) -> Option<i64> {
    let value = header_values(header, "Date").into_iter().next()?;
    parse_date_time(&value)
}

/// RFC 5322 `date-time` (with the obsolete forms of section 4.3: two- and three-digit
/// years, alphabetic zones, missing seconds) to UTC seconds since the epoch.
pub(crate) fn parse_date_time(s: &str) -> Option<i64> {
    // Comments (a zone name like "(CET)") are not part of the value.
    let mut clean = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    let mut words = crate::search::date_words(&clean);
    let date = crate::search::rfc5322_date_words(&mut words, false)?;
    let time = words.next()?;
    let mut hms = time.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = match hms.next() {
        Some(x) => x.parse().ok()?,
        None => 0,
    };
    if h > 23 || m > 59 || sec > 60 || hms.next().is_some() {
        return None;
    }
    let offset = words.next().map_or(Some(0), zone_offset)?;
    Some(days_from_civil(date) * 86_400 + h * 3600 + m * 60 + sec - offset)
}

/// A zone as seconds east of UTC: `+hhmm`/`-hhmm` or an obsolete name (unknown names
/// are UTC, as RFC 5322 4.3 says to treat them as `-0000`).
fn zone_offset(z: &str) -> Option<i64> {
    let b = z.as_bytes();
    if matches!(b.first(), Some(b'+' | b'-')) {
        if b.len() != 5 || !b[1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let hh: i64 = z[1..3].parse().ok()?;
        let mm: i64 = z[3..5].parse().ok()?;
        let v = hh * 3600 + mm * 60;
        return Some(if b[0] == b'-' { -v } else { v });
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        _ => 0,
    };
    Some(hours * 3600)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: its length at the start of `s`.
fn blob(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    if !rest[end..].starts_with(']') {
        return None;
    }
    let after = &rest[end + 1..];
    let ws = after.len() - after.trim_start_matches([' ', '\t']).len();
    Some(1 + end + 1 + ws)
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`: its length at the start.
fn refwd(s: &str) -> Option<usize> {
    let lower = s.get(..3).unwrap_or(s).to_ascii_lowercase();
    let mut n = if lower.starts_with("fwd") {
        3
    } else if lower.starts_with("re") || lower.starts_with("fw") {
        2
    } else {
        return None;
    };
    n += s[n..].len() - s[n..].trim_start_matches([' ', '\t']).len();
    if let Some(b) = blob(&s[n..]) {
        n += b;
    }
    s[n..].starts_with(':').then_some(n + 1)
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP`: its length at the start, and whether
/// it was a reply/forward marker.
fn leader(s: &str) -> Option<(usize, bool)> {
    if s.starts_with([' ', '\t']) {
        return Some((1, false));
    }
    let mut n = 0;
    while let Some(b) = blob(&s[n..]) {
        n += b;
    }
    refwd(&s[n..]).map(|r| (n + r, true))
}

/// RFC 5256 section 2.1 base subject of a decoded Subject value, and whether any reply or
/// forward marker (`Re:`, `Fwd:`, `(fwd)`, `[fwd: ...]`) was removed.
pub fn base_subject(subject: &str) -> (String, bool) {
    // (1) Folding and runs of whitespace become one space.
    let mut s = String::with_capacity(subject.len());
    for c in subject.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    let mut reply = false;
    loop {
        // (2) Trailing "(fwd)" and whitespace.
        loop {
            let t = s.trim_end_matches([' ', '\t']);
            if t.len() != s.len() {
                s.truncate(t.len());
                continue;
            }
            let lower = s.to_ascii_lowercase();
            if lower.ends_with("(fwd)") {
                s.truncate(s.len() - 5);
                reply = true;
                continue;
            }
            break;
        }
        // (3)-(5) Leaders, and leading blobs that leave something behind.
        loop {
            let before = s.len();
            while let Some((n, r)) = leader(&s) {
                s.drain(..n);
                reply |= r;
            }
            if let Some(n) = blob(&s)
                && n < s.len()
            {
                s.drain(..n);
            }
            if s.len() == before {
                break;
            }
        }
        // (6) "[fwd:" subject "]".
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}
