//! CATENATE (RFC 4469): APPEND of a message built from TEXT literals and IMAP URLs
//! (RFC 5092) naming messages, sections or byte ranges of the user's own mailboxes. TEXT
//! literals are streamed into the message file like APPEND's literal (see `append.rs`); a
//! URL's data is written as it is reached. A URL that is not the user's, not found, or uses
//! what is not supported (URLAUTH, RFC 4467, which we do not advertise) fails the whole
//! APPEND with `NO [BADURL url]`; nothing is stored.

use std::io::{Read, Write};
use std::num::NonZeroU32;

use roost_mime::{SectionSpec, SectionText};
use roost_storage::{MailboxName, StorageError, TmpWriter};

use super::{CmdError, CmdResult, ImapSession};
use crate::command::{AppendPiece, MessageLiteral};
use crate::response::Code;
use crate::types::{Mailbox, Tag};

/// A parsed IMAP URL to one message, optionally one section of it and a byte range.
#[derive(Debug, PartialEq, Eq)]
struct MessageUrl {
    mailbox: String,
    uid_validity: Option<u32>,
    uid: u32,
    section: Option<SectionSpec>,
    /// `;PARTIAL=offset[.length]`
    partial: Option<(u64, Option<u64>)>,
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `section-text` of a URL after percent-decoding: `1.2`, `HEADER`, `TEXT`, `1.MIME`,
/// `2.HEADER`, `HEADER.FIELDS (To From)`, `1.HEADER.FIELDS.NOT (Received)`...
fn parse_section(s: &str) -> Option<SectionSpec> {
    let mut spec = SectionSpec::default();
    let mut rest = s;
    loop {
        let (head, tail) = match rest.split_once('.') {
            Some((h, t)) => (h, Some(t)),
            None => (rest, None),
        };
        match head.parse::<u32>() {
            Ok(n) if n > 0 && head.bytes().all(|b| b.is_ascii_digit()) => spec.part.push(n),
            _ => break,
        }
        match tail {
            Some(t) => rest = t,
            None => return Some(spec),
        }
    }
    let upper = rest.to_ascii_uppercase();
    spec.text = Some(match upper.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if !spec.part.is_empty() => SectionText::Mime,
        _ => {
            let (word, _) = upper.split_once(' ')?;
            let list = rest[word.len() + 1..]
                .strip_prefix('(')?
                .strip_suffix(')')?;
            let names: Vec<String> = list.split(' ').map(str::to_string).collect();
            if names
                .iter()
                .any(|n| n.is_empty() || !n.bytes().all(is_field_char))
            {
                return None;
            }
            match word {
                "HEADER.FIELDS" => SectionText::HeaderFields(names),
                "HEADER.FIELDS.NOT" => SectionText::HeaderFieldsNot(names),
                _ => return None,
            }
        }
    });
    Some(spec)
}

/// RFC 5322 `ftext`: what a header field name is made of.
fn is_field_char(b: u8) -> bool {
    (33..=126).contains(&b) && b != b':'
}

/// `partial-range = number ["." nz-number]` (RFC 5092 section 9)
fn parse_partial(s: &str) -> Option<(u64, Option<u64>)> {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        Some((o, l)) if digits(o) && digits(l) => {
            let len: u64 = l.parse().ok()?;
            (len > 0).then_some((o.parse().ok()?, Some(len)))
        }
        None if digits(s) => Some((s.parse().ok()?, None)),
        _ => None,
    }
}

/// `imap://[user[;AUTH=..]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s]
/// [/;PARTIAL=o[.l]]`, the same from `/mailbox...` on, or from `;UID=n` on relative to the
/// `selected` mailbox (RFC 4469 section 3: in the selected state the base URL names it). A
/// URL naming another user than `user`, or carrying URLAUTH (`;EXPIRE=`, `;URLAUTH=`), is
/// refused.
fn parse_url(url: &str, user: &str, selected: Option<&str>) -> Option<MessageUrl> {
    if url
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case(";UID="))
    {
        return message_url(selected?.to_string(), None, &url[5..]);
    }
    let path = if let Some(rest) = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("imap://"))
        .map(|_| &url[7..])
    {
        let slash = rest.find('/')?;
        let authority = &rest[..slash];
        if let Some((userinfo, _host)) = authority.rsplit_once('@') {
            let name = userinfo.split(';').next().unwrap_or("");
            if percent_decode(name)? != user {
                return None;
            }
        }
        &rest[slash..]
    } else {
        url
    };
    let path = path.strip_prefix('/')?;
    let upper = path.to_ascii_uppercase();
    let at = upper.find("/;UID=")?;
    let (mbox, rest) = (&path[..at], &path[at + 6..]);
    let (mbox, uid_validity) = match mbox.to_ascii_uppercase().find(";UIDVALIDITY=") {
        Some(p) => (&mbox[..p], Some(mbox[p + 13..].parse().ok()?)),
        None => (mbox, None),
    };
    message_url(percent_decode(mbox)?, uid_validity, rest)
}

