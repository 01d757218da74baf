//! The shared, in-process mailbox object: one per (user, mailbox), used by every session of
//! every protocol.
//!
//! All changes (appends, flag changes, expunges, and what outside programs do to `new/` and
//! `cur/`) are applied under one mutex, each batch gets the next modseq, and the new highest
//! modseq is published on a `watch` channel. Sessions keep their own view (sequence numbers,
//! what they were last told) and ask [`Mailbox::changes_since`] what happened after the
//! modseq they last saw; nothing is queued per session, so a slow or idle session costs
//! nothing and can never miss a change.
//!
//! UIDs come from `dovecot-uidlist` under its dotlock, so other Roost processes and Dovecot
//! on the same Maildir never hand out a UID twice; flags live in file names; modseqs and
//! caches live in Roost's own index ([`crate::index`]).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::cache::{Cache, CacheField};
use crate::error::{Result, StorageError};
use crate::index::{
    IndexError, IndexFile, IndexRecord, Stamp, UNCLEAN_MODSEQ_GAP, modseq_floor, next_modseq,
};
use crate::maildir::filename::{self, Flags, KeywordSet};
use crate::maildir::keywords::{self, KeywordNames};
use crate::maildir::names::MailboxName;
use crate::maildir::uidlist::{self, FileStamp, UidRecord, Uidlist, UidlistLock};
use crate::watch::WatchProbe;

/// How long after a directory changed its mtime is trusted: file systems keep coarse
/// timestamps, so two changes within one tick leave the same mtime (Dovecot waits too).
const MTIME_TRUST_DELAY: Duration = Duration::from_secs(2);
/// Expunges remembered for [`Mailbox::changes_since`]; older ones make it report `complete: false`.
const EXPUNGE_LOG_MAX: usize = 100_000;
/// The index is rewritten at most this often while changes keep coming.
const INDEX_WRITE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a name this process changed waits for its inotify event; the watcher reads
/// events within milliseconds, so only a name whose event never comes (a watch removed
/// in between) stays this long.
const OWN_NAME_TTL: Duration = Duration::from_secs(30);

/// Settings every mailbox needs from the configuration.
#[derive(Debug, Clone)]
pub struct MailboxOptions {
    /// fsync message files and directories on delivery.
    pub fsync: bool,
    /// How long to wait for another process's uidlist lock.
    pub lock_timeout: Duration,
    /// When a left-over lock file counts as stale.
    pub stale_lock: Duration,
}

impl Default for MailboxOptions {
    fn default() -> Self {
        MailboxOptions {
            fsync: true,
            lock_timeout: Duration::from_secs(30),
            stale_lock: Duration::from_secs(120),
        }
    }
}

/// What a session learns about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub uid: u32,
    pub flags: Flags,
    pub keywords: KeywordSet,
    pub modseq: u64,
    /// INTERNALDATE, seconds since the epoch.
    pub internal_date: i64,
    /// Bytes on disk (LF line ends as stored).
    pub size: u64,
    /// Size with CRLF line ends (RFC822.SIZE, POP3 LIST), once known; see [`Mailbox::vsizes`].
    pub vsize: Option<u64>,
    /// Legacy POP3 UIDL carried over from an older server, if any.
    pub pop3_uidl: Option<String>,
    /// When it was saved into this mailbox (RFC 8514), if known; see [`IndexRecord`].
    pub save_date: Option<i64>,
}

impl MessageInfo {
    fn from_record(r: &IndexRecord) -> MessageInfo {
        MessageInfo {
            uid: r.uid,
            flags: Flags::from_bits(r.flags),
            keywords: KeywordSet::from_bits(r.keywords),
            modseq: r.modseq,
            internal_date: r.internal_date,
            size: r.size,
            vsize: r.vsize,
            pop3_uidl: r.pop3_uidl.clone(),
            save_date: r.save_date,
        }
    }
}

/// The whole mailbox at one modseq.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub uid_validity: u32,
    pub next_uid: u32,
    pub highest_modseq: u64,
    /// Messages with UID >= this are \Recent for the session that claimed them.
    pub first_recent_uid: u32,
    /// Sorted by UID.
    pub messages: Vec<MessageInfo>,
}

/// What happened after a given modseq.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub highest_modseq: u64,
    /// UIDs expunged after the modseq (may include UIDs the caller never knew).
    pub expunged: Vec<u32>,
    /// Messages whose modseq is newer: changed flags, or appended.
    pub changed: Vec<MessageInfo>,
    /// False when expunges that old are no longer remembered: the caller must compare
    /// its UID list with a fresh [`Snapshot`] instead of trusting `expunged`.
    pub complete: bool,
}

/// What an IDLE session needs after a change was published: see [`Mailbox::try_published`].
#[derive(Debug, Clone)]
pub struct Published {
    /// Changes after the caller's modseq (always `complete`).
    pub changes: Changes,
    /// The \Recent boundary claimed for the caller (as [`Mailbox::claim_recent`]), when it
    /// asked and new messages were there to claim.
    pub recent_first: Option<u32>,
    /// Keyword names by index, as [`Mailbox::keyword_names`].
    pub keyword_names: Vec<Option<String>>,
}

/// One computed diff and the mailbox state it was computed from.
#[derive(Debug)]
struct FeedMemo {
    from: u64,
    highest: u64,
    records: usize,
    expunged: usize,
    changes: Changes,
}

/// Counts for STATUS and POP3 STAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub messages: u32,
    pub recent: u32,
    pub unseen: u32,
    pub uid_next: u32,
    pub uid_validity: u32,
    pub highest_modseq: u64,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// The result of [`Mailbox::store`].
#[derive(Debug, Clone, Default)]
pub struct StoreOutcome {
    /// Messages whose flags now differ from before, with their new state.
    pub changed: Vec<MessageInfo>,
    /// UIDs refused because their modseq was above UNCHANGEDSINCE (RFC 7162 MODIFIED).
    pub modified: Vec<u32>,
}

/// A message written to `tmp/`, ready to be committed into a mailbox.
#[derive(Debug)]
pub struct TmpMessage {
    path: PathBuf,
    size: u64,
    vsize: u64,
    internal_date: Option<i64>,
}

impl TmpMessage {
    /// Bytes on disk.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for TmpMessage {
    fn drop(&mut self) {
        // Committed messages were renamed away; anything left is an abandoned upload.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Streams a new message into `tmp/`, counting its size and CRLF size, refusing more than
/// the limit. Nothing is visible in the mailbox until [`Mailbox::commit`].
pub struct TmpWriter {
    /// `None` only after `finish` took it.
    file: Option<io::BufWriter<File>>,
    path: Option<PathBuf>,
    size: u64,
    bare_lf: u64,
    last: u8,
    limit: u64,
    fsync: bool,
}

impl TmpWriter {
    /// Finish writing: flush, fsync when configured, and hand back the temporary message.
    pub fn finish(mut self, internal_date: Option<i64>) -> Result<TmpMessage> {
        let path = self.path.take().expect("path present until finish");
        let file = self
            .file
            .take()
            .expect("file present until finish")
            .into_inner()
            .map_err(|e| StorageError::io("writing message", e.into_error()))?;
        if let Some(t) = internal_date {
            let when = if t >= 0 {
                SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)
            } else {
                SystemTime::UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
            };
            file.set_modified(when)
                .map_err(|e| StorageError::io("setting INTERNALDATE", e))?;
        }
        if self.fsync {
            file.sync_all()
                .map_err(|e| StorageError::io("syncing message", e))?;
        }
        Ok(TmpMessage {
            path,
            size: self.size,
            vsize: self.size + self.bare_lf,
            internal_date,
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn writer(&mut self) -> io::Result<&mut io::BufWriter<File>> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("message already finished"))
    }
}

impl Write for TmpWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size + buf.len() as u64 > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "message too large",
            ));
        }
        let n = self.writer()?.write(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' && self.last != b'\r' {
                self.bare_lf += 1;
            }
            self.last = b;
        }
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for TmpWriter {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// One message to commit: the file, its flags and keywords.
pub struct NewMessage {
    pub tmp: TmpMessage,
    pub flags: Flags,
    pub keywords: Vec<String>,
}

impl NewMessage {
    /// A delivered message: no flags, no keywords.
    pub fn delivered(tmp: TmpMessage) -> NewMessage {
        NewMessage {
            tmp,
            flags: Flags::default(),
            keywords: Vec::new(),
        }
    }
}

/// Events still owed for one name this process changed.
struct OwnName {
    count: u32,
    since: Instant,
}

/// Remember that this process changed `name` in `new/` or `cur/`, so its inotify event is
/// not taken for an outside change.
fn note_own(st: &mut State, name: &str) {
    if st.watch.is_none() {
        return;
    }
    let e = st.own_names.entry(name.to_string()).or_insert(OwnName {
        count: 0,
        since: Instant::now(),
    });
    e.count += 1;
    e.since = Instant::now();
}

struct State {
    idx: IndexFile,
    keywords: KeywordNames,
    keywords_stamp: Option<FileStamp>,
    /// Names this process created or removed and whose inotify events have not come yet,
    /// with how many events each still owes, so the watcher can tell its own changes from
    /// an outside program's (kept only while the mailbox is watched).
    own_names: HashMap<String, OwnName>,
    /// The store's inotify watcher, once it watches both `new/` and `cur/`.
    watch: Option<Weak<WatchProbe>>,
    /// The last full listing started while the watcher watched: an outside change since
    /// then has queued an event (see [`WatchProbe::caught_up`]).
    verified_watched: bool,
    /// Every uidlist record below this UID had its file in place when this index last
    /// listed (or is this process's own): one the index lacks is of a message gone since.
    /// Records above it may be another process's, whose files no listing has seen yet.
    complete_below: u32,
    /// The index on disk says `clean`; the next change must first mark it unclean.
    clean_on_disk: bool,
    dirty: bool,
    last_write: Instant,
    force_sync: bool,
    deleted: bool,
    /// Wall-clock time a full listing last started (0: never in this process).
    verified_ns: i128,
    /// The recorded stamps came from this process's own change, made right after a sync;
    /// an outside change in between is reported by inotify, so they are trusted as they are.
    own_stamps: bool,
    /// Full listings done so far (a metric, and how tests see that a listing was avoided).
    full_syncs: u64,
    /// The last published diff, shared by every IDLE session that wakes up at the same
    /// modseq (see [`Mailbox::try_published`]).
    feed_memo: Option<FeedMemo>,
}

/// One mailbox, shared by every session that has it open.
pub struct Mailbox {
    name: MailboxName,
    dir: PathBuf,
    opts: MailboxOptions,
    state: Mutex<State>,
    /// Derived message data; locked after `state` when both are needed.
    cache: Mutex<Cache>,
    notify: watch::Sender<u64>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .finish()
    }
}

