//! Privilege separation: `roost serve` binds its ports and reads the TLS key as root, hands
//! `data_dir` to the `run_as` account, then becomes that account for good. Sessions never
//! run as root, so a hole in a protocol session cannot own the host.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use roost_config::{Config, RunAs};

/// The account used when started as root and `run_as.user` is not set (as Debian's
/// Dovecot and Postfix use for mail storage).
pub const DEFAULT_USER: &str = "mail";

/// The unprivileged account sessions run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// User name as configured (or the default).
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// The gid to run with.
    pub gid: u32,
}

/// Why privileges could not be dropped; each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum PrivError {
    /// The user does not exist.
    #[error(
        "run_as.user `{0}` does not exist; create it (e.g. `useradd --system {0}`) or set \
         `run_as.user` to an existing unprivileged account"
    )]
    NoUser(String),
    /// The group does not exist.
    #[error("run_as.group `{0}` does not exist; create it or set `run_as.group`")]
    NoGroup(String),
    /// The account is root under another name.
    #[error(
        "run_as.user `{0}` has uid 0: refusing to serve sessions as root; set `run_as.user` \
         to an unprivileged account such as `mail`"
    )]
    Root(String),
    /// Switching needs root.
    #[error(
        "run_as.user `{name}` is set but roost runs as uid {uid}, which cannot switch users; \
         start roost as root or remove `run_as`"
    )]
    NotRoot {
        /// The configured user.
        name: String,
        /// Our uid.
        uid: u32,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
}

fn os(what: impl Into<String>) -> impl FnOnce(io::Error) -> PrivError {
    let what = what.into();
    move |source| PrivError::Os { what, source }
}

/// The account to switch to: None when nothing changes (not root, no `run_as.user`).
pub fn resolve(run_as: &RunAs) -> Result<Option<Account>, PrivError> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let name = match (&run_as.user, euid) {
        (None, 0) => DEFAULT_USER.to_string(),
        (None, _) => return Ok(None),
        (Some(n), _) => n.clone(),
    };
    let (uid, primary_gid) = lookup_user(&name)?.ok_or_else(|| PrivError::NoUser(name.clone()))?;
    if uid == 0 {
        return Err(PrivError::Root(name));
    }
    if euid != 0 {
        if uid == euid {
            return Ok(None);
        }
        return Err(PrivError::NotRoot { name, uid: euid });
    }
    let gid = match &run_as.group {
        None => primary_gid,
        Some(g) => lookup_group(g)?.ok_or_else(|| PrivError::NoGroup(g.clone()))?,
    };
    Ok(Some(Account { name, uid, gid }))
}

/// `(uid, primary gid)` of a user name or numeric uid.
fn lookup_user(name: &str) -> Result<Option<(u32, u32)>, PrivError> {
    let cname = CString::new(name).map_err(|_| PrivError::NoUser(name.to_string()))?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and buf's length is passed with it.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc == 0 && !result.is_null() {
        return Ok(Some((pwd.pw_uid, pwd.pw_gid)));
    }
    // A numeric id without a passwd entry (containers) runs with its own gid.
    Ok(name.parse::<u32>().ok().map(|uid| (uid, uid)))
}

fn lookup_group(name: &str) -> Result<Option<u32>, PrivError> {
    let cname = CString::new(name).map_err(|_| PrivError::NoGroup(name.to_string()))?;
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 64 * 1024];
    let mut result: *mut libc::group = std::ptr::null_mut();
    // SAFETY: as in lookup_user.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc == 0 && !result.is_null() {
        return Ok(Some(grp.gr_gid));
    }
    Ok(name.parse::<u32>().ok())
}

