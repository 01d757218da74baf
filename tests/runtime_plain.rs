//! The real binary on loopback: startup output and the cleartext sessions.

mod common;

use common::{Server, connect, read_line, send};

#[test]
fn startup_prints_every_listener_and_the_users_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut protos: Vec<&str> = server.addrs.keys().map(String::as_str).collect();
    protos.sort();
    assert_eq!(protos, ["imap", "imaps", "pop3", "pop3s"]);
    for addr in server.addrs.values() {
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    }
    let hint = server.stdout.last().unwrap();
    assert_eq!(
        hint,
        &format!(
            "no users yet: add one with: roost user add NAME -c {}",
            server.config.display()
        )
    );
}

#[test]
fn imap_greeting_capability_noop_unknown_logout() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut s = connect(server.addr("imap"));
    let greeting = read_line(&mut s).unwrap();
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS ")
            && greeting.ends_with("] Roost ready."),
        "{greeting}"
    );
    send(&mut s, "a1 capability\r\n");
    let caps = read_line(&mut s).unwrap();
    // Loopback may log in without TLS by default (auth.cleartext: tls_or_loopback).
    assert!(
        caps.starts_with("* CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS ")
            && !caps.contains("LOGINDISABLED"),
        "{caps}"
    );
    assert!(read_line(&mut s).unwrap().starts_with("a1 OK"));
    send(&mut s, "a2 NOOP\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("a2 OK"));
    send(&mut s, "a3 LOGIN alice secret\r\n");
    assert!(
        read_line(&mut s)
            .unwrap()
            .starts_with("a3 NO [AUTHENTICATIONFAILED]")
    );
    send(&mut s, "a4 LOGOUT\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("* BYE"));
    assert!(read_line(&mut s).unwrap().starts_with("a4 OK"));
    assert_eq!(read_line(&mut s), None, "server closes after LOGOUT");
    // Every log line of a connection carries its session id, protocol and peer.
    let log = server.stderr();
    let connected = log
        .lines()
        .find(|l| l.contains("connected") && l.contains("proto=imap"))
        .unwrap_or_else(|| panic!("no connection log line in:\n{log}"));
    assert!(connected.contains("session="), "{connected}");
    assert!(connected.contains("peer=127.0.0.1:"), "{connected}");
    assert!(
        !log.contains("secret"),
        "command arguments must not be logged"
    );
}

#[test]
fn pop3_greeting_capa_noop_unknown_quit() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut s = connect(server.addr("pop3"));
    assert_eq!(read_line(&mut s).unwrap(), "+OK Roost ready.");
    send(&mut s, "CAPA\r\n");
    let mut capa = Vec::new();
    loop {
        let l = read_line(&mut s).unwrap();
        if l == "." {
            break;
        }
        capa.push(l);
    }
    assert_eq!(capa[0], "+OK");
    assert!(capa.contains(&"STLS".to_string()), "{capa:?}");
    send(&mut s, "noop\r\n");
    assert_eq!(read_line(&mut s).unwrap(), "+OK");
    send(&mut s, "USER alice\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("-ERR"));
    send(&mut s, "QUIT\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("+OK"));
    assert_eq!(read_line(&mut s), None);
}

#[test]
fn overlong_line_is_refused_and_session_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    let long = format!("a1 NOOP {}\r\na2 NOOP\r\n", "x".repeat(200_000));
    send(&mut s, &long);
    assert!(read_line(&mut s).unwrap().starts_with("* BAD"));
    assert!(read_line(&mut s).unwrap().starts_with("a2 OK"));
}
