//! Runs the real Dovecot (`doveadm`, and its `imap` binary in PREAUTH mode) against a
//! throw-away Maildir, to produce the expected FETCH answers for the corpus.
//!
//! Adapted from `storage/tests/common/dovecot.rs`.
//!
//! Minimal setup that works without a running `dovecot` daemon or userdb: a private
//! `dovecot.conf` (`-c`), no `-u` (doveadm then serves the current `$USER` with `$HOME`
//! from the environment), `mail_location = maildir:~/Maildir`. Dovecot refuses mail access
//! as root, so as root the mail is accessed as `nobody` and the temp home is chowned to it;
//! as any other user, as that user.
//!
//! A missing `doveadm` (`$ROOST_DOVEADM`, default `/usr/bin/doveadm`) fails the test unless
//! `ROOST_SKIP_DOVECOT=1` is set, so a CI box
//! without Dovecot cannot silently pass the compatibility tests.
//!
//! Use: `let Some(dv) = Dovecot::start() else { return };` then `dv.save("INBOX", msg)`,
//! `dv.doveadm(&["mailbox", "create", "-s", "Sent"])`, and read `dv.maildir`.
#![allow(dead_code)] // each test binary uses a different part of the helper

use std::ffi::CString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of the doveadm binary (Debian's package puts it here); `ROOST_DOVEADM` overrides it.
pub const DOVEADM: &str = "/usr/bin/doveadm";

/// The doveadm to run: `$ROOST_DOVEADM` or [`DOVEADM`].
pub fn doveadm_path() -> PathBuf {
    std::env::var_os("ROOST_DOVEADM").map_or_else(|| PathBuf::from(DOVEADM), PathBuf::from)
}

/// Dovecot's IMAP server binary, next to doveadm's helpers; `ROOST_DOVECOT_IMAP` overrides it.
pub fn imap_path() -> PathBuf {
    std::env::var_os("ROOST_DOVECOT_IMAP")
        .map_or_else(|| PathBuf::from("/usr/lib/dovecot/imap"), PathBuf::from)
}

/// A temp home with a Maildir, plus the config to drive doveadm on it.
pub struct Dovecot {
    /// Owns everything below; removed on drop.
    pub tmp: tempfile::TempDir,
    /// `$HOME` for doveadm.
    pub home: PathBuf,
    /// The Maildir root (INBOX): `home/Maildir`.
    pub maildir: PathBuf,
    conf: PathBuf,
    uid: u32,
    gid: u32,
}

impl Dovecot {
    /// Sets up a fresh Dovecot environment; None only if doveadm is missing and
    /// `ROOST_SKIP_DOVECOT=1`. Panics (fails the test) if doveadm is missing otherwise.
    pub fn start() -> Option<Dovecot> {
        let doveadm = doveadm_path();
        if !doveadm.exists() {
            if std::env::var("ROOST_SKIP_DOVECOT").as_deref() == Ok("1") {
                eprintln!("doveadm not installed; skipped (ROOST_SKIP_DOVECOT=1)");
                return None;
            }
            panic!(
                "{} not found: install dovecot-core or set ROOST_SKIP_DOVECOT=1",
                doveadm.display()
            );
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).expect("mkdir home");
        for d in ["run", "state"] {
            std::fs::create_dir(tmp.path().join(d)).expect("mkdir");
        }
        // SAFETY: geteuid/getegid have no preconditions.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let (uid, gid) = if euid == 0 { nobody() } else { (euid, egid) };
        let conf = tmp.path().join("dovecot.conf");
        let t = tmp.path().display();
        std::fs::write(
            &conf,
            format!(
                "base_dir = {t}/run\nstate_dir = {t}/state\nlog_path = {t}/dovecot.log\n\
                 mail_location = maildir:~/Maildir\nmail_uid = {uid}\nmail_gid = {gid}\n\
                 first_valid_uid = 0\nfirst_valid_gid = 0\nssl = no\n"
            ),
        )
        .expect("write dovecot.conf");
        let dv = Dovecot {
            maildir: home.join("Maildir"),
            home,
            conf,
            uid,
            gid,
            tmp,
        };
        // The temp dir itself is 0700 root: let the mail user through to its home.
        dv.chown(dv.tmp.path());
        dv.chown_tree(&dv.home);
        Some(dv)
    }

    /// A doveadm command with our config and environment, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(doveadm_path());
        cmd.arg("-c")
            .arg(&self.conf)
            .args(args)
            .env("HOME", &self.home)
            .env("USER", user_name());
        cmd
    }

    /// Runs doveadm with `stdin`; panics with its stderr if it fails.
    pub fn doveadm_with_input(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn doveadm");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait doveadm");
        assert!(
            out.status.success(),
            "doveadm {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs doveadm; panics with its stderr if it fails. Returns stdout as text.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let out = self.doveadm_with_input(args, b"");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Delivers `message` into `mailbox` (UTF-8 name) with `doveadm save`.
    pub fn save(&self, mailbox: &str, message: &[u8]) {
        self.doveadm_with_input(&["save", "-m", mailbox], message);
    }

    /// Gives `path` to the mail user, so Dovecot can use files our test wrote as root.
    pub fn chown(&self, path: &Path) {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).expect("path without NUL");
        // SAFETY: c is a valid NUL-terminated path for the duration of the call.
        let rc = unsafe { libc::lchown(c.as_ptr(), self.uid, self.gid) };
        assert_eq!(
            rc,
            0,
            "chown {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }

    /// [`Dovecot::chown`] for a whole tree.
    pub fn chown_tree(&self, path: &Path) {
        self.chown(path);
        if path.is_dir() && !path.is_symlink() {
            for entry in std::fs::read_dir(path).expect("read_dir") {
                self.chown_tree(&entry.expect("dir entry").path());
            }
        }
    }

    /// Runs Dovecot's `imap` binary (PREAUTH over stdin/stdout) with `script` as the client
    /// side; returns everything the server wrote.
    pub fn imap(&self, script: &[u8]) -> Vec<u8> {
        let mut cmd = Command::new(imap_path());
        cmd.arg("-c")
            .arg(&self.conf)
            .env("HOME", &self.home)
            .env("USER", user_name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn dovecot imap");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script)
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait imap");
        assert!(
            out.status.success(),
            "imap failed: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        out.stdout
    }

    /// The Dovecot log (errors doveadm wrote there instead of stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("dovecot.log")).unwrap_or_default()
    }
}

fn nobody() -> (u32, u32) {
    // SAFETY: getpwnam returns NULL or a pointer to a static passwd record that stays valid
    // until the next getpw* call; we copy the two ids out at once.
    unsafe {
        let pw = libc::getpwnam(c"nobody".as_ptr());
        if pw.is_null() {
            (65534, 65534)
        } else {
            ((*pw).pw_uid, (*pw).pw_gid)
        }
    }
}

fn user_name() -> String {
    std::env::var("USER").unwrap_or_else(|_| "root".to_string())
}
