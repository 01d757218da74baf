//! FETCH (RFC 3501 / RFC 9051 section 6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ): renders one
//! `* n FETCH (...)` response per message, items in request order.
//!
//! Values derived from the message text (ENVELOPE, BODY, BODYSTRUCTURE, sections, BINARY)
//! are written by roost-mime, byte for byte as Dovecot writes them. The message file is
//! read at most once per call, and only when an item needs it: the MIME structure and the
//! ENVELOPE come from the mailbox cache when they were computed before, so a repeated
//! FETCH BODYSTRUCTURE or ENVELOPE opens no file at all.

use std::io::Read;
use std::num::NonZeroU32;

use roost_mime::{BodyPart, ImapString, MimeError, SectionSpec};
use roost_storage::{CacheField, Flags, Mailbox, MessageInfo, StorageError};

use crate::types::{Date, DateTime, FetchAttribute, Partial, Section, SectionText, is_atom_char};

#[cfg(test)]
pub(crate) mod testbox;
#[cfg(test)]
mod tests;

/// Prefix of a cached ENVELOPE (the wire bytes follow). Cache files outlive program
/// versions: a change in how ENVELOPE is written must change this tag, so old entries
/// are recomputed instead of served.
const ENVELOPE_CACHE_TAG: &[u8] = b"IMAPENV1";
/// Prefix of a cached PREVIEW text, for the same reason.
const PREVIEW_CACHE_TAG: &[u8] = b"PREVIEW1";

/// What FETCH needs to know about the session and mailbox besides the message itself.
#[derive(Debug, Clone, Copy)]
pub struct FetchEnv<'a> {
    /// The selected mailbox.
    pub mailbox: &'a Mailbox,
    /// Keyword names by index, from [`Mailbox::keyword_names`].
    pub keyword_names: &'a [Option<String>],
    /// UTF8=ACCEPT is enabled on this session. Output is valid either way: 8-bit text is
    /// always sent as a literal, as Dovecot does.
    pub utf8: bool,
    /// This message is `\Recent` in this session.
    pub recent: bool,
}

/// Why a message could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The message file is gone (expunged by another session or program).
    #[error("message was expunged")]
    Expunged,
    /// BINARY of a part whose Content-Transfer-Encoding we cannot decode (`NO [UNKNOWN-CTE]`).
    #[error("unknown content-transfer-encoding {0}")]
    UnknownCte(String),
    /// Reading the mailbox failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Whether these items set \Seen (a non-PEEK BODY[...], BINARY[...], RFC822 or RFC822.TEXT).
pub fn sets_seen(attrs: &[FetchAttribute]) -> bool {
    attrs.iter().any(|a| {
        matches!(
            a,
            FetchAttribute::BodySection { peek: false, .. }
                | FetchAttribute::Binary { peek: false, .. }
                | FetchAttribute::Rfc822
                | FetchAttribute::Rfc822Text
        )
    })
}

/// `* <seq> FETCH (...)\r\n` for one message, items in request order (the caller has
/// already applied \Seen to `info` when `sets_seen`).
pub fn fetch_message(
    env: &FetchEnv<'_>,
    seq: u32,
    info: &MessageInfo,
    attrs: &[FetchAttribute],
) -> Result<Vec<u8>, FetchError> {
    let mut src = Source {
        mailbox: env.mailbox,
        uid: info.uid,
        msg: None,
        tree: None,
    };
    let mut out = format!("* {seq} FETCH (").into_bytes();
    for (i, attr) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        item(env, info, attr, &mut src, &mut out)?;
    }
    out.extend_from_slice(b")\r\n");
    Ok(out)
}

/// The message file and its parsed structure, each produced at most once per call.
struct Source<'a> {
    mailbox: &'a Mailbox,
    uid: u32,
    msg: Option<Vec<u8>>,
    tree: Option<BodyPart>,
}

