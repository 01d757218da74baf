//! The servers under test: where they listen, where their Maildirs are, which processes
//! are theirs; and starting Roost and Dovecot side by side on 127.0.0.1 with the same users,
//! the same `{PLAIN}` passwords and the same messages.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections one user may hold from 127.0.0.1: the idle workload puts all of them on one
/// user, so both servers get a limit above the largest idle count.
pub const MAX_USER_CONNECTIONS: usize = 30_000;

/// A server the workloads drive.
#[derive(Clone, Debug)]
pub struct Target {
    /// Shown in the table (`Roost`, `Dovecot`).
    pub name: String,
    /// IMAP (plain) listener.
    pub imap: Option<SocketAddr>,
    /// IMAP over implicit TLS.
    pub imaps: Option<SocketAddr>,
    /// POP3 (plain) listener.
    pub pop3: Option<SocketAddr>,
    /// Every benchmark user's password.
    pub password: String,
    /// Maildir of a user, `{user}` replaced; needed to deliver by dropping files into `new/`.
    pub maildir: Option<String>,
    /// The server's (master) process; memory is the PSS sum of it and its descendants.
    pub pid: Option<u32>,
    /// Owner to give directories created for the server (Dovecot serves mail as `nobody`).
    pub owner: Option<(u32, u32)>,
}

impl Target {
    /// The Maildir of `user`, if known.
    pub fn maildir_of(&self, user: &str) -> Option<PathBuf> {
        self.maildir
            .as_ref()
            .map(|t| PathBuf::from(t.replace("{user}", user)))
    }

    /// The address of a listener, or an error naming it.
    pub fn addr(&self, which: &str) -> Result<SocketAddr> {
        match which {
            "imap" => self.imap,
            "imaps" => self.imaps,
            "pop3" => self.pop3,
            _ => None,
        }
        .with_context(|| format!("{}: no {which} address given", self.name))
    }
}

/// A spawned server process, killed on drop.
pub struct Running {
    /// What the workloads need to know.
    pub target: Target,
    child: Child,
    log: PathBuf,
}

impl Running {
    /// The server's log so far (for error messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signalling our own child; SIGTERM lets Dovecot's master stop its children.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process tree: the sum of `Pss:` over `root` and all descendants, KiB.
pub fn tree_pss_kib(root: u32) -> Result<u64> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may exit between readdir and read; it then simply does not count.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(ppid) = parent_of(&stat) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let (mut total, mut todo) = (0, vec![root]);
    while let Some(pid) = todo.pop() {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            total += pss_of(&text).unwrap_or(0);
        }
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    Ok(total)
}

