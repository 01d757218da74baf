//! Implicit TLS, STARTTLS/STLS, the command-injection hole, and certificate reuse.

mod common;

use common::{Server, Tls, connect, handshake, pinned_config, read_line, send};
use rustls::version::{TLS12, TLS13};

fn tls_to(server: &Server, proto: &str) -> Tls {
    handshake(
        connect(server.addr(proto)),
        pinned_config(server.cert(), &[&TLS13, &TLS12]),
    )
    .unwrap()
}

#[test]
fn imaps_greets_over_tls_without_starttls() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut s = tls_to(&server, "imaps");
    assert_eq!(
        read_line(&mut s).unwrap(),
        "* OK [CAPABILITY IMAP4rev1] Roost ready."
    );
    send(&mut s, "t1 STARTTLS\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("t1 BAD"));
}

#[test]
fn pop3s_greets_over_tls_and_hides_stls() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut s = tls_to(&server, "pop3s");
    assert_eq!(read_line(&mut s).unwrap(), "+OK Roost ready.");
    send(&mut s, "CAPA\r\n");
    let mut capa = Vec::new();
    while let Some(l) = read_line(&mut s).filter(|l| l != ".") {
        capa.push(l);
    }
    assert_eq!(capa[0], "+OK");
    assert!(!capa.contains(&"STLS".to_string()), "{capa:?}");
}

#[test]
fn tls12_only_client_is_accepted_and_wrong_pin_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut s = handshake(
        connect(server.addr("imaps")),
        pinned_config(server.cert(), &[&TLS12]),
    )
    .unwrap();
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert!(read_line(&mut s).unwrap().starts_with("* OK"));

    // A different certificate must not verify: proves the pin is really checked.
    let other = tempfile::tempdir().unwrap();
    let other_server = Server::start(other.path());
    let wrong = pinned_config(other_server.cert(), &[&TLS13]);
    assert!(handshake(connect(server.addr("imaps")), wrong).is_err());
}

#[test]
fn imap_starttls_upgrades_and_drops_injected_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut tcp = connect(server.addr("imap"));
    read_line(&mut tcp).unwrap();
    // The injected command arrives in the same segment, before the handshake.
    send(&mut tcp, "s1 STARTTLS\r\ns2 CAPABILITY\r\n");
    assert!(read_line(&mut tcp).unwrap().starts_with("s1 OK"));
    let mut s = handshake(tcp, pinned_config(server.cert(), &[&TLS13])).unwrap();
    send(&mut s, "s3 CAPABILITY\r\n");
    // Had s2 run inside TLS, its response would come first.
    assert_eq!(read_line(&mut s).unwrap(), "* CAPABILITY IMAP4rev1");
    assert!(read_line(&mut s).unwrap().starts_with("s3 OK"));
    send(&mut s, "s4 LOGOUT\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("* BYE"));
}

#[test]
fn pop3_stls_upgrades_and_drops_injected_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(tmp.path());
    let mut tcp = connect(server.addr("pop3"));
    read_line(&mut tcp).unwrap();
    send(&mut tcp, "STLS\r\nQUIT\r\n");
    assert!(read_line(&mut tcp).unwrap().starts_with("+OK"));
    let mut s = handshake(tcp, pinned_config(server.cert(), &[&TLS13])).unwrap();
    send(&mut s, "NOOP\r\n");
    // An executed QUIT would answer "+OK Logging out." and close.
    assert_eq!(read_line(&mut s).unwrap(), "+OK");
    send(&mut s, "STLS\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("-ERR"));
}

#[test]
fn generated_certificate_is_reused_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Server::start(tmp.path());
    let cert = first.cert();
    assert!(first.stderr().contains("self-signed"), "{}", first.stderr());
    drop(first);
    let second = Server::start(tmp.path());
    assert_eq!(second.cert(), cert);
    // The old pin still verifies: the server presents the same certificate.
    let mut s = handshake(
        connect(second.addr("pop3s")),
        pinned_config(cert, &[&TLS13]),
    )
    .unwrap();
    assert_eq!(read_line(&mut s).unwrap(), "+OK Roost ready.");
}
