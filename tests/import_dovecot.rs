//! `roost import` against a real Dovecot as the old server: POP3 UIDLs and IMAP UIDs,
//! UIDVALIDITY, flags, keywords and INTERNALDATE match what Dovecot says for the same
//! message bytes; second runs copy nothing; an interrupted run resumes.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{config_yaml, roost};
use roost_storage::{Flags, MailboxName};
use roost_testkit::DovecotServer;
use roost_testkit::maildir::files;

const OLD_USER: &str = "olduser";
const OLD_PASSWORD: &str = "old pass\"word";

/// INBOX messages: (file name, body, Maildir flag letters, mtime). `m0` is expunged after
/// Dovecot numbered it, so the kept UIDs start at 2 and prove they were not renumbered.
const INBOX: &[(&str, &[u8], &str, i64)] = &[
    ("m0", b"Subject: zero\n\ngone\n", "", 1_500_000_000),
    ("m1", b"Subject: one\n\nfirst\n", "Sa", 1_600_000_000),
    (
        "m2",
        b"Subject: two\n\nbare\rCR and 8-bit \xe9\xe8 text\n",
        "",
        1_600_000_100,
    ),
    (
        "m3",
        b"Subject: three\n\n.dot line\nFrom here\n",
        "FSb",
        1_600_000_200,
    ),
];

fn populate(dv: &DovecotServer) {
    dv.put_keywords(OLD_USER, "", &["$Forwarded", "Work"]);
    for (name, body, flags, mtime) in INBOX {
        dv.put_message(OLD_USER, "", name, body, flags, *mtime);
    }
    dv.put_message(
        OLD_USER,
        ".Sent Messages",
        "s1",
        b"Subject: sent\n\nsent mail\n",
        "S",
        1_600_001_000,
    );
    dv.put_message(
        OLD_USER,
        ".Work.Projects",
        "w1",
        b"Subject: project\n\nplan\n",
        "R",
        1_600_002_000,
    );
    let empty = dv.maildir(OLD_USER).join(".Empty");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(empty.join(sub)).unwrap();
    }
}

/// Start Dovecot with the standard content, `m0` expunged and a few subscriptions.
fn old_server(extra: impl FnOnce(&DovecotServer)) -> Option<DovecotServer> {
    let dv = DovecotServer::start(&[(OLD_USER, OLD_PASSWORD)], |dv| {
        populate(dv);
        extra(dv);
    })?;
    dv.doveadm(&[
        "expunge", "-u", OLD_USER, "mailbox", "INBOX", "header", "Subject", "zero",
    ]);
    dv.doveadm(&[
        "mailbox",
        "subscribe",
        "-u",
        OLD_USER,
        "INBOX",
        "Sent Messages",
        "Work/Projects",
    ]);
    Some(dv)
}

/// A Roost data dir with users `alice` and `bob`.
struct Roost {
    tmp: tempfile::TempDir,
    config: PathBuf,
    password_file: PathBuf,
}

impl Roost {
    fn new() -> Roost {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("users"), "alice:{PLAIN}a\nbob:{PLAIN}b\n").unwrap();
        let config = tmp.path().join("roost.yaml");
        std::fs::write(&config, config_yaml(&data)).unwrap();
        let password_file = tmp.path().join("old-password");
        std::fs::write(&password_file, format!("{OLD_PASSWORD}\n")).unwrap();
        Roost {
            tmp,
            config,
            password_file,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = roost();
        cmd.arg("import")
            .args(args)
            .arg("-c")
            .arg(&self.config)
            .env_remove("ROOST_IMPORT_PASSWORD")
            .stdin(Stdio::null());
        cmd
    }

