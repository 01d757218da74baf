//! The shared mailbox engine on real directories: UIDs, flags, expunges, outside writers,
//! the change feed, index rebuilds and the mailbox tree.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use roost_storage::index::{INDEX_FILE, IndexFile};
use roost_storage::{FlagOp, Flags, MailboxName, StorageError, Store, UserStore};
use roost_testkit::StoreBuilder;
use roost_testkit::maildir::{file_names, find_message};
use roost_testkit::store::read_message;

fn store_at(dir: &Path) -> Arc<Store> {
    StoreBuilder::new(dir)
        .special_use("Sent", "\\Sent")
        .special_use("Trash", "\\Trash")
        .build()
}

fn name(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

fn msg(n: usize) -> Vec<u8> {
    format!("From: a@example.org\nSubject: message {n}\n\nbody {n}\nline two\n").into_bytes()
}

fn deliver(user: &UserStore, mbox: &str, data: &[u8]) -> u32 {
    user.open(&name(mbox))
        .unwrap()
        .deliver(&mut &data[..], 1 << 20)
        .unwrap()
}

fn read_all(user: &UserStore, mbox: &str, uid: u32) -> Option<Vec<u8>> {
    read_message(&user.open(&name(mbox)).unwrap(), uid)
}

/// Rename a message file into `cur/` with these Maildir flag letters, as another MUA does.
fn rename_with_flags(root: &Path, file: &Path, letters: &str) {
    let name = file.file_name().unwrap().to_str().unwrap();
    let base = name.split(':').next().unwrap();
    std::fs::rename(file, root.join("cur").join(format!("{base}:2,{letters}"))).unwrap();
}

/// How long an "eventually" check waits for the watcher thread: inotify reports within
/// milliseconds, but on a loaded 2-core CI machine the thread may not run for a second or more.
const EVENTUALLY: Duration = Duration::from_secs(15);

/// Wait until `done()` holds, re-checking each time the change feed moves; panic if it still
/// does not hold after [`EVENTUALLY`]. Checking the condition, not just the first feed change,
/// matters: two outside changes may be synced (and published) one at a time.
fn wait_until(
    feed: &mut tokio::sync::watch::Receiver<u64>,
    what: &str,
    mut done: impl FnMut() -> bool,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + EVENTUALLY;
    rt.block_on(async {
        while !done() {
            tokio::time::timeout_at(deadline, feed.changed())
                .await
                .unwrap_or_else(|_| panic!("{what}: not seen within {EVENTUALLY:?}"))
                .unwrap();
        }
    });
}

/// Push a directory's mtime into the past so the "unchanged since last sync" check trusts it.
fn age_dir(p: &Path) {
    let past = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(p).unwrap().set_modified(past).unwrap();
}

#[test]
fn uids_increase_and_survive_restart_and_index_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let (validity, uids) = {
        let store = store_at(tmp.path());
        let user = store.user("alice").unwrap();
        let uids: Vec<u32> = (0..5).map(|i| deliver(&user, "INBOX", &msg(i))).collect();
        assert_eq!(uids, vec![1, 2, 3, 4, 5]);
        let mb = user.open(&name("INBOX")).unwrap();
        // Expunge the highest UID: it must never come back.
        assert_eq!(mb.expunge(&[5]).unwrap(), vec![5]);
        let validity = mb.snapshot().unwrap().uid_validity;
        // What the binary does at shutdown.
        store.flush_all(true);
        (validity, uids)
    };
    // A new process, with the index deleted: UIDs and UIDVALIDITY come from the uidlist.
    let root = tmp.path().join("alice/Maildir");
    std::fs::remove_file(root.join(INDEX_FILE)).unwrap();
    let store = store_at(tmp.path());
    let user = store.user("alice").unwrap();
    let snap = user.open(&name("INBOX")).unwrap().snapshot().unwrap();
    assert_eq!(snap.uid_validity, validity);
    let got: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
    assert_eq!(got, uids[..4]);
    assert_eq!(deliver(&user, "INBOX", &msg(9)), 6);
    for (i, uid) in uids[..4].iter().enumerate() {
        assert_eq!(read_all(&user, "INBOX", *uid).unwrap(), msg(i));
    }
}

