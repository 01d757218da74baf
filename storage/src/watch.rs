//! Seeing what outside programs do: inotify on `new/` and `cur/` of every open mailbox,
//! feeding [`Mailbox::note_fs_event`]; the store's periodic rescan is the fallback where
//! inotify is missing or overflows (NFS, too many watches).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use tracing::{debug, warn};

use crate::mailbox::Mailbox;

/// Let a burst of events (a whole `mv` of many files) settle before syncing once.
const SETTLE: Duration = Duration::from_millis(15);
/// Events this soon after the last sync are taken for a burst and wait [`SETTLE`]; the
/// first change after a quiet spell (a delivery) waits only [`FIRST_SETTLE`].
const BURST: Duration = Duration::from_millis(100);
/// Enough for one program's few back-to-back changes (the files of a renamed mailbox, a
/// message moved from `new/` to `cur/`) to be seen in one sync, as one state.
const FIRST_SETTLE: Duration = Duration::from_millis(3);

type WatchMap = Arc<Mutex<HashMap<WatchDescriptor, Weak<Mailbox>>>>;

/// Tells a mailbox whether every change event the kernel has queued so far has been handed
/// to it ([`Mailbox::note_fs_event`]): then a directory stamp that has not moved still proves
/// "no outside change", even in the clock tick of the mailbox's last listing.
///
/// inotify queues an event before the system call that caused it returns, so an outside
/// change that finished before [`caught_up`](WatchProbe::caught_up) asks is either still in
/// the queue (`FIONREAD` is not 0) or was read by the watcher thread, which raises `busy`
/// before it reads and lowers it only after every event of the batch was noted.
pub(crate) struct WatchProbe {
    /// A duplicate of the instance's descriptor: it stays valid (and answers `FIONREAD`)
    /// for as long as someone holds the probe, whatever the watcher thread does.
    fd: OwnedFd,
    busy: AtomicBool,
    /// Cleared when the watcher stops or the queue overflowed without being handled.
    live: AtomicBool,
}

impl WatchProbe {
    /// Whether no event the kernel queued before this call is still unnoted.
    pub(crate) fn caught_up(&self) -> bool {
        if !self.live.load(Ordering::SeqCst) {
            return false;
        }
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which points at `queued`.
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), libc::FIONREAD, &mut queued) };
        // Loaded after the queue was seen empty: a batch read before that is noted by now
        // unless `busy` is still up.
        r == 0 && queued == 0 && !self.busy.load(Ordering::SeqCst)
    }
}

/// The inotify instance and which mailbox each watch belongs to. Dropping it (with its
/// store) stops the thread and closes the instance: inotify instances are a small per-user
/// budget (128 by default), and stores that leaked theirs used it up, leaving later stores
/// of the same user (a test binary, `roost` admin commands) without change events.
pub(crate) struct Watcher {
    watches: Watches,
    map: WatchMap,
    stop: Arc<AtomicBool>,
    probe: Arc<WatchProbe>,
}

