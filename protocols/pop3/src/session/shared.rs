//! State shared by all POP3 sessions of a server: maildrop locks, last logins, and the
//! login gate type.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Decides whether a user may log in (e.g. the per user+IP connection limit); the
/// returned guard is held for the session's lifetime. `None` refuses the login.
pub type LoginGate = Arc<dyn Fn(&str) -> Option<Box<dyn Send>> + Send + Sync>;

/// In-process registry of locked maildrops, shared by all POP3 sessions of a server.
/// IMAP never looks at it, so IMAP is never blocked by POP3.
#[derive(Debug, Clone, Default)]
pub struct MaildropLocks(Arc<Mutex<HashSet<String>>>);

/// Holds one user's maildrop lock; dropping it releases the lock.
#[derive(Debug)]
pub struct MaildropLock {
    user: String,
    locks: MaildropLocks,
}

impl MaildropLocks {
    /// Locks `user`'s maildrop, or `None` when another session holds it.
    pub fn try_lock(&self, user: &str) -> Option<MaildropLock> {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(user.to_owned()).then(|| MaildropLock {
            user: user.to_owned(),
            locks: self.clone(),
        })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        let mut set = self.locks.0.lock().unwrap_or_else(|p| p.into_inner());
        set.remove(&self.user);
    }
}

/// When each user last logged in over POP3, for RFC 2449 LOGIN-DELAY; shared by all
/// POP3 sessions of a server.
#[derive(Debug, Clone, Default)]
pub struct LoginDelays(Arc<Mutex<HashMap<String, Instant>>>);

impl LoginDelays {
    /// Records a login of `user` now, unless the previous one is less than `delay` ago;
    /// returns false then. A zero delay always allows.
    pub fn allow(&self, user: &str, delay: Duration) -> bool {
        if delay.is_zero() {
            return true;
        }
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Forget entries that can no longer refuse anything, so the map stays small.
        map.retain(|_, t| now.duration_since(*t) < delay);
        if map.contains_key(user) {
            return false;
        }
        map.insert(user.to_owned(), now);
        true
    }
}