fn io_ctx(what: &str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
    let context = format!("{what} {}", path.display());
    move |e| StorageError::io(context, e)
}

fn to_stamp(s: Option<FileStamp>) -> Stamp {
    s.map(|s| Stamp {
        mtime_ns: s.mtime_ns,
        size: s.size,
        inode: s.inode,
    })
    .unwrap_or_default()
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// File systems stamp changes with a coarse clock that lags real time by up to a tick
/// (a few ms); a listing that started this long after a directory's mtime saw every change
/// that carries that mtime.
const MTIME_TICK_MARGIN_NS: i128 = 50_000_000;

/// Whether a recorded directory stamp still proves "nothing changed since": either the
/// listing that recorded it started clearly after the mtime, or the mtime is old enough
/// that any later change must carry a newer one.
fn stamp_trusted(s: &Stamp, verified_ns: i128) -> bool {
    verified_ns - s.mtime_ns > MTIME_TICK_MARGIN_NS
        || now_ns() - s.mtime_ns >= MTIME_TRUST_DELAY.as_nanos() as i128
}

fn base_of(filename: &str) -> &str {
    filename::parse(filename).base
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StorageError::io(format!("listing {}", dir.display()), e)),
    };
    for entry in rd {
        let entry = entry.map_err(io_ctx("listing", dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            warn!(dir = %dir.display(), "skipping a file whose name is not UTF-8");
            continue;
        };
        if !name.starts_with('.') {
            out.push(name);
        }
    }
    Ok(out)
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Size with CRLF line ends of a stored message.
fn compute_vsize(path: &Path) -> io::Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut size, mut bare, mut last) = (0u64, 0u64, 0u8);
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(size + bare);
        }
        for &b in &buf[..n] {
            if b == b'\n' && last != b'\r' {
                bare += 1;
            }
            last = b;
        }
        size += n as u64;
    }
}

impl Mailbox {
    /// Open the mailbox stored in `dir` (which must exist), loading or rebuilding its index.
    pub fn open(name: MailboxName, dir: PathBuf, opts: MailboxOptions) -> Result<Mailbox> {
        if !dir.join("cur").is_dir() {
            return Err(StorageError::NoSuchMailbox(name.as_str().to_string()));
        }
        let (idx, clean) = match IndexFile::read(&dir) {
            Ok(Some(mut idx)) => {
                let clean = idx.clean;
                if !clean {
                    // The last process did not close it: changes after its last write may
                    // have been seen by clients, so never reuse their modseqs, and expunges
                    // it logged after that write are lost.
                    idx.highest_modseq += UNCLEAN_MODSEQ_GAP;
                    idx.expunge_floor = idx.highest_modseq;
                    debug!(dir = %dir.display(), "index was not closed cleanly; modseqs move ahead");
                }
                (idx, clean)
            }
            Ok(None) => (Self::fresh_index(), false),
            Err(e) => {
                match &e {
                    IndexError::Damaged(why) => warn!(
                        dir = %dir.display(), reason = why,
                        "index is damaged; rebuilding it from the Maildir"
                    ),
                    IndexError::Io(err) => warn!(
                        dir = %dir.display(), error = %err,
                        "index cannot be read; rebuilding it from the Maildir"
                    ),
                }
                (Self::fresh_index(), false)
            }
        };
        let (notify, _) = watch::channel(idx.highest_modseq);
        let mb = Mailbox {
            name,
            dir,
            opts,
            state: Mutex::new(State {
                idx,
                keywords: KeywordNames::default(),
                keywords_stamp: None,
                own_names: HashMap::new(),
                watch: None,
                verified_watched: false,
                complete_below: 0,
                clean_on_disk: clean,
                dirty: false,
                last_write: Instant::now(),
                force_sync: false,
                deleted: false,
                verified_ns: 0,
                own_stamps: false,
                full_syncs: 0,
                feed_memo: None,
            }),
            cache: Mutex::new(Cache::default()),
            notify,
        };
        {
            let mut st = mb.lock();
            mb.sync_locked(&mut st, false)?;
        }
        Ok(mb)
    }