#[test]
fn damaged_index_is_rebuilt_with_higher_modseqs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("bob/Maildir");
    let before = {
        let store = store_at(tmp.path());
        let user = store.user("bob").unwrap();
        deliver(&user, "INBOX", &msg(1));
        let mb = user.open(&name("INBOX")).unwrap();
        mb.store(&[1], FlagOp::Add, Flags::SEEN, &[], None).unwrap();
        let m = mb.snapshot().unwrap().highest_modseq;
        store.flush_all(true);
        m
    };
    std::fs::write(root.join(INDEX_FILE), b"garbage").unwrap();
    let store = store_at(tmp.path());
    let user = store.user("bob").unwrap();
    let snap = user.open(&name("INBOX")).unwrap().snapshot().unwrap();
    assert_eq!(snap.messages.len(), 1);
    assert!(snap.messages[0].flags.contains(Flags::SEEN));
    assert!(
        snap.highest_modseq > before,
        "modseqs must not go back after a rebuild"
    );
    assert!(snap.messages[0].modseq > before);
    // And the index is written again, valid.
    drop(user);
    store.flush_all(true);
    assert!(IndexFile::read(&root).unwrap().is_some());
}

#[test]
fn flags_and_keywords_live_in_file_names_and_bump_modseq() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("carol").unwrap();
    deliver(&user, "INBOX", &msg(1));
    deliver(&user, "INBOX", &msg(2));
    let mb = user.open(&name("INBOX")).unwrap();
    let m0 = mb.snapshot().unwrap().highest_modseq;
    let out = mb
        .store(
            &[1],
            FlagOp::Add,
            Flags::SEEN.union(Flags::FLAGGED),
            &["$Label1".to_string()],
            None,
        )
        .unwrap();
    assert_eq!(out.changed.len(), 1);
    assert!(out.changed[0].modseq > m0);
    let cur = file_names(&user.root().join("cur"));
    assert!(cur.iter().any(|n| n.ends_with(":2,FSa")), "{cur:?}");
    let kw = std::fs::read_to_string(user.root().join("dovecot-keywords")).unwrap();
    assert!(kw.contains("0 $Label1"), "{kw}");
    // Same flags again: nothing changes, modseq stays.
    let again = mb.store(&[1], FlagOp::Add, Flags::SEEN, &[], None).unwrap();
    assert!(again.changed.is_empty());
    // UNCHANGEDSINCE below the message's modseq refuses it.
    let refused = mb
        .store(&[1, 2], FlagOp::Add, Flags::DRAFT, &[], Some(m0))
        .unwrap();
    assert_eq!(refused.modified, vec![1]);
    assert_eq!(refused.changed.len(), 1);
    assert_eq!(refused.changed[0].uid, 2);
    let changes = mb.changes_since(m0).unwrap();
    assert!(changes.complete);
    let uids: Vec<u32> = changes.changed.iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![1, 2]);
}

#[test]
fn outside_writers_renames_and_deletions_are_picked_up() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("dave").unwrap();
    deliver(&user, "INBOX", &msg(1));
    let mb = user.open(&name("INBOX")).unwrap();
    let start = mb.snapshot().unwrap().highest_modseq;
    let mut feed = mb.subscribe();
    feed.borrow_and_update();

    // procmail-style delivery straight into new/.
    let root = user.root().to_path_buf();
    std::fs::write(root.join("tmp/outside.1"), msg(2)).unwrap();
    std::fs::rename(
        root.join("tmp/outside.1"),
        root.join("new/1700000000.outside.host"),
    )
    .unwrap();
    // Another MUA marks message 1 seen by renaming it.
    let first = find_message(&root, |p| !p.contains("outside"));
    rename_with_flags(&root, &first, "S");

    // The watcher notices without anyone asking (each change may be synced on its own).
    wait_until(&mut feed, "outside delivery and rename", || {
        let ch = mb.changes_since(start).unwrap();
        ch.changed.len() == 2
    });
    let changes = mb.changes_since(start).unwrap();
    let seen = changes
        .changed
        .iter()
        .find(|m| m.uid == 1)
        .expect("flag change seen");
    assert!(seen.flags.contains(Flags::SEEN));
    assert!(
        changes.changed.iter().any(|m| m.uid == 2),
        "new message got UID 2"
    );
    assert_eq!(read_all(&user, "INBOX", 2).unwrap(), msg(2));

    // A file deleted by hand is an expunge.
    let victim = find_message(&root, |p| p.contains("outside"));
    std::fs::remove_file(victim).unwrap();
    mb.sync_now(true).unwrap();
    let changes = mb.changes_since(start).unwrap();
    assert_eq!(changes.expunged, vec![2]);
    assert!(read_all(&user, "INBOX", 2).is_none());
}

