//! IMAP end to end: the real `roost` binary against real clients (Python imaplib over
//! plain, STARTTLS and IMAPS; curl) and raw sockets for what clients hide (IDLE timing,
//! cross-protocol updates, a 20 MB APPEND with bounded memory).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Server, config_yaml, connect, drop_message, have, lmtp_send_py, python_client, read_line, send,
    stream_lines_watching_rss, vm_rss_kib,
};

const USERS: &str = "alice:{PLAIN}secret\n";
const M1: &[u8] = b"Subject: one\nFrom: a@example.org\n\nHello\n";
const M2: &[u8] = b"Subject: two\n\nSecond\n";
const M3: &[u8] = b"Subject: three\n\nline 1\nline 2\n";

/// CRLF form of a stored message, as IMAP carries it.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in raw {
        if b == b'\n' && out.last() != Some(&b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn maildir(dir: &Path) -> PathBuf {
    dir.join("data/mail/alice/Maildir")
}

fn start(dir: &Path, extra: &str) -> Server {
    let md = maildir(dir);
    drop_message(&md, "1700000001.M1P1.mta", M1);
    drop_message(&md, "1700000002.M1P1.mta", M2);
    drop_message(&md, "1700000003.M1P1.mta", M3);
    let mut yaml = config_yaml(&dir.join("data"));
    yaml.push_str("auth:\n  failure_delay_ms: 300\n");
    yaml.push_str(extra);
    Server::start_with_users(dir, yaml, USERS, 4)
}

fn imaplib(server: &Server, proto: &str, mode: &str) -> Vec<String> {
    let addr = server.addr(proto);
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        mode.into(),
        "alice".into(),
        "secret".into(),
        server.dir.join("data/tls/cert.pem").display().to_string(),
    ];
    let stdout = python_client(server, "imap_imaplib.py", &args);
    stdout.lines().map(str::to_string).collect()
}

fn line<'a>(lines: &'a [String], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.strip_prefix(' ').or(Some(r)))
        })
        .unwrap_or_else(|| panic!("no {key} in {lines:#?}"))
}

fn check_session(lines: &[String], mode: &str) {
    let caps = line(lines, "caps");
    if mode == "plain" {
        // Loopback counts as safe by default (tls_or_loopback), so LOGIN is allowed.
        assert!(caps.contains("STARTTLS"), "{caps}");
    } else if mode == "ssl" {
        assert!(!caps.contains("STARTTLS"), "{caps}");
    }
    let after = line(lines, "caps-after-login");
    for c in [
        "IDLE",
        "MOVE",
        "UIDPLUS",
        "IMAP4REV2",
        "ESEARCH",
        "LIST-STATUS",
        "APPENDLIMIT=52428800",
    ] {
        assert!(after.contains(c), "{c} missing from {after}");
    }
    assert!(!after.contains("AUTH="), "{after}");
    assert!(line(lines, "list").contains("INBOX"));
    assert!(line(lines, "list-attrs").contains("\\Sent"));
    assert_eq!(line(lines, "exists"), "3");
    let fetches: Vec<&String> = lines.iter().filter(|l| l.starts_with("fetch ")).collect();
    assert_eq!(fetches.len(), 3, "{lines:#?}");
    assert!(
        fetches[0].contains("UID 1") && fetches[0].contains("RFC822.SIZE 44"),
        "{fetches:?}"
    );
    let store = line(lines, "store");
    assert!(
        store.contains("\\Flagged") && store.contains("$Label1"),
        "{store}"
    );
    assert_eq!(line(lines, "search-flagged"), "1");
    assert_eq!(line(lines, "uid-search-all"), "1 2 3");
    assert_eq!(line(lines, "after-move"), "1 2");
    // imaplib keeps MOVE's `* 2 EXPUNGE` until EXPUNGE reads the list.
    assert_eq!(line(lines, "expunge"), "2 1");
    assert!(line(lines, "append").contains("APPENDUID"), "{lines:#?}");
    let status = line(lines, "status");
    assert!(status.contains("MESSAGES 3"), "{status}");
    assert!(line(lines, "archive-fetch").contains("\\Seen"));
    assert_eq!(line(lines, "readonly-store"), "NO");
    assert_eq!(line(lines, "done"), "");
}

