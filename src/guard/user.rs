//! The per-user half of the login penalty: failures counted by the user name tried, from
//! any address, so guessing one account's password from many addresses (a botnet) is
//! slowed as much as guessing from one.
//!
//! Deliberately a delay only, never a ban: a ban keyed on a user name would let anyone
//! lock a real user out by failing on purpose. The delay is capped (`auth.penalty_max_secs`)
//! and only paid on failures, so the real user with the right password is never slowed;
//! their successful login also forgives the name's earlier failures.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// User names whose failures are remembered at once; beyond it the stalest is forgotten,
/// so guessing many made-up names costs bounded memory.
const MAX_TRACKED_USERS: usize = 100_000;

/// Longest user name kept as a key; longer names are cut (no real name is this long, and
/// a megabyte of name must not become a megabyte of memory).
const MAX_NAME: usize = 256;

/// Recent failures per user name.
#[derive(Default)]
pub struct UserFailures {
    inner: Mutex<HashMap<String, VecDeque<Instant>>>,
}

fn key(user: &str) -> String {
    let mut end = user.len().min(MAX_NAME);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    user[..end].to_owned()
}

impl UserFailures {
    /// Record a failure for `user`; how many failures it has within `window` now.
    pub fn failure(&self, user: &str, window: Duration) -> usize {
        let now = Instant::now();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = key(user);
        if !map.contains_key(&key) && map.len() >= MAX_TRACKED_USERS {
            let stalest = map
                .iter()
                .min_by_key(|(_, times)| times.back().copied())
                .map(|(k, _)| k.clone());
            if let Some(k) = stalest {
                map.remove(&k);
            }
        }
        let times = map.entry(key).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            times.pop_front();
        }
        times.push_back(now);
        // Enough to reach the delay ceiling (2^20 times the base).
        while times.len() > 32 {
            times.pop_front();
        }
        times.len()
    }

    /// A successful login forgives the user's failures.
    pub fn success(&self, user: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&key(user));
    }

    /// Forget names whose last failure is older than `window`.
    pub fn expire(&self, window: Duration) {
        let now = Instant::now();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) <= window)
        });
    }

    /// Names tracked now.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no name is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_name_forgives_on_success_and_bounds_keys() {
        let u = UserFailures::default();
        let w = Duration::from_secs(60);
        assert_eq!(u.failure("alice", w), 1);
        assert_eq!(u.failure("alice", w), 2);
        assert_eq!(u.failure("bob", w), 1);
        u.success("alice");
        assert_eq!(u.failure("alice", w), 1);
        let long = "é".repeat(1000);
        u.failure(&long, w);
        assert!(u.inner.lock().unwrap().keys().all(|k| k.len() <= MAX_NAME));
        u.expire(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        u.expire(Duration::from_millis(1));
        assert!(u.is_empty());
    }
}
