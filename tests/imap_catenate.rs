//! CATENATE (RFC 4469) against the real binary over TCP: a CATENATE list in every message of a
//! MULTIAPPEND, a TEXT part far over the 64 KiB inline literal limit streamed with flat
//! memory, `;PARTIAL` URLs, all-or-nothing on a bad URL, and TOOBIG with the session going on.

mod common;

use common::imap::{answer, cmd, login};
use common::{ALICE, Server, read_line, send, stream_lines_watching_rss, vm_rss_kib};

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
    let mut peak = stream_lines_watching_rss(&mut s, SIZE, server.pid(), before);
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

/// A multipart message both servers get first, so URLs have parts to name.
const SEED: &str = "From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
tw=C3=B6\r\n--b--\r\n";

/// Pipelined with non-synchronizing literals only, so both servers read it the same way.
fn dovecot_script() -> String {
    format!(
        "s0 CREATE Cat\r\ns1 APPEND INBOX {{{}+}}\r\n{SEED}\r\n\
k0 APPEND Cat (\\Seen) CATENATE (URL \"/INBOX/;UID=1/;SECTION=HEADER.FIELDS%20(Subject%20From)\" \
TEXT {{6+}}\r\nhello\n URL \"/INBOX/;UID=1/;SECTION=1\") CATENATE (URL \"/INBOX/;UID=1/;SECTION=2.MIME\" \
URL \"/INBOX/;UID=1/;SECTION=2\") {{3+}}\r\nabc\r\n\
k1 APPEND Cat CATENATE (URL \"/INBOX/;UID=1/;SECTION=HEADER.FIELDS.NOT%20(Subject)\" TEXT {{2+}}\r\nok)\r\n\
k2 APPEND Cat CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=1\")\r\n\
k3 APPEND Cat {{3+}}\r\nabc CATENATE (URL \"/INBOX/;UID=9\")\r\n\
k4 APPEND Cat CATENATE (URL \"/INBOX/;UID=1/;SECTION=TEXT/;PARTIAL=3.10\" URL \"/INBOX/;UID=1/;PARTIAL=200\")\r\n\
k5 APPEND Cat CATENATE (URL \"/INBOX/;UID=1;URLAUTH=anonymous:internal:00\")\r\n\
e EXAMINE Cat\r\nf FETCH 1:* (FLAGS BODY.PEEK[])\r\n",
        SEED.len()
    )
}

/// Each `k` command's status and response code (the APPENDUID numbers left out), then
/// every line of the final FETCH.
fn comparable(out: &str) -> (Vec<String>, Vec<String>) {
    let mut status = Vec::new();
    let mut fetch = Vec::new();
    let mut in_fetch = false;
    for line in out.split("\r\n") {
        if line.starts_with('k') {
            let mut words = line.split(' ').skip(1);
            let word = words.next().unwrap_or("");
            let code = match words.next() {
                Some(c) if c.starts_with("[APPENDUID") => "[APPENDUID]".to_string(),
                Some(c) if c.starts_with("[BADURL") => {
                    format!("{c} {}", words.next().unwrap_or(""))
                }
                Some(c) if c.starts_with('[') => c.to_string(),
                _ => String::new(),
            };
            status.push(format!("{} {word} {code}", &line[..2]));
        }
        in_fetch |= line.starts_with("* 1 FETCH");
        if line.starts_with("f ") {
            in_fetch = false;
        }
        if in_fetch {
            fetch.push(line.to_string());
        }
    }
    (status, fetch)
}

#[test]
fn catenate_stores_what_dovecot_stores() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    send(&mut s, &format!("{}z LOGOUT\r\n", dovecot_script()));
    let mut ours = String::new();
    while let Some(l) = read_line(&mut s) {
        ours.push_str(&l);
        ours.push_str("\r\n");
        if l.starts_with("z OK") {
            break;
        }
    }
    let Some(dv) = roost_testkit::Dovecot::start() else {
        return;
    };
    let theirs =
        String::from_utf8_lossy(&dv.imap(format!("{}z LOGOUT\r\n", dovecot_script()).as_bytes()))
            .into_owned();
    if std::env::var_os("CATENATE_DUMP").is_some() {
        eprintln!("=== Roost\n{ours}\n=== Dovecot\n{theirs}");
    }
    let (ours, theirs) = (comparable(&ours), comparable(&theirs));
    // Both must have stored the messages, or the comparison proves nothing.
    assert_eq!(theirs.0.len(), 6, "{theirs:?}");
    assert!(theirs.1.len() > 10, "{theirs:?}");
    assert_eq!(ours.0, theirs.0);
    assert_eq!(ours.1, theirs.1);
}
