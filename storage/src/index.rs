//! Roost's own per-mailbox index (`roost-index` in the mailbox directory).
//!
//! It holds only what Maildir has no place for: the modseq of every message, the highest
//! modseq, cached INTERNALDATE and sizes, the first UID not yet seen as \Recent, the
//! expunges kept for QRESYNC, and the directory stamps of the last sync (so an unchanged
//! mailbox opens without reading its directories). Everything in it is either a cache or
//! can be re-derived safely: when it is missing or damaged it is rebuilt from the Maildir,
//! with modseqs restarted above any value handed out before (see [`modseq_floor`]).
//!
//! The file is written whole to a temporary name and renamed over the old one, so a crash
//! leaves either the old or the new index, never a torn one; a CRC over the body catches
//! anything else.

use std::io::Write;
use std::path::Path;

/// File name of the index inside a mailbox directory.
pub const INDEX_FILE: &str = "roost-index";
/// Format version 3 added each message's save date; version 2 (the expunge log's floor)
/// is still read, with no save dates; an older index is rebuilt.
const MAGIC: &[u8; 8] = b"ROOSTIX3";
const MAGIC_V2: &[u8; 8] = b"ROOSTIX2";

/// Modseqs handed out after an unclean stop start this far above the last persisted one,
/// so a modseq a client saw before the crash is never given to a different change.
pub const UNCLEAN_MODSEQ_GAP: u64 = 1 << 20;

/// One message as the index remembers it (and as the mailbox keeps it in memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRecord {
    pub uid: u32,
    /// Current file name (unique base plus `:2,` info), in `cur/` or, if `in_new`, `new/`.
    pub filename: String,
    pub in_new: bool,
    /// System flags as in [`crate::maildir::filename::Flags`].
    pub flags: u8,
    /// Keyword bits as in [`crate::maildir::filename::KeywordSet`].
    pub keywords: u32,
    /// A legacy POP3 UIDL kept from an older server (the uidlist's `P` field).
    pub pop3_uidl: Option<String>,
    pub modseq: u64,
    /// INTERNALDATE, seconds since the epoch (the file's mtime, as Dovecot uses it).
    pub internal_date: i64,
    /// Size on disk in bytes.
    pub size: u64,
    /// Size with CRLF line ends, once known.
    pub vsize: Option<u64>,
    /// When the message was saved into this mailbox (RFC 8514 SAVEDATE), seconds since
    /// the epoch: the time of APPEND, COPY or delivery, or when a sync first saw a file
    /// another program wrote. None for messages indexed before Roost kept it.
    pub save_date: Option<i64>,
}

/// Stamp of a directory or file at the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    pub mtime_ns: i128,
    pub size: u64,
    pub inode: u64,
}

/// Everything in one index file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IndexFile {
    pub uid_validity: u32,
    pub next_uid: u32,
    pub highest_modseq: u64,
    pub first_recent_uid: u32,
    /// True when the index was written by an orderly close, false for intermediate writes.
    pub clean: bool,
    pub cur_stamp: Stamp,
    pub new_stamp: Stamp,
    pub uidlist_stamp: Stamp,
    /// Sorted by UID.
    pub records: Vec<IndexRecord>,
    /// (uid, modseq) of expunged messages, kept for QRESYNC VANISHED.
    pub expunged: Vec<(u32, u64)>,
    /// The log above holds every expunge with a modseq above this one; older ones may be
    /// missing (the index was rebuilt, the process stopped uncleanly, or the log was trimmed).
    pub expunge_floor: u64,
}

/// The modseq to restart from when the index is rebuilt from nothing: microseconds since the
/// epoch is far above any count of changes a mailbox ever reached by incrementing, so old
/// client state always looks older than every message.
pub fn modseq_floor() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(1)
        .max(1)
}

/// The modseq for the next change after `highest`: one more, but never below the clock in
/// microseconds. Several processes on one Maildir (two `roost serve`, a restart reading an
/// index another process wrote last) each count on their own; tying every count to the clock
/// keeps a later change above any modseq a client got earlier from any of them, so a
/// CONDSTORE client never sees HIGHESTMODSEQ go down and never misses a change. A count runs
/// ahead of the clock only beyond a million changes a second.
pub fn next_modseq(highest: u64) -> u64 {
    (highest + 1).max(modseq_floor())
}

