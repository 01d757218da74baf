//! `dovecot-uidlist`: stable IMAP UIDs for Maildir file names, and Dovecot's lock for it.
//!
//! Version 3 (what Dovecot 2.x writes, and what we always write):
//!
//! ```text
//! header = "3" 1*(SP key value)      ; V<uidvalidity> N<nextuid> G<guid hex>, others kept
//! record = uid *(SP key value) SP ":" filename-base
//! ```
//!
//! Version 1 (`1 <uidvalidity> <nextuid>` / `<uid> <filename>`) is read too.
//!
//! Dovecot appends new records without rewriting the header, so in a v3 file the header's
//! `N` may be stale; like Dovecot we then raise `next_uid` to one past the last record on
//! parse (only v1 treats `uid >= next_uid` as corruption). A file whose header is current
//! renders back byte for byte.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::{MaildirError, fsync_dir, hostname};

/// File name of the UID list in each Maildir.
pub const UIDLIST_FILE: &str = "dovecot-uidlist";
/// Dovecot's dotlock next to it (file-dotlock.c's default `.lock` suffix).
pub const UIDLIST_LOCK_FILE: &str = "dovecot-uidlist.lock";

/// Dovecot's `UIDLIST_LOCK_STALE_TIMEOUT`: pass it as `stale_after` so both servers agree
/// on when a pid-less lock is dead.
pub const DOVECOT_STALE_AFTER: Duration = Duration::from_secs(120);

/// Longest wait between two lock attempts; short because Dovecot holds the lock briefly.
const LOCK_MAX_SLEEP: Duration = Duration::from_millis(100);
/// How many times `read_uidlist` re-reads a file that grew while it was being read.
const READ_RETRIES: usize = 5;

/// Parsed `dovecot-uidlist`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uidlist {
    /// IMAP UIDVALIDITY of the mailbox.
    pub uid_validity: u32,
    /// The next UID to assign (always above every record's UID after `parse`).
    pub next_uid: u32,
    /// Mailbox GUID, 32 hex digits, from the `G` header field.
    pub guid: Option<String>,
    /// Other header fields, in file order, preserved for Dovecot.
    pub header_extra: Vec<(char, String)>,
    /// Records in strictly ascending UID order.
    pub records: Vec<UidRecord>,
}

/// One message: its UID, extension fields, and Maildir file name (base, without flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UidRecord {
    /// The IMAP UID.
    pub uid: u32,
    /// Extension fields in file order: `S` size, `W` vsize, `P` POP3 UIDL, `O` POP3 order,
    /// `G` message GUID, and any others Dovecot may write.
    pub fields: Vec<(char, String)>,
    /// The file name as stored (Dovecot stores the base, without `:2,` flags).
    pub filename: String,
}

impl UidRecord {
    /// The value of extension field `key`.
    pub fn field(&self, key: char) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (replacing) or appends extension field `key`.
    pub fn set_field(&mut self, key: char, value: String) {
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((key, value)),
        }
    }

    /// The file name up to the `:` info separator.
    pub fn base(&self) -> &str {
        self.filename
            .split_once(super::filename::INFO_SEPARATOR)
            .map_or(&self.filename, |(b, _)| b)
    }
}

fn corrupt(line: usize, reason: impl Into<String>) -> MaildirError {
    MaildirError::Corrupt {
        path: PathBuf::new(),
        line,
        reason: reason.into(),
    }
}

/// Splits `K<value>` tokens; a value never contains a space.
fn parse_fields<'a>(
    tokens: impl Iterator<Item = &'a str>,
    line: usize,
) -> Result<Vec<(char, String)>, MaildirError> {
    tokens
        .filter(|t| !t.is_empty())
        .map(|t| {
            let mut chars = t.chars();
            match chars.next() {
                Some(k) if k.is_ascii_alphanumeric() => Ok((k, chars.as_str().to_string())),
                _ => Err(corrupt(line, format!("bad field {t:?}"))),
            }
        })
        .collect()
}

fn parse_u32(s: &str, line: usize, what: &str) -> Result<u32, MaildirError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(corrupt(line, format!("{what} is not a number: {s:?}")));
    }
    s.parse()
        .map_err(|_| corrupt(line, format!("{what} out of range: {s:?}")))
}