#[test]
fn imaplib_plain_starttls_and_imaps() {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    for (proto, mode) in [("imap", "plain"), ("imap", "starttls"), ("imaps", "ssl")] {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), "");
        let lines = imaplib(&server, proto, mode);
        check_session(&lines, mode);
    }
}

/// Reads lines until one starts with `prefix`; returns all of them.
fn until(s: &mut impl Read, prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = read_line(s).unwrap_or_else(|| panic!("EOF before {prefix}: {lines:?}"));
        let done = l.starts_with(prefix);
        lines.push(l);
        if done {
            return lines;
        }
    }
}

fn login_select(s: &mut TcpStream) {
    read_line(s).unwrap();
    send(s, "a LOGIN alice secret\r\nb SELECT INBOX\r\n");
    until(s, "a OK");
    until(s, "b OK");
}

/// How soon IDLE must report another session's change. Pushed through the shared mailbox it
/// takes milliseconds (well under a second on an idle machine); the bound leaves a loaded
/// 2-core CI machine room and is still far below the 60 s periodic rescan, the only other
/// way the news could arrive.
const PUSHED_WITHIN: Duration = Duration::from_secs(3);

#[test]
fn idle_sees_pop3_dele_and_lmtp_delivery_within_a_second() {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    for (i, m) in [M1, M2, M3].iter().enumerate() {
        drop_message(&md, &format!("170000000{i}.M1P1.mta"), m);
    }
    let yaml = config_yaml(&dir.path().join("data")).replace("lmtp: []", "lmtp: [\"127.0.0.1:0\"]");
    let server = Server::start_with_users(dir.path(), yaml, USERS, 5);
    let mut s = connect(server.addr("imap"));
    login_select(&mut s);
    send(&mut s, "i IDLE\r\n");
    assert_eq!(read_line(&mut s).unwrap(), "+ idling");

    // POP3 deletes the first message; IMAP must hear of it promptly.
    let mut p = connect(server.addr("pop3"));
    read_line(&mut p).unwrap();
    send(&mut p, "USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\n");
    for _ in 0..4 {
        assert!(read_line(&mut p).unwrap().starts_with("+OK"));
    }
    let t = Instant::now();
    assert_eq!(read_line(&mut s).unwrap(), "* 1 EXPUNGE");
    assert!(t.elapsed() < PUSHED_WITHIN, "{:?}", t.elapsed());

    // A delivery over LMTP shows up as EXISTS (and RECENT) in the same IDLE.
    let out = lmtp_send_py(
        server.addr("lmtp"),
        "bob@example.org",
        &["alice"],
        b"Subject: via lmtp\n\nhi\n",
    );
    let t = Instant::now();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("250"),
        "{out:?}"
    );
    assert_eq!(read_line(&mut s).unwrap(), "* 3 EXISTS");
    assert!(t.elapsed() < PUSHED_WITHIN, "{:?}", t.elapsed());
    // Two left from SELECT (this session claimed them) plus the new one.
    assert_eq!(read_line(&mut s).unwrap(), "* 3 RECENT");
    send(&mut s, "DONE\r\n");
    let done = until(&mut s, "i ");
    assert!(done.last().unwrap().starts_with("i OK"), "{done:?}");
    send(&mut s, "f FETCH 3 (UID FLAGS)\r\n");
    assert_eq!(
        read_line(&mut s).unwrap(),
        "* 3 FETCH (UID 4 FLAGS (\\Recent))"
    );
}

