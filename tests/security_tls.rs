//! TLS certificate reload on SIGHUP against the real binary: new connections get the new
//! certificate, a session opened before keeps working, and a broken pair changes nothing.

mod common;

use std::time::{Duration, Instant};

use common::{Server, Tls, WAIT, config_yaml, connect, handshake, pinned_config, send};
use rustls::version::{TLS12, TLS13};
use rustls_pki_types::CertificateDer;

fn tls(server: &Server, cert: &CertificateDer<'static>) -> Result<Tls, std::io::Error> {
    handshake(
        connect(server.addr("imaps")),
        pinned_config(cert.clone(), &[&TLS13, &TLS12]),
    )
}

fn line(s: &mut Tls) -> String {
    common::read_line(s).unwrap_or_default()
}

fn wait_for_log(server: &Server, text: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    while server.stderr().matches(text).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in log:\n{}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server =
        Server::start_with_users(tmp.path(), config_yaml(&data), "alice:{PLAIN}secret\n", 4);
    let old_cert = server.cert();
    let mut old = tls(&server, &old_cert).unwrap();
    assert!(line(&mut old).starts_with("* OK"));
    send(&mut old, "a1 LOGIN alice secret\r\n");
    assert!(line(&mut old).starts_with("a1 OK"));

    // Replace the pair in place (keeping the files' owner, as renewal hooks do), then HUP.
    let fresh = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(data.join("tls/key.pem"), fresh.signing_key.serialize_pem()).unwrap();
    std::fs::write(data.join("tls/cert.pem"), fresh.cert.pem()).unwrap();
    let new_cert = server.cert();
    assert_ne!(new_cert, old_cert);
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "TLS certificate reloaded", 1);

    let mut new = tls(&server, &new_cert).expect("new connections see the new certificate");
    assert!(line(&mut new).starts_with("* OK"));
    assert!(
        tls(&server, &old_cert).is_err(),
        "the old certificate is gone"
    );
    // The session from before the reload carries on.
    send(&mut old, "a2 NOOP\r\n");
    assert_eq!(line(&mut old), "a2 OK NOOP completed");

    // A broken pair is refused and the working one stays; the server keeps running.
    std::fs::write(data.join("tls/cert.pem"), "not a certificate\n").unwrap();
    server.signal(libc::SIGHUP);
    wait_for_log(&server, "TLS reload failed", 1);
    let mut still = tls(&server, &new_cert).expect("the last good certificate stays");
    assert!(line(&mut still).starts_with("* OK"));
    send(&mut old, "a3 LOGOUT\r\n");
    assert!(line(&mut old).starts_with("* BYE"));
}

/// A TLS connection to IMAPS asking for `name` (SNI), trusting only `cert`.
fn tls_for(
    server: &Server,
    name: &str,
    cert: &CertificateDer<'static>,
) -> Result<Tls, std::io::Error> {
    let config = pinned_config(cert.clone(), &[&TLS13, &TLS12]);
    let name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, connect(server.addr("imaps")));
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

#[test]
fn sni_picks_the_certificate_by_host_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut files = Vec::new();
    for name in ["example-org", "example-net"] {
        let pair = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let (cert, key) = (
            tmp.path().join(format!("{name}.pem")),
            tmp.path().join(format!("{name}.key")),
        );
        std::fs::write(&cert, pair.cert.pem()).unwrap();
        std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
        files.push((cert, key));
    }
    let yaml = config_yaml(&data).replace(
        "log:\n",
        &format!(
            "tls:\n  sni:\n    - names: [\"mail.example.org\"]\n      cert: {}\n      key: {}\n    \
             - names: [\"*.example.net\"]\n      cert: {}\n      key: {}\nlog:\n",
            files[0].0.display(),
            files[0].1.display(),
            files[1].0.display(),
            files[1].1.display()
        ),
    );
    let server = Server::start_with_users(tmp.path(), yaml, "alice:{PLAIN}secret\n", 4);
    let default = server.cert();
    let org = common::cert_from(&files[0].0);
    let net = common::cert_from(&files[1].0);
    for (name, want) in [
        ("mail.example.org", &org),
        ("MAIL.EXAMPLE.ORG", &org),
        ("imap.example.net", &net),
        ("localhost", &default),
        ("other.example.org", &default),
    ] {
        let mut s = tls_for(&server, name, want).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(line(&mut s).starts_with("* OK"), "{name}");
    }
    assert!(tls_for(&server, "mail.example.org", &default).is_err());
}