impl Source<'_> {
    /// The stored message bytes, read into memory on first use.
    fn load(&mut self) -> Result<(), FetchError> {
        if self.msg.is_some() {
            return Ok(());
        }
        let (mut file, _) = self
            .mailbox
            .open_message(self.uid)?
            .ok_or(FetchError::Expunged)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| StorageError::io(format!("reading message UID {}", self.uid), e))?;
        self.msg = Some(data);
        Ok(())
    }

    /// Ensures the MIME tree is known: from the cache, else parsed (and cached).
    fn load_tree(&mut self) -> Result<(), FetchError> {
        if self.tree.is_some() {
            return Ok(());
        }
        let cached = self
            .mailbox
            .cache_get(self.uid, CacheField::MimeStructure)
            // A blob from an older format is simply recomputed.
            .and_then(|blob| BodyPart::decode(&blob).ok());
        let tree = match cached {
            Some(t) => t,
            None => {
                self.load()?;
                let t = roost_mime::body_structure(self.msg.as_deref().unwrap_or_default());
                self.mailbox
                    .cache_put(self.uid, CacheField::MimeStructure, &t.encode());
                t
            }
        };
        self.tree = Some(tree);
        Ok(())
    }

    /// The MIME tree only (BODY, BODYSTRUCTURE): needs no message file when cached.
    fn tree(&mut self) -> Result<&BodyPart, FetchError> {
        self.load_tree()?;
        self.tree.as_ref().ok_or(FetchError::Expunged)
    }

    /// Message bytes and tree together (sections, BINARY).
    fn both(&mut self) -> Result<(&[u8], &BodyPart), FetchError> {
        self.load_tree()?;
        self.load()?;
        match (&self.msg, &self.tree) {
            (Some(m), Some(t)) => Ok((m, t)),
            _ => Err(FetchError::Expunged),
        }
    }

    /// The parenthesized ENVELOPE, cached as the bytes we send behind a format tag.
    fn envelope(&mut self) -> Result<Vec<u8>, FetchError> {
        if let Some(b) = self.mailbox.cache_get(self.uid, CacheField::Envelope)
            && let Some(env) = b.strip_prefix(ENVELOPE_CACHE_TAG)
        {
            return Ok(env.to_vec());
        }
        self.load()?;
        let env = roost_mime::envelope(self.msg.as_deref().unwrap_or_default()).to_imap();
        let blob = [ENVELOPE_CACHE_TAG, &env].concat();
        self.mailbox
            .cache_put(self.uid, CacheField::Envelope, &blob);
        Ok(env)
    }
}

