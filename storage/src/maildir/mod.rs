//! On-disk Maildir formats, compatible with Dovecot 2.3 and Courier (Maildir++ layout).
//!
//! Everything here is a pure format primitive: parse and render names, file names and the
//! Dovecot control files, plus the dotlock that Dovecot itself uses for `dovecot-uidlist`.
//! The mailbox engine builds on these; nothing here caches or watches.

pub mod courier;
pub mod filename;
pub mod keywords;
pub mod mutf7;
pub mod names;
pub mod subscriptions;
pub mod uidlist;

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Name of the marker file Courier and Dovecot put into every Maildir++ folder (not the root).
pub const MAILDIRFOLDER_FILE: &str = "maildirfolder";

/// Errors from the Maildir format layer.
#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    /// A system call on `path` failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory the operation was about.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A control file does not follow its format; `line` is 1-based (0 = whole file).
    #[error("corrupt file {path} line {line}: {reason}")]
    Corrupt {
        /// The file (empty when parsing text that did not come from a file).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// Another process or thread held the lock for longer than we were willing to wait.
    #[error("timed out waiting for lock {path}")]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
    },
    /// Our lock file was removed or replaced by someone else (they judged it stale).
    #[error("lock {path} was taken over by another process")]
    LockLost {
        /// The lock file.
        path: PathBuf,
    },
    /// A mailbox or folder name was refused.
    #[error("invalid mailbox name {name:?}: {reason}")]
    InvalidName {
        /// The offending name, as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A string is not valid modified UTF-7 (RFC 3501 section 5.1.3).
    #[error("invalid modified UTF-7 {input:?}: {reason}")]
    InvalidMutf7 {
        /// The offending input.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

impl MaildirError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MaildirError::Io {
            path: path.into(),
            source,
        }
    }

    /// Fills in the path of a `Corrupt` error produced by a text parser.
    pub(crate) fn with_path(self, file: &Path) -> Self {
        match self {
            MaildirError::Corrupt { line, reason, .. } => MaildirError::Corrupt {
                path: file.to_path_buf(),
                line,
                reason,
            },
            other => other,
        }
    }
}

/// Creates `dir` and its `cur`, `new` and `tmp` (mode 0700) if missing.
///
/// A folder (a directory whose name starts with `.`, i.e. Maildir++ `.Name`) also gets the
/// empty `maildirfolder` file so deliverers like maildrop know it is not a root. The root
/// does not get one: Courier treats a root with `maildirfolder` as a folder. (Dovecot 2.3
/// writes one into the root too when it creates INBOX; both layouts read fine.)
pub fn create_maildir_dirs(dir: &Path) -> Result<(), MaildirError> {
    let mut builder = DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder.create(dir).map_err(|e| MaildirError::io(dir, e))?;
    for sub in ["cur", "new", "tmp"] {
        let path = dir.join(sub);
        builder
            .create(&path)
            .map_err(|e| MaildirError::io(&path, e))?;
    }
    let is_folder = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..");
    if is_folder {
        let marker = dir.join(MAILDIRFOLDER_FILE);
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&marker)
            .map_err(|e| MaildirError::io(&marker, e))?;
    }
    Ok(())
}

/// Flushes a directory's entries (after rename/create/unlink) to stable storage.
pub fn fsync_dir(dir: &Path) -> Result<(), MaildirError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| MaildirError::io(dir, e))
}

/// Writes `contents` to `dir/<name>` atomically: a unique temp file in `dir`, then rename.
pub(crate) fn write_atomic(
    dir: &Path,
    name: &str,
    contents: &[u8],
    fsync: bool,
) -> Result<(), MaildirError> {
    use std::io::Write;
    let target = dir.join(name);
    let mut tmp = tempfile_in(dir, name)?;
    tmp.0
        .write_all(contents)
        .map_err(|e| MaildirError::io(&tmp.1, e))?;
    if fsync {
        tmp.0.sync_all().map_err(|e| MaildirError::io(&tmp.1, e))?;
    }
    std::fs::rename(&tmp.1, &target).map_err(|e| MaildirError::io(&target, e))?;
    tmp.2 = false;
    if fsync {
        fsync_dir(dir)?;
    }
    Ok(())
}

/// A temp file that is unlinked on drop unless disarmed (field 2 = still needs cleanup).
struct TempFile(File, PathBuf, bool);

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.2 {
            let _ = std::fs::remove_file(&self.1);
        }
    }
}

fn tempfile_in(dir: &Path, name: &str) -> Result<TempFile, MaildirError> {
    // Dovecot's temp names start with ".temp." too, so its cleanup recognizes ours.
    for _ in 0..16 {
        let path = dir.join(format!(
            ".temp.{}.{}.{}",
            name,
            std::process::id(),
            rand::random::<u32>()
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok(TempFile(f, path, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(MaildirError::io(&path, e)),
        }
    }
    Err(MaildirError::io(
        dir,
        std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free temp name"),
    ))
}

/// This machine's host name, as Dovecot's `my_hostname` (used in lock files and file names).
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for writes of buf.len() bytes; gethostname NUL-terminates on success
    // when the name fits, and we cap at the first NUL or the buffer end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_dirs_root_and_folder() -> Result<(), MaildirError> {
        let tmp = tempfile::tempdir().map_err(|e| MaildirError::io("tempdir", e))?;
        let root = tmp.path().join("Maildir");
        create_maildir_dirs(&root)?;
        let folder = root.join(".Sent");
        create_maildir_dirs(&folder)?;
        for d in [&root, &folder] {
            for sub in ["cur", "new", "tmp"] {
                let meta = std::fs::metadata(d.join(sub)).map_err(|e| MaildirError::io(d, e))?;
                assert!(meta.is_dir());
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(meta.permissions().mode() & 0o777, 0o700);
            }
        }
        assert!(!root.join(MAILDIRFOLDER_FILE).exists());
        assert!(folder.join(MAILDIRFOLDER_FILE).is_file());
        // Idempotent: a second call on existing dirs succeeds.
        create_maildir_dirs(&folder)?;
        fsync_dir(&root)?;
        Ok(())
    }

    #[test]
    fn fsync_dir_missing_is_error() {
        let err = fsync_dir(Path::new("/nonexistent/roost/dir"));
        assert!(matches!(err, Err(MaildirError::Io { .. })));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() -> Result<(), MaildirError> {
        let tmp = tempfile::tempdir().map_err(|e| MaildirError::io("tempdir", e))?;
        write_atomic(tmp.path(), "f", b"one", true)?;
        write_atomic(tmp.path(), "f", b"two", false)?;
        let text = std::fs::read(tmp.path().join("f")).map_err(|e| MaildirError::io("f", e))?;
        assert_eq!(text, b"two");
        let count = std::fs::read_dir(tmp.path())
            .map_err(|e| MaildirError::io("dir", e))?
            .count();
        assert_eq!(count, 1);
        Ok(())
    }
}
