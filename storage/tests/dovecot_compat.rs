//! The storage engine (`Store`/`Mailbox`) and the real Dovecot on one Maildir, both ways:
//! what Dovecot wrote Roost reads with the same UIDs, UIDVALIDITY, UIDNEXT, flags, keywords
//! and bytes; what Roost wrote Dovecot reads the same way; changes Dovecot makes while Roost
//! has the mailbox open reach Roost's change feed; and Roost's index can be thrown away.
//! Fails without doveadm unless ROOST_SKIP_DOVECOT=1.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use roost_storage::index::INDEX_FILE;
use roost_storage::{FlagOp, Flags, Mailbox, MailboxName, Store};
use roost_testkit::{Dovecot, Fetched, StoreBuilder};

/// Dovecot's name of each system flag Roost keeps in a file name.
const FLAG_NAMES: [(Flags, &str); 5] = [
    (Flags::SEEN, "\\Seen"),
    (Flags::FLAGGED, "\\Flagged"),
    (Flags::ANSWERED, "\\Answered"),
    (Flags::DRAFT, "\\Draft"),
    (Flags::DELETED, "\\Deleted"),
];

/// A Store whose only Maildir is `maildir`, whatever the user name.
fn store_on(maildir: &Path) -> Arc<Store> {
    // No `{user}`: the config layer insists on it, the engine does not.
    StoreBuilder::for_mail_path(maildir.display().to_string())
        .lock_timeout(Duration::from_secs(10))
        .autocreate(false)
        .build()
}

fn name(s: &str) -> MailboxName {
    MailboxName::new(s).expect("valid mailbox name")
}

/// A distinct message with LF line ends (what Dovecot stores, so bytes compare 1:1);
/// `lines` pads it so sizes differ.
fn msg(subject: &str, lines: usize) -> Vec<u8> {
    let mut m = format!("From: a@example.org\nSubject: {subject}\nMessage-ID: <{subject}@t>\n\n")
        .into_bytes();
    for i in 0..lines {
        m.extend_from_slice(format!("line {i} of {subject}\n").as_bytes());
    }
    m
}

/// Roost's view of a mailbox in the shape of [`Dovecot::fetch`] (GUID left empty: Roost
/// does not expose file names).
fn roost_view(mb: &Mailbox) -> Vec<Fetched> {
    let snap = mb.snapshot().expect("snapshot");
    let names = mb.keyword_names();
    snap.messages
        .iter()
        .map(|m| {
            let mut flags: Vec<String> = FLAG_NAMES
                .iter()
                .filter(|(f, _)| m.flags.contains(*f))
                .map(|(_, n)| n.to_string())
                .collect();
            flags.sort();
            let mut keywords: Vec<String> = m
                .keywords
                .iter()
                .map(|i| {
                    names
                        .get(i)
                        .cloned()
                        .flatten()
                        .unwrap_or_else(|| panic!("uid {} has unnamed keyword {i}", m.uid))
                })
                .collect();
            keywords.sort();
            Fetched {
                uid: m.uid,
                flags,
                keywords,
                guid: String::new(),
            }
        })
        .collect()
}

fn without_guid(rows: &[Fetched]) -> Vec<Fetched> {
    rows.iter()
        .map(|r| Fetched {
            guid: String::new(),
            ..r.clone()
        })
        .collect()
}

fn read_message(mb: &Mailbox, uid: u32) -> Vec<u8> {
    let (mut f, _) = mb
        .open_message(uid)
        .expect("open_message")
        .unwrap_or_else(|| panic!("uid {uid} missing"));
    let mut v = Vec::new();
    f.read_to_end(&mut v).expect("read message");
    v
}

/// Roost sees exactly what Dovecot reports for `mailbox`: UIDs, flags, keywords,
/// UIDVALIDITY, UIDNEXT.
fn assert_same_view(dv: &Dovecot, mb: &Mailbox, mailbox: &str) {
    let theirs = dv.fetch(mailbox);
    assert_eq!(roost_view(mb), without_guid(&theirs), "{mailbox}: messages");
    let (validity, next) = dv.status(mailbox);
    let snap = mb.snapshot().expect("snapshot");
    assert_eq!(
        (snap.uid_validity, snap.next_uid),
        (validity, next),
        "{mailbox}: (UIDVALIDITY, UIDNEXT)"
    );
}