    /// Run `roost import ARGS`; (exit code, stdout, stderr).
    fn import(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn store(&self) -> roost_storage::UserStore {
        let config = roost_config::Config::load_default_or(Some(&self.config)).unwrap();
        roost::wiring::store(&config).user("alice").unwrap()
    }

    fn store_of(&self, user: &str) -> roost_storage::UserStore {
        let config = roost_config::Config::load_default_or(Some(&self.config)).unwrap();
        roost::wiring::store(&config).user(user).unwrap()
    }
}

/// (UID, flags, keywords, INTERNALDATE, legacy UIDL) by message bytes, for one mailbox.
type Seen = BTreeMap<Vec<u8>, (u32, Flags, Vec<String>, i64, Option<String>)>;

fn roost_messages(user: &roost_storage::UserStore, mailbox: &str) -> (u32, u32, Seen) {
    let mb = user.open(&MailboxName::new(mailbox).unwrap()).unwrap();
    let snap = mb.snapshot().unwrap();
    let names = mb.keyword_names();
    let mut out = Seen::new();
    for m in &snap.messages {
        let (mut f, _) = mb.open_message(m.uid).unwrap().unwrap();
        let mut body = Vec::new();
        f.read_to_end(&mut body).unwrap();
        let mut kws: Vec<String> = m
            .keywords
            .iter()
            .filter_map(|i| names.get(i).cloned().flatten())
            .collect();
        kws.sort();
        let dup = out.insert(
            body,
            (m.uid, m.flags, kws, m.internal_date, m.pop3_uidl.clone()),
        );
        assert!(dup.is_none(), "{mailbox}: a message was imported twice");
    }
    (snap.uid_validity, snap.next_uid, out)
}

/// Dovecot's (UIDVALIDITY, UIDNEXT) and UID + flags by message body, via doveadm.
fn dovecot_messages(
    dv: &DovecotServer,
    mailbox: &str,
) -> (u32, u32, BTreeMap<Vec<u8>, (u32, String)>) {
    let row = dv.status(OLD_USER, mailbox);
    let fetched = dv.doveadm(&[
        "-f",
        "tab",
        "fetch",
        "-u",
        OLD_USER,
        "uid flags guid",
        "mailbox",
        mailbox,
        "all",
    ]);
    let mut out = BTreeMap::new();
    for line in fetched.lines().skip(1).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let folder = match mailbox {
            "INBOX" => String::new(),
            other => format!(".{}", other.replace('/', ".")),
        };
        let dir = dv.maildir(OLD_USER).join(folder).join("cur");
        let file = files(&dir)
            .into_iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{}:", cols[2]))
            })
            .unwrap_or_else(|| panic!("no file for {line:?} in {}", dir.display()));
        let body = std::fs::read(file).unwrap();
        out.insert(body, (cols[0].parse().unwrap(), cols[1].to_string()));
    }
    (row.0, row.1, out)
}

/// UIDL by message bytes (CRLF turned back into LF), from a real POP3 server (plain TCP).
fn pop3_uidls(addr: std::net::SocketAddr, user: &str, password: &str) -> BTreeMap<Vec<u8>, String> {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = tcp.try_clone().unwrap();
    let mut r = BufReader::new(tcp);
    let read_line = |r: &mut BufReader<TcpStream>| -> Vec<u8> {
        let mut l = Vec::new();
        r.read_until(b'\n', &mut l).unwrap();
        l
    };
    let ok = |l: Vec<u8>| assert!(l.starts_with(b"+OK"), "{}", String::from_utf8_lossy(&l));
    ok(read_line(&mut r));
    w.write_all(format!("USER {user}\r\nPASS {password}\r\n").as_bytes())
        .unwrap();
    ok(read_line(&mut r));
    ok(read_line(&mut r));
    w.write_all(b"UIDL\r\n").unwrap();
    ok(read_line(&mut r));
    let mut ids = Vec::new();
    loop {
        let l = read_line(&mut r);
        if l == b".\r\n" {
            break;
        }
        let text = String::from_utf8(l).unwrap();
        let (n, id) = text.trim_end().split_once(' ').unwrap();
        ids.push((n.to_string(), id.to_string()));
    }
    let mut out = BTreeMap::new();
    for (n, id) in ids {
        w.write_all(format!("RETR {n}\r\n").as_bytes()).unwrap();
        ok(read_line(&mut r));
        let mut body = Vec::new();
        loop {
            let l = read_line(&mut r);
            if l == b".\r\n" {
                break;
            }
            let l = l.strip_prefix(b".").unwrap_or(&l).to_vec();
            body.extend_from_slice(&l);
        }
        out.insert(roost::import::crlf_to_lf(&body), id);
    }
    w.write_all(b"QUIT\r\n").unwrap();
    out
}

fn flag_letters(flags: Flags) -> String {
    let mut s = String::new();
    for (f, name) in [
        (Flags::ANSWERED, "\\Answered"),
        (Flags::FLAGGED, "\\Flagged"),
        (Flags::DELETED, "\\Deleted"),
        (Flags::SEEN, "\\Seen"),
        (Flags::DRAFT, "\\Draft"),
    ] {
        if flags.contains(f) {
            s.push_str(name);
            s.push(' ');
        }
    }
    s
}

fn url(scheme: &str, addr: std::net::SocketAddr) -> String {
    format!("{scheme}://{addr}")
}

