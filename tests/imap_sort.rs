//! SORT, THREAD, ESORT and PARTIAL (RFC 5256, 5957, 5267, 9394) end to end: the same
//! messages APPENDed with the same INTERNALDATEs into the real `roost` binary and into a
//! live Dovecot (its `imap` binary in PREAUTH mode), the same commands sent to both, and
//! the untagged answers compared byte for byte.

mod common;

use std::net::TcpStream;
use std::path::Path;

use common::imap::{cmd, login};
use common::{ALICE, Server, connect, have, read_line, send};
use roost_testkit::Dovecot;

/// (INTERNALDATE, message). Threads with References chains, an In-Reply-To only reply,
/// missing parents, subject-only groups, duplicate and missing Message-IDs, a reference
/// loop; subjects with every RFC 5256 base-subject form; dates in zones, missing and
/// broken; display names plain, quoted, encoded and absent.
const CORPUS: &[(&str, &str)] = &[
    (
        "01-Jan-2024 10:00:00 +0000",
        "Message-ID: <a1@x>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nFrom: \"Alice Smith\" <alice@example.com>\nTo: bob@example.com\nSubject: Thread A\n\nfirst\n",
    ),
    (
        "01-Jan-2024 11:00:00 +0000",
        "Message-ID: <a2@x>\nReferences: <a1@x>\nDate: Mon, 1 Jan 2024 11:00:00 +0000\nFrom: Bob <bob@example.com>\nTo: Alice Smith <alice@example.com>\nSubject: Re: Thread A\n\nsecond message, a bit longer than the first\n",
    ),
    (
        "01-Jan-2024 14:00:00 +0000",
        "Message-ID: <a3@x>\nReferences: <a1@x> <a2@x>\nDate: Mon, 1 Jan 2024 09:00:00 -0500\nFrom: carol@example.net\nTo: bob@example.com\nCc: \"Zed\" <aaa@x.org>\nSubject: RE: [list] Thread A\n\nthird\n",
    ),
    (
        "01-Jan-2024 12:00:00 +0000",
        "Message-ID: <a4@x>\nIn-Reply-To: <a2@x>\nDate: Mon, 1 Jan 2024 12:00:00 +0000\nFrom: dave@example.com\nTo: x@y.z\nSubject: Re: Re: Thread A\n\nfourth\n",
    ),
    (
        "02-Jan-2024 08:00:00 +0000",
        "Message-ID: <b2@x>\nReferences: <b1@missing>\nDate: Tue, 2 Jan 2024 08:00:00 +0000\nFrom: erin@example.com\nSubject: Lost parent\n\nx\n",
    ),
    (
        "02-Jan-2024 09:00:00 +0000",
        "Message-ID: <b3@x>\nReferences: <b1@missing>\nDate: Tue, 2 Jan 2024 09:00:00 +0000\nFrom: frank@example.com\nSubject: Re: Lost parent\n\nx\n",
    ),
    (
        "03-Jan-2024 08:00:00 +0000",
        "Message-ID: <c1@x>\nDate: Wed, 3 Jan 2024 08:00:00 +0000\nFrom: \"grace\" <grace@example.com>\nSubject: Subject only group\n\nx\n",
    ),
    (
        "03-Jan-2024 09:00:00 +0000",
        "Message-ID: <c2@x>\nDate: Wed, 3 Jan 2024 09:00:00 +0000\nFrom: heidi@example.com\nSubject: Re: subject only group\n\nx\n",
    ),
    (
        "02-Jan-2024 07:00:00 +0000",
        "Message-ID: <c3@x>\nDate: Tue, 2 Jan 2024 07:00:00 +0000\nFrom: ivan@example.com\nSubject: Fwd: Subject only group\n\nx\n",
    ),
    (
        "04-Jan-2024 08:00:00 +0000",
        "Message-ID: <d1@x>\nDate: Thu, 4 Jan 2024 08:00:00 +0000\nFrom: judy@example.com\nSubject: [fwd: Forwarded thing]\n\nx\n",
    ),
    (
        "04-Jan-2024 07:00:00 +0000",
        "Message-ID: <d2@x>\nDate: Thu, 4 Jan 2024 07:00:00 +0000\nFrom: ken@example.com\nSubject: Forwarded thing (fwd)\n\nx\n",
    ),
    (
        "04-Jan-2024 07:00:00 +0000",
        "Subject: No id\nFrom: leo@example.com\n\nno message-id and no date\n",
    ),
    (
        "05-Jan-2024 08:00:00 +0000",
        "Message-ID: <dup@x>\nDate: Fri, 5 Jan 2024 08:00:00 +0000\nFrom: mallory@example.com\nSubject: Dup 1\n\nx\n",
    ),
    (
        "05-Jan-2024 09:00:00 +0000",
        "Message-ID: <dup@x>\nDate: Fri, 5 Jan 2024 09:00:00 +0000\nFrom: nina@example.com\nSubject: Dup 2\n\nx\n",
    ),
    (
        "06-Jan-2024 08:00:00 +0000",
        "Message-ID: <e1@x>\nReferences: <e0@missing>\nDate: Sat, 6 Jan 2024 08:00:00 +0000\nFrom: oscar@example.com\nSubject: Other\n\nx\n",
    ),
    (
        "06-Jan-2024 09:00:00 +0000",
        "Message-ID: <e2@x>\nReferences: <e0@missing>\nDate: Sat, 6 Jan 2024 09:00:00 +0000\nFrom: peggy@example.com\nSubject: Other two\n\nx\n",
    ),
    (
        "07-Jan-2024 08:00:00 +0000",
        "Message-ID: <f1@x>\nDate: Sun, 7 Jan 2024 08:00:00 +0000\nFrom: =?UTF-8?Q?J=C3=BCrgen?= <jurgen@example.de>\nTo: \"Aardvark\" <zzz@y.org>\nSubject: =?UTF-8?Q?=C3=9Cber_caf=C3=A9?=\n\nx\n",
    ),
    (
        "07-Jan-2024 09:00:00 +0000",
        "Message-ID: <f2@x>\nDate: Sun, 7 Jan 2024 09:00:00 +0000\nFrom: undisclosed-recipients:;\nTo: friends: a@b.c, d@e.f;\nSubject:   [blob] [other]  Re:   spaced \t   subject  \n\nx\n",
    ),
    (
        "07-Jan-2024 10:00:00 +0000",
        "Message-ID: <f3@x>\nDate: Sun, 7 Jan 2024 10:00:00 +0000\nFrom: <mary@example.com>\nSubject: [only blob]\n\nx\n",
    ),
    (
        "08-Jan-2024 08:00:00 +0000",
        "Message-ID: <g1@x>\nDate: Mon, 8 Jan 2024 03:00:00 EST\nFrom: Quentin <q@example.com>\nSubject: re: fw: fwd: Chain\n\nx\n",
    ),
    (
        "08-Jan-2024 07:00:00 +0000",
        "Message-ID: <g2@x>\nDate: garbage\nFrom: rupert@example.com\nSubject: Chain\n\nx\n",
    ),
    (
        "08-Jan-2024 06:00:00 +0000",
        "Message-ID: <g3@x>\nDate: Mon, 8 Jan 2024 06:00:00 +0000\nSubject: \nTo: \"Zz Top\" <aardvark@y.org>\nCc: <bbb@x.org>\n\nempty subject, no From\n",
    ),
    (
        "01-Jan-2024 09:00:00 +0000",
        "Message-ID: <a5@x>\nReferences: <a1@x> <a3@x>\nDate: Mon, 1 Jan 2024 09:30:00 +0000\nFrom: sybil@example.com\nSubject: Re: Thread A\n\nreply dated before its parent\n",
    ),
    (
        "09-Jan-2024 08:00:00 +0000",
        "Message-ID: <l1@x>\nReferences: <l2@x>\nDate: Tue, 9 Jan 2024 08:00:00 +0000\nFrom: trent@example.com\nSubject: Loop one\n\nx\n",
    ),
    (
        "09-Jan-2024 09:00:00 +0000",
        "Message-ID: <l2@x>\nReferences: <l1@x>\nDate: Tue, 9 Jan 2024 09:00:00 +0000\nFrom: uma@example.com\nSubject: Loop two\n\nx\n",
    ),
    (
        "09-Jan-2024 09:00:00 +0000",
        "Message-ID: <h1@x>\nReferences: <h0@missing> <a4@x>\nDate: Tue, 9 Jan 2024 09:00:00 +0000\nFrom: \"Victor\" <victor@example.com>\nSubject: Re: Thread A (fwd)\n\nx\n",
    ),
];

