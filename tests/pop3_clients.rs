//! POP3 end to end: the real `roost` binary against real clients (Python poplib, curl,
//! fetchmail, getmail6) and raw sockets for what clients hide (pipelining, STLS
//! injection, overlong lines, memory during a 50 MB RETR, timeouts and limits).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Server, WAIT, config_yaml, connect, drop_message, handshake, have, pinned_config, read_line,
    send, vm_rss_kib,
};

const USERS: &str = "alice:{PLAIN}secret\n";
const M1: &[u8] = b"Subject: one\nFrom: a@example.org\n\nHello\n.dot line\n";
const M2: &[u8] = b"Subject: 22\n\nA\rB\0C\n";
const M3: &[u8] = b"Subject: three\n\nline 1\nline 2\nline 3\n";

/// CRLF form of a stored message: what RETR carries before dot-stuffing.
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

/// A server with alice and M1..M3 in her INBOX; `pop3` is extra YAML for the `pop3:`
/// section and `auth` for the `auth:` section.
fn start(dir: &Path, pop3: &str, auth: &str) -> Server {
    let md = maildir(dir);
    drop_message(&md, "1700000001.M1P1.mta", M1);
    drop_message(&md, "1700000002.M1P1.mta", M2);
    drop_message(&md, "1700000003.M1P1.mta", M3);
    let mut yaml = config_yaml(&dir.join("data"));
    // An empty `pop3:` would be null, not a mapping.
    let pop3 = if pop3.is_empty() {
        "  apop: false\n"
    } else {
        pop3
    };
    yaml.push_str(&format!(
        "pop3:\n{pop3}auth:\n  failure_delay_ms: 300\n{auth}"
    ));
    Server::start_with_users(dir, yaml, USERS, 4)
}

fn messages_on_disk(dir: &Path) -> usize {
    let md = maildir(dir);
    ["new", "cur"]
        .iter()
        .map(|d| std::fs::read_dir(md.join(d)).map_or(0, |r| r.count()))
        .sum()
}

fn python_client(server: &Server, proto: &str, mode: &str, login: &str) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pop3_poplib.py");
    let addr = server.addr(proto);
    let out = Command::new("python3")
        .arg(script)
        .args([
            &addr.ip().to_string(),
            &addr.port().to_string(),
            mode,
            login,
        ])
        .args(["alice", "secret"])
        .arg(server.dir.join("data/tls/cert.pem"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "poplib failed: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What every poplib run must have seen, whatever the transport and login.
fn check_poplib_session(lines: &[String]) {
    let find = |key: &str| -> Vec<&str> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
            .collect()
    };
    let sizes = [crlf(M1).len(), crlf(M2).len(), crlf(M3).len()];
    assert_eq!(sizes[1], 22);
    let total: usize = sizes.iter().sum();
    assert_eq!(find("stat"), [format!("3 {total}")], "{lines:?}");
    let want_list: Vec<String> = (1..=3).map(|n| format!("{n} {}", sizes[n - 1])).collect();
    assert_eq!(find("list"), want_list);
    for (i, m) in [M1, M2, M3].iter().enumerate() {
        let body = crlf(m);
        let n = i + 1;
        let want = format!("{n} {} {} {}", body.len(), body.len(), hex(&body));
        assert_eq!(find("retr")[i], want, "RETR {n}: octets, bytes, content");
    }
    let uidls = find("uidl");
    assert_eq!(uidls.len(), 3);
    assert!(
        uidls
            .iter()
            .all(|u| u.split(' ').nth(1).is_some_and(|u| u.len() == 16))
    );
    assert_eq!(
        find("top"),
        ["Subject:_one From:_a@example.org "],
        "TOP 1 0 is the header and the blank line"
    );
    assert!(find("dele")[0].starts_with("+OK"));
    assert!(find("quit")[0].starts_with("+OK"));
}

#[test]
fn poplib_user_pass_on_plain_then_quit_expunges() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "  retr_sets_seen: true\n", "");
    let lines = python_client(&server, "pop3", "plain", "user");
    check_poplib_session(&lines);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("capa ") && l.contains("STLS"))
    );
    assert_eq!(
        messages_on_disk(tmp.path()),
        2,
        "DELE 1 + QUIT expunged one"
    );
    // RETR set \Seen on the two kept messages (S in the flags of cur/ names).
    let seen = std::fs::read_dir(maildir(tmp.path()).join("cur"))
        .expect("cur")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(":2,S"))
        })
        .count();
    assert_eq!(seen, 2);
    let log = server.stderr();
    assert!(log.contains("login") && log.contains("alice"), "{log}");
    assert!(
        !log.contains("secret"),
        "a password reached the log:\n{log}"
    );
}