/// `uid [isection] [ipartial]` after `;UID=`.
fn message_url(mailbox: String, uid_validity: Option<u32>, rest: &str) -> Option<MessageUrl> {
    let (rest, partial) = match rest.to_ascii_uppercase().find("/;PARTIAL=") {
        Some(p) => (&rest[..p], Some(parse_partial(&rest[p + 10..])?)),
        None => (rest, None),
    };
    let (uid, section) = match rest.to_ascii_uppercase().find("/;SECTION=") {
        Some(p) => (
            &rest[..p],
            Some(parse_section(&percent_decode(&rest[p + 10..])?)?),
        ),
        None => (rest, None),
    };
    Some(MessageUrl {
        mailbox,
        uid_validity,
        uid: uid.parse().ok().filter(|u| *u > 0)?,
        section,
        partial,
    })
}

/// Passes on the bytes of `[skip, skip + take)` of a stream given chunk by chunk.
struct Window {
    skip: u64,
    take: Option<u64>,
}

impl Window {
    fn cut<'a>(&mut self, mut data: &'a [u8]) -> &'a [u8] {
        let drop = self.skip.min(data.len() as u64);
        self.skip -= drop;
        data = &data[drop as usize..];
        if let Some(left) = self.take.as_mut() {
            let keep = (*left).min(data.len() as u64);
            *left -= keep;
            data = &data[..keep as usize];
        }
        data
    }

    fn full(&self) -> bool {
        self.take == Some(0)
    }
}

impl ImapSession {
    /// Starts APPEND, MULTIAPPEND or REPLACE (plain or CATENATE): checks the target (and
    /// for REPLACE the message replaced) before any literal is accepted.
    pub(super) fn begin_append(
        &mut self,
        tag: &Tag,
        mailbox: Mailbox,
        pieces: Vec<AppendPiece>,
        literal: Option<MessageLiteral>,
        replace: Option<(bool, NonZeroU32)>,
    ) -> CmdResult {
        let start = match replace {
            Some((uid, n)) => self
                .replace_source(uid, n)
                .and_then(|source| self.start_append(tag, mailbox, Some(source))),
            None => self.start_append(tag, mailbox, None),
        };
        match start {
            Ok(a) => self.continue_append(a, pieces, literal),
            Err(e) => {
                // The client must not send (or we skip) the literal.
                self.reader.reject_command();
                Err(e)
            }
        }
    }

