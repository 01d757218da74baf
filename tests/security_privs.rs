//! Privilege separation against the real binary: started as root, `roost serve` serves
//! sessions as `mail` (or the configured `run_as`), never as root, and what it creates is
//! private to that account.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::privs::{config_with_user, is_root, uid_of, walk};
use common::{Server, WAIT, config_yaml, roost};

/// `(real, effective, saved, fs)` uids and gids, and the supplementary groups, of a process.
fn ids(pid: u32) -> (Vec<u32>, Vec<u32>, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_string()
    };
    let nums = |s: String| s.split_whitespace().map(|n| n.parse().unwrap()).collect();
    (nums(field("Uid:")), nums(field("Gid:")), field("Groups:"))
}

fn imap_login(server: &Server) {
    let stream = TcpStream::connect(server.addr("imap")).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut r = BufReader::new(stream);
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    assert!(l.starts_with("* OK"), "{l}");
    r.get_mut()
        .write_all(b"a1 LOGIN alice secret\r\na2 LOGOUT\r\n")
        .unwrap();
    let mut all = String::new();
    loop {
        l.clear();
        if r.read_line(&mut l).unwrap() == 0 {
            break;
        }
        all.push_str(&l);
    }
    assert!(all.contains("a1 OK"), "{all}\n{}", server.stderr());
}

#[test]
fn started_as_root_sessions_run_as_mail_and_files_are_private() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let Some((uid, gid)) = uid_of("mail") else {
        eprintln!("skipped: no `mail` user on this host");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server =
        Server::start_with_users(tmp.path(), config_yaml(&data), "alice:{PLAIN}secret\n", 4);
    let (uids, gids, groups) = ids(server.pid());
    assert_eq!(uids, [uid; 4], "real, effective, saved and fs uid");
    assert_eq!(gids, [gid; 4]);
    assert_eq!(
        groups,
        gid.to_string(),
        "no supplementary groups left from root"
    );
    assert!(server.stderr().contains("privileges dropped"));

    imap_login(&server);
    let owned = |p: &Path, mode: u32| {
        let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", p.display());
        assert_eq!(m.mode() & 0o777, mode, "{}", p.display());
    };
    owned(&data, 0o700);
    owned(&data.join("users"), 0o600);
    let maildir = data.join("mail/alice/Maildir");
    for sub in ["", "new", "cur", "tmp", ".Sent", ".Trash"] {
        owned(&maildir.join(sub), 0o700);
    }
    // Something the server writes while running, as `mail`, is private too.
    let uidlist = maildir.join("dovecot-uidlist");
    if uidlist.exists() {
        owned(&uidlist, 0o600);
    }
}

#[test]
fn run_as_picks_another_account_and_root_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let Some((uid, gid)) = uid_of("nobody") else {
        eprintln!("skipped: no `nobody` user on this host");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut yaml = config_yaml(&data);
    yaml.push_str("run_as:\n  user: nobody\n");
    let server = Server::start_with_users(tmp.path(), yaml, "alice:{PLAIN}secret\n", 4);
    let (uids, gids, _) = ids(server.pid());
    assert_eq!(uids, [uid; 4]);
    assert_eq!(gids, [gid; 4]);
    imap_login(&server);
    drop(server);

    // A config that would serve as root is refused before anything is bound.
    for (run_as, want) in [
        (
            "run_as:\n  user: root\n",
            "`run_as.user`: `root`: sessions never run as root",
        ),
        (
            "run_as:\n  user: \"0\"\n",
            "`run_as.user`: `0`: sessions never run as root",
        ),
        ("run_as:\n  user: no-such-user-roost\n", "does not exist"),
    ] {
        let mut yaml = config_yaml(&data);
        yaml.push_str(run_as);
        let config = tmp.path().join("bad.yaml");
        std::fs::write(&config, yaml).unwrap();
        let out = roost().args(["serve", "-c"]).arg(&config).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(want), "{run_as}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing was announced");
    }
}

#[test]
fn deliver_started_as_root_writes_files_the_server_account_owns() {
    if !is_root() {
        eprintln!("skipped: needs root to test the privilege drop of roost deliver");
        return;
    }
    let (uid, gid) = uid_of("mail").expect("the mail account exists on Debian");
    let tmp = tempfile::tempdir().unwrap();
    let (data, config) = config_with_user(tmp.path(), "una");
    let deliver = roost()
        .args(["deliver", "--user", "una", "-c"])
        .arg(&config)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"Subject: x\n\nbody\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(deliver.status.success());
    let maildir = data.join("mail/una/Maildir");
    let mut seen = 0;
    for entry in walk(&maildir) {
        let md = std::fs::metadata(&entry).unwrap();
        assert_eq!((md.uid(), md.gid()), (uid, gid), "{}", entry.display());
        let private = if md.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(md.mode() & 0o777, private, "{}", entry.display());
        seen += 1;
    }
    assert!(seen >= 5, "Maildir, its three directories and the message");
}

#[test]
fn a_root_only_parent_directory_does_not_stop_serve_or_deliver() {
    // `roost serve` on embedded defaults from root's 0700 home: data_dir is ./roost-data below
    // a directory the run_as account cannot enter. Serving and delivering must still work.
    if !is_root() {
        eprintln!("skipped: needs root to test the privilege drop");
        return;
    }
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("root-home");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let config = home.join("roost.yaml");
    std::fs::write(
        &config,
        "listen: {imap: [\"127.0.0.1:0\"], imaps: [], pop3: [], pop3s: [], lmtp: []}\n\
         auth: {cleartext: always, failure_delay_ms: 10}\n\
         storage: {fsync: false}\n",
    )
    .unwrap();
    let run = |args: &[&str], input: &[u8]| {
        let mut c = roost()
            .args(args)
            .arg("-c")
            .arg(&config)
            .current_dir(&home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(input).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["user", "add", "una", "--password-stdin"], b"pw\n");
    run(&["deliver", "--user", "una"], b"Subject: x\n\nbody\n");

    let mut server = roost()
        .args(["serve", "-c"])
        .arg(&config)
        .current_dir(&home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening imap ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut r = BufReader::new(stream);
    let mut w = r.get_ref().try_clone().unwrap();
    w.write_all(b"a LOGIN una pw\r\nb STATUS INBOX (MESSAGES)\r\nc LOGOUT\r\n")
        .unwrap();
    let mut got = String::new();
    let _ = r.read_to_string(&mut got);
    let _ = server.kill();
    let _ = server.wait();
    assert!(got.contains("a OK"), "{got}");
    assert!(got.contains("* STATUS INBOX (MESSAGES 1)"), "{got}");
}
