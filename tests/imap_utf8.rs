//! UTF8=ACCEPT (RFC 6855) against the real binary: UTF-8 names on the wire, modified UTF-7
//! on disk (what Dovecot reads), a UTF8 APPEND fetched back byte for byte.

mod common;

use common::imap::{cmd, login};
use common::{ALICE, Server, read_line, send};

#[test]
fn utf8_accept_names_are_utf8_on_the_wire_and_mutf7_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    assert_eq!(
        cmd(&mut s, "a", "ENABLE UTF8=ACCEPT"),
        ["* ENABLED UTF8=ACCEPT", "a OK ENABLE completed"]
    );
    assert_eq!(
        cmd(&mut s, "b", "CREATE \"Grüße\""),
        ["b OK CREATE completed"]
    );
    let maildir = dir.path().join("data/mail/alice/Maildir");
    assert!(maildir.join(".Gr&APwA3w-e/cur").is_dir());
    let msg = "Subject: Grüße\r\n\r\nÄpfel\r\n";
    send(
        &mut s,
        &format!("c APPEND \"Grüße\" UTF8 (~{{{}+}}\r\n{msg})\r\n", msg.len()),
    );
    let r = read_line(&mut s).unwrap();
    assert!(r.starts_with("c OK [APPENDUID "), "{r}");
    cmd(&mut s, "d", "SELECT \"Grüße\"");
    let r = cmd(&mut s, "e", "FETCH 1 BODY.PEEK[]");
    assert_eq!(r[0], format!("* 1 FETCH (BODY[] {{{}}}", msg.len()));
    // A second session without UTF8=ACCEPT sees the same mailbox in modified UTF-7.
    let mut t = login(&server, "alice");
    let r = cmd(&mut t, "a", "LIST \"\" \"Gr*\"");
    assert_eq!(r[0], "* LIST (\\HasNoChildren) \".\" Gr&APwA3w-e", "{r:?}");
}