    fn fresh_index() -> IndexFile {
        let floor = modseq_floor();
        IndexFile {
            uid_validity: 0,
            next_uid: 1,
            highest_modseq: floor,
            first_recent_uid: 1,
            clean: false,
            // Nothing is known about expunges before this index existed.
            expunge_floor: floor,
            ..IndexFile::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the on-disk state inconsistent (every
        // step is a rename), so keep serving with the in-memory state as it is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The mailbox name.
    pub fn name(&self) -> &MailboxName {
        &self.name
    }

    /// The mailbox directory (the Maildir root for INBOX).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A receiver that wakes whenever the highest modseq moves (any change at all).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Pick up changes on disk (quick when nothing changed) and return the whole mailbox.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let mut st = self.lock();
        self.sync_locked(&mut st, false)?;
        Ok(Snapshot {
            uid_validity: st.idx.uid_validity,
            next_uid: st.idx.next_uid,
            highest_modseq: st.idx.highest_modseq,
            first_recent_uid: st.idx.first_recent_uid,
            messages: st
                .idx
                .records
                .iter()
                .map(MessageInfo::from_record)
                .collect(),
        })
    }

    /// Counts for STATUS / STAT.
    pub fn status(&self) -> Result<Status> {
        let mut st = self.lock();
        self.sync_locked(&mut st, false)?;
        let recent_from = st.idx.first_recent_uid;
        let mut s = Status {
            messages: st.idx.records.len() as u32,
            recent: 0,
            unseen: 0,
            uid_next: st.idx.next_uid,
            uid_validity: st.idx.uid_validity,
            highest_modseq: st.idx.highest_modseq,
        };
        for r in &st.idx.records {
            if r.uid >= recent_from {
                s.recent += 1;
            }
            if !Flags::from_bits(r.flags).contains(Flags::SEEN) {
                s.unseen += 1;
            }
        }
        Ok(s)
    }

    /// Changes after `modseq`, picking up changes on disk first.
    pub fn changes_since(&self, modseq: u64) -> Result<Changes> {
        let mut st = self.lock();
        self.sync_locked(&mut st, false)?;
        Ok(changes_in(&st.idx, modseq))
    }

    /// Messages and octets of the given UIDs (all messages with `None`), for quota.
    pub fn usage_of(&self, uids: Option<&[u32]>) -> Result<crate::quota::QuotaUsage> {
        let mut st = self.lock();
        self.sync_locked(&mut st, false)?;
        let mut u = crate::quota::QuotaUsage::default();
        let mut add = |r: &IndexRecord| {
            u.bytes += r.size;
            u.messages += 1;
        };
        match uids {
            None => st.idx.records.iter().for_each(&mut add),
            Some(uids) => uids
                .iter()
                .filter_map(|uid| st.idx.records.binary_search_by_key(uid, |r| r.uid).ok())
                .for_each(|pos| add(&st.idx.records[pos])),
        }
        Ok(u)
    }

    /// The changes after `modseq` as last published, for a session woken by the change
    /// feed: no disk access (the publisher has just synced; a later outside change
    /// publishes again) and no waiting, so thousands of IDLE sessions can be answered
    /// straight from the async runtime. The diff is computed once per published state and
    /// shared by every session that was at the same modseq. With `claim_above` (the
    /// session's highest UID), \Recent is claimed as [`Mailbox::claim_recent`] does when
    /// newer messages are there. `None` when the caller must take the full path instead:
    /// the mailbox is busy, the expunge log does not reach back to `modseq`, or claiming
    /// would have to write the index first.
    pub fn try_published(&self, modseq: u64, claim_above: Option<u32>) -> Option<Published> {
        let mut guard = match self.state.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        let st = &mut *guard;
        if modseq < st.idx.expunge_floor {
            return None;
        }
        let fresh = st.feed_memo.as_ref().is_some_and(|m| {
            m.from == modseq
                && m.highest == st.idx.highest_modseq
                && m.records == st.idx.records.len()
                && m.expunged == st.idx.expunged.len()
        });
        if !fresh {
            // Complete: the expunge floor was checked above.
            let changes = changes_in(&st.idx, modseq);
            st.feed_memo = Some(FeedMemo {
                from: modseq,
                highest: st.idx.highest_modseq,
                records: st.idx.records.len(),
                expunged: st.idx.expunged.len(),
                changes,
            });
        }
        let changes = st.feed_memo.as_ref().map(|m| m.changes.clone())?;
        let mut recent_first = None;
        if let Some(above) = claim_above
            && changes.changed.iter().any(|m| m.uid > above)
        {
            let first = st.idx.first_recent_uid;
            if first != st.idx.next_uid {
                // Marking the index unclean is a write: leave that to the full path.
                if st.clean_on_disk {
                    return None;
                }
                st.idx.first_recent_uid = st.idx.next_uid;
                // Written by the next periodic flush, as any other change.
                st.dirty = true;
            }
            recent_first = Some(first);
        }
        Some(Published {
            changes,
            recent_first,
            keyword_names: st.keywords.names.clone(),
        })
    }

    /// Hand the \Recent messages to the calling session: returns the first recent UID and
    /// moves the mark past every current message, so no other session gets them.
    pub fn claim_recent(&self) -> Result<u32> {
        let mut st = self.lock();
        self.sync_locked(&mut st, false)?;
        let first = st.idx.first_recent_uid;
        if first != st.idx.next_uid {
            st.idx.first_recent_uid = st.idx.next_uid;
            self.note_change(&mut st);
        }
        Ok(first)
    }

    /// Keyword names by index (the bit positions of [`KeywordSet`]).
    pub fn keyword_names(&self) -> Vec<Option<String>> {
        self.lock().keywords.names.clone()
    }

    /// Cached derived data of a message (see [`CacheField`]), if computed before.
    pub fn cache_get(&self, uid: u32, field: CacheField) -> Option<Arc<[u8]>> {
        let uid_validity = self.lock().idx.uid_validity;
        self.cache_lock().get(&self.dir, uid_validity, uid, field)
    }

    /// Remember derived data of a message; it stays valid while the message exists.
    pub fn cache_put(&self, uid: u32, field: CacheField, data: &[u8]) {
        let uid_validity = self.lock().idx.uid_validity;
        self.cache_lock()
            .put(&self.dir, uid_validity, uid, field, data);
    }

    fn cache_lock(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forget cached data of messages that are no longer in the mailbox.
    fn drop_cached(&self, st: &State) {
        let records = &st.idx.records;
        self.cache_lock().retain(&self.dir, |uid| {
            records.binary_search_by_key(&uid, |r| r.uid).is_ok()
        });
    }

    /// CRLF sizes of the given messages, computing and caching any not known yet.
    pub fn vsizes(&self, uids: &[u32]) -> Result<Vec<Option<u64>>> {
        let mut st = self.lock();
        let mut out = Vec::with_capacity(uids.len());
        let mut computed = false;
        for &uid in uids {
            let Ok(pos) = st.idx.records.binary_search_by_key(&uid, |r| r.uid) else {
                out.push(None);
                continue;
            };
            if let Some(v) = st.idx.records[pos].vsize {
                out.push(Some(v));
                continue;
            }
            let path = self.path_of(&st.idx.records[pos]);
            match compute_vsize(&path) {
                Ok(v) => {
                    st.idx.records[pos].vsize = Some(v);
                    computed = true;
                    out.push(Some(v));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    st.force_sync = true;
                    out.push(None);
                }
                Err(e) => return Err(StorageError::io(format!("reading {}", path.display()), e)),
            }
        }
        if computed {
            // A cache fill is not a change: no modseq, no notification.
            st.dirty = true;
            self.maybe_write_index(&mut st);
        }
        Ok(out)
    }

    fn path_of(&self, r: &IndexRecord) -> PathBuf {
        self.dir
            .join(if r.in_new { "new" } else { "cur" })
            .join(&r.filename)
    }

    /// Open a message's file for reading; `Ok(None)` when it has been expunged. A file
    /// renamed by another process meanwhile is found again after a rescan.
    pub fn open_message(&self, uid: u32) -> Result<Option<(File, MessageInfo)>> {
        for attempt in 0..2 {
            let mut st = self.lock();
            if attempt == 1 {
                self.sync_locked(&mut st, true)?;
            }
            let Ok(pos) = st.idx.records.binary_search_by_key(&uid, |r| r.uid) else {
                return Ok(None);
            };
            let path = self.path_of(&st.idx.records[pos]);
            match File::open(&path) {
                Ok(f) => return Ok(Some((f, MessageInfo::from_record(&st.idx.records[pos])))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(StorageError::io(format!("opening {}", path.display()), e)),
            }
        }
        Ok(None)
    }

    /// [`Mailbox::open_message`] for callers that must not wait (an async runtime thread):
    /// `None` whenever the answer needs more than a free lock and one `open` (the mailbox
    /// is busy, the UID is unknown, the file was renamed or cannot be opened); the caller
    /// then asks `open_message`, which sorts those cases out.
    pub fn open_message_nowait(&self, uid: u32) -> Option<(File, MessageInfo)> {
        let path_and_info = {
            let st = match self.state.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return None,
            };
            let pos = st.idx.records.binary_search_by_key(&uid, |r| r.uid).ok()?;
            let r = &st.idx.records[pos];
            (self.path_of(r), MessageInfo::from_record(r))
        };
        // Opened outside the lock: a rename meanwhile only makes this fail (NotFound).
        let (path, info) = path_and_info;
        File::open(path).ok().map(|f| (f, info))
    }

    /// Start writing a new message into this mailbox's `tmp/`.
    pub fn create_tmp(&self, limit: u64) -> Result<TmpWriter> {
        let name = filename::new_unique_base(0, 0);
        let path = self.dir.join("tmp").join(&name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_ctx("creating", &path))?;
        Ok(TmpWriter {
            file: Some(io::BufWriter::with_capacity(64 * 1024, file)),
            path: Some(path),
            size: 0,
            bare_lf: 0,
            last: 0,
            limit,
            fsync: self.opts.fsync,
        })
    }

    /// Stage another mailbox's uploaded message in this one's `tmp/` (hard link, or a copy
    /// across file systems), so one upload can be committed to several mailboxes.
    pub fn stage_copy(&self, source: &TmpMessage) -> Result<TmpMessage> {
        let path = self.dir.join("tmp").join(filename::new_unique_base(0, 0));
        if std::fs::hard_link(&source.path, &path).is_err() {
            std::fs::copy(&source.path, &path).map_err(io_ctx("copying message to", &path))?;
        }
        Ok(TmpMessage {
            path,
            size: source.size,
            vsize: source.vsize,
            internal_date: source.internal_date,
        })
    }

    /// Write `data` as one new message (used by delivery); `max_size` bounds it.
    pub fn deliver(&self, data: &mut dyn Read, max_size: u64) -> Result<u32> {
        let tmp = self.write_tmp(data, max_size)?;
        let uids = self.commit(vec![NewMessage::delivered(tmp)], true)?;
        Ok(uids[0])
    }

    /// Stream `data` into `tmp/` (not yet visible); `max_size` bounds it.
    pub fn write_tmp(&self, data: &mut dyn Read, max_size: u64) -> Result<TmpMessage> {
        let mut w = self.create_tmp(max_size)?;
        match io::copy(data, &mut w) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                return Err(StorageError::TooBig { limit: max_size });
            }
            Err(e) => return Err(StorageError::io("writing message", e)),
        }
        w.finish(None)
    }

    /// Make messages from `tmp/` part of the mailbox, all with UIDs from one uidlist lock:
    /// each file is renamed into `new/` (delivery) or `cur/` (with its flags), the
    /// directory is synced, then the uidlist is committed. After a crash a message is
    /// either fully in place or absent, and a UID once written is never reused.
    pub fn commit(&self, msgs: Vec<NewMessage>, deliver_to_new: bool) -> Result<Vec<u32>> {
        let none = vec![None; msgs.len()];
        self.commit_numbered(msgs, none, Numbering::New, deliver_to_new)
    }

    /// Read `dovecot-uidlist`. A damaged one is not a dead mailbox: what it still says is
    /// salvaged (see [`salvage_uidlist`]) and the bool asks the caller to rewrite it.
    fn read_uidlist(&self, fallback_validity: u32) -> Result<(Option<(Uidlist, FileStamp)>, bool)> {
        match uidlist::read_uidlist(&self.dir) {
            Ok(found) => Ok((found, false)),
            Err(crate::maildir::MaildirError::Corrupt { line, reason, .. }) => {
                let path = self.dir.join("dovecot-uidlist");
                let text = std::fs::read(&path).map_err(io_ctx("reading", &path))?;
                let stamp = uidlist::stamp(&path)?.unwrap_or(FileStamp {
                    mtime_ns: 0,
                    size: 0,
                    inode: 0,
                });
                let mut list = salvage_uidlist(&String::from_utf8_lossy(&text));
                if list.uid_validity == 0 {
                    list.uid_validity = if fallback_validity != 0 {
                        fallback_validity
                    } else {
                        new_uid_validity()
                    };
                }
                warn!(dir = %self.dir.display(), line, reason = %reason,
                      kept = list.records.len(), next_uid = list.next_uid,
                      "dovecot-uidlist is damaged; rewriting it from what it still says");
                Ok((Some((list, stamp)), true))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Read the uidlist under its lock, creating the first one if there is none; the bool
    /// says whether it differs from what this process last saw (or was damaged), the stamp
    /// is that of the file exactly as parsed (none when it was created, or damaged).
    fn read_uidlist_for_write(&self, st: &State) -> Result<(Uidlist, bool, Option<FileStamp>)> {
        let (found, salvaged) = self.read_uidlist(st.idx.uid_validity)?;
        match found {
            Some((list, stamp)) => Ok((
                list,
                salvaged || to_stamp(Some(stamp)) != st.idx.uidlist_stamp,
                (!salvaged).then_some(stamp),
            )),
            // A Maildir Courier kept, opened for the first time: its UIDs, not new ones
            // (an index of ours means the uidlist was lost, and the index knows better).
            None if st.idx.uid_validity == 0
                && let Some(mut list) =
                    crate::maildir::courier::adopt(&self.dir, new_uid_validity)? =>
            {
                list.guid = Some(new_guid());
                Ok((list, false, None))
            }
            None => Ok((
                Uidlist {
                    uid_validity: if st.idx.uid_validity != 0 {
                        st.idx.uid_validity
                    } else {
                        new_uid_validity()
                    },
                    next_uid: st.idx.next_uid.max(1),
                    guid: Some(new_guid()),
                    header_extra: Vec::new(),
                    records: Vec::new(),
                },
                false,
                None,
            )),
        }
    }

    /// Change flags of the given UIDs (those not present are ignored). With
    /// `unchanged_since`, messages modified after it are left alone and reported.
    pub fn store(
        &self,
        uids: &[u32],
        op: FlagOp,
        flags: Flags,
        keywords: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<StoreOutcome> {
        self.store_with_progress(uids, op, flags, keywords, unchanged_since, &mut |_| {})
    }

    /// [`Mailbox::store`], calling `progress` with the number of messages done so far.
    pub fn store_with_progress(
        &self,
        uids: &[u32],
        op: FlagOp,
        flags: Flags,
        keywords: &[String],
        unchanged_since: Option<u64>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<StoreOutcome> {
        let mut st = self.lock();
        self.check_deleted(&st)?;
        self.sync_locked(&mut st, false)?;
        let mut kw = KeywordSet::default();
        let mut kw_added = false;
        for k in keywords {
            let idx = match op {
                FlagOp::Remove => st.keywords.index_of(k),
                _ => {
                    let before = st.keywords.names.len();
                    let i = st.keywords.get_or_add(k);
                    kw_added |= st.keywords.names.len() != before;
                    i
                }
            };
            if let Some(i) = idx {
                kw.insert(i);
            }
        }
        if kw_added {
            keywords::write_keywords(&self.dir, &st.keywords, self.opts.fsync)?;
            st.keywords_stamp = uidlist::stamp(&self.dir.join("dovecot-keywords"))?;
        }
        let modseq = next_modseq(st.idx.highest_modseq);
        let mut out = StoreOutcome::default();
        let mut retry = Vec::new();
        for (done, &uid) in uids.iter().enumerate() {
            progress(done);
            let Ok(pos) = st.idx.records.binary_search_by_key(&uid, |r| r.uid) else {
                continue;
            };
            let r = &st.idx.records[pos];
            if unchanged_since.is_some_and(|u| r.modseq > u) {
                out.modified.push(uid);
                continue;
            }
            let old_f = Flags::from_bits(r.flags);
            let old_k = KeywordSet::from_bits(r.keywords);
            let (new_f, new_k) = match op {
                FlagOp::Add => (old_f.union(flags), old_k.union(kw)),
                FlagOp::Remove => (old_f.difference(flags), old_k.difference(kw)),
                FlagOp::Replace => (flags, kw),
            };
            if new_f == old_f && new_k == old_k && !r.in_new {
                continue;
            }
            let new_name = filename::with_flags(base_of(&r.filename), new_f, new_k);
            let from = self.path_of(r);
            let to = self.dir.join("cur").join(&new_name);
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    retry.push(uid);
                    continue;
                }
                Err(e) => return Err(StorageError::io(format!("renaming {}", from.display()), e)),
            }
            let old_name = std::mem::replace(&mut st.idx.records[pos].filename, new_name.clone());
            note_own(&mut st, &old_name);
            note_own(&mut st, &new_name);
            let r = &mut st.idx.records[pos];
            r.in_new = false;
            if new_f == old_f && new_k == old_k {
                continue; // only moved from new/ to cur/
            }
            r.flags = new_f.bits();
            r.keywords = new_k.bits();
            r.modseq = modseq;
            out.changed.push(MessageInfo::from_record(r));
        }
        if !out.changed.is_empty() {
            st.idx.highest_modseq = modseq;
            self.note_change(&mut st);
        }
        if !retry.is_empty() {
            // Renamed or removed by another process since our last look: rescan and retry
            // once with the fresh names (gone ones are expunged and silently skipped).
            st.force_sync = true;
            drop(st);
            let again = self.store(&retry, op, flags, keywords, unchanged_since)?;
            out.changed.extend(again.changed);
            out.modified.extend(again.modified);
            return Ok(out);
        }
        if !out.changed.is_empty() {
            self.adopt_own_stamps(&mut st)?;
        }
        self.publish(&mut st);
        Ok(out)
    }

    /// Remove the given messages; returns the UIDs actually expunged by this call.
    pub fn expunge(&self, uids: &[u32]) -> Result<Vec<u32>> {
        self.expunge_with_progress(uids, &mut |_| {})
    }

    /// [`Mailbox::expunge`], calling `progress` with the number of messages done so far.
    pub fn expunge_with_progress(
        &self,
        uids: &[u32],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<u32>> {
        let mut st = self.lock();
        self.check_deleted(&st)?;
        self.sync_locked(&mut st, false)?;
        let mut gone = Vec::new();
        let mut retry = false;
        for (done, &uid) in uids.iter().enumerate() {
            progress(done);
            let Ok(pos) = st.idx.records.binary_search_by_key(&uid, |r| r.uid) else {
                continue;
            };
            let path = self.path_of(&st.idx.records[pos]);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    retry = true;
                    continue;
                }
                Err(e) => return Err(StorageError::io(format!("removing {}", path.display()), e)),
            }
            let name = st.idx.records[pos].filename.clone();
            note_own(&mut st, &name);
            gone.push(uid);
        }
        if !gone.is_empty() {
            let modseq = next_modseq(st.idx.highest_modseq);
            st.idx.highest_modseq = modseq;
            let gone_set: HashSet<u32> = gone.iter().copied().collect();
            st.idx.records.retain(|r| !gone_set.contains(&r.uid));
            for &u in &gone {
                st.idx.expunged.push((u, modseq));
            }
            trim_expunge_log(&mut st.idx);
            self.drop_cached(&st);
            self.note_change(&mut st);
        }
        if retry {
            // A file vanished or was renamed under us: the rescan expunges or renames it.
            self.sync_locked(&mut st, true)?;
            let again: Vec<u32> = uids
                .iter()
                .copied()
                .filter(|u| {
                    !gone.contains(u) && st.idx.records.binary_search_by_key(u, |r| r.uid).is_ok()
                })
                .collect();
            if !again.is_empty() {
                drop(st);
                gone.extend(self.expunge(&again)?);
                return Ok(gone);
            }
        } else if !gone.is_empty() {
            self.adopt_own_stamps(&mut st)?;
        }
        self.publish(&mut st);
        Ok(gone)
    }

    /// Copy messages into `dest` (hard links where the file system allows), keeping flags,
    /// keywords and INTERNALDATE; returns (source UID, new UID) pairs in order.
    pub fn copy_to(&self, uids: &[u32], dest: &Mailbox) -> Result<Vec<(u32, u32)>> {
        self.copy_to_with_progress(uids, dest, &mut |_| {})
    }

    /// [`Mailbox::copy_to`], calling `progress` with the number of messages done so far
    /// (for IMAP's INPROGRESS on long copies).
    pub fn copy_to_with_progress(
        &self,
        uids: &[u32],
        dest: &Mailbox,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<(u32, u32)>> {
        let mut staged = Vec::new();
        let mut src_uids = Vec::new();
        let names = self.keyword_names();
        for (done, &uid) in uids.iter().enumerate() {
            progress(done);
            let (path, info) = {
                let mut st = self.lock();
                self.sync_locked(&mut st, false)?;
                let Ok(pos) = st.idx.records.binary_search_by_key(&uid, |r| r.uid) else {
                    continue;
                };
                (
                    self.path_of(&st.idx.records[pos]),
                    MessageInfo::from_record(&st.idx.records[pos]),
                )
            };
            let tmp_path = dest.dir.join("tmp").join(filename::new_unique_base(0, 0));
            if std::fs::hard_link(&path, &tmp_path).is_err() {
                match std::fs::copy(&path, &tmp_path) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        return Err(StorageError::io(format!("copying {}", path.display()), e));
                    }
                }
            }
            let vsize = match info.vsize {
                Some(v) => v,
                None => compute_vsize(&tmp_path).map_err(io_ctx("reading", &tmp_path))?,
            };
            let keywords = info
                .keywords
                .iter()
                .filter_map(|i| names.get(i).cloned().flatten())
                .collect();
            staged.push(NewMessage {
                tmp: TmpMessage {
                    path: tmp_path,
                    size: info.size,
                    vsize,
                    internal_date: Some(info.internal_date),
                },
                flags: info.flags,
                keywords,
            });
            src_uids.push(uid);
        }
        if staged.is_empty() {
            return Ok(Vec::new());
        }
        let new_uids = dest.commit(staged, false)?;
        Ok(src_uids.into_iter().zip(new_uids).collect())
    }

    fn check_deleted(&self, st: &State) -> Result<()> {
        if st.deleted {
            return Err(StorageError::NoSuchMailbox(self.name.as_str().to_string()));
        }
        Ok(())
    }

    /// Write the index marked clean and make the object inert (the store closes mailboxes
    /// nobody uses; a transient holder such as the watcher can then change nothing).
    pub(crate) fn close(&self) {
        self.flush_index(true);
        self.lock().deleted = true;
    }

    /// Mark the object dead after its directory was deleted or renamed away.
    pub(crate) fn mark_deleted(&self) {
        self.lock().deleted = true;
        self.notify.send_modify(|m| *m += 1);
    }

    /// How many times this object listed its directories (opening counts once when the
    /// index could not be trusted).
    pub fn full_sync_count(&self) -> u64 {
        self.lock().full_syncs
    }

    /// Whether the mailbox was deleted while open.
    pub fn is_deleted(&self) -> bool {
        self.lock().deleted
    }

    /// Called by the watcher for each file name an outside change touched; returns true
    /// when the name is not explained by this process's own work (a sync is due).
    pub(crate) fn note_fs_event(&self, name: &str) -> bool {
        let mut st = self.lock();
        if let Some(e) = st.own_names.get_mut(name) {
            e.count -= 1;
            if e.count == 0 {
                st.own_names.remove(name);
            }
            return false;
        }
        st.force_sync = true;
        true
    }

    /// The store's watcher now watches both directories of this mailbox.
    pub(crate) fn set_watched(&self, probe: Weak<WatchProbe>) {
        self.lock().watch = Some(probe);
    }

    /// Whether the watcher has handed this mailbox every event queued so far, and watched
    /// since before its last listing: then no outside change happened since that listing
    /// that the mailbox has not been told of (by `force_sync`).
    fn watch_caught_up(st: &State) -> bool {
        st.verified_watched
            && st
                .watch
                .as_ref()
                .and_then(Weak::upgrade)
                .is_some_and(|p| p.caught_up())
    }

    /// Rescan now if the watcher or a failed lookup asked for it, and publish the result.
    pub fn sync_now(&self, force: bool) -> Result<()> {
        let mut st = self.lock();
        let synced = self.sync_unpublished(&mut st, force);
        let m = st.idx.highest_modseq;
        drop(st);
        // The lock goes first: every IDLE session this wakes answers at once from the
        // published state, which it cannot while the lock is held (it would fall back to
        // the blocking pool, one thread round trip each).
        self.publish_modseq(m);
        synced.map(|_| ())
    }

    /// `roost mailbox reindex`: forget the index and the cache and rebuild both from the
    /// Maildir, the way a damaged index is rebuilt at open. UIDs come from the uidlist, so
    /// they stay; modseqs restart above every one handed out, and sessions that had the
    /// mailbox open resynchronise through the change feed (their expunge log is gone, so
    /// they compare UID lists).
    pub fn rebuild_index(&self) -> Result<()> {
        let mut st = self.lock();
        let (next_uid, first_recent_uid) = (st.idx.next_uid, st.idx.first_recent_uid);
        st.idx = IndexFile {
            // Never hand out a UID again, and keep \Recent where it was.
            next_uid,
            first_recent_uid,
            ..Self::fresh_index()
        };
        st.clean_on_disk = false;
        st.own_stamps = false;
        st.verified_ns = 0;
        st.verified_watched = false;
        st.complete_below = 0;
        st.keywords_stamp = None;
        *self.cache_lock() = Cache::default();
        for file in [crate::index::INDEX_FILE, crate::cache::CACHE_FILE] {
            let path = self.dir.join(file);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(StorageError::io(format!("removing {}", path.display()), e));
                }
                _ => {}
            }
        }
        self.sync_locked(&mut st, true)?;
        self.note_change(&mut st);
        self.write_index(&mut st, false);
        drop(st);
        self.notify.send_modify(|m| *m += 1);
        Ok(())
    }

