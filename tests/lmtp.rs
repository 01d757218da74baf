//! LMTP delivery (RFC 2033) against the real binary: Python's smtplib.LMTP and byte-level
//! pipelined transcripts.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::{Server, config_yaml, lmtp_send_py};
use roost_testkit::maildir::read_messages;

fn start(dir: &Path, max_size: u64) -> Server {
    let yaml = config_yaml(&dir.join("data"))
        .replace("lmtp: []", "lmtp: [\"127.0.0.1:0\"]")
        .replace(
            "limits:\n",
            &format!("limits:\n  max_message_size: {max_size}\n  lmtp_max_recipients: 3\n"),
        );
    let server = Server::start_with(dir, yaml);
    // Users arrive after the start: the users file is re-read when it changes.
    std::fs::write(
        dir.join("data/users"),
        "alice:{PLAIN}pw::::::\nbob@example.org:{PLAIN}pw::::::\n",
    )
    .unwrap();
    server
}

fn messages(dir: &Path, user: &str) -> Vec<Vec<u8>> {
    read_messages(&dir.join("data/mail").join(user).join("Maildir"))
}

fn python_lmtp(server: &Server, from: &str, rcpts: &[&str], message: &[u8]) -> String {
    let out = lmtp_send_py(server.addr("lmtp"), from, rcpts, message);
    assert!(
        out.status.success(),
        "lmtp_send.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn smtplib_lmtp_delivers_once_per_recipient_with_per_recipient_replies() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), 10_000);
    let message =
        b"From: sender@example.net\r\nSubject: hello\r\n\r\nline one\r\n.starts with a dot\r\n";
    let out = python_lmtp(
        &server,
        "sender@example.net",
        &[
            "alice@example.org",
            "bob+lists@example.org",
            "nobody@example.org",
        ],
        message,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "LHLO 250 SIZE", "{out}");
    assert!(lines.contains(&"RCPT alice@example.org 250"), "{out}");
    assert!(lines.contains(&"RCPT bob+lists@example.org 250"), "{out}");
    assert!(lines.contains(&"RCPT nobody@example.org 550"), "{out}");
    assert!(lines.contains(&"DATA 354"), "{out}");
    let done: Vec<&&str> = lines.iter().filter(|l| l.starts_with("DONE")).collect();
    assert_eq!(done.len(), 2, "one reply per accepted recipient: {out}");
    assert!(done.iter().all(|l| l.contains(" 250 2.0.0 ")), "{out}");

    let want = b"Return-Path: <sender@example.net>\nFrom: sender@example.net\nSubject: hello\n\nline one\n.starts with a dot\n";
    assert_eq!(messages(tmp.path(), "alice"), vec![want.to_vec()]);
    assert_eq!(messages(tmp.path(), "bob@example.org"), vec![want.to_vec()]);
}

/// Send everything in one write (PIPELINING) and read until `count` reply lines came.
fn transcript(server: &Server, input: &[u8], count: usize) -> Vec<String> {
    let mut s = TcpStream::connect(server.addr("lmtp")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(input).unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while text.lines().filter(|l| !l.starts_with("250-")).count() < count {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early; got:\n{text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text.lines()
        .filter(|l| !l.starts_with("250-"))
        .map(str::to_string)
        .collect()
}

#[test]
fn pipelined_transactions_limits_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), 200);
    let big = "x".repeat(300);
    let input = format!(
        "MAIL FROM:<a@x>\r\n\
         LHLO client.example\r\n\
         RCPT TO:<alice>\r\n\
         MAIL FROM:<a@x> SIZE=999\r\n\
         MAIL FROM:<a@x> SIZE=10\r\n\
         RCPT TO:<alice>\r\n\
         RCPT TO:<alice>\r\n\
         RCPT TO:<alice>\r\n\
         RCPT TO:<alice>\r\n\
         DATA\r\n\
         Subject: t\r\n\r\n{big}\r\n.\r\n\
         DATA\r\n\
         RSET\r\n\
         MAIL FROM:<>\r\n\
         RCPT TO:<ALICE>\r\n\
         DATA\r\n\
         small\r\n..\r\n.\r\n\
         BOGUS\r\n\
         QUIT\r\n"
    );
    let replies = transcript(&server, input.as_bytes(), 22);
    let codes: Vec<&str> = replies.iter().map(|l| &l[..3]).collect();
    assert_eq!(
        codes,
        vec![
            "220", // greeting
            "503", // MAIL before LHLO
            "250", // LHLO (last line)
            "503", // RCPT before MAIL
            "552", // SIZE over the limit
            "250", // MAIL
            "250", "250", "250", // three recipients
            "452", // fourth: too many
            "354", // DATA
            "552", "552", "552", // over the size limit, once per recipient
            "503", // DATA without a transaction
            "250", // RSET
            "250", // MAIL FROM:<>
            "250", // RCPT (user name matched case-insensitively)
            "354", // DATA
            "250", // delivered
            "500", // BOGUS
            "221", // QUIT
        ],
        "{replies:#?}"
    );
    let got = messages(tmp.path(), "alice");
    assert_eq!(got, vec![b"Return-Path: <>\nsmall\n.\n".to_vec()]);
}
