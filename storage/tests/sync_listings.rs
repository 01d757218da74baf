//! When a mailbox lists its directories again, and when it may trust that nothing changed.
//!
//! A directory stamp (mtime, size, inode) that has not moved proves nothing in the clock
//! tick of the last listing: a change then may carry the same mtime. Without the watcher,
//! such a directory is listed on every look until its mtime is old enough. With the
//! watcher, it is trusted once every inotify event the kernel queued has been handed to the
//! mailbox; an outside change whose event is still queued must still be seen at once.
//!
//! Directory mtimes are set into the future here: then the clock can never make a stamp
//! trusted, and only the watcher can (setting a time queues no event: the watch has no
//! IN_ATTRIB).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use roost_storage::{FlagOp, Flags, Mailbox, MailboxName, MailboxOptions, Store};
use roost_testkit::StoreBuilder;
use roost_testkit::store::open;

fn store_at(dir: &Path) -> Arc<Store> {
    StoreBuilder::new(dir).build()
}

/// Messages written straight into `cur/`, before any store watches the mailbox.
fn seed(root: &Path, user: &str, n: usize) {
    let store = store_at(root);
    let mb = open(&store, user, "INBOX");
    for i in 0..n {
        let name = format!("1600000000.M{i}P1.host:2,");
        std::fs::write(
            mb.dir().join("cur").join(name),
            format!("Subject: {i}\n\nbody\n"),
        )
        .unwrap();
    }
    mb.sync_now(true).unwrap();
}