/// Commands sent to both servers after the APPENDs and `SELECT INBOX`.
const COMMANDS: &[&str] = &[
    "SORT (ARRIVAL) UTF-8 ALL",
    "SORT (REVERSE ARRIVAL) UTF-8 ALL",
    "SORT (DATE) UTF-8 ALL",
    "SORT (REVERSE DATE) UTF-8 ALL",
    "SORT (SIZE) UTF-8 ALL",
    "SORT (REVERSE SIZE) UTF-8 ALL",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (REVERSE SUBJECT) UTF-8 ALL",
    "SORT (FROM) UTF-8 ALL",
    "SORT (REVERSE FROM) UTF-8 ALL",
    "SORT (TO) UTF-8 ALL",
    "SORT (CC) UTF-8 ALL",
    "SORT (DISPLAYFROM) UTF-8 ALL",
    "SORT (DISPLAYTO) UTF-8 ALL",
    "SORT (REVERSE DISPLAYFROM) UTF-8 ALL",
    "SORT (SUBJECT DATE) UTF-8 ALL",
    "SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
    "SORT (FROM SUBJECT) UTF-8 ALL",
    "SORT (REVERSE SUBJECT REVERSE ARRIVAL) UTF-8 ALL",
    "SORT (DATE) US-ASCII SUBJECT thread",
    "SORT (SUBJECT) UTF-8 FROM example.com SINCE 3-Jan-2024",
    "UID SORT (REVERSE DATE) UTF-8 ALL",
    "SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL",
    "SORT RETURN () (SUBJECT) UTF-8 ALL",
    "UID SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 1:10",
    "SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT nothing-matches",
    "SORT RETURN (PARTIAL 2:5) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (PARTIAL 20:40 COUNT) (REVERSE DATE) UTF-8 ALL",
    "SEARCH RETURN (PARTIAL 1:3) ALL",
    "SEARCH RETURN (PARTIAL 5:1 COUNT) ALL",
    "UID SEARCH RETURN (PARTIAL 100:200) ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
    "THREAD REFERENCES UTF-8 SINCE 2-Jan-2024",
    "THREAD REFERENCES UTF-8 NOT SUBJECT Thread",
    "THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing-matches",
    "SEARCH RETURN (COUNT ALL) OLDER 600",
    "SEARCH RETURN (COUNT) YOUNGER 600",
    "SORT RETURN (ALL) (DATE) UTF-8 OLDER 600 SUBJECT thread",
];

