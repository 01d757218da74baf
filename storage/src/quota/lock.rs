//! The per-user quota lock: an advisory `flock` on a file in the user's mail root, held
//! across "count usage, check, commit" so that every Roost process on the same data
//! directory (`roost serve`, a second `roost serve`, `roost deliver` run by an MTA) agrees
//! on who gets the last free bytes. The in-process mutex of [`super`] still comes first,
//! so threads of one process queue on it instead of polling the file.
//!
//! `flock` rather than a dotlock: the kernel drops it when the holder dies, so a crashed
//! delivery never leaves a lock to be judged stale. On Linux NFS clients it is mapped to a
//! POSIX byte-range lock, which lockd carries across hosts.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Result, StorageError};

/// The lock file in the user's Maildir root. Dovecot names its own files `dovecot*` and
/// ignores names without a leading dot in a Maildir++ root, so this never clashes.
pub const QUOTA_LOCK_FILE: &str = "roost-quota.lock";

/// Polls start short (a commit takes about a millisecond) and back off to this.
const MAX_POLL: Duration = Duration::from_millis(32);

/// Held while a quota-checked commit runs; closing the file releases the lock.
#[derive(Debug)]
pub(crate) struct QuotaFileLock {
    _file: File,
}

impl QuotaFileLock {
    /// Take the lock in `root`, waiting at most `timeout` for another process to let go
    /// ([`StorageError::LockTimeout`] then).
    pub(crate) fn acquire(root: &Path, timeout: Duration) -> Result<QuotaFileLock> {
        let path = root.join(QUOTA_LOCK_FILE);
        // 0600: only the mail owner takes it. No symlink is followed: the user may
        // control what lies in their own mail root (an FTP or shell account).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| StorageError::io(format!("opening {}", path.display()), e))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(QuotaFileLock { _file: file }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(StorageError::io(format!("locking {}", path.display()), e));
                }
            }
            let waited = start.elapsed();
            if waited >= timeout {
                tracing::warn!(path = %path.display(), ?waited, "gave up waiting for the quota lock");
                // The client sees the file name only, not where the server keeps mail.
                return Err(StorageError::LockTimeout(QUOTA_LOCK_FILE.to_string()));
            }
            std::thread::sleep(pause.min(timeout - waited));
            pause = (pause * 2).min(MAX_POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_times_out_and_gets_it_once_free() {
        let dir = tempfile::tempdir().unwrap();
        let held = QuotaFileLock::acquire(dir.path(), Duration::from_secs(1)).unwrap();
        // flock conflicts between two open files even inside one process, which is what
        // lets this test stand in for a second process.
        let t = Instant::now();
        let e = QuotaFileLock::acquire(dir.path(), Duration::from_millis(200)).unwrap_err();
        assert!(
            matches!(e, StorageError::LockTimeout(ref f) if f == QUOTA_LOCK_FILE),
            "{e}"
        );
        assert!(t.elapsed() >= Duration::from_millis(200));
        drop(held);
        QuotaFileLock::acquire(dir.path(), Duration::from_millis(200)).unwrap();
        let mode = std::fs::metadata(dir.path().join(QUOTA_LOCK_FILE))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_symlink_in_place_of_the_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.path().join(QUOTA_LOCK_FILE)).unwrap();
        assert!(QuotaFileLock::acquire(dir.path(), Duration::from_millis(10)).is_err());
        assert!(!target.exists());
    }
}
