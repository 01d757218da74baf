//! Runs the real Dovecot (`doveadm`, and its `imap` binary in PREAUTH mode) against a
//! throw-away Maildir, for cross-checks.
//!
//! Minimal setup that works without a running `dovecot` daemon or userdb: a private
//! `dovecot.conf` (`-c`), no `-u` (doveadm then serves the current `$USER` with `$HOME`
//! from the environment), `mail_location = maildir:~/Maildir`. Dovecot refuses mail access
//! as root, so as root the mail is accessed as `nobody` and the temp home is chowned to it;
//! as any other user, as that user.
//!
//! A missing `doveadm` (`$ROOST_DOVEADM`, default `/usr/bin/doveadm`) fails the test unless
//! `ROOST_SKIP_DOVECOT=1` is set, so a CI box without Dovecot cannot silently pass the
//! compatibility tests.
//!
//! Use: `let Some(dv) = Dovecot::start() else { return };` then `dv.save("INBOX", msg)`,
//! `dv.doveadm(&["mailbox", "create", "-s", "Sent"])`, `dv.imap(b"a SELECT INBOX\r\n")`,
//! and read `dv.maildir`.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::process::{output_with_input, spawn_with_input};

/// Path of the doveadm binary (Debian's package puts it here); `ROOST_DOVEADM` overrides it.
pub const DOVEADM: &str = "/usr/bin/doveadm";
/// Dovecot's IMAP server binary (Debian's dovecot-imapd); `ROOST_DOVECOT_IMAP` overrides it.
pub const DOVECOT_IMAP: &str = "/usr/lib/dovecot/imap";
/// Set to `1` to skip, instead of fail, tests that need a Dovecot that is not installed.
pub const SKIP_ENV: &str = "ROOST_SKIP_DOVECOT";

/// The doveadm to run: `$ROOST_DOVEADM` or [`DOVEADM`].
pub fn doveadm_path() -> PathBuf {
    std::env::var_os("ROOST_DOVEADM").map_or_else(|| PathBuf::from(DOVEADM), PathBuf::from)
}

/// The `imap` binary to run: `$ROOST_DOVECOT_IMAP` or [`DOVECOT_IMAP`].
pub fn imap_path() -> PathBuf {
    std::env::var_os("ROOST_DOVECOT_IMAP")
        .map_or_else(|| PathBuf::from(DOVECOT_IMAP), PathBuf::from)
}

