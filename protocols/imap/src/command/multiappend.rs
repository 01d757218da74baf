//! The parts of an APPEND command line that the session handles piece by piece: further
//! messages of a MULTIAPPEND (RFC 3502) and CATENATE lists (RFC 4469), whose TEXT literals
//! are streamed like message literals.

use super::{
    CommandBody, CommandError, CommandErrorKind, Cx, MessageLiteral, PResult, ParserLimits,
    append_data, date_time, flag_list, sp,
};
use crate::types::{DateTime, Flag};
use nom::bytes::complete::tag;

/// One step of an APPEND command after its mailbox name, in the order the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendPiece {
    /// A message starts with these flags and internal date; `catenate` when its data is a
    /// CATENATE list rather than one literal.
    Message {
        /// Its flags.
        flags: Vec<Flag>,
        /// Its internal date.
        date: Option<DateTime>,
        /// `CATENATE (...)` follows instead of a literal.
        catenate: bool,
    },
    /// `URL astring`: a message or section of the user's own mail, appended to the message
    /// being built.
    Url(String),
    /// The `)` that ends the CATENATE list of the message being built.
    CatenateEnd,
}

/// What follows a streamed literal on an APPEND line, up to the next streamed literal or the
/// end of the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendTail {
    /// The pieces, in order.
    pub pieces: Vec<AppendPiece>,
    /// The literal to stream next (a TEXT part when [`in_catenate`] says so, else a whole
    /// message); `None` when the command ended.
    pub literal: Option<MessageLiteral>,
}

/// The result of parsing an [`AppendTail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailParsed {
    /// The tail up to a streamed literal or the command's end.
    Tail(AppendTail),
    /// A URL given as a literal: its data must be collected before going on.
    NeedsLiteral,
}

/// Whether a literal after `pieces` is a CATENATE TEXT part, given whether the pieces start
/// inside a CATENATE list.
pub fn in_catenate(start: bool, pieces: &[AppendPiece]) -> bool {
    pieces.iter().fold(start, |inside, p| match p {
        AppendPiece::Message { catenate, .. } => *catenate,
        AppendPiece::CatenateEnd => false,
        AppendPiece::Url(_) => inside,
    })
}

/// Where in the APPEND grammar a run of pieces starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    /// After a message: the line end, or `SP append-message` (MULTIAPPEND).
    Top,
    /// Right after `CATENATE`: `SP "(" cat-part`.
    CatOpen,
    /// After a part: `SP cat-part` or `")"`.
    CatNext,
}

/// `[flag-list SP] [date-time SP]` before a message's data.
fn message_opts<'a>(cx: &Cx, mut i: &'a [u8]) -> PResult<'a, (Vec<Flag>, Option<DateTime>)> {
    let mut flags = Vec::new();
    if i.first() == Some(&b'(') {
        let (rest, f) = flag_list(cx, i)?;
        (i, _) = sp(rest)?;
        flags = f;
    }
    let mut date = None;
    if i.first() == Some(&b'"') {
        let (rest, d) = date_time(i)?;
        (i, _) = sp(rest)?;
        date = Some(d);
    }
    Ok((i, (flags, date)))
}

/// Pieces from `at` up to the first literal that is streamed (a message or a TEXT part,
/// returned) or the line end (left in the input):
/// `append-message = SP [flag-list SP] [date-time SP] append-data` (RFC 3502),
/// `append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"`,
/// `cat-part = text-literal / url`, `text-literal = "TEXT" SP literal`,
/// `url = "URL" SP astring` (RFC 4469 section 5).
pub(super) fn pieces<'a>(
    cx: &Cx,
    mut i: &'a [u8],
    mut at: At,
    out: &mut Vec<AppendPiece>,
) -> PResult<'a, Option<MessageLiteral>> {
    loop {
        match at {
            At::Top => {
                if matches!(i.first(), None | Some(b'\r') | Some(b'\n')) {
                    return Ok((i, None));
                }
                let (rest, _) = sp(i)?;
                let (rest, (flags, date)) = message_opts(cx, rest)?;
                if let Ok((rest, ())) = super::keyword(rest, "CATENATE") {
                    out.push(AppendPiece::Message {
                        flags,
                        date,
                        catenate: true,
                    });
                    (i, at) = (rest, At::CatOpen);
                    continue;
                }
                let (rest, message) = append_data(rest)?;
                out.push(AppendPiece::Message {
                    flags,
                    date,
                    catenate: false,
                });
                return Ok((rest, Some(message)));
            }
            At::CatOpen => (i, _) = tag(" (")(i)?,
            At::CatNext => {
                if let Some(rest) = i.strip_prefix(b")") {
                    out.push(AppendPiece::CatenateEnd);
                    (i, at) = (rest, At::Top);
                    continue;
                }
                (i, _) = sp(i)?;
            }
        }
        if out.len() >= cx.limits.max_items {
            return super::hard(i, CommandErrorKind::TooManyItems);
        }
        if let Ok((rest, ())) = super::keyword(i, "TEXT") {
            let (rest, _) = sp(rest)?;
            // `~{n}` too: with BINARY (RFC 3516) a part may hold any octet, as Dovecot accepts.
            let (rest, (len, sync, binary)) = super::literal_announcement(rest)?;
            let text = MessageLiteral {
                len,
                sync,
                binary,
                utf8: false,
            };
            return Ok((rest, Some(text)));
        }
        let (rest, ()) = super::keyword(i, "URL")?;
        let (rest, _) = sp(rest)?;
        let (rest, url) = super::astring(rest)?;
        let (rest, url) = super::utf8_string(rest, url.into_bytes())?;
        out.push(AppendPiece::Url(url));
        (i, at) = (rest, At::CatNext);
    }
}

/// What follows a streamed literal (inside a CATENATE list when `in_cat`), up to and
/// including the next literal announcement or, when `complete`, the command's line end.
pub fn parse_append_tail(
    input: &[u8],
    in_cat: bool,
    complete: bool,
    limits: &ParserLimits,
) -> Result<TailParsed, CommandError> {
    let cx = Cx { limits: *limits };
    let mut out = Vec::new();
    let at = if in_cat { At::CatNext } else { At::Top };
    let kind = match pieces(&cx, input, at, &mut out) {
        Ok((b"", Some(literal))) if !complete => {
            let literal = Some(literal);
            return Ok(TailParsed::Tail(AppendTail {
                pieces: out,
                literal,
            }));
        }
        Ok((b"\r\n" | b"\n", None)) if complete => {
            return Ok(TailParsed::Tail(AppendTail {
                pieces: out,
                literal: None,
            }));
        }
        Err(nom::Err::Incomplete(_)) => return Ok(TailParsed::NeedsLiteral),
        Err(nom::Err::Failure(super::PErr {
            hard: Some(kind), ..
        })) => kind,
        _ => CommandErrorKind::Syntax,
    };
    let message = if in_cat {
        "APPEND: expected TEXT literal, URL or ')' in CATENATE"
    } else if complete {
        "APPEND: unexpected data after the message"
    } else {
        "APPEND: expected [flags] [date-time] and a literal for the next message"
    };
    Err(CommandError {
        tag: None,
        kind,
        message: message.into(),
    })
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
    let (mailbox, flags, date, message) = match body {
        CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
        } => (mailbox, flags, date, message),
        CommandBody::Catenate {
            mailbox,
            pieces,
            literal,
            replace: None,
        } => {
            let replace = Some((uid, target));
            let body = CommandBody::Catenate {
                mailbox,
                pieces,
                literal,
                replace,
            };
            return Ok((i, body));
        }
        _ => return super::soft(i),
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
