//! The sans-IO session with CREATE-SPECIAL-USE, aliases, METADATA, NOTIFY and INPROGRESS:
//! bytes in, bytes out, on real Maildirs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use roost_storage::auth::Authenticator;
use roost_storage::{MailboxName, Store};

use super::tests::alice_store;
use super::{ImapContext, ImapSession, ImapSettings, Output};

pub(super) struct Fx {
    _dir: tempfile::TempDir,
    pub(super) store: Arc<Store>,
    auth: Arc<Authenticator>,
}

impl Fx {
    pub(super) fn new() -> Fx {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, auth) = alice_store(dir.path());
        Fx {
            _dir: dir,
            store,
            auth,
        }
    }

    pub(super) fn session(&self, settings: ImapSettings) -> ImapSession {
        let mut s = ImapSession::new(ImapContext {
            is_tls: false,
            starttls_available: false,
            cleartext_allowed: true,
            store: Arc::clone(&self.store),
            auth: Arc::clone(&self.auth),
            settings: Arc::new(settings),
            peer: "192.0.2.1:1234".into(),
            login_gate: None,
        });
        talk(&mut s, b"l LOGIN alice secret\r\n");
        s
    }

    pub(super) fn deliver(&self, mailbox: &str, n: usize) {
        let user = self.store.user("alice").expect("user");
        let mb = user
            .open(&MailboxName::new(mailbox).expect("name"))
            .expect("open");
        for i in 0..n {
            let m = format!("Subject: {i}\n\nbody {i}\n");
            mb.deliver(&mut m.as_bytes(), 1 << 20).expect("deliver");
        }
    }
}

/// Two sessions on INBOX with `n` messages: `a` (IMAP4rev2, so no \Recent noise) and `b`.
pub(super) fn two(fx: &Fx, n: usize) -> (ImapSession, ImapSession) {
    fx.deliver("INBOX", n);
    let mut a = fx.session(ImapSettings::default());
    let mut b = fx.session(ImapSettings::default());
    talk(&mut a, b"e ENABLE IMAP4rev2\r\n");
    talk(&mut a, b"s SELECT INBOX\r\n");
    talk(&mut b, b"s SELECT INBOX\r\n");
    (a, b)
}

