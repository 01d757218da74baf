//! CATENATE (RFC 4469) against the real binary over TCP: a CATENATE list in every message of a
//! MULTIAPPEND, a TEXT part far over the 64 KiB inline literal limit streamed with flat
//! memory, `;PARTIAL` URLs, all-or-nothing on a bad URL, and TOOBIG with the session going on.

mod common;

use std::io::Write;

use common::imap::{answer, cmd, login};
use common::{ALICE, Server, read_line, send, vm_rss_kib};

#[test]
fn multiappend_with_catenate_and_a_16_mib_text_part() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    let seed = "Subject: seed\r\n\r\nhello world\r\n";
    send(
        &mut s,
        &format!("a APPEND INBOX {{{}+}}\r\n{seed}\r\n", seed.len()),
    );
    let r = answer(&mut s, "a");
    assert!(r[0].starts_with("a OK [APPENDUID "), "{r:?}");

    let before = vm_rss_kib(server.pid());
    const SIZE: usize = 16 * 1024 * 1024;
    send(
        &mut s,
        &format!(
            "b APPEND Drafts (\\Seen) CATENATE (URL \"/INBOX/;UID=1/;SECTION=HEADER\" TEXT {{{SIZE}}}\r\n"
        ),
    );
    assert_eq!(read_line(&mut s).unwrap(), "+ Ready for the message");
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
    let mut left = SIZE;
    let mut peak = before;
    while left > 0 {
        let n = left.min(line.len());
        s.write_all(&line[..n]).unwrap();
        left -= n;
        if left % (1024 * 1024) < line.len() {
            peak = peak.max(vm_rss_kib(server.pid()));
        }
    }
    // The list goes on after the TEXT part; then two more messages, one of them CATENATE.
    send(
        &mut s,
        " URL \"/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=6.5\") \
         CATENATE (URL \"/INBOX/;UID=1/;PARTIAL=0.13\") {3+}\r\nabc\r\n",
    );
    let r = answer(&mut s, "b");
    peak = peak.max(vm_rss_kib(server.pid()));
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].starts_with("b OK [APPENDUID ") && r[0].contains(" 1:3] "),
        "{r:?}"
    );
    // The TEXT part never sat in memory: well under its 16 MiB.
    assert!(
        peak < before + 8 * 1024,
        "RSS grew from {before} to {peak} KiB"
    );

    let header = "Subject: seed\r\n\r\n";
    let r = cmd(&mut s, "c", "STATUS Drafts (MESSAGES SIZE)");
    let size = header.len() + SIZE + "world".len() + "Subject: seed".len() + 3;
    assert_eq!(r[0], format!("* STATUS Drafts (MESSAGES 3 SIZE {size})"));
    cmd(&mut s, "d", "EXAMINE Drafts");
    let r = cmd(
        &mut s,
        "e",
        "FETCH 1:3 (FLAGS RFC822.SIZE BODY.PEEK[]<0.20>)",
    );
    assert_eq!(
        r,
        [
            format!(
                "* 1 FETCH (FLAGS (\\Seen \\Recent) RFC822.SIZE {} BODY[]<0> {{20}}",
                header.len() + SIZE + 5
            ),
            "Subject: seed".into(),
            "".into(),
            "012)".into(),
            "* 2 FETCH (FLAGS (\\Recent) RFC822.SIZE 13 BODY[]<0> {13}".into(),
            "Subject: seed)".into(),
            "* 3 FETCH (FLAGS (\\Recent) RFC822.SIZE 3 BODY[]<0> {3}".into(),
            "abc)".into(),
            "e OK FETCH completed".to_string(),
        ]
    );
    let r = cmd(&mut s, "f", "FETCH 1 BODY.PEEK[TEXT]<16777216.5>");
    assert_eq!(r[0], "* 1 FETCH (BODY[TEXT]<16777216> {5}");
    assert_eq!(r[1], "world)");

    // A bad URL in the second message: nothing of the command is stored.
    let r = cmd(
        &mut s,
        "g",
        "APPEND Drafts CATENATE (TEXT {3+}\r\nabc) CATENATE (URL \"/INBOX/;UID=7\")",
    );
    assert_eq!(r, ["g NO [BADURL /INBOX/;UID=7] No such message"]);
    // A TEXT part over the limit is refused before its `+`; the session goes on.
    let r = cmd(
        &mut s,
        "h",
        "APPEND Drafts CATENATE (URL \"/INBOX/;UID=1\" TEXT {60000000}",
    );
    assert_eq!(
        r,
        ["h NO [TOOBIG] Message is larger than the limit of 52428800 bytes"]
    );
    let r = cmd(&mut s, "i", "STATUS Drafts (MESSAGES)");
    assert_eq!(r[0], "* STATUS Drafts (MESSAGES 3)");
}
