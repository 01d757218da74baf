//! CATENATE (RFC 4469): APPEND of a message built from TEXT literals and IMAP URLs
//! (RFC 5092) naming messages or sections of the user's own mailboxes. A URL that is not
//! the user's, not found, or uses what is not supported (PARTIAL, URLAUTH) fails the whole
//! APPEND with `NO [BADURL url]`; nothing is stored.

use std::io::{Read, Write};
use std::num::NonZeroU32;

use roost_mime::{SectionSpec, SectionText};
use roost_storage::{MailboxName, NewMessage, StorageError};

use super::messages::split_flags;
use super::{CmdError, CmdResult, Done, ImapSession};
use crate::command::CatPart;
use crate::response::Code;
use crate::types::{DateTime, Flag, Mailbox};

/// A parsed IMAP URL to one message, optionally one section of it.
#[derive(Debug, PartialEq, Eq)]
struct MessageUrl {
    mailbox: String,
    uid_validity: Option<u32>,
    uid: u32,
    section: Option<SectionSpec>,
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

/// `section-text` of a URL: `1.2`, `HEADER`, `TEXT`, `1.MIME`, `2.HEADER`...
fn parse_section(s: &str) -> Option<SectionSpec> {
    let mut spec = SectionSpec::default();
    for (i, p) in s.split('.').enumerate() {
        if spec.text.is_some() {
            return None;
        }
        match p.parse::<u32>() {
            Ok(n) if n > 0 && spec.part.len() == i => spec.part.push(n),
            _ => {
                spec.text = Some(match p.to_ascii_uppercase().as_str() {
                    "HEADER" => SectionText::Header,
                    "TEXT" => SectionText::Text,
                    "MIME" if !spec.part.is_empty() => SectionText::Mime,
                    _ => return None,
                })
            }
        }
    }
    Some(spec)
}

/// `imap://[user[;AUTH=..]@]host[:port]/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s]` or the
/// same from `/mailbox...` on. A URL naming another user than `user` is refused.
fn parse_url(url: &str, user: &str) -> Option<MessageUrl> {
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
    let (uid, section) = match rest.to_ascii_uppercase().find("/;SECTION=") {
        Some(p) => (
            &rest[..p],
            Some(parse_section(&percent_decode(&rest[p + 10..])?)?),
        ),
        None => (rest, None),
    };
    Some(MessageUrl {
        mailbox: percent_decode(mbox)?,
        uid_validity,
        uid: uid.parse().ok().filter(|u| *u > 0)?,
        section,
    })
}

impl ImapSession {
    pub(super) fn catenate(
        &mut self,
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        parts: Vec<CatPart>,
    ) -> CmdResult {
        let name = self.resolved_name(&mailbox)?;
        let limit = self.ctx.settings.max_append_size;
        let target = match self.user()?.store.open(&name) {
            Ok(mb) => mb,
            Err(StorageError::NoSuchMailbox(_)) => {
                return Err(CmdError::No(
                    Some(Code::TryCreate),
                    format!("Mailbox {} does not exist", name.as_str()),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let mut writer = target.create_tmp(limit)?;
        let too_big = || {
            CmdError::No(
                Some(Code::TooBig),
                format!("Message is larger than the limit of {limit} bytes"),
            )
        };
        for part in &parts {
            let data = match part {
                CatPart::Text(t) => t.clone(),
                CatPart::Url(url) => self.url_data(url, limit)?,
            };
            writer.write_all(&data).map_err(|e| {
                if e.kind() == std::io::ErrorKind::FileTooLarge {
                    too_big()
                } else {
                    StorageError::io("writing message", e).into()
                }
            })?;
        }
        let tmp = writer.finish(date.as_ref().map(crate::view::unix_time))?;
        let (flags, keywords) = split_flags(&flags);
        let uids = self.user()?.store.commit(
            &target,
            vec![NewMessage {
                tmp,
                flags,
                keywords,
            }],
            false,
        )?;
        self.notify_own_new(&target, &uids);
        let validity = target.status()?.uid_validity;
        self.report_updates(true)?;
        let code = match (NonZeroU32::new(validity), super::messages::to_set(&uids)) {
            (Some(uid_validity), Some(uids)) => Some(Code::AppendUid { uid_validity, uids }),
            _ => None,
        };
        Ok(Done::Ok(code, "APPEND completed".into()))
    }

    /// The bytes a CATENATE URL names, as a FETCH would send them (CRLF line ends).
    fn url_data(&mut self, url: &str, limit: u64) -> Result<Vec<u8>, CmdError> {
        let bad = |why: &str| CmdError::No(Some(Code::BadUrl(url.to_string())), why.to_string());
        let user = self.user()?;
        let Some(u) = parse_url(url, &user.name) else {
            return Err(bad("Unsupported or foreign URL"));
        };
        let name = MailboxName::new(&u.mailbox).map_err(|_| bad("No such mailbox"))?;
        let mb = user.store.open(&name).map_err(|_| bad("No such mailbox"))?;
        if u.uid_validity
            .is_some_and(|v| v != mb.status().map(|s| s.uid_validity).unwrap_or(0))
        {
            return Err(bad("UIDVALIDITY does not match"));
        }
        let Some((file, info)) = mb.open_message(u.uid)? else {
            return Err(bad("No such message"));
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
        let data = match &u.section {
            None => msg,
            Some(spec) => roost_mime::section(&msg, &roost_mime::body_structure(&msg), spec),
        };
        Ok(roost_mime::crlf(&data))
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
        };
        assert_eq!(
            parse_url("/INBOX;UIDVALIDITY=7/;UID=3", "al"),
            Some(whole("INBOX", Some(7), 3))
        );
        assert_eq!(
            parse_url(
                "imap://al;AUTH=*@mail.example.org:143/Caf%C3%A9/;uid=9",
                "al"
            ),
            Some(whole("Café", None, 9))
        );
        let s = parse_url("/Sent/;UID=2/;SECTION=1.2.MIME", "al").unwrap();
        assert_eq!(s.section.unwrap().part, vec![1, 2]);
        for bad in [
            "imap://bob@host/INBOX/;UID=1",
            "/INBOX/;UID=0",
            "/INBOX;UIDVALIDITY=x/;UID=1",
            "/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(To)",
            "/INBOX/;UID=1/;PARTIAL=0.10",
            "INBOX/;UID=1",
            "/INBOX",
        ] {
            assert_eq!(parse_url(bad, "al"), None, "{bad}");
        }
    }
}