/// The Dovecot-made Maildir of part (a): INBOX uids 1,2,4,5 (3 expunged) with every system
/// flag and two keywords, `Entwürfe` with uid 1 left of 2. Returns the bytes saved per
/// (mailbox, uid).
fn dovecot_fixture(dv: &Dovecot) -> Vec<(&'static str, u32, Vec<u8>)> {
    let mut saved = Vec::new();
    for uid in 1..=5u32 {
        // One larger message, so a size field or a short read would show.
        let m = msg(
            &format!("inbox-{uid}"),
            if uid == 4 { 4000 } else { uid as usize },
        );
        dv.save("INBOX", &m);
        saved.push(("INBOX", uid, m));
    }
    dv.doveadm(&["mailbox", "create", "Entwürfe"]);
    for uid in 1..=2u32 {
        let m = msg(&format!("draft-{uid}"), 3);
        dv.save("Entwürfe", &m);
        saved.push(("Entwürfe", uid, m));
    }
    for (flags, mailbox, uid) in [
        ("\\Seen $Label1", "INBOX", "1"),
        ("\\Flagged Work", "INBOX", "2"),
        ("\\Answered \\Draft $Label1 Work", "INBOX", "4"),
        ("\\Deleted", "INBOX", "5"),
        ("\\Seen Work", "Entwürfe", "1"),
    ] {
        dv.doveadm(&["flags", "add", flags, "mailbox", mailbox, "uid", uid]);
    }
    dv.doveadm(&["expunge", "mailbox", "INBOX", "uid", "3"]);
    // The highest UID of the folder: UIDNEXT must stay above it.
    dv.doveadm(&["expunge", "mailbox", "Entwürfe", "uid", "2"]);
    saved.retain(|(mb, uid, _)| !matches!((*mb, *uid), ("INBOX", 3) | ("Entwürfe", 2)));
    saved
}