#[test]
fn unchanged_mailbox_opens_from_the_index_without_listing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("erin/Maildir");
    {
        let store = store_at(tmp.path());
        let user = store.user("erin").unwrap();
        for i in 0..50 {
            deliver(&user, "INBOX", &msg(i));
        }
        let mb = user.open(&name("INBOX")).unwrap();
        mb.store(&[1, 2, 3], FlagOp::Add, Flags::SEEN, &[], None)
            .unwrap();
        for d in ["cur", "new"] {
            age_dir(&root.join(d));
        }
        mb.sync_now(true).unwrap();
        drop(mb);
        // Closed, as a process that exits leaves it: merely dropping the store left the
        // mailbox alive for a moment in its watcher or maintenance thread, which under load
        // saw the planted file below and wrote it into the index.
        close_now(&store);
    }
    // Plant a file the index does not know, then hide the change by restoring the old
    // directory mtime: an open that trusts the index will not see it; a full scan would.
    std::fs::write(root.join("cur/planted.host:2,"), msg(99)).unwrap();
    age_dir(&root.join("cur"));
    let idx = IndexFile::read(&root).unwrap().unwrap();
    let mtime = std::fs::metadata(root.join("cur"))
        .unwrap()
        .modified()
        .unwrap();
    let ns = mtime
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128;
    assert_ne!(
        idx.cur_stamp.mtime_ns, ns,
        "test setup: stamps differ unless restored"
    );
    std::fs::File::open(root.join("cur"))
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_nanos(idx.cur_stamp.mtime_ns as u64))
        .unwrap();
    let store = store_at(tmp.path());
    let user = store.user("erin").unwrap();
    let mb = user.open(&name("INBOX")).unwrap();
    assert_eq!(
        mb.snapshot().unwrap().messages.len(),
        50,
        "opened from the index alone"
    );
    mb.sync_now(true).unwrap();
    assert_eq!(
        mb.snapshot().unwrap().messages.len(),
        51,
        "a forced scan finds the file"
    );
}

#[test]
fn oversized_delivery_is_refused_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("fred").unwrap();
    let mb = user.open(&name("INBOX")).unwrap();
    let big = vec![b'x'; 5000];
    match mb.deliver(&mut &big[..], 4096) {
        Err(StorageError::TooBig { limit: 4096 }) => {}
        other => panic!("expected TooBig, got {other:?}"),
    }
    for d in ["tmp", "new", "cur"] {
        assert_eq!(
            std::fs::read_dir(user.root().join(d)).unwrap().count(),
            0,
            "{d} not empty"
        );
    }
    assert!(mb.snapshot().unwrap().messages.is_empty());
}

#[test]
fn vsize_counts_crlf_and_is_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("gina").unwrap();
    // Two bare LFs, one CRLF, a bare CR and a NUL: vsize = size + 2.
    let data = b"A: b\n\r\nx\ry\0\n".to_vec();
    let uid = deliver(&user, "INBOX", &data);
    let mb = user.open(&name("INBOX")).unwrap();
    let info = &mb.snapshot().unwrap().messages[0];
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(info.vsize, Some(data.len() as u64 + 2));
    // A file written by someone else has no W= field: computed on demand.
    std::fs::write(user.root().join("new/outside.host"), &data).unwrap();
    mb.sync_now(true).unwrap();
    let snap = mb.snapshot().unwrap();
    let other = snap.messages.iter().find(|m| m.uid != uid).unwrap();
    assert_eq!(other.vsize, None);
    assert_eq!(
        mb.vsizes(&[other.uid]).unwrap(),
        vec![Some(data.len() as u64 + 2)]
    );
}