/// The parent pid from `/proc/<pid>/stat` (the comm field may contain spaces and `)`).
fn parent_of(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The `Pss:` value (KiB) of a `smaps_rollup` text.
fn pss_of(rollup: &str) -> Option<u64> {
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Write `body` into `maildir/new` the way an MTA does (via `tmp/`, then rename).
pub fn deliver(maildir: &Path, name: &str, body: &[u8]) -> Result<()> {
    let tmp = maildir.join("tmp").join(name);
    std::fs::write(&tmp, body).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, maildir.join("new").join(name))?;
    Ok(())
}

/// Create a Maildir (`cur`, `new`, `tmp`), owned by `owner` if given.
pub fn make_maildir(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(path.join(sub))
            .with_context(|| format!("mkdir {}", path.display()))?;
    }
    if let Some((uid, gid)) = owner {
        // Everything from the server's home down to the Maildir's subdirectories.
        let mut dirs = vec![path.join("cur"), path.join("new"), path.join("tmp")];
        let mut p = Some(path);
        while let Some(d) = p {
            dirs.push(d.to_path_buf());
            if d.file_name().is_some_and(|n| n == "home") {
                break;
            }
            p = d.parent();
        }
        for d in dirs {
            std::os::unix::fs::chown(&d, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", d.display()))?;
        }
    }
    Ok(())
}

fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// `nobody`'s uid and gid, which Dovecot serves mail as (it refuses root).
fn nobody() -> Result<(u32, u32)> {
    // SAFETY: getpwnam with a NUL-terminated literal; the result is read at once, before any
    // other passwd call could overwrite the static buffer.
    let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
    if pw.is_null() {
        bail!("no user `nobody` for Dovecot's mail processes");
    }
    // SAFETY: non-null pointer from getpwnam.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// Wait until `addr` accepts, or the process died, or time is up.
fn wait_listening(child: &mut Child, addr: SocketAddr, log: &Path) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!(
                "server exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            bail!("server did not listen on {addr} within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Where a Roost under test keeps everything: `dir/roost.yaml`, `dir/data/...`.
pub struct RoostSetup {
    /// Base directory.
    pub dir: PathBuf,
}

impl RoostSetup {
    /// Lay out `dir` with a users file of `users` (all with `password`, `{PLAIN}`).
    pub fn new(dir: &Path, users: &[String], password: &str) -> Result<RoostSetup> {
        std::fs::create_dir_all(dir.join("data/mail"))?;
        let passwd: String = users
            .iter()
            .map(|u| format!("{u}:{{PLAIN}}{password}\n"))
            .collect();
        std::fs::write(dir.join("data/users"), passwd)?;
        Ok(RoostSetup {
            dir: dir.to_path_buf(),
        })
    }

    /// The Maildir template.
    pub fn maildir(&self) -> String {
        format!("{}/data/mail/{{user}}/Maildir", self.dir.display())
    }

    /// Start `roost serve` (the binary at `roost`) and read its listening addresses.
    pub fn start(&self, roost: &Path, password: &str) -> Result<Running> {
        let config = self.dir.join("roost.yaml");
        // Production defaults (fsync on, as Dovecot's default fsync_mode); only the
        // listeners and the connection limits the workloads need are set.
        let yaml = format!(
            "data_dir: {}/data\n\
             listen:\n  imap: [\"127.0.0.1:0\"]\n  imaps: [\"127.0.0.1:0\"]\n  \
             pop3: [\"127.0.0.1:0\"]\n  pop3s: []\n  lmtp: []\n\
             log:\n  level: warn\n\
             limits:\n  max_connections: {MAX_USER_CONNECTIONS}\n  \
             max_connections_per_user_ip: {MAX_USER_CONNECTIONS}\n  \
             max_connections_per_ip: {MAX_USER_CONNECTIONS}\n",
            self.dir.display()
        );
        std::fs::write(&config, yaml)?;
        let log = self.dir.join("stderr.log");
        let mut child = Command::new(roost)
            .args(["serve", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("spawn {}", roost.display()))?;
        let stdout = child.stdout.take().context("roost stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keeps draining stdout for the server's lifetime so it never blocks on a pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut addrs: HashMap<String, SocketAddr> = HashMap::new();
        let deadline = Instant::now() + START_TIMEOUT;
        while addrs.len() < 3 {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                bail!(
                    "roost did not print its 3 listening lines:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            };
            if let Some((proto, addr)) = line
                .strip_prefix("listening ")
                .and_then(|r| r.split_once(' '))
            {
                addrs.insert(proto.to_string(), addr.parse()?);
            }
        }
        let target = Target {
            name: "Roost".into(),
            imap: addrs.get("imap").copied(),
            imaps: addrs.get("imaps").copied(),
            pop3: addrs.get("pop3").copied(),
            password: password.into(),
            maildir: Some(self.maildir()),
            pid: Some(child.id()),
            owner: None,
        };
        Ok(Running { target, child, log })
    }
}

/// A Dovecot under test: generated config, passwd-file, certificate, Maildirs in `dir`.
pub struct DovecotSetup {
    /// Base directory.
    pub dir: PathBuf,
    /// Mail owner.
    pub owner: (u32, u32),
}

impl DovecotSetup {
    /// Lay out `dir` with a passwd-file of `users` (all with `password`, `{PLAIN}`).
    pub fn new(dir: &Path, users: &[String], password: &str) -> Result<DovecotSetup> {
        for d in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        use std::os::unix::fs::PermissionsExt;
        // Login and mail processes run as other users and must get through.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        let passwd: String = users
            .iter()
            .map(|u| format!("{u}:{{PLAIN}}{password}\n"))
            .collect();
        std::fs::write(dir.join("passwd"), passwd)?;
        let owner = nobody()?;
        std::os::unix::fs::chown(dir.join("home"), Some(owner.0), Some(owner.1))?;
        Ok(DovecotSetup {
            dir: dir.to_path_buf(),
            owner,
        })
    }

    /// The Maildir template.
    pub fn maildir(&self) -> String {
        format!("{}/home/{{user}}/Maildir", self.dir.display())
    }

    /// Write the config and start `dovecot -F` (the binary at `dovecot`).
    pub fn start(&self, dovecot: &Path, password: &str) -> Result<Running> {
        let t = &self.dir;
        let cert =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
        std::fs::write(t.join("cert.pem"), cert.cert.pem())?;
        std::fs::write(t.join("key.pem"), cert.signing_key.serialize_pem())?;
        let (imap, imaps, pop3) = (free_port()?, free_port()?, free_port()?);
        let td = t.display();
        let (uid, gid) = self.owner;
        // Debian's defaults except what a benchmark must change: listeners on loopback,
        // {PLAIN} passwd-file, and process/connection limits high enough for the idle
        // workload (Dovecot runs one imap process per session).
        let text = format!(
            r#"instance_name = roost-bench-{pid}
base_dir = {td}/run
state_dir = {td}/state
log_path = {td}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{td}/cert.pem
ssl_key = <{td}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 0
first_valid_gid = 0
mail_location = maildir:~/Maildir
default_process_limit = {limit}
default_client_limit = {clients}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {td}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={td}/home/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
protocol imap {{
  mail_max_userip_connections = {clients}
}}
protocol pop3 {{
  mail_max_userip_connections = {clients}
}}
service imap {{
  process_limit = {limit}
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"#,
            pid = std::process::id(),
            limit = MAX_USER_CONNECTIONS / 2,
            clients = MAX_USER_CONNECTIONS,
            imap_port = imap.port(),
            imaps_port = imaps.port(),
            pop3_port = pop3.port(),
        );
        let conf = t.join("dovecot.conf");
        std::fs::write(&conf, text)?;
        let log = t.join("stderr.log");
        let mut child = Command::new(dovecot)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| format!("spawn {}", dovecot.display()))?;
        for addr in [imap, imaps, pop3] {
            if let Err(e) = wait_listening(&mut child, addr, &log) {
                let _ = child.kill();
                let _ = child.wait();
                let dlog = std::fs::read_to_string(t.join("dovecot.log")).unwrap_or_default();
                return Err(e.context(dlog));
            }
        }
        let target = Target {
            name: "Dovecot".into(),
            imap: Some(imap),
            imaps: Some(imaps),
            pop3: Some(pop3),
            password: password.into(),
            maildir: Some(self.maildir()),
            pid: Some(child.id()),
            owner: Some(self.owner),
        };
        Ok(Running {
            target,
            child,
            log: t.join("dovecot.log"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        assert_eq!(parent_of("123 (imap) S 77 123 123 0"), Some(77));
        assert_eq!(parent_of("9 (a) b) c) R 4 9"), Some(4));
        assert_eq!(parent_of("garbage"), None);
        let rollup = "00400000-7ff [rollup]\nRss:   9000 kB\nPss:   4321 kB\nPss_Anon: 1 kB\n";
        assert_eq!(pss_of(rollup), Some(4321));
        assert_eq!(pss_of("Rss: 1 kB\n"), None);
    }

    #[test]
    fn our_own_process_has_memory() {
        let pss = tree_pss_kib(std::process::id()).unwrap();
        assert!(pss > 100, "{pss} KiB");
    }
}