/// Give `new/` and `cur/` an mtime `ahead` of now, with no inotify event.
fn mtimes_ahead(mb: &Mailbox, ahead: Duration) {
    for sub in ["new", "cur"] {
        let when = SystemTime::now() + ahead;
        File::open(mb.dir().join(sub))
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

/// The UIDs the mailbox shows now.
fn uids(mb: &Mailbox) -> Vec<u32> {
    mb.snapshot()
        .unwrap()
        .messages
        .iter()
        .map(|m| m.uid)
        .collect()
}

fn mtime(dir: &Path) -> SystemTime {
    std::fs::metadata(dir).unwrap().modified().unwrap()
}

#[test]
fn a_watched_mailbox_trusts_a_fresh_stamp_once_its_events_are_in() {
    let tmp = tempfile::tempdir().unwrap();
    seed(tmp.path(), "u", 5);
    let store = store_at(tmp.path());
    let mb = open(&store, "u", "INBOX");
    mtimes_ahead(&mb, Duration::from_secs(60));
    // This listing starts while the watcher watches; no event is ever queued after it.
    mb.sync_now(true).unwrap();
    let listed = mb.full_sync_count();
    for _ in 0..20 {
        mb.changes_since(0).unwrap();
        mb.snapshot().unwrap();
    }
    assert_eq!(
        mb.full_sync_count(),
        listed,
        "looks at an unchanged watched mailbox listed its directories again"
    );
}

#[test]
fn an_unwatched_mailbox_lists_a_fresh_stamp_again() {
    // The other side of the test above: what the watcher saves is real, and without it
    // the stamp is not trusted.
    let tmp = tempfile::tempdir().unwrap();
    seed(tmp.path(), "u", 5);
    let dir = open(&store_at(tmp.path()), "u", "INBOX")
        .dir()
        .to_path_buf();
    // Opened on its own, as `roost deliver` does: no store, no watcher.
    let inbox = MailboxName::new("INBOX").unwrap();
    let mb = Mailbox::open(inbox, dir, MailboxOptions::default()).unwrap();
    mtimes_ahead(&mb, Duration::from_secs(60));
    mb.sync_now(true).unwrap();
    let listed = mb.full_sync_count();
    mb.changes_since(0).unwrap();
    mb.snapshot().unwrap();
    assert_eq!(mb.full_sync_count(), listed + 2);
}

#[test]
fn an_outside_rename_in_the_same_tick_is_seen_at_once() {
    // Another store (to this mailbox, another program) renames a message for a flag
    // change and the directory keeps its old stamp, as a change within one clock tick
    // does. The watcher may not have read the event yet: the look right after must list
    // the directory anyway.
    let tmp = tempfile::tempdir().unwrap();
    seed(tmp.path(), "u", 20);
    let (a, b) = (store_at(tmp.path()), store_at(tmp.path()));
    let mine = open(&a, "u", "INBOX");
    let theirs = open(&b, "u", "INBOX");
    let all = uids(&mine);
    let cur = mine.dir().join("cur");
    for round in 0..60 {
        let uid = all[round % all.len()];
        let on = (round / all.len()).is_multiple_of(2);
        mtimes_ahead(&mine, Duration::from_secs(60));
        mine.sync_now(true).unwrap();
        let before = mtime(&cur);
        let op = if on { FlagOp::Add } else { FlagOp::Remove };
        theirs.store(&[uid], op, Flags::FLAGGED, &[], None).unwrap();
        File::open(&cur).unwrap().set_modified(before).unwrap();
        let seen = mine
            .snapshot()
            .unwrap()
            .messages
            .iter()
            .find(|m| m.uid == uid)
            .map(|m| m.flags.contains(Flags::FLAGGED));
        assert_eq!(
            seen,
            Some(on),
            "round {round}: the outside flag change of UID {uid} was not seen"
        );
    }
}

#[test]
fn own_renames_back_and_forth_are_not_taken_for_outside_changes() {
    // Toggling a flag renames A to B and back to A: four events for two names, each owed
    // twice. None of them is an outside change, so none may cost a listing.
    let tmp = tempfile::tempdir().unwrap();
    seed(tmp.path(), "u", 3);
    let store = store_at(tmp.path());
    let mb = open(&store, "u", "INBOX");
    let uid = mb.snapshot().unwrap().messages[0].uid;
    mtimes_ahead(&mb, Duration::from_secs(60));
    mb.sync_now(true).unwrap();
    // Own changes adopt their stamps, so toggling itself lists nothing.
    let listed = mb.full_sync_count();
    for i in 0..20u32 {
        let op = if i.is_multiple_of(2) {
            FlagOp::Add
        } else {
            FlagOp::Remove
        };
        mb.store(&[uid], op, Flags::SEEN, &[], None).unwrap();
    }
    // Every event is read by now; a name taken for an outside change would have made the
    // watcher list the directory.
    std::thread::sleep(Duration::from_millis(300));
    mb.snapshot().unwrap();
    assert_eq!(mb.full_sync_count(), listed);
}

#[test]
fn the_uidlist_does_not_keep_expunged_messages_forever() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let mb = open(&store, "u", "INBOX");
    for i in 0..200 {
        let uid = mb
            .deliver(&mut format!("Subject: {i}\n\nbody\n").as_bytes(), 1 << 20)
            .unwrap();
        if i % 10 != 0 {
            assert_eq!(mb.expunge(&[uid]).unwrap(), vec![uid]);
        }
    }
    let uidlist = std::fs::read_to_string(mb.dir().join("dovecot-uidlist")).unwrap();
    let records = uidlist.lines().count() - 1;
    // 20 messages are left. Dead records are dropped once they are a quarter of the
    // file, so at most a third more, and the last delivery's record is written before
    // its expunge.
    assert!(
        records <= 20 + 20 / 3 + 1,
        "{records} uidlist records for 20 messages:\n{uidlist}"
    );
    // And the UIDs of what is left are the ones handed out.
    let left = uids(&mb);
    assert_eq!(left, (0..20).map(|i| 1 + i * 10).collect::<Vec<u32>>());
    drop(mb);
    drop(store);
    let again = open(&store_at(tmp.path()), "u", "INBOX");
    let left = uids(&again);
    assert_eq!(left, (0..20).map(|i| 1 + i * 10).collect::<Vec<u32>>());
}

#[test]
fn dropping_uidlist_records_never_drops_another_process_s_unseen_message() {
    // Store A appends (and so rewrites the uidlist, dropping records of gone messages)
    // while store B (another process) delivers and a third program drops files into
    // new/. A record B wrote after A's last listing is of a file A has not seen: dropping
    // it would make the message come back under a new UID.
    let tmp = tempfile::tempdir().unwrap();
    // Without fsync, many more rounds of the race fit in the time.
    let quick = || {
        StoreBuilder::new(tmp.path())
            .mailbox_options(MailboxOptions {
                fsync: false,
                ..MailboxOptions::default()
            })
            .build()
    };
    let (a, b) = (quick(), quick());
    let mine = open(&a, "u", "INBOX");
    let theirs = open(&b, "u", "INBOX");
    let new_dir = mine.dir().join("new");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deliverer = {
        let (theirs, stop) = (Arc::clone(&theirs), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut got = Vec::new();
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let body = format!("Subject: theirs {i}\n\nbody\n");
                let uid = theirs.deliver(&mut body.as_bytes(), 1 << 20).unwrap();
                got.push((uid, body));
            }
            got
        })
    };
    let outsider = {
        let (dir, stop) = (new_dir.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let name = format!("1700000000.M{i}P9.outside");
                std::fs::write(dir.join(name), format!("Subject: outside {i}\n\nx\n")).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let until = std::time::Instant::now() + Duration::from_secs(5);
    let mut i = 0;
    while std::time::Instant::now() < until {
        let uid = mine
            .deliver(
                &mut format!("Subject: mine {i}\n\nbody\n").as_bytes(),
                1 << 20,
            )
            .unwrap();
        mine.expunge(&[uid]).unwrap();
        i += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let delivered = deliverer.join().unwrap();
    outsider.join().unwrap();
    drop((mine, theirs, a, b));
    let fresh = open(&store_at(tmp.path()), "u", "INBOX");
    let mut wrong = Vec::new();
    for (uid, body) in &delivered {
        let found = roost_testkit::store::read_message(&fresh, *uid);
        if found.as_deref() != Some(body.as_bytes()) {
            wrong.push(*uid);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} delivered messages are not under the UID they got: {wrong:?}",
        wrong.len(),
        delivered.len()
    );
}

#[test]
fn appends_add_to_the_uidlist_in_place() {
    // As Dovecot does: the file grows with the mailbox, and rewriting it whole for every
    // new message would cost as much as the mailbox is large.
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let mb = open(&store, "u", "INBOX");
    mb.deliver(&mut &b"Subject: first\n\nbody\n"[..], 1 << 20)
        .unwrap();
    let path = mb.dir().join("dovecot-uidlist");
    let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    let before = inode(&path);
    let mut delivered = Vec::new();
    for i in 0..30 {
        let body = format!("Subject: {i}\n\nbody\n");
        delivered.push(mb.deliver(&mut body.as_bytes(), 1 << 20).unwrap());
    }
    assert_eq!(inode(&path), before, "the uidlist was replaced");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 1 + 31, "{text}");
    // Another process reads the same UIDs from it.
    drop((mb, store));
    let again = open(&store_at(tmp.path()), "u", "INBOX");
    let seen = uids(&again);
    assert_eq!(seen[1..], delivered[..]);
}
