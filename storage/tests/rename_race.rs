//! Two processes on one Maildir: while one renames a message file (a flag change), the
//! other's directory listing may miss it, since readdir gives no promise about entries
//! renamed while it runs. A missed file must never count as expunged, or the message would
//! come back under a new UID and a restarted server would have "lost" the old one.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use roost_storage::{FlagOp, Flags, Store};
use roost_testkit::StoreBuilder;
use roost_testkit::store::open;

fn store_at(dir: &Path) -> Arc<Store> {
    StoreBuilder::new(dir).build()
}

#[test]
fn a_listing_racing_a_rename_never_expunges_the_renamed_message() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (store_at(tmp.path()), store_at(tmp.path()));
    let inbox = open(&a, "u", "INBOX");
    let root = inbox.dir().to_path_buf();
    // A large cur/, so a listing takes long enough for renames to land inside it.
    for i in 0..3000 {
        let name = format!("1600000000.M{i}P1.host:2,S");
        std::fs::write(
            root.join("cur").join(name),
            format!("Subject: {i}\n\nbody\n"),
        )
        .unwrap();
    }
    inbox.sync_now(true).unwrap();
    let first = inbox.snapshot().unwrap();
    assert_eq!(first.messages.len(), 3000);
    let watched: Vec<u32> = first.messages.iter().map(|m| m.uid).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let renamer = {
        let (inbox, stop, uids) = (Arc::clone(&inbox), Arc::clone(&stop), watched.clone());
        thread::spawn(move || {
            let mut on = true;
            while !stop.load(Ordering::Relaxed) {
                // Spread over the whole directory: every file's hash position is a target.
                for chunk in uids.chunks(300) {
                    let op = if on { FlagOp::Add } else { FlagOp::Remove };
                    inbox.store(chunk, op, Flags::FLAGGED, &[], None).unwrap();
                }
                on = !on;
            }
        })
    };
    // The other process lists again and again, each time with a new file to number (so it
    // takes the uidlist lock and rewrites the uidlist from what it listed).
    let other = open(&b, "u", "INBOX");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut n = 0;
    let mut lost = Vec::new();
    while Instant::now() < deadline && lost.is_empty() {
        let name = format!("1700000000.M{n}P2.other");
        std::fs::write(root.join("new").join(name), "Subject: new\n\nx\n").unwrap();
        n += 1;
        other.sync_now(true).unwrap();
        let seen = other.snapshot().unwrap();
        lost = watched
            .iter()
            .filter(|u| seen.messages.binary_search_by_key(*u, |m| m.uid).is_err())
            .copied()
            .collect();
    }
    stop.store(true, Ordering::Relaxed);
    renamer.join().unwrap();
    assert!(
        lost.is_empty(),
        "after {n} listings, UIDs seen as expunged: {lost:?}"
    );

    // And a third process, opening afresh, numbers every original message as before.
    let fresh = open(&store_at(tmp.path()), "u", "INBOX");
    let seen = fresh.snapshot().unwrap();
    for uid in &watched {
        assert!(
            seen.messages.binary_search_by_key(uid, |m| m.uid).is_ok(),
            "UID {uid} renumbered"
        );
    }
    assert_eq!(seen.messages.len(), 3000 + n);
}