    /// Write the index if it has unsaved changes; `closing` marks it clean.
    pub fn flush_index(&self, closing: bool) {
        let mut st = self.lock();
        // Nothing unsaved, and (unless closing) no clean mark to write either.
        let unclean_close = closing && !st.clean_on_disk;
        if st.deleted || !(st.dirty || unclean_close) {
            return;
        }
        self.write_index(&mut st, closing);
    }

    /// Mark that state changed: make sure the index on disk no longer claims a clean
    /// close before anything else is published.
    fn note_change(&self, st: &mut State) {
        st.dirty = true;
        if st.clean_on_disk {
            self.write_index(st, false);
        } else {
            self.maybe_write_index(st);
        }
    }

    fn maybe_write_index(&self, st: &mut State) {
        if st.dirty && st.last_write.elapsed() >= INDEX_WRITE_INTERVAL {
            self.write_index(st, false);
        }
    }

    fn write_index(&self, st: &mut State, clean: bool) {
        st.idx.clean = clean;
        match st.idx.write(&self.dir, false) {
            Ok(()) => {
                st.dirty = false;
                st.clean_on_disk = clean;
                st.last_write = Instant::now();
            }
            // The index is only a cache plus modseqs: serving goes on, and the next write
            // or the next open's rebuild catches up.
            Err(e) => warn!(dir = %self.dir.display(), error = %e, "cannot write the index"),
        }
    }

