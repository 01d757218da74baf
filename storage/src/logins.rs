//! Who logs in with what: per user and protocol, the last login (time, client, address,
//! TLS, mechanism) and a count, kept in one small JSON file under `data_dir`.
//!
//! Logins only touch memory (one short mutex hold); a flusher thread writes the file at
//! most once per interval, crash-safely (temporary file, fsync, rename). After `kill -9`
//! the logins of the last interval are lost, which a usage report can afford; a clean
//! shutdown calls [`LoginLog::flush`]. The protocol is a plain name (`"imap"`, `"pop3"`):
//! storage does not know the protocols.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The state file's name under `data_dir`.
pub const FILE_NAME: &str = "logins.json";

/// Distinct clients remembered per user and protocol: enough to see a user's phone and
/// desktop side by side, bounded so a client that changes its ID each time cannot grow
/// the file.
pub const MAX_CLIENTS: usize = 5;

/// Longest client description kept (the IMAP ID's name and version are short; this only
/// bounds abuse).
const MAX_CLIENT_LEN: usize = 200;

/// The file's format version; a file with a newer one is not overwritten.
const VERSION: u32 = 1;

/// Everything in the state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// Format version.
    pub version: u32,
    /// By user name.
    pub users: BTreeMap<String, UserLogins>,
}

/// One user's logins, by protocol name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLogins {
    /// By protocol name (`imap`, `pop3`).
    pub protocols: BTreeMap<String, ProtocolLogins>,
}

/// One user's logins with one protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolLogins {
    /// Unix time of the first recorded login.
    pub first: i64,
    /// Unix time of the last login.
    pub last: i64,
    /// Logins recorded.
    pub count: u64,
    /// The client of the last login (IMAP ID `name version`), if it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Client address of the last login.
    pub ip: String,
    /// Whether the last login was over TLS.
    pub tls: bool,
    /// SASL mechanism (or `LOGIN`, `USER`, `APOP`) of the last login.
    pub mechanism: String,
    /// Distinct clients seen, most recent first, at most [`MAX_CLIENTS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
}

/// One successful login.
#[derive(Debug, Clone, Copy)]
pub struct LoginEvent<'a> {
    /// The authenticated user.
    pub user: &'a str,
    /// Protocol name, lower case.
    pub protocol: &'a str,
    /// The client's own name for itself, if it gave one already.
    pub client: Option<&'a str>,
    /// Client address.
    pub ip: &'a str,
    /// Over TLS.
    pub tls: bool,
    /// How the user authenticated.
    pub mechanism: &'a str,
    /// Unix time.
    pub at: i64,
}