/// Where we knowingly answer differently from Dovecot, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing-matches",
    "Dovecot sends `* THREAD ` with a trailing space; RFC 5256 `thread-data` has none",
)];

fn script() -> String {
    let mut s = String::new();
    for (i, (date, msg)) in CORPUS.iter().enumerate() {
        let msg = msg.replace('\n', "\r\n");
        s.push_str(&format!(
            "a{i} APPEND INBOX \"{date}\" {{{}+}}\r\n{msg}\r\n",
            msg.len()
        ));
    }
    s.push_str("s SELECT INBOX\r\n");
    for (i, c) in COMMANDS.iter().enumerate() {
        s.push_str(&format!("k{i} {c}\r\n"));
    }
    s
}

/// Per command: its untagged SORT/THREAD/ESEARCH line (None if there was none) and the
/// tagged status word. Dovecot runs pipelined SORTs in parallel and may send tagged
/// answers late, but untagged SORT/THREAD lines come in command order and ESEARCH lines
/// carry their tag.
fn answers(out: &str) -> Vec<(Option<String>, String)> {
    let mut plain = Vec::new();
    let mut tagged = std::collections::HashMap::new();
    let mut status = std::collections::HashMap::new();
    for line in out.split("\r\n") {
        if line.starts_with("* SORT") || line.starts_with("* THREAD") {
            plain.push(line.to_string());
        } else if let Some(rest) = line.strip_prefix("* ESEARCH (TAG \"") {
            let t = rest.split('"').next().unwrap_or("").to_string();
            tagged.insert(t, line.to_string());
        } else if line.starts_with('k')
            && let Some((t, rest)) = line.split_once(' ')
        {
            status.insert(
                t.to_string(),
                rest.split(' ').next().unwrap_or("").to_string(),
            );
        }
    }
    let mut plain = plain.into_iter();
    COMMANDS
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let t = format!("k{i}");
            let line = if c.contains("RETURN") {
                tagged.remove(&t)
            } else {
                plain.next()
            };
            (line, status.remove(&t).unwrap_or_default())
        })
        .collect()
}

