//! COMPRESS=DEFLATE (RFC 4978) against the real binary with a byte-level Python zlib client
//! (plain and over TLS), a decompression bomb, and the per-connection memory ceiling
//! attacked with and without compression.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, config_yaml, drop_message, have};

const USERS: &str = "alice:{PLAIN}secret\n";

fn maildir(dir: &Path) -> PathBuf {
    dir.join("data/mail/alice/Maildir")
}

/// A server with two messages, one big enough (2 MiB) to be streamed from its file.
fn start(dir: &Path, extra: &str) -> Server {
    let md = maildir(dir);
    drop_message(&md, "1700000001.M1P1.mta", b"Subject: small\n\nhello\n");
    let mut big = b"Subject: big\n\n".to_vec();
    while big.len() < 2 * 1024 * 1024 {
        big.extend_from_slice(b"All work and no play makes Jack a dull boy.\n");
    }
    drop_message(&md, "1700000002.M1P1.mta", &big);
    // `extra` holds settings under `limits:`, merged into the common config's section.
    let yaml = config_yaml(&dir.join("data")).replace("limits:\n", &format!("limits:\n{extra}"));
    Server::start_with_users(dir, yaml, USERS, 4)
}

fn client(server: &Server, proto: &str, mode: &str, arg: Option<&Path>) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imap_compress.py");
    let addr = server.addr(proto);
    let tls = if proto == "imaps" { "ssl" } else { "plain" };
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .args([&addr.ip().to_string(), &addr.port().to_string(), tls])
        .args(["alice", "secret"])
        .arg(server.dir.join("data/tls/cert.pem"))
        .arg(mode);
    if let Some(a) = arg {
        cmd.arg(a);
    }
    let out = cmd.output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "client {mode} failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    stdout.lines().map(str::to_string).collect()
}

/// Peak resident memory of a process in KiB (VmHWM): a buffer freed again still counts.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn fact<'a>(lines: &'a [String], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {key} in {lines:#?}"))
}

#[test]
fn compress_session_plain_and_tls() {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    for proto in ["imap", "imaps"] {
        let dir = tempfile::tempdir().unwrap();
        let server = start(dir.path(), "");
        let md = maildir(dir.path());
        let lines = client(&server, proto, "session", Some(&md));
        assert_eq!(fact(&lines, "caps-before-login"), "False", "{lines:#?}");
        assert_eq!(fact(&lines, "caps-after-login"), "True");
        assert_eq!(fact(&lines, "login").split(' ').nth(1), Some("OK"));
        assert!(
            fact(&lines, "unknown-mechanism").starts_with("z0 BAD "),
            "{lines:#?}"
        );
        assert_eq!(fact(&lines, "compress"), "z1 OK DEFLATE active");
        assert!(fact(&lines, "pipelined").starts_with("p1 OK"), "{lines:#?}");
        assert!(
            fact(&lines, "again").starts_with("z2 NO [COMPRESSIONACTIVE]"),
            "{lines:#?}"
        );
        assert_eq!(fact(&lines, "caps-compressed"), "False");
        assert!(fact(&lines, "select").starts_with("* 2 EXISTS a4 OK"));
        let fetch = fact(&lines, "fetch");
        assert!(fetch.starts_with("a5 OK"), "{fetch}");
        assert!(fetch.contains("bodies 2"), "{fetch}");
        // The 2 MiB body went through the streaming path, compressed on the way.
        let largest: usize = fetch.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(largest > 2 * 1024 * 1024, "{fetch}");
        let wire: usize = fact(&lines, "fetch-wire").parse().unwrap();
        assert!(
            wire < largest / 10,
            "repetitive text compresses: {wire} of {largest}"
        );
        assert_eq!(fact(&lines, "idle"), "+ idling");
        assert_eq!(fact(&lines, "idle-update"), "* 3 EXISTS");
        assert!(fact(&lines, "idle-done").starts_with("a6 OK"));
        assert!(fact(&lines, "logout").starts_with("a7 OK"));
        assert!(
            server.stderr().contains("COMPRESS DEFLATE started"),
            "{}",
            server.stderr()
        );
    }
}

#[test]
fn decompression_bomb_gets_the_plain_oversized_line_answer_in_bounded_memory() {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    let before = peak_rss_kib(server.pid());
    let lines = client(&server, "imap", "bomb", None);
    let after = peak_rss_kib(server.pid());
    let wire: usize = fact(&lines, "bomb-wire-bytes").parse().unwrap();
    assert!(wire < 1024 * 1024, "the bomb is small on the wire: {wire}");
    assert_eq!(
        fact(&lines, "bomb-answer"),
        "* BAD line longer than 65536 bytes"
    );
    assert!(
        fact(&lines, "after-bomb").starts_with("b1 OK"),
        "{lines:#?}"
    );
    assert!(fact(&lines, "logout").starts_with("b2 OK"));
    // 100 MiB went through; the server's memory must not have followed.
    assert!(
        after < before + 32 * 1024,
        "peak RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn memory_ceiling_closes_plain_and_compressed_attackers() {
    if !have("python3") {
        eprintln!("python3 missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "  max_connection_memory: 262144\n");
    for mode in ["memory-plain", "memory"] {
        let lines = client(&server, "imap", mode, None);
        let answers: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("memory-answer "))
            .collect();
        assert!(
            answers[0].starts_with("* BAD [LIMIT] "),
            "{mode}: {lines:#?}"
        );
        assert!(answers[1].starts_with("* BYE "), "{mode}: {lines:#?}");
        assert_eq!(answers.len(), 2, "{mode}: {lines:#?}");
    }
    assert!(
        server
            .stderr()
            .contains("connection memory ceiling exceeded")
    );
}
