//! OBJECTID (RFC 8474) end to end on the real `roost` binary: MAILBOXID in SELECT and
//! STATUS, stable across a restart and following RENAME; EMAILID kept by COPY and MOVE and
//! searchable; THREADID NIL.

mod common;

use common::imap::{cmd, login, ok};
use common::{ALICE, Server};

const MSG: &str = "From: a@example.org\r\nSubject: id\r\n\r\nbody\r\n";

/// The text inside `NAME (` ... `)` on any of the lines.
fn paren_value(lines: &[String], name: &str) -> String {
    let key = format!("{name} (");
    lines
        .iter()
        .find_map(|l| {
            let rest = &l[l.find(&key)? + key.len()..];
            Some(rest[..rest.find(')')?].to_string())
        })
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

#[test]
fn object_ids_are_stable_and_follow_the_message_and_mailbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    let caps = ok(&mut s, "CAPABILITY").join(" ");
    assert!(caps.contains(" OBJECTID"), "{caps}");
    ok(&mut s, "CREATE Box");
    let box_id = paren_value(&ok(&mut s, "SELECT Box"), "MAILBOXID");
    assert!(box_id.len() > 10, "{box_id}");
    let inbox_id = paren_value(&ok(&mut s, "SELECT INBOX"), "MAILBOXID");
    assert_ne!(box_id, inbox_id);
    let status = ok(&mut s, "STATUS Box (MESSAGES MAILBOXID)");
    assert_eq!(
        status[0],
        format!("* STATUS Box (MESSAGES 0 MAILBOXID ({box_id}))")
    );

    ok(&mut s, &format!("APPEND INBOX {{{}+}}\r\n{MSG}", MSG.len()));
    ok(&mut s, "NOOP");
    let f = ok(&mut s, "FETCH 1 (EMAILID THREADID)");
    let email = paren_value(&f, "EMAILID");
    assert!(f[0].ends_with("THREADID NIL)"), "{f:?}");
    let found = ok(&mut s, &format!("UID SEARCH EMAILID {email}"));
    assert_eq!(found[0], "* SEARCH 1");
    assert_eq!(ok(&mut s, "SEARCH EMAILID M000")[0], "* SEARCH");
    assert_eq!(ok(&mut s, "SEARCH THREADID T1")[0], "* SEARCH");
    let bad = cmd(&mut s, "b", "SEARCH EMAILID bad!id");
    assert!(bad[0].starts_with("b BAD "), "{bad:?}");

    ok(&mut s, "COPY 1 Box");
    ok(&mut s, "MOVE 1 Box");
    ok(&mut s, "SELECT Box");
    let copies = ok(&mut s, "FETCH 1:* (EMAILID)");
    assert_eq!(copies.len(), 3, "{copies:?}");
    for l in &copies[..2] {
        assert!(l.ends_with(&format!("(EMAILID ({email}))")), "{l}");
    }
    ok(&mut s, "UNSELECT");

    ok(&mut s, "RENAME Box Renamed");
    let after = ok(&mut s, "STATUS Renamed (MAILBOXID)");
    assert_eq!(paren_value(&after, "MAILBOXID"), box_id);
    ok(&mut s, "CREATE Box");
    let new_box = paren_value(&ok(&mut s, "STATUS Box (MAILBOXID)"), "MAILBOXID");
    assert_ne!(new_box, box_id);
    drop(s);
    drop(server);

    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    let again = ok(&mut s, "SELECT Renamed");
    assert_eq!(paren_value(&again, "MAILBOXID"), box_id);
    let f = ok(&mut s, "FETCH 1 (EMAILID)");
    assert_eq!(paren_value(&f, "EMAILID"), email);
    assert_eq!(
        paren_value(&ok(&mut s, "SELECT INBOX"), "MAILBOXID"),
        inbox_id
    );
}
