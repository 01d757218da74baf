//! Helpers for the tests of the privilege drop (they only run as root).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{config_yaml, let_unprivileged_in, roost};

/// Whether the test runs as root (the privilege tests skip otherwise).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and gid of account `name` from /etc/passwd.
pub fn uid_of(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name)).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
    })
}

/// `dir` and everything below it.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if dir.is_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            out.extend(walk(&e.unwrap().path()));
        }
    }
    out
}

/// The standard test config written to `dir/roost.yaml` (with `dir` opened for the
/// `run_as` account) and `user` added to it by `roost user add` with password `pw`;
/// returns the data dir and the config file.
pub fn config_with_user(dir: &Path, user: &str) -> (PathBuf, PathBuf) {
    let_unprivileged_in(dir);
    let data = dir.join("data");
    let config = dir.join("roost.yaml");
    std::fs::write(&config, config_yaml(&data)).unwrap();
    let add = roost()
        .args(["user", "add", user, "--password-stdin", "-c"])
        .arg(&config)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"pw\n")?;
            c.wait()
        })
        .unwrap();
    assert!(add.success());
    (data, config)
}