impl Uidlist {
    /// An empty list for a new mailbox, with a fresh random mailbox GUID.
    pub fn new(uid_validity: u32) -> Uidlist {
        Uidlist {
            uid_validity,
            next_uid: 1,
            guid: Some(format!("{:032x}", rand::random::<u128>())),
            header_extra: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Parses the file contents (v1, v2 or v3). An unterminated last line is a torn append
    /// and is ignored, as Dovecot does; anything else malformed is `Corrupt` with its line.
    ///
    /// Records must have strictly increasing non-zero UIDs (v1 also: below `next_uid`).
    /// A record repeating an earlier file name replaces it (Dovecot: the file was moved back).
    pub fn parse(text: &str) -> Result<Uidlist, MaildirError> {
        let mut lines: Vec<&str> = text.split('\n').collect();
        // The piece after the last '\n' is empty for a complete file, else a torn line.
        lines.pop();
        let Some(header) = lines.first() else {
            return Err(corrupt(1, "missing header"));
        };
        let mut tokens = header.split(' ');
        let version = tokens.next().unwrap_or_default();
        let mut list = Uidlist::default();
        let v1 = match version {
            "1" => {
                list.uid_validity = parse_u32(tokens.next().unwrap_or(""), 1, "uidvalidity")?;
                list.next_uid = parse_u32(tokens.next().unwrap_or(""), 1, "next uid")?;
                true
            }
            "2" | "3" => {
                let (mut v, mut n) = (None, None);
                for (k, value) in parse_fields(tokens, 1)? {
                    match k {
                        'V' => v = Some(parse_u32(&value, 1, "uidvalidity")?),
                        'N' => n = Some(parse_u32(&value, 1, "next uid")?),
                        'G' => list.guid = Some(value),
                        _ => list.header_extra.push((k, value)),
                    }
                }
                list.uid_validity = v.ok_or_else(|| corrupt(1, "missing V field"))?;
                list.next_uid = n.ok_or_else(|| corrupt(1, "missing N field"))?;
                false
            }
            other => return Err(corrupt(1, format!("unsupported version {other:?}"))),
        };
        if list.uid_validity == 0 || list.next_uid == 0 {
            return Err(corrupt(1, "uidvalidity and next uid must be non-zero"));
        }
        let mut by_base: std::collections::HashMap<String, usize> = Default::default();
        for (i, line) in lines.iter().enumerate().skip(1) {
            let lineno = i + 1;
            let (uid, rest) = line
                .split_once(' ')
                .ok_or_else(|| corrupt(lineno, "record without file name"))?;
            let uid = parse_u32(uid, lineno, "uid")?;
            let (fields, filename) = if v1 {
                (Vec::new(), rest)
            } else {
                let (fields, name) = match rest.strip_prefix(':') {
                    Some(name) => ("", name),
                    None => rest
                        .split_once(" :")
                        .ok_or_else(|| corrupt(lineno, "record without ':' file name"))?,
                };
                (parse_fields(fields.split(' '), lineno)?, name)
            };
            if filename.is_empty() || filename.contains('/') || filename.contains('\0') {
                return Err(corrupt(lineno, format!("bad file name {filename:?}")));
            }
            let last = list.records.last().map_or(0, |r| r.uid);
            if uid <= last {
                return Err(corrupt(lineno, format!("uid {uid} not above {last}")));
            }
            if uid == u32::MAX {
                return Err(corrupt(lineno, "uid too high"));
            }
            if v1 && uid >= list.next_uid {
                return Err(corrupt(
                    lineno,
                    format!("uid {uid} >= next uid {}", list.next_uid),
                ));
            }
            let record = UidRecord {
                uid,
                fields,
                filename: filename.to_string(),
            };
            let base = record.base().to_string();
            if let Some(old) = by_base.insert(base, list.records.len()) {
                tracing::warn!(
                    line = lineno,
                    file = filename,
                    "duplicate uidlist entry, keeping the newer uid"
                );
                list.records[old].uid = 0;
            }
            list.records.push(record);
        }
        list.records.retain(|r| r.uid != 0);
        if let Some(last) = list.records.last() {
            list.next_uid = list.next_uid.max(last.uid + 1);
        }
        Ok(list)
    }

    /// The file contents in version 3 format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(64 + self.records.len() * 64);
        out.push_str(&format!("3 V{} N{}", self.uid_validity, self.next_uid));
        if let Some(g) = &self.guid {
            out.push_str(" G");
            out.push_str(g);
        }
        for (k, v) in &self.header_extra {
            out.push(' ');
            out.push(*k);
            out.push_str(v);
        }
        out.push('\n');
        for r in &self.records {
            r.render_into(&mut out);
        }
        out
    }
}

impl UidRecord {
    /// The record's line, newline included.
    fn render_into(&self, out: &mut String) {
        out.push_str(&self.uid.to_string());
        for (k, v) in &self.fields {
            out.push(' ');
            out.push(*k);
            out.push_str(v);
        }
        out.push_str(" :");
        out.push_str(&self.filename);
        out.push('\n');
    }
}

/// Identity and version of a file, to notice when someone else replaced or changed it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileStamp {
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Size in bytes.
    pub size: u64,
    /// Inode number (changes when the file is replaced by rename).
    pub inode: u64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            size: meta.size(),
            inode: meta.ino(),
        }
    }
}

/// The stamp of `path`, or None if it does not exist.
pub fn stamp(path: &Path) -> Result<Option<FileStamp>, MaildirError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(FileStamp::of(&m))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MaildirError::io(path, e)),
    }
}