/// Give `data_dir` and what Roost keeps in it (users file, generated certificate, mail
/// under it) to `account`: data_dir becomes 0700, the users file 0600. Only entries still
/// owned by root are changed, so files of other owners are left alone. The whole tree is
/// walked only while `data_dir` itself is still root's (a first start, or a tree copied in
/// as root); later starts look two levels deep, so a large mail store costs nothing.
pub fn hand_over(config: &Config, account: &Account) -> Result<(), PrivError> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(os(format!("cannot create {}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(os(format!("cannot chmod {}", dir.display())))?;
    chown_tree(dir, account)?;
    if config.users_file.exists() {
        chown_one(&config.users_file, account)?;
        std::fs::set_permissions(&config.users_file, std::fs::Permissions::from_mode(0o600))
            .map_err(os(format!("cannot chmod {}", config.users_file.display())))?;
    }
    // Mail outside data_dir (e.g. `/home/{user}/Maildir`) is never walked: its root could
    // be `/home` or `/`, full of files that are not Roost's. It must already belong to the
    // account; sessions that cannot write there fail with a storage error.
    Ok(())
}

/// After `roost user ...` as root: the users file (and data_dir, when the command created
/// it) must stay readable by the running server's account.
pub fn hand_over_users_file(config: &Config) -> Result<(), PrivError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    // No usable account (e.g. no `mail` user yet): `roost serve` will say so; the users
    // file change itself succeeded.
    let Ok(Some(account)) = resolve(&config.run_as) else {
        return Ok(());
    };
    for path in [&config.data_dir, &config.users_file] {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.uid() == 0) {
            chown_one(path, &account)?;
        }
    }
    Ok(())
}

fn chown_one(path: &Path, account: &Account) -> Result<(), PrivError> {
    std::os::unix::fs::lchown(path, Some(account.uid), Some(account.gid))
        .map_err(os(format!("cannot chown {}", path.display())))
}

fn chown_tree(root: &Path, account: &Account) -> Result<(), PrivError> {
    let handed_over = std::fs::symlink_metadata(root).is_ok_and(|m| m.uid() == account.uid);
    let max_depth = if handed_over { 2 } else { usize::MAX };
    let mut stack = vec![(root.to_path_buf(), 0)];
    while let Some((path, depth)) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)
            .map_err(os(format!("cannot stat {}", path.display())))?;
        if meta.uid() == 0 {
            chown_one(&path, account)?;
        }
        // Never follow symlinks out of the tree.
        if meta.is_dir() && depth < max_depth {
            let entries =
                std::fs::read_dir(&path).map_err(os(format!("cannot list {}", path.display())))?;
            for entry in entries {
                let entry = entry.map_err(os(format!("cannot list {}", path.display())))?;
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    Ok(())
}

/// Become `account` for good: supplementary groups, gid, uid, then a umask that keeps
/// new Maildir files private. Checks that root cannot be regained.
pub fn drop_to(account: &Account) -> Result<(), PrivError> {
    let gid = account.gid as libc::gid_t;
    // SAFETY: plain system calls on integers and a one-element array.
    unsafe {
        if libc::setgroups(1, &gid) != 0 {
            return Err(os("setgroups")(io::Error::last_os_error()));
        }
        if libc::setgid(gid) != 0 {
            return Err(os("setgid")(io::Error::last_os_error()));
        }
        if libc::setuid(account.uid as libc::uid_t) != 0 {
            return Err(os("setuid")(io::Error::last_os_error()));
        }
        libc::umask(0o077);
        if libc::setuid(0) == 0 || libc::geteuid() == 0 {
            return Err(PrivError::Root(account.name.clone()));
        }
    }
    Ok(())
}

/// The user name of a uid, for messages.
pub fn user_name(uid: u32) -> Option<String> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as in lookup_user.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside buf.
    let name = unsafe { CStr::from_ptr(pwd.pw_name) };
    name.to_str().ok().map(str::to_owned)
}

/// Work from inside `data_dir` with paths relative to it. After the switch to `run_as`, the
/// directories above `data_dir` may be closed to that account (`./roost-data` under root's
/// 0700 home, say); a path below the working directory needs no access to its ancestors.
/// Paths the admin put outside `data_dir` stay as they are. Call as root, before anything is
/// opened through the config.
pub fn anchor_in_data_dir(config: &Config) -> Result<Config, PrivError> {
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(os(format!("creating {}", dir.display())))?;
    std::env::set_current_dir(dir).map_err(os(format!("entering {}", dir.display())))?;
    let rel = |p: &Path| -> std::path::PathBuf {
        match p.strip_prefix(dir) {
            Ok(r) => Path::new(".").join(r),
            Err(_) => p.to_path_buf(),
        }
    };
    let mut c = config.clone();
    c.users_file = rel(&config.users_file);
    c.admin.socket = rel(&config.admin.socket);
    let prefix = format!("{}/", dir.display());
    if let Some(rest) = config.mail_path.strip_prefix(&prefix) {
        c.mail_path = format!("./{rest}");
    }
    c.tls.cert = config.tls.cert.as_deref().map(rel);
    c.tls.key = config.tls.key.as_deref().map(rel);
    for s in &mut c.tls.sni {
        s.cert = rel(&s.cert);
        s.key = rel(&s.key);
    }
    c.data_dir = std::path::PathBuf::from(".");
    tracing::info!(data_dir = %dir.display(), "serving from inside data_dir");
    Ok(c)
}

