//! A Maildir Courier-IMAP kept, served by the real binary: the first open adopts
//! `courierimapuiddb` (UIDs, UIDVALIDITY) and `courierpop3dsizelist` (POP3 UIDLs), so
//! neither IMAP nor POP3 clients download anything again.

mod common;

use std::path::Path;

use common::imap::cmd;
use common::{Server, connect, plain_yaml, read_line, send};

const USERS: &str = "cora:{PLAIN}pw\n";

fn yaml(data: &Path) -> String {
    plain_yaml(data, "")
}

fn maildir(dir: &Path) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
}

fn message(subject: &str) -> String {
    format!("From: a@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n")
}

#[test]
fn courier_uids_and_uidls_are_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let inbox = data.join("mail/cora/Maildir");
    maildir(&inbox);
    std::fs::write(inbox.join("cur/1700000001.M1P1.old:2,S"), message("one")).unwrap();
    std::fs::write(inbox.join("cur/1700000002.M2P2.old:2,"), message("two")).unwrap();
    std::fs::write(inbox.join("new/1700000003.M3P3.old"), message("three")).unwrap();
    std::fs::write(
        inbox.join("courierimapuiddb"),
        "1 1699999999 50\n17 1700000001.M1P1.old:2,S\n42 1700000002.M2P2.old\n",
    )
    .unwrap();
    // Message three was only ever seen by POP3.
    std::fs::write(
        inbox.join("courierpop3dsizelist"),
        "/2 60 1699999999\n\
         1700000001.M1P1.old:2,S 60 55:1699999999\n\
         1700000002.M2P2.old 60 56:1699999999\n\
         1700000003.M3P3.old 62 57:1699999999\n",
    )
    .unwrap();
    let sent = inbox.join(".Sent");
    maildir(&sent);
    std::fs::write(sent.join("maildirfolder"), "").unwrap();
    std::fs::write(sent.join("cur/1700000004.M4P4.old:2,S"), message("sent")).unwrap();
    std::fs::write(
        sent.join("courierimapuiddb"),
        "1 1600000000 8\n7 1700000004.M4P4.old:2,S\n",
    )
    .unwrap();
    let server = Server::start_with_users(tmp.path(), yaml(&data), USERS, 2);

    let mut s = connect(server.addr("pop3"));
    read_line(&mut s);
    send(&mut s, "USER cora\r\nPASS pw\r\nUIDL\r\n");
    read_line(&mut s);
    assert!(read_line(&mut s).unwrap().starts_with("+OK"));
    let mut uidl = Vec::new();
    loop {
        let l = read_line(&mut s).unwrap();
        if l == "." {
            break;
        }
        uidl.push(l);
    }
    assert_eq!(
        uidl[1..],
        [
            "1 UID55-1699999999",
            "2 UID56-1699999999",
            "3 UID57-1699999999"
        ]
    );
    send(&mut s, "QUIT\r\n");

    let mut s = connect(server.addr("imap"));
    read_line(&mut s);
    cmd(&mut s, "a", "LOGIN cora pw");
    let select = cmd(&mut s, "a", "SELECT INBOX");
    assert!(
        select
            .iter()
            .any(|l| l.contains("[UIDVALIDITY 1699999999]")),
        "{select:?}"
    );
    assert!(
        select.iter().any(|l| l.contains("[UIDNEXT 51]")),
        "{select:?}"
    );
    let fetch = cmd(&mut s, "a", "FETCH 1:* (UID FLAGS)");
    assert_eq!(
        fetch[..3],
        [
            // Recent for the first session, as in a fresh Dovecot index.
            "* 1 FETCH (UID 17 FLAGS (\\Seen \\Recent))",
            "* 2 FETCH (UID 42 FLAGS (\\Recent))",
            "* 3 FETCH (UID 50 FLAGS (\\Recent))"
        ]
    );
    let status = cmd(&mut s, "a", "STATUS Sent (UIDVALIDITY UIDNEXT MESSAGES)");
    assert_eq!(
        status[0],
        "* STATUS Sent (UIDVALIDITY 1600000000 UIDNEXT 8 MESSAGES 1)"
    );
    let select = cmd(&mut s, "a", "SELECT Sent");
    assert!(
        select
            .iter()
            .any(|l| l.contains("[UIDVALIDITY 1600000000]"))
    );
    assert_eq!(cmd(&mut s, "a", "UID FETCH 7 UID")[0], "* 1 FETCH (UID 7)");
    cmd(&mut s, "a", "LOGOUT");

    // The adopted numbers are in dovecot-uidlist now, so Dovecot would agree too.
    let uidlist = std::fs::read_to_string(inbox.join("dovecot-uidlist")).unwrap();
    assert!(uidlist.starts_with("3 V1699999999 N51 "), "{uidlist}");
    assert!(uidlist.contains("\n17 "), "{uidlist}");
}
