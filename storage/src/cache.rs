//! Per-mailbox cache of derived message data (`roost-cache` in the mailbox directory), so a
//! parsed MIME structure or envelope is computed once per message, not on every FETCH.
//!
//! Maildir message files never change, so an entry keyed by UID stays valid for as long as
//! the UIDVALIDITY it was written under. The file is a header plus appended records, each
//! with its own checksum: a crash can only leave a torn last record, which loading ignores
//! (and the next append cuts off). When most of the file belongs to expunged messages it is
//! rewritten (temp file and rename).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::warn;

use crate::index::crc32;

/// File name of the cache inside a mailbox directory.
pub const CACHE_FILE: &str = "roost-cache";
const MAGIC: &[u8; 8] = b"ROOSTC01";
/// One entry is at most this big; larger values are not cached (they would be cheaper to
/// recompute than to keep in memory).
pub const MAX_ENTRY: usize = 1 << 20;
/// Rewrite the file when it is this many times larger than its live entries (and large).
const COMPACT_RATIO: u64 = 3;
const COMPACT_MIN: u64 = 1 << 20;

/// What a cache entry holds. Storage does not interpret the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheField {
    /// The parsed MIME structure of the message (as the MIME layer encodes it).
    MimeStructure,
    /// The parsed envelope (From, To, Subject, ...).
    Envelope,
    /// A short text preview.
    Preview,
    /// The EMAILID (RFC 8474), a hash of the whole message.
    EmailId,
}

impl CacheField {
    fn code(self) -> u8 {
        match self {
            CacheField::MimeStructure => 1,
            CacheField::Envelope => 2,
            CacheField::Preview => 3,
            CacheField::EmailId => 4,
        }
    }

    fn from_code(c: u8) -> Option<CacheField> {
        match c {
            1 => Some(CacheField::MimeStructure),
            2 => Some(CacheField::Envelope),
            3 => Some(CacheField::Preview),
            4 => Some(CacheField::EmailId),
            _ => None,
        }
    }
}

/// The cache of one mailbox, loaded on first use.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    loaded: bool,
    uid_validity: u32,
    entries: HashMap<(u32, CacheField), Arc<[u8]>>,
    /// Bytes of valid records in the file (where the next record goes).
    file_len: u64,
    /// Bytes of records still in `entries`.
    live: u64,
}

fn record(uid: u32, field: CacheField, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(5 + data.len());
    payload.extend_from_slice(&uid.to_le_bytes());
    payload.push(field.code());
    payload.extend_from_slice(data);
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

fn header(uid_validity: u32) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&uid_validity.to_le_bytes());
    h
}

impl Cache {
    fn path(dir: &Path) -> PathBuf {
        dir.join(CACHE_FILE)
    }

