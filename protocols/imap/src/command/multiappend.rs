//! The further messages of a MULTIAPPEND (RFC 3502): what follows a message literal on the
//! same command line.

use super::{
    CommandBody, CommandError, CommandErrorKind, Cx, MessageLiteral, ParserLimits, append_data,
    date_time, flag_list, sp,
};
use crate::types::{DateTime, Flag};
use nom::bytes::complete::tag;

/// One part of a CATENATE (RFC 4469).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`: these bytes.
    Text(Vec<u8>),
    /// `URL astring`: a message or section of the user's own mail.
    Url(String),
}

/// `SP "(" cat-part *(SP cat-part) ")"` after `CATENATE`
/// `cat-part = "TEXT" SP literal / "URL" SP astring`
pub(super) fn catenate_parts<'a>(cx: &Cx, i: &'a [u8]) -> super::PResult<'a, Vec<CatPart>> {
    let (mut i, _) = tag(" (")(i)?;
    let mut parts = Vec::new();
    loop {
        if !parts.is_empty() {
            if let Some(rest) = i.strip_prefix(b")") {
                return Ok((rest, parts));
            }
            (i, _) = sp(i)?;
        }
        if parts.len() >= cx.limits.max_items {
            return super::hard(i, CommandErrorKind::TooManyItems);
        }
        if let Ok((rest, ())) = super::keyword(i, "TEXT") {
            let (rest, _) = sp(rest)?;
            let (rest, data) = super::literal(rest)?;
            parts.push(CatPart::Text(data));
            i = rest;
        } else {
            let (rest, ()) = super::keyword(i, "URL")?;
            let (rest, _) = sp(rest)?;
            let (rest, url) = super::astring(rest)?;
            let (rest, url) = super::utf8_string(rest, url.into_bytes())?;
            parts.push(CatPart::Url(url));
            i = rest;
        }
    }
}

/// `replace = "REPLACE" SP seq-number SP mailbox append-message` (RFC 8508; also after
/// `UID`, with a UID)
pub(super) fn replace<'a>(cx: &Cx, i: &'a [u8], uid: bool) -> super::BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, n) = super::number(i)?;
    let Some(target) = std::num::NonZeroU32::new(n) else {
        return super::soft(i);
    };
    let (i, body) = super::append(cx, i)?;
    let CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
    } = body
    else {
        return super::soft(i);
    };
    Ok((
        i,
        CommandBody::Replace {
            uid,
            target,
            mailbox,
            flags,
            date,
            message,
        },
    ))
}

/// One further message of a MULTIAPPEND, announced but not yet sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendNext {
    /// Its flags.
    pub flags: Vec<Flag>,
    /// Its internal date.
    pub date: Option<DateTime>,
    /// Its literal.
    pub message: MessageLiteral,
}

/// `append-message = SP [flag-list SP] [date-time SP] literal` up to the literal's CRLF.
pub fn parse_append_next(input: &[u8], limits: &ParserLimits) -> Result<AppendNext, CommandError> {
    let cx = Cx { limits: *limits };
    let parsed = (|| {
        let (mut i, _) = sp(input)?;
        let mut flags = Vec::new();
        if i.first() == Some(&b'(') {
            let (rest, f) = flag_list(&cx, i)?;
            (i, _) = sp(rest)?;
            flags = f;
        }
        let mut date = None;
        if i.first() == Some(&b'"') {
            let (rest, d) = date_time(i)?;
            (i, _) = sp(rest)?;
            date = Some(d);
        }
        let (i, message) = append_data(i)?;
        Ok::<_, nom::Err<super::PErr<'_>>>((
            i,
            AppendNext {
                flags,
                date,
                message,
            },
        ))
    })();
    match parsed {
        Ok((b"", next)) => Ok(next),
        _ => Err(CommandError {
            tag: None,
            kind: CommandErrorKind::Syntax,
            message: "APPEND: expected [flags] [date-time] and a literal for the next message"
                .into(),
        }),
    }
}
