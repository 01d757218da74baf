//! Import commits: old POP3 UIDLs become legacy UIDLs, old IMAP UIDs and UIDVALIDITY are
//! kept, on real Maildirs, and what Dovecot reads back from them.

use std::path::Path;
use std::sync::Arc;

use roost_storage::{Flags, Mailbox, MailboxName, NewMessage, StorageError, Store};
use roost_testkit::store::stage;
use roost_testkit::{Dovecot, StoreBuilder};

fn store_at(dir: &Path) -> Arc<Store> {
    StoreBuilder::new(dir).autocreate(false).build()
}

fn staged(mb: &Mailbox, body: &[u8], flags: Flags, keywords: &[&str]) -> NewMessage {
    stage(mb, body, flags, keywords, Some(1_000_000_000))
}

fn open(store: &Arc<Store>, user: &str, mbox: &str) -> Arc<Mailbox> {
    let u = store.user(user).unwrap();
    let name = MailboxName::new(mbox).unwrap();
    if !u.exists(&name) {
        u.create(&name).unwrap();
    }
    u.open(&name).unwrap()
}

#[test]
fn pop3_uidls_are_stored_as_legacy_uidls_and_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let mb = open(&store, "u", "INBOX");
    let msgs = vec![
        (
            staged(&mb, b"Subject: a\n\nA\n", Flags::SEEN, &[]),
            "000000015a1b2c3d".to_string(),
        ),
        (
            staged(&mb, b"Subject: b\n\nB\n", Flags::default(), &[]),
            "UID-2.x".to_string(),
        ),
    ];
    let uids = mb.commit_with_pop3_uidls(msgs).unwrap();
    assert_eq!(uids, vec![1, 2]);
    let uidlist = std::fs::read_to_string(mb.dir().join("dovecot-uidlist")).unwrap();
    assert!(uidlist.contains(" P000000015a1b2c3d "), "{uidlist}");
    drop(mb);
    drop(store);

    // A fresh process sees them from the uidlist alone, after losing the index.
    let store = store_at(tmp.path());
    let root = tmp.path().join("u/Maildir");
    let _ = std::fs::remove_file(root.join(roost_storage::index::INDEX_FILE));
    let mb = open(&store, "u", "INBOX");
    let snap = mb.snapshot().unwrap();
    let got: Vec<_> = snap
        .messages
        .iter()
        .map(|m| (m.uid, m.pop3_uidl.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Some("000000015a1b2c3d".to_string())),
            (2, Some("UID-2.x".to_string()))
        ]
    );
    assert!(snap.messages[0].flags.contains(Flags::SEEN));
}

#[test]
fn invalid_pop3_uidls_are_refused_and_leave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let mb = open(&store, "u", "INBOX");
    let long = "x".repeat(71);
    for bad in ["", "has space", long.as_str(), "tab\there", "é"] {
        let m = staged(&mb, b"x\n", Flags::default(), &[]);
        let e = mb
            .commit_with_pop3_uidls(vec![(m, bad.to_string())])
            .unwrap_err();
        assert!(matches!(e, StorageError::NotAllowed(_)), "{bad:?}: {e}");
    }
    assert!(mb.snapshot().unwrap().messages.is_empty());
    assert_eq!(std::fs::read_dir(mb.dir().join("tmp")).unwrap().count(), 0);
}