/// Whether `binary` is there to test against. When it is missing: false if
/// `ROOST_SKIP_DOVECOT=1` (the test returns early and says so on stderr), else a panic
/// naming the packages to install, so a box without Dovecot cannot silently pass.
pub fn available(binary: &Path, packages: &str) -> bool {
    if binary.exists() {
        return true;
    }
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        eprintln!("{} not installed; skipped ({SKIP_ENV}=1)", binary.display());
        return false;
    }
    panic!(
        "{} not found: install {packages} or set {SKIP_ENV}=1",
        binary.display()
    );
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
        if !available(&doveadm_path(), "dovecot-core") {
            return None;
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
        let out = output_with_input(&mut self.command(args), stdin);
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

    /// Starts doveadm in the background (stdin = `stdin`), for lock contention tests.
    pub fn spawn(&self, args: &[&str], stdin: &[u8]) -> Child {
        spawn_with_input(
            self.command(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            stdin,
        )
    }

    /// Delivers `message` into `mailbox` (UTF-8 name) with `doveadm save`.
    pub fn save(&self, mailbox: &str, message: &[u8]) {
        self.doveadm_with_input(&["save", "-m", mailbox], message);
    }

    /// Gives `path` to the mail user, so Dovecot can use files our test wrote as root.
    pub fn chown(&self, path: &Path) {
        chown(path, self.uid, self.gid);
    }

    /// [`Dovecot::chown`] for a whole tree.
    pub fn chown_tree(&self, path: &Path) {
        chown_tree(path, self.uid, self.gid);
    }

    /// Runs Dovecot's `imap` binary (PREAUTH over stdin/stdout) with `script` as the client
    /// side; returns everything the server wrote.
    pub fn imap(&self, script: &[u8]) -> Vec<u8> {
        let mut cmd = Command::new(imap_path());
        cmd.arg("-c")
            .arg(&self.conf)
            .env("HOME", &self.home)
            .env("USER", user_name());
        let out = output_with_input(&mut cmd, script);
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

/// One message as `doveadm fetch 'uid flags guid'` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The message UID.
    pub uid: u32,
    /// System flags such as `\Seen`, sorted; `\Recent` is left out (it belongs to a
    /// session, not to the message, and doveadm's own session always sees it).
    pub flags: Vec<String>,
    /// Keyword names, sorted.
    pub keywords: Vec<String>,
    /// Dovecot's GUID: for Maildir, the file name's base.
    pub guid: String,
}

impl Dovecot {
    /// Every message of `mailbox` as Dovecot sees it, in UID order (tab formatter, so the
    /// output is one parseable row per message).
    pub fn fetch(&self, mailbox: &str) -> Vec<Fetched> {
        let out = self.doveadm(&[
            "-f",
            "tab",
            "fetch",
            "uid flags guid",
            "mailbox",
            mailbox,
            "all",
        ]);
        let mut rows = Vec::new();
        for line in out.lines().skip(1).filter(|l| !l.is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "unexpected doveadm fetch row {line:?}");
            let uid = cols[0]
                .parse()
                .unwrap_or_else(|_| panic!("bad uid in {line:?}"));
            let (mut flags, mut keywords) = (Vec::new(), Vec::new());
            for f in cols[1].split(' ').filter(|f| !f.is_empty()) {
                if f == "\\Recent" {
                    continue;
                }
                if f.starts_with('\\') {
                    flags.push(f.to_string());
                } else {
                    keywords.push(f.to_string());
                }
            }
            flags.sort();
            keywords.sort();
            rows.push(Fetched {
                uid,
                flags,
                keywords,
                guid: cols[2].to_string(),
            });
        }
        rows.sort_by_key(|r| r.uid);
        rows
    }

    /// (UIDVALIDITY, UIDNEXT) of `mailbox` from `doveadm mailbox status`.
    pub fn status(&self, mailbox: &str) -> (u32, u32) {
        let out = self.doveadm(&[
            "-f",
            "tab",
            "mailbox",
            "status",
            "uidvalidity uidnext",
            mailbox,
        ]);
        parse_status(&out)
    }

    /// Mailbox names from `doveadm mailbox list` (`-s`: only subscribed ones), sorted.
    pub fn mailbox_list(&self, subscribed_only: bool) -> Vec<String> {
        let out = if subscribed_only {
            self.doveadm(&["mailbox", "list", "-s"])
        } else {
            self.doveadm(&["mailbox", "list"])
        };
        let mut names: Vec<String> = out.lines().map(str::to_string).collect();
        names.sort();
        names
    }
}

/// (UIDVALIDITY, UIDNEXT) from the output of
/// `doveadm -f tab mailbox status 'uidvalidity uidnext' MAILBOX`.
pub fn parse_status(out: &str) -> (u32, u32) {
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let values: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let get = |key: &str| -> u32 {
        let i = header
            .iter()
            .position(|h| *h == key)
            .unwrap_or_else(|| panic!("no {key} in doveadm status {out:?}"));
        values
            .get(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("bad {key} in doveadm status {out:?}"))
    };
    (get("uidvalidity"), get("uidnext"))
}

/// The uid and gid of `nobody`, which Dovecot accepts as a mail user (it refuses root).
pub(crate) fn nobody() -> (u32, u32) {
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

/// Gives `path` (not a symlink's target) to `uid`:`gid`.
pub(crate) fn chown(path: &Path, uid: u32, gid: u32) {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).expect("path without NUL");
    // SAFETY: c is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::lchown(c.as_ptr(), uid, gid) };
    assert_eq!(
        rc,
        0,
        "chown {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// [`chown`] for `path` and everything below it.
pub(crate) fn chown_tree(path: &Path, uid: u32, gid: u32) {
    chown(path, uid, gid);
    if path.is_dir() && !path.is_symlink() {
        for entry in std::fs::read_dir(path).expect("read_dir") {
            chown_tree(&entry.expect("dir entry").path(), uid, gid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_columns_are_found_by_name() {
        assert_eq!(
            parse_status("uidnext\tuidvalidity\n7\t1700000000\n"),
            (1700000000, 7)
        );
    }

    const MSG: &[u8] = b"From: a@example.org\nSubject: kit\n\nbody\n";

    #[test]
    fn doveadm_and_imap_see_the_same_saved_message() {
        let Some(dv) = Dovecot::start() else { return };
        dv.doveadm(&["mailbox", "create", "-s", "Sent"]);
        dv.save("INBOX", MSG);
        let rows = dv.fetch("INBOX");
        assert_eq!(rows.len(), 1, "{}", dv.log());
        assert_eq!(rows[0].uid, 1);
        assert_eq!(dv.status("INBOX").1, 2);
        assert_eq!(dv.mailbox_list(true), ["Sent"]);
        assert_eq!(dv.mailbox_list(false), ["INBOX", "Sent"]);
        let files = crate::maildir::message_files(&dv.maildir);
        assert_eq!(files.len(), 1);
        assert!(crate::maildir::file_name(&files[0]).starts_with(&rows[0].guid));
        let out = dv.imap(
            b"a SELECT INBOX\r\nb FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nz LOGOUT\r\n",
        );
        let out = String::from_utf8_lossy(&out);
        assert!(out.contains("Subject: kit\r\n"), "{out}");
        assert!(out.contains("b OK"), "{out}");
    }

    #[test]
    fn spawned_doveadm_runs_to_the_end() {
        let Some(dv) = Dovecot::start() else { return };
        dv.save("INBOX", MSG);
        let child = dv.spawn(&["fetch", "uid", "mailbox", "INBOX", "all"], b"");
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "uid: 1");
    }
}