    fn publish(&self, st: &mut State) {
        self.publish_modseq(st.idx.highest_modseq);
    }

    /// Wake sessions for modseq `m`. Only forward: a publisher that let go of the lock
    /// before publishing may come after one that published a later state.
    fn publish_modseq(&self, m: u64) {
        self.notify.send_if_modified(|cur| {
            if m > *cur {
                *cur = m;
                true
            } else {
                false
            }
        });
    }

    /// Bring the in-memory state in line with the disk. Without `force`, a mailbox whose
    /// directories and uidlist are unchanged (and not too freshly changed to tell) is left
    /// as it is without listing any directory.
    fn sync_locked(&self, st: &mut State, force: bool) -> Result<()> {
        if self.sync_unpublished(st, force)? {
            self.publish(st);
        }
        Ok(())
    }

    /// [`Mailbox::sync_locked`] without waking anyone; true when it listed the directories
    /// (and so may have changed what sessions see).
    fn sync_unpublished(&self, st: &mut State, force: bool) -> Result<bool> {
        if st.deleted {
            return Ok(false);
        }
        let force = force || std::mem::take(&mut st.force_sync);
        let cur_stamp = to_stamp(uidlist::stamp(&self.dir.join("cur"))?);
        let new_stamp = to_stamp(uidlist::stamp(&self.dir.join("new"))?);
        let ul_stamp = to_stamp(uidlist::stamp(&self.dir.join("dovecot-uidlist"))?);
        if !self.dir.join("cur").is_dir() {
            // The directory went away under us (deleted by another process).
            st.deleted = true;
            self.notify.send_modify(|m| *m += 1);
            return Ok(false);
        }
        let kw_stamp = uidlist::stamp(&self.dir.join("dovecot-keywords"))?;
        if kw_stamp != st.keywords_stamp {
            st.keywords = keywords::read_keywords(&self.dir)?;
            st.keywords_stamp = kw_stamp;
        }
        let trusted = |s: &Stamp| st.own_stamps || stamp_trusted(s, st.verified_ns);
        // A stamp that has not moved proves nothing in the clock tick of the last listing
        // (a change then may carry the same mtime), unless the watcher has told us of every
        // change since: then `force` would be set.
        let unchanged = cur_stamp == st.idx.cur_stamp
            && new_stamp == st.idx.new_stamp
            && ul_stamp == st.idx.uidlist_stamp
            && st.idx.uid_validity != 0
            && ((trusted(&cur_stamp) && trusted(&new_stamp)) || Self::watch_caught_up(st));
        if unchanged && !force {
            return Ok(false);
        }
        self.full_sync(st, cur_stamp, new_stamp)?;
        Ok(true)
    }