#[test]
fn pop3_import_keeps_dovecots_uidls_over_stls_and_pop3s() {
    let Some(dv) = old_server(|_| {}) else { return };
    let r = Roost::new();
    let pw = r.password_file.to_str().unwrap();
    let ca = dv.cert_pem.to_str().unwrap();
    let pop3 = url("pop3", dv.pop3);
    let args = [
        "pop3",
        &pop3,
        "--user",
        "alice",
        "--remote-user",
        OLD_USER,
        "--password-file",
        pw,
        "--ca-file",
        ca,
    ];
    let (code, out, err) = r.import(&args);
    assert_eq!(code, 0, "{out}\n{err}\n{}", dv.log());
    assert!(out.contains("3 copied"), "{out}");
    assert!(!err.contains(OLD_PASSWORD) && !out.contains(OLD_PASSWORD));

    let want = pop3_uidls(dv.pop3, OLD_USER, OLD_PASSWORD);
    assert_eq!(want.len(), 3);
    let (_, _, got) = roost_messages(&r.store(), "INBOX");
    let got: BTreeMap<Vec<u8>, String> = got
        .into_iter()
        .map(|(body, m)| (body, m.4.expect("legacy UIDL set")))
        .collect();
    assert_eq!(got, want);
    // The bare CR and 8-bit bytes arrived unchanged.
    assert!(got.contains_key(INBOX[2].1));

    // The real Roost POP3 server hands out the very same UIDLs for the same messages.
    {
        let data = r.tmp.path().join("data");
        let server = common::Server::start_with_users(
            r.tmp.path(),
            config_yaml(&data),
            "alice:{PLAIN}a\nbob:{PLAIN}b\n",
            4,
        );
        assert_eq!(pop3_uidls(server.addr("pop3"), "alice", "a"), want);
    }

    // Second run: nothing new.
    let (code, out, err) = r.import(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 copied") && out.contains("3 already there"),
        "{out}"
    );

    // pop3s with --insecure, into another user, the password from the environment.
    let pop3s = url("pop3s", dv.pop3s);
    let out = r
        .command(&[
            "pop3",
            &pop3s,
            "--user",
            "bob",
            "--remote-user",
            OLD_USER,
            "--insecure",
        ])
        .env("ROOST_IMPORT_PASSWORD", OLD_PASSWORD)
        .output()
        .unwrap();
    let (code, out, err) = (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let (_, _, bob) = roost_messages(&r.store_of("bob"), "INBOX");
    assert_eq!(bob.values().filter_map(|m| m.4.clone()).count(), 3);

    // Without --ca-file the self-signed certificate is refused (system roots only): 75.
    let (code, _, err) = r.import(&[
        "pop3",
        &pop3s,
        "--user",
        "bob",
        "--remote-user",
        OLD_USER,
        "--password-file",
        pw,
    ]);
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("--ca-file"), "{err}");

    // A wrong password is 77 and the password is not echoed.
    let bad = r.tmp.path().join("bad");
    std::fs::write(&bad, "wrong-secret\n").unwrap();
    let (code, out, err) = r.import(&[
        "pop3",
        &pop3,
        "--user",
        "alice",
        "--remote-user",
        OLD_USER,
        "--password-file",
        bad.to_str().unwrap(),
        "--ca-file",
        ca,
    ]);
    assert_eq!(code, 77, "{out}\n{err}");
    assert!(!err.contains("wrong-secret"), "{err}");

    // Nobody listening: 75.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, err) = r.import(&[
        "pop3",
        &url("pop3", closed),
        "--user",
        "alice",
        "--password-file",
        pw,
    ]);
    assert_eq!(code, 75, "{err}");
}

fn check_imap_mailbox(dv: &DovecotServer, r: &Roost, old: &str, local: &str, keywords: &[&str]) {
    let (validity, uidnext, want) = dovecot_messages(dv, old);
    let (lvalidity, lnext, got) = roost_messages(&r.store(), local);
    assert_eq!((lvalidity, lnext), (validity, uidnext), "{old} -> {local}");
    assert_eq!(got.len(), want.len(), "{old}");
    for (body, (uid, flags)) in &want {
        let (luid, lflags, lkw, ldate, _) = got.get(body).unwrap_or_else(|| {
            panic!("{old}: message {:?} missing", String::from_utf8_lossy(body))
        });
        assert_eq!(luid, uid, "{old}");
        // Dovecot lists system flags then keywords, space separated.
        let mut want_flags: Vec<&str> = flags
            .split(' ')
            .filter(|f| f.starts_with('\\') && *f != "\\Recent")
            .collect();
        want_flags.sort();
        let lf = flag_letters(*lflags);
        let mut got_flags: Vec<&str> = lf.split(' ').filter(|f| !f.is_empty()).collect();
        got_flags.sort();
        assert_eq!(got_flags, want_flags, "{old} UID {uid}");
        let mut want_kw: Vec<String> = flags
            .split(' ')
            .filter(|f| !f.is_empty() && !f.starts_with('\\'))
            .map(str::to_string)
            .collect();
        want_kw.sort();
        assert_eq!(*lkw, want_kw, "{old} UID {uid}");
        assert!(want_kw.iter().all(|k| keywords.contains(&k.as_str())));
        let (_, _, _, mtime) = INBOX
            .iter()
            .find(|m| m.1 == body.as_slice())
            .copied()
            .unwrap_or(("", b"", "", *ldate));
        assert_eq!(*ldate, mtime, "{old} UID {uid}: INTERNALDATE");
    }
}