#[test]
fn copy_keeps_flags_and_date_and_reports_uid_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("hank").unwrap();
    user.create(&name("Archive.2024")).unwrap();
    deliver(&user, "INBOX", &msg(1));
    deliver(&user, "INBOX", &msg(2));
    let inbox = user.open(&name("INBOX")).unwrap();
    inbox
        .store(
            &[2],
            FlagOp::Replace,
            Flags::ANSWERED,
            &["Work".into()],
            None,
        )
        .unwrap();
    let dest = user.open(&name("Archive.2024")).unwrap();
    let pairs = inbox.copy_to(&[2, 1, 77], &dest).unwrap();
    assert_eq!(pairs, vec![(2, 1), (1, 2)]);
    let snap = dest.snapshot().unwrap();
    let src = inbox.snapshot().unwrap();
    assert!(snap.messages[0].flags.contains(Flags::ANSWERED));
    let names = dest.keyword_names();
    let kws: Vec<_> = snap.messages[0]
        .keywords
        .iter()
        .map(|i| names[i].clone().unwrap())
        .collect();
    assert_eq!(kws, vec!["Work".to_string()]);
    assert_eq!(
        snap.messages[0].internal_date,
        src.messages[1].internal_date
    );
    assert_eq!(read_all(&user, "Archive.2024", 1).unwrap(), msg(2));
}

#[test]
fn mailbox_tree_create_list_rename_delete_subscribe() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("ivy").unwrap();
    user.ensure_special_use().unwrap();
    user.create(&name("Projects.Roost.Design")).unwrap();
    user.create(&name("Entwürfe")).unwrap();
    assert!(matches!(
        user.create(&name("Entwürfe")),
        Err(StorageError::AlreadyExists(_))
    ));
    let list = user.list().unwrap();
    let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "Entwürfe",
            "INBOX",
            "Projects",
            "Projects.Roost",
            "Projects.Roost.Design",
            "Sent",
            "Trash"
        ]
    );
    assert!(user.root().join(".Entw&APw-rfe").is_dir());
    let sent = list.iter().find(|e| e.name.as_str() == "Sent").unwrap();
    assert_eq!(sent.special_use.as_deref(), Some("\\Sent"));
    assert!(user.subscriptions().unwrap().contains(&"Sent".to_string()));

    deliver(&user, "Projects.Roost", &msg(1));
    user.rename(&name("Projects"), &name("Work.Old")).unwrap();
    let names: Vec<String> = user
        .list()
        .unwrap()
        .iter()
        .map(|e| e.name.as_str().to_string())
        .collect();
    assert!(
        names.contains(&"Work.Old.Roost.Design".to_string()),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.starts_with("Projects")));
    assert_eq!(read_all(&user, "Work.Old.Roost", 1).unwrap(), msg(1));
    assert!(matches!(
        user.rename(&name("Work"), &name("Work.Old.Inner")),
        Err(StorageError::NotAllowed(_))
    ));

    // Deleting a parent keeps the children; the parent becomes a non-selectable name.
    user.delete(&name("Work.Old")).unwrap();
    let list = user.list().unwrap();
    let old = list.iter().find(|e| e.name.as_str() == "Work.Old").unwrap();
    assert!(!old.selectable);
    assert!(list.iter().any(|e| e.name.as_str() == "Work.Old.Roost"));
    assert!(matches!(
        user.delete(&name("INBOX")),
        Err(StorageError::NotAllowed(_))
    ));

    // The special-use mailboxes are created once: deleted Trash stays deleted.
    user.delete(&name("Trash")).unwrap();
    user.ensure_special_use().unwrap();
    assert!(!user.exists(&name("Trash")));

    user.unsubscribe("Sent").unwrap();
    assert!(!user.subscriptions().unwrap().contains(&"Sent".to_string()));
}

#[test]
fn rename_inbox_moves_messages_and_leaves_it_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("jack").unwrap();
    deliver(&user, "INBOX", &msg(1));
    deliver(&user, "INBOX", &msg(2));
    let inbox = user.open(&name("INBOX")).unwrap();
    let m = inbox.snapshot().unwrap().highest_modseq;
    user.rename(&name("INBOX"), &name("Old Inbox")).unwrap();
    assert!(inbox.snapshot().unwrap().messages.is_empty());
    // In any order: the watcher may see the moves in one sync or in two.
    let mut expunged = inbox.changes_since(m).unwrap().expunged;
    expunged.sort_unstable();
    assert_eq!(expunged, vec![1, 2]);
    let old = user.open(&name("Old Inbox")).unwrap();
    assert_eq!(old.snapshot().unwrap().messages.len(), 2);
}

#[test]
fn recent_goes_to_exactly_one_claimant() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("kim").unwrap();
    deliver(&user, "INBOX", &msg(1));
    let mb = user.open(&name("INBOX")).unwrap();
    assert_eq!(mb.status().unwrap().recent, 1);
    assert_eq!(mb.claim_recent().unwrap(), 1);
    assert_eq!(
        mb.claim_recent().unwrap(),
        2,
        "second claimant gets nothing recent"
    );
    assert_eq!(mb.status().unwrap().recent, 0);
}