impl Watcher {
    /// Start the watcher thread; `None` (with a warning) where inotify is unavailable.
    pub(crate) fn start() -> Option<Watcher> {
        let inotify = match Inotify::init() {
            Ok(i) => i,
            Err(e) => {
                warn!(error = %e, "inotify unavailable; outside changes are seen by periodic rescans only");
                return None;
            }
        };
        let probe = match inotify.as_fd().try_clone_to_owned() {
            Ok(fd) => Arc::new(WatchProbe {
                fd,
                busy: AtomicBool::new(false),
                live: AtomicBool::new(true),
            }),
            Err(e) => {
                warn!(error = %e, "cannot duplicate the inotify descriptor");
                return None;
            }
        };
        let watches = inotify.watches();
        let map: WatchMap = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_map, thread_stop, thread_probe) = (map.clone(), stop.clone(), probe.clone());
        let spawned = std::thread::Builder::new()
            .name("roost-inotify".into())
            .spawn(move || run(inotify, thread_map, thread_stop, thread_probe));
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start the inotify thread");
            return None;
        }
        Some(Watcher {
            watches,
            map,
            stop,
            probe,
        })
    }

    /// Watch the `new/` and `cur/` directories of a newly opened mailbox.
    pub(crate) fn add(&self, mb: &Arc<Mailbox>) -> Vec<WatchDescriptor> {
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::ONLYDIR;
        let mut wds = Vec::new();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for sub in ["new", "cur"] {
            let path = mb.dir().join(sub);
            match self.watches.clone().add(&path, mask) {
                Ok(wd) => {
                    map.insert(wd.clone(), Arc::downgrade(mb));
                    wds.push(wd);
                }
                Err(e) => debug!(path = %path.display(), error = %e,
                                 "cannot watch; relying on periodic rescans"),
            }
        }
        if wds.len() == 2 {
            // Both directories are watched from here on: every later outside change of
            // either queues an event.
            mb.set_watched(Arc::downgrade(&self.probe));
        }
        wds
    }

    /// Stop watching a mailbox that nobody has open any more.
    pub(crate) fn remove(&self, wds: Vec<WatchDescriptor>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for wd in wds {
            map.remove(&wd);
            // Fails harmlessly when the directory is already gone (the kernel dropped it).
            let _ = self.watches.clone().remove(wd);
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.probe.live.store(false, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        // The thread sleeps in a blocking read. Removing a watch queues an IN_IGNORED event
        // that wakes it to see `stop`; with no watch left, one is made on `/` for the purpose.
        let wds: Vec<WatchDescriptor> = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.drain().map(|(wd, _)| wd).collect()
        };
        let mut woken = false;
        for wd in wds {
            // Fails for a directory already gone; its IN_IGNORED was queued back then.
            woken |= self.watches.clone().remove(wd).is_ok();
        }
        if !woken {
            match self.watches.clone().add("/", WatchMask::ATTRIB) {
                Ok(wd) => {
                    let _ = self.watches.clone().remove(wd);
                }
                Err(e) => debug!(error = %e, "cannot wake the inotify thread; it stays"),
            }
        }
    }
}

fn run(mut inotify: Inotify, map: WatchMap, stop: Arc<AtomicBool>, probe: Arc<WatchProbe>) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_sync: Option<Instant> = None;
    loop {
        if let Err(e) = wait_readable(&inotify) {
            probe.live.store(false, Ordering::SeqCst);
            warn!(error = %e, "inotify wait failed; watcher stops, periodic rescans go on");
            return;
        }
        // The store is gone: returning drops the instance, which closes it.
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // Raised before the read empties the queue, lowered once the batch is noted.
        probe.busy.store(true, Ordering::SeqCst);
        let events = match inotify.read_events(&mut buf) {
            Ok(ev) => ev,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                probe.busy.store(false, Ordering::SeqCst);
                continue;
            }
            Err(e) => {
                probe.live.store(false, Ordering::SeqCst);
                warn!(error = %e, "inotify read failed; watcher stops, periodic rescans go on");
                return;
            }
        };
        let mut due: Vec<Arc<Mailbox>> = Vec::new();
        let mut overflow = false;
        {
            let map = map.lock().unwrap_or_else(|p| p.into_inner());
            for ev in events {
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    overflow = true;
                    continue;
                }
                let Some(mb) = map.get(&ev.wd).and_then(Weak::upgrade) else {
                    continue;
                };
                let name = ev.name.and_then(|n| n.to_str()).unwrap_or("");
                let outside = ev.mask.contains(EventMask::DELETE_SELF) || mb.note_fs_event(name);
                if outside && !due.iter().any(|m| Arc::ptr_eq(m, &mb)) {
                    due.push(mb);
                }
            }
            if overflow {
                // Events were lost: every mailbox rescans before it trusts its stamps again.
                due = map.values().filter_map(Weak::upgrade).collect();
                for mb in &due {
                    mb.note_fs_event("");
                }
            }
        }
        probe.busy.store(false, Ordering::SeqCst);
        if due.is_empty() {
            continue;
        }
        if overflow || last_sync.is_some_and(|t| t.elapsed() < BURST) {
            std::thread::sleep(SETTLE);
        } else {
            std::thread::sleep(FIRST_SETTLE);
        }
        for mb in due {
            if let Err(e) = mb.sync_now(overflow) {
                warn!(mailbox = mb.name().as_str(), error = %e, "sync after an outside change failed");
            }
        }
        last_sync = Some(Instant::now());
    }
}

/// Block until the instance has an event to read (or was woken to stop).
fn wait_readable(inotify: &Inotify) -> std::io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: inotify.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, for the length given.
        let r = unsafe { libc::poll(&mut pfd, 1, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