#[test]
fn append_of_20_mb_streams_with_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(&mut s, "a LOGIN alice secret\r\n");
    until(&mut s, "a OK");
    let before = vm_rss_kib(server.pid());
    const SIZE: usize = 20 * 1024 * 1024;
    send(&mut s, &format!("b APPEND Archive (\\Seen) {{{SIZE}}}\r\n"));
    assert!(read_line(&mut s).unwrap().starts_with("+ "));
    s.write_all(b"Subject: big\r\n\r\nxx\r\n").unwrap();
    let mut peak = stream_lines_watching_rss(&mut s, SIZE - 20, server.pid(), before);
    send(&mut s, "\r\n");
    let done = until(&mut s, "b ");
    assert!(
        done.last().unwrap().starts_with("b OK [APPENDUID "),
        "{done:?}"
    );
    peak = peak.max(vm_rss_kib(server.pid()));
    // The message never sits in memory: well under its 20 MB.
    assert!(
        peak < before + 8 * 1024,
        "RSS grew from {before} to {peak} KiB"
    );
    send(&mut s, "c STATUS Archive (MESSAGES SIZE)\r\n");
    let st = until(&mut s, "c OK");
    assert_eq!(st[0], format!("* STATUS Archive (MESSAGES 1 SIZE {SIZE})"));
    // Over the limit: refused before the `+`, and the session goes on.
    send(&mut s, "d APPEND Archive {60000000}\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("d NO [TOOBIG]"));
    send(&mut s, "e APPEND Nowhere {5}\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("e NO [TRYCREATE]"));
    send(&mut s, "f NOOP\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("f OK"));
}

#[test]
fn curl_lists_and_fetches_over_imap_and_imaps() {
    if !have("curl") {
        eprintln!("curl missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let cafile = server.dir.join("data/tls/cert.pem");
    for proto in ["imap", "imaps"] {
        let addr = server.addr(proto);
        let base = format!("{proto}://localhost:{}", addr.port());
        let curl = |url: &str, req: Option<&str>| {
            let mut c = Command::new("curl");
            c.args(["-s", "-S", "--max-time", "20", "-u", "alice:secret"])
                .arg("--cacert")
                .arg(&cafile)
                .arg("--connect-to")
                .arg(format!(
                    "localhost:{}:127.0.0.1:{}",
                    addr.port(),
                    addr.port()
                ))
                .arg(url);
            if let Some(r) = req {
                c.args(["-X", r]);
            }
            let out = c.output().unwrap();
            assert!(
                out.status.success(),
                "curl {url}: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                server.stderr()
            );
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        let list = curl(&format!("{base}/"), None);
        assert!(
            list.contains("\"INBOX\"") || list.contains(" INBOX"),
            "{list}"
        );
        assert!(list.contains("\\Sent"), "{list}");
        let flags = curl(&format!("{base}/INBOX"), Some("UID FETCH 2 FLAGS"));
        assert!(flags.contains("FETCH (UID 2 FLAGS"), "{flags}");
        let search = curl(&format!("{base}/INBOX"), Some("SEARCH ALL"));
        assert!(search.contains("SEARCH 1 2 3"), "{search}");
        // curl's URL form fetches BODY[] by UID, and a section.
        let body = curl(&format!("{base}/INBOX;UID=1"), None);
        assert_eq!(body.as_bytes(), &crlf(M1)[..]);
        let text = curl(&format!("{base}/INBOX;UID=2;SECTION=TEXT"), None);
        assert_eq!(text, "Second\r\n");
    }
}

fn mbsync(server: &Server, dir: &Path) -> String {
    let port = server.addr("imap").port();
    let local = dir.join("local");
    std::fs::create_dir_all(&local).unwrap();
    let cfg = dir.join("mbsyncrc");
    std::fs::write(
        &cfg,
        format!(
            "IMAPAccount roost\nHost 127.0.0.1\nPort {port}\nUser alice\nPass secret\n\
             SSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount roost\n\n\
             MaildirStore local\nPath {l}/\nInbox {l}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\n\
             Expunge Both\nRemove None\nSyncState *\n",
            l = local.display()
        ),
    )
    .unwrap();
    let out = Command::new("mbsync")
        .arg("-c")
        .arg(&cfg)
        .args(["-V", "-a"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "mbsync failed:\n{text}\nserver:\n{}",
        server.stderr()
    );
    text
}

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            out.extend(rd.map(|e| e.unwrap().file_name().to_string_lossy().to_string()));
        }
    }
    out.sort();
    out
}

#[test]
fn mbsync_syncs_both_ways_with_create_and_expunge() {
    if !have("mbsync") {
        eprintln!("mbsync missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let log = mbsync(&server, dir.path());
    let local = dir.path().join("local");
    assert_eq!(files(&local.join("INBOX")).len(), 3, "{log}");
    assert!(
        local.join("Sent/cur").is_dir(),
        "server mailboxes are created locally"
    );

    // A new local folder with a message, and a local deletion of one INBOX message.
    drop_message(
        &local.join("Notes"),
        "1700000100.M1P1.local",
        b"Subject: note\n\nn\n",
    );
    let victim = files(&local.join("INBOX"))[0].clone();
    let name = ["cur", "new"]
        .iter()
        .map(|s| local.join("INBOX").join(s).join(&victim))
        .find(|p| p.exists())
        .unwrap();
    let base = victim.split(":2,").next().unwrap().to_string();
    let flags = victim.split(":2,").nth(1).unwrap_or("");
    let trashed = format!("{base}:2,{flags}T");
    std::fs::rename(&name, local.join("INBOX/cur").join(&trashed)).unwrap();
    mbsync(&server, dir.path());

    let remote = maildir(dir.path());
    assert_eq!(files(&remote).len(), 2, "the deletion reached the server");
    assert_eq!(
        files(&remote.join(".Notes")).len(),
        1,
        "the new folder reached the server"
    );
    assert_eq!(files(&local.join("INBOX")).len(), 2);

    // Server-side change (delivery) comes back down on the next run.
    drop_message(&remote, "1700000200.M1P1.mta", b"Subject: late\n\nx\n");
    mbsync(&server, dir.path());
    assert_eq!(files(&local.join("INBOX")).len(), 3);
    // isync compresses whenever the server offers COMPRESS=DEFLATE: all three runs did.
    let log = server.stderr();
    assert_eq!(
        log.matches("COMPRESS DEFLATE started").count(),
        3,
        "mbsync negotiated COMPRESS:\n{log}"
    );
}

#[test]
fn failure_delay_limits_and_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        "imap:\n  login_timeout_secs: 1\n  max_line_length: 1024\n",
    );
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    let t = Instant::now();
    send(&mut s, "a LOGIN alice wrong\r\n");
    assert_eq!(
        read_line(&mut s).unwrap(),
        "a NO [AUTHENTICATIONFAILED] Authentication failed."
    );
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    // An overlong line is refused and the session goes on.
    send(&mut s, &format!("b {}\r\nc NOOP\r\n", "x".repeat(2000)));
    assert!(read_line(&mut s).unwrap().starts_with("* BAD "));
    assert_eq!(read_line(&mut s).unwrap(), "c OK NOOP completed");
    // A literal length beyond 32 bits loses the framing: BYE and close.
    send(&mut s, "d FETCH 1 {4294967296+}\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("* BYE "));
    assert_eq!(read_line(&mut s), None);

    // Before login the shorter timeout applies.
    let mut idle = connect(server.addr("imap"));
    read_line(&mut idle).unwrap();
    let t = Instant::now();
    assert_eq!(
        read_line(&mut idle).unwrap(),
        "* BYE Autologout; idle for too long"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(read_line(&mut idle), None);
}

fn offlineimap(server: &Server, dir: &Path) -> String {
    let cfg = dir.join("offlineimaprc");
    std::fs::write(
        &cfg,
        format!(
            "[general]\naccounts = test\nmetadata = {d}/oi-meta\n\n\
             [Account test]\nlocalrepository = local\nremoterepository = remote\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {d}/oi\n\n\
             [Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             remoteuser = alice\nremotepass = secret\nssl = no\nstarttls = no\n",
            d = dir.display(),
            port = server.addr("imap").port()
        ),
    )
    .unwrap();
    let out = Command::new("offlineimap")
        .arg("-c")
        .arg(&cfg)
        .args(["-o", "-u", "basic"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !text.contains("ERROR"),
        "offlineimap failed:\n{text}\nserver:\n{}",
        server.stderr()
    );
    text
}

#[test]
fn offlineimap_syncs_both_ways() {
    if !have("offlineimap") {
        eprintln!("offlineimap missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let log = offlineimap(&server, dir.path());
    let local = dir.path().join("oi");
    assert_eq!(files(&local.join("INBOX")).len(), 3, "{log}");
    assert!(local.join("Sent").is_dir(), "{log}");

    // Delete one message locally and add one to Sent; both reach the server.
    let victim = files(&local.join("INBOX"))[0].clone();
    let path = ["cur", "new"]
        .iter()
        .map(|s| local.join("INBOX").join(s).join(&victim))
        .find(|p| p.exists())
        .unwrap();
    std::fs::remove_file(path).unwrap();
    drop_message(
        &local.join("Sent"),
        "1700000300.M1P1.local",
        b"Subject: sent\n\ns\n",
    );
    let log = offlineimap(&server, dir.path());
    let remote = maildir(dir.path());
    assert_eq!(files(&remote).len(), 2, "{log}");
    assert_eq!(files(&remote.join(".Sent")).len(), 1, "{log}");
}

#[test]
fn idle_keepalive_follows_the_configured_interval() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "imap:\n  idle_keepalive_secs: 1\n");
    let mut s = connect(server.addr("imap"));
    login_select(&mut s);
    // Timed from before the command: the server's first interval starts after it answers,
    // so two keepalives cannot arrive sooner than 2 s from here however late this thread
    // reads. (Timed from reading "+ idling", a client thread scheduled late on a loaded
    // machine measured less than 2 s.)
    let t = Instant::now();
    send(&mut s, "i IDLE\r\n");
    assert_eq!(read_line(&mut s).unwrap(), "+ idling");
    // Only keepalives may come: nothing else changes the mailbox.
    for _ in 0..2 {
        let l = read_line(&mut s);
        assert_eq!(
            l.as_deref(),
            Some("* OK Still here"),
            "after {:?}; server log:\n{}",
            t.elapsed(),
            server.stderr()
        );
    }
    let took = t.elapsed();
    // Two keepalives one second apart: not sooner, and far from the 2-minute default (the
    // upper bound leaves a loaded CI machine room; the default's first keepalive alone
    // would take 120 s).
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(30),
        "{took:?}"
    );
    send(&mut s, "DONE\r\n");
    assert_eq!(read_line(&mut s).unwrap(), "i OK IDLE terminated");
}

#[test]
fn unreadable_users_file_is_unavailable_and_too_many_connections_is_limit() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    drop_message(&md, "1700000001.M1P1.mta", M1);
    let yaml = config_yaml(&dir.path().join("data"))
        .replace("limits:\n", "limits:\n  max_connections_per_user_ip: 2\n");
    let server = Server::start_with_users(dir.path(), yaml, USERS, 4);

    // Two sessions are allowed; the third login from the same address is refused with
    // [LIMIT], and the connection stays usable.
    let mut first = connect(server.addr("imap"));
    read_line(&mut first).unwrap();
    send(&mut first, "a LOGIN alice secret\r\n");
    assert!(until(&mut first, "a ").last().unwrap().starts_with("a OK"));
    let mut second = connect(server.addr("imap"));
    read_line(&mut second).unwrap();
    send(&mut second, "a LOGIN alice secret\r\n");
    assert!(until(&mut second, "a ").last().unwrap().starts_with("a OK"));
    let mut third = connect(server.addr("imap"));
    read_line(&mut third).unwrap();
    send(&mut third, "a LOGIN alice secret\r\nb NOOP\r\n");
    assert_eq!(
        read_line(&mut third).unwrap(),
        "a NO [LIMIT] Too many connections for this user from this address."
    );
    assert_eq!(read_line(&mut third).unwrap(), "b OK NOOP completed");
    // Once one session ends, a new login gets its place.
    send(&mut first, "z LOGOUT\r\n");
    until(&mut first, "z OK");
    assert_eq!(read_line(&mut first), None);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        send(&mut third, "c LOGIN alice secret\r\n");
        let l = until(&mut third, "c ").pop().unwrap();
        if l.starts_with("c OK") {
            break;
        }
        assert!(l.starts_with("c NO [LIMIT]"), "{l}");
        assert!(Instant::now() < deadline, "the slot was never freed");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A users file that cannot be read is a temporary failure, not a wrong password.
    let users = dir.path().join("data/users");
    std::fs::remove_file(&users).unwrap();
    std::fs::create_dir(&users).unwrap();
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(&mut s, "a LOGIN alice secret\r\n");
    assert_eq!(
        read_line(&mut s).unwrap(),
        "a NO [UNAVAILABLE] Authentication is temporarily unavailable."
    );
    send(&mut s, "b AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert_eq!(
        read_line(&mut s).unwrap(),
        "b NO [UNAVAILABLE] Authentication is temporarily unavailable."
    );
}

#[test]
fn curl_appends_over_imap_and_imaps() {
    if !have("curl") {
        eprintln!("curl missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let cafile = server.dir.join("data/tls/cert.pem");
    for (i, proto) in ["imap", "imaps"].into_iter().enumerate() {
        let port = server.addr(proto).port();
        let msg = format!("From: curl@example.org\r\nSubject: via {proto}\r\n\r\nbody {i}\r\n");
        let file = dir.path().join(format!("upload-{proto}.eml"));
        std::fs::write(&file, &msg).unwrap();
        let out = Command::new("curl")
            .args(["-s", "-S", "--max-time", "20", "-u", "alice:secret"])
            .arg("--cacert")
            .arg(&cafile)
            .arg("--connect-to")
            .arg(format!("localhost:{port}:127.0.0.1:{port}"))
            .arg("-T")
            .arg(&file)
            .arg(format!("{proto}://localhost:{port}/Archive"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl -T over {proto}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.stderr()
        );
        // Fetched back byte for byte by its UID (the i-th message in Archive).
        let uid = i + 1;
        let back = Command::new("curl")
            .args(["-s", "-S", "--max-time", "20", "-u", "alice:secret"])
            .arg("--cacert")
            .arg(&cafile)
            .arg("--connect-to")
            .arg(format!("localhost:{port}:127.0.0.1:{port}"))
            .arg(format!("{proto}://localhost:{port}/Archive;UID={uid}"))
            .output()
            .unwrap();
        assert!(back.status.success(), "{back:?}");
        assert_eq!(String::from_utf8_lossy(&back.stdout), msg);
    }
    assert_eq!(files(&maildir(dir.path()).join(".Archive")).len(), 2);
}

/// The subjects of the messages in one Maildir folder, sorted.
fn subjects(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in rd {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let subject = text
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .to_string();
            out.push(subject);
        }
    }
    out.sort();
    out
}

#[test]
fn neomutt_saves_deletes_and_syncs_over_imaps() {
    if !have("neomutt") || !have("tmux") || !have("python3") {
        eprintln!("neomutt, tmux or python3 missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imap_neomutt.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(server.addr("imaps").port().to_string())
        .args(["alice", "secret"])
        .arg(server.dir.join("data/tls/cert.pem"))
        .arg(dir.path().join("neomutt"))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "done"),
        "neomutt run failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    // neomutt's own view after the sync: one message left, the third.
    let screen: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("screen-after-sync "))
        .collect();
    eprintln!("{}", screen.join("\n"));
    assert!(screen.iter().any(|l| l.contains("three")), "{stdout}");
    assert!(
        !screen
            .iter()
            .any(|l| l.contains(" one") || l.contains(" two")),
        "{stdout}"
    );
    // On disk: the saved message moved to Archive, the deleted one is gone, one stays.
    let md = maildir(dir.path());
    assert_eq!(subjects(&md), ["three"], "{stdout}");
    assert_eq!(subjects(&md.join(".Archive")), ["one"], "{stdout}");
    // And a fresh IMAP session agrees.
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(
        &mut s,
        "a LOGIN alice secret\r\nb STATUS INBOX (MESSAGES)\r\nc STATUS Archive (MESSAGES)\r\n",
    );
    until(&mut s, "a OK");
    assert_eq!(until(&mut s, "b OK")[0], "* STATUS INBOX (MESSAGES 1)");
    assert_eq!(until(&mut s, "c OK")[0], "* STATUS Archive (MESSAGES 1)");
}

#[test]
fn fetch_of_a_50_mb_body_streams_with_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    // Stored with bare LF, as an MTA writes it: the server must add the CRs on the fly.
    const LINE: &[u8] =
        b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n";
    const LINES: usize = 50 * 1024 * 1024 / LINE.len();
    let mut big = b"Subject: big\n\n".to_vec();
    for _ in 0..LINES {
        big.extend_from_slice(LINE);
    }
    drop_message(&maildir(dir.path()), "1700000009.M1P1.mta", &big);
    let want_len = big.len() + 2 + LINES;
    drop(big);
    let server = start(dir.path(), "");
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(&mut s, "a LOGIN alice secret\r\nb SELECT INBOX\r\n");
    until(&mut s, "a OK");
    until(&mut s, "b OK");
    // The size is known (and cached) before the body is asked for.
    send(&mut s, "c FETCH 4 RFC822.SIZE\r\n");
    assert_eq!(
        read_line(&mut s).unwrap(),
        format!("* 4 FETCH (RFC822.SIZE {want_len})")
    );
    until(&mut s, "c OK");
    let before = vm_rss_kib(server.pid());
    send(&mut s, "d FETCH 4 (UID BODY.PEEK[] FLAGS)\r\n");
    assert_eq!(
        read_line(&mut s).unwrap(),
        format!("* 4 FETCH (UID 4 BODY[] {{{want_len}}}")
    );
    let mut buf = vec![0u8; 64 * 1024];
    let (mut got, mut prev, mut lines, mut peak) = (0usize, 0u8, 0usize, before);
    while got < want_len {
        let n = s.read(&mut buf[..(want_len - got).min(64 * 1024)]).unwrap();
        assert!(n > 0, "EOF after {got} of {want_len} bytes");
        for &b in &buf[..n] {
            if b == b'\n' {
                assert_eq!(prev, b'\r', "bare LF at byte {got}");
                lines += 1;
            }
            prev = b;
        }
        if got / (4 << 20) != (got + n) / (4 << 20) {
            peak = peak.max(vm_rss_kib(server.pid()));
        }
        got += n;
    }
    assert_eq!(lines, LINES + 2);
    assert_eq!(read_line(&mut s).unwrap(), " FLAGS (\\Recent))");
    assert_eq!(read_line(&mut s).unwrap(), "d OK FETCH completed");
    peak = peak.max(vm_rss_kib(server.pid()));
    // The message never sits in memory: far below its 50 MB (or the 100 MB+ that building
    // the CRLF copy costs).
    assert!(
        peak < before + 8 * 1024,
        "RSS grew from {before} to {peak} KiB"
    );
}