#[test]
fn hostile_user_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    for bad in ["", ".", "..", "a/b", "../x", "a\0b", "a\nb"] {
        assert!(store.user(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn streaming_append_with_internal_date() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("lee").unwrap();
    let mb = user.open(&name("INBOX")).unwrap();
    let mut w = mb.create_tmp(1 << 20).unwrap();
    for _ in 0..100 {
        w.write_all(b"line of text\n").unwrap();
    }
    let tmp_msg = w.finish(Some(1_000_000_000)).unwrap();
    let uids = mb
        .commit(
            vec![roost_storage::NewMessage {
                tmp: tmp_msg,
                flags: Flags::SEEN,
                keywords: vec![],
            }],
            false,
        )
        .unwrap();
    let info = &mb.snapshot().unwrap().messages[0];
    assert_eq!(info.uid, uids[0]);
    assert_eq!(info.internal_date, 1_000_000_000);
    assert_eq!(info.size, 1300);
    assert_eq!(info.vsize, Some(1400));
    assert!(info.flags.contains(Flags::SEEN));
}

#[test]
fn own_changes_cost_no_listing_but_outside_changes_are_still_seen() {
    let tmp = tempfile::tempdir().unwrap();
    // Deliver through another store (another process) that has closed the mailbox: had
    // this store delivered, the watcher could report those renames only after a listing
    // (which forgets the names it did itself) and count as outside changes; how late depends
    // on the load, and a fixed wait for them to pass was not enough on CI.
    {
        let other = store_at(tmp.path());
        let user = other.user("mia").unwrap();
        for i in 0..3 {
            deliver(&user, "INBOX", &msg(i));
        }
        close_now(&other);
    }
    let store = store_at(tmp.path());
    let user = store.user("mia").unwrap();
    let mb = user.open(&name("INBOX")).unwrap();
    // Directory stamps this fresh are not trusted (an mtime tick can hide a change); a listing
    // made a moment later makes them trusted. Sleeping longer under load only helps.
    std::thread::sleep(Duration::from_millis(300));
    mb.sync_now(true).unwrap();
    let listings = mb.full_sync_count();
    mb.store(&[1], FlagOp::Add, Flags::SEEN, &[], None).unwrap();
    mb.expunge(&[2]).unwrap();
    let w = mb.create_tmp(1 << 20).unwrap();
    let t = w.finish(None).unwrap();
    mb.commit(
        vec![roost_storage::NewMessage {
            tmp: t,
            flags: Flags::default(),
            keywords: vec![],
        }],
        true,
    )
    .unwrap();
    mb.snapshot().unwrap();
    assert_eq!(mb.full_sync_count(), listings, "own changes were re-listed");

    // An outside rename right after our own change, in the same clock tick, is not visible
    // in the directory stamps; inotify reports it.
    let start = mb.snapshot().unwrap().highest_modseq;
    let mut feed = mb.subscribe();
    feed.borrow_and_update();
    mb.store(&[3], FlagOp::Add, Flags::FLAGGED, &[], None)
        .unwrap();
    feed.borrow_and_update();
    let f = find_message(user.root(), |p| p.ends_with(":2,S"));
    rename_with_flags(user.root(), &f, "RS");
    wait_until(
        &mut feed,
        "outside rename right after our own change",
        || {
            let ch = mb.changes_since(start).unwrap();
            ch.changed.iter().any(|m| m.uid == 1)
        },
    );
    let ch = mb.changes_since(start).unwrap();
    let m1 = ch
        .changed
        .iter()
        .find(|m| m.uid == 1)
        .expect("message 1 changed");
    assert!(m1.flags.contains(Flags::ANSWERED));
}

#[test]
fn lost_uidlist_is_rebuilt_from_the_index_with_the_same_uids() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ned/Maildir");
    let validity = {
        let store = store_at(tmp.path());
        let user = store.user("ned").unwrap();
        for i in 0..3 {
            deliver(&user, "INBOX", &msg(i));
        }
        let mb = user.open(&name("INBOX")).unwrap();
        mb.expunge(&[1]).unwrap();
        let v = mb.snapshot().unwrap().uid_validity;
        store.flush_all(true);
        v
    };
    std::fs::remove_file(root.join("dovecot-uidlist")).unwrap();
    let store = store_at(tmp.path());
    let user = store.user("ned").unwrap();
    let mb = user.open(&name("INBOX")).unwrap();
    let snap = mb.snapshot().unwrap();
    assert_eq!(snap.uid_validity, validity);
    let uids: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![2, 3]);
    let text = std::fs::read_to_string(root.join("dovecot-uidlist")).unwrap();
    let listed: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(listed, vec!["2", "3"], "{text}");
    assert!(text.starts_with(&format!("3 V{validity} N4")), "{text}");
    assert_eq!(deliver(&user, "INBOX", &msg(9)), 4);
}