/// Reads and parses `dir/dovecot-uidlist` with the stamp of exactly the bytes parsed.
/// None if the file does not exist.
pub fn read_uidlist(dir: &Path) -> Result<Option<(Uidlist, FileStamp)>, MaildirError> {
    let path = dir.join(UIDLIST_FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(MaildirError::io(path, e)),
    };
    let io = |e| MaildirError::io(&path, e);
    let mut bytes = Vec::new();
    for attempt in 0.. {
        // Dovecot appends in place; re-read until the size we saw matches what we read.
        bytes.clear();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.read_to_end(&mut bytes).map_err(io)?;
        let st = FileStamp::of(&file.metadata().map_err(io)?);
        if st.size == bytes.len() as u64 || attempt >= READ_RETRIES {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| corrupt(0, "not UTF-8").with_path(&path))?;
            let list = Uidlist::parse(text).map_err(|e| e.with_path(&path))?;
            return Ok(Some((list, st)));
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// Holds `dovecot-uidlist.lock`, Dovecot's exclusive right to rewrite `dovecot-uidlist`.
///
/// Dovecot's dotlock protocol (an exclusive create of the lock file), with one difference
/// that matters after `kill -9`: the lock file holds `<pid>:<hostname>` from the instant it
/// exists until it is removed. It is written in a private file first and hard-linked into
/// place, and the new list goes into a separate file renamed over `dovecot-uidlist` before
/// the lock is removed. Dovecot writes the list into the lock itself, but a lock emptied or
/// filled with a list has no owner to check and blocks everyone for `stale_after` (two
/// minutes of refused deliveries) when its writer dies; ours is broken at once by Roost and
/// Dovecot on this host when we die, and never while we live.
#[derive(Debug)]
pub struct UidlistLock {
    dir: PathBuf,
    lock_path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
    committed: bool,
}

impl UidlistLock {
    /// Takes the lock, waiting up to `timeout`. A lock whose owner process is gone, or
    /// that (with the uidlist) has not changed for `stale_after`, is removed with a warning.
    pub fn acquire(
        dir: &Path,
        timeout: Duration,
        stale_after: Duration,
    ) -> Result<UidlistLock, MaildirError> {
        let lock_path = dir.join(UIDLIST_LOCK_FILE);
        let deadline = Instant::now() + timeout;
        let mode = file_mode_for(dir)?;
        let mut sleep = Duration::from_millis(1);
        loop {
            match create_owned(&lock_path, mode) {
                Ok(file) => {
                    let meta = file
                        .metadata()
                        .map_err(|e| MaildirError::io(&lock_path, e))?;
                    return Ok(UidlistLock {
                        dir: dir.to_path_buf(),
                        lock_path,
                        file,
                        dev: meta.dev(),
                        ino: meta.ino(),
                        committed: false,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if break_if_stale(dir, &lock_path, stale_after)? {
                        continue;
                    }
                }
                Err(e) => return Err(MaildirError::io(&lock_path, e)),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(MaildirError::LockTimeout { path: lock_path });
            }
            let jitter = Duration::from_micros(rand::random::<u64>() % 1000);
            std::thread::sleep((sleep + jitter).min(deadline - now));
            sleep = (sleep * 2).min(LOCK_MAX_SLEEP);
        }
    }

    /// Writes `list` into a new file, renames it over `dovecot-uidlist` and releases the
    /// lock. Returns the stamp of the new `dovecot-uidlist`.
    pub fn commit(mut self, list: &Uidlist, fsync: bool) -> Result<FileStamp, MaildirError> {
        if !self.still_ours() {
            return Err(MaildirError::LockLost {
                path: self.lock_path.clone(),
            });
        }
        let mode = self
            .file
            .metadata()
            .map(|m| m.mode() & 0o666)
            .unwrap_or(0o600);
        let tmp_path = private_name(&self.lock_path, "new");
        let io = |e| MaildirError::io(&tmp_path, e);
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&tmp_path)?;
            file.write_all(list.render().as_bytes())?;
            if fsync {
                file.sync_all()?;
            }
            file.metadata()
        })();
        let st = match written {
            Ok(meta) => FileStamp::of(&meta),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp_path);
                return Err(io(e));
            }
        };
        let target = self.dir.join(UIDLIST_FILE);
        if let Err(e) = std::fs::rename(&tmp_path, &target) {
            let _ = std::fs::remove_file(&tmp_path);
            return Err(MaildirError::io(&target, e));
        }
        // The list is in place (and durable with fsync) before anyone may take the lock.
        if fsync {
            fsync_dir(&self.dir)?;
        }
        self.committed = true;
        // The list is committed whatever happens here: failing now would make the caller
        // retry work that is already done.
        if self.still_ours()
            && let Err(e) = std::fs::remove_file(&self.lock_path)
        {
            tracing::warn!(path = %self.lock_path.display(), error = %e, "could not remove uidlist lock");
        }
        Ok(st)
    }

    /// Adds `list.records[new_from..]` at the end of `dovecot-uidlist` in place, as
    /// Dovecot does, when the file is still exactly the one parsed (`base`) and ends in a
    /// newline; otherwise, or without `base`, writes the whole list as
    /// [`UidlistLock::commit`] does. Releases the lock; returns the file's new stamp.
    ///
    /// A write torn by a crash leaves a last line without its newline, which readers
    /// ignore (its UIDs were never acknowledged) and the next writer replaces by
    /// rewriting the file.
    pub fn append_or_commit(
        mut self,
        list: &Uidlist,
        new_from: usize,
        base: Option<FileStamp>,
        fsync: bool,
    ) -> Result<FileStamp, MaildirError> {
        let Some(base) = base else {
            return self.commit(list, fsync);
        };
        if !self.still_ours() {
            return Err(MaildirError::LockLost {
                path: self.lock_path.clone(),
            });
        }
        let path = self.dir.join(UIDLIST_FILE);
        let io = |e| MaildirError::io(&path, e);
        let mut file = match OpenOptions::new().read(true).append(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.commit(list, fsync),
            Err(e) => return Err(io(e)),
        };
        let now = FileStamp::of(&file.metadata().map_err(io)?);
        let mut last = [0u8; 1];
        let intact = now == base
            && base.size > 0
            && file.read_exact_at(&mut last, base.size - 1).is_ok()
            && last[0] == b'\n';
        if !intact {
            drop(file);
            return self.commit(list, fsync);
        }
        let mut lines = String::new();
        for r in list.records.get(new_from..).unwrap_or_default() {
            r.render_into(&mut lines);
        }
        file.write_all(lines.as_bytes()).map_err(io)?;
        if fsync {
            file.sync_data().map_err(io)?;
        }
        let st = FileStamp::of(&file.metadata().map_err(io)?);
        self.committed = true;
        if self.still_ours()
            && let Err(e) = std::fs::remove_file(&self.lock_path)
        {
            tracing::warn!(path = %self.lock_path.display(), error = %e, "could not remove uidlist lock");
        }
        Ok(st)
    }

    /// The directory whose uidlist this lock guards.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn still_ours(&self) -> bool {
        std::fs::symlink_metadata(&self.lock_path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }
}

