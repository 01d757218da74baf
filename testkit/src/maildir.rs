//! Reading what is on disk, mostly in a Maildir (`new/`, `cur/`, `tmp/`), behind the
//! storage engine's back, so a test sees what another program would.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// The Maildir subdirectories that hold delivered messages.
pub const MESSAGE_DIRS: [&str; 2] = ["new", "cur"];

/// Paths of the entries of `dir`, sorted; empty if `dir` does not exist.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.expect("dir entry").path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("read_dir {}: {e}", dir.display()),
    };
    out.sort();
    out
}

/// Names of the entries of `dir`, sorted; empty if `dir` does not exist.
pub fn file_names(dir: &Path) -> Vec<String> {
    files(dir)
        .iter()
        .map(|p| file_name(p).to_string())
        .collect()
}

/// The last component of `path` as text (test paths are ours, so always UTF-8).
pub fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_else(|| panic!("no UTF-8 file name in {}", path.display()))
}

/// Every message file of the Maildir `root`: `cur/` then `new/`, each sorted.
pub fn message_files(root: &Path) -> Vec<PathBuf> {
    let mut out = files(&root.join("cur"));
    out.extend(files(&root.join("new")));
    out
}

/// Names of the message files of the Maildir `root`: `new/` then `cur/`, each sorted.
pub fn message_names(root: &Path) -> Vec<String> {
    MESSAGE_DIRS
        .iter()
        .flat_map(|d| file_names(&root.join(d)))
        .collect()
}

/// The contents of every message file of the Maildir `root`, in path order.
pub fn read_messages(root: &Path) -> Vec<Vec<u8>> {
    let mut paths = message_files(root);
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())))
        .collect()
}

/// The first message file of the Maildir `root` (`cur/` first) whose path satisfies `pred`.
pub fn find_message(root: &Path, pred: impl Fn(&str) -> bool) -> PathBuf {
    message_files(root)
        .into_iter()
        .find(|p| pred(&p.to_string_lossy()))
        .unwrap_or_else(|| panic!("no such message file in {}", root.display()))
}

/// Every file in `dir` ending in `.ext`, sorted by name, with its contents.
pub fn read_files_with_extension(dir: &Path, ext: &str) -> Vec<(PathBuf, Vec<u8>)> {
    files(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (p, data)
        })
        .collect()
}

/// Sets the mtime of `path` (a Maildir message's INTERNALDATE) to `secs` since the epoch.
pub fn set_mtime(path: &Path, secs: i64) {
    let secs = u64::try_from(secs).expect("a date after 1970");
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
        .expect("set mtime");
}

/// Removes Dovecot's `dovecot.index*` files from `root`, so Dovecot reads the Maildir
/// again (new mtimes, new files) instead of trusting its cache.
pub fn remove_dovecot_index(root: &Path) {
    for p in files(root) {
        if file_name(&p).starts_with("dovecot.index") {
            std::fs::remove_file(&p).expect("remove dovecot index");
        }
    }
}

/// Moves every message file of the Maildir `root` into `to` (created if missing), as if
/// another program had expunged them behind the storage's back.
pub fn move_messages(root: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for p in message_files(root) {
        std::fs::rename(&p, to.join(file_name(&p))).expect("rename");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildir() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("Maildir");
        for d in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join("new/2.b"), b"two").expect("write");
        std::fs::write(root.join("cur/1.a:2,S"), b"one").expect("write");
        std::fs::write(root.join("tmp/3.c"), b"partial").expect("write");
        std::fs::write(root.join("dovecot.index.log"), b"x").expect("write");
        (tmp, root)
    }

    #[test]
    fn lists_and_reads_only_delivered_messages() {
        let (_tmp, root) = maildir();
        assert_eq!(message_names(&root), ["2.b", "1.a:2,S"]);
        assert_eq!(read_messages(&root), [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(
            find_message(&root, |p| p.ends_with(".b")),
            root.join("new/2.b")
        );
        assert!(file_names(&root.join("missing")).is_empty());
    }

    #[test]
    fn moves_messages_removes_index_and_sets_mtime() {
        let (tmp, root) = maildir();
        set_mtime(&root.join("cur/1.a:2,S"), 1_546_516_800);
        let meta = std::fs::metadata(root.join("cur/1.a:2,S")).expect("stat");
        let mtime = meta.modified().expect("mtime");
        assert_eq!(mtime, UNIX_EPOCH + Duration::from_secs(1_546_516_800));
        remove_dovecot_index(&root);
        assert_eq!(file_names(&root), ["cur", "new", "tmp"]);
        let away = tmp.path().join("away");
        move_messages(&root, &away);
        assert!(message_files(&root).is_empty());
        assert_eq!(file_names(&away), ["1.a:2,S", "2.b"]);
        let eml = read_files_with_extension(&away, "b");
        assert_eq!(eml, [(away.join("2.b"), b"two".to_vec())]);
    }
}