/// For a command that writes mail (`roost deliver`) started as root: work from inside
/// `data_dir`, hand it over and become the `run_as` user first, so every file it creates is one
/// the server can use. Returns the configuration to go on with. A command not started as root
/// keeps its user and its configuration.
pub fn drop_for_mail_writes(config: &Config) -> Result<Config, PrivError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(config.clone());
    }
    match resolve(&config.run_as)? {
        Some(account) => {
            let anchored = anchor_in_data_dir(config)?;
            hand_over(&anchored, &account)?;
            drop_to(&account)?;
            Ok(anchored)
        }
        None => Ok(config.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_by_name_and_number() {
        assert_eq!(lookup_user("root").unwrap(), Some((0, 0)));
        assert_eq!(lookup_user("no-such-user-roost").unwrap(), None);
        assert_eq!(lookup_user("4242").unwrap(), Some((4242, 4242)));
        assert!(lookup_user("a\0b").is_err());
        assert_eq!(lookup_group("root").unwrap(), Some(0));
        assert_eq!(lookup_group("no-such-group-roost").unwrap(), None);
        assert_eq!(user_name(0).as_deref(), Some("root"));
    }

    #[test]
    fn resolve_refuses_root_and_missing_accounts() {
        let run_as = |u: &str| RunAs {
            user: Some(u.to_string()),
            group: None,
        };
        let err = resolve(&run_as("no-such-user-roost")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        // Root under another name is still root.
        let err = resolve(&run_as("root")).unwrap_err();
        assert!(matches!(err, PrivError::Root(_)), "{err}");
        let bad_group = RunAs {
            user: Some("4242".into()),
            group: Some("no-such-group-roost".into()),
        };
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(matches!(resolve(&bad_group), Err(PrivError::NoGroup(_))));
            let acct = resolve(&run_as("4242")).unwrap().unwrap();
            assert_eq!((acct.uid, acct.gid), (4242, 4242));
            // As root with nothing configured: the mail account, when the host has one.
            if lookup_user(DEFAULT_USER).unwrap().is_some() {
                let acct = resolve(&RunAs::default()).unwrap().unwrap();
                assert_eq!(acct.name, DEFAULT_USER);
            }
        } else {
            assert!(resolve(&RunAs::default()).unwrap().is_none());
            assert!(matches!(
                resolve(&run_as("4242")),
                Err(PrivError::NotRoot { .. })
            ));
        }
    }

    #[test]
    fn hand_over_chowns_root_owned_entries_only() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to chown");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let yaml = format!("data_dir: {}\n", tmp.path().join("data").display());
        let config = Config::from_yaml_str(&yaml, None).unwrap();
        let md = config.mail_dir("alice");
        std::fs::create_dir_all(md.join("new")).unwrap();
        std::fs::write(md.join("new/1.x"), b"m").unwrap();
        std::fs::write(&config.users_file, b"alice:{PLAIN}x\n").unwrap();
        let other = config.data_dir.join("someone-elses");
        std::fs::write(&other, b"").unwrap();
        std::os::unix::fs::chown(&other, Some(4343), Some(4343)).unwrap();
        let acct = Account {
            name: "t".into(),
            uid: 4242,
            gid: 4242,
        };
        hand_over(&config, &acct).unwrap();
        for p in [
            &config.data_dir,
            &md,
            &md.join("new/1.x"),
            &config.users_file,
        ] {
            let m = std::fs::metadata(p).unwrap();
            assert_eq!((m.uid(), m.gid()), (4242, 4242), "{}", p.display());
        }
        assert_eq!(std::fs::metadata(&other).unwrap().uid(), 4343);
        // Once handed over, a restart looks only two levels deep.
        let deep = md.join("new/2.x");
        std::fs::write(&deep, b"m").unwrap();
        let shallow = config.data_dir.join("tls");
        std::fs::create_dir_all(&shallow).unwrap();
        hand_over(&config, &acct).unwrap();
        assert_eq!(std::fs::metadata(&shallow).unwrap().uid(), 4242);
        assert_eq!(
            std::fs::metadata(&deep).unwrap().uid(),
            0,
            "not walked again"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&config.data_dir), 0o700);
        assert_eq!(mode(&config.users_file), 0o600);
    }
}
