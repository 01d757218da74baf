//! Connection bounds against the real binary: connections per IP address, the pre-login
//! deadline that talking does not extend, and slow-drip command lines.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::buffered::connect_from;
use common::{Server, WAIT};

const USERS: &str = "alice:{PLAIN}secret\n";

fn yaml(data: &Path) -> String {
    format!(
        "data_dir: {}\n\
         listen:\n  imap: [\"127.0.0.1:0\"]\n  imaps: []\n  \
         pop3: [\"127.0.0.1:0\"]\n  pop3s: []\n  lmtp: []\n\
         storage:\n  fsync: false\n\
         auth:\n  failure_delay_ms: 0\n\
         limits:\n  max_connections_per_ip: 3\n  login_timeout_secs: 2\n  \
         line_deadline_secs: 1\n",
        data.display()
    )
}

fn start(dir: &Path) -> Server {
    Server::start_with_users(dir, yaml(&dir.join("data")), USERS, 2)
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    // A reset after the server closed is the same as end of stream here.
    let _ = r.read_line(&mut l);
    l
}

fn send(r: &mut BufReader<TcpStream>, text: &[u8]) {
    r.get_mut().write_all(text).unwrap();
}

#[test]
fn connections_per_ip_are_bounded_over_all_listeners() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    let (imap, pop3) = (server.addr("imap"), server.addr("pop3"));
    let mut held = vec![
        connect_from("127.0.0.1", imap),
        connect_from("127.0.0.1", imap),
    ];
    held.push(connect_from("127.0.0.1", pop3));
    for c in &mut held {
        let greeting = line(c);
        assert!(greeting.starts_with("* OK") || greeting.starts_with("+OK"));
    }
    let mut fourth = connect_from("127.0.0.1", imap);
    assert!(line(&mut fourth).starts_with("* BYE [UNAVAILABLE] Too many connections"));
    let mut fourth = connect_from("127.0.0.1", pop3);
    assert!(line(&mut fourth).starts_with("-ERR [SYS/TEMP] Too many connections"));
    // Another address has its own allowance.
    let mut other = connect_from("127.0.0.2", imap);
    assert!(line(&mut other).starts_with("* OK"));
    // A closed connection frees its slot.
    drop(held.pop());
    let deadline = Instant::now() + WAIT;
    loop {
        let mut again = connect_from("127.0.0.1", pop3);
        if line(&mut again).starts_with("+OK") {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn chatty_clients_that_never_log_in_are_cut_at_the_login_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    for (addr, greeting, command, bye) in [
        (
            server.addr("imap"),
            "* OK",
            &b"a NOOP\r\n"[..],
            "* BYE Autologout",
        ),
        (
            server.addr("pop3"),
            "+OK",
            &b"NOOP\r\n"[..],
            "-ERR Login timeout",
        ),
    ] {
        let started = Instant::now();
        let mut c = connect_from("127.0.0.1", addr);
        assert!(line(&mut c).starts_with(greeting));
        let got = loop {
            // Well inside any idle timeout: only a deadline from connect can stop this.
            let _ = c.get_mut().write_all(command);
            let answer = line(&mut c);
            if answer.starts_with("* BYE") || answer.contains("Login timeout") || answer.is_empty()
            {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(300));
            assert!(started.elapsed() < WAIT, "never cut");
        };
        assert!(got.starts_with(bye), "{got:?}");
        let took = started.elapsed();
        // Cut 2 s after connect; the upper bound leaves a loaded CI machine room (a deadline
        // that talking extended would never cut at all).
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
            "{took:?}"
        );
    }
}

#[test]
fn slow_drip_lines_are_cut_but_literals_and_pauses_between_lines_are_fine() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path());
    for (addr, greeting, bye) in [
        (server.addr("imap"), "* OK", "* BYE Command line too slow"),
        (server.addr("pop3"), "+OK", "-ERR Command line too slow"),
    ] {
        let mut c = connect_from("127.0.0.1", addr);
        assert!(line(&mut c).starts_with(greeting));
        let started = Instant::now();
        // One byte every 300 ms of a line that would take 3 s.
        let mut cut = false;
        for b in b"a CAPABILITY\r\n" {
            if c.get_mut().write_all(&[*b]).is_err() {
                cut = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            if started.elapsed() > Duration::from_millis(1500) {
                break;
            }
        }
        let got = line(&mut c);
        assert!(got.starts_with(bye) || cut, "{got:?}");
        let took = started.elapsed();
        // Cut about 1 s after the first byte; room for a loaded CI machine (the 2 s login
        // timeout would say "Autologout" instead, which the check above refuses).
        assert!(took < Duration::from_secs(6), "{took:?}");
    }

    // A logged-in IMAP client may pause between lines, and a literal is data, not a line.
    let mut c = connect_from("127.0.0.1", server.addr("imap"));
    assert!(line(&mut c).starts_with("* OK"));
    send(&mut c, b"a1 LOGIN alice secret\r\n");
    assert!(line(&mut c).starts_with("a1 OK"));
    std::thread::sleep(Duration::from_millis(1300));
    send(&mut c, b"a2 APPEND INBOX {30}\r\n");
    assert!(line(&mut c).starts_with("+ "));
    for chunk in b"Subject: slow\r\n\r\nbody 12345678".chunks(10) {
        send(&mut c, chunk);
        std::thread::sleep(Duration::from_millis(500));
    }
    send(&mut c, b"\r\n");
    let answer = line(&mut c);
    assert!(answer.starts_with("a2 OK"), "{answer:?}");
}
