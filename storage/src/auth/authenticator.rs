//! The user database the protocols authenticate against: a passwd-file that is
//! re-read whenever it changes on disk.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::AuthError;
use super::credentials::Credentials;
use super::passwd_file::{UserEntry, parse_passwd_file};
use super::scheme::{parse_stored, verify_password};

/// Decoy for unknown users when the file has no users at all: an ARGON2ID hash with
/// Dovecot's default parameters (made by `doveadm pw -s ARGON2ID` from a random
/// password nobody knows), so a miss costs what a real default-scheme check costs.
const DECOY_HASH: &str = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$LzZ96/LjHb6Zw7/EuI6UyA$vlDqeAk83qwWgQKg3DsIoJtTFODuIqlbul6DRdyXFA0";

/// Result of a password check.
#[derive(Debug, Clone)]
pub enum AuthOutcome {
    /// The password is right; here is the user.
    Ok(UserEntry),
    /// Unknown user or wrong password (deliberately not told apart).
    Failed,
    /// The check could not be done (unreadable file, broken hash); try again later.
    TempFail(String),
}

/// Which SASL mechanisms can succeed for at least one user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MechanismSupport {
    /// Some user has a `{PLAIN}`/`{CLEAR}` password (enables every mechanism).
    pub plaintext_stored: bool,
    /// CRAM-MD5 is possible (plaintext or `{CRAM-MD5}`).
    pub cram_md5: bool,
    /// SCRAM-SHA-1 is possible (plaintext or `{SCRAM-SHA-1}`).
    pub scram_sha1: bool,
    /// SCRAM-SHA-256 is possible (plaintext or `{SCRAM-SHA-256}`).
    pub scram_sha256: bool,
}

/// What identifies one version of the file: a rename gives a new inode, an
/// in-place edit a new size or mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// One loaded version of the file.
#[derive(Debug, Default)]
struct Snapshot {
    /// `None` when the file did not exist.
    stamp: Option<Stamp>,
    users: Vec<UserEntry>,
    by_name: HashMap<String, usize>,
    mechanisms: MechanismSupport,
    /// The first stored hash of a known scheme: what unknown users are checked against.
    decoy: Option<String>,
}