fn item(
    env: &FetchEnv<'_>,
    info: &MessageInfo,
    attr: &FetchAttribute,
    src: &mut Source<'_>,
    out: &mut Vec<u8>,
) -> Result<(), FetchError> {
    let w = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
    match attr {
        FetchAttribute::Flags => {
            w(out, "FLAGS ");
            flags(env, info, out);
        }
        FetchAttribute::Uid => w(out, &format!("UID {}", info.uid)),
        FetchAttribute::InternalDate => {
            // Zero-padded day (`date-day-fixed` allows both) as Dovecot writes it.
            let d = internal_date(info.internal_date).to_string();
            let d = match d.strip_prefix(' ') {
                Some(t) => format!("0{t}"),
                None => d,
            };
            w(out, &format!("INTERNALDATE \"{d}\""));
        }
        FetchAttribute::Rfc822Size => {
            let size = match info.vsize {
                Some(v) => v,
                None => env
                    .mailbox
                    .vsizes(&[info.uid])?
                    .first()
                    .copied()
                    .flatten()
                    .ok_or(FetchError::Expunged)?,
            };
            w(out, &format!("RFC822.SIZE {size}"));
        }
        FetchAttribute::ModSeq => w(out, &format!("MODSEQ ({})", info.modseq)),
        // NIL for messages indexed before save dates were kept (RFC 8514 allows it).
        FetchAttribute::SaveDate => match info.save_date {
            Some(t) => {
                let d = internal_date(t).to_string();
                let d = match d.strip_prefix(' ') {
                    Some(t) => format!("0{t}"),
                    None => d,
                };
                w(out, &format!("SAVEDATE \"{d}\""));
            }
            None => w(out, "SAVEDATE NIL"),
        },
        FetchAttribute::EmailId => {
            let id = match cached_email_id(env.mailbox, info.uid) {
                Some(id) => id,
                None => {
                    src.load()?;
                    let msg = src.msg.as_deref().unwrap_or_default();
                    store_email_id(env.mailbox, info.uid, msg)
                }
            };
            w(out, &format!("EMAILID ({id})"));
        }
        // Threads have no stored identity here; RFC 8474 5.2 allows NIL, as Dovecot sends.
        FetchAttribute::ThreadId => w(out, "THREADID NIL"),
        FetchAttribute::Preview { lazy } => {
            w(out, "PREVIEW ");
            let cached = env
                .mailbox
                .cache_get(info.uid, CacheField::Preview)
                .and_then(|b| b.strip_prefix(PREVIEW_CACHE_TAG).map(<[u8]>::to_vec));
            let text = match cached {
                Some(t) => Some(t),
                None if *lazy => None,
                None => {
                    src.load()?;
                    let text = roost_mime::preview(src.msg.as_deref().unwrap_or_default());
                    let mut blob = PREVIEW_CACHE_TAG.to_vec();
                    blob.extend_from_slice(text.as_bytes());
                    env.mailbox.cache_put(info.uid, CacheField::Preview, &blob);
                    Some(text.into_bytes())
                }
            };
            ImapString::nstring(out, text.as_deref());
        }
        FetchAttribute::Envelope => {
            w(out, "ENVELOPE ");
            out.extend_from_slice(&src.envelope()?);
        }
        FetchAttribute::Body => {
            w(out, "BODY ");
            out.extend_from_slice(&src.tree()?.to_imap(false));
        }
        FetchAttribute::BodyStructure => {
            w(out, "BODYSTRUCTURE ");
            out.extend_from_slice(&src.tree()?.to_imap(true));
        }
        FetchAttribute::BodySection {
            section, partial, ..
        } => {
            let (msg, tree) = src.both()?;
            let data = roost_mime::section(msg, tree, &spec(section));
            w(out, "BODY");
            section_name(section, out);
            text_literal(cut(&data, *partial), partial.map(|p| p.offset), out);
        }
        FetchAttribute::Rfc822 | FetchAttribute::Rfc822Header | FetchAttribute::Rfc822Text => {
            let (name, text) = match attr {
                FetchAttribute::Rfc822 => ("RFC822", None),
                FetchAttribute::Rfc822Header => ("RFC822.HEADER", Some(SectionText::Header)),
                _ => ("RFC822.TEXT", Some(SectionText::Text)),
            };
            let (msg, tree) = src.both()?;
            let section = Section {
                part: Vec::new(),
                text,
            };
            let data = roost_mime::section(msg, tree, &spec(&section));
            w(out, name);
            text_literal(&data, None, out);
        }
        FetchAttribute::Binary { part, partial, .. } => {
            let (msg, tree) = src.both()?;
            let b = binary(msg, tree, part)?;
            w(out, &format!("BINARY[{}]", part_path(part)));
            // RFC 3516's ABNF has no origin here but its prose does (errata 7246); Dovecot
            // and UW-IMAP send it, and clients match partial answers by it.
            if let Some(p) = partial {
                w(out, &format!("<{}>", p.offset));
            }
            let data = cut(&b.data, *partial);
            // literal8 whenever decoding happened (as Dovecot), and always for NUL, which
            // a plain literal cannot carry.
            let tilde = if b.literal8 || data.contains(&0) {
                "~"
            } else {
                ""
            };
            w(out, &format!(" {tilde}{{{}}}\r\n", data.len()));
            out.extend_from_slice(data);
        }
        FetchAttribute::BinarySize { part } => {
            let (msg, tree) = src.both()?;
            let size = binary(msg, tree, part)?.data.len();
            w(out, &format!("BINARY.SIZE[{}] {size}", part_path(part)));
        }
    }
    Ok(())
}

/// The EMAILID computed before for this message, if any.
pub(crate) fn cached_email_id(mailbox: &Mailbox, uid: u32) -> Option<String> {
    mailbox
        .cache_get(uid, CacheField::EmailId)
        .and_then(|b| std::str::from_utf8(&b).ok().map(str::to_string))
}

/// Computes the EMAILID of a message from its bytes and remembers it.
pub(crate) fn store_email_id(mailbox: &Mailbox, uid: u32, msg: &[u8]) -> String {
    let id = roost_storage::objectid::email_id(msg);
    mailbox.cache_put(uid, CacheField::EmailId, id.as_bytes());
    id
}

fn binary(
    msg: &[u8],
    tree: &BodyPart,
    part: &[NonZeroU32],
) -> Result<roost_mime::Binary, FetchError> {
    let path: Vec<u32> = part.iter().map(|p| p.get()).collect();
    roost_mime::binary(msg, tree, &path).map_err(|e| match e {
        MimeError::UnknownCte(c) => FetchError::UnknownCte(c),
    })
}

