//! What the examples share: a fresh Maildir of `n` messages dropped into `new/`, as an MTA
//! would leave them.

use std::path::{Path, PathBuf};

/// `base/u/Maildir` with `n` small messages in `new/` (whatever was at `base` is removed).
pub fn maildir_with(base: &Path, n: usize) -> PathBuf {
    let _ = std::fs::remove_dir_all(base);
    let root = base.join("u/Maildir");
    for d in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let body = message_body();
    for i in 0..n {
        std::fs::write(
            root.join("new").join(format!("1700000000.M{i}P1.host")),
            &body,
        )
        .unwrap();
    }
    root
}

/// The text of each generated message: a few headers and a 1 KB body.
pub fn message_body() -> String {
    "From: a@example.org\nSubject: hello\n\nbody text\n".repeat(20)
}