fn roost_output(dir: &Path) -> String {
    let server = Server::start_users(dir, ALICE);
    let mut s: TcpStream = connect(server.addr("imap"));
    read_line(&mut s).expect("greeting");
    send(&mut s, "l LOGIN alice secret\r\n");
    send(&mut s, &script());
    send(&mut s, "z LOGOUT\r\n");
    let mut out = String::new();
    while let Some(l) = read_line(&mut s) {
        out.push_str(&l);
        out.push_str("\r\n");
        if l.starts_with("z OK") {
            break;
        }
    }
    out
}

#[test]
fn sort_and_thread_match_dovecot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = roost_output(dir.path());
    let Some(dv) = Dovecot::start() else {
        return;
    };
    let theirs = String::from_utf8_lossy(&dv.imap(format!("{}z LOGOUT\r\n", script()).as_bytes()))
        .into_owned();
    if std::env::var_os("SORT_DUMP").is_some() {
        eprintln!("=== Roost\n{ours}\n=== Dovecot\n{theirs}");
    }
    let (ours, theirs) = (answers(&ours), answers(&theirs));
    let mut bad = Vec::new();
    for (i, c) in COMMANDS.iter().enumerate() {
        assert_eq!(theirs[i].1, "OK", "Dovecot refused {c:?}");
        if ours[i] != theirs[i] && !KNOWN_DIFFERENCES.iter().any(|(k, _)| k == c) {
            bad.push(format!(
                "{c}\n  Dovecot: {:?}\n  Roost:   {:?}",
                theirs[i], ours[i]
            ));
        }
    }
    // Every answer must hold something, or the comparison proves nothing.
    assert!(theirs.iter().all(|a| a.0.is_some()));
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// What Dovecot 2.3 cannot be compared on: RFC 9394 ranges from the end, the UID FETCH
/// PARTIAL modifier, and the errors (each must be a clear BAD/NO, never a panic).
#[test]
fn partial_ranges_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = login(&server, "alice");
    let caps = cmd(&mut s, "c", "CAPABILITY").join("\n");
    for c in [
        " SORT ",
        " SORT=DISPLAY ",
        " THREAD=ORDEREDSUBJECT ",
        " THREAD=REFERENCES ",
        " ESORT ",
        " PARTIAL ",
        " WITHIN ",
    ] {
        assert!(caps.contains(c), "{c} missing: {caps}");
    }
    let before = cmd(&mut s, "b", "SORT (DATE) UTF-8 ALL");
    assert!(before[0].starts_with("b BAD "), "{before:?}");
    for (i, (date, msg)) in CORPUS.iter().take(6).enumerate() {
        let msg = msg.replace('\n', "\r\n");
        let r = cmd(
            &mut s,
            &format!("a{i}"),
            &format!("APPEND INBOX \"{date}\" {{{}+}}\r\n{msg}", msg.len()),
        );
        assert!(r.last().is_some_and(|l| l.contains(" OK ")), "{r:?}");
    }
    cmd(&mut s, "s", "SELECT INBOX");
    let cases: &[(&str, &[&str])] = &[
        // Dates: 1 10:00, 1 11:00, 1 14:00, 1 12:00, 2 08:00, 2 09:00 -> 1 2 4 3 5 6.
        (
            "SORT RETURN (PARTIAL -1:-2) (DATE) UTF-8 ALL",
            &["* ESEARCH (TAG \"t\") PARTIAL (-1:-2 5:6)"],
        ),
        (
            "SORT RETURN (PARTIAL -3:-5 MIN MAX) (DATE) UTF-8 ALL",
            &["* ESEARCH (TAG \"t\") MIN 1 MAX 6 PARTIAL (-3:-5 2,4,3)"],
        ),
        (
            "UID SEARCH RETURN (PARTIAL -2:-1) ALL",
            &["* ESEARCH (TAG \"t\") UID PARTIAL (-1:-2 5:6)"],
        ),
        (
            "SEARCH RETURN (PARTIAL -10:-7) ALL",
            &["* ESEARCH (TAG \"t\") PARTIAL (-7:-10 NIL)"],
        ),
        (
            "UID FETCH 1:* (FLAGS) (PARTIAL -1:-2)",
            &[
                "* 5 FETCH (UID 5 FLAGS (\\Recent))",
                "* 6 FETCH (UID 6 FLAGS (\\Recent))",
            ],
        ),
        (
            "UID FETCH 2:* (UID) (PARTIAL 1:2)",
            &["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"],
        ),
        ("SORT (DISPLAYFROM) UTF-8 ALL", &["* SORT 1 2 3 4 5 6"]),
        ("SORT (FROM) UTF-8 ALL", &["* SORT 1 2 3 4 5 6"]),
        ("SORT (DISPLAYTO) UTF-8 ALL", &["* SORT 5 6 2 1 3 4"]),
        (
            "THREAD REFERENCES UTF-8 ALL",
            &["* THREAD (1 2 (4)(3))((5)(6))"],
        ),
        (
            "THREAD REFERENCES UTF-8 SUBJECT Lost",
            &["* THREAD ((5)(6))"],
        ),
        (
            "THREAD ORDEREDSUBJECT UTF-8 ALL",
            &["* THREAD (1 (2)(4)(3))(5 6)"],
        ),
        ("SORT RETURN (SAVE) (REVERSE DATE) UTF-8 ALL", &[]),
        ("SEARCH $", &["* SEARCH 1 2 3 4 5 6"]),
    ];
    for (c, want) in cases {
        let r = cmd(&mut s, "t", c);
        let (last, untagged) = r.split_last().expect("tagged");
        assert!(last.starts_with("t OK"), "{c}: {r:?}");
        assert_eq!(untagged, *want, "{c}");
    }
    let refused: &[(&str, &str)] = &[
        ("SORT (DATE) ISO-8859-1 ALL", "t NO [BADCHARSET"),
        ("THREAD REFERENCES KOI8-R ALL", "t NO [BADCHARSET"),
        ("SORT (SPEED) UTF-8 ALL", "t BAD "),
        ("THREAD SUBJECTS UTF-8 ALL", "t BAD "),
        ("SORT (DATE) UTF-8", "t BAD "),
        ("SEARCH RETURN (PARTIAL 0:1) ALL", "t BAD "),
        ("FETCH 1:* (FLAGS) (PARTIAL 1:2)", "t BAD "),
        ("UID FETCH 1:* (FLAGS) (PARTIAL 1:2 PARTIAL 1:3)", "t BAD "),
    ];
    for (c, want) in refused {
        let r = cmd(&mut s, "t", c);
        assert!(r.last().is_some_and(|l| l.starts_with(want)), "{c}: {r:?}");
    }
    cmd(&mut s, "z", "LOGOUT");
}

