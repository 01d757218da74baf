//! Per-user protocol policy (`protocols=` in the users file) against the real binary:
//! a protocol left out is refused after the password check, with `NO [CONTACTADMIN]` or
//! `-ERR [AUTH]` and the configured text, for every way of logging in.

mod common;

use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use common::buffered::{connect, line, send};
use common::{Server, plain_yaml};
use roost_testkit::process::output_with_input;

const USERS: &str = "imaponly:{PLAIN}pw-i::::::protocols=imap\n\
                     poponly:{PLAIN}pw-p::::::protocols=pop3\n\
                     both:{PLAIN}pw-b::::::protocols=pop3,imap\n\
                     free:{PLAIN}pw-f\n";

fn yaml(data: &Path) -> String {
    plain_yaml(
        data,
        "pop3:\n  apop: true\n\
         auth:\n  failure_delay_ms: 0\n  \
         protocol_denied_message: \"No {protocol} for you; call 555-0100.\"\n",
    )
}

/// Sends one tagged IMAP command and returns its tagged answer line.
fn imap(r: &mut BufReader<TcpStream>, cmd: &str) -> String {
    send(r, &format!("a {cmd}\r\n"));
    loop {
        let l = line(r);
        assert!(!l.is_empty(), "connection closed after {cmd}");
        if l.starts_with("a ") {
            return l;
        }
    }
}

fn pop3_login(addr: SocketAddr, user: &str, pass: &str) -> String {
    let mut r = connect(addr);
    assert!(line(&mut r).starts_with("+OK"));
    send(&mut r, &format!("USER {user}\r\n"));
    assert!(line(&mut r).starts_with("+OK"));
    send(&mut r, &format!("PASS {pass}\r\n"));
    line(&mut r)
}

fn md5_hex(data: &str) -> String {
    let out = output_with_input(&mut std::process::Command::new("md5sum"), data.as_bytes());
    String::from_utf8(out.stdout).unwrap()[..32].to_owned()
}

fn apop_login(addr: SocketAddr, user: &str, pass: &str) -> String {
    let mut r = connect(addr);
    let greeting = line(&mut r);
    let start = greeting.find('<').unwrap();
    let end = greeting.find('>').unwrap();
    let digest = md5_hex(&format!("{}{pass}", &greeting[start..=end]));
    send(&mut r, &format!("APOP {user} {digest}\r\n"));
    line(&mut r)
}

#[test]
fn protocols_field_allows_and_refuses_each_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_users(tmp.path(), yaml(&tmp.path().join("data")), USERS, 2);
    let (imap_addr, pop3_addr) = (server.addr("imap"), server.addr("pop3"));
    let refused_imap = "a NO [CONTACTADMIN] No IMAP for you; call 555-0100.\r\n";
    let refused_pop3 = "-ERR [AUTH] No POP3 for you; call 555-0100.\r\n";

    for (user, pass, allowed) in [
        ("imaponly", "pw-i", true),
        ("poponly", "pw-p", false),
        ("both", "pw-b", true),
        ("free", "pw-f", true),
    ] {
        let mut r = connect(imap_addr);
        line(&mut r);
        let answer = imap(&mut r, &format!("LOGIN {user} {pass}"));
        if allowed {
            assert!(answer.starts_with("a OK"), "{user}: {answer}");
        } else {
            assert_eq!(answer, refused_imap, "{user}");
            // Still not authenticated: the connection goes on in the same state.
            assert!(imap(&mut r, "SELECT INBOX").starts_with("a BAD"));
        }
        // SASL PLAIN goes through the same check.
        let mut r = connect(imap_addr);
        line(&mut r);
        let plain = base64_plain(user, pass);
        let answer = imap(&mut r, &format!("AUTHENTICATE PLAIN {plain}"));
        if allowed {
            assert!(answer.starts_with("a OK"), "{user}: {answer}");
        } else {
            assert_eq!(answer, refused_imap, "{user} (PLAIN)");
        }
    }
    for (user, pass, allowed) in [
        ("imaponly", "pw-i", false),
        ("poponly", "pw-p", true),
        ("both", "pw-b", true),
        ("free", "pw-f", true),
    ] {
        let answer = pop3_login(pop3_addr, user, pass);
        let apop = apop_login(pop3_addr, user, pass);
        if allowed {
            assert!(answer.starts_with("+OK"), "{user}: {answer}");
            assert!(apop.starts_with("+OK"), "{user} (APOP): {apop}");
        } else {
            assert_eq!(answer, refused_pop3, "{user}");
            assert_eq!(apop, refused_pop3, "{user} (APOP)");
        }
    }
    // A wrong password never reveals the policy: the usual failure comes first.
    let mut r = connect(imap_addr);
    line(&mut r);
    let answer = imap(&mut r, "LOGIN poponly wrong");
    assert!(
        answer.starts_with("a NO [AUTHENTICATIONFAILED]"),
        "{answer}"
    );
    let answer = pop3_login(pop3_addr, "imaponly", "wrong");
    assert_eq!(answer, "-ERR [AUTH] Authentication failed.\r\n");

    let log = server.stderr();
    assert!(
        log.contains("login refused: IMAP not allowed for this user"),
        "{log}"
    );
    assert!(log.contains("login refused: POP3 not allowed for this user"));
}

fn base64_plain(user: &str, pass: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data = format!("\0{user}\0{pass}").into_bytes();
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