#[test]
fn poplib_stls_with_auth_plain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "", "");
    let lines = python_client(&server, "pop3", "stls", "plain");
    check_poplib_session(&lines);
    let after = lines
        .iter()
        .find(|l| l.starts_with("capa-after-stls"))
        .expect("capa after STLS");
    assert!(!after.contains("STLS") && after.contains("SASL"), "{after}");
}

#[test]
fn poplib_pop3s_with_apop() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "  apop: true\n", "");
    let lines = python_client(&server, "pop3s", "ssl", "apop");
    assert!(
        lines[0].starts_with("welcome +OK Roost ready. <"),
        "{lines:?}"
    );
    check_poplib_session(&lines);
}

#[test]
fn curl_pop3_and_pop3s() {
    assert!(have("curl"), "curl is missing; .ci/run installs it");
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "", "");
    let run = |url: String| {
        let out = Command::new("curl")
            .args(["-s", "-S", "-k", "--max-time", "20", "-u", "alice:secret"])
            .arg(url)
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            server.stderr()
        );
        out.stdout
    };
    let pop3 = server.addr("pop3");
    let pop3s = server.addr("pop3s");
    let listing = run(format!("pop3://{pop3}/"));
    let want = format!(
        "1 {}\r\n2 {}\r\n3 {}\r\n",
        crlf(M1).len(),
        crlf(M2).len(),
        crlf(M3).len()
    );
    assert_eq!(String::from_utf8_lossy(&listing), want);
    // curl un-stuffs the body and keeps CRLF.
    assert_eq!(run(format!("pop3://{pop3}/2")), crlf(M2));
    assert_eq!(run(format!("pop3s://{pop3s}/1")), crlf(M1));
    // curl prefers CRAM-MD5 when offered: a real client for that mechanism.
    assert!(server.stderr().contains("CRAM-MD5"), "{}", server.stderr());
}

#[test]
fn stls_drops_pipelined_commands_sent_before_the_handshake() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "", "");
    let mut tcp = connect(server.addr("pop3"));
    read_line(&mut tcp).expect("greeting");
    send(&mut tcp, "STLS\r\nUSER alice\r\nPASS secret\r\n");
    assert!(read_line(&mut tcp).expect("STLS answer").starts_with("+OK"));
    let mut tls = handshake(
        tcp,
        pinned_config(server.cert(), &[&rustls::version::TLS13]),
    )
    .expect("handshake");
    send(&mut tls, "STAT\r\n");
    assert_eq!(
        read_line(&mut tls).expect("STAT"),
        "-ERR Not logged in yet."
    );
    send(&mut tls, "USER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n");
    assert_eq!(read_line(&mut tls).expect("USER"), "+OK");
    assert_eq!(
        read_line(&mut tls).expect("PASS"),
        "+OK Logged in, 3 messages."
    );
    assert!(read_line(&mut tls).expect("STAT").starts_with("+OK 3 "));
}

#[test]
fn pipelined_commands_and_overlong_lines_in_one_packet() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "", "");
    let mut s = connect(server.addr("pop3"));
    read_line(&mut s).expect("greeting");
    let long = "X".repeat(300);
    send(
        &mut s,
        &format!("USER alice\r\nPASS secret\r\n{long}\r\nLIST 2\r\nUIDL 3\r\nNOOP\r\nQUIT\r\n"),
    );
    let answers: Vec<String> = (0..7).map(|_| read_line(&mut s).expect("answer")).collect();
    assert_eq!(answers[0], "+OK");
    assert_eq!(answers[1], "+OK Logged in, 3 messages.");
    assert_eq!(answers[2], "-ERR Line too long.");
    assert_eq!(answers[3], "+OK 2 22");
    assert!(answers[4].starts_with("+OK 3 00000003"), "{answers:?}");
    assert_eq!(answers[5], "+OK");
    assert!(answers[6].starts_with("+OK Logging out"));
    assert_eq!(read_line(&mut s), None);
}

#[test]
fn failed_login_waits_and_says_auth() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "", "");
    let mut s = connect(server.addr("pop3"));
    read_line(&mut s).expect("greeting");
    send(&mut s, "USER alice\r\n");
    read_line(&mut s).expect("USER");
    let started = Instant::now();
    send(&mut s, "PASS wrong\r\n");
    assert_eq!(
        read_line(&mut s).expect("PASS"),
        "-ERR [AUTH] Authentication failed."
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(server.stderr().contains("login failed"));
}