    /// Load the file once; a file of another UIDVALIDITY or a bad header starts empty.
    fn load(&mut self, dir: &Path, uid_validity: u32) {
        if self.loaded && self.uid_validity == uid_validity {
            return;
        }
        *self = Cache {
            loaded: true,
            uid_validity,
            ..Cache::default()
        };
        let mut bytes = Vec::new();
        if File::open(Self::path(dir))
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .is_err()
        {
            return;
        }
        let head = header(uid_validity);
        if !bytes.starts_with(&head) {
            return;
        }
        let mut pos = head.len();
        while pos + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
            let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
                break;
            };
            if len < 5 || crc32(payload) != crc {
                break;
            }
            let uid = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes"));
            if let Some(field) = CacheField::from_code(payload[4]) {
                let rec_len = (8 + len) as u64;
                if let Some(old) = self.entries.insert((uid, field), Arc::from(&payload[5..])) {
                    self.live -= 13 + old.len() as u64;
                }
                self.live += rec_len;
            }
            pos += 8 + len;
        }
        self.file_len = pos as u64;
    }

    pub(crate) fn get(
        &mut self,
        dir: &Path,
        uid_validity: u32,
        uid: u32,
        field: CacheField,
    ) -> Option<Arc<[u8]>> {
        self.load(dir, uid_validity);
        self.entries.get(&(uid, field)).cloned()
    }

    /// Add an entry in memory and on disk. Failing to write only costs a recomputation
    /// later, so it is logged, not returned.
    pub(crate) fn put(
        &mut self,
        dir: &Path,
        uid_validity: u32,
        uid: u32,
        field: CacheField,
        data: &[u8],
    ) {
        if data.len() > MAX_ENTRY {
            return;
        }
        self.load(dir, uid_validity);
        let rec = record(uid, field, data);
        if let Err(e) = self.append(dir, &rec) {
            warn!(dir = %dir.display(), error = %e, "cannot write the message cache");
            return;
        }
        if let Some(old) = self.entries.insert((uid, field), Arc::from(data)) {
            self.live -= 13 + old.len() as u64;
        }
        self.live += rec.len() as u64;
    }

    fn append(&mut self, dir: &Path, rec: &[u8]) -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(Self::path(dir))?;
        if self.file_len == 0 {
            f.set_len(0)?;
            f.write_all(&header(self.uid_validity))?;
            self.file_len = (MAGIC.len() + 4) as u64;
        } else {
            // Cut a torn record a crash may have left.
            f.set_len(self.file_len)?;
            f.seek(SeekFrom::Start(self.file_len))?;
        }
        f.write_all(rec)?;
        self.file_len += rec.len() as u64;
        Ok(())
    }

    /// Forget entries of messages that are gone; rewrite the file when mostly garbage.
    pub(crate) fn retain(&mut self, dir: &Path, keep: impl Fn(u32) -> bool) {
        if !self.loaded {
            return;
        }
        let before = self.entries.len();
        let mut live = 0;
        self.entries.retain(|(uid, _), v| {
            let k = keep(*uid);
            if k {
                live += 13 + v.len() as u64;
            }
            k
        });
        self.live = live;
        if self.entries.len() != before
            && self.file_len > COMPACT_MIN
            && self.file_len > COMPACT_RATIO * self.live
            && let Err(e) = self.rewrite(dir)
        {
            warn!(dir = %dir.display(), error = %e, "cannot compact the message cache");
        }
    }

    fn rewrite(&mut self, dir: &Path) -> std::io::Result<()> {
        let mut out = header(self.uid_validity);
        for ((uid, field), data) in &self.entries {
            out.extend_from_slice(&record(*uid, *field, data));
        }
        let tmp = dir.join(format!("{CACHE_FILE}.tmp.{}", std::process::id()));
        std::fs::write(&tmp, &out)?;
        std::fs::rename(&tmp, Self::path(dir))?;
        self.file_len = out.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reload_and_torn_tails_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::default();
        c.put(dir.path(), 7, 1, CacheField::MimeStructure, b"tree-1");
        c.put(dir.path(), 7, 2, CacheField::Envelope, b"env-2");
        c.put(dir.path(), 7, 2, CacheField::Envelope, b"env-2b");
        let mut again = Cache::default();
        assert_eq!(
            again.get(dir.path(), 7, 2, CacheField::Envelope).as_deref(),
            Some(&b"env-2b"[..])
        );
        assert_eq!(
            again
                .get(dir.path(), 7, 1, CacheField::MimeStructure)
                .as_deref(),
            Some(&b"tree-1"[..])
        );
        assert_eq!(again.get(dir.path(), 7, 1, CacheField::Envelope), None);

        // A torn last record (crash mid-append) is ignored, then overwritten.
        let path = dir.path().join(CACHE_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let full = bytes.len();
        bytes.extend_from_slice(&record(3, CacheField::Preview, b"preview")[..9]);
        std::fs::write(&path, &bytes).unwrap();
        let mut torn = Cache::default();
        assert_eq!(torn.get(dir.path(), 7, 3, CacheField::Preview), None);
        assert_eq!(torn.file_len as usize, full);
        torn.put(dir.path(), 7, 4, CacheField::Preview, b"p4");
        let mut last = Cache::default();
        assert_eq!(
            last.get(dir.path(), 7, 4, CacheField::Preview).as_deref(),
            Some(&b"p4"[..])
        );
        assert_eq!(
            last.get(dir.path(), 7, 2, CacheField::Envelope).as_deref(),
            Some(&b"env-2b"[..])
        );
    }

    #[test]
    fn another_uidvalidity_starts_empty_and_flipped_bytes_stop_loading() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::default();
        c.put(dir.path(), 7, 1, CacheField::Envelope, b"a");
        c.put(dir.path(), 7, 2, CacheField::Envelope, b"b");
        let mut other = Cache::default();
        assert_eq!(other.get(dir.path(), 8, 1, CacheField::Envelope), None);

        let path = dir.path().join(CACHE_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let mut flipped = Cache::default();
        assert!(
            flipped
                .get(dir.path(), 7, 1, CacheField::Envelope)
                .is_some()
        );
        assert_eq!(flipped.get(dir.path(), 7, 2, CacheField::Envelope), None);
    }

    #[test]
    fn garbage_is_compacted_away() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cache::default();
        let blob = vec![b'x'; 64 * 1024];
        for uid in 1..=40 {
            c.put(dir.path(), 1, uid, CacheField::MimeStructure, &blob);
        }
        let big = std::fs::metadata(dir.path().join(CACHE_FILE))
            .unwrap()
            .len();
        c.retain(dir.path(), |uid| uid > 38);
        let small = std::fs::metadata(dir.path().join(CACHE_FILE))
            .unwrap()
            .len();
        assert!(small < big / 10, "{small} vs {big}");
        let mut again = Cache::default();
        assert!(
            again
                .get(dir.path(), 1, 40, CacheField::MimeStructure)
                .is_some()
        );
        assert!(
            again
                .get(dir.path(), 1, 1, CacheField::MimeStructure)
                .is_none()
        );
    }
}