impl Snapshot {
    fn build(stamp: Option<Stamp>, contents: &[u8], path: &Path) -> Snapshot {
        let (users, errors) = parse_passwd_file(contents);
        for error in &errors {
            tracing::warn!(path = %path.display(), "users file: {error}; line skipped");
        }
        let mut mechanisms = MechanismSupport::default();
        for user in &users {
            let Ok(creds) = Credentials::from_stored(user.password.expose()) else {
                if !user.password.expose().is_empty() {
                    tracing::warn!(path = %path.display(), user = %user.name, "unusable password hash");
                }
                continue;
            };
            let plain = creds.plaintext().is_some();
            mechanisms.plaintext_stored |= plain;
            mechanisms.cram_md5 |= creds.cram_md5_context().is_some();
            // Only stored SCRAM keys and plaintext give SCRAM; checking the scheme
            // avoids deriving fresh keys from every plaintext password here.
            let scheme = user.password.expose();
            mechanisms.scram_sha1 |= plain || starts_with_ignore_case(scheme, "{SCRAM-SHA-1}");
            mechanisms.scram_sha256 |= plain || starts_with_ignore_case(scheme, "{SCRAM-SHA-256}");
        }
        let by_name = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.name.clone(), i))
            .collect();
        let decoy = users
            .iter()
            .map(|u| u.password.expose())
            .find(|p| !p.is_empty() && parse_stored(p).is_ok())
            .cloned();
        Snapshot {
            stamp,
            users,
            by_name,
            mechanisms,
            decoy,
        }
    }

    fn get(&self, name: &str) -> Option<&UserEntry> {
        self.by_name.get(name).and_then(|&i| self.users.get(i))
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Users and passwords from a Dovecot passwd-file, shared by every session.
///
/// Each call stats the file and re-reads it if its inode, size or mtime changed,
/// so `roost user add` takes effect without a restart. A missing file means no users.
#[derive(Debug)]
pub struct Authenticator {
    path: PathBuf,
    current: RwLock<Arc<Snapshot>>,
}

impl Authenticator {
    /// Opens the users file at `path`. A missing file is fine (no users yet);
    /// an unreadable one is an error so a misconfiguration shows at startup.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AuthError> {
        let auth = Authenticator {
            path: path.into(),
            current: RwLock::new(Arc::new(Snapshot::default())),
        };
        auth.load_if_changed(None)?;
        Ok(auth)
    }

    /// The file this authenticator reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn stamp(&self) -> Result<Option<Stamp>, AuthError> {
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok(Some(Stamp {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                mtime: m.mtime(),
                mtime_nsec: m.mtime_nsec(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(AuthError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn cached(&self) -> Arc<Snapshot> {
        // A poisoned lock only means another thread panicked mid-swap of an Arc,
        // which cannot leave the Arc half-written.
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-reads the file if it is not the version in `known` (or if `known` is None).
    fn load_if_changed(&self, known: Option<&Snapshot>) -> Result<Arc<Snapshot>, AuthError> {
        let stamp = self.stamp()?;
        if let Some(known) = known
            && known.stamp == stamp
        {
            return Ok(self.cached());
        }
        let contents = match stamp {
            None => Vec::new(),
            Some(_) => match std::fs::read(&self.path) {
                Ok(bytes) => bytes,
                // Removed between stat and read: same as missing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(source) => {
                    return Err(AuthError::Io {
                        path: self.path.clone(),
                        source,
                    });
                }
            },
        };
        let fresh = Arc::new(Snapshot::build(stamp, &contents, &self.path));
        if known.is_some() {
            tracing::info!(path = %self.path.display(), users = fresh.users.len(), "users file reloaded");
        }
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// The current snapshot, reloaded first if the file changed.
    fn snapshot(&self) -> Result<Arc<Snapshot>, AuthError> {
        let cached = self.cached();
        self.load_if_changed(Some(&cached))
    }

    /// The snapshot for read-only queries: on a read error, the last good one.
    fn snapshot_or_last(&self) -> Arc<Snapshot> {
        self.snapshot().unwrap_or_else(|e| {
            tracing::warn!("users file: {e}; using the last version read");
            self.cached()
        })
    }

    /// Checks `password` for `user`.
    ///
    /// An unknown user costs the same as a wrong password: the password is checked
    /// against a decoy hash of the same cost (the first user's hash of a known scheme,
    /// so it matches what the file really uses; [`DECOY_HASH`] if the file is empty).
    pub fn verify(&self, user: &str, password: &[u8]) -> AuthOutcome {
        let snapshot = match self.snapshot() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("users file: {e}");
                return AuthOutcome::TempFail("user database unavailable".to_owned());
            }
        };
        let Some(entry) = snapshot.get(user) else {
            let decoy = snapshot.decoy.as_deref().unwrap_or(DECOY_HASH);
            // The result is irrelevant; only the time spent matters.
            let _ = verify_password(decoy, password);
            return AuthOutcome::Failed;
        };
        let stored = entry.password.expose();
        if stored.is_empty() {
            return AuthOutcome::Failed;
        }
        match verify_password(stored, password) {
            Ok(true) => AuthOutcome::Ok(entry.clone()),
            Ok(false) => AuthOutcome::Failed,
            Err(e) => {
                tracing::error!(user = %user, path = %self.path.display(), "cannot verify: {e}");
                AuthOutcome::TempFail("stored password is unusable".to_owned())
            }
        }
    }

    /// The entry for `user`, if present.
    pub fn lookup(&self, user: &str) -> Option<UserEntry> {
        self.snapshot_or_last().get(user).cloned()
    }

    /// What challenge-response mechanisms can use for `user`; `None` for an
    /// unknown user or an unusable stored password.
    pub fn credentials(&self, user: &str) -> Option<Credentials> {
        let snapshot = self.snapshot_or_last();
        let entry = snapshot.get(user)?;
        Credentials::from_stored(entry.password.expose()).ok()
    }

    /// All user names, in file order.
    pub fn user_names(&self) -> Vec<String> {
        self.snapshot_or_last()
            .users
            .iter()
            .map(|u| u.name.clone())
            .collect()
    }

    /// Whether there are no users at all.
    pub fn is_empty(&self) -> bool {
        self.snapshot_or_last().users.is_empty()
    }

    /// Which mechanisms can succeed for at least one user.
    pub fn mechanisms_possible(&self) -> MechanismSupport {
        self.snapshot_or_last().mechanisms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticator_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Authenticator>();
    }
}