    /// Writes the bytes a CATENATE URL names, as a FETCH would send them (CRLF line ends).
    pub(super) fn write_url(&mut self, url: &str, out: &mut TmpWriter) -> Result<(), CmdError> {
        let bad = |why: &str| CmdError::No(Some(Code::BadUrl(url.to_string())), why.to_string());
        let limit = self.ctx.settings.max_append_size;
        let user = self.user()?;
        let selected = user.selected.as_ref().map(|v| v.mailbox().name().as_str());
        let Some(u) = parse_url(url, &user.name, selected) else {
            return Err(bad("Unsupported or foreign URL"));
        };
        let name = MailboxName::new(&u.mailbox).map_err(|_| bad("No such mailbox"))?;
        let mb = user.store.open(&name).map_err(|_| bad("No such mailbox"))?;
        if u.uid_validity
            .is_some_and(|v| v != mb.status().map(|s| s.uid_validity).unwrap_or(0))
        {
            return Err(bad("UIDVALIDITY does not match"));
        }
        let Some((mut file, info)) = mb.open_message(u.uid)? else {
            return Err(bad("No such message"));
        };
        let (skip, take) = u.partial.unwrap_or((0, None));
        let mut window = Window { skip, take };
        let write = |out: &mut TmpWriter, data: &[u8]| {
            out.write_all(data).map_err(super::append::write_error)
        };
        let Some(spec) = &u.section else {
            // A whole message is copied in chunks, so it costs no more memory than a TEXT part.
            let mut buf = vec![0u8; 64 * 1024];
            let mut prev = 0u8;
            let mut converted = Vec::with_capacity(2 * buf.len());
            while !window.full() {
                let n = file
                    .read(&mut buf)
                    .map_err(|e| StorageError::io("reading message", e))?;
                if n == 0 {
                    break;
                }
                converted.clear();
                for &b in &buf[..n] {
                    if b == b'\n' && prev != b'\r' {
                        converted.push(b'\r');
                    }
                    converted.push(b);
                    prev = b;
                }
                write(out, window.cut(&converted))?;
            }
            return Ok(());
        };
        if info.size > limit {
            return Err(CmdError::No(
                Some(Code::TooBig),
                format!("Message is larger than the limit of {limit} bytes"),
            ));
        }
        let mut msg = Vec::with_capacity(info.size as usize);
        file.take(limit + 1)
            .read_to_end(&mut msg)
            .map_err(|e| StorageError::io("reading message", e))?;
        let data = roost_mime::section(&msg, &roost_mime::body_structure(&msg), spec);
        write(out, window.cut(&data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_known_answers() {
        let whole = |mailbox: &str, v, uid| MessageUrl {
            mailbox: mailbox.into(),
            uid_validity: v,
            uid,
            section: None,
            partial: None,
        };
        assert_eq!(
            parse_url("/INBOX;UIDVALIDITY=7/;UID=3", "al", None),
            Some(whole("INBOX", Some(7), 3))
        );
        assert_eq!(
            parse_url(
                "imap://al;AUTH=*@mail.example.org:143/Caf%C3%A9/;uid=9",
                "al",
                None
            ),
            Some(whole("Café", None, 9))
        );
        let s = parse_url("/Sent/;UID=2/;SECTION=1.2.MIME", "al", None).unwrap();
        assert_eq!(s.section.unwrap().part, vec![1, 2]);
        let s = parse_url(
            "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(To%20From)",
            "al",
            None,
        )
        .unwrap();
        assert_eq!(
            s.section.unwrap().text,
            Some(SectionText::HeaderFields(vec!["To".into(), "From".into()]))
        );
        let s = parse_url(
            "/INBOX/;UID=1/;SECTION=2.HEADER.FIELDS.NOT%20(X-A)",
            "al",
            None,
        )
        .unwrap();
        let spec = s.section.unwrap();
        assert_eq!(spec.part, vec![2]);
        assert_eq!(
            spec.text,
            Some(SectionText::HeaderFieldsNot(vec!["X-A".into()]))
        );
        let p = parse_url("/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=5.10", "al", None).unwrap();
        assert_eq!(p.partial, Some((5, Some(10))));
        assert_eq!(p.section.unwrap().text, Some(SectionText::Text));
        let p = parse_url("/INBOX/;UID=1/;partial=7", "al", None).unwrap();
        assert_eq!((p.partial, p.section), (Some((7, None)), None));
        let r = parse_url(";uid=4/;SECTION=TEXT", "al", Some("Sent")).unwrap();
        assert_eq!((r.mailbox.as_str(), r.uid), ("Sent", 4));
        assert_eq!(parse_url(";UID=4", "al", None), None);
        for bad in [
            "imap://bob@host/INBOX/;UID=1",
            "/INBOX/;UID=0",
            "/INBOX;UIDVALIDITY=x/;UID=1",
            "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20()",
            "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(To:)",
            "/INBOX/;UID=1/;SECTION=HEADER.FOO%20(To)",
            "/INBOX/;UID=1/;SECTION=0",
            "/INBOX/;UID=1/;PARTIAL=0.0",
            "/INBOX/;UID=1/;PARTIAL=x",
            "/INBOX/;UID=1/;PARTIAL=1.",
            "/INBOX/;UID=1;URLAUTH=anonymous:internal:0123",
            "/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=anonymous",
            "INBOX/;UID=1",
            "/INBOX",
        ] {
            assert_eq!(parse_url(bad, "al", None), None, "{bad}");
        }
    }

    #[test]
    fn a_window_cuts_a_stream_given_in_any_chunks() {
        let data: Vec<u8> = (0..50u8).collect();
        for (skip, take) in [
            (0, None),
            (3, Some(10)),
            (49, Some(5)),
            (60, None),
            (0, Some(1)),
        ] {
            let want: Vec<u8> = data
                .iter()
                .skip(skip as usize)
                .take(take.unwrap_or(u64::MAX) as usize)
                .copied()
                .collect();
            for chunk in 1..=7 {
                let mut w = Window { skip, take };
                let got: Vec<u8> = data.chunks(chunk).flat_map(|c| w.cut(c).to_vec()).collect();
                assert_eq!(got, want, "{skip} {take:?} {chunk}");
            }
        }
    }
}