#[test]
fn per_user_ip_limit_and_idle_timeout() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    drop_message(&maildir(dir), "1700000001.M1P1.mta", M1);
    let yaml = config_yaml(&dir.join("data")).replace(
        "limits:\n",
        "pop3:\n  idle_timeout_secs: 2\nlimits:\n  max_connections_per_user_ip: 1\n",
    );
    let server = Server::start_with_users(dir, yaml, USERS, 4);
    let login = |s: &mut std::net::TcpStream| {
        read_line(s).expect("greeting");
        send(s, "USER alice\r\nPASS secret\r\n");
        read_line(s).expect("USER");
        read_line(s).expect("PASS")
    };
    // Timed from before the first session's last input, so the 2 s idle timeout cannot
    // look shorter however slowly the second login below runs.
    let started = Instant::now();
    let mut first = connect(server.addr("pop3"));
    assert_eq!(login(&mut first), "+OK Logged in, 1 messages.");
    let mut second = connect(server.addr("pop3"));
    assert!(login(&mut second).starts_with("-ERR [IN-USE]"));
    assert_eq!(
        read_line(&mut first).expect("autologout"),
        "-ERR Autologout; idle for too long"
    );
    assert!(started.elapsed() >= Duration::from_millis(1900));
    assert_eq!(read_line(&mut first), None);
    // The slot is free again once the first session is gone.
    let mut third = connect(server.addr("pop3"));
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = login(&mut third);
        if answer.starts_with("+OK") {
            break;
        }
        assert!(Instant::now() < deadline, "{answer}");
        third = connect(server.addr("pop3"));
    }
}

#[test]
fn retr_of_50_mb_streams_without_holding_it_in_memory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let line = format!("{}\n", "x".repeat(75));
    let mut big = b"Subject: big\n\n".to_vec();
    while big.len() < 50 * 1024 * 1024 {
        big.extend_from_slice(line.as_bytes());
    }
    let size = crlf(&big).len();
    drop_message(&maildir(dir), "1700000001.M1P1.big", &big);
    drop(big);
    let yaml = config_yaml(&dir.join("data"));
    let server = Server::start_with_users(dir, yaml, USERS, 4);
    let mut s = connect(server.addr("pop3"));
    read_line(&mut s).expect("greeting");
    send(&mut s, "USER alice\r\nPASS secret\r\n");
    read_line(&mut s).expect("USER");
    read_line(&mut s).expect("PASS");
    send(&mut s, "LIST 1\r\n");
    assert_eq!(read_line(&mut s).expect("LIST"), format!("+OK 1 {size}"));
    let baseline = vm_rss_kib(server.pid());
    send(&mut s, "RETR 1\r\n");
    assert_eq!(
        read_line(&mut s).expect("RETR"),
        format!("+OK {size} octets")
    );
    let mut reader = BufReader::with_capacity(256 * 1024, s);
    let mut received = 0usize;
    let mut peak = baseline;
    let mut tail = Vec::new();
    loop {
        let buf = reader.fill_buf().expect("read body");
        assert!(!buf.is_empty(), "connection closed after {received} bytes");
        let n = buf.len();
        tail.extend_from_slice(buf);
        if tail.len() > 5 {
            tail.drain(..tail.len() - 5);
        }
        reader.consume(n);
        received += n;
        // Sample memory while the server is busy streaming.
        if received % (4 * 1024 * 1024) < n {
            peak = peak.max(vm_rss_kib(server.pid()));
        }
        if tail == b"\r\n.\r\n" {
            break;
        }
    }
    assert_eq!(received, size + 3, "body plus the terminating dot line");
    let grown_mib = (peak.saturating_sub(baseline)) / 1024;
    assert!(
        grown_mib < 20,
        "server RSS grew by {grown_mib} MiB (baseline {baseline} KiB, peak {peak} KiB)"
    );
    let mut s = reader.into_inner();
    send(&mut s, "QUIT\r\n");
    assert!(read_line(&mut s).expect("QUIT").starts_with("+OK"));
}

fn fetchmail(dir: &Path, server: &Server, keep: bool) -> String {
    let out_file = dir.join("fetched.mbox");
    let rc = dir.join("fetchmailrc");
    let addr = server.addr("pop3");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\n\
             poll {} port {} protocol pop3 uidl\n  user alice password secret is alice here\n  \
             {} no sslcertck\n  mda \"/bin/sh -c 'cat >> {}'\"\n",
            addr.ip(),
            addr.port(),
            if keep { "keep" } else { "nokeep fetchall" },
            out_file.display()
        ),
    )
    .expect("rc");
    let mut perms = std::fs::metadata(&rc).expect("rc").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&rc, perms).expect("chmod");
    let out = Command::new("fetchmail")
        .args(["-f"])
        .arg(&rc)
        .args(["--idfile"])
        .arg(dir.join("fetchids"))
        .args(["--nodetach", "-v"])
        .env("HOME", dir)
        .output()
        .expect("fetchmail");
    // 0: mail fetched, 1: no new mail.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "fetchmail {:?}: {}\n{}\nserver:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    std::fs::read_to_string(&out_file).unwrap_or_default()
}

