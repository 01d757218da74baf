//! A dropped store gives back its inotify instance. Instances are a per-user budget (128 by
//! default): stores that kept theirs after being dropped used it up within one test binary,
//! and every later store of that user, in any process, silently had no change events.
//! Its own test binary, so no other test's stores change the count.

use std::path::Path;
use std::time::{Duration, Instant};

use roost_storage::MailboxName;
use roost_testkit::StoreBuilder;

/// The inotify instances this process holds.
fn inotify_instances() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == Path::new("anon_inode:inotify"))
        .count()
}

/// Wait until the count is back to `want`: the watcher thread closes the instance when it
/// wakes, which on a loaded machine can take a moment.
fn back_to(want: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = inotify_instances();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {now} inotify instances, {want} before"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dropped_stores_close_their_inotify_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let before = inotify_instances();
    let inbox = MailboxName::new("INBOX").unwrap();

    // With watched mailboxes, one of them since deleted (its watch went with it).
    for round in 0..3 {
        let store = StoreBuilder::new(tmp.path()).build();
        let user = store.user(&format!("u{round}")).unwrap();
        let mb = user.open(&inbox).unwrap();
        mb.deliver(&mut &b"Subject: x\n\nbody\n"[..], 1 << 20)
            .unwrap();
        drop(mb);
        let other = store.user(&format!("gone{round}")).unwrap();
        drop(other.open(&inbox).unwrap());
        std::fs::remove_dir_all(tmp.path().join(format!("gone{round}"))).unwrap();
        assert!(inotify_instances() > before, "the store watches");
        drop((user, other, store));
        back_to(before, &format!("round {round}, after dropping the store"));
    }

    // With nothing ever watched.
    let store = StoreBuilder::new(tmp.path()).build();
    drop(store);
    back_to(before, "a store that opened no mailbox");

    // Far more stores than the default per-user budget, one after another.
    for _ in 0..200 {
        drop(StoreBuilder::new(tmp.path()).build());
    }
    back_to(before, "after 200 stores");
}
