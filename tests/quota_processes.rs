//! Quota held across processes: `roost serve` and concurrent `roost deliver` processes all
//! take the user's `roost-quota.lock`, so the last free message goes to exactly one of them,
//! and a lock someone keeps too long gets a temporary failure in every protocol.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::imap::{answer, cmd, login};
use common::{Server, config_yaml_lmtp, lmtp_send_py, read_line, roost, send};

/// Messages already stored before the race.
const BEFORE: usize = 2;
/// Each side of the race: IMAP APPENDs from the server process, and separate
/// `roost deliver` processes.
const APPENDS: usize = 3;
const DELIVERS: usize = 2;

const MESSAGE: &[u8] = b"Subject: race\r\n\r\nbody\r\n";

/// Limits from the users file: alice has room for two more after [`BEFORE`], bob has none.
const USERS: &str = "alice:{PLAIN}secret::::::quota_messages=4\n\
                     bob:{PLAIN}secret::::::quota_messages=0\n";

fn start(dir: &Path, storage: &str) -> Server {
    let yaml =
        config_yaml_lmtp(&dir.join("data")).replace("storage:\n", &format!("storage:\n{storage}"));
    Server::start_with_users(dir, yaml, USERS, 5)
}

fn files_in(maildir: &Path) -> usize {
    ["cur", "new"]
        .iter()
        .map(|d| std::fs::read_dir(maildir.join(d)).unwrap().count())
        .sum()
}

/// `roost deliver` for `user`, started but waiting for its message on stdin.
fn deliver(server: &Server, user: &str) -> Child {
    roost()
        .args(["deliver", "--user", user])
        .arg("-c")
        .arg(&server.config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// An APPEND of [`MESSAGE`] with a synchronizing literal, sent up to the server's `+`.
fn append_waiting(s: &mut TcpStream, tag: &str) {
    send(s, &format!("{tag} APPEND INBOX {{{}}}\r\n", MESSAGE.len()));
    let go = read_line(s).unwrap();
    assert!(go.starts_with("+ "), "{go}");
}

/// Fills `user`, who has `room` messages left after [`BEFORE`], with [`APPENDS`] IMAP
/// APPENDs and [`DELIVERS`] `roost deliver` processes let go at the same moment; checks
/// that exactly `room` got in and every other one got its over-quota answer.
fn race(server: &Server, user: &str, room: usize) {
    let limit = BEFORE + room;
    let maildir = server.dir.join(format!("data/mail/{user}/Maildir"));
    let mut first = login(server, user);
    for i in 0..BEFORE {
        append_waiting(&mut first, &format!("p{i}"));
        first.write_all(MESSAGE).unwrap();
        send(&mut first, "\r\n");
        let r = answer(&mut first, &format!("p{i}"));
        assert!(r[0].contains(" OK "), "{r:?}");
    }

    // Everyone gets to the point of handing over the message, then all go at once.
    let mut sessions: Vec<TcpStream> = (0..APPENDS)
        .map(|i| {
            let mut s = login(server, user);
            append_waiting(&mut s, &format!("a{i}"));
            s
        })
        .collect();
    let mut delivers: Vec<Child> = (0..DELIVERS).map(|_| deliver(server, user)).collect();
    // Long enough for each deliver process to load its config and open INBOX.
    std::thread::sleep(Duration::from_millis(800));
    let mut pipes: Vec<_> = delivers
        .iter_mut()
        .map(|c| c.stdin.take().unwrap())
        .collect();
    // A Dovecot busy with INBOX's uidlist (its dotlock carries no pid): every commit
    // stops there, after its quota check. Without the quota lock all of them had passed
    // the check by then and all got in; with it, the others wait for the one holding it.
    let dotlock = maildir.join("dovecot-uidlist.lock");
    std::fs::write(&dotlock, "").unwrap();
    for p in &mut pipes {
        p.write_all(MESSAGE).unwrap();
    }
    drop(pipes);
    for s in &mut sessions {
        s.write_all(MESSAGE).unwrap();
        s.write_all(b"\r\n").unwrap();
    }
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::remove_file(&dotlock).unwrap();

    let mut accepted = Vec::new();
    for (i, s) in sessions.iter_mut().enumerate() {
        let r = answer(s, &format!("a{i}"));
        let last = r.last().unwrap();
        if last.starts_with(&format!("a{i} OK [APPENDUID ")) {
            accepted.push(format!("APPEND a{i}"));
        } else {
            let want = format!(
                "a{i} NO [OVERQUOTA] quota exceeded: the message count limit of {limit} is reached"
            );
            assert_eq!(last, &want);
        }
    }
    for (i, child) in delivers.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        match out.status.code() {
            Some(0) => accepted.push(format!("deliver {i}")),
            Some(75) => assert!(
                String::from_utf8_lossy(&out.stderr).contains("quota exceeded"),
                "{out:?}"
            ),
            _ => panic!("{out:?}"),
        }
    }
    assert_eq!(files_in(&maildir), limit, "{user}: {accepted:?}");
    assert_eq!(accepted.len(), room, "{user}: {accepted:?}");
    let r = cmd(&mut first, "q", "GETQUOTA \"User quota\"");
    assert!(
        r[0].ends_with(&format!("(MESSAGE {limit} {limit})")),
        "{r:?}"
    );
}

#[test]
fn the_last_free_messages_go_to_exactly_as_many_commits_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "");
    race(&server, "alice", 2);
}

#[test]
fn a_quota_lock_held_elsewhere_is_a_temporary_failure_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), "  lock_timeout_secs: 1\n");
    let mut s = login(&server, "alice");
    let mut b = login(&server, "bob");
    let maildir = dir.path().join("data/mail/alice/Maildir");
    // The server creates the lock file (as its own user) on a limited user's first commit.
    let r = cmd(&mut s, "p", "APPEND INBOX {4+}\r\nabcd");
    assert!(r[0].starts_with("p OK [APPENDUID "), "{r:?}");
    // Another process in the middle of a long commit.
    let held = std::fs::File::open(maildir.join("roost-quota.lock")).unwrap();
    held.lock().unwrap();

    append_waiting(&mut s, "a");
    s.write_all(MESSAGE).unwrap();
    send(&mut s, "\r\n");
    assert_eq!(
        answer(&mut s, "a"),
        ["a NO [INUSE] mailbox is locked by another process (roost-quota.lock); try again later"]
    );
    let out = lmtp_send_py(server.addr("lmtp"), "x@example.org", &["alice"], MESSAGE);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DONE alice 451 4.2.0 <alice> Mailbox is busy, try again later"),
        "{text}"
    );
    let mut d = deliver(&server, "alice");
    d.stdin.take().unwrap().write_all(MESSAGE).unwrap();
    let out = d.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(75), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("roost-quota.lock"),
        "{out:?}"
    );
    assert_eq!(files_in(&maildir), 1);

    // bob has no limit: no quota lock to wait for, none created.
    append_waiting(&mut b, "b");
    b.write_all(MESSAGE).unwrap();
    send(&mut b, "\r\n");
    assert!(answer(&mut b, "b")[0].starts_with("b OK [APPENDUID "));
    assert!(
        !dir.path()
            .join("data/mail/bob/Maildir/roost-quota.lock")
            .exists()
    );

    drop(held);
    let r = cmd(&mut s, "c", "APPEND INBOX {4+}\r\nabcd");
    assert!(r[0].starts_with("c OK [APPENDUID "), "{r:?}");
}
