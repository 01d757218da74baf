//! Login abuse defences shared by every IMAP and POP3 session: a per-IP failure penalty
//! that doubles up to `auth.penalty_max_secs` (like Dovecot's anvil), the same penalty per
//! user name tried ([`user`]: a delay, never a ban), and temporary bans of addresses after
//! `auth.ban_after_failures` failures within `auth.ban_window_secs`.
//!
//! Bans live in the server process. So that `roost ban list|clear` (another process) can see
//! and lift them, the server mirrors them into `{data_dir}/bans` (replaced atomically whenever
//! they change) and picks up lift requests that `roost ban clear` appends to
//! `{data_dir}/bans.clear`, checked every second by [`LoginGuard::tick`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use roost_config::{Cidr, Config};

pub mod user;

/// The state file of bans, one `IP UNIX-TIME-THE-BAN-ENDS` per line.
pub const BANS_FILE: &str = "bans";
/// Requests to lift bans, one IP or `all` per line; the server consumes the file.
pub const CLEAR_FILE: &str = "bans.clear";

/// Addresses whose failures are remembered at once; beyond it the stalest is forgotten,
/// so a botnet of many addresses costs bounded memory.
const MAX_TRACKED: usize = 100_000;

/// The guard's settings, from `auth.*`.
#[derive(Debug, Clone)]
pub struct GuardSettings {
    /// Delay after the first failure; doubles with each further one.
    pub base_delay: Duration,
    /// Ceiling of the delay.
    pub max_delay: Duration,
    /// Failures within `window` that ban an address; 0 never bans.
    pub ban_after: u32,
    /// How long failures are remembered.
    pub window: Duration,
    /// How long a ban lasts.
    pub ban_for: Duration,
    /// Networks never banned.
    pub allow: Vec<Cidr>,
}

impl GuardSettings {
    /// The settings of a configuration.
    pub fn from_config(config: &Config) -> GuardSettings {
        let a = &config.auth;
        GuardSettings {
            base_delay: Duration::from_millis(a.failure_delay_ms),
            max_delay: Duration::from_secs(a.penalty_max_secs),
            ban_after: a.ban_after_failures,
            window: Duration::from_secs(a.ban_window_secs),
            ban_for: Duration::from_secs(a.ban_secs),
            allow: a.ban_allow.clone(),
        }
    }
}

/// What the driver does after a failed login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Penalty {
    /// Wait this long before answering.
    pub delay: Duration,
    /// The address is banned now: close the connection after answering.
    pub banned: bool,
}

#[derive(Default)]
struct Inner {
    /// Recent failure times per address, oldest first.
    failures: HashMap<IpAddr, VecDeque<Instant>>,
    /// Banned addresses and when each ban ends.
    bans: BTreeMap<IpAddr, SystemTime>,
}

/// Failure counts and bans of one server; shared by all sessions.
pub struct LoginGuard {
    settings: GuardSettings,
    /// `data_dir`, where the state and request files live; None keeps bans in memory only.
    dir: Option<PathBuf>,
    inner: Mutex<Inner>,
    /// Failures per user name tried, from any address.
    users: user::UserFailures,
}