/// Everything Dovecot knows about the fixture, and the message bytes, match in Roost.
fn assert_fixture_matches(
    dv: &Dovecot,
    store: &Arc<Store>,
    saved: &[(&'static str, u32, Vec<u8>)],
) {
    let user = store.user("dv").expect("user");
    let listed: Vec<String> = user
        .list()
        .expect("list")
        .into_iter()
        .map(|e| e.name.as_str().to_string())
        .collect();
    assert_eq!(listed, ["Entwürfe", "INBOX"]);
    for mailbox in ["INBOX", "Entwürfe"] {
        let mb = user.open(&name(mailbox)).expect("open");
        assert_same_view(dv, &mb, mailbox);
        for (_, uid, bytes) in saved.iter().filter(|(m, _, _)| *m == mailbox) {
            assert_eq!(
                &read_message(&mb, *uid),
                bytes,
                "{mailbox} uid {uid}: message bytes"
            );
        }
    }
}

#[test]
fn dovecot_writes_roost_reads() {
    let Some(dv) = Dovecot::start() else { return };
    let saved = dovecot_fixture(&dv);

    // What Dovecot reports, spelled out, so a broken parser cannot make both sides agree
    // on nothing.
    let inbox = dv.fetch("INBOX");
    let uids: Vec<u32> = inbox.iter().map(|r| r.uid).collect();
    assert_eq!(uids, [1, 2, 4, 5]);
    assert_eq!(inbox[0].flags, ["\\Seen"]);
    assert_eq!(inbox[0].keywords, ["$Label1"]);
    assert_eq!(inbox[2].flags, ["\\Answered", "\\Draft"]);
    assert_eq!(inbox[2].keywords, ["$Label1", "Work"]);
    assert_eq!(dv.status("INBOX").1, 6);
    assert_eq!(dv.status("Entwürfe").1, 3);

    let store = store_on(&dv.maildir);
    assert_fixture_matches(&dv, &store, &saved);
    // Roost's visit did not disturb Dovecot.
    dv.chown_tree(&dv.maildir);
    assert_eq!(dv.fetch("INBOX"), inbox, "{}", dv.log());
}

#[test]
fn roost_index_rebuilds_from_a_dovecot_maildir() {
    let Some(dv) = Dovecot::start() else { return };
    let saved = dovecot_fixture(&dv);
    let before = {
        let store = store_on(&dv.maildir);
        assert_fixture_matches(&dv, &store, &saved);
        let user = store.user("dv").expect("user");
        let m = user.open(&name("INBOX")).expect("open");
        let modseq = m.snapshot().expect("snapshot").highest_modseq;
        drop(m);
        store.flush_all(true);
        modseq
    };
    let folder = dv
        .maildir
        .join(name("Entwürfe").dir_name().expect("folder"));
    for dir in [&dv.maildir, &folder] {
        let index = dir.join(INDEX_FILE);
        assert!(index.is_file(), "Roost wrote no index in {}", dir.display());
        std::fs::remove_file(&index).expect("remove index");
    }
    let store = store_on(&dv.maildir);
    assert_fixture_matches(&dv, &store, &saved);
    let user = store.user("dv").expect("user");
    let snap = user
        .open(&name("INBOX"))
        .expect("open")
        .snapshot()
        .expect("snapshot");
    assert!(
        snap.highest_modseq > before,
        "modseqs went back after the rebuild"
    );
}

/// How long the watcher may take to publish an outside change: milliseconds normally, but
/// on a loaded 2-core CI machine its thread can wait a second or more to run.
const FEED_WAIT: Duration = Duration::from_secs(15);

/// Waits up to [`FEED_WAIT`] for the change feed to move, without calling anything that syncs.
fn feed_moves_soon(rx: &mut tokio::sync::watch::Receiver<u64>) -> bool {
    let deadline = Instant::now() + FEED_WAIT;
    while Instant::now() < deadline {
        if rx.has_changed().unwrap_or(false) {
            rx.borrow_and_update();
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn roost_writes_dovecot_reads_and_back() {
    let Some(dv) = Dovecot::start() else { return };
    let store = store_on(&dv.maildir);
    let user = store.user("dv").expect("user");
    let inbox = user.open(&name("INBOX")).expect("open INBOX");
    let mut sent = Vec::new();
    for i in 1..=2 {
        let m = msg(&format!("roost-{i}"), i);
        assert_eq!(
            inbox.deliver(&mut &m[..], 1 << 20).expect("deliver"),
            i as u32
        );
        sent.push(m);
    }
    // An APPEND-like commit with flags and keywords goes straight to cur/.
    let m3 = msg("roost-3", 50);
    let mut w = inbox.create_tmp(1 << 20).expect("tmp");
    std::io::Write::write_all(&mut w, &m3).expect("write tmp");
    let tmp = w.finish(Some(1_700_000_000)).expect("finish");
    let uids = inbox
        .commit(
            vec![roost_storage::NewMessage {
                tmp,
                flags: Flags::SEEN,
                keywords: vec!["$Label1".into(), "Work".into()],
            }],
            false,
        )
        .expect("commit");
    assert_eq!(uids, [3]);
    sent.push(m3);
    let m4 = msg("roost-4", 4);
    assert_eq!(inbox.deliver(&mut &m4[..], 1 << 20).expect("deliver"), 4);
    sent.push(m4);
    inbox
        .store(
            &[1],
            FlagOp::Add,
            Flags::FLAGGED.union(Flags::ANSWERED),
            &["Work".into()],
            None,
        )
        .expect("store 1");
    inbox
        .store(&[4], FlagOp::Add, Flags::DRAFT, &[], None)
        .expect("store 4");
    assert_eq!(inbox.expunge(&[2]).expect("expunge"), [2]);
    let folder = name("Entwürfe");
    user.create(&folder).expect("create");
    user.subscribe("Entwürfe").expect("subscribe");
    let drafts = user.open(&folder).expect("open folder");
    drafts
        .deliver(&mut &msg("draft", 1)[..], 1 << 20)
        .expect("deliver to folder");
    drafts
        .store(&[1], FlagOp::Add, Flags::SEEN, &[], None)
        .expect("store in folder");
    // Dovecot runs as another user here: give it the files Roost made.
    dv.chown_tree(&dv.maildir);

    let theirs = dv.fetch("INBOX");
    assert_eq!(
        theirs.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [1, 3, 4],
        "{}",
        dv.log()
    );
    assert_eq!(theirs[0].flags, ["\\Answered", "\\Flagged"]);
    assert_eq!(theirs[0].keywords, ["Work"]);
    assert_eq!(theirs[1].flags, ["\\Seen"]);
    assert_eq!(theirs[1].keywords, ["$Label1", "Work"]);
    assert_same_view(&dv, &inbox, "INBOX");
    assert_same_view(&dv, &drafts, "Entwürfe");
    assert_eq!(dv.mailbox_list(false), ["Entwürfe", "INBOX"]);
    assert_eq!(dv.mailbox_list(true), ["Entwürfe"]);
    for (uid, m) in [(1, &sent[0]), (3, &sent[2]), (4, &sent[3])] {
        let body = dv.doveadm(&["fetch", "text", "mailbox", "INBOX", "uid", &uid.to_string()]);
        // doveadm prints `text:` and then the message as stored.
        let text = body.strip_prefix("text:\n").unwrap_or(&body);
        assert_eq!(
            text.as_bytes(),
            m.as_slice(),
            "uid {uid} as Dovecot reads it"
        );
    }

    // Dovecot delivers while Roost has INBOX open: the watcher publishes it.
    let mut feed = inbox.subscribe();
    feed.borrow_and_update();
    let seen_modseq = inbox.snapshot().expect("snapshot").highest_modseq;
    let m5 = msg("from-dovecot", 5);
    dv.save("INBOX", &m5);
    let dovecot_uid = dv.fetch("INBOX").last().expect("a message").uid;
    assert_eq!(dovecot_uid, 5);
    assert!(
        feed_moves_soon(&mut feed),
        "no change published (the watcher stayed silent) after Dovecot's delivery"
    );
    let changes = inbox.changes_since(seen_modseq).expect("changes");
    assert!(
        changes.changed.iter().any(|m| m.uid == dovecot_uid),
        "{changes:?}"
    );
    assert_eq!(read_message(&inbox, dovecot_uid), m5);

    // A flag change by Dovecot, with a keyword Roost has never seen: the feed moves
    // again, and the change carries the flag and the keyword's name.
    let seen_modseq = changes.highest_modseq;
    dv.doveadm(&[
        "flags",
        "add",
        "\\Seen Urgent",
        "mailbox",
        "INBOX",
        "uid",
        "1",
    ]);
    assert!(
        feed_moves_soon(&mut feed),
        "no change published (the watcher stayed silent) after Dovecot's flag change"
    );
    let changes = inbox.changes_since(seen_modseq).expect("changes");
    let one = changes
        .changed
        .iter()
        .find(|m| m.uid == 1)
        .unwrap_or_else(|| panic!("uid 1 not reported changed: {changes:?}"));
    assert!(one.flags.contains(Flags::SEEN));
    let names = inbox.keyword_names();
    let kw: Vec<&str> = one
        .keywords
        .iter()
        .filter_map(|i| names.get(i).and_then(|n| n.as_deref()))
        .collect();
    assert!(kw.contains(&"Urgent"), "{kw:?}");

    // An expunge by Dovecot reaches the feed as an expunge.
    let seen_modseq = changes.highest_modseq;
    dv.doveadm(&["expunge", "mailbox", "INBOX", "uid", "3"]);
    assert!(
        feed_moves_soon(&mut feed),
        "no change published (the watcher stayed silent) after Dovecot's expunge"
    );
    let changes = inbox.changes_since(seen_modseq).expect("changes");
    assert_eq!(changes.expunged, [3], "{changes:?}");
    assert!(inbox.open_message(3).expect("open_message").is_none());

    // And an explicit sync right after Dovecot's change sees it, watcher or not.
    dv.doveadm(&[
        "flags",
        "remove",
        "\\Flagged",
        "mailbox",
        "INBOX",
        "uid",
        "1",
    ]);
    inbox.sync_now(false).expect("sync_now");
    assert_same_view(&dv, &inbox, "INBOX");

    // Roost appends after Dovecot: its UID is above Dovecot's, and Dovecot agrees.
    let m6 = msg("roost-after", 6);
    let uid = inbox.deliver(&mut &m6[..], 1 << 20).expect("deliver");
    assert!(uid > dovecot_uid, "Roost reused UID {uid}");
    dv.chown_tree(&dv.maildir);
    assert_eq!(dv.fetch("INBOX").last().map(|r| r.uid), Some(uid));
    assert_same_view(&dv, &inbox, "INBOX");
}