#[test]
fn message_cache_persists_and_forgets_expunged_messages() {
    use roost_storage::CacheField;
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = store_at(tmp.path());
        let user = store.user("olga").unwrap();
        deliver(&user, "INBOX", &msg(1));
        deliver(&user, "INBOX", &msg(2));
        let mb = user.open(&name("INBOX")).unwrap();
        mb.cache_put(1, CacheField::MimeStructure, b"structure of 1");
        mb.cache_put(2, CacheField::MimeStructure, b"structure of 2");
        mb.expunge(&[1]).unwrap();
        assert_eq!(mb.cache_get(1, CacheField::MimeStructure), None);
        store.flush_all(true);
    }
    let store = store_at(tmp.path());
    let user = store.user("olga").unwrap();
    let mb = user.open(&name("INBOX")).unwrap();
    assert_eq!(
        mb.cache_get(2, CacheField::MimeStructure).as_deref(),
        Some(&b"structure of 2"[..])
    );
    assert_eq!(mb.cache_get(2, CacheField::Envelope), None);
}

/// (UID, base name) of each uidlist record (`<uid> [fields] :<filename>`).
fn uidlist_bases(root: &Path) -> Vec<(u32, String)> {
    let text = std::fs::read_to_string(root.join("dovecot-uidlist")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let uid = l.split(' ').next().unwrap().parse().unwrap();
            let file = l.split_once(" :").unwrap().1;
            (uid, file.split(':').next().unwrap().to_string())
        })
        .collect()
}

/// Delivers messages 0, 1 and 2 to `user`'s INBOX under `dir` and writes everything out,
/// as a finished session leaves it; returns the UIDVALIDITY.
fn three_messages_flushed(dir: &Path, user: &str) -> u32 {
    let store = store_at(dir);
    let user = store.user(user).unwrap();
    for i in 0..3 {
        deliver(&user, "INBOX", &msg(i));
    }
    let v = user
        .open(&name("INBOX"))
        .unwrap()
        .snapshot()
        .unwrap()
        .uid_validity;
    store.flush_all(true);
    v
}

#[test]
fn damaged_uidlist_is_salvaged_and_no_uid_it_mentions_is_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pia/Maildir");
    let validity = three_messages_flushed(tmp.path(), "pia");
    let bases = uidlist_bases(&root);
    assert_eq!(bases.iter().map(|b| b.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    // Damage: a wrong N, a garbage line mentioning UID 7, and message 3's record lost. The
    // index is gone too, so only the damaged file can tell which UIDs were used.
    std::fs::write(
        root.join("dovecot-uidlist"),
        format!(
            "3 V{validity} N2 G00\n1 :{}\n7 garbage without a file name\n2 :{}\n",
            bases[0].1, bases[1].1
        ),
    )
    .unwrap();
    std::fs::remove_file(root.join(INDEX_FILE)).unwrap();
    let store = store_at(tmp.path());
    let user = store.user("pia").unwrap();
    let mb = user.open(&name("INBOX")).unwrap();
    let snap = mb.snapshot().unwrap();
    assert_eq!(
        snap.uid_validity, validity,
        "UIDVALIDITY kept from the damaged header"
    );
    let uids: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
    assert_eq!(
        uids,
        vec![1, 2, 8],
        "message 3 renumbered above everything mentioned"
    );
    assert_eq!(read_all(&user, "INBOX", 8).unwrap(), msg(2));
    // The file is valid again and the next UID keeps climbing.
    let healed = uidlist_bases(&root);
    assert_eq!(
        healed.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![1, 2, 8]
    );
    assert_eq!(deliver(&user, "INBOX", &msg(9)), 9);
}

#[test]
fn damaged_uidlist_with_the_index_intact_keeps_every_uid() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("quinn/Maildir");
    let validity = three_messages_flushed(tmp.path(), "quinn");
    let bases = uidlist_bases(&root);
    // Records out of order: only the first survives the salvage; the index knows the rest.
    std::fs::write(
        root.join("dovecot-uidlist"),
        format!(
            "3 V{validity} N4 G00\n3 :{}\n1 :{}\n",
            bases[2].1, bases[0].1
        ),
    )
    .unwrap();
    let store = store_at(tmp.path());
    let user = store.user("quinn").unwrap();
    let snap = user.open(&name("INBOX")).unwrap().snapshot().unwrap();
    let uids: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![1, 2, 3]);
    for (i, uid) in uids.iter().enumerate() {
        assert_eq!(read_all(&user, "INBOX", *uid).unwrap(), msg(i));
    }
    assert_eq!(deliver(&user, "INBOX", &msg(9)), 4);
}