impl Drop for UidlistLock {
    fn drop(&mut self) {
        // Never unlink a lock someone else took over after judging ours stale.
        if !self.committed
            && self.still_ours()
            && let Err(e) = std::fs::remove_file(&self.lock_path)
        {
            tracing::warn!(path = %self.lock_path.display(), error = %e, "could not remove uidlist lock");
        }
    }
}

/// A name next to `lock_path` that only this process and call use:
/// `<lock>.<what>.<random>.<pid>.<host>`, so leftovers of a dead process can be told apart.
fn private_name(lock_path: &Path, what: &str) -> PathBuf {
    let mut name = lock_path.as_os_str().to_owned();
    name.push(format!(
        ".{what}.{:016x}.{}.{}",
        rand::random::<u64>(),
        std::process::id(),
        private_host()
    ));
    PathBuf::from(name)
}

/// The host name as it appears in private file names (no `/`, no `.`).
fn private_host() -> String {
    hostname()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Removes private files that processes on this host left behind when they died in the
/// middle of taking or committing a lock (only ever called after breaking a stale lock,
/// which is when such leftovers appear).
fn remove_dead_leftovers(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{UIDLIST_LOCK_FILE}.");
    let host = private_host();
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        // what.random.pid.host
        let mut parts = rest.splitn(4, '.');
        let (Some(_), Some(_), Some(pid), Some(h)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if h == host && pid != std::process::id() && !process_alive(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Creates `lock_path` exclusively, already holding `<pid>:<hostname>`: the owner line is
/// written to a private file that is then hard-linked to the lock name (link fails if the
/// lock exists, like O_EXCL), so no instant exists where the lock is there but ownerless.
/// Where hard links are not supported, falls back to O_EXCL and writing afterwards.
fn create_owned(lock_path: &Path, mode: u32) -> std::io::Result<File> {
    let owner = format!("{}:{}", std::process::id(), hostname());
    let tmp_path = private_name(lock_path, "own");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp_path)?;
    let linked = file
        .write_all(owner.as_bytes())
        .and_then(|()| std::fs::hard_link(&tmp_path, lock_path));
    let _ = std::fs::remove_file(&tmp_path);
    match linked {
        Ok(()) => Ok(file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(lock_path)?;
            // Best effort, as Dovecot: an empty lock only loses the pid shortcut.
            if file.write_all(owner.as_bytes()).is_err() {
                let _ = file.set_len(0);
            }
            Ok(file)
        }
    }
}

/// Dovecot derives file modes from the directory's (0700 -> 0600, 0770 -> 0660).
fn file_mode_for(dir: &Path) -> Result<u32, MaildirError> {
    let meta = std::fs::metadata(dir).map_err(|e| MaildirError::io(dir, e))?;
    Ok((meta.mode() & 0o666) | 0o600)
}

/// Removes `lock_path` if it is stale; true if it is gone (retry at once).
fn break_if_stale(
    dir: &Path,
    lock_path: &Path,
    stale_after: Duration,
) -> Result<bool, MaildirError> {
    let meta = match std::fs::symlink_metadata(lock_path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(MaildirError::io(lock_path, e)),
    };
    let reason = match lock_owner(lock_path) {
        Some(pid) if pid != std::process::id() && !process_alive(pid) => {
            Some(format!("owner pid {pid} is gone"))
        }
        // A live owner keeps its lock however old, as in Dovecot.
        Some(pid) if pid != std::process::id() => None,
        _ => {
            // No usable pid (Dovecot's own uidlist locks carry none): judge by age of
            // the lock and of the list it protects, whichever changed last.
            let mut last = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if let Ok(list_meta) = std::fs::metadata(dir.join(UIDLIST_FILE))
                && let Ok(m) = list_meta.modified()
            {
                last = last.max(m);
            }
            let age = SystemTime::now().duration_since(last).unwrap_or_default();
            (age > stale_after).then(|| format!("unchanged for {}s", age.as_secs()))
        }
    };
    let Some(reason) = reason else {
        return Ok(false);
    };
    // Only remove the very file we judged, not a fresh lock created in between.
    match std::fs::symlink_metadata(lock_path) {
        Ok(now) if now.ino() == meta.ino() && now.dev() == meta.dev() => {
            tracing::warn!(path = %lock_path.display(), %reason, "breaking stale uidlist lock");
            match std::fs::remove_file(lock_path) {
                Ok(()) => {
                    remove_dead_leftovers(dir);
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
                Err(e) => Err(MaildirError::io(lock_path, e)),
            }
        }
        _ => Ok(true),
    }
}

/// The pid of a `<pid>:<host>` lock written on this host.
fn lock_owner(lock_path: &Path) -> Option<u32> {
    let mut buf = [0u8; 512];
    let n = File::open(lock_path).ok()?.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let (pid, host) = text.trim_end_matches('\n').split_once(':')?;
    if host != hostname() {
        return None;
    }
    pid.parse::<u32>().ok().filter(|&p| p > 0)
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence and permission; nothing is delivered.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn tmp() -> Result<tempfile::TempDir, MaildirError> {
        tempfile::tempdir().map_err(|e| MaildirError::io("tempdir", e))
    }

    const DOVECOT_V3: &str = "3 V1795685845 N4 Ga853362ad5fd076b222a000083ecc375\n\
        1 :1795685845.M707999P10786.vm,S=30,W=34\n\
        3 :1795685845.M785638P10810.vm,S=32,W=36\n";

    #[test]
    fn v3_roundtrip_and_fields() -> Result<(), MaildirError> {
        let list = Uidlist::parse(DOVECOT_V3)?;
        assert_eq!((list.uid_validity, list.next_uid), (1795685845, 4));
        assert_eq!(
            list.guid.as_deref(),
            Some("a853362ad5fd076b222a000083ecc375")
        );
        assert_eq!(list.records.len(), 2);
        assert_eq!(list.render(), DOVECOT_V3);

        let text = "3 V5 N20 G00 X1 Zabc\n7 S12 W14 Pabc O3 :a.b,S=12:2,S\n9 :c\n";
        let mut list = Uidlist::parse(text)?;
        assert_eq!(list.header_extra, [('X', "1".into()), ('Z', "abc".into())]);
        let r = &mut list.records[0];
        assert_eq!(
            (r.field('S'), r.field('P'), r.field('Q')),
            (Some("12"), Some("abc"), None)
        );
        assert_eq!(r.base(), "a.b,S=12");
        assert_eq!(list.render(), text);
        let r = &mut list.records[0];
        r.set_field('P', "new".into());
        r.set_field('G', "g1".into());
        assert_eq!(r.fields.len(), 5);
        assert_eq!(r.field('P'), Some("new"));
        Ok(())
    }

    #[test]
    fn new_list_renders_and_parses() -> Result<(), MaildirError> {
        let list = Uidlist::new(1234);
        let text = list.render();
        assert!(text.starts_with("3 V1234 N1 G"), "{text}");
        assert_eq!(list.guid.as_ref().map(String::len), Some(32));
        assert_ne!(list.guid, Uidlist::new(1234).guid);
        assert_eq!(Uidlist::parse(&text)?, list);
        Ok(())
    }

    #[test]
    fn stale_header_next_uid_is_raised() -> Result<(), MaildirError> {
        // Dovecot appended uid 3 without rewriting "N3".
        let list = Uidlist::parse("3 V1 N3 G00\n1 :a\n2 :b\n3 :c\n")?;
        assert_eq!(list.next_uid, 4);
        Ok(())
    }

    #[test]
    fn v1_reads_and_renders_v3() -> Result<(), MaildirError> {
        let list = Uidlist::parse("1 1100000000 5\n1 a.host:2,S\n4 b.host\n")?;
        assert_eq!((list.uid_validity, list.next_uid), (1100000000, 5));
        assert_eq!(list.records[0].filename, "a.host:2,S");
        assert_eq!(
            list.render(),
            "3 V1100000000 N5\n1 :a.host:2,S\n4 :b.host\n"
        );
        assert!(
            Uidlist::parse("1 1 5\n5 a\n").is_err(),
            "v1 uid must be below next uid"
        );
        Ok(())
    }

    #[test]
    fn torn_last_line_is_ignored() -> Result<(), MaildirError> {
        let list = Uidlist::parse("3 V1 N2\n1 :a\n2 :b")?;
        assert_eq!(list.records.len(), 1);
        Ok(())
    }

    #[test]
    fn duplicate_base_keeps_newer_uid() -> Result<(), MaildirError> {
        let list = Uidlist::parse("3 V1 N9\n1 :a\n2 :b\n5 :a\n")?;
        let uids: Vec<u32> = list.records.iter().map(|r| r.uid).collect();
        assert_eq!(uids, [2, 5]);
        Ok(())
    }

    #[test]
    fn corrupt_inputs_name_the_line() {
        let cases: &[(&str, usize)] = &[
            ("", 1),
            ("3 V1 N2", 1), // header without newline is torn, so there is no header
            ("4 V1 N2\n", 1),
            ("3 N2\n", 1),
            ("3 V1\n", 1),
            ("3 V0 N1\n", 1),
            ("3 Vx N1\n", 1),
            ("3 V1 N2 !x\n", 1),
            ("3 V1 N9\n1 :a\n1 :b\n", 3),
            ("3 V1 N9\n2 :a\n1 :b\n", 3),
            ("3 V1 N9\n0 :a\n", 2),
            ("3 V1 N9\nx :a\n", 2),
            ("3 V1 N9\n1 a\n", 2),
            ("3 V1 N9\n1 :\n", 2),
            ("3 V1 N9\n1 :../../etc/passwd\n", 2),
            ("3 V1 N9\n1\n", 2),
            ("3 V1 N9\n4294967295 :a\n", 2),
            ("3 V1 N9\n4294967296 :a\n", 2),
            ("1 1\n", 1),
        ];
        for &(text, want) in cases {
            match Uidlist::parse(text) {
                Err(MaildirError::Corrupt { line, .. }) => assert_eq!(line, want, "{text:?}"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn read_missing_and_existing() -> Result<(), MaildirError> {
        let dir = tmp()?;
        assert!(read_uidlist(dir.path())?.is_none());
        assert!(stamp(&dir.path().join(UIDLIST_FILE))?.is_none());
        std::fs::write(dir.path().join(UIDLIST_FILE), DOVECOT_V3)
            .map_err(|e| MaildirError::io("w", e))?;
        let (list, st) = read_uidlist(dir.path())?.ok_or_else(|| corrupt(0, "missing"))?;
        assert_eq!(list.records.len(), 2);
        assert_eq!(st.size, DOVECOT_V3.len() as u64);
        assert_eq!(stamp(&dir.path().join(UIDLIST_FILE))?, Some(st));
        std::fs::write(dir.path().join(UIDLIST_FILE), "3 V1 N1\n9 :a\n8 :b\n")
            .map_err(|e| MaildirError::io("w", e))?;
        match read_uidlist(dir.path()) {
            Err(MaildirError::Corrupt { path, line: 3, .. }) => {
                assert_eq!(path, dir.path().join(UIDLIST_FILE))
            }
            other => panic!("{other:?}"),
        }
        Ok(())
    }

    #[test]
    fn lock_commit_replaces_file_and_releases() -> Result<(), MaildirError> {
        let dir = tmp()?;
        let lock =
            UidlistLock::acquire(dir.path(), Duration::from_secs(1), Duration::from_secs(60))?;
        let held = std::fs::read_to_string(dir.path().join(UIDLIST_LOCK_FILE))
            .map_err(|e| MaildirError::io("r", e))?;
        assert_eq!(held, format!("{}:{}", std::process::id(), hostname()));
        // A second acquire in the same process must wait, not steal.
        let second = UidlistLock::acquire(
            dir.path(),
            Duration::from_millis(50),
            Duration::from_secs(60),
        );
        assert!(matches!(second, Err(MaildirError::LockTimeout { .. })));
        let list = Uidlist::parse(DOVECOT_V3)?;
        let st = lock.commit(&list, true)?;
        assert!(!dir.path().join(UIDLIST_LOCK_FILE).exists());
        let (again, st2) = read_uidlist(dir.path())?.ok_or_else(|| corrupt(0, "missing"))?;
        assert_eq!((again, st2), (list, st));
        // Dropping without commit removes the lock and leaves the list alone.
        drop(UidlistLock::acquire(
            dir.path(),
            Duration::from_secs(1),
            Duration::from_secs(60),
        )?);
        assert!(!dir.path().join(UIDLIST_LOCK_FILE).exists());
        assert_eq!(stamp(&dir.path().join(UIDLIST_FILE))?, Some(st));
        Ok(())
    }

    fn lock(dir: &Path) -> Result<UidlistLock, MaildirError> {
        UidlistLock::acquire(dir, Duration::from_secs(1), Duration::from_secs(60))
    }

    fn record(uid: u32, name: &str) -> UidRecord {
        UidRecord {
            uid,
            fields: vec![('S', "10".into())],
            filename: name.into(),
        }
    }

    #[test]
    fn append_adds_records_in_place_and_the_list_reads_back_whole() -> Result<(), MaildirError> {
        let dir = tmp()?;
        let mut list = Uidlist::parse(DOVECOT_V3)?;
        let first = lock(dir.path())?.commit(&list, false)?;
        let from = list.records.len();
        list.records.push(record(4, "1795685900.M1P1.vm"));
        list.records.push(record(5, "1795685901.M2P1.vm"));
        list.next_uid = 6;
        let st = lock(dir.path())?.append_or_commit(&list, from, Some(first), true)?;
        assert_eq!(st.inode, first.inode, "appended in place, not replaced");
        assert!(!dir.path().join(UIDLIST_LOCK_FILE).exists());
        let text = std::fs::read_to_string(dir.path().join(UIDLIST_FILE))
            .map_err(|e| MaildirError::io("r", e))?;
        // The header keeps its old next UID; the records say more.
        assert!(text.starts_with("3 V1795685845 N4 "), "{text}");
        let (again, st2) = read_uidlist(dir.path())?.ok_or_else(|| corrupt(0, "missing"))?;
        assert_eq!((again, st2), (list, st));
        Ok(())
    }

    #[test]
    fn append_rewrites_a_file_that_changed_or_ends_in_a_torn_line() -> Result<(), MaildirError> {
        let dir = tmp()?;
        let path = dir.path().join(UIDLIST_FILE);
        let mut list = Uidlist::parse(DOVECOT_V3)?;
        let first = lock(dir.path())?.commit(&list, false)?;
        // A crash tore the last line of an append: readers skip it.
        let mut torn = DOVECOT_V3.to_string();
        torn.push_str("4 :1795685900.M1");
        std::fs::write(&path, &torn).map_err(|e| MaildirError::io("w", e))?;
        let (seen, torn_stamp) = read_uidlist(dir.path())?.ok_or_else(|| corrupt(0, "missing"))?;
        assert_eq!(seen, list);
        let from = list.records.len();
        list.records.push(record(4, "1795685902.M3P1.vm"));
        list.next_uid = 5;
        // Given the stamp of what was parsed, the torn tail still means a rewrite.
        let st = lock(dir.path())?.append_or_commit(&list, from, Some(torn_stamp), false)?;
        assert_ne!(st.inode, first.inode, "rewritten");
        let (again, _) = read_uidlist(dir.path())?.ok_or_else(|| corrupt(0, "missing"))?;
        assert_eq!(again, list);
        // A stamp that is not the file's any more (someone else wrote it): a rewrite too.
        let from = list.records.len();
        list.records.push(record(5, "1795685903.M4P1.vm"));
        list.next_uid = 6;
        let st2 = lock(dir.path())?.append_or_commit(&list, from, Some(first), false)?;
        assert_ne!(st2.inode, st.inode);
        let (again, _) = read_uidlist(dir.path())?.ok_or_else(|| corrupt(0, "missing"))?;
        assert_eq!(again, list);
        Ok(())
    }

    #[test]
    fn racing_threads_never_share_the_lock() -> Result<(), MaildirError> {
        let dir = tmp()?;
        let holders = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for t in 0..4u32 {
            let (path, holders, max_seen) =
                (dir.path().to_path_buf(), holders.clone(), max_seen.clone());
            handles.push(std::thread::spawn(move || -> Result<(), MaildirError> {
                for i in 0..25u32 {
                    let lock = UidlistLock::acquire(
                        &path,
                        Duration::from_secs(20),
                        Duration::from_secs(60),
                    )?;
                    let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                    max_seen.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(200));
                    holders.fetch_sub(1, Ordering::SeqCst);
                    if i % 2 == 0 {
                        let mut list = read_uidlist(&path)?.map(|(l, _)| l).unwrap_or(Uidlist {
                            uid_validity: 1,
                            next_uid: 1,
                            ..Uidlist::default()
                        });
                        list.records.push(UidRecord {
                            uid: list.next_uid,
                            fields: vec![],
                            filename: format!("t{t}-{i}"),
                        });
                        list.next_uid += 1;
                        lock.commit(&list, false)?;
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join().map_err(|_| corrupt(0, "thread panicked"))??;
        }
        assert_eq!(max_seen.load(Ordering::SeqCst), 1);
        // Every committed append survived: no lost update.
        let (list, _) = read_uidlist(dir.path())?.ok_or_else(|| corrupt(0, "missing"))?;
        assert_eq!(list.records.len(), 4 * 13);
        Ok(())
    }

    #[test]
    fn stale_locks_are_broken() -> Result<(), MaildirError> {
        let dir = tmp()?;
        let lock_path = dir.path().join(UIDLIST_LOCK_FILE);
        let long = Duration::from_secs(3600);
        // Owner pid that cannot exist (above pid_max) on this host: broken at once.
        std::fs::write(&lock_path, format!("2147483647:{}", hostname()))
            .map_err(|e| MaildirError::io("w", e))?;
        drop(UidlistLock::acquire(
            dir.path(),
            Duration::from_millis(200),
            long,
        )?);

        // No pid (as Dovecot writes it), fresh: respected.
        std::fs::write(&lock_path, "").map_err(|e| MaildirError::io("w", e))?;
        let r = UidlistLock::acquire(dir.path(), Duration::from_millis(100), long);
        assert!(matches!(r, Err(MaildirError::LockTimeout { .. })));

        // No pid, old: broken.
        let old = SystemTime::now() - Duration::from_secs(7200);
        File::options()
            .write(true)
            .open(&lock_path)
            .and_then(|f| f.set_modified(old))
            .map_err(|e| MaildirError::io("utime", e))?;
        drop(UidlistLock::acquire(
            dir.path(),
            Duration::from_millis(200),
            long,
        )?);

        // A live foreign pid (our parent) keeps even an old lock.
        let parent = std::os::unix::process::parent_id();
        std::fs::write(&lock_path, format!("{parent}:{}", hostname()))
            .map_err(|e| MaildirError::io("w", e))?;
        File::options()
            .write(true)
            .open(&lock_path)
            .and_then(|f| f.set_modified(old))
            .map_err(|e| MaildirError::io("utime", e))?;
        let r = UidlistLock::acquire(
            dir.path(),
            Duration::from_millis(100),
            Duration::from_secs(1),
        );
        assert!(matches!(r, Err(MaildirError::LockTimeout { .. })));
        Ok(())
    }

    fn names_in(dir: &Path) -> Result<Vec<String>, MaildirError> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| MaildirError::io(dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        Ok(v)
    }

    #[test]
    fn lock_names_its_owner_and_commit_leaves_only_the_list() -> Result<(), MaildirError> {
        let dir = tmp()?;
        let lock =
            UidlistLock::acquire(dir.path(), Duration::from_secs(1), Duration::from_secs(60))?;
        let owner = std::fs::read_to_string(dir.path().join(UIDLIST_LOCK_FILE))
            .map_err(|e| MaildirError::io("r", e))?;
        assert_eq!(owner, format!("{}:{}", std::process::id(), hostname()));
        assert_eq!(names_in(dir.path())?, [UIDLIST_LOCK_FILE]);
        let list = Uidlist::new(77);
        let st = lock.commit(&list, true)?;
        assert_eq!(names_in(dir.path())?, [UIDLIST_FILE]);
        let (back, st2) = read_uidlist(dir.path())?.ok_or_else(|| corrupt(0, "no list"))?;
        assert_eq!((back, st2), (list, st));
        Ok(())
    }

    #[test]
    fn breaking_a_dead_lock_removes_dead_leftovers_only() -> Result<(), MaildirError> {
        let dir = tmp()?;
        let host = private_host();
        let parent = std::os::unix::process::parent_id();
        let dead = format!("{UIDLIST_LOCK_FILE}.new.00000000000000aa.2147483647.{host}");
        let live = format!("{UIDLIST_LOCK_FILE}.own.00000000000000bb.{parent}.{host}");
        let remote = format!("{UIDLIST_LOCK_FILE}.new.00000000000000cc.2147483647.elsewhere");
        for n in [&dead, &live, &remote] {
            std::fs::write(dir.path().join(n), "x").map_err(|e| MaildirError::io("w", e))?;
        }
        std::fs::write(
            dir.path().join(UIDLIST_LOCK_FILE),
            format!("2147483647:{}", hostname()),
        )
        .map_err(|e| MaildirError::io("w", e))?;
        let lock = UidlistLock::acquire(
            dir.path(),
            Duration::from_secs(1),
            Duration::from_secs(3600),
        )?;
        let mut want = vec![UIDLIST_LOCK_FILE.to_string(), live, remote];
        want.sort();
        assert_eq!(names_in(dir.path())?, want);
        drop(lock);
        Ok(())
    }

    #[test]
    fn lost_lock_is_reported_and_not_unlinked() -> Result<(), MaildirError> {
        let dir = tmp()?;
        let lock_path = dir.path().join(UIDLIST_LOCK_FILE);
        let lock =
            UidlistLock::acquire(dir.path(), Duration::from_secs(1), Duration::from_secs(60))?;
        // Someone judged us stale and took over.
        std::fs::remove_file(&lock_path).map_err(|e| MaildirError::io("rm", e))?;
        std::fs::write(&lock_path, "other").map_err(|e| MaildirError::io("w", e))?;
        let r = lock.commit(&Uidlist::default(), false);
        assert!(matches!(r, Err(MaildirError::LockLost { .. })));
        assert!(
            lock_path.exists(),
            "the other owner's lock must survive our drop"
        );
        assert!(!dir.path().join(UIDLIST_FILE).exists());
        Ok(())
    }
}
