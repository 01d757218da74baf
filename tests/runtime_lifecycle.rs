//! Process-level behaviour: signals, exit codes, config checking, bind failures.

mod common;

use std::process::Stdio;

use common::{Server, config_yaml, connect, read_line, roost};

#[test]
fn sigterm_says_bye_to_open_sessions_and_exits_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path());
    let mut imap = connect(server.addr("imap"));
    let mut pop3 = connect(server.addr("pop3"));
    assert!(read_line(&mut imap).unwrap().starts_with("* OK"));
    assert!(read_line(&mut pop3).unwrap().starts_with("+OK"));
    server.signal(libc::SIGTERM);
    assert_eq!(read_line(&mut imap).unwrap(), "* BYE Server shutting down");
    assert!(read_line(&mut pop3).unwrap().starts_with("-ERR"));
    assert_eq!(read_line(&mut imap), None);
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
}

#[test]
fn sigint_with_no_sessions_exits_zero_and_stops_listening() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path());
    let addr = server.addr("pop3");
    server.signal(libc::SIGINT);
    assert_eq!(server.wait().code(), Some(0));
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn check_config_prints_effective_config() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("roost.yaml");
    std::fs::write(&config, config_yaml(&tmp.path().join("data"))).unwrap();
    let out = roost()
        .args(["check-config", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("127.0.0.1:0"), "{yaml}");
    // {data_dir} is expanded in the effective users_file.
    let users = tmp.path().join("data/users");
    assert!(yaml.contains(&users.display().to_string()), "{yaml}");
}

#[test]
fn check_config_names_the_bad_key_and_exits_one() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("limits:\n  max_connections: 0\n", "limits.max_connections"),
        ("bogus_key: 1\n", "bogus_key"),
    ];
    for (yaml, key) in cases {
        let config = tmp.path().join("bad.yaml");
        std::fs::write(&config, yaml).unwrap();
        let out = roost()
            .args(["check-config", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{yaml}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(key), "{yaml}: {err}");
        assert!(err.starts_with("roost: "), "{err}");
    }
    let out = roost()
        .args(["check-config", "-c", "/nonexistent/roost.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/roost.yaml"));
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    for args in [&[][..], &["bogus"], &["user", "add"], &["deliver"]] {
        let out = roost().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(64), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "passwd", "--help"],
        &["pw", "-h"],
    ] {
        let out = roost().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn admin_commands_check_input_first() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("roost.yaml");
    std::fs::write(&config, config_yaml(&tmp.path().join("data"))).unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = roost()
            .args(args)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The command may reject its arguments and exit before reading stdin.
        let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        if let Err(e) = written {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["user", "add", "a:b", "--password-stdin"], "pw\n");
    assert_eq!(code, Some(65), "{err}");
    let (code, err) = run(&["user", "add", "alice", "--password-stdin"], "\n");
    assert_eq!(code, Some(65), "{err}");
    assert!(err.contains("empty"), "{err}");
    // stdin is a pipe, not a terminal: refusing beats silently reading it.
    let (code, err) = run(&["user", "add", "alice"], "pw\n");
    assert_eq!(code, Some(64), "{err}");
    assert!(err.contains("--password-stdin"), "{err}");
    let (code, err) = run(&["user", "add", "alice", "--password-stdin"], "pw\n");
    assert_eq!(code, Some(0), "{err}");

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "limits:\n  max_connections: 0\n").unwrap();
    let out = roost()
        .args(["user", "list", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));

    let out = roost().args(["pw", "-p", ""]).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
}

#[test]
fn privileged_port_as_normal_user_explains_what_to_do() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to drop to uid 65534 with setpriv");
        return;
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_roost"))
        .arg("serve")
        // Embedded defaults: imap on 0.0.0.0:143 is bound first.
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{err}");
    assert!(err.contains("143"), "{err}");
    assert!(err.contains("CAP_NET_BIND_SERVICE"), "{err}");
    assert!(err.contains("setcap"), "{err}");
    assert!(out.stdout.is_empty(), "nothing may claim to listen");
}

#[test]
fn address_in_use_has_its_own_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("roost.yaml");
    let yaml = format!(
        "data_dir: {}\nlisten:\n  imap: []\n  imaps: []\n  pop3: [\"127.0.0.1:{port}\"]\n  pop3s: []\n  lmtp: []\n",
        tmp.path().join("data").display()
    );
    std::fs::write(&config, yaml).unwrap();
    let out = roost().args(["serve", "-c"]).arg(&config).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{err}");
    assert!(
        err.contains("already in use") && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn stalled_tls_handshake_does_not_delay_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(tmp.path());
    // Connected to imaps but never starts the handshake.
    let _stalled = connect(server.addr("imaps"));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let started = std::time::Instant::now();
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().code(), Some(0));
    // The test config's grace period is 5 s; waiting it out would mean the stall won.
    assert!(
        started.elapsed().as_secs_f64() < 3.0,
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn json_logs_carry_the_session_id() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = config_yaml(&tmp.path().join("data"))
        .replace("level: debug", "level: info\n  format: json");
    let mut server = Server::start_with(tmp.path(), yaml);
    let mut s = connect(server.addr("pop3"));
    assert!(read_line(&mut s).unwrap().starts_with("+OK"));
    common::send(&mut s, "QUIT\r\n");
    assert!(read_line(&mut s).unwrap().starts_with("+OK"));
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().code(), Some(0));
    let log = server.stderr();
    let lines: Vec<&str> = log.lines().collect();
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| l.starts_with('{') && l.ends_with('}')),
        "{log}"
    );
    let conn = lines
        .iter()
        .find(|l| l.contains("\"connected\""))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        conn.contains("\"session\":\"") && conn.contains("\"proto\":\"pop3\""),
        "{conn}"
    );
}
