//! `auth.require_tls` against the real binary: on a cleartext connection every way of
//! logging in is refused (IMAP LOGIN and every SASL mechanism, POP3 USER, AUTH) and none
//! is advertised; after STARTTLS/STLS, and on the implicit-TLS listeners, logins work.
//! Without the switch the same loopback client logs in in cleartext, so the switch is what
//! refuses.

mod common;

use std::io::{Read, Write};

use common::{Server, WAIT, config_yaml, connect, handshake, pinned_config, read_line, send};
use rustls::version::{TLS12, TLS13};

const USERS: &str = "alice:{PLAIN}secret\n";

fn start(dir: &std::path::Path, require: bool) -> Server {
    let mut yaml = config_yaml(&dir.join("data"));
    // `always` would allow cleartext anywhere: the switch must win over it.
    yaml.push_str(&format!(
        "auth:\n  cleartext: always\n  failure_delay_ms: 100\n  require_tls: {require}\n"
    ));
    Server::start_with_users(dir, yaml, USERS, 4)
}

fn line(s: &mut impl Read) -> String {
    read_line(s).unwrap_or_default()
}

/// Lines up to and including the one starting with `tag`.
fn until(s: &mut impl Read, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let l = line(s);
        assert!(!l.is_empty(), "EOF before {tag}: {out:?}");
        let done = l.starts_with(tag);
        out.push(l);
        if done {
            return out;
        }
    }
}

fn imap_plain_refuses_everything(s: &mut (impl Read + Write)) {
    assert!(line(s).starts_with("* OK"));
    send(s, "a1 CAPABILITY\r\n");
    let caps = until(s, "a1 ")[0].clone();
    assert!(caps.contains(" LOGINDISABLED"), "{caps}");
    assert!(caps.contains(" STARTTLS"), "{caps}");
    assert!(!caps.contains("AUTH="), "no mechanism is offered: {caps}");
    send(s, "a2 LOGIN alice secret\r\n");
    let login = until(s, "a2 ").pop().unwrap();
    assert!(login.starts_with("a2 NO [PRIVACYREQUIRED] "), "{login}");
    for mech in ["PLAIN", "CRAM-MD5", "SCRAM-SHA-256"] {
        send(s, &format!("a3 AUTHENTICATE {mech}\r\n"));
        let answer = until(s, "a3 ").pop().unwrap();
        assert!(
            answer.starts_with("a3 NO [PRIVACYREQUIRED] "),
            "{mech}: {answer}"
        );
    }
}

#[test]
fn imap_require_tls_refuses_every_login_until_starttls() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), true);
    let config = pinned_config(server.cert(), &[&TLS13, &TLS12]);

    let mut tcp = connect(server.addr("imap"));
    imap_plain_refuses_everything(&mut tcp);
    send(&mut tcp, "t1 STARTTLS\r\n");
    assert!(line(&mut tcp).starts_with("t1 OK"));
    let mut tls = handshake(tcp, config.clone()).unwrap();
    send(&mut tls, "a4 CAPABILITY\r\n");
    let caps = until(&mut tls, "a4 ")[0].clone();
    assert!(!caps.contains("LOGINDISABLED"), "{caps}");
    assert!(caps.contains("AUTH=PLAIN"), "{caps}");
    send(&mut tls, "a5 LOGIN alice secret\r\n");
    assert!(until(&mut tls, "a5 ").pop().unwrap().starts_with("a5 OK"));

    let mut imaps = handshake(connect(server.addr("imaps")), config).unwrap();
    assert!(line(&mut imaps).starts_with("* OK"));
    send(&mut imaps, "b1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert!(until(&mut imaps, "b1 ").pop().unwrap().starts_with("b1 OK"));
    // Refusals are not failed guesses: no penalty was logged for them.
    assert!(
        !server.stderr().contains("login failed"),
        "{}",
        server.stderr()
    );
}

#[test]
fn pop3_require_tls_refuses_every_login_until_stls() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), true);
    let config = pinned_config(server.cert(), &[&TLS13, &TLS12]);

    let mut tcp = connect(server.addr("pop3"));
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    assert!(line(&mut tcp).starts_with("+OK"));
    send(&mut tcp, "CAPA\r\n");
    let capa = until(&mut tcp, ".");
    assert!(
        capa.iter().all(|l| l != "USER" && !l.starts_with("SASL")),
        "{capa:?}"
    );
    assert!(capa.iter().any(|l| l == "STLS"), "{capa:?}");
    for cmd in [
        "USER alice",
        "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
        "AUTH CRAM-MD5",
    ] {
        send(&mut tcp, &format!("{cmd}\r\n"));
        let answer = line(&mut tcp);
        assert!(answer.starts_with("-ERR [AUTH] "), "{cmd}: {answer}");
    }
    send(&mut tcp, "AUTH\r\n");
    let list = until(&mut tcp, ".");
    assert!(
        list.len() == 2 && list[0].starts_with("+OK"),
        "none listed: {list:?}"
    );
    send(&mut tcp, "STLS\r\n");
    assert!(line(&mut tcp).starts_with("+OK"));
    let mut tls = handshake(tcp, config).unwrap();
    send(&mut tls, "USER alice\r\n");
    assert!(line(&mut tls).starts_with("+OK"));
    send(&mut tls, "PASS secret\r\n");
    let pass = line(&mut tls);
    assert!(pass.starts_with("+OK"), "{pass}");
}

#[test]
fn without_require_tls_the_same_cleartext_logins_work() {
    let tmp = tempfile::tempdir().unwrap();
    let server = start(tmp.path(), false);
    let mut tcp = connect(server.addr("imap"));
    assert!(line(&mut tcp).starts_with("* OK"));
    send(&mut tcp, "a1 LOGIN alice secret\r\n");
    assert!(until(&mut tcp, "a1 ").pop().unwrap().starts_with("a1 OK"));
    let mut pop = connect(server.addr("pop3"));
    assert!(line(&mut pop).starts_with("+OK"));
    send(&mut pop, "USER alice\r\n");
    assert!(line(&mut pop).starts_with("+OK"));
}