/// Reading or writing the state file failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginStateError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file is not a login state file this version understands.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Reads a state file; a missing file is an empty state.
pub fn load(path: &Path) -> Result<LoginState, LoginStateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LoginState::default()),
        Err(source) => {
            return Err(LoginStateError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let state: LoginState =
        serde_json::from_slice(&bytes).map_err(|e| LoginStateError::Format {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if state.version > VERSION {
        return Err(LoginStateError::Format {
            path: path.to_owned(),
            reason: format!(
                "format version {} is newer than this Roost's {VERSION}",
                state.version
            ),
        });
    }
    Ok(state)
}

fn bounded(client: &str) -> String {
    let mut end = client.len().min(MAX_CLIENT_LEN);
    while !client.is_char_boundary(end) {
        end -= 1;
    }
    client[..end].chars().filter(|c| !c.is_control()).collect()
}

impl LoginState {
    /// Counts one login.
    pub fn record(&mut self, e: &LoginEvent<'_>) {
        let p = self
            .users
            .entry(e.user.to_owned())
            .or_default()
            .protocols
            .entry(e.protocol.to_owned())
            .or_default();
        if p.count == 0 {
            p.first = e.at;
        }
        p.count = p.count.saturating_add(1);
        p.last = p.last.max(e.at);
        p.ip = e.ip.to_owned();
        p.tls = e.tls;
        p.mechanism = e.mechanism.to_owned();
        p.client = None;
        if let Some(c) = e.client {
            p.note_client(c);
        }
    }

    /// The client named itself after logging in (IMAP ID after LOGIN): it becomes the
    /// last login's client.
    pub fn set_client(&mut self, user: &str, protocol: &str, client: &str) {
        if let Some(p) = self
            .users
            .get_mut(user)
            .and_then(|u| u.protocols.get_mut(protocol))
        {
            p.note_client(client);
        }
    }
}

impl ProtocolLogins {
    fn note_client(&mut self, client: &str) {
        let c = bounded(client);
        self.clients.retain(|known| *known != c);
        self.clients.insert(0, c.clone());
        self.clients.truncate(MAX_CLIENTS);
        self.client = Some(c);
    }
}

struct Inner {
    state: LoginState,
    /// Changed since the last write.
    dirty: bool,
    /// The file on disk could not be used; it is left alone rather than overwritten.
    frozen: bool,
}

/// The process's login record: in memory, written to [`FILE_NAME`] by a flusher.
pub struct LoginLog {
    path: PathBuf,
    inner: Mutex<Inner>,
    /// Serializes writers (flusher and shutdown) so two never share the temporary file.
    writing: Mutex<()>,
}

impl std::fmt::Debug for LoginLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LoginLog {
    /// Starts from the file at `path` if there is one. A file that cannot be read or
    /// understood is logged and left untouched (logins are then not recorded), so a
    /// glitch never wipes the history.
    pub fn open(path: impl Into<PathBuf>) -> LoginLog {
        let path = path.into();
        let (state, frozen) = match load(&path) {
            Ok(s) => (s, false),
            Err(e) => {
                tracing::warn!("login state not recorded: {e}");
                (LoginState::default(), true)
            }
        };
        LoginLog {
            path,
            inner: Mutex::new(Inner {
                state,
                dirty: false,
                frozen,
            }),
            writing: Mutex::new(()),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the map consistent, so a panic elsewhere cannot poison it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one login (memory only; the flusher writes it).
    pub fn record(&self, event: &LoginEvent<'_>) {
        let mut inner = self.lock();
        inner.state.record(event);
        inner.dirty = true;
    }

    /// Notes a client name given after the login.
    pub fn set_client(&self, user: &str, protocol: &str, client: &str) {
        let mut inner = self.lock();
        inner.state.set_client(user, protocol, client);
        inner.dirty = true;
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> LoginState {
        self.lock().state.clone()
    }

    /// Writes the file if anything changed: temporary file, fsync, rename, so a crash
    /// leaves the old file or the new one, never half of one.
    pub fn flush(&self) -> Result<(), LoginStateError> {
        let _writer = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        let state = {
            let mut inner = self.lock();
            if !inner.dirty || inner.frozen {
                return Ok(());
            }
            inner.dirty = false;
            let mut state = inner.state.clone();
            state.version = VERSION;
            state
        };
        let result = write_atomically(&self.path, &state);
        if result.is_err() {
            // Try again next time.
            self.lock().dirty = true;
        }
        result
    }

    /// Starts a thread that flushes every `every` until the log is dropped.
    pub fn spawn_flusher(self: &Arc<Self>, every: Duration) -> io::Result<()> {
        let weak: Weak<LoginLog> = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("roost-logins".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(log) = weak.upgrade() else { return };
                    if let Err(e) = log.flush() {
                        tracing::warn!("writing the login state failed: {e}");
                    }
                }
            })
            .map(|_| ())
    }
}

fn write_atomically(path: &Path, state: &LoginState) -> Result<(), LoginStateError> {
    let io_err = |source| LoginStateError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| LoginStateError::Format {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension("json.tmp");
    // Addresses and client names are personal data: owner only.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_err)?;
    file.write_all(&bytes).map_err(io_err)?;
    file.write_all(b"\n").map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(
        user: &'a str,
        protocol: &'a str,
        client: Option<&'a str>,
        at: i64,
    ) -> LoginEvent<'a> {
        LoginEvent {
            user,
            protocol,
            client,
            ip: "192.0.2.7",
            tls: true,
            mechanism: "PLAIN",
            at,
        }
    }

    #[test]
    fn counts_and_clients() {
        let mut s = LoginState::default();
        s.record(&event("a", "imap", Some("Thunderbird 128"), 100));
        s.record(&event("a", "imap", None, 200));
        s.set_client("a", "imap", "K-9 Mail 6");
        s.record(&event("a", "imap", Some("Thunderbird 128"), 300));
        s.record(&event("a", "pop3", None, 50));
        let imap = &s.users["a"].protocols["imap"];
        assert_eq!((imap.first, imap.last, imap.count), (100, 300, 3));
        assert_eq!(imap.client.as_deref(), Some("Thunderbird 128"));
        assert_eq!(imap.clients, ["Thunderbird 128", "K-9 Mail 6"]);
        let pop3 = &s.users["a"].protocols["pop3"];
        assert_eq!((pop3.count, pop3.client.as_deref()), (1, None));
        // set_client for a login never recorded changes nothing.
        s.set_client("b", "imap", "x");
        assert!(!s.users.contains_key("b"));
        // The list of clients is bounded, and so is each name.
        for i in 0..20 {
            s.set_client("a", "pop3", &format!("c{i}\n{}", "x".repeat(300)));
        }
        let pop3 = &s.users["a"].protocols["pop3"];
        assert_eq!(pop3.clients.len(), MAX_CLIENTS);
        assert!(pop3.clients[0].starts_with("c19x"));
        assert_eq!(pop3.clients[0].len(), MAX_CLIENT_LEN - 1);
    }

    #[test]
    fn flush_writes_atomically_and_reopen_continues() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let log = LoginLog::open(&path);
        log.flush().expect("nothing to write");
        assert!(!path.exists(), "an unchanged log writes nothing");
        log.record(&event("a", "pop3", None, 10));
        log.flush().expect("flush");
        assert!(!path.with_extension("json.tmp").exists());
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let reopened = LoginLog::open(&path);
        reopened.record(&event("a", "pop3", None, 20));
        reopened.flush().expect("flush");
        let state = load(&path).expect("load");
        assert_eq!(state.version, VERSION);
        assert_eq!(state.users["a"].protocols["pop3"].count, 2);
    }

    #[test]
    fn a_damaged_file_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"{not json").expect("write");
        let log = LoginLog::open(&path);
        log.record(&event("a", "imap", None, 10));
        log.flush().expect("flush is a no-op");
        assert_eq!(std::fs::read(&path).expect("read"), b"{not json");
        assert!(matches!(load(&path), Err(LoginStateError::Format { .. })));
        std::fs::write(&path, br#"{"version":99,"users":{}}"#).expect("write");
        assert!(matches!(load(&path), Err(LoginStateError::Format { .. })));
        assert_eq!(
            load(&dir.path().join("missing")).expect("missing"),
            LoginState::default()
        );
    }

    #[test]
    fn flusher_writes_within_its_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let log = Arc::new(LoginLog::open(&path));
        log.spawn_flusher(Duration::from_millis(20))
            .expect("thread");
        log.record(&event("a", "imap", Some("x"), 1));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !path.exists() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