#[test]
fn recent_survives_closing_and_reopening_the_mailbox() {
    // Reported race: the last session letting go while the next one opens could reload an
    // index written before the \Recent boundary moved, making old mail \Recent again.
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let user = store.user("rae").unwrap();
    let mut expected_first = 1;
    for round in 0..150 {
        for i in 0..3 {
            deliver(&user, "INBOX", &msg(i));
        }
        let mb = user.open(&name("INBOX")).unwrap();
        assert_eq!(mb.claim_recent().unwrap(), expected_first, "round {round}");
        expected_first = mb.snapshot().unwrap().next_uid;
        drop(mb);
        if round % 2 == 0 {
            store.close_idle(Duration::ZERO);
        }
        let again = user.open(&name("INBOX")).unwrap();
        assert_eq!(
            again.claim_recent().unwrap(),
            expected_first,
            "round {round}: nothing is recent twice"
        );
    }
}

/// Close the (one) open mailbox now, waiting out a moment when the watcher holds it: after
/// this, nothing of `store` writes to the mailbox's files any more.
fn close_now(store: &Arc<Store>) {
    let deadline = std::time::Instant::now() + EVENTUALLY;
    while std::time::Instant::now() < deadline {
        if store.close_idle(Duration::ZERO) > 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the mailbox was never idle");
}

#[test]
fn expunge_log_says_when_it_cannot_answer() {
    // A QRESYNC client reconnecting with an old modseq must learn of every expunge since; if
    // the log cannot tell (the index was rebuilt, or the process stopped uncleanly), it must
    // say so instead of answering with nothing.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sam/Maildir");
    let store = store_at(tmp.path());
    let user = store.user("sam").unwrap();
    for i in 0..3 {
        deliver(&user, "INBOX", &msg(i));
    }
    let mb = user.open(&name("INBOX")).unwrap();
    let seen = mb.snapshot().unwrap().highest_modseq;
    mb.expunge(&[1]).unwrap();
    let ch = mb.changes_since(seen).unwrap();
    assert!(ch.complete);
    assert_eq!(ch.expunged, vec![1]);
    drop(mb);
    close_now(&store);

    // A clean close and reopen keeps the log.
    let mb = user.open(&name("INBOX")).unwrap();
    let ch = mb.changes_since(seen).unwrap();
    assert!(ch.complete);
    assert_eq!(ch.expunged, vec![1]);
    drop(mb);
    close_now(&store);

    // A lost index: the log is gone, and the mailbox says it cannot answer for old modseqs.
    std::fs::remove_file(root.join(INDEX_FILE)).unwrap();
    let mb = user.open(&name("INBOX")).unwrap();
    let ch = mb.changes_since(seen).unwrap();
    assert!(
        !ch.complete,
        "an empty log after a rebuild must not claim completeness"
    );
    // New expunges after the rebuild are fully reported again.
    let after = mb.snapshot().unwrap().highest_modseq;
    mb.expunge(&[2]).unwrap();
    let ch = mb.changes_since(after).unwrap();
    assert!(ch.complete);
    assert_eq!(ch.expunged, vec![2]);
}

#[test]
fn simultaneous_first_logins_all_succeed() {
    // Twenty sessions of a new user logging in at once all create the special-use mailboxes.
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || store.user("tess").unwrap().ensure_special_use())
        })
        .collect();
    for t in threads {
        t.join().unwrap().expect("every first login succeeds");
    }
    let user = store.user("tess").unwrap();
    assert!(user.exists(&name("Sent")) && user.exists(&name("Trash")));
}
