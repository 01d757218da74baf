//! GETMETADATA and SETMETADATA (RFC 5464): server entries (mailbox `""`) and mailbox
//! entries, `/private` and `/shared` alike (nothing is shared with other users), stored per
//! user by storage. The mailbox entry `/private/specialuse` is the mailbox's RFC 6154
//! special use (RFC 6154 section 4).

use std::collections::BTreeMap;

use roost_storage::metadata::SPECIALUSE_ENTRY;
use roost_storage::{MailboxName, MetadataRefusal};

use super::{CmdError, CmdResult, Done, ImapSession, ok};
use crate::command::MetadataDepth;
use crate::response::Code;
use crate::types::Mailbox;

/// A string as IMAP writes it: quoted when plain printable ASCII, else a literal (a
/// literal8 when it holds NUL, RFC 5464 section 4.4).
pub(crate) fn imap_string(v: &[u8], out: &mut Vec<u8>) {
    if v.len() <= 1024 && v.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        out.push(b'"');
        for &b in v {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        let prefix = if v.contains(&0) { "~" } else { "" };
        out.extend_from_slice(format!("{prefix}{{{}}}\r\n", v.len()).as_bytes());
        out.extend_from_slice(v);
    }
}

impl ImapSession {
    /// The owner of entries: `None` for the server (`""`), else an existing mailbox.
    fn metadata_owner(&mut self, m: &Mailbox) -> Result<Option<MailboxName>, CmdError> {
        if m.raw().is_empty() {
            return Ok(None);
        }
        let name = self.resolved_name(m)?;
        if !self.user()?.store.exists(&name) {
            return Err(CmdError::No(
                Some(Code::NonExistent),
                format!("Mailbox {} does not exist", name.as_str()),
            ));
        }
        Ok(Some(name))
    }

    pub(super) fn getmetadata(
        &mut self,
        mailbox: Mailbox,
        max_size: Option<u32>,
        depth: MetadataDepth,
        entries: Vec<String>,
    ) -> CmdResult {
        let owner = self.metadata_owner(&mailbox)?;
        let store = &self.user()?.store;
        let md = store.metadata()?;
        let mut stored: BTreeMap<String, Vec<u8>> = md
            .of(owner.as_ref().map_or("", |n| n.as_str()))
            .cloned()
            .unwrap_or_default();
        if let Some(name) = &owner
            && let Some(attr) = store.special_use_of(name)
        {
            // The configured special use shows here too, not only one chosen at CREATE.
            stored.insert(SPECIALUSE_ENTRY.into(), attr.into_bytes());
        }
        let mut found: BTreeMap<String, Option<&[u8]>> = BTreeMap::new();
        for asked in &entries {
            let asked = asked.to_ascii_lowercase();
            let prefix = format!("{asked}/");
            let mut any = false;
            for (k, v) in &stored {
                let hit = *k == asked
                    || k.strip_prefix(&prefix).is_some_and(|rest| match depth {
                        MetadataDepth::Zero => false,
                        MetadataDepth::One => !rest.contains('/'),
                        MetadataDepth::Infinity => true,
                    });
                if hit {
                    found.insert(k.clone(), Some(v));
                    any = true;
                }
            }
            if !any && depth == MetadataDepth::Zero {
                // As Dovecot: an entry asked for by name and not set answers NIL.
                found.insert(asked, None);
            }
        }
        let mut longest: Option<usize> = None;
        let mut out = b"* METADATA ".to_vec();
        let wire = owner
            .as_ref()
            .map(|n| self.wire_name(n.as_str()))
            .unwrap_or_default();
        imap_string(wire.as_bytes(), &mut out);
        out.extend_from_slice(b" (");
        let mut first = true;
        for (k, v) in &found {
            if let (Some(max), Some(v)) = (max_size, v)
                && v.len() > max as usize
            {
                longest = Some(longest.unwrap_or(0).max(v.len()));
                continue;
            }
            if !first {
                out.push(b' ');
            }
            first = false;
            out.extend_from_slice(k.as_bytes());
            out.push(b' ');
            match v {
                Some(v) => imap_string(v, &mut out),
                None => out.extend_from_slice(b"NIL"),
            }
        }
        out.extend_from_slice(b")\r\n");
        if !first {
            self.write(out);
        }
        let code = longest.map(|n| Code::Other(format!("METADATA LONGENTRIES {n}")));
        Ok(Done::Ok(code, "GETMETADATA completed".into()))
    }

    pub(super) fn setmetadata(
        &mut self,
        mailbox: Mailbox,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> CmdResult {
        let owner = self.metadata_owner(&mailbox)?;
        let mut changes = Vec::with_capacity(entries.len());
        for (entry, value) in entries {
            let entry = entry.to_ascii_lowercase();
            if entry == "/private" || entry == "/shared" {
                return Err(CmdError::Bad(format!("{entry} itself cannot hold a value")));
            }
            if entry == SPECIALUSE_ENTRY {
                if owner.is_none() {
                    return Err(CmdError::No(
                        Some(Code::Other("USEATTR".into())),
                        "The server has no special use".into(),
                    ));
                }
                let text = value
                    .as_deref()
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                if let Some(bad) = text
                    .split_whitespace()
                    .find(|a| !super::special_use::creatable(a))
                {
                    return Err(CmdError::No(
                        Some(Code::Other("USEATTR".into())),
                        format!("Special-use attribute {bad} is not supported"),
                    ));
                }
            }
            changes.push((entry, value));
        }
        let settings = &self.ctx.settings;
        let (max_size, max_entries) = (settings.metadata_max_size, settings.metadata_max_entries);
        let refused =
            self.user()?
                .store
                .set_metadata(owner.as_ref(), &changes, max_size, max_entries)?;
        match refused {
            Ok(()) => ok("SETMETADATA completed"),
            Err(MetadataRefusal::MaxSize(n)) => Err(CmdError::No(
                Some(Code::Other(format!("METADATA MAXSIZE {n}"))),
                format!("A value is larger than {n} octets"),
            )),
            Err(MetadataRefusal::TooMany) => Err(CmdError::No(
                Some(Code::Other("METADATA TOOMANY".into())),
                format!("No more than {max_entries} entries per user"),
            )),
        }
    }
}