pub(super) fn text(outputs: Vec<Output>) -> String {
    let mut out = Vec::new();
    for o in outputs {
        if let Output::Write(b) = o {
            out.extend_from_slice(&b);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn talk(s: &mut ImapSession, input: &[u8]) -> String {
    let outputs = s.feed(input);
    text(outputs)
}

#[test]
fn create_special_use_list_metadata_and_alias() {
    let fx = Fx::new();
    let mut s = fx.session(ImapSettings::default());
    assert_eq!(
        talk(&mut s, b"1 CREATE Box (USE (\\Drafts))\r\n"),
        "1 OK CREATE completed\r\n"
    );
    assert_eq!(
        talk(&mut s, b"2 LIST \"\" Box\r\n"),
        "* LIST (\\HasNoChildren \\Drafts) \".\" Box\r\n2 OK LIST completed\r\n"
    );
    assert_eq!(
        talk(&mut s, b"3 GETMETADATA Box /private/specialuse\r\n"),
        "* METADATA \"Box\" (/private/specialuse \"\\\\Drafts\")\r\n3 OK GETMETADATA completed\r\n"
    );
    assert_eq!(
        talk(
            &mut s,
            b"3b CREATE Multi (USE (\\Archive \\Junk))\r\n3c LIST \"\" Multi\r\n"
        ),
        "3b OK CREATE completed\r\n* LIST (\\HasNoChildren \\Archive \\Junk) \".\" Multi\r\n3c OK LIST completed\r\n"
    );
    assert_eq!(
        talk(&mut s, b"4 CREATE Flagged (USE (\\Flagged))\r\n"),
        "4 NO [USEATTR] Special-use attribute \\Flagged is not supported\r\n"
    );
    assert_eq!(
        talk(&mut s, b"5 STATUS \"Sent Items\" (MESSAGES)\r\n"),
        "* STATUS \"Sent Items\" (MESSAGES 0)\r\n5 OK STATUS completed\r\n"
    );
    assert_eq!(
        talk(&mut s, b"6 RENAME \"Sent Items\" Other\r\n"),
        "6 NO [CANNOT] Sent Items is another name of Sent; use that name\r\n"
    );
    // A real mailbox of the alias's name wins from then on.
    fx.store
        .user("alice")
        .expect("user")
        .create(&MailboxName::new("Sent Items").expect("name"))
        .expect("create");
    fx.deliver("Sent Items", 1);
    assert_eq!(
        talk(&mut s, b"7 STATUS \"Sent Items\" (MESSAGES)\r\n"),
        "* STATUS \"Sent Items\" (MESSAGES 1)\r\n7 OK STATUS completed\r\n"
    );
}

#[test]
fn notify_status_and_list_from_other_sessions() {
    let fx = Fx::new();
    let mut a = fx.session(ImapSettings::default());
    let mut b = fx.session(ImapSettings::default());
    assert_eq!(
        talk(
            &mut a,
            b"n NOTIFY SET (mailboxes (Sent INBOX) (MessageNew MessageExpunge)) (personal (MailboxName))\r\n"
        ),
        "n OK NOTIFY completed\r\n"
    );
    assert_eq!(a.notify_watches().len(), 3, "two mailboxes and the tree");
    assert_eq!(text(a.notify_update()), "");
    fx.deliver("Sent", 2);
    let got = text(a.notify_update());
    assert!(
        got.starts_with("* STATUS Sent (MESSAGES 2 UIDNEXT 3 UIDVALIDITY ")
            && got.ends_with(" UNSEEN 2)\r\n"),
        "{got}"
    );
    assert_eq!(text(a.notify_update()), "", "reported once");
    talk(&mut b, b"c CREATE New\r\n");
    assert_eq!(text(a.notify_update()), "* LIST () \".\" New\r\n");
    talk(&mut b, b"d DELETE New\r\n");
    assert_eq!(
        text(a.notify_update()),
        "* LIST (\\NonExistent) \".\" New\r\n"
    );
    assert_eq!(
        talk(&mut a, b"x NOTIFY SET (personal (FlagChange))\r\n"),
        "x BAD MessageNew and MessageExpunge go together, and FlagChange needs both\r\n"
    );
    assert_eq!(
        talk(
            &mut a,
            b"y NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))\r\n"
        ),
        "y NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] Unsupported NOTIFY events\r\n"
    );
    // No wake-ups in the middle of an APPEND literal.
    assert_eq!(
        talk(&mut a, b"p APPEND Sent {5}\r\n"),
        "+ Ready for the message\r\n"
    );
    assert!(a.notify_watches().is_empty());
    assert!(talk(&mut a, b"x\r\n\r\n\r\n").starts_with("p OK [APPENDUID "));
    assert_eq!(a.notify_watches().len(), 3);
    assert_eq!(
        talk(&mut a, b"z NOTIFY NONE\r\n"),
        "z OK NOTIFY completed\r\n"
    );
    assert!(a.notify_watches().is_empty());
}

#[test]
fn selected_delayed_holds_expunges_until_a_command_allows_them() {
    let fx = Fx::new();
    let mut a = fx.session(ImapSettings::default());
    talk(&mut a, b"s SELECT Sent\r\n");
    assert_eq!(
        talk(
            &mut a,
            b"n NOTIFY SET (selected-delayed (MessageNew MessageExpunge))\r\n"
        ),
        "n OK NOTIFY completed\r\n"
    );
    fx.deliver("Sent", 1);
    assert_eq!(text(a.notify_update()), "* 1 EXISTS\r\n* 1 RECENT\r\n");
    let sent = fx
        .store
        .user("alice")
        .expect("user")
        .open(&MailboxName::new("Sent").expect("name"))
        .expect("open");
    sent.expunge(&[1]).expect("expunge");
    assert_eq!(text(a.notify_update()), "", "held back");
    assert_eq!(
        talk(&mut a, b"o NOOP\r\n"),
        "* 1 EXPUNGE\r\no OK NOOP completed\r\n"
    );
    // With `selected` the expunge is sent at once.
    talk(
        &mut a,
        b"m NOTIFY SET (selected (MessageNew MessageExpunge))\r\n",
    );
    fx.deliver("Sent", 1);
    assert_eq!(text(a.notify_update()), "* 1 EXISTS\r\n* 1 RECENT\r\n");
    sent.expunge(&[2]).expect("expunge");
    assert_eq!(text(a.notify_update()), "* 1 EXPUNGE\r\n");
}

#[test]
fn inprogress_lines_go_to_the_sink_while_the_command_runs() {
    let fx = Fx::new();
    fx.deliver("INBOX", 3);
    let settings = ImapSettings {
        inprogress_after: Duration::ZERO,
        inprogress_interval: Duration::ZERO,
        ..ImapSettings::default()
    };
    let mut s = fx.session(settings);
    talk(&mut s, b"a SELECT INBOX\r\n");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    s.set_progress_sink(Arc::new(move |l| {
        sink.lock()
            .expect("lock")
            .push(String::from_utf8_lossy(&l).into_owned())
    }));
    assert_eq!(
        talk(&mut s, b"s SEARCH BODY body\r\n"),
        "* SEARCH 1 2 3\r\ns OK SEARCH completed\r\n"
    );
    let got = lines.lock().expect("lock").concat();
    assert_eq!(
        got,
        "* OK [INPROGRESS (\"s\" 0 3)] Still working\r\n\
         * OK [INPROGRESS (\"s\" 1 3)] Still working\r\n\
         * OK [INPROGRESS (\"s\" 2 3)] Still working\r\n"
    );
}

/// `imap.notify_max_mailboxes`: a NOTIFY SET over more mailboxes is refused with
/// `[NOTIFICATIONOVERFLOW]` (RFC 5465 3.1) and watches nothing; within the limit it is
/// accepted.
#[test]
fn notify_over_the_mailbox_limit_is_refused() {
    let fx = Fx::new();
    let mut s = fx.session(ImapSettings {
        notify_max_mailboxes: 1,
        ..ImapSettings::default()
    });
    let refused = talk(
        &mut s,
        b"n NOTIFY SET (mailboxes (Sent INBOX) (MessageNew MessageExpunge))\r\n",
    );
    assert!(
        refused.starts_with("n NO [NOTIFICATIONOVERFLOW] NOTIFY may watch at most 1 mailboxes"),
        "{refused}"
    );
    let fine = talk(
        &mut s,
        b"m NOTIFY SET (mailboxes (Sent) (MessageNew MessageExpunge))\r\n",
    );
    assert!(fine.ends_with("m OK NOTIFY completed\r\n"), "{fine}");
}
