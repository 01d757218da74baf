//! `Mailbox::rebuild_index` (behind `roost mailbox reindex`) on an open, shared mailbox.

use roost_storage::MailboxName;
use roost_storage::index::INDEX_FILE;
use roost_testkit::StoreBuilder;

#[test]
fn rebuild_keeps_uids_validity_and_next_uid_and_moves_modseqs_up() {
    let tmp = tempfile::tempdir().unwrap();
    let store = StoreBuilder::new(tmp.path()).build();
    let user = store.user("alice").unwrap();
    let inbox = MailboxName::new("INBOX").unwrap();
    let mb = user.open(&inbox).unwrap();
    for i in 0..4 {
        let m = format!("Subject: {i}\n\nbody {i}\n");
        mb.deliver(&mut m.as_bytes(), 1 << 20).unwrap();
    }
    mb.expunge(&[4]).unwrap();
    mb.cache_put(1, roost_storage::cache::CacheField::Envelope, b"stale");
    let before = mb.snapshot().unwrap();
    let feed = mb.subscribe();
    let seen = *feed.borrow();

    let root = tmp.path().join("alice/Maildir");
    std::fs::write(root.join(INDEX_FILE), b"damaged").unwrap();
    mb.rebuild_index().unwrap();

    let after = mb.snapshot().unwrap();
    assert_eq!(after.uid_validity, before.uid_validity);
    assert_eq!(
        after.next_uid, before.next_uid,
        "UID 4 is never handed out again"
    );
    let uids = |s: &roost_storage::Snapshot| s.messages.iter().map(|m| m.uid).collect::<Vec<_>>();
    assert_eq!(uids(&after), [1, 2, 3]);
    assert!(after.highest_modseq > before.highest_modseq);
    assert!(*feed.borrow() > seen, "sessions are woken to resync");
    assert_ne!(std::fs::read(root.join(INDEX_FILE)).unwrap(), b"damaged");
    assert!(
        mb.cache_get(1, roost_storage::cache::CacheField::Envelope)
            .is_none()
    );
    let m = "Subject: new\n\nnew\n";
    assert_eq!(mb.deliver(&mut m.as_bytes(), 1 << 20).unwrap(), 5);
}