    /// After this process changed the directories itself (right after a sync), record
    /// their new stamps so the change does not cost a full listing.
    fn adopt_own_stamps(&self, st: &mut State) -> Result<()> {
        st.idx.cur_stamp = to_stamp(uidlist::stamp(&self.dir.join("cur"))?);
        st.idx.new_stamp = to_stamp(uidlist::stamp(&self.dir.join("new"))?);
        st.idx.uidlist_stamp = to_stamp(uidlist::stamp(&self.dir.join("dovecot-uidlist"))?);
        st.own_stamps = true;
        Ok(())
    }

    fn full_sync(&self, st: &mut State, cur_stamp: Stamp, new_stamp: Stamp) -> Result<()> {
        st.verified_ns = now_ns();
        st.verified_watched = st.watch.is_some();
        st.own_stamps = false;
        st.full_syncs += 1;
        // The uidlist as it was before listing: every file it names was in place by then.
        let (before, salvaged) = self.read_uidlist(st.idx.uid_validity)?;
        let mut on_disk: HashMap<String, (String, bool)> = HashMap::new();
        for name in read_dir_names(&self.dir.join("new"))? {
            on_disk.insert(base_of(&name).to_string(), (name, true));
        }
        for name in read_dir_names(&self.dir.join("cur"))? {
            // A base both in new/ and cur/ (a crash mid-move) is the cur/ one.
            on_disk.insert(base_of(&name).to_string(), (name, false));
        }
        let known = st.idx.records.iter().map(|r| base_of(&r.filename)).chain(
            before
                .iter()
                .flat_map(|(l, _)| l.records.iter().map(|r| r.base())),
        );
        self.find_missed(known, &mut on_disk)?;
        // Events for our own changes may still come after this listing: they stay
        // explained, unless they never came at all.
        st.own_names.retain(|_, e| e.since.elapsed() < OWN_NAME_TTL);

        let modseq = next_modseq(st.idx.highest_modseq);
        let mut changed = false;
        let mut expunged = Vec::new();
        let mut kept = Vec::with_capacity(st.idx.records.len());
        for mut r in std::mem::take(&mut st.idx.records) {
            match on_disk.remove(base_of(&r.filename)) {
                None => {
                    expunged.push(r.uid);
                }
                Some((name, in_new)) => {
                    if name != r.filename || in_new != r.in_new {
                        let p = filename::parse(&name);
                        if p.flags.bits() != r.flags || p.keywords.bits() != r.keywords {
                            r.flags = p.flags.bits();
                            r.keywords = p.keywords.bits();
                            r.modseq = modseq;
                            changed = true;
                        }
                        r.filename = name;
                        r.in_new = in_new;
                    }
                    kept.push(r);
                }
            }
        }
        st.idx.records = kept;
        if !expunged.is_empty() {
            changed = true;
            for &u in &expunged {
                st.idx.expunged.push((u, modseq));
            }
            trim_expunge_log(&mut st.idx);
            self.drop_cached(st);
        }

        // Files we have no record of: UIDs from the uidlist (another process assigned them)
        // or new ones under the lock.
        let mut list = before.as_ref().map(|(l, _)| l.clone());
        let mut ul_stamp = before.as_ref().map(|(_, s)| *s);
        if let Some(l) = &list
            && st.idx.uid_validity != 0
            && l.uid_validity != st.idx.uid_validity
        {
            warn!(dir = %self.dir.display(), old = st.idx.uid_validity, new = l.uid_validity,
                  "UIDVALIDITY changed on disk; dropping the index");
            st.idx.records.clear();
            st.idx.expunged.clear();
            return self.rebuild_after_validity_change(st, cur_stamp, new_stamp);
        }
        let needs_uid = |list: &Option<Uidlist>, on_disk: &HashMap<String, (String, bool)>| {
            let known: HashSet<&str> = list
                .iter()
                .flat_map(|l| l.records.iter().map(|r| r.base()))
                .collect();
            on_disk.keys().any(|b| !known.contains(b.as_str()))
        };
        let lock_for_write = needs_uid(&list, &on_disk) || list.is_none() || salvaged;
        let mut lock = None;
        if lock_for_write {
            let l = UidlistLock::acquire(&self.dir, self.opts.lock_timeout, self.opts.stale_lock)?;
            let (fresh, _, _) = self.read_uidlist_for_write(st)?;
            list = Some(fresh);
            lock = Some(l);
        }
        let mut list = list.expect("uidlist read or created above");
        if st.idx.uid_validity == 0 {
            st.idx.uid_validity = list.uid_validity;
        }
        // The index may know of UIDs the uidlist lost (a damaged uidlist): never go back.
        list.next_uid = list.next_uid.max(st.idx.next_uid);

        let pre_next_uid = before.as_ref().map(|(l, _)| l.next_uid).unwrap_or(0);
        st.complete_below = pre_next_uid;
        let by_base: HashMap<String, usize> = list
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.base().to_string(), i))
            .collect();
        let mut added = Vec::new();
        // Files renamed between the listing and the stat below: still there, only not
        // indexed this time.
        let mut moved = HashSet::new();
        let mut uidlist_dirty = salvaged;
        let mut new_names: Vec<(String, String, bool)> = on_disk
            .into_iter()
            .map(|(base, (name, in_new))| (base, name, in_new))
            .collect();
        // Oldest first, so UIDs follow delivery order as in Dovecot.
        new_names.sort_by(|a, b| a.0.cmp(&b.0));
        for (base, name, in_new) in new_names {
            let (uid, pop3_uidl) = match by_base.get(&base) {
                Some(&i) => (
                    list.records[i].uid,
                    list.records[i].field('P').map(str::to_string),
                ),
                None => {
                    let uid = list.next_uid;
                    list.next_uid += 1;
                    list.records.push(UidRecord {
                        uid,
                        fields: Vec::new(),
                        filename: name.clone(),
                    });
                    uidlist_dirty = true;
                    (uid, None)
                }
            };
            let path = self
                .dir
                .join(if in_new { "new" } else { "cur" })
                .join(&name);
            let md = match std::fs::metadata(&path) {
                Ok(md) => md,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    moved.insert(uid);
                    st.force_sync = true;
                    continue;
                }
                Err(e) => return Err(StorageError::io(format!("reading {}", path.display()), e)),
            };
            let p = filename::parse(&name);
            let (flags, keywords) = (p.flags.bits(), p.keywords.bits());
            let (size, vsize) = (p.size.unwrap_or(md.len()), p.vsize);
            added.push(IndexRecord {
                uid,
                filename: name,
                in_new,
                flags,
                keywords,
                pop3_uidl,
                modseq,
                internal_date: md.modified().map(unix_secs).unwrap_or(0),
                size,
                vsize,
                // Another program wrote it: first seen now is the best save date there is.
                save_date: Some(unix_secs(SystemTime::now())),
            });
        }
        if let Some(l) = lock {
            // Messages this index knows that the uidlist lacks (it was lost or damaged): write
            // them back with their UIDs, or another program would number them anew.
            let listed: HashSet<u32> = list.records.iter().map(|r| r.uid).collect();
            for r in &st.idx.records {
                if !listed.contains(&r.uid) {
                    list.records.push(UidRecord {
                        uid: r.uid,
                        fields: Vec::new(),
                        filename: r.filename.clone(),
                    });
                    uidlist_dirty = true;
                }
            }
            // Drop records of files that were already gone before we listed (their UIDs stay
            // used: next_uid never moves back).
            let present: HashSet<u32> = st
                .idx
                .records
                .iter()
                .map(|r| r.uid)
                .chain(added.iter().map(|r| r.uid))
                .collect();
            let before_len = list.records.len();
            list.records.retain(|r| {
                r.uid >= pre_next_uid || present.contains(&r.uid) || moved.contains(&r.uid)
            });
            uidlist_dirty |= list.records.len() != before_len;
            list.records.sort_by_key(|r| r.uid);
            if uidlist_dirty || before.is_none() {
                ul_stamp = Some(l.commit(&list, self.opts.fsync)?);
            }
        }
        if !added.is_empty() {
            changed = true;
            st.idx.records.extend(added);
            st.idx.records.sort_by_key(|r| r.uid);
            st.idx.records.dedup_by_key(|r| r.uid);
        }
        st.idx.next_uid = list.next_uid;
        st.idx.cur_stamp = cur_stamp;
        st.idx.new_stamp = new_stamp;
        st.idx.uidlist_stamp = to_stamp(ul_stamp);
        if changed {
            st.idx.highest_modseq = modseq;
            self.note_change(st);
        } else {
            st.dirty = true;
            self.maybe_write_index(st);
        }
        Ok(())
    }

    /// readdir promises nothing about an entry renamed while it runs (another process
    /// changing a message's flags): the listing may show neither name. So a known message
    /// missing from `on_disk` is looked for again before anyone may take it as expunged;
    /// treating it as gone would drop its UID and number the file anew. Listing again
    /// stops as soon as a pass finds none of the missing ones (truly deleted files cost one
    /// extra listing), or after a few passes.
    fn find_missed<'a>(
        &self,
        known: impl Iterator<Item = &'a str>,
        on_disk: &mut HashMap<String, (String, bool)>,
    ) -> Result<()> {
        const PASSES: usize = 4;
        let mut missing: HashSet<String> = known
            .filter(|b| !on_disk.contains_key(*b))
            .map(str::to_string)
            .collect();
        for _ in 0..PASSES {
            if missing.is_empty() {
                break;
            }
            let mut found = false;
            // cur/ first: a file found in both (moved between the two listings) is there.
            for (dir, in_new) in [("cur", false), ("new", true)] {
                for name in read_dir_names(&self.dir.join(dir))? {
                    let base = base_of(&name);
                    if missing.remove(base) {
                        on_disk.insert(base.to_string(), (name, in_new));
                        found = true;
                    }
                }
            }
            if !found {
                break;
            }
        }
        Ok(())
    }

    fn rebuild_after_validity_change(
        &self,
        st: &mut State,
        cur_stamp: Stamp,
        new_stamp: Stamp,
    ) -> Result<()> {
        let floor = st.idx.highest_modseq.max(modseq_floor());
        st.idx = Self::fresh_index();
        st.idx.highest_modseq = floor;
        st.idx.expunge_floor = floor;
        info!(dir = %self.dir.display(), "re-reading mailbox with its new UIDVALIDITY");
        self.full_sync(st, cur_stamp, new_stamp)
    }
}

