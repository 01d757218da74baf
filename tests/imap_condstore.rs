//! CONDSTORE / QRESYNC (RFC 7162) and ID (RFC 2971) end to end: the real `roost` binary,
//! a QRESYNC client that goes away while POP3 and an outside program change the mailbox,
//! and interimap (a real QRESYNC sync tool) syncing two Roost accounts both ways.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::imap::{cmd, login};
use common::{Server, config_yaml, connect, drop_message, have, read_line, send};

const USERS: &str = "alice:{PLAIN}secret\nbob:{PLAIN}secret\n";
const M1: &[u8] = b"Subject: one\nFrom: a@example.org\n\nHello\n";
const M2: &[u8] = b"Subject: two\n\nSecond\n";
const M3: &[u8] = b"Subject: three\n\nline 1\nline 2\n";

fn maildir(dir: &Path, user: &str) -> PathBuf {
    dir.join(format!("data/mail/{user}/Maildir"))
}

fn start(dir: &Path) -> Server {
    let md = maildir(dir, "alice");
    drop_message(&md, "1700000001.M1P1.mta", M1);
    drop_message(&md, "1700000002.M1P1.mta", M2);
    drop_message(&md, "1700000003.M1P1.mta", M3);
    let yaml = config_yaml(&dir.join("data"));
    Server::start_with_users(dir, yaml, USERS, 4)
}

/// The number in `[CODE n]` on one of the lines.
fn code_value(lines: &[String], code: &str) -> u64 {
    let key = format!("[{code} ");
    lines
        .iter()
        .find_map(|l| {
            let rest = &l[l.find(&key)? + key.len()..];
            rest[..rest.find(']')?].parse().ok()
        })
        .unwrap_or_else(|| panic!("no {code} in {lines:?}"))
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + common::WAIT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A QRESYNC client leaves; POP3 deletes a message (DELE + QUIT) and an outside program
/// renames a file to change its flags; the client comes back with SELECT (QRESYNC ...)
/// and learns both from VANISHED (EARLIER) and a FETCH with a higher MODSEQ. ID answers
/// with our name and version and the client's ID lands in the log.
#[test]
fn qresync_client_away_learns_of_pop3_and_outside_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut s = login(&server, "alice");
    let id = cmd(
        &mut s,
        "i",
        "ID (\"name\" \"condstore-test\" \"version\" \"7\")",
    );
    assert_eq!(
        id[0],
        format!(
            "* ID (\"name\" \"Roost\" \"version\" \"{}\")",
            env!("CARGO_PKG_VERSION")
        )
    );
    let caps = cmd(&mut s, "c", "CAPABILITY");
    for cap in [" CONDSTORE", " QRESYNC", " ID"] {
        assert!(caps[0].contains(cap), "{caps:?}");
    }
    assert_eq!(cmd(&mut s, "e", "ENABLE QRESYNC")[0], "* ENABLED QRESYNC");
    let sel = cmd(&mut s, "s", "SELECT INBOX");
    let validity = code_value(&sel, "UIDVALIDITY");
    let modseq = code_value(&sel, "HIGHESTMODSEQ");
    // Read-write SELECT moved the messages to cur/ (and claimed \Recent).
    cmd(&mut s, "o", "LOGOUT");

    // POP3 deletes the first message.
    let mut p = connect(server.addr("pop3"));
    read_line(&mut p).unwrap();
    send(&mut p, "USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n");
    for _ in 0..4 {
        assert!(read_line(&mut p).unwrap().starts_with("+OK"));
    }
    // An outside program (a Maildir client on the same files) flags the third.
    let md = maildir(dir.path(), "alice");
    let file = ["cur", "new"]
        .iter()
        .flat_map(|d| std::fs::read_dir(md.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("1700000003."))
        })
        .expect("third message file");
    let base = file.file_name().unwrap().to_string_lossy().to_string();
    let base = base.split(":2,").next().unwrap().to_string();
    std::fs::rename(&file, md.join("cur").join(format!("{base}:2,FS"))).unwrap();

    let mut s = login(&server, "alice");
    cmd(&mut s, "e", "ENABLE QRESYNC");
    let sel = cmd(
        &mut s,
        "s",
        &format!("SELECT INBOX (QRESYNC ({validity} {modseq} 1:3))"),
    );
    assert!(sel.iter().any(|l| l == "* 2 EXISTS"), "{sel:?}");
    assert!(sel.iter().any(|l| l == "* VANISHED (EARLIER) 1"), "{sel:?}");
    let fetch = sel
        .iter()
        .find(|l| l.starts_with("* 2 FETCH (UID 3 FLAGS (\\Flagged \\Seen) MODSEQ ("))
        .unwrap_or_else(|| panic!("no FETCH of UID 3 in {sel:?}"));
    let new_modseq: u64 = fetch
        .trim_end_matches("))")
        .rsplit('(')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(new_modseq > modseq, "{fetch} vs {modseq}");
    assert!(code_value(&sel, "HIGHESTMODSEQ") >= new_modseq);
    // The unchanged second message is not reported.
    assert!(!sel.iter().any(|l| l.contains("UID 2 ")), "{sel:?}");
    // Now a POP3 deletion while selected arrives as VANISHED, not EXPUNGE.
    let mut p = connect(server.addr("pop3"));
    read_line(&mut p).unwrap();
    send(&mut p, "USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n");
    for _ in 0..4 {
        assert!(read_line(&mut p).unwrap().starts_with("+OK"));
    }
    let mut vanished = Vec::new();
    wait_for("VANISHED 2", || {
        vanished = cmd(&mut s, "n", "NOOP");
        vanished.iter().any(|l| l == "* VANISHED 2")
    });
    assert!(
        !vanished.iter().any(|l| l.contains("EXPUNGE")),
        "{vanished:?}"
    );
    cmd(&mut s, "o", "LOGOUT");
    let log = server.stderr();
    let line = log.lines().find(|l| l.contains("client ID"));
    assert!(
        line.is_some_and(|l| l.contains("condstore-test") && l.contains("peer=")),
        "client ID not logged:\n{log}"
    );
}

