//! Protocol transcripts (`log.rawlog_dir`, `log.rawlog_users`) against the real binary:
//! listed users' IMAP and POP3 sessions are recorded, secrets never are, others not at all.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Server, config_yaml, connect, read_line, send};

const USERS: &str = "alice:{PLAIN}s3cr3t-pw::::::\nbob:{PLAIN}b0b-pw::::::\n";

fn start(dir: &Path) -> Server {
    let yaml = config_yaml(&dir.join("data")).replace(
        "log:\n  level: debug\n",
        "log:\n  level: debug\n  rawlog_dir: \"{data_dir}/rawlog\"\n  rawlog_users: [alice]\n",
    );
    Server::start_with_users(dir, yaml, USERS, 4)
}

/// Send one tagged IMAP command and read up to its tagged answer.
fn imap(s: &mut TcpStream, tag: &str, cmd: &str) -> Vec<String> {
    send(s, &format!("{tag} {cmd}\r\n"));
    until(s, &format!("{tag} "))
}

fn until(s: &mut impl Read, prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let line = read_line(s).expect("server closed");
        let done = line.starts_with(prefix);
        lines.push(line);
        if done {
            return lines;
        }
    }
}

fn transcripts(dir: &Path) -> Vec<(String, String, u32)> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("data/rawlog"))
        .map(|rd| {
            rd.map(|e| {
                let e = e.unwrap();
                let mode = e.metadata().unwrap().permissions().mode() & 0o777;
                let text = std::fs::read_to_string(e.path()).unwrap();
                (e.file_name().to_string_lossy().into_owned(), text, mode)
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn listed_users_sessions_are_recorded_with_secrets_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());

    // IMAP: LOGIN with a quoted password, then a literal one, then SASL PLAIN.
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    imap(&mut s, "a1", "CAPABILITY");
    let r = imap(&mut s, "a2", "LOGIN alice \"s3cr3t-pw\"");
    assert!(r.last().unwrap().starts_with("a2 OK"), "{r:?}");
    imap(&mut s, "a3", "SELECT INBOX");
    imap(&mut s, "a4", "LOGOUT");

    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(&mut s, "b1 LOGIN alice {9}\r\n");
    assert!(read_line(&mut s).unwrap().starts_with('+'));
    send(&mut s, "s3cr3t-pw\r\n");
    let r = until(&mut s, "b1 ");
    assert!(r.last().unwrap().starts_with("b1 OK"), "{r:?}");
    imap(&mut s, "b2", "LOGOUT");

    // base64 of "\0alice\0s3cr3t-pw".
    let plain = "AGFsaWNlAHMzY3IzdC1wdw==";
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(&mut s, "c1 AUTHENTICATE PLAIN\r\n");
    assert!(read_line(&mut s).unwrap().starts_with('+'));
    send(&mut s, &format!("{plain}\r\n"));
    let r = until(&mut s, "c1 ");
    assert!(r.last().unwrap().starts_with("c1 OK"), "{r:?}");
    imap(&mut s, "c2", "LOGOUT");

    // POP3: USER/PASS, and an unlisted user over both protocols.
    let mut p = connect(server.addr("pop3"));
    read_line(&mut p).unwrap();
    send(&mut p, "USER alice\r\n");
    read_line(&mut p).unwrap();
    send(&mut p, "PASS s3cr3t-pw\r\n");
    assert!(read_line(&mut p).unwrap().starts_with("+OK"));
    send(&mut p, "STAT\r\nQUIT\r\n");
    read_line(&mut p).unwrap();
    read_line(&mut p).unwrap();

    let mut b = connect(server.addr("imap"));
    read_line(&mut b).unwrap();
    let r = imap(&mut b, "d1", "LOGIN bob b0b-pw");
    assert!(r.last().unwrap().starts_with("d1 OK"), "{r:?}");
    imap(&mut b, "d2", "LOGOUT");
    let mut b = connect(server.addr("pop3"));
    read_line(&mut b).unwrap();
    send(&mut b, "USER bob\r\nPASS b0b-pw\r\nQUIT\r\n");
    for _ in 0..3 {
        read_line(&mut b).unwrap();
    }

    let logs = transcripts(tmp.path());
    let names: Vec<&str> = logs.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("alice-imap-"))
            .count(),
        3,
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("alice-pop3-")),
        "{names:?}"
    );
    let all: String = logs.iter().map(|(_, t, _)| t.as_str()).collect();
    for (name, text, mode) in &logs {
        assert_eq!(*mode, 0o600, "{name}");
        let first = text.lines().next().unwrap_or_default();
        // `2026-11-26T12:34:56.789Z S: * OK ...`: timestamp, direction, the greeting first.
        assert!(first.len() > 27 && first[..24].ends_with('Z'), "{first}");
        assert!(first[25..].starts_with("S: "), "{first}");
    }
    for secret in ["s3cr3t", plain, "b0b", "bob"] {
        assert!(!all.contains(secret), "{secret} in transcripts:\n{all}");
    }
    for expected in [
        "C: a2 LOGIN <redacted>",
        "C: a3 SELECT INBOX",
        "S: a4 OK",
        "C: b1 LOGIN <redacted>",
        "C: c1 AUTHENTICATE PLAIN",
        "C: <redacted>",
        "C: PASS <redacted>",
        "C: USER alice",
        "C: STAT",
        "S: +OK",
    ] {
        assert!(all.contains(expected), "{expected} missing:\n{all}");
    }
}