/// Longest legacy POP3 UIDL (RFC 1939: 1 to 70 characters in 0x21..=0x7E).
const POP3_UIDL_MAX: usize = 70;

/// Whether `uidl` is a valid RFC 1939 unique-id, and so safe as a uidlist `P` field.
fn valid_pop3_uidl(uidl: &str) -> bool {
    !uidl.is_empty()
        && uidl.len() <= POP3_UIDL_MAX
        && uidl.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// How [`Mailbox::commit_numbered`] numbers the messages.
enum Numbering {
    /// Fresh UIDs, as [`Mailbox::commit`].
    New,
    /// The old server's UIDVALIDITY, each message's old UID, and its UIDNEXT.
    Keep {
        uid_validity: u32,
        uids: Vec<u32>,
        next_uid: u32,
    },
}

/// Commits for `roost import`: the old server's legacy POP3 UIDLs and IMAP UIDs.
impl Mailbox {
    /// [`Mailbox::commit`] into `cur/` with each message's old POP3 UIDL stored as its
    /// legacy UIDL (the uidlist `P` field, which POP3 then serves instead of our own), so
    /// a client that leaves mail on the server downloads nothing twice.
    pub fn commit_with_pop3_uidls(&self, msgs: Vec<(NewMessage, String)>) -> Result<Vec<u32>> {
        let (msgs, uidls): (Vec<_>, Vec<_>) = msgs.into_iter().unzip();
        let uidls = uidls.into_iter().map(Some).collect();
        self.commit_numbered(msgs, uidls, Numbering::New, false)
    }

    /// [`Mailbox::commit`] keeping the old server's UIDVALIDITY and UIDs, so IMAP clients
    /// keep their caches. Allowed into a mailbox without messages (its UIDVALIDITY is then
    /// replaced), or one whose messages already carry `uid_validity` (a resumed import);
    /// `uids` (one per message) must be strictly increasing, nonzero and at least the
    /// mailbox's next UID. Afterwards the next UID is at least `next_uid`.
    pub fn commit_keeping_uids(
        &self,
        uid_validity: u32,
        next_uid: u32,
        msgs: Vec<(u32, NewMessage)>,
    ) -> Result<Vec<u32>> {
        let (uids, msgs): (Vec<_>, Vec<_>) = msgs.into_iter().unzip();
        let none = vec![None; msgs.len()];
        let keep = Numbering::Keep {
            uid_validity,
            uids,
            next_uid,
        };
        self.commit_numbered(msgs, none, keep, false)
    }

    /// The one commit path: every UID is decided (and every refusal made) before any file
    /// moves; then, under the uidlist lock, each file is renamed into `new/` (a delivery
    /// without flags) or `cur/`, the directories are synced, and the uidlist is committed.
    fn commit_numbered(
        &self,
        msgs: Vec<NewMessage>,
        pop3_uidls: Vec<Option<String>>,
        numbering: Numbering,
        deliver_to_new: bool,
    ) -> Result<Vec<u32>> {
        if let Some(bad) = pop3_uidls.iter().flatten().find(|u| !valid_pop3_uidl(u)) {
            return Err(StorageError::NotAllowed(format!(
                "{bad:?} is not a valid POP3 UIDL (1-70 printable characters, no spaces)"
            )));
        }
        if let Numbering::Keep {
            uid_validity, uids, ..
        } = &numbering
        {
            if *uid_validity == 0 {
                return Err(StorageError::NotAllowed(
                    "UIDVALIDITY 0 is not valid".into(),
                ));
            }
            if uids.first() == Some(&0) || uids.windows(2).any(|w| w[0] >= w[1]) {
                return Err(StorageError::NotAllowed(
                    "kept UIDs must be nonzero and strictly increasing".into(),
                ));
            }
        }
        let mut st = self.lock();
        self.check_deleted(&st)?;
        self.sync_locked(&mut st, false)?;
        let mut kw_sets = Vec::with_capacity(msgs.len());
        let mut kw_added = false;
        for m in &msgs {
            let mut set = KeywordSet::default();
            for k in &m.keywords {
                let before = st.keywords.names.len();
                if let Some(i) = st.keywords.get_or_add(k) {
                    set.insert(i);
                }
                kw_added |= st.keywords.names.len() != before;
            }
            kw_sets.push(set);
        }

        let lock = UidlistLock::acquire(&self.dir, self.opts.lock_timeout, self.opts.stale_lock)?;
        let (mut list, outside_change, read_stamp) = self.read_uidlist_for_write(&st)?;
        let listed_next = list.next_uid;
        // Decide every UID before touching a file, so a refusal leaves nothing behind.
        let mut validity_changed = false;
        let (uids, final_next) = match &numbering {
            Numbering::New => {
                let first = list.next_uid.max(st.idx.next_uid);
                let uids: Vec<u32> = (first..).take(msgs.len()).collect();
                (uids, first + msgs.len() as u32)
            }
            Numbering::Keep {
                uid_validity,
                uids,
                next_uid,
            } => {
                if uids.len() != msgs.len() {
                    return Err(StorageError::NotAllowed("one UID per message".into()));
                }
                let has_messages = !st.idx.records.is_empty() || !list.records.is_empty();
                let floor = if list.uid_validity == *uid_validity {
                    list.next_uid.max(st.idx.next_uid)
                } else if has_messages {
                    return Err(StorageError::NotAllowed(format!(
                        "mailbox {} already has messages under UIDVALIDITY {}; cannot keep \
                         UIDVALIDITY {uid_validity}",
                        self.name.as_str(),
                        list.uid_validity
                    )));
                } else {
                    validity_changed = true;
                    1
                };
                if let Some(&first) = uids.first()
                    && first < floor
                {
                    return Err(StorageError::NotAllowed(format!(
                        "UID {first} is below the next UID {floor} of mailbox {}",
                        self.name.as_str()
                    )));
                }
                let last_next = uids.last().map_or(floor, |u| u + 1);
                (uids.clone(), last_next.max(floor).max(*next_uid))
            }
        };
        if let Numbering::Keep { uid_validity, .. } = numbering
            && validity_changed
        {
            list.uid_validity = uid_validity;
            list.next_uid = 1;
            list.records.clear();
        }
        if kw_added {
            keywords::write_keywords(&self.dir, &st.keywords, self.opts.fsync)?;
            st.keywords_stamp = uidlist::stamp(&self.dir.join("dovecot-keywords"))?;
        }
        // New records are appended to the file in place, as Dovecot does, rather than the
        // whole file rewritten (it grows with the mailbox: 3.5 MB at 100,000 messages).
        // Records of messages that were gone at this index's last listing, or that this
        // process expunged since, are dropped (Dovecot drops them too) once they are a
        // quarter of the file, by rewriting it. Only when the uidlist is the one this index
        // last saw and no listing is due: a file renamed under the last listing keeps its
        // record until it is found again.
        let mut compacted = false;
        if !outside_change && !st.force_sync && list.uid_validity == st.idx.uid_validity {
            let complete_below = st.complete_below;
            let records = &st.idx.records;
            let dead = |r: &UidRecord| {
                r.uid < complete_below && records.binary_search_by_key(&r.uid, |x| x.uid).is_err()
            };
            if list.records.iter().filter(|r| dead(r)).count() * 4 > list.records.len() {
                list.records.retain(|r| !dead(r));
                compacted = true;
            }
        }
        let old_records = list.records.len();
        let mut placed = Vec::with_capacity(msgs.len());
        // Only a directory that gained an entry needs its fsync; an APPEND without flags
        // lands in new/ alone, and each directory fsync is a synchronous disk write.
        let mut touched = [false; 2];
        for (((m, kw), uid), pop3_uidl) in msgs.into_iter().zip(kw_sets).zip(uids).zip(pop3_uidls) {
            let base = filename::new_unique_base(m.tmp.size, m.tmp.vsize);
            let in_new = deliver_to_new && m.flags.is_empty() && kw.is_empty();
            let fname = if in_new {
                base
            } else {
                filename::with_flags(&base, m.flags, kw)
            };
            let dest = self
                .dir
                .join(if in_new { "new" } else { "cur" })
                .join(&fname);
            std::fs::rename(&m.tmp.path, &dest).map_err(io_ctx("moving message to", &dest))?;
            touched[usize::from(!in_new)] = true;
            let internal_date = match m.tmp.internal_date {
                Some(t) => t,
                None => std::fs::metadata(&dest)
                    .and_then(|md| md.modified())
                    .map(unix_secs)
                    .unwrap_or(0),
            };
            note_own(&mut st, &fname);
            let mut fields = vec![
                ('S', m.tmp.size.to_string()),
                ('W', m.tmp.vsize.to_string()),
            ];
            if let Some(p) = &pop3_uidl {
                fields.push(('P', p.clone()));
            }
            list.records.push(UidRecord {
                uid,
                fields,
                filename: fname.clone(),
            });
            placed.push(IndexRecord {
                uid,
                filename: fname,
                in_new,
                flags: m.flags.bits(),
                keywords: kw.bits(),
                pop3_uidl,
                modseq: 0,
                internal_date,
                size: m.tmp.size,
                vsize: Some(m.tmp.vsize),
                save_date: Some(unix_secs(SystemTime::now())),
            });
        }
        if self.opts.fsync {
            for (sub, _) in ["new", "cur"].into_iter().zip(touched).filter(|(_, t)| *t) {
                crate::maildir::fsync_dir(&self.dir.join(sub))?;
            }
        }
        list.next_uid = final_next;
        // Appending leaves the header's next UID behind; readers take the last record's
        // UID + 1 when it is higher, so only a next UID beyond that needs the header.
        let appendable = !outside_change
            && !compacted
            && !validity_changed
            && list.records.last().is_some_and(|r| r.uid + 1 == final_next);
        let base = read_stamp.filter(|_| appendable);
        let stamp = lock.append_or_commit(&list, old_records, base, self.opts.fsync)?;

        if validity_changed {
            // Expunges and recency under the old UIDVALIDITY mean nothing under the new one.
            st.idx.expunged.clear();
            st.idx.expunge_floor = st.idx.highest_modseq;
            st.idx.first_recent_uid = 1;
        }
        let modseq = next_modseq(st.idx.highest_modseq);
        st.idx.highest_modseq = modseq;
        let uids: Vec<u32> = placed.iter().map(|r| r.uid).collect();
        for mut r in placed {
            r.modseq = modseq;
            st.idx.records.push(r);
        }
        st.idx.next_uid = final_next;
        st.idx.uid_validity = list.uid_validity;
        if st.complete_below >= listed_next && !validity_changed {
            // No record of another process's lies between: all below are known or ours.
            st.complete_below = final_next;
        }
        if outside_change {
            st.force_sync = true;
        } else {
            self.adopt_own_stamps(&mut st)?;
            st.idx.uidlist_stamp = to_stamp(Some(stamp));
        }
        self.note_change(&mut st);
        self.publish(&mut st);
        Ok(uids)
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.flush_index(true);
    }
}

/// Keep the expunge log bounded; what is dropped moves the floor up past it.
fn trim_expunge_log(idx: &mut IndexFile) {
    if idx.expunged.len() > EXPUNGE_LOG_MAX {
        let excess = idx.expunged.len() - EXPUNGE_LOG_MAX;
        for (_, modseq) in idx.expunged.drain(..excess) {
            idx.expunge_floor = idx.expunge_floor.max(modseq);
        }
    }
}

/// What a damaged `dovecot-uidlist` still says: its UIDVALIDITY (0 if unreadable), every
/// record line that parses on its own, in increasing UID order, and a next UID above every
/// number the file mentions, so that no UID it ever handed out is given again.
fn salvage_uidlist(text: &str) -> Uidlist {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let (mut uid_validity, mut next_uid) = (0u32, 1u32);
    match header.first() {
        Some(&"1") => {
            uid_validity = header.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
            next_uid = header.get(2).and_then(|v| v.parse().ok()).unwrap_or(1);
        }
        _ => {
            for f in header.iter().skip(1) {
                if let Some(v) = f.strip_prefix('V') {
                    uid_validity = v.parse().unwrap_or(0);
                } else if let Some(n) = f.strip_prefix('N') {
                    next_uid = n.parse().unwrap_or(1);
                }
            }
        }
    }
    let mut records: Vec<UidRecord> = Vec::new();
    for line in lines {
        let digits: String = line.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse::<u32>() {
            next_uid = next_uid.max(n.saturating_add(1));
        }
        let Ok(one) = Uidlist::parse(&format!("3 V1 N{}\n{line}\n", u32::MAX)) else {
            continue;
        };
        for r in one.records {
            if records.last().is_none_or(|last| r.uid > last.uid) {
                records.push(r);
            }
        }
    }
    Uidlist {
        uid_validity,
        next_uid,
        guid: Some(new_guid()),
        header_extra: Vec::new(),
        records,
    }
}

/// A new UIDVALIDITY: the current time, as Dovecot does.
pub(crate) fn new_uid_validity() -> u32 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
        .max(1)
}

fn new_guid() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What changed after `modseq` according to the index in memory; incomplete when the
/// expunge log no longer reaches back that far.
fn changes_in(idx: &IndexFile, modseq: u64) -> Changes {
    Changes {
        highest_modseq: idx.highest_modseq,
        expunged: idx
            .expunged
            .iter()
            .filter(|e| e.1 > modseq)
            .map(|e| e.0)
            .collect(),
        changed: idx
            .records
            .iter()
            .filter(|r| r.modseq > modseq)
            .map(MessageInfo::from_record)
            .collect(),
        complete: modseq >= idx.expunge_floor,
    }
}
