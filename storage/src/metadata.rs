//! Per-user annotations: IMAP METADATA entries (RFC 5464) of the server and of each
//! mailbox, and the special-use attributes a client chose with CREATE-SPECIAL-USE
//! (RFC 6154 keeps them as the mailbox entry `/private/specialuse`).
//!
//! Everything lives in one small file in the Maildir root, `roost-metadata`, replaced
//! atomically (temp file, fsync, rename) on each change, so a crash leaves either the old
//! or the new set. One line per entry: `mailbox TAB entry TAB base64(value)`, the mailbox
//! empty for server entries. Mailbox names cannot contain TAB or LF (control characters are
//! refused), and entry names are validated before they are stored.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::{Result, StorageError};
use crate::maildir::write_atomic;

/// File name in the Maildir root.
pub const METADATA_FILE: &str = "roost-metadata";

const HEADER: &str = "roost-metadata 1\n";

/// The mailbox entry holding a mailbox's special-use attributes (RFC 6154 section 4).
pub const SPECIALUSE_ENTRY: &str = "/private/specialuse";

/// All entries of one user: mailbox name ("" for the server) -> entry name -> value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Entries by owner; the empty name is the server.
    pub entries: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// Why a SETMETADATA was refused as a whole (RFC 5464 section 4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRefusal {
    /// A value is larger than this many octets (`[METADATA MAXSIZE n]`).
    MaxSize(usize),
    /// The user would have more entries than allowed (`[METADATA TOOMANY]`).
    TooMany,
}

impl Metadata {
    /// Reads the user's file; a missing file is an empty set, a damaged line is skipped
    /// with a warning (one bad line must not lose the rest).
    pub fn read(root: &Path) -> Result<Metadata> {
        let path = root.join(METADATA_FILE);
        let text = match std::fs::read(&path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Metadata::default()),
            Err(e) => return Err(StorageError::io(format!("reading {}", path.display()), e)),
        };
        let mut md = Metadata::default();
        for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
            let mut parts = line.splitn(3, '\t');
            let (Some(owner), Some(entry), Some(value)) =
                (parts.next(), parts.next(), parts.next())
            else {
                tracing::warn!(file = %path.display(), "skipping a damaged metadata line");
                continue;
            };
            let Ok(value) = BASE64.decode(value) else {
                tracing::warn!(file = %path.display(), entry, "skipping an undecodable metadata value");
                continue;
            };
            md.entries
                .entry(owner.to_string())
                .or_default()
                .insert(entry.to_string(), value);
        }
        Ok(md)
    }

    /// Replaces the user's file atomically.
    pub fn write(&self, root: &Path, fsync: bool) -> Result<()> {
        let mut out = String::from(HEADER);
        for (owner, entries) in &self.entries {
            for (entry, value) in entries {
                out.push_str(owner);
                out.push('\t');
                out.push_str(entry);
                out.push('\t');
                out.push_str(&BASE64.encode(value));
                out.push('\n');
            }
        }
        Ok(write_atomic(root, METADATA_FILE, out.as_bytes(), fsync)?)
    }

    /// The entries of one owner ("" for the server).
    pub fn of(&self, owner: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        self.entries.get(owner)
    }

    /// How many entries the user has in all.
    pub fn count(&self) -> usize {
        self.entries.values().map(BTreeMap::len).sum()
    }

    /// The special-use attributes stored for a mailbox (space separated, RFC 6154).
    pub fn special_use(&self, mailbox: &str) -> Option<String> {
        let v = self.entries.get(mailbox)?.get(SPECIALUSE_ENTRY)?;
        let s = String::from_utf8_lossy(v).trim().to_string();
        (!s.is_empty()).then_some(s)
    }

    /// Sets (`Some`) or removes (`None`) entries of one owner; checks the limits on the
    /// result first and changes nothing when refused.
    pub fn apply(
        &mut self,
        owner: &str,
        changes: &[(String, Option<Vec<u8>>)],
        max_value_size: usize,
        max_entries: usize,
    ) -> std::result::Result<(), MetadataRefusal> {
        if let Some(max) = changes
            .iter()
            .filter_map(|(_, v)| v.as_ref())
            .map(Vec::len)
            .max()
            && max > max_value_size
        {
            return Err(MetadataRefusal::MaxSize(max_value_size));
        }
        let before = self.count();
        let mut next = self.entries.get(owner).cloned().unwrap_or_default();
        for (entry, value) in changes {
            match value {
                Some(v) => {
                    next.insert(entry.clone(), v.clone());
                }
                None => {
                    next.remove(entry);
                }
            }
        }
        let old = self.entries.get(owner).map_or(0, BTreeMap::len);
        if next.len() > old && before - old + next.len() > max_entries {
            return Err(MetadataRefusal::TooMany);
        }
        if next.is_empty() {
            self.entries.remove(owner);
        } else {
            self.entries.insert(owner.to_string(), next);
        }
        Ok(())
    }

    /// Drops a deleted mailbox's entries; true if there were any.
    pub fn remove_mailbox(&mut self, mailbox: &str) -> bool {
        self.entries.remove(mailbox).is_some()
    }

    /// Moves the entries of `from` and its children to `to`; true if anything moved.
    pub fn rename_mailbox(&mut self, from: &str, to: &str, separator: char) -> bool {
        let prefix = format!("{from}{separator}");
        let moving: Vec<String> = self
            .entries
            .keys()
            .filter(|k| *k == from || k.starts_with(&prefix))
            .cloned()
            .collect();
        for old in &moving {
            if let Some(e) = self.entries.remove(old) {
                let new = format!("{to}{}", &old[from.len()..]);
                self.entries.insert(new, e);
            }
        }
        !moving.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_limits_and_renames() {
        let dir = tempfile::tempdir().unwrap();
        let mut md = Metadata::default();
        let set = |k: &str, v: &[u8]| (k.to_string(), Some(v.to_vec()));
        md.apply(
            "",
            &[set("/private/comment", b"tab\there\nand binary \0\xff")],
            100,
            3,
        )
        .unwrap();
        md.apply("A.B", &[set(SPECIALUSE_ENTRY, b"\\Sent")], 100, 3)
            .unwrap();
        assert_eq!(
            md.apply("A", &[set("/shared/x", &[b'x'; 101])], 100, 3),
            Err(MetadataRefusal::MaxSize(100))
        );
        md.apply("A", &[set("/shared/x", b"1")], 100, 3).unwrap();
        assert_eq!(
            md.apply("C", &[set("/shared/y", b"1")], 100, 3),
            Err(MetadataRefusal::TooMany)
        );
        // Replacing or removing never counts against the limit.
        md.apply("A", &[set("/shared/x", b"2")], 100, 3).unwrap();
        md.write(dir.path(), false).unwrap();
        let back = Metadata::read(dir.path()).unwrap();
        assert_eq!(back, md);
        assert_eq!(back.special_use("A.B").as_deref(), Some("\\Sent"));
        let mut md = back;
        assert!(md.rename_mailbox("A", "Z", '.'));
        assert_eq!(md.special_use("Z.B").as_deref(), Some("\\Sent"));
        assert!(md.of("A").is_none());
        assert!(md.remove_mailbox("Z"));
        assert_eq!(md.count(), 2);
        md.apply("", &[("/private/comment".into(), None)], 100, 3)
            .unwrap();
        assert!(md.of("").is_none());
    }
}
