//! INBOX as POP3 lists it: which messages, their numbers, sizes and UIDLs. Shared by the
//! session (at login) and by `roost mailbox view`, which shows an admin the same thing.

use roost_storage::{Mailbox, StorageError};

use crate::Uidl;
use crate::session::Pop3Settings;

/// One message as POP3 lists it; its POP3 number is its position in the listing plus one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The message's IMAP UID.
    pub uid: u32,
    /// The size LIST and STAT report: octets with CRLF line ends.
    pub size: u64,
    /// The unique id UIDL reports.
    pub uidl: Uidl,
}

/// The messages of `mailbox` (INBOX) a POP3 session sees now, in UID order: those hidden by
/// the deleted keyword are left out, sizes come from storage (only messages whose size is
/// neither in the file name nor cached are read), and a legacy UIDL wins over the format.
pub fn listing(mailbox: &Mailbox, settings: &Pop3Settings) -> Result<Vec<Listed>, StorageError> {
    let snap = mailbox.snapshot()?;
    let hidden = settings.deleted_keyword.as_deref().and_then(|kw| {
        mailbox
            .keyword_names()
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(kw)))
    });
    let visible: Vec<_> = snap
        .messages
        .into_iter()
        .filter(|m| hidden.is_none_or(|i| !m.keywords.contains(i)))
        .collect();
    let unknown: Vec<u32> = visible
        .iter()
        .filter(|m| m.vsize.is_none())
        .map(|m| m.uid)
        .collect();
    let computed = if unknown.is_empty() {
        Vec::new()
    } else {
        mailbox.vsizes(&unknown)?
    };
    let mut computed = unknown.into_iter().zip(computed);
    let mut out = Vec::with_capacity(visible.len());
    for m in visible {
        let size = match m.vsize {
            Some(v) => v,
            None => match computed.next() {
                Some((_, Some(v))) => v,
                // Expunged between snapshot and sizing: leave it out.
                _ => continue,
            },
        };
        let uidl = m
            .pop3_uidl
            .as_deref()
            .and_then(|u| Uidl::try_from(u).ok())
            .unwrap_or_else(|| settings.uidl_format.uidl(m.uid, snap.uid_validity));
        out.push(Listed {
            uid: m.uid,
            size,
            uidl,
        });
    }
    Ok(out)
}
