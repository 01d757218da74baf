//! Seeing what outside programs do: inotify on `new/` and `cur/` of every open mailbox,
//! feeding [`Mailbox::note_fs_event`]; the store's periodic rescan is the fallback where
//! inotify is missing or overflows (NFS, too many watches).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};
use tracing::{debug, warn};

use crate::mailbox::Mailbox;

/// Let a burst of events (a whole `mv` of many files) settle before syncing once.
const SETTLE: Duration = Duration::from_millis(15);

type WatchMap = Arc<Mutex<HashMap<WatchDescriptor, Weak<Mailbox>>>>;

/// The inotify instance and which mailbox each watch belongs to. Dropping it (with its
/// store) stops the thread and closes the instance: inotify instances are a small per-user
/// budget (128 by default), and stores that leaked theirs used it up, leaving later stores
/// of the same user (a test binary, `roost` admin commands) without change events.
pub(crate) struct Watcher {
    watches: Watches,
    map: WatchMap,
    stop: Arc<AtomicBool>,
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
        let watches = inotify.watches();
        let map: WatchMap = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_map, thread_stop) = (map.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("roost-inotify".into())
            .spawn(move || run(inotify, thread_map, thread_stop));
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start the inotify thread");
            return None;
        }
        Some(Watcher { watches, map, stop })
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

fn run(mut inotify: Inotify, map: WatchMap, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let events = match inotify.read_events_blocking(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                warn!(error = %e, "inotify read failed; watcher stops, periodic rescans go on");
                return;
            }
        };
        // The store is gone: returning drops the instance, which closes it.
        if stop.load(Ordering::SeqCst) {
            return;
        }
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
                due = map.values().filter_map(Weak::upgrade).collect();
            }
        }
        if due.is_empty() {
            continue;
        }
        std::thread::sleep(SETTLE);
        for mb in due {
            if let Err(e) = mb.sync_now(overflow) {
                warn!(mailbox = mb.name().as_str(), error = %e, "sync after an outside change failed");
            }
        }
    }
}
