//! Two real processes (this test binary, re-run as workers) race for the uidlist lock.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use roost_storage::maildir::MaildirError;
use roost_storage::maildir::uidlist::{UidRecord, Uidlist, UidlistLock, read_uidlist};

const WORKER_ENV: &str = "ROOST_LOCK_WORKER_DIR";
const ROUNDS: u32 = 30;

fn log_line(dir: &Path, line: &str) -> Result<(), MaildirError> {
    let path = dir.join("log");
    // O_APPEND writes of one short line are atomic between processes.
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
        .map_err(|e| MaildirError::io(path, e))
}

/// Not a test on its own: the body each worker process runs (no-op without the env var).
#[test]
fn lock_worker_process() -> Result<(), MaildirError> {
    let Ok(dir) = std::env::var(WORKER_ENV) else {
        return Ok(());
    };
    let dir = Path::new(&dir);
    let me = std::process::id();
    for i in 0..ROUNDS {
        let lock = UidlistLock::acquire(dir, Duration::from_secs(30), Duration::from_secs(60))?;
        log_line(dir, &format!("begin {me}"))?;
        let mut list = read_uidlist(dir)?.map_or(
            Uidlist {
                uid_validity: 1,
                next_uid: 1,
                ..Uidlist::default()
            },
            |(l, _)| l,
        );
        list.records.push(UidRecord {
            uid: list.next_uid,
            fields: vec![('P', format!("{me}-{i}"))],
            filename: format!("{me}.{i}.host,S=1,W=1"),
        });
        list.next_uid += 1;
        std::thread::sleep(Duration::from_micros(300));
        log_line(dir, &format!("end {me}"))?;
        lock.commit(&list, false)?;
    }
    Ok(())
}

#[test]
fn two_processes_never_hold_the_lock_together() -> Result<(), MaildirError> {
    let tmp = tempfile::tempdir().map_err(|e| MaildirError::io("tempdir", e))?;
    let exe = std::env::current_exe().map_err(|e| MaildirError::io("current_exe", e))?;
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "lock_worker_process", "--test-threads=1"])
                .env(WORKER_ENV, tmp.path())
                .spawn()
                .map_err(|e| MaildirError::io(&exe, e))
        })
        .collect::<Result<_, _>>()?;
    for mut c in children {
        let status = c.wait().map_err(|e| MaildirError::io(&exe, e))?;
        assert!(status.success(), "worker failed: {status}");
    }
    let log =
        std::fs::read_to_string(tmp.path().join("log")).map_err(|e| MaildirError::io("log", e))?;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2 * 2 * ROUNDS as usize);
    let mut pids = std::collections::BTreeSet::new();
    for pair in lines.chunks(2) {
        let (b, e) = (pair[0], pair[1]);
        let pid = b.strip_prefix("begin ").expect("begin line");
        assert_eq!(
            e,
            format!("end {pid}"),
            "overlapping critical sections:\n{log}"
        );
        pids.insert(pid);
    }
    assert_eq!(pids.len(), 2, "both workers ran");
    // No lost update: every append of both processes is in the final list, in UID order.
    let (list, _) = read_uidlist(tmp.path())?.expect("uidlist");
    assert_eq!(list.records.len(), 2 * ROUNDS as usize);
    assert!(list.records.windows(2).all(|w| w[0].uid < w[1].uid));
    assert!(!tmp.path().join("dovecot-uidlist.lock").exists());
    Ok(())
}