/// A real client: Python's imaplib (`sort`, `thread`, `uid('SORT', ...)`, FETCH PREVIEW)
/// reads our answers as a client library would.
#[test]
fn imaplib_sorts_threads_and_previews() {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_users(dir.path(), ALICE);
    let port = server.addr("imap").port();
    let script = r#"
import imaplib, sys
M = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
M.login("alice", "secret")
msgs = [
    ("01-Jan-2024 10:00:00 +0000", "Message-ID: <a@x>\r\nSubject: b topic\r\nFrom: Zed <z@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nfirst words\r\n"),
    ("01-Jan-2024 11:00:00 +0000", "Message-ID: <b@x>\r\nReferences: <a@x>\r\nSubject: Re: b topic\r\nFrom: Amy <a@x>\r\nDate: Mon, 1 Jan 2024 11:00:00 +0000\r\n\r\n> quoted\r\nreply text\r\n"),
    ("01-Jan-2024 09:00:00 +0000", "Message-ID: <c@x>\r\nSubject: a topic\r\nFrom: Bob <b@x>\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000\r\n\r\nthird\r\n"),
]
for date, m in msgs:
    typ, _ = M.append("INBOX", None, imaplib.Time2Internaldate(imaplib.Internaldate2tuple(('INTERNALDATE "%s"' % date).encode())), m.encode())
    assert typ == "OK", typ
M.select("INBOX")
print("sort-subject", M.sort("(SUBJECT)", "UTF-8", "ALL")[1][0].decode())
print("sort-displayfrom", M.sort("(DISPLAYFROM)", "UTF-8", "ALL")[1][0].decode())
print("uid-sort-date", M.uid("SORT", "(REVERSE DATE)", "UTF-8", "ALL")[1][0].decode())
print("thread-refs", M.thread("REFERENCES", "UTF-8", "ALL")[1][0].decode())
print("thread-subj", M.thread("ORDEREDSUBJECT", "UTF-8", "ALL")[1][0].decode())
typ, data = M.fetch("2", "(PREVIEW)")
print("preview", data[0].decode())
M.logout()
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "sort-subject 3 1 2",
        "sort-displayfrom 2 3 1",
        "uid-sort-date 2 1 3",
        "thread-refs (3)(1 2)",
        "thread-subj (3)(1 2)",
        "preview 2 (PREVIEW \"reply text\")",
    ] {
        assert!(
            text.lines().any(|l| l == want),
            "{want:?} missing in:\n{text}"
        );
    }
}
