//! CREATE-SPECIAL-USE, special-use aliases and METADATA end to end: the real `roost`
//! binary with Python's imaplib and raw sockets for the exact bytes.

mod common;

use common::imap::answer;
use common::{ALICE, Server, connect, have, python_client, read_line, send};

#[test]
fn imaplib_creates_special_use_finds_aliases_and_keeps_metadata() {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_users(dir.path(), ALICE);
    let addr = server.addr("imap");
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        "alice".into(),
        "secret".into(),
    ];
    let stdout = python_client(&server, "imap_special_use.py", &args);
    let want = [
        "caps: CREATE-SPECIAL-USE METADATA METADATA-SERVER NOTIFY",
        "create-use: OK ['CREATE completed']",
        "create-bad-use: NO ['[USEATTR] Special-use attribute \\\\Flagged is not supported']",
        "list-outbox: OK ['(\\\\HasNoChildren \\\\Sent) \".\" Outbox']",
        "list-special: OK ['LIST completed']",
        "list-special-data: ['(\\\\HasNoChildren \\\\Archive) \".\" Archive', \
         '(\\\\HasNoChildren \\\\Drafts) \".\" Drafts', '(\\\\HasNoChildren \\\\Junk) \".\" Junk', \
         '(\\\\HasNoChildren \\\\Sent) \".\" Outbox', '(\\\\HasNoChildren \\\\Sent) \".\" Sent', \
         '(\\\\HasNoChildren \\\\Trash) \".\" Trash']",
        "status-sent: OK ['Sent (MESSAGES 1)']",
        "status-alias: OK ['\"Sent Items\" (MESSAGES 1)']",
        "select-alias: OK ['1']",
        "list-alias-exact: OK ['(\\\\HasNoChildren) \".\" \"Sent Items\"']",
        "list-all-has-no-alias: OK ['(\\\\HasNoChildren \\\\Sent) \".\" Sent']",
        "create-alias: NO ['[ALREADYEXISTS] Sent Items exists as another name of Sent']",
        "delete-alias: NO ['[CANNOT] Sent Items is another name of Sent; use that name']",
        "sent-dir-has: [b'1']",
        "setmd-server: OK ['SETMETADATA completed']",
        "setmd-box: OK ['SETMETADATA completed']",
        "getmd-server: OK [b'\"\" (/private/comment \"hello there\")']",
        "getmd-specialuse: OK [b'\"Outbox\" (/private/specialuse \"\\\\\\\\Sent\")']",
        "getmd-renamed: OK [b'\"Outbox2\" (/private/specialuse \"\\\\\\\\Sent\" /shared/comment \"box note\")']",
    ];
    let got: Vec<&str> = stdout.lines().collect();
    assert_eq!(got, want, "\n{stdout}");
}

#[test]
fn metadata_bytes_limits_and_literals() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_users_with(
        dir.path(),
        ALICE,
        "imap:\n  metadata_max_size: 10\n  metadata_max_entries: 3\n",
    );
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(&mut s, "a LOGIN alice secret\r\n");
    answer(&mut s, "a");
    let steps: &[(&str, &[&str])] = &[
        (
            "b SETMETADATA INBOX (/private/a \"0123456789\" /shared/b ~{3}\r\nx\0y)\r\n",
            &["+ Ready", "b OK SETMETADATA completed"],
        ),
        (
            "c SETMETADATA INBOX (/private/c \"01234567890\")\r\n",
            &["c NO [METADATA MAXSIZE 10] A value is larger than 10 octets"],
        ),
        (
            "d SETMETADATA \"\" (/private/c \"1\" /private/d \"2\")\r\n",
            &["d NO [METADATA TOOMANY] No more than 3 entries per user"],
        ),
        (
            "e GETMETADATA (MAXSIZE 5) INBOX (/private/a /shared/b /shared/none)\r\n",
            &[
                "* METADATA \"INBOX\" (/shared/b ~{3}",
                "x\0y /shared/none NIL)",
                "e OK [METADATA LONGENTRIES 10] GETMETADATA completed",
            ],
        ),
        (
            "f GETMETADATA INBOX /other\r\n",
            &[
                "f BAD GETMETADATA: invalid metadata entry name (must be /private/... or /shared/..., printable ASCII) at byte 20 near \"/other\"",
            ],
        ),
        (
            "g GETMETADATA Nowhere /private/a\r\n",
            &["g NO [NONEXISTENT] Mailbox Nowhere does not exist"],
        ),
        (
            "h SETMETADATA INBOX (/private/a NIL /shared/b NIL)\r\n",
            &["h OK SETMETADATA completed"],
        ),
        (
            "i GETMETADATA (DEPTH infinity) INBOX /private\r\n",
            &["i OK GETMETADATA completed"],
        ),
        (
            "j CREATE Box (USE (\\Junk \\Unknown))\r\n",
            &["j NO [USEATTR] Special-use attribute \\Unknown is not supported"],
        ),
        ("k LIST \"\" Box\r\n", &["k OK LIST completed"]),
        // A deleted mailbox takes its entries along: a new one of that name has none.
        ("l CREATE Gone\r\n", &["l OK CREATE completed"]),
        (
            "m SETMETADATA Gone (/private/x \"1\")\r\n",
            &["m OK SETMETADATA completed"],
        ),
        ("n DELETE Gone\r\n", &["n OK DELETE completed"]),
        ("o CREATE Gone\r\n", &["o OK CREATE completed"]),
        (
            "p GETMETADATA Gone /private/x\r\n",
            &[
                "* METADATA \"Gone\" (/private/x NIL)",
                "p OK GETMETADATA completed",
            ],
        ),
    ];
    for (cmd, want) in steps {
        send(&mut s, cmd);
        let tag = &cmd[..1];
        let got = answer(&mut s, tag);
        assert_eq!(&got, want, "{cmd:?}");
    }
    // The per-user file is where the docs say, and holds nothing after the removals.
    let file = dir.path().join("data/mail/alice/Maildir/roost-metadata");
    assert_eq!(std::fs::read_to_string(file).unwrap(), "roost-metadata 1\n");
}
