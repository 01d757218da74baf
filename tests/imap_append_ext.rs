//! MULTIAPPEND (RFC 3502), REPLACE (RFC 8508) and CATENATE (RFC 4469) byte for byte against
//! the real binary over TCP, and the Maildir they leave.

mod common;

use common::imap::{answer, cmd, login};
use common::{ALICE, Server, read_line, send};

/// `[APPENDUID v uids]` of a line, without the UIDVALIDITY.
fn appenduid(line: &str) -> &str {
    let start = line.find("[APPENDUID ").expect("APPENDUID") + 11;
    let rest = &line[start..];
    let rest = &rest[rest.find(' ').expect("two numbers") + 1..];
    &rest[..rest.find(']').expect("]")]
}

#[test]
fn multiappend_replace_and_catenate_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    let caps = cmd(&mut s, "c", "CAPABILITY");
    for cap in [" MULTIAPPEND", " REPLACE", " CATENATE", " UTF8=ACCEPT"] {
        assert!(caps[0].contains(cap), "{cap}: {caps:?}");
    }

    // Two messages, the second with a synchronizing literal: one `+`, one APPENDUID set.
    let (one, two) = (
        "Subject: one\r\n\r\nbody\r\n",
        "Subject: two\r\n\r\nbody\r\n",
    );
    send(
        &mut s,
        &format!(
            "a APPEND INBOX (\\Seen) {{{}+}}\r\n{one} {{{}}}\r\n",
            one.len(),
            two.len()
        ),
    );
    assert_eq!(read_line(&mut s).unwrap(), "+ Ready for the message");
    send(&mut s, &format!("{two}\r\n"));
    let r = answer(&mut s, "a");
    assert_eq!(appenduid(&r[0]), "1:2", "{r:?}");

    cmd(&mut s, "b", "SELECT INBOX");
    let v2 = "Subject: one v2\r\n\r\nbody\r\n";
    send(
        &mut s,
        &format!(
            "c UID REPLACE 1 INBOX (\\Flagged) {{{}+}}\r\n{v2}\r\n",
            v2.len()
        ),
    );
    let r = answer(&mut s, "c");
    assert_eq!(r.len(), 5, "{r:?}");
    assert!(r[0].starts_with("* OK [APPENDUID ") && appenduid(&r[0]) == "3");
    assert_eq!(
        r[1..],
        [
            "* 1 EXPUNGE",
            "* 2 EXISTS",
            "* 2 RECENT",
            "c OK REPLACE completed"
        ]
    );

    let r = cmd(
        &mut s,
        "d",
        "APPEND Drafts CATENATE (URL \"/INBOX/;UID=3/;SECTION=HEADER\" URL \"/INBOX/;UID=2/;SECTION=TEXT\")",
    );
    assert!(r[0].starts_with("d OK [APPENDUID "), "{r:?}");
    let r = cmd(
        &mut s,
        "e",
        "APPEND Drafts CATENATE (URL \"/Trash/;UID=1\")",
    );
    assert_eq!(r[0], "e NO [BADURL /Trash/;UID=1] No such message");
    cmd(&mut s, "f", "EXAMINE Drafts");
    let r = cmd(&mut s, "g", "FETCH 1 BODY[]");
    assert_eq!(
        r,
        [
            "* 1 FETCH (BODY[] {25}",
            "Subject: one v2",
            "",
            "body",
            ")",
            "g OK FETCH completed"
        ]
    );
    let inbox = std::fs::read_dir(dir.path().join("data/mail/alice/Maildir/cur"))
        .unwrap()
        .count();
    assert_eq!(inbox, 2);
}

#[test]
fn uidonly_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    send(&mut s, "a APPEND INBOX {3+}\r\nabc {3+}\r\ndef\r\n");
    answer(&mut s, "a");
    assert_eq!(
        cmd(&mut s, "b", "ENABLE UIDONLY"),
        ["* ENABLED UIDONLY", "b OK ENABLE completed"]
    );
    // RFC 9586 section 3: no message number in any response, so no [UNSEEN n].
    let select = cmd(&mut s, "c", "SELECT INBOX");
    assert!(select.iter().all(|l| !l.contains("UNSEEN")), "{select:?}");
    assert_eq!(
        cmd(&mut s, "g", "UID SORT (SUBJECT) UTF-8 1:*"),
        [
            "g BAD [UIDREQUIRED] UID SORT: message sequence numbers are not allowed after ENABLE UIDONLY"
        ]
    );
    assert_eq!(
        cmd(&mut s, "d", "FETCH 1:* FLAGS"),
        [
            "d BAD [UIDREQUIRED] FETCH: message sequence numbers are not allowed after ENABLE UIDONLY"
        ]
    );
    assert_eq!(
        cmd(&mut s, "e", "UID STORE 1:* +FLAGS (\\Deleted)"),
        [
            "* 1 UIDFETCH (FLAGS (\\Deleted \\Recent))",
            "* 2 UIDFETCH (FLAGS (\\Deleted \\Recent))",
            "e OK UID STORE completed"
        ]
    );
    assert_eq!(
        cmd(&mut s, "f", "UID EXPUNGE 2"),
        ["* VANISHED 2", "f OK EXPUNGE completed"]
    );
}