impl LoginGuard {
    /// A guard with `settings`, mirroring bans into `dir` when given. Bans still running
    /// from a previous server process are loaded, so a restart does not lift them.
    pub fn new(settings: GuardSettings, dir: Option<PathBuf>) -> LoginGuard {
        let mut inner = Inner::default();
        if let Some(dir) = &dir {
            let now = SystemTime::now();
            if let Ok(bans) = read_bans(&dir.join(BANS_FILE)) {
                inner.bans = bans.into_iter().filter(|(_, end)| *end > now).collect();
            }
        }
        LoginGuard {
            settings,
            dir,
            inner: Mutex::new(inner),
            users: user::UserFailures::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; it is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a failed login from `ip`: how long to wait before answering, and whether the
    /// address is banned now. The delay depends only on the address, never on whether the
    /// user exists, so the answer's timing reveals nothing about users.
    pub fn failure(&self, ip: IpAddr) -> Penalty {
        let now = Instant::now();
        let ip = canonical(ip);
        let (count, newly_banned) = {
            let mut inner = self.lock();
            if !inner.failures.contains_key(&ip) && inner.failures.len() >= MAX_TRACKED {
                forget_stalest(&mut inner.failures);
            }
            let times = inner.failures.entry(ip).or_default();
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.settings.window)
            {
                times.pop_front();
            }
            times.push_back(now);
            // Enough to reach both the ban threshold and the delay ceiling.
            let keep = (self.settings.ban_after as usize).max(32);
            while times.len() > keep {
                times.pop_front();
            }
            let count = times.len();
            let ban = self.settings.ban_after > 0
                && count >= self.settings.ban_after as usize
                && !self.settings.allow.iter().any(|n| n.contains(ip));
            let newly = ban && !inner.bans.contains_key(&ip);
            if ban {
                inner
                    .bans
                    .insert(ip, SystemTime::now() + self.settings.ban_for);
                inner.failures.remove(&ip);
            }
            (count, newly)
        };
        if newly_banned {
            tracing::warn!(
                ip = %ip,
                failures = count,
                ban_secs = self.settings.ban_for.as_secs(),
                "address banned after repeated login failures"
            );
            self.save();
        }
        Penalty {
            delay: self.delay_for(count),
            banned: self.is_banned(ip),
        }
    }

    /// Record a failed login from `ip` naming `user` (when the client named one): the delay
    /// is the larger of the address's and the name's growing penalty, so many addresses
    /// guessing one password are slowed like one. Only addresses are banned.
    pub fn failure_for(&self, ip: IpAddr, user: Option<&str>) -> Penalty {
        let mut penalty = self.failure(ip);
        if let Some(user) = user {
            let count = self.users.failure(user, self.settings.window);
            penalty.delay = penalty.delay.max(self.delay_for(count));
        }
        penalty
    }

    /// A successful login of `user` from `ip` forgives the failures of both.
    pub fn success_for(&self, ip: IpAddr, user: &str) {
        self.success(ip);
        self.users.success(user);
    }

    /// `base * 2^(count-1)`, capped.
    fn delay_for(&self, count: usize) -> Duration {
        let doublings = u32::try_from(count.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(20);
        self.settings
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.settings.max_delay)
    }

    /// A successful login from `ip` forgives its earlier failures.
    pub fn success(&self, ip: IpAddr) {
        self.lock().failures.remove(&canonical(ip));
    }

    /// Whether `ip` is banned right now.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.lock()
            .bans
            .get(&ip)
            .is_some_and(|end| *end > SystemTime::now())
    }

    /// Current bans and when each ends.
    pub fn bans(&self) -> Vec<(IpAddr, SystemTime)> {
        let now = SystemTime::now();
        self.lock()
            .bans
            .iter()
            .filter(|(_, end)| **end > now)
            .map(|(ip, end)| (*ip, *end))
            .collect()
    }

    /// Lift the ban of `ip`, or every ban; how many were lifted.
    pub fn clear(&self, ip: Option<IpAddr>) -> usize {
        let lifted = {
            let mut inner = self.lock();
            match ip {
                None => {
                    let n = inner.bans.len();
                    inner.bans.clear();
                    inner.failures.clear();
                    n
                }
                Some(ip) => {
                    let ip = canonical(ip);
                    inner.failures.remove(&ip);
                    usize::from(inner.bans.remove(&ip).is_some())
                }
            }
        };
        if lifted > 0 {
            self.save();
        }
        lifted
    }

    /// Housekeeping, once a second: lift requests from `roost ban clear`, expired bans,
    /// forgotten failures.
    pub fn tick(&self) {
        if let Some(dir) = &self.dir {
            for request in take_clear_requests(dir) {
                let n = self.clear(request);
                let what = request.map_or("all".to_string(), |ip| ip.to_string());
                tracing::info!(ip = what, lifted = n, "ban lifted by `roost ban clear`");
            }
        }
        let now = SystemTime::now();
        let instant = Instant::now();
        let expired = {
            let mut inner = self.lock();
            let before = inner.bans.len();
            inner.bans.retain(|_, end| *end > now);
            let window = self.settings.window;
            inner.failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| instant.duration_since(*t) <= window)
            });
            before != inner.bans.len()
        };
        self.users.expire(self.settings.window);
        if expired {
            self.save();
        }
    }

    /// Replace the state file with the current bans; a reader never sees half a file.
    fn save(&self) {
        let Some(dir) = &self.dir else { return };
        let bans = self.bans();
        if let Err(e) = write_bans(dir, &bans) {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot write the bans file");
        }
    }
}

