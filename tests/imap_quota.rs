//! QUOTA (RFC 9208) and UNAUTHENTICATE (RFC 8437) end to end: limits from the config and
//! the users file, enforced on IMAP APPEND/COPY, LMTP (smtplib) and `roost deliver`.

mod common;

use std::net::TcpStream;
use std::path::Path;

use common::imap::{answer, cmd, login};
use common::{Server, config_yaml_lmtp, lmtp_send_py, roost, send};
use roost_testkit::process::output_with_input;

/// alice: 4 KiB from her users-file rule, 3 messages from the config default.
/// bob: unlimited by his own fields.
const USERS: &str = "alice:{PLAIN}secret::::::userdb_quota_rule=*:storage=4\n\
                     bob:{PLAIN}secret::::::quota_storage=0 quota_messages=0\n";

fn start(dir: &Path) -> Server {
    let yaml = config_yaml_lmtp(&dir.join("data")) + "quota:\n  storage_kib: 1\n  messages: 3\n";
    Server::start_with_users(dir, yaml, USERS, 5)
}

/// APPEND with a non-synchronizing literal; returns the tagged answer.
fn append(s: &mut TcpStream, tag: &str, mailbox: &str, size: usize) -> String {
    let mut msg = b"Subject: q\r\n\r\n".to_vec();
    msg.resize(size, b'x');
    send(s, &format!("{tag} APPEND {mailbox} {{{size}+}}\r\n"));
    send(s, &String::from_utf8(msg).unwrap());
    send(s, "\r\n");
    answer(s, tag).pop().unwrap()
}

fn tagged(lines: &[String]) -> &str {
    lines.last().unwrap()
}

#[test]
fn quota_is_reported_and_enforced_for_imap() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut s = login(&server, "alice");
    let caps = cmd(&mut s, "c", "CAPABILITY");
    for cap in [
        " QUOTA ",
        " QUOTA=RES-STORAGE ",
        " QUOTA=RES-MESSAGE ",
        " UNAUTHENTICATE",
    ] {
        assert!(caps[0].contains(cap), "{cap} in {caps:?}");
    }
    assert_eq!(
        cmd(&mut s, "a", "GETQUOTAROOT INBOX"),
        [
            "* QUOTAROOT INBOX \"User quota\"",
            "* QUOTA \"User quota\" (STORAGE 0 4 MESSAGE 0 3)",
            "a OK GETQUOTAROOT completed",
        ]
    );
    assert!(append(&mut s, "b", "INBOX", 2000).starts_with("b OK [APPENDUID "));
    // 2000 + 2500 octets > 4 KiB: refused, nothing stored.
    assert_eq!(
        append(&mut s, "c", "INBOX", 2500),
        "c NO [OVERQUOTA] quota exceeded: the storage limit of 4 KiB is reached"
    );
    assert!(append(&mut s, "d", "Drafts", 100).starts_with("d OK"));
    assert!(append(&mut s, "e", "INBOX", 100).starts_with("e OK"));
    // Usage counts every mailbox: three messages now.
    assert_eq!(
        cmd(&mut s, "f", "GETQUOTA \"User quota\""),
        [
            "* QUOTA \"User quota\" (STORAGE 3 4 MESSAGE 3 3)",
            "f OK GETQUOTA completed",
        ]
    );
    assert_eq!(
        append(&mut s, "g", "INBOX", 10),
        "g NO [OVERQUOTA] quota exceeded: the message count limit of 3 is reached"
    );
    cmd(&mut s, "h", "SELECT INBOX");
    let r = cmd(&mut s, "i", "COPY 1 Drafts");
    assert!(tagged(&r).starts_with("i NO [OVERQUOTA] "), "{r:?}");
    // A move does not grow usage, so a full user can still clean up.
    let r = cmd(&mut s, "j", "MOVE 1 Drafts");
    assert_eq!(tagged(&r), "j OK MOVE completed", "{r:?}");
    let r = cmd(&mut s, "k", "SETQUOTA \"User quota\" (STORAGE 100000)");
    assert!(tagged(&r).starts_with("k NO [NOPERM] "), "{r:?}");
    let r = cmd(&mut s, "l", "GETQUOTA \"\"");
    assert!(tagged(&r).starts_with("l NO [NONEXISTENT] "), "{r:?}");
    let r = cmd(&mut s, "m", "GETQUOTAROOT Nope");
    assert!(tagged(&r).starts_with("m NO [NONEXISTENT] "), "{r:?}");
    let r = cmd(&mut s, "n", "SETQUOTA x (STORAGE)");
    assert!(tagged(&r).starts_with("n BAD "), "{r:?}");

    // bob's own fields lift the configured limits.
    let mut b = login(&server, "bob");
    assert_eq!(
        cmd(&mut b, "a", "GETQUOTAROOT INBOX"),
        [
            "* QUOTAROOT INBOX \"User quota\"",
            "* QUOTA \"User quota\" ()",
            "a OK GETQUOTAROOT completed",
        ]
    );
    for (i, t) in ["b", "c", "d", "e"].iter().enumerate() {
        let r = append(&mut b, t, "INBOX", 2000 + i);
        assert!(r.starts_with(&format!("{t} OK")), "{r}");
    }
}

