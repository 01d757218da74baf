//! FETCH rendering. This is the session engineer's minimal stand-in (FLAGS, UID,
//! INTERNALDATE, RFC822.SIZE, MODSEQ, and whole-message, HEADER, HEADER.FIELDS[.NOT] and TEXT
//! sections without MIME parsing, so sync clients can be tested); the full version with
//! ENVELOPE, BODYSTRUCTURE, part numbers and BINARY replaces this file with the same
//! signatures.

use std::num::NonZeroU32;

use roost_storage::{Mailbox, MessageInfo, StorageError};

use crate::response::{Encoder, FetchItem, FetchWriter};
use crate::types::{FetchAttribute, SectionText};

/// What rendering a message needs besides the message itself.
pub struct FetchEnv<'a> {
    /// The selected mailbox.
    pub mailbox: &'a Mailbox,
    /// `Mailbox::keyword_names()`.
    pub keyword_names: &'a [Option<String>],
    /// UTF8=ACCEPT enabled on this session.
    pub utf8: bool,
    /// This message is \Recent in this session.
    pub recent: bool,
}

/// Why a message could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The message is gone from storage.
    #[error("message was expunged")]
    Expunged,
    /// A body part uses an encoding BINARY cannot decode.
    #[error("unknown content-transfer-encoding {0}")]
    UnknownCte(String),
    /// Storage failed.
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
    let seq = NonZeroU32::new(seq).ok_or(FetchError::Expunged)?;
    let mut out = Vec::new();
    let mut w = FetchWriter::start(Encoder { utf8: env.utf8 }, seq, &mut out);
    for attr in attrs {
        let item = match attr {
            FetchAttribute::Flags => {
                FetchItem::Flags(crate::view::flags_of(info, env.keyword_names, env.recent))
            }
            FetchAttribute::Uid => {
                FetchItem::Uid(NonZeroU32::new(info.uid).ok_or(FetchError::Expunged)?)
            }
            FetchAttribute::InternalDate => {
                FetchItem::InternalDate(crate::view::date_time(info.internal_date))
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
                FetchItem::Rfc822Size(size)
            }
            FetchAttribute::ModSeq => FetchItem::ModSeq(info.modseq),
            FetchAttribute::BodySection {
                section, partial, ..
            } if section.part.is_empty() => {
                let msg = message(env, info)?;
                let data = match &section.text {
                    None => msg,
                    Some(text) => match select(&msg, text) {
                        Some(d) => d,
                        None => continue,
                    },
                };
                let (origin, data) = match partial {
                    None => (None, data),
                    Some(p) => {
                        let start = (p.offset as usize).min(data.len());
                        let end = start.saturating_add(p.len.get() as usize).min(data.len());
                        (Some(p.offset), data[start..end].to_vec())
                    }
                };
                FetchItem::BodySection {
                    section: section.clone(),
                    origin,
                    data: Some(data),
                }
            }
            FetchAttribute::Rfc822 => FetchItem::Rfc822(Some(message(env, info)?)),
            FetchAttribute::Rfc822Header => {
                let msg = message(env, info)?;
                FetchItem::Rfc822Header(Some(split(&msg).0.to_vec()))
            }
            FetchAttribute::Rfc822Text => {
                let msg = message(env, info)?;
                FetchItem::Rfc822Text(Some(split(&msg).1.to_vec()))
            }
            // Not in the stand-in; the full fetch.rs renders these.
            _ => continue,
        };
        w.item(&item);
    }
    w.finish();
    Ok(out)
}

/// The message with CRLF line ends, as IMAP carries it.
fn message(env: &FetchEnv<'_>, info: &MessageInfo) -> Result<Vec<u8>, FetchError> {
    let Some((mut file, _)) = env.mailbox.open_message(info.uid)? else {
        return Err(FetchError::Expunged);
    };
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut raw)
        .map_err(|e| StorageError::io("reading message", e))?;
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    Ok(out)
}

/// Header (with its blank line) and body.
fn split(msg: &[u8]) -> (&[u8], &[u8]) {
    match msg.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => msg.split_at(i + 4),
        None => (msg, &[]),
    }
}

fn select(msg: &[u8], text: &SectionText) -> Option<Vec<u8>> {
    let (header, body) = split(msg);
    let fields = |names: &[crate::types::AString], keep: bool| {
        let mut out = Vec::new();
        let mut take = false;
        for line in header.split_inclusive(|&b| b == b'\n') {
            if line == b"\r\n" {
                break;
            }
            if !line.starts_with(b" ") && !line.starts_with(b"\t") {
                let name = line.split(|&b| b == b':').next().unwrap_or(&[]);
                let listed = names
                    .iter()
                    .any(|n| n.as_bytes().eq_ignore_ascii_case(name.trim_ascii()));
                take = listed == keep;
            }
            if take {
                out.extend_from_slice(line);
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    };
    Some(match text {
        SectionText::Header => header.to_vec(),
        SectionText::Text => body.to_vec(),
        SectionText::HeaderFields(names) => fields(names, true),
        SectionText::HeaderFieldsNot(names) => fields(names, false),
        SectionText::Mime => return None,
    })
}
