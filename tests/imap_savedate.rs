//! SAVEDATE (RFC 8514) end to end on the real `roost` binary: the save date of APPEND,
//! COPY and of a file another program dropped is when Roost took it in (not the file's
//! mtime, which is INTERNALDATE), it survives a restart, and the SAVED* keys search it.

mod common;

use common::imap::{cmd, login, ok};
use common::{ALICE, Server};

const MSG: &str = "From: a@example.org\r\nSubject: saved\r\n\r\nbody\r\n";

/// The quoted value after `NAME "` on the first line.
fn quoted(lines: &[String], name: &str) -> String {
    let key = format!("{name} \"");
    let l = &lines[0];
    let rest = &l[l.find(&key).unwrap_or_else(|| panic!("no {name} in {l}")) + key.len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

#[test]
fn save_dates_are_kept_and_searchable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    assert!(ok(&mut s, "CAPABILITY")[0].contains(" SAVEDATE"));
    ok(&mut s, "CREATE Box");
    ok(
        &mut s,
        &format!(
            "APPEND INBOX \"01-Jan-2001 00:00:00 +0000\" {{{}+}}\r\n{MSG}",
            MSG.len()
        ),
    );
    // Another program delivers a file whose mtime is long past: set in tmp/, before the
    // rename into new/ (the server may look at the file the instant it appears there).
    let maildir = dir.path().join("data/mail/alice/Maildir");
    let staged = maildir.join("tmp/978307200.M1P1.mta");
    std::fs::write(&staged, MSG.as_bytes()).expect("write to tmp/");
    roost_testkit::maildir::set_mtime(&staged, 978_307_200);
    std::fs::rename(&staged, maildir.join("new/978307200.M1P1.mta")).expect("rename to new/");
    ok(&mut s, "SELECT INBOX");
    let first = ok(&mut s, "FETCH 1 (INTERNALDATE SAVEDATE)");
    assert_eq!(quoted(&first, "INTERNALDATE"), "01-Jan-2001 00:00:00 +0000");
    let saved = quoted(&first, "SAVEDATE");
    let dropped = ok(&mut s, "FETCH 2 (INTERNALDATE SAVEDATE)");
    assert_eq!(
        quoted(&dropped, "INTERNALDATE"),
        "01-Jan-2001 00:00:00 +0000"
    );
    let day = saved.split(' ').next().expect("date").to_string();
    assert!(
        day.rsplit('-').next().is_some_and(|y| y >= "2025"),
        "{saved}"
    );
    assert!(
        quoted(&dropped, "SAVEDATE").starts_with(&day),
        "{dropped:?}"
    );

    let cases = [
        (format!("SEARCH SAVEDON {day}"), "* SEARCH 1 2"),
        (format!("SEARCH SAVEDSINCE {day}"), "* SEARCH 1 2"),
        (format!("SEARCH SAVEDBEFORE {day}"), "* SEARCH"),
        ("SEARCH SAVEDBEFORE 1-Jan-2002".to_string(), "* SEARCH"),
        ("SEARCH BEFORE 1-Jan-2002".to_string(), "* SEARCH 1 2"),
        ("SEARCH SAVEDATESUPPORTED".to_string(), "* SEARCH 1 2"),
        ("SEARCH NOT SAVEDATESUPPORTED".to_string(), "* SEARCH"),
    ];
    for (c, want) in &cases {
        assert_eq!(ok(&mut s, c)[0], *want, "{c}");
    }
    let bad = cmd(&mut s, "b", "SEARCH SAVEDON 31-Feb-2024");
    assert!(bad[0].starts_with("b BAD "), "{bad:?}");

    ok(&mut s, "COPY 1 Box");
    ok(&mut s, "EXAMINE Box");
    let copy = ok(&mut s, "FETCH 1 (INTERNALDATE SAVEDATE)");
    assert_eq!(quoted(&copy, "INTERNALDATE"), "01-Jan-2001 00:00:00 +0000");
    // COPY saves anew: a save date of its own, not the source's INTERNALDATE.
    assert!(
        !quoted(&copy, "SAVEDATE").starts_with("01-Jan-2001"),
        "{copy:?}"
    );
    drop(s);
    // A clean stop writes Roost's index; after `kill -9` a save date the index had not
    // written yet restarts at the rebuild (documented in docs/compliance.md).
    let mut server = server;
    server.signal(libc::SIGTERM);
    assert!(server.wait().success());
    drop(server);

    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    ok(&mut s, "SELECT INBOX");
    let again = ok(&mut s, "FETCH 1 (SAVEDATE)");
    assert_eq!(quoted(&again, "SAVEDATE"), saved);
}
