//! `roost who`, `kick`, `mailbox list|status|reindex` and `expunge` against the real binary:
//! through the admin socket of a running server, and on the files with the server down.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{Server, WAIT, config_yaml, drop_message, read_line, roost, send};
use serde_json::Value;

const USERS: &str = "alice:{PLAIN}secret\nbob:{PLAIN}secret\n";

/// `roost ARGS -c CONFIG`: (exit code, stdout, stderr).
fn run(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = roost().args(args).arg("-c").arg(config).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(config: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = run(config, &all);
    assert_eq!(code, 0, "roost {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn maildir(data: &Path, user: &str) -> PathBuf {
    data.join("mail").join(user).join("Maildir")
}

/// Two messages in alice's INBOX: one that arrived in 2010, one now.
fn seed(data: &Path) {
    let md = maildir(data, "alice");
    drop_message(&md, "1000.old.host", b"Subject: old\r\n\r\nold\r\n");
    drop_message(&md, "2000.new.host", b"Subject: new\r\n\r\nnew\r\n");
    let old = std::fs::File::options()
        .write(true)
        .open(md.join("new/1000.old.host"))
        .unwrap();
    old.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_262_304_000))
        .unwrap();
}

/// Read lines until one starts with `prefix`; all lines read.
fn until(r: &mut impl Read, prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = read_line(r).unwrap_or_else(|| panic!("EOF waiting for {prefix}: {lines:?}"));
        let done = l.starts_with(prefix);
        lines.push(l);
        if done {
            return lines;
        }
    }
}

fn imap_login(server: &Server) -> BufReader<TcpStream> {
    let tcp = TcpStream::connect(server.addr("imap")).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut c = BufReader::new(tcp);
    until(&mut c, "* OK");
    send(
        c.get_mut(),
        "a ID (\"name\" \"OpsTest\" \"version\" \"1\")\r\n",
    );
    until(&mut c, "a OK");
    send(c.get_mut(), "b LOGIN alice secret\r\n");
    until(&mut c, "b OK");
    send(c.get_mut(), "c SELECT INBOX\r\n");
    let lines = until(&mut c, "c OK");
    assert!(lines.iter().any(|l| l == "* 2 EXISTS"), "{lines:?}");
    c
}

fn pop3_login(server: &Server) -> BufReader<TcpStream> {
    let tcp = TcpStream::connect(server.addr("pop3")).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut c = BufReader::new(tcp);
    until(&mut c, "+OK");
    send(c.get_mut(), "USER bob\r\n");
    until(&mut c, "+OK");
    send(c.get_mut(), "PASS secret\r\n");
    until(&mut c, "+OK");
    c
}

#[test]
fn with_the_server_running_commands_go_through_the_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    seed(&data);
    let server = Server::start_with_users(tmp.path(), config_yaml(&data), USERS, 4);
    let config = server.config.clone();
    let socket = data.join("roost-admin.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "owner-only socket");

    let mut imap = imap_login(&server);
    let mut pop3 = pop3_login(&server);

    let who = json(&config, &["who"]);
    let rows = who.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{who}");
    assert_eq!(rows[0]["user"], "alice");
    assert_eq!(rows[0]["protocol"], "imap");
    assert_eq!(rows[0]["ip"], "127.0.0.1");
    assert_eq!(rows[0]["client"], "OpsTest");
    assert_eq!(rows[0]["tls"], false);
    assert_eq!(rows[1]["user"], "bob");
    assert_eq!(rows[1]["protocol"], "pop3");
    assert_eq!(rows[1]["client"], Value::Null);
    let since = rows[0]["since"].as_u64().unwrap();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(since <= now && now - since < 60, "{since} vs {now}");
    let (code, table, _) = run(&config, &["who"]);
    assert_eq!(code, 0);
    assert!(
        table.starts_with("USER\tPROTOCOL\tIP\tSINCE\tTLS\tCLIENT\n"),
        "{table}"
    );
    assert!(table.contains("alice\timap\t127.0.0.1\t"), "{table}");

    // Mailbox views go through the server's own objects.
    let list = json(&config, &["mailbox", "list", "alice"]);
    let inbox = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "INBOX")
        .unwrap();
    assert_eq!(
        (inbox["messages"].as_u64(), inbox["unseen"].as_u64()),
        (Some(2), Some(2))
    );
    let status = json(&config, &["mailbox", "status", "alice"]);
    assert_eq!(status["messages"], 2);
    assert_eq!(status["uidnext"], 3);
    let uidvalidity = status["uidvalidity"].clone();

    // Expunge by INTERNALDATE: the selected IMAP session is told at its next command.
    let out = json(
        &config,
        &["expunge", "alice", "INBOX", "--before", "2015-01-01"],
    );
    assert_eq!(out["expunged"], serde_json::json!([1]), "{out}");
    assert_eq!(out["messages"], 1);
    send(imap.get_mut(), "d NOOP\r\n");
    let lines = until(&mut imap, "d OK");
    assert!(lines.iter().any(|l| l == "* 1 EXPUNGE"), "{lines:?}");

    // Reindex keeps UIDs and UIDVALIDITY; the open session carries on with them.
    let index = maildir(&data, "alice").join("roost-index");
    let out = json(&config, &["mailbox", "reindex", "alice", "INBOX"]);
    assert_eq!(out[0]["messages"], 1, "{out}");
    assert!(index.exists());
    send(imap.get_mut(), "e UID FETCH 1:* (UID FLAGS)\r\n");
    let lines = until(&mut imap, "e OK");
    assert!(
        lines.iter().any(|l| l.starts_with("* 1 FETCH (UID 2 ")),
        "{lines:?}"
    );
    let status = json(&config, &["mailbox", "status", "alice", "INBOX"]);
    assert_eq!(status["uidvalidity"], uidvalidity);
    assert_eq!(status["uidnext"], 3);

    // Refusals keep the CLI's exit statuses.
    let (code, _, err) = run(&config, &["mailbox", "status", "nobody"]);
    assert_eq!(code, 67, "{err}");
    let (code, _, err) = run(&config, &["mailbox", "status", "alice", "Nope"]);
    assert_eq!(code, 73, "{err}");
    assert!(err.contains("Nope"), "{err}");
    let (code, _, err) = run(&config, &["expunge", "alice", "INBOX", "--before", "soon"]);
    assert_eq!(code, 64, "{err}");

    // Kick: IMAP hears why, POP3 is just closed (nothing it deleted is committed).
    let (code, out, err) = run(&config, &["kick", "alice"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "alice: 1 sessions closed\n"),
        "{err}"
    );
    assert_eq!(
        read_line(&mut imap).as_deref(),
        Some("* BYE [UNAVAILABLE] Server shutting down.")
    );
    assert_eq!(read_line(&mut imap), None);
    let who = json(&config, &["who"]);
    assert_eq!(who.as_array().unwrap().len(), 1, "{who}");
    assert_eq!(json(&config, &["kick", "bob"])["kicked"], 1);
    assert_eq!(read_line(&mut pop3), None, "closed without a word");
    assert_eq!(json(&config, &["kick", "bob"])["kicked"], 0);
}