/// `flag-fetch` list in Dovecot's order: system flags, `\Recent`, then keywords. Maildir's
/// `P` (passed) is the `$Forwarded` keyword, as Dovecot shows it.
fn flags(env: &FetchEnv<'_>, info: &MessageInfo, out: &mut Vec<u8>) {
    let mut names: Vec<&str> = [
        (Flags::ANSWERED, "\\Answered"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::DELETED, "\\Deleted"),
        (Flags::SEEN, "\\Seen"),
        (Flags::DRAFT, "\\Draft"),
    ]
    .into_iter()
    .filter(|(f, _)| info.flags.contains(*f))
    .map(|(_, n)| n)
    .collect();
    if env.recent {
        names.push("\\Recent");
    }
    let forwarded = info.flags.contains(Flags::PASSED);
    if forwarded {
        names.push("$Forwarded");
    }
    for i in info.keywords.iter() {
        let Some(Some(name)) = env.keyword_names.get(i) else {
            continue;
        };
        // A name that is not an atom cannot be sent as a flag; one already shown via `P`
        // is not repeated.
        let valid = !name.is_empty() && name.bytes().all(is_atom_char);
        if valid && !(forwarded && name.eq_ignore_ascii_case("$Forwarded")) {
            names.push(name);
        }
    }
    out.push(b'(');
    out.extend_from_slice(names.join(" ").as_bytes());
    out.push(b')');
}

/// Latest instant a four-digit year can show (9999-12-31 23:59:59 UTC).
const MAX_DATE_TIME: i64 = 253_402_300_799;

/// INTERNALDATE in UTC (Dovecot shows the server's zone; servers here run in UTC).
pub(crate) fn internal_date(t: i64) -> DateTime {
    let t = t.clamp(0, MAX_DATE_TIME);
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    DateTime {
        date: civil_from_days(days),
        hour: (secs / 3600) as u8,
        minute: (secs / 60 % 60) as u8,
        second: (secs % 60) as u8,
        zone_minutes: 0,
    }
}

/// The calendar date of a day number (days since 1970-01-01), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date {
        year: year.clamp(0, 9999) as u16,
        month,
        day,
    }
}

/// Day number (days since 1970-01-01) of a calendar date, the inverse of
/// [`civil_from_days`].
pub(crate) fn days_from_civil(d: Date) -> i64 {
    let (m, dd) = (i64::from(d.month), i64::from(d.day));
    let y = i64::from(d.year) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn spec(s: &Section) -> SectionSpec {
    let names = |l: &Vec<crate::types::AString>| {
        l.iter()
            .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned())
            .collect()
    };
    SectionSpec {
        part: s.part.iter().map(|p| p.get()).collect(),
        text: s.text.as_ref().map(|t| match t {
            SectionText::Header => roost_mime::SectionText::Header,
            SectionText::Text => roost_mime::SectionText::Text,
            SectionText::Mime => roost_mime::SectionText::Mime,
            SectionText::HeaderFields(l) => roost_mime::SectionText::HeaderFields(names(l)),
            SectionText::HeaderFieldsNot(l) => roost_mime::SectionText::HeaderFieldsNot(names(l)),
        }),
    }
}

fn part_path(part: &[NonZeroU32]) -> String {
    part.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// `section` echoed as requested, field names uppercased: `[1.2.HEADER.FIELDS (A B)]`.
fn section_name(s: &Section, out: &mut Vec<u8>) {
    out.push(b'[');
    out.extend_from_slice(part_path(&s.part).as_bytes());
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
                // Uppercased like Dovecot; field names are case-insensitive anyway.
                let f = f.as_bytes().to_ascii_uppercase();
                let atom = !f.is_empty()
                    && f.iter().all(|&b| crate::types::is_astring_char(b))
                    && f != b"NIL";
                if atom {
                    out.extend_from_slice(&f);
                } else {
                    ImapString::string(out, &f);
                }
            }
            out.push(b')');
        }
    }
    out.push(b']');
}

/// Applies `<origin.count>`: an origin past the end gives the empty string.
fn cut(data: &[u8], partial: Option<Partial>) -> &[u8] {
    let Some(p) = partial else {
        return data;
    };
    let start = (p.offset as usize).min(data.len());
    let end = start.saturating_add(p.len.get() as usize).min(data.len());
    &data[start..end]
}

/// `[<origin>] SP literal` for text data; NUL, which a literal cannot carry, becomes 0x80
/// as in Dovecot.
fn text_literal(data: &[u8], origin: Option<u32>, out: &mut Vec<u8>) {
    if let Some(o) = origin {
        out.extend_from_slice(format!("<{o}>").as_bytes());
    }
    out.extend_from_slice(format!(" {{{}}}\r\n", data.len()).as_bytes());
    out.extend(data.iter().map(|&b| if b == 0 { 0x80 } else { b }));
}