#[test]
fn imap_import_keeps_uids_flags_dates_hierarchy_and_subscriptions() {
    let Some(dv) = old_server(|_| {}) else { return };
    let r = Roost::new();
    let pw = r.password_file.to_str().unwrap();
    let ca = dv.cert_pem.to_str().unwrap();
    let imap = url("imap", dv.imap);
    let args = [
        "imap",
        &imap,
        "--user",
        "alice",
        "--remote-user",
        OLD_USER,
        "--password-file",
        pw,
        "--ca-file",
        ca,
    ];
    let (code, out, err) = r.import(&args);
    assert_eq!(code, 0, "{out}\n{err}\n{}", dv.log());
    assert!(out.contains("5 copied"), "{out}\n{err}");
    // The \Sent mailbox went where Roost's clients look for it.
    assert!(
        err.contains("Sent Messages (\\Sent) is imported into Sent"),
        "{err}"
    );

    check_imap_mailbox(&dv, &r, "INBOX", "INBOX", &["$Forwarded", "Work"]);
    check_imap_mailbox(&dv, &r, "Sent Messages", "Sent", &[]);
    check_imap_mailbox(&dv, &r, "Work/Projects", "Work.Projects", &[]);
    check_imap_mailbox(&dv, &r, "Empty", "Empty", &[]);
    let (_, _, inbox) = roost_messages(&r.store(), "INBOX");
    let m1 = &inbox[INBOX[1].1];
    assert_eq!(m1.3, 1_600_000_000);
    assert_eq!(m1.0, 2, "UIDs kept (m0 was UID 1 and is gone)");

    // Roost subscribes its own special-use mailboxes; the old server's subscriptions
    // come on top, mapped to Roost names, and unsubscribed ones stay unsubscribed.
    let subs = r.store().subscriptions().unwrap();
    for s in ["INBOX", "Sent", "Work.Projects"] {
        assert!(subs.iter().any(|x| x == s), "{s} in {subs:?}");
    }
    assert!(!subs.iter().any(|x| x == "Empty"), "{subs:?}");

    let (code, out, err) = r.import(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 copied") && out.contains("5 already there"),
        "{out}"
    );

    // imaps with --insecure into bob, whose INBOX already has a message: appended with new
    // UIDs, and said so.
    // Through `roost deliver`, as an MTA would: run as root, it writes as the server's
    // account, and so must the import that follows.
    let mut deliver = roost()
        .args(["deliver", "--user", "bob", "-c"])
        .arg(&r.config)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    deliver
        .stdin
        .take()
        .unwrap()
        .write_all(b"Subject: local\n\nmine\n")
        .unwrap();
    assert!(deliver.wait().unwrap().success());
    let (code, out, err) = r.import(&[
        "imap",
        &url("imaps", dv.imaps),
        "--user",
        "bob",
        "--remote-user",
        OLD_USER,
        "--password-file",
        pw,
        "--insecure",
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(err.contains("appended with new UIDs"), "{err}");
    let (_, _, got) = roost_messages(&r.store_of("bob"), "INBOX");
    let uids: Vec<u32> = got.values().map(|m| m.0).collect();
    assert_eq!(got.len(), 4);
    assert!(
        uids.contains(&1) && uids.iter().all(|&u| u <= 4),
        "{uids:?}"
    );
}

#[test]
fn interrupted_imap_import_resumes_without_duplicates() {
    const BULK: usize = 600;
    let Some(dv) = old_server(|dv| {
        for i in 0..BULK {
            let body = format!("Subject: bulk {i}\n\n{}\n", "x".repeat(2000));
            dv.put_message(
                OLD_USER,
                ".Bulk",
                &format!("b{i:04}"),
                body.as_bytes(),
                "",
                1_600_000_000 + i as i64,
            );
        }
    }) else {
        return;
    };
    let r = Roost::new();
    let pw = r.password_file.to_str().unwrap();
    let imaps = url("imaps", dv.imaps);
    let ca = dv.cert_pem.to_str().unwrap();
    let args = [
        "imap",
        &imaps,
        "--user",
        "alice",
        "--remote-user",
        OLD_USER,
        "--password-file",
        pw,
        "--ca-file",
        ca,
    ];
    let mut child = r
        .command(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        // Kill in the middle of the bulk mailbox (plain log lines every 100 messages).
        if line.contains("Bulk") && line.contains("copied 200 message(s)") {
            break;
        }
        assert!(Instant::now() < deadline, "no progress line: {seen:?}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, _, partial) = roost_messages(&r.store(), "Bulk");
    assert!(
        !partial.is_empty() && partial.len() < BULK,
        "killed mid-way: {} of {BULK} copied; {seen:?}",
        partial.len()
    );

    let (code, out, err) = r.import(&args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("already there"), "{out}");
    check_imap_mailbox(&dv, &r, "Bulk", "Bulk", &[]);
    check_imap_mailbox(&dv, &r, "INBOX", "INBOX", &["$Forwarded", "Work"]);
}

#[test]
fn mbox_import_is_idempotent() {
    let r = Roost::new();
    let mbox = r.tmp.path().join("old.mbox");
    std::fs::write(
        &mbox,
        b"From a@example.org Fri Jul  8 12:08:34 2011\nStatus: RO\nSubject: one\n\n>From quoted\n\n\
From b@example.org Sat Jan  3 01:05:34 1996\nSubject: two\n\nbody\n\n",
    )
    .unwrap();
    let file = mbox.to_str().unwrap();
    let (code, out, err) = r.import(&["mbox", file, "--user", "alice", "--mailbox", "Old/Mail"]);
    // `/` is not Roost's separator and is refused in a name: a clear usage error.
    assert_eq!(code, 64, "{out}\n{err}");
    let (code, out, err) = r.import(&["mbox", file, "--user", "alice", "--mailbox", "Old.Mail"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("2 copied"), "{out}");
    let (_, _, got) = roost_messages(&r.store(), "Old.Mail");
    let one = &got[&b"Status: RO\nSubject: one\n\nFrom quoted\n"[..]];
    assert_eq!((one.1, one.3), (Flags::SEEN, 1_310_126_914));
    assert!(got.contains_key(&b"Subject: two\n\nbody\n"[..]));

    // Appending to the file and running again copies only the new message.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&mbox)
        .unwrap();
    f.write_all(b"From c@example.org Sat Jan  3 01:05:34 1996\nSubject: three\n\nnew\n")
        .unwrap();
    let (code, out, _) = r.import(&["mbox", file, "--user", "alice", "--mailbox", "Old.Mail"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("1 copied") && out.contains("2 already there"),
        "{out}"
    );

    let (code, _, err) = r.import(&["mbox", file, "--user", "nobody-here"]);
    assert_eq!(code, 67, "{err}");
}

#[test]
fn progress_is_a_status_line_on_a_terminal_and_log_lines_otherwise() {
    let r = Roost::new();
    let mbox = r.tmp.path().join("many.mbox");
    let mut text = Vec::new();
    for i in 0..150 {
        text.extend_from_slice(
            format!("From x Sat Jan  3 01:05:34 1996\nSubject: {i}\n\nbody {i}\n\n").as_bytes(),
        );
    }
    std::fs::write(&mbox, text).unwrap();
    let file = mbox.to_str().unwrap();

    // Not a terminal: one plain line per 100 messages, no cursor movement.
    let (code, out, err) = r.import(&["mbox", file, "--user", "alice"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("150 copied"), "{out}");
    assert!(err.contains("copied 100 message(s)"), "{err}");
    assert!(!err.contains('\r'), "{err:?}");

    // A terminal (script(1) gives the command a pty): a redrawn status line.
    let cmd = format!(
        "{} import mbox {} --user bob -c {}",
        env!("CARGO_BIN_EXE_roost"),
        file,
        r.config.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("ROOST_IMPORT_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux is needed for this test");
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{tty}");
    assert!(tty.contains("\r\x1b[K"), "{tty:?}");
    assert!(tty.contains("150 copied"), "{tty:?}");
    assert!(!tty.contains("copied 100 message(s)"), "{tty:?}");
}