/// Why an index could not be used (the caller rebuilds it and logs this).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index is damaged: {0}")]
    Damaged(&'static str),
    #[error("index I/O: {0}")]
    Io(#[from] std::io::Error),
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, v: &str) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v.as_bytes());
    }
    fn stamp(&mut self, s: &Stamp) {
        self.0.extend_from_slice(&s.mtime_ns.to_le_bytes());
        self.u64(s.size);
        self.u64(s.inode);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        if self.0.len() < N {
            return Err(IndexError::Damaged("truncated"));
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("length checked"))
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, IndexError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    fn str(&mut self) -> Result<String, IndexError> {
        let n = self.u32()? as usize;
        if self.0.len() < n {
            return Err(IndexError::Damaged("truncated string"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8(head.to_vec()).map_err(|_| IndexError::Damaged("bad UTF-8"))
    }
    fn stamp(&mut self) -> Result<Stamp, IndexError> {
        Ok(Stamp {
            mtime_ns: i128::from_le_bytes(self.take()?),
            size: self.u64()?,
            inode: self.u64()?,
        })
    }
}

impl IndexFile {
    /// Serialize: magic, body, CRC-32 of the body.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_version(true)
    }

    /// Serialize in the current format, or (`v3` false, for tests of reading old files)
    /// in version 2, which has no save dates.
    fn encode_version(&self, v3: bool) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(128 + self.records.len() * 36));
        w.u32(self.uid_validity);
        w.u32(self.next_uid);
        w.u64(self.highest_modseq);
        w.u32(self.first_recent_uid);
        w.u32(self.clean as u32);
        w.stamp(&self.cur_stamp);
        w.stamp(&self.new_stamp);
        w.stamp(&self.uidlist_stamp);
        w.u32(self.records.len() as u32);
        for r in &self.records {
            w.u32(r.uid);
            w.str(&r.filename);
            w.0.push(r.in_new as u8);
            w.0.push(r.flags);
            w.u32(r.keywords);
            match &r.pop3_uidl {
                Some(u) => {
                    w.0.push(1);
                    w.str(u);
                }
                None => w.0.push(0),
            }
            w.u64(r.modseq);
            w.i64(r.internal_date);
            w.u64(r.size);
            w.u64(r.vsize.unwrap_or(u64::MAX));
            if v3 {
                w.i64(r.save_date.unwrap_or(i64::MIN));
            }
        }
        w.u32(self.expunged.len() as u32);
        for (uid, modseq) in &self.expunged {
            w.u32(*uid);
            w.u64(*modseq);
        }
        w.u64(self.expunge_floor);
        let crc = crc32(&w.0);
        let mut out = Vec::with_capacity(w.0.len() + 12);
        out.extend_from_slice(if v3 { MAGIC } else { MAGIC_V2 });
        out.extend_from_slice(&w.0);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parse and check an index file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<IndexFile, IndexError> {
        if bytes.len() < MAGIC.len() + 4 {
            return Err(IndexError::Damaged("bad magic"));
        }
        let v3 = match &bytes[..MAGIC.len()] {
            m if m == MAGIC => true,
            m if m == MAGIC_V2 => false,
            _ => return Err(IndexError::Damaged("bad magic")),
        };
        let body = &bytes[MAGIC.len()..bytes.len() - 4];
        let crc = u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
        if crc32(body) != crc {
            return Err(IndexError::Damaged("checksum mismatch"));
        }
        let mut r = Reader(body);
        let mut f = IndexFile {
            uid_validity: r.u32()?,
            next_uid: r.u32()?,
            highest_modseq: r.u64()?,
            first_recent_uid: r.u32()?,
            clean: r.u32()? != 0,
            cur_stamp: r.stamp()?,
            new_stamp: r.stamp()?,
            uidlist_stamp: r.stamp()?,
            ..IndexFile::default()
        };
        let n = r.u32()? as usize;
        // Every record takes at least MIN_RECORD bytes: refuse counts the body cannot hold
        // before allocating for them.
        const MIN_RECORD: usize = 4 + 4 + 1 + 1 + 4 + 1 + 8 + 8 + 8 + 8;
        if n > r.0.len() / MIN_RECORD {
            return Err(IndexError::Damaged("record count too large"));
        }
        f.records.reserve(n);
        let mut last = 0u32;
        for _ in 0..n {
            let uid = r.u32()?;
            if uid <= last {
                return Err(IndexError::Damaged("UIDs not increasing"));
            }
            last = uid;
            let filename = r.str()?;
            let [in_new, flags] = r.take()?;
            let keywords = r.u32()?;
            let pop3_uidl = match r.take::<1>()? {
                [0] => None,
                [1] => Some(r.str()?),
                _ => return Err(IndexError::Damaged("bad UIDL marker")),
            };
            let modseq = r.u64()?;
            let internal_date = r.i64()?;
            let size = r.u64()?;
            let vsize = r.u64()?;
            let save_date = if v3 {
                Some(r.i64()?).filter(|&d| d != i64::MIN)
            } else {
                None
            };
            f.records.push(IndexRecord {
                uid,
                filename,
                in_new: in_new != 0,
                flags,
                keywords,
                pop3_uidl,
                modseq,
                internal_date,
                size,
                vsize: (vsize != u64::MAX).then_some(vsize),
                save_date,
            });
        }
        let n = r.u32()? as usize;
        if n > r.0.len() / 12 {
            return Err(IndexError::Damaged("expunge count too large"));
        }
        for _ in 0..n {
            f.expunged.push((r.u32()?, r.u64()?));
        }
        f.expunge_floor = r.u64()?;
        if !r.0.is_empty() {
            return Err(IndexError::Damaged("trailing bytes"));
        }
        Ok(f)
    }

    /// Read the index of the mailbox in `dir`; `Ok(None)` when there is none yet.
    pub fn read(dir: &Path) -> Result<Option<IndexFile>, IndexError> {
        match std::fs::read(dir.join(INDEX_FILE)) {
            Ok(bytes) => IndexFile::decode(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Replace the index in `dir` atomically (temp file, optional fsync, rename).
    pub fn write(&self, dir: &Path, fsync: bool) -> Result<(), IndexError> {
        let tmp = dir.join(format!("{INDEX_FILE}.tmp.{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&self.encode())?;
        if fsync {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, dir.join(INDEX_FILE))?;
        Ok(())
    }
}

/// CRC-32 (IEEE), enough to catch a damaged index file.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IndexFile {
        IndexFile {
            uid_validity: 1_700_000_000,
            next_uid: 5,
            highest_modseq: 42,
            first_recent_uid: 3,
            clean: true,
            cur_stamp: Stamp {
                mtime_ns: 123_456_789,
                size: 4096,
                inode: 7,
            },
            new_stamp: Stamp::default(),
            uidlist_stamp: Stamp {
                mtime_ns: -1,
                size: 0,
                inode: 0,
            },
            records: vec![
                IndexRecord {
                    uid: 1,
                    filename: "1.M1P1.host,S=100,W=104:2,S".into(),
                    in_new: false,
                    flags: 0x10,
                    keywords: 0b101,
                    pop3_uidl: Some("legacy-1".into()),
                    modseq: 40,
                    internal_date: 1_600_000_000,
                    size: 100,
                    vsize: Some(104),
                    save_date: Some(1_700_000_000),
                },
                IndexRecord {
                    uid: 4,
                    filename: "2.M2P1.höst".into(),
                    in_new: true,
                    flags: 0,
                    keywords: 0,
                    pop3_uidl: None,
                    modseq: 42,
                    internal_date: -5,
                    size: 0,
                    vsize: None,
                    save_date: None,
                },
            ],
            expunged: vec![(2, 41), (3, 41)],
            expunge_floor: 7,
        }
    }

    #[test]
    fn crc32_known_answer() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn round_trip_through_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(IndexFile::read(dir.path()).unwrap(), None);
        let idx = sample();
        idx.write(dir.path(), true).unwrap();
        assert_eq!(IndexFile::read(dir.path()).unwrap(), Some(idx));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn version_2_files_are_read_without_save_dates() {
        let idx = sample();
        let old = IndexFile::decode(&idx.encode_version(false)).expect("v2 readable");
        let mut want = idx;
        for r in &mut want.records {
            r.save_date = None;
        }
        assert_eq!(old, want);
    }

    #[test]
    fn every_single_byte_flip_or_truncation_is_detected() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(IndexFile::decode(&b).is_err(), "flip at {i} accepted");
            assert!(
                IndexFile::decode(&bytes[..i]).is_err(),
                "cut at {i} accepted"
            );
        }
    }

    #[test]
    fn absurd_counts_are_refused_without_allocating() {
        let mut idx = sample();
        idx.records.clear();
        idx.expunged.clear();
        let mut bytes = idx.encode();
        // Patch the record count to u32::MAX and fix the checksum: still refused.
        let count_at = 8 + 4 + 4 + 8 + 4 + 4 + 3 * 32;
        bytes[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let body_end = bytes.len() - 4;
        let crc = crc32(&bytes[8..body_end]);
        bytes[body_end..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            IndexFile::decode(&bytes),
            Err(IndexError::Damaged("record count too large"))
        ));
    }
}
