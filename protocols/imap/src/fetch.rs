//! FETCH rendering. This is the session engineer's minimal stand-in (FLAGS, UID,
//! INTERNALDATE, RFC822.SIZE, MODSEQ); the full version with ENVELOPE, BODYSTRUCTURE and
//! body sections replaces this file with the same signatures.

use std::num::NonZeroU32;

use roost_storage::{Mailbox, MessageInfo, StorageError};

use crate::response::{Encoder, FetchItem, FetchWriter};
use crate::types::FetchAttribute;

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
            // Not in the stand-in; the full fetch.rs renders these.
            _ => continue,
        };
        w.item(&item);
    }
    w.finish();
    Ok(out)
}