/// An IPv4 client on a dual-stack socket is the same client as over IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn forget_stalest(failures: &mut HashMap<IpAddr, VecDeque<Instant>>) {
    let stalest = failures
        .iter()
        .min_by_key(|(_, times)| times.back().copied())
        .map(|(ip, _)| *ip);
    if let Some(ip) = stalest {
        failures.remove(&ip);
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn write_bans(dir: &Path, bans: &[(IpAddr, SystemTime)]) -> io::Result<()> {
    let mut text = String::from(
        "# Banned addresses and the Unix time each ban ends; written by `roost serve`.\n\
         # Lift one with `roost ban clear IP` (never edit this file: the server rewrites it).\n",
    );
    for (ip, end) in bans {
        text.push_str(&format!("{ip} {}\n", unix(*end)));
    }
    let tmp = dir.join(format!("{BANS_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(BANS_FILE))
}

/// Why the bans file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BanFileError {
    /// Reading failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A line is not `IP UNIX-TIME`.
    #[error("{path}:{line}: expected `IP UNIX-TIME`")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// The bans recorded in a state file (a missing file has none).
pub fn read_bans(path: &Path) -> Result<Vec<(IpAddr, SystemTime)>, BanFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(BanFileError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut bans = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let syntax = || BanFileError::Syntax {
            path: path.to_path_buf(),
            line: i + 1,
        };
        let (ip, end) = line.split_once(' ').ok_or_else(syntax)?;
        let ip: IpAddr = ip.parse().map_err(|_| syntax())?;
        let end: u64 = end.trim().parse().map_err(|_| syntax())?;
        bans.push((ip, UNIX_EPOCH + Duration::from_secs(end)));
    }
    Ok(bans)
}

/// Ask the running server to lift the ban of `ip` (or all bans); it does within a second.
pub fn request_clear(data_dir: &Path, ip: Option<IpAddr>) -> io::Result<()> {
    let line = ip.map_or("all".to_string(), |ip| ip.to_string());
    // Appends of one short line are atomic, so concurrent requests do not mix.
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join(CLEAR_FILE))?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// Consume pending lift requests: None is "all". The file is renamed first, so a request
/// appended meanwhile lands in a new file and is seen on the next tick.
fn take_clear_requests(dir: &Path) -> Vec<Option<IpAddr>> {
    let file = dir.join(CLEAR_FILE);
    let taken = dir.join(format!("{CLEAR_FILE}.taken"));
    if std::fs::rename(&file, &taken).is_err() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&taken).unwrap_or_default();
    let _ = std::fs::remove_file(&taken);
    text.lines()
        .map(str::trim)
        .filter_map(|l| match l {
            "" => None,
            "all" => Some(None),
            ip => match ip.parse() {
                Ok(ip) => Some(Some(ip)),
                Err(_) => {
                    tracing::warn!(line = ip, "ignoring a bad line in {CLEAR_FILE}");
                    None
                }
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ban_after: u32, allow: &[&str]) -> GuardSettings {
        GuardSettings {
            base_delay: Duration::from_millis(2000),
            max_delay: Duration::from_secs(15),
            ban_after,
            window: Duration::from_secs(300),
            ban_for: Duration::from_secs(900),
            allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn delay_doubles_up_to_the_ceiling_and_success_resets_it() {
        let g = LoginGuard::new(settings(0, &[]), None);
        let a = ip("192.0.2.1");
        let secs: Vec<u64> = (0..6)
            .map(|_| g.failure(a).delay.as_millis() as u64)
            .collect();
        assert_eq!(secs, [2000, 4000, 8000, 15000, 15000, 15000]);
        // Another address is not affected.
        assert_eq!(g.failure(ip("192.0.2.2")).delay, Duration::from_secs(2));
        g.success(a);
        assert_eq!(g.failure(a).delay, Duration::from_secs(2));
        assert!(!g.is_banned(a), "ban_after 0 never bans");
    }

    #[test]
    fn the_user_penalty_follows_the_name_across_addresses_and_never_bans() {
        let g = LoginGuard::new(settings(3, &[]), None);
        // A botnet: every guess from a new address, all at alice.
        let delays: Vec<u64> = (1..=5)
            .map(|i| {
                let p = g.failure_for(ip(&format!("198.51.100.{i}")), Some("alice"));
                assert!(!p.banned, "a name is never banned");
                p.delay.as_secs()
            })
            .collect();
        assert_eq!(delays, [2, 4, 8, 15, 15]);
        for i in 1..=5 {
            assert!(
                !g.is_banned(ip(&format!("198.51.100.{i}"))),
                "one failure each"
            );
        }
        // Another name from a fresh address starts at the base delay.
        assert_eq!(
            g.failure_for(ip("198.51.100.9"), Some("bob")).delay,
            Duration::from_secs(2)
        );
        // The real alice logging in forgives her name.
        g.success_for(ip("192.0.2.7"), "alice");
        assert_eq!(
            g.failure_for(ip("198.51.100.10"), Some("alice")).delay,
            Duration::from_secs(2)
        );
        // No name (a malformed SASL exchange): the address alone counts.
        assert_eq!(
            g.failure_for(ip("198.51.100.11"), None).delay,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn ban_after_n_failures_except_allowed_networks_and_mapped_v4() {
        let g = LoginGuard::new(settings(3, &["10.0.0.0/8"]), None);
        let a = ip("192.0.2.1");
        assert!(!g.failure(a).banned);
        // The same client seen through a dual-stack socket counts together.
        assert!(!g.failure(ip("::ffff:192.0.2.1")).banned);
        assert!(g.failure(a).banned);
        assert!(g.is_banned(a) && g.is_banned(ip("::ffff:192.0.2.1")));
        let allowed = ip("10.1.2.3");
        for _ in 0..5 {
            assert!(!g.failure(allowed).banned);
        }
        assert_eq!(g.bans().len(), 1);
        assert_eq!(g.clear(Some(a)), 1);
        assert!(!g.is_banned(a));
        assert!(!g.failure(a).banned, "the failures were forgotten too");
    }

    #[test]
    fn state_file_and_clear_requests_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let g = LoginGuard::new(settings(1, &[]), Some(dir.clone()));
        g.failure(ip("192.0.2.1"));
        g.failure(ip("2001:db8::1"));
        let on_disk = read_bans(&dir.join(BANS_FILE)).unwrap();
        let ips: Vec<IpAddr> = on_disk.iter().map(|(i, _)| *i).collect();
        assert_eq!(ips, [ip("192.0.2.1"), ip("2001:db8::1")]);
        // A new process loads the running bans.
        let again = LoginGuard::new(settings(1, &[]), Some(dir.clone()));
        assert!(again.is_banned(ip("2001:db8::1")));

        request_clear(&dir, Some(ip("192.0.2.1"))).unwrap();
        g.tick();
        assert!(!g.is_banned(ip("192.0.2.1")));
        assert!(g.is_banned(ip("2001:db8::1")));
        assert_eq!(read_bans(&dir.join(BANS_FILE)).unwrap().len(), 1);
        assert!(!dir.join(CLEAR_FILE).exists());
        request_clear(&dir, None).unwrap();
        g.tick();
        assert!(g.bans().is_empty());
        assert!(read_bans(&dir.join(BANS_FILE)).unwrap().is_empty());
    }

    #[test]
    fn bad_state_files_are_errors_not_panics() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join(BANS_FILE);
        assert!(read_bans(&f).unwrap().is_empty(), "missing file");
        for bad in ["1.2.3.4\n", "nonsense 12\n", "1.2.3.4 -5\n", "1.2.3.4 x\n"] {
            std::fs::write(&f, bad).unwrap();
            assert!(
                matches!(read_bans(&f), Err(BanFileError::Syntax { line: 1, .. })),
                "{bad:?}"
            );
        }
        // A corrupt file does not stop the server: it starts with no bans.
        let g = LoginGuard::new(settings(1, &[]), Some(tmp.path().to_path_buf()));
        assert!(g.bans().is_empty());
    }
}
