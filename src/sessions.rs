//! The table of open sessions behind `roost who` and `roost kick`, and the sessions-open
//! gauge of the metrics.
//!
//! Every accepted connection registers here for its lifetime; the protocol drivers fill in
//! the user at login, the client name from IMAP ID and TLS after STARTTLS/STLS. A kick is a
//! per-session watch channel the driver waits on next to the server's shutdown signal.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::watch;

use crate::server::Proto;

/// All open sessions of this server. Cheap to clone.
#[derive(Clone, Default)]
pub struct SessionTable {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<SessionEntry>>>,
}

/// One open session as `who` shows it.
pub struct SessionEntry {
    id: u64,
    proto: Proto,
    peer: SocketAddr,
    since: SystemTime,
    tls: AtomicBool,
    details: Mutex<Details>,
    kick: watch::Sender<bool>,
}

#[derive(Default)]
struct Details {
    user: Option<String>,
    client: Option<String>,
}

/// What `who` reports about one logged-in session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SessionInfo {
    /// The logged-in user.
    pub user: String,
    /// `imap`, `imaps`, `pop3` or `pop3s` (the listener).
    pub protocol: String,
    /// The client's address.
    pub ip: String,
    /// Seconds since the Unix epoch when the connection was accepted.
    pub since: u64,
    /// The IMAP ID `name` the client sent, if any.
    pub client: Option<String>,
    /// Whether the connection is encrypted now.
    pub tls: bool,
}

/// Keeps a session in the table; dropping it removes the session.
pub struct SessionGuard {
    entry: Arc<SessionEntry>,
    table: SessionTable,
}

impl std::ops::Deref for SessionGuard {
    type Target = Arc<SessionEntry>;
    fn deref(&self) -> &Arc<SessionEntry> {
        &self.entry
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.table.lock().remove(&self.entry.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The table holds no invariant a panic could break halfway.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SessionTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<SessionEntry>>> {
        lock(&self.inner.open)
    }

    /// Register a freshly accepted connection.
    pub fn register(&self, proto: Proto, peer: SocketAddr, tls: bool) -> SessionGuard {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (kick, _) = watch::channel(false);
        let entry = Arc::new(SessionEntry {
            id,
            proto,
            peer,
            since: SystemTime::now(),
            tls: AtomicBool::new(tls),
            details: Mutex::new(Details::default()),
            kick,
        });
        self.lock().insert(id, Arc::clone(&entry));
        SessionGuard {
            entry,
            table: self.clone(),
        }
    }

    /// Logged-in sessions, oldest first.
    pub fn who(&self) -> Vec<SessionInfo> {
        let mut entries: Vec<Arc<SessionEntry>> = self.lock().values().cloned().collect();
        entries.sort_by_key(|e| e.id);
        entries.iter().filter_map(|e| e.info()).collect()
    }

    /// Ask every session of `user` to end; returns how many were asked.
    pub fn kick(&self, user: &str) -> usize {
        let entries: Vec<Arc<SessionEntry>> = self.lock().values().cloned().collect();
        let mut kicked = 0;
        for e in entries {
            if lock(&e.details).user.as_deref() == Some(user) {
                e.kick.send_replace(true);
                kicked += 1;
            }
        }
        kicked
    }

    /// Open sessions per (listener, TLS now), for the sessions-open gauge.
    pub fn counts(&self) -> Vec<(Proto, bool, u64)> {
        let mut counts: HashMap<(Proto, bool), u64> = HashMap::new();
        for e in self.lock().values() {
            *counts.entry((e.proto, e.is_tls())).or_default() += 1;
        }
        counts.into_iter().map(|((p, t), n)| (p, t, n)).collect()
    }
}

impl SessionEntry {
    /// The user logged in.
    pub fn set_user(&self, user: &str) {
        lock(&self.details).user = Some(user.to_string());
    }

    /// The connection is now encrypted (after STARTTLS/STLS).
    pub fn set_tls(&self) {
        self.tls.store(true, Ordering::Relaxed);
    }

    /// Whether the connection is encrypted now.
    pub fn is_tls(&self) -> bool {
        self.tls.load(Ordering::Relaxed)
    }

    /// Record the client from the IMAP session's logged ID fields (`name="x" ...`).
    pub fn set_client_from_id(&self, id_fields: &str) {
        let mut d = lock(&self.details);
        if d.client.is_none() {
            d.client = id_name(id_fields);
        }
    }

    /// A receiver that turns true when an admin kicks this session.
    pub fn kicked(&self) -> watch::Receiver<bool> {
        self.kick.subscribe()
    }

    fn info(&self) -> Option<SessionInfo> {
        let d = lock(&self.details);
        Some(SessionInfo {
            user: d.user.clone()?,
            protocol: self.proto.name().to_string(),
            ip: self.peer.ip().to_string(),
            since: self
                .since
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            client: d.client.clone(),
            tls: self.is_tls(),
        })
    }
}

/// The `name` value out of the IMAP session's log form of ID fields, where values are Rust
/// debug strings: `name="Thunderbird" version="115"`.
fn id_name(fields: &str) -> Option<String> {
    let lower = format!(" {}", fields.to_ascii_lowercase());
    // Offsets in `lower` are one ahead of `fields` (the leading space).
    let at = lower.find(" name=\"")? + " name=\"".len() - 1;
    let mut out = String::new();
    let mut chars = fields[at..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_name_parses_the_logged_form() {
        let table = [
            (r#"name="Thunderbird" version="115.0""#, Some("Thunderbird")),
            (r#"version="1" NAME="K-9 \"Mail\"""#, Some("K-9 \"Mail\"")),
            (r#"name=NIL"#, None),
            (r#"vendor="x" os-name="y""#, None),
            (r#"name="unterminated"#, None),
        ];
        for (fields, want) in table {
            assert_eq!(id_name(fields).as_deref(), want, "{fields}");
        }
    }

    #[test]
    fn who_lists_logged_in_sessions_and_kick_signals_them() {
        let t = SessionTable::default();
        let peer: SocketAddr = "192.0.2.7:1234".parse().unwrap();
        let a = t.register(Proto::Imap, peer, false);
        let b = t.register(Proto::Pop3s, peer, true);
        let _anon = t.register(Proto::Imap, peer, false);
        assert!(t.who().is_empty(), "nobody logged in yet");
        a.set_user("alice");
        a.set_tls();
        a.set_client_from_id(r#"name="mutt""#);
        b.set_user("bob");
        let who = t.who();
        assert_eq!(who.len(), 2);
        assert_eq!(
            (who[0].user.as_str(), who[0].protocol.as_str(), who[0].tls),
            ("alice", "imap", true)
        );
        assert_eq!(who[0].client.as_deref(), Some("mutt"));
        assert_eq!(who[1].ip, "192.0.2.7");
        let rx = a.kicked();
        assert_eq!(t.kick("alice"), 1);
        assert!(*rx.borrow());
        assert!(!*b.kicked().borrow());
        assert_eq!(t.kick("nobody"), 0);
        drop(a);
        assert_eq!(t.who().len(), 1);
        let mut counts = t.counts();
        counts.sort_by_key(|c| c.0.name());
        assert_eq!(
            counts,
            vec![(Proto::Imap, false, 1), (Proto::Pop3s, true, 1)]
        );
    }
}