#[test]
fn fetchmail_keep_then_delete() {
    assert!(
        have("fetchmail"),
        "fetchmail is missing; .ci/run installs it"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "", "");
    let work = tmp.path().join("fm");
    std::fs::create_dir_all(&work).expect("mkdir");
    let first = fetchmail(&work, &server, true);
    assert_eq!(first.matches("Subject: ").count(), 3, "{first}");
    // fetchmail itself rewrites line ends for its MDA, so only the content is compared.
    assert!(first.contains("Subject: 22"), "{first}");
    assert_eq!(
        messages_on_disk(tmp.path()),
        3,
        "keep leaves them on the server"
    );
    // UIDLs are remembered: a second keep run fetches nothing new.
    let second = fetchmail(&work, &server, true);
    assert_eq!(second, first, "nothing fetched twice");
    let _ = fetchmail(&work, &server, false);
    assert_eq!(
        messages_on_disk(tmp.path()),
        0,
        "delete mode empties the maildrop"
    );
}

#[test]
fn getmail6_fetches_with_uidl_tracking() {
    assert!(have("getmail"), "getmail6 is missing; .ci/run installs it");
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "", "");
    let gm = tmp.path().join("getmail");
    std::fs::create_dir_all(&gm).expect("mkdir");
    let mbox = gm.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(mbox.join(sub)).expect("maildir");
    }
    let addr = server.addr("pop3");
    std::fs::write(
        gm.join("getmailrc"),
        format!(
            "[retriever]\ntype = SimplePOP3Retriever\nserver = {}\nport = {}\n\
             username = alice\npassword = secret\n\n\
             [destination]\ntype = Maildir\npath = {}/\n\n\
             [options]\nread_all = false\ndelete = false\nverbose = 0\n",
            addr.ip(),
            addr.port(),
            mbox.display()
        ),
    )
    .expect("rc");
    // getmail refuses to deliver as root; run it as nobody where the tests run as root.
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if as_root {
        use std::os::unix::fs::PermissionsExt;
        let open = |p: &Path, mode| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        open(tmp.path(), 0o755);
        for p in [
            gm.clone(),
            mbox.clone(),
            mbox.join("cur"),
            mbox.join("new"),
            mbox.join("tmp"),
        ] {
            open(&p, 0o777);
        }
        open(&gm.join("getmailrc"), 0o644);
    }
    let run = || {
        let mut cmd = if as_root {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "getmail",
            ]);
            c
        } else {
            Command::new("getmail")
        };
        let out = cmd
            .arg("--getmaildir")
            .arg(&gm)
            .args(["--rcfile", "getmailrc"])
            .output()
            .expect("getmail");
        assert!(
            out.status.success(),
            "getmail: {}\n{}\nserver:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            server.stderr()
        );
        let mut got: Vec<Vec<u8>> = std::fs::read_dir(mbox.join("new"))
            .expect("new")
            .map(|e| std::fs::read(e.expect("entry").path()).expect("message"))
            .collect();
        got.sort();
        got
    };
    let first = run();
    assert_eq!(first.len(), 3);
    assert!(
        // getmail's parser turns the bare CR into LF; the NUL and the un-stuffed dot
        // line must arrive intact.
        first.iter().any(|m| m.ends_with(b"B\0C\n"))
            && first.iter().any(|m| m.ends_with(b"Hello\n.dot line\n")),
        "{:?}",
        first
            .iter()
            .map(|m| String::from_utf8_lossy(m))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        run(),
        first,
        "second run sees the same UIDLs and fetches nothing"
    );
    assert_eq!(messages_on_disk(tmp.path()), 3);
}

#[test]
fn disconnect_without_quit_commits_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = start(tmp.path(), "", "");
    let mut s = connect(server.addr("pop3"));
    read_line(&mut s).expect("greeting");
    send(&mut s, "USER alice\r\nPASS secret\r\nDELE 1\r\nDELE 2\r\n");
    for _ in 0..4 {
        assert!(read_line(&mut s).expect("answer").starts_with("+OK"));
    }
    drop(s);
    let mut s = connect(server.addr("pop3"));
    read_line(&mut s).expect("greeting");
    send(&mut s, "USER alice\r\nPASS secret\r\nSTAT\r\n");
    read_line(&mut s).expect("USER");
    assert_eq!(
        read_line(&mut s).expect("PASS"),
        "+OK Logged in, 3 messages."
    );
    let mut rest = String::new();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    while !rest.ends_with("\r\n") {
        s.read_exact(&mut byte).expect("STAT");
        rest.push(char::from(byte[0]));
    }
    assert!(rest.starts_with("+OK 3 "), "{rest}");
    s.write_all(b"QUIT\r\n").expect("QUIT");
}
