//! Password guessing against the real binary: the growing per-address penalty, the ban
//! after repeated failures, the allow-list, `roost ban list|clear`, and the log lines.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::buffered::{connect_from, line, send};
use common::{Server, WAIT, plain_yaml, roost};

const USERS: &str = "alice:{PLAIN}secret\n";

/// A config for the ban tests: 3 failures ban for a minute, 400 ms first delay doubling up
/// to 2 s, and 127.0.0.2 on the allow-list (loopback is not, unlike the default). The steps
/// are 400 ms apart, not 200, so that telling one step from the next leaves a loaded CI
/// machine room.
fn yaml(data: &Path) -> String {
    plain_yaml(
        data,
        "auth:\n  failure_delay_ms: 400\n  penalty_max_secs: 2\n  ban_after_failures: 3\n  \
         ban_window_secs: 60\n  ban_secs: 60\n  ban_allow: [\"127.0.0.2/32\"]\n",
    )
    .replace("lmtp: []", "lmtp: [\"127.0.0.1:0\"]")
}

/// USER/PASS with a wrong password; returns the answer and how long it took.
fn pop3_fail(r: &mut BufReader<TcpStream>, user: &str) -> (String, Duration) {
    send(r, &format!("USER {user}\r\n"));
    assert!(line(r).starts_with("+OK"));
    let t = Instant::now();
    send(r, "PASS wrong\r\n");
    let answer = line(r);
    (answer, t.elapsed())
}

fn ban_list(server: &Server) -> String {
    let out = roost()
        .args(["ban", "list", "-c"])
        .arg(&server.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn guessing_is_slowed_then_banned_and_ban_clear_lifts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_users(tmp.path(), yaml(&tmp.path().join("data")), USERS, 3);
    let pop3 = server.addr("pop3");
    let imap = server.addr("imap");

    // Failures from 127.0.0.1: 400 ms, then 800 ms, unknown user or not; the third bans.
    let mut c = connect_from("127.0.0.1", pop3);
    assert!(line(&mut c).starts_with("+OK"));
    let (a1, d1) = pop3_fail(&mut c, "alice");
    let (a2, d2) = pop3_fail(&mut c, "nobody-here");
    assert_eq!(a1, a2, "unknown user and wrong password look the same");
    assert!(a1.starts_with("-ERR [AUTH]"), "{a1}");
    assert!(d1 >= Duration::from_millis(390), "{d1:?}");
    assert!(d2 >= Duration::from_millis(790), "penalty grows: {d2:?}");
    let (a3, d3) = pop3_fail(&mut c, "alice");
    assert!(a3.starts_with("-ERR [AUTH]"), "{a3}");
    assert!(d3 >= Duration::from_millis(1590), "{d3:?}");
    // The connection that triggered the ban is told and closed.
    assert!(line(&mut c).starts_with("-ERR [SYS/TEMP]"));
    assert_eq!(line(&mut c), "", "closed");

    // New connections from the banned address are refused at connect, over both protocols.
    let mut p = connect_from("127.0.0.1", pop3);
    assert!(line(&mut p).starts_with("-ERR [SYS/TEMP]"));
    assert_eq!(line(&mut p), "");
    let mut i = connect_from("127.0.0.1", imap);
    assert!(line(&mut i).starts_with("* BYE [UNAVAILABLE]"));
    // LMTP has no logins and is never banned.
    let mut l = connect_from("127.0.0.1", server.addr("lmtp"));
    assert!(line(&mut l).starts_with("220 "));

    // The allow-listed address fails as often as it likes without a ban (still delayed).
    let mut ok = connect_from("127.0.0.2", pop3);
    assert!(line(&mut ok).starts_with("+OK"));
    for _ in 0..4 {
        let (a, _) = pop3_fail(&mut ok, "alice");
        assert!(a.starts_with("-ERR [AUTH]"), "{a}");
    }
    send(&mut ok, "CAPA\r\n");
    assert!(line(&mut ok).starts_with("+OK"), "still connected");
    let listed = ban_list(&server);
    assert!(listed.starts_with("127.0.0.1 "), "{listed}");
    assert!(!listed.contains("127.0.0.2"), "{listed}");

    // `roost ban clear` reaches the running server within a second or so.
    let out = roost()
        .args(["ban", "clear", "127.0.0.1", "-c"])
        .arg(&server.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + WAIT;
    while !ban_list(&server).is_empty() {
        assert!(Instant::now() < deadline, "ban not lifted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut back = connect_from("127.0.0.1", pop3);
    assert!(line(&mut back).starts_with("+OK"));
    // The address's failures were forgotten with the ban: the first delay is the base one
    // again (for a name not guessed before: alice's own per-user penalty runs on until her
    // window ends or she logs in), and a right password logs in.
    let (_, d) = pop3_fail(&mut back, "carol");
    assert!(d < Duration::from_millis(790), "{d:?}");
    send(&mut back, "USER alice\r\nPASS secret\r\n");
    assert!(line(&mut back).starts_with("+OK"));
    assert!(line(&mut back).starts_with("+OK"), "logged in");

    // Every failure and success logged once, with address, protocol, mechanism and TLS;
    // the password never.
    let log = server.stderr();
    assert!(!log.contains("wrong") && !log.contains("secret"), "{log}");
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("login failed")).collect();
    assert_eq!(failures.len(), 3 + 4 + 1, "{log}");
    for f in &failures {
        for want in ["peer=127.0.0.", "proto=pop3", "mechanism=", "tls=false"] {
            assert!(f.contains(want), "{want} missing in {f}");
        }
    }
    assert!(log.contains("address banned after repeated login failures"));
    assert!(log.contains("ban lifted by `roost ban clear`"));
    let logins = log.lines().filter(|l| l.contains(": login user=")).count();
    assert_eq!(logins, 1, "{log}");
}

#[test]
fn imap_guessing_is_banned_too() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_users(tmp.path(), yaml(&tmp.path().join("data")), USERS, 3);
    let imap = server.addr("imap");
    let mut c = connect_from("127.0.0.1", imap);
    assert!(line(&mut c).starts_with("* OK"));
    for n in 1..=3 {
        send(&mut c, &format!("a{n} LOGIN alice wrong{n}\r\n"));
        let answer = line(&mut c);
        assert!(answer.starts_with(&format!("a{n} NO")), "{answer}");
    }
    assert!(line(&mut c).starts_with("* BYE [UNAVAILABLE]"));
    assert_eq!(line(&mut c), "", "closed");
    let mut again = connect_from("127.0.0.1", imap);
    assert!(line(&mut again).starts_with("* BYE [UNAVAILABLE]"));
    // Other addresses are not affected.
    let mut other = connect_from("127.0.0.3", imap);
    assert!(line(&mut other).starts_with("* OK"));
    send(&mut other, "b1 LOGIN alice secret\r\n");
    assert!(line(&mut other).starts_with("b1 OK"));
}