#[test]
fn with_the_server_down_mailbox_commands_work_on_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    seed(&data);
    std::fs::write(data.join("users"), USERS).unwrap();
    let config = tmp.path().join("roost.yaml");
    std::fs::write(&config, config_yaml(&data)).unwrap();

    let (code, _, err) = run(&config, &["who"]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("not running"), "{err}");
    let (code, _, err) = run(&config, &["kick", "alice"]);
    assert_eq!(code, 69, "{err}");

    let status = json(&config, &["mailbox", "status", "alice"]);
    assert_eq!(
        (status["messages"].as_u64(), status["uidnext"].as_u64()),
        (Some(2), Some(3))
    );
    let uidlist = maildir(&data, "alice").join("dovecot-uidlist");
    let before = std::fs::read_to_string(&uidlist).unwrap();

    // A damaged index is what reindex is for.
    let index = maildir(&data, "alice").join("roost-index");
    std::fs::write(&index, b"garbage").unwrap();
    let (code, out, err) = run(&config, &["mailbox", "reindex", "alice"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("INBOX: reindexed, 2 messages"), "{out}");
    assert_ne!(std::fs::read(&index).unwrap(), b"garbage");
    assert_eq!(
        std::fs::read_to_string(&uidlist).unwrap(),
        before,
        "UIDs kept"
    );

    let (code, out, err) = run(
        &config,
        &["expunge", "alice", "INBOX", "--before", "2015-01-01"],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "INBOX: 1 expunged, 1 left\n"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(maildir(&data, "alice").join("new"))
        .unwrap()
        .chain(std::fs::read_dir(maildir(&data, "alice").join("cur")).unwrap())
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].starts_with("2000.new.host"), "{left:?}");

    let (code, table, _) = run(&config, &["mailbox", "list", "alice"]);
    assert_eq!(code, 0);
    assert!(table.contains("INBOX\t1\t1\t-\n"), "{table}");
    let (code, _, _) = run(&config, &["mailbox", "list", "nobody"]);
    assert_eq!(code, 67);
}

#[test]
fn a_stale_socket_is_replaced_and_removed_at_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let socket = data.join("roost-admin.sock");
    // A socket file nobody listens on, as a killed server leaves it.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let mut server = Server::start_with_users(tmp.path(), config_yaml(&data), USERS, 4);
    let who = json(&server.config, &["who"]);
    assert_eq!(who, serde_json::json!([]));
    // A second line on the same connection is answered too; garbage gets a clear refusal.
    let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    s.write_all(b"{\"cmd\":\"launch\"}\n{\"cmd\":\"who\"}\n")
        .unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut r = BufReader::new(s);
    let first: Value = serde_json::from_str(&read_line(&mut r).unwrap()).unwrap();
    assert_eq!(
        (first["ok"].as_bool(), first["exit"].as_u64()),
        (Some(false), Some(64))
    );
    assert!(
        first["error"].as_str().unwrap().contains("bad request"),
        "{first}"
    );
    let second: Value = serde_json::from_str(&read_line(&mut r).unwrap()).unwrap();
    assert_eq!(second["ok"], true);

    // A second server pointed at the live socket serves mail but leaves the socket alone.
    let other = tempfile::tempdir().unwrap();
    let yaml = config_yaml(&other.path().join("data"))
        + &format!("admin:\n  socket: {}\n", socket.display());
    let second = Server::start_with_users(other.path(), yaml, USERS, 4);
    let deadline = std::time::Instant::now() + WAIT;
    while !second.stderr().contains("admin socket unavailable") {
        assert!(std::time::Instant::now() < deadline, "{}", second.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(second.stderr().contains("another server answers on it"));
    let mut imap = TcpStream::connect(second.addr("imap")).unwrap();
    imap.set_read_timeout(Some(WAIT)).unwrap();
    assert!(read_line(&mut imap).unwrap().starts_with("* OK"));
    drop(second);
    assert_eq!(
        json(&server.config, &["who"]),
        serde_json::json!([]),
        "first still answers"
    );

    server.signal(libc::SIGTERM);
    assert!(server.wait().success());
    assert!(!socket.exists(), "removed at shutdown");
}