#[test]
fn uids_and_uidvalidity_are_kept_into_an_empty_mailbox_and_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_at(tmp.path());
    let mb = open(&store, "u", "Archive");
    // The mailbox was used before (its UIDVALIDITY exists) but holds no messages.
    let before = mb.status().unwrap().uid_validity;
    assert_ne!(before, 1234);
    let uids = mb
        .commit_keeping_uids(
            1234,
            40,
            vec![
                (3, staged(&mb, b"three\n", Flags::SEEN, &["$Forwarded"])),
                (7, staged(&mb, b"seven\n", Flags::FLAGGED, &[])),
            ],
        )
        .unwrap();
    assert_eq!(uids, vec![3, 7]);
    let st = mb.status().unwrap();
    assert_eq!((st.uid_validity, st.uid_next, st.messages), (1234, 40, 2));

    // Resumed run: the same UIDVALIDITY continues above what is there.
    let uids = mb
        .commit_keeping_uids(
            1234,
            41,
            vec![(40, staged(&mb, b"forty\n", Flags::default(), &[]))],
        )
        .unwrap();
    assert_eq!(uids, vec![40]);
    assert_eq!(mb.status().unwrap().uid_next, 41);

    // Refusals: a UID below the next one, a different UIDVALIDITY with messages present,
    // UIDs out of order. None of them changes anything.
    let e = mb
        .commit_keeping_uids(
            1234,
            0,
            vec![(39, staged(&mb, b"x\n", Flags::default(), &[]))],
        )
        .unwrap_err();
    assert!(e.to_string().contains("below the next UID"), "{e}");
    let e = mb
        .commit_keeping_uids(
            99,
            0,
            vec![(100, staged(&mb, b"x\n", Flags::default(), &[]))],
        )
        .unwrap_err();
    assert!(e.to_string().contains("already has messages"), "{e}");
    let e = mb
        .commit_keeping_uids(
            1234,
            0,
            vec![
                (60, staged(&mb, b"x\n", Flags::default(), &[])),
                (50, staged(&mb, b"y\n", Flags::default(), &[])),
            ],
        )
        .unwrap_err();
    assert!(e.to_string().contains("strictly increasing"), "{e}");
    let snap = mb.snapshot().unwrap();
    let uids: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, vec![3, 7, 40]);
    assert_eq!(snap.uid_validity, 1234);
    assert_eq!(mb.keyword_names(), vec![Some("$Forwarded".to_string())]);
    assert_eq!(std::fs::read_dir(mb.dir().join("tmp")).unwrap().count(), 0);

    // New deliveries continue above the kept UIDs.
    let uid = mb.deliver(&mut &b"new\n"[..], 1 << 20).unwrap();
    assert_eq!(uid, 41);
}

#[test]
fn dovecot_reads_kept_uids_and_legacy_uidls() {
    let Some(dv) = Dovecot::start() else {
        return;
    };
    // Write where Dovecot's mail_location points: the user's ~/Maildir.
    let user_root = dv.maildir.clone();
    std::fs::create_dir_all(user_root.parent().unwrap()).unwrap();
    let mb = {
        let s = StoreBuilder::for_mail_path(user_root.display().to_string())
            .autocreate(false)
            .build();
        open(&s, "u", "INBOX")
    };
    mb.commit_keeping_uids(
        777,
        20,
        vec![
            (
                5,
                staged(&mb, b"Subject: five\n\nfive\n", Flags::SEEN, &["Work"]),
            ),
            (
                9,
                staged(&mb, b"Subject: nine\n\nnine\n", Flags::default(), &[]),
            ),
        ],
    )
    .unwrap();
    dv.chown_tree(&user_root);
    assert_eq!(dv.status("INBOX"), (777, 20));
    let rows = dv.fetch("INBOX");
    let got: Vec<(u32, Vec<String>, Vec<String>)> = rows
        .into_iter()
        .map(|r| (r.uid, r.flags, r.keywords))
        .collect();
    assert_eq!(
        got,
        vec![
            (5, vec!["\\Seen".to_string()], vec!["Work".to_string()]),
            (9, vec![], vec![])
        ]
    );

    // Dovecot's own view of the legacy UIDL: pop3.uidl (the P field) of the message.
    let pop = {
        let s = StoreBuilder::for_mail_path(user_root.display().to_string())
            .autocreate(false)
            .build();
        open(&s, "u", "Old")
    };
    pop.commit_with_pop3_uidls(vec![(
        staged(&pop, b"Subject: p\n\np\n", Flags::default(), &[]),
        "legacy-uidl-1".to_string(),
    )])
    .unwrap();
    dv.chown_tree(&user_root);
    let out = dv.doveadm(&["-f", "tab", "fetch", "pop3.uidl", "mailbox", "Old", "all"]);
    assert!(out.contains("legacy-uidl-1"), "{out}");
}
