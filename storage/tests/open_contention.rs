//! Opening a mailbox must not wait for another user's busy mailbox: the registry of open
//! mailboxes is process-wide, and a convoy behind it made every SELECT/STATUS of every user
//! wait for one APPEND's fsyncs (issue 7, mixed workload at 100 clients).

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use roost_storage::MailboxName;
use roost_testkit::StoreBuilder;

#[test]
fn open_does_not_wait_for_another_users_busy_mailbox() {
    let tmp = tempfile::tempdir().unwrap();
    let store = StoreBuilder::new(tmp.path()).build();
    let inbox = MailboxName::new("INBOX").unwrap();
    let (a, b) = (store.user("a").unwrap(), store.user("b").unwrap());
    let a_inbox = a.open(&inbox).unwrap();
    b.open(&inbox).unwrap();
    let uid = a_inbox
        .deliver(&mut &b"Subject: x\n\nbody\n"[..], 1 << 20)
        .unwrap();

    // Hold a's mailbox lock (the progress callback runs under it) until told to let go.
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        a_inbox
            .expunge_with_progress(&[uid], &mut |_| {
                held_tx.send(()).unwrap();
                // Far past b's wait below: an open that queued behind this one cannot finish
                // in time.
                let _ = release_rx.recv_timeout(Duration::from_secs(60));
            })
            .unwrap();
    });
    held_rx.recv().unwrap();
    // Someone opening a's mailbox waits for it: that is expected.
    let a2 = a.clone();
    let (inbox2, inbox3) = (inbox.clone(), inbox.clone());
    let waiter = thread::spawn(move || a2.open(&inbox2).map(|_| ()));
    thread::sleep(Duration::from_millis(200));
    // b's open must not queue behind that waiter.
    let t0 = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || done_tx.send(b.open(&inbox3).map(|_| ())).unwrap());
    // Normally milliseconds; generous for a loaded CI machine, and still far below the 60 s
    // an open queued behind a's would take.
    let opened = done_rx.recv_timeout(Duration::from_secs(10));
    let waited = t0.elapsed();
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    waiter.join().unwrap().unwrap();
    opened
        .unwrap_or_else(|_| panic!("b's open waited {waited:?} for a's busy mailbox"))
        .unwrap();
}

#[test]
fn cold_open_runs_outside_the_registry_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let store = StoreBuilder::new(tmp.path())
        .lock_timeout(Duration::from_secs(60))
        .build();
    let inbox = MailboxName::new("INBOX").unwrap();
    let (a, b) = (store.user("a").unwrap(), store.user("b").unwrap());
    b.open(&inbox).unwrap();
    // a's INBOX was never opened and has a file that needs a UID, while another program
    // holds the uidlist lock: its first open waits for that lock (here until it goes, well
    // past b's wait below).
    let root = a.root().to_path_buf();
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(
        root.join("new/1700000000.M1P1.other"),
        "Subject: x\n\nbody\n",
    )
    .unwrap();
    std::fs::write(root.join("dovecot-uidlist.lock"), "").unwrap();
    let inbox2 = inbox.clone();
    let cold = thread::spawn(move || a.open(&inbox2).map(|_| ()));
    thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || done_tx.send(b.open(&inbox).map(|_| ())).unwrap());
    // Normally milliseconds; generous for a loaded CI machine, and still far below the lock
    // wait an open queued behind a's would share.
    let opened = done_rx.recv_timeout(Duration::from_secs(10));
    let waited = t0.elapsed();
    std::fs::remove_file(root.join("dovecot-uidlist.lock")).unwrap();
    cold.join().unwrap().unwrap();
    opened
        .unwrap_or_else(|_| panic!("b's open waited {waited:?} for a's cold open"))
        .unwrap();
}