#[test]
fn lmtp_and_deliver_refuse_only_the_full_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut s = login(&server, "alice");
    for t in ["a", "b", "c"] {
        assert!(append(&mut s, t, "INBOX", 50).starts_with(&format!("{t} OK")));
    }
    let out = lmtp_send_py(
        server.addr("lmtp"),
        "sender@example.org",
        &["alice", "bob"],
        b"Subject: hi\n\nbody\n",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "DONE alice 452 4.2.2 <alice> Mailbox is full (quota exceeded: the message count limit of 3 is reached)"
        ),
        "{text}"
    );
    assert!(text.contains("DONE bob 250 2.0.0 <bob> Saved"), "{text}");

    // `roost deliver` defers (EX_TEMPFAIL) so the MTA keeps the mail.
    let deliver = |user: &str| {
        output_with_input(
            roost()
                .args(["deliver", "--user", user])
                .arg("-c")
                .arg(&server.config),
            b"Subject: hi\n\nbody\n",
        )
    };
    let out = deliver("alice");
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("quota exceeded"));
    assert_eq!(deliver("bob").status.code(), Some(0));
    let r = cmd(&mut s, "d", "GETQUOTA \"User quota\"");
    assert!(r[0].ends_with("MESSAGE 3 3)"), "{r:?}");
}

#[test]
fn unauthenticate_returns_to_the_not_authenticated_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut s = login(&server, "alice");
    cmd(&mut s, "a", "ENABLE IMAP4rev2");
    cmd(&mut s, "b", "SELECT INBOX");
    assert_eq!(
        cmd(&mut s, "c", "UNAUTHENTICATE"),
        ["c OK UNAUTHENTICATE completed"]
    );
    let caps = cmd(&mut s, "d", "CAPABILITY");
    assert!(caps[0].contains(" AUTH=PLAIN"), "{caps:?}");
    assert!(!caps[0].contains("QUOTA"), "{caps:?}");
    assert!(!caps[0].contains("UNAUTHENTICATE"), "{caps:?}");
    let r = cmd(&mut s, "e", "SELECT INBOX");
    assert_eq!(tagged(&r), "e BAD SELECT: log in first");
    let r = cmd(&mut s, "f", "UNAUTHENTICATE");
    assert_eq!(tagged(&r), "f BAD UNAUTHENTICATE: log in first");
    // Log in again, as someone else: ENABLE state is gone too (mUTF-7 names again).
    let r = cmd(&mut s, "g", "LOGIN bob secret");
    assert!(tagged(&r).starts_with("g OK"), "{r:?}");
    let r = cmd(&mut s, "h", "CREATE \"&AOQ-\"");
    assert_eq!(tagged(&r), "h OK CREATE completed", "{r:?}");
    let r = cmd(&mut s, "i", "LIST \"\" \"&AOQ-\"");
    assert_eq!(r[0], "* LIST (\\HasNoChildren) \".\" &AOQ-", "{r:?}");
}

#[test]
fn multiappend_over_quota_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut s = login(&server, "alice");
    let mut big = "Subject: big\r\n\r\n".to_string();
    big.push_str(&"y".repeat(2500 - big.len()));
    send(
        &mut s,
        &format!("a APPEND INBOX {{5+}}\r\nsmall (\\Seen) {{2500+}}\r\n{big}"),
    );
    // 5 + 2500 fits; the third message brings it over 4 KiB: the whole command fails.
    send(&mut s, &format!(" {{2000+}}\r\n{}\r\n", "z".repeat(2000)));
    let r = answer(&mut s, "a");
    assert_eq!(
        r,
        ["a NO [OVERQUOTA] quota exceeded: the storage limit of 4 KiB is reached"]
    );
    assert_eq!(
        cmd(&mut s, "b", "GETQUOTA \"User quota\"")[0],
        "* QUOTA \"User quota\" (STORAGE 0 4 MESSAGE 0 3)"
    );
    send(&mut s, "c APPEND INBOX {5+}\r\nsmall {3+}\r\nabc\r\n");
    let r = answer(&mut s, "c");
    assert!(
        r[0].starts_with("c OK [APPENDUID ") && r[0].contains(" 1:2] "),
        "{r:?}"
    );
}