/// Subject and flags of every message in a mailbox, sorted by subject.
fn contents(server: &Server, user: &str, mailbox: &str) -> Vec<(String, String)> {
    let mut s = login(server, user);
    let sel = cmd(&mut s, "s", &format!("EXAMINE {mailbox}"));
    assert!(
        sel.last().is_some_and(|l| l.starts_with("s OK")),
        "{user} {mailbox}: {sel:?}"
    );
    let lines = cmd(
        &mut s,
        "f",
        "FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    );
    let mut out = Vec::new();
    let mut flags = String::new();
    for l in &lines {
        if let Some(at) = l.find("FLAGS (") {
            let rest = &l[at + 7..];
            let f: Vec<&str> = rest[..rest.find(')').unwrap_or(0)]
                .split(' ')
                .filter(|f| !f.is_empty() && *f != "\\Recent")
                .collect();
            flags = f.join(" ");
        } else if let Some(subject) = l.strip_prefix("Subject: ") {
            out.push((subject.to_string(), flags.clone()));
        }
    }
    cmd(&mut s, "o", "LOGOUT");
    out.sort();
    out
}

/// Runs one sync with --debug; returns its log (the IMAP traffic, literals aside).
fn interimap(dir: &Path, config: &Path) -> String {
    let out = Command::new("interimap")
        .arg(format!("--config={}", config.display()))
        .arg("--debug")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_DATA_HOME", dir.join("xdg-data"))
        .output()
        .expect("interimap");
    assert!(
        out.status.success(),
        "interimap failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// interimap (Debian package) keeps alice and bob in sync over QRESYNC: new messages,
/// flag changes and deletions on either side, a new folder, and outside deliveries.
#[test]
fn interimap_syncs_two_roost_accounts_both_ways() {
    if !have("interimap") {
        eprintln!("interimap missing; skipped (apt-get install interimap)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Before the start: the server hands data_dir to its run_as user then, and a Maildir root
    // created later would be one that user cannot write.
    drop_message(
        &maildir(dir.path(), "bob"),
        "1700000009.M1P1.mta",
        b"Subject: bob's\n\nfrom bob\n",
    );
    let server = start(dir.path());
    let port = server.addr("imap").port();
    let side = |user: &str| {
        format!(
            "type = imap\nhost = 127.0.0.1\nport = {port}\nSTARTTLS = NO\nauth = PLAIN\n\
             username = {user}\npassword = secret\ncompress = YES\n"
        )
    };
    let config = dir.path().join("interimap.ini");
    std::fs::write(
        &config,
        format!(
            "database = {}\n[local]\n{}[remote]\n{}",
            dir.path().join("interimap.db").display(),
            side("alice"),
            side("bob")
        ),
    )
    .unwrap();

    let first = interimap(dir.path(), &config);
    assert!(!first.contains("WARNING"), "{first}");
    // Both sides ran COMPRESS=DEFLATE (RFC 4978): interimap asked, Roost started it.
    assert_eq!(first.matches("COMPRESS DEFLATE").count(), 2, "{first}");
    assert_eq!(
        server.stderr().matches("COMPRESS DEFLATE started").count(),
        2,
        "{}",
        server.stderr()
    );
    let want: Vec<(String, String)> = ["bob's", "one", "three", "two"]
        .iter()
        .map(|s| (s.to_string(), String::new()))
        .collect();
    assert_eq!(contents(&server, "alice", "INBOX"), want);
    assert_eq!(contents(&server, "bob", "INBOX"), want);

    // alice flags "one" and deletes "two"; bob marks "three" read, deletes "bob's" and makes
    // a folder with a message; a delivery reaches bob's INBOX behind the server's back.
    let mut a = login(&server, "alice");
    cmd(&mut a, "s", "SELECT INBOX");
    let found = cmd(&mut a, "f", "SEARCH SUBJECT one");
    let one = found[0].trim_start_matches("* SEARCH ").to_string();
    cmd(&mut a, "t", &format!("STORE {one} +FLAGS (\\Flagged)"));
    let found = cmd(&mut a, "f", "SEARCH SUBJECT two");
    let two = found[0].trim_start_matches("* SEARCH ").to_string();
    cmd(&mut a, "t", &format!("STORE {two} +FLAGS (\\Deleted)"));
    cmd(&mut a, "x", "EXPUNGE");
    cmd(&mut a, "o", "LOGOUT");
    let mut b = login(&server, "bob");
    cmd(&mut b, "s", "SELECT INBOX");
    let found = cmd(&mut b, "f", "SEARCH SUBJECT three");
    let three = found[0].trim_start_matches("* SEARCH ").to_string();
    cmd(&mut b, "t", &format!("STORE {three} +FLAGS (\\Seen)"));
    let found = cmd(&mut b, "f", "SEARCH SUBJECT bob");
    let bobs = found[0].trim_start_matches("* SEARCH ").to_string();
    cmd(&mut b, "t", &format!("STORE {bobs} +FLAGS (\\Deleted)"));
    cmd(&mut b, "x", "EXPUNGE");
    cmd(&mut b, "c", "CREATE Projects");
    send(
        &mut b,
        "a APPEND Projects (\\Answered) {25+}\r\nSubject: plan\r\n\r\nthe plan\r\n",
    );
    let ap = {
        let mut lines = Vec::new();
        loop {
            let l = read_line(&mut b).unwrap();
            let done = l.starts_with("a ");
            lines.push(l);
            if done {
                break lines;
            }
        }
    };
    assert!(ap.last().unwrap().starts_with("a OK"), "{ap:?}");
    cmd(&mut b, "o", "LOGOUT");
    drop_message(
        &maildir(dir.path(), "bob"),
        "1700000010.M1P1.mta",
        b"Subject: delivered\n\nlate\n",
    );

    let log = interimap(dir.path(), &config);
    // The second run resynchronized with QRESYNC, not by listing everything again.
    assert!(
        log.contains("SELECT INBOX (QRESYNC (") && log.contains("VANISHED"),
        "{log}"
    );
    // Exact modseqs on both sides: no flag conflicts, no unknown UIDs.
    assert!(!log.contains("WARNING"), "{log}");
    let want: Vec<(String, String)> =
        [("delivered", ""), ("one", "\\Flagged"), ("three", "\\Seen")]
            .iter()
            .map(|(s, f)| (s.to_string(), f.to_string()))
            .collect();
    assert_eq!(contents(&server, "alice", "INBOX"), want);
    assert_eq!(contents(&server, "bob", "INBOX"), want);
    let plan = vec![("plan".to_string(), "\\Answered".to_string())];
    assert_eq!(contents(&server, "alice", "Projects"), plan);
    assert_eq!(contents(&server, "bob", "Projects"), plan);
    // Nothing changed since: the third run moves nothing.
    let log = interimap(dir.path(), &config);
    for moved in ["Added ", "Removed ", "Updated flags", "WARNING"] {
        assert!(!log.contains(moved), "{moved}:\n{log}");
    }
}
