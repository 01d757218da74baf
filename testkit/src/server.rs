//! A real Dovecot IMAP + POP3 server on 127.0.0.1, in a temp dir, for end-to-end tests that
//! need a mature server on the other end (the old server of `roost import`, a benchmark
//! baseline).
//!
//! Everything is generated: `dovecot.conf` (no system config is read), a passwd-file with
//! `{PLAIN}` passwords, a self-signed certificate for `localhost` and `127.0.0.1`, and one
//! Maildir per user under `home/<user>/Maildir` (Maildir++ layout, `/` as the IMAP
//! hierarchy separator). Mail belongs to `nobody`, because Dovecot refuses to serve mail as
//! root. Ports are picked free on 127.0.0.1. The master process runs in the foreground (`-F`)
//! as our child and is killed on drop.
//!
//! A missing Dovecot (`/usr/sbin/dovecot`, or `$ROOST_DOVECOT`) fails the test unless
//! `ROOST_SKIP_DOVECOT=1` is set. Needs root (Dovecot's master switches users).

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::dovecot::{available, chown_tree, doveadm_path, nobody, parse_status};

/// Where Debian's dovecot-core puts the master binary; `ROOST_DOVECOT` overrides it.
pub const DOVECOT: &str = "/usr/sbin/dovecot";
/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running Dovecot, stopped and removed on drop.
pub struct DovecotServer {
    /// Owns config, logs, certificate and mail.
    pub tmp: tempfile::TempDir,
    /// `imap` (plain + STARTTLS) listener.
    pub imap: SocketAddr,
    /// `imaps` (implicit TLS) listener.
    pub imaps: SocketAddr,
    /// `pop3` (plain + STLS) listener.
    pub pop3: SocketAddr,
    /// `pop3s` (implicit TLS) listener.
    pub pop3s: SocketAddr,
    /// The self-signed certificate (PEM) the server presents; pass it as `--ca-file`.
    pub cert_pem: PathBuf,
    conf: PathBuf,
    /// None until started (while `populate` runs).
    child: Option<Child>,
    uid: u32,
    gid: u32,
}

/// A free port on 127.0.0.1 (closed again, so Dovecot can bind it right after).
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr")
}

/// The master binary to run: `$ROOST_DOVECOT` or [`DOVECOT`].
pub fn dovecot_path() -> PathBuf {
    std::env::var_os("ROOST_DOVECOT").map_or_else(|| PathBuf::from(DOVECOT), PathBuf::from)
}

impl DovecotServer {
    /// Start Dovecot with these `(user, password)` accounts; `None` only when Dovecot is
    /// missing and `ROOST_SKIP_DOVECOT=1`. `populate` runs before the server starts, with
    /// the server's (not yet running) handle, so mail can be written straight into the
    /// Maildirs (fast, and with chosen flags and dates) before Dovecot first looks.
    pub fn start(
        users: &[(&str, &str)],
        populate: impl FnOnce(&DovecotServer),
    ) -> Option<DovecotServer> {
        let dovecot = dovecot_path();
        if !available(&dovecot, "dovecot-core, dovecot-imapd and dovecot-pop3d") {
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let t = tmp.path().to_path_buf();
        for d in ["run", "state", "home"] {
            std::fs::create_dir(t.join(d)).expect("mkdir");
        }
        // The login and mail processes run as other users and must get through.
        set_mode(&t, 0o755);
        let (uid, gid) = nobody();

        let cert = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .expect("self-signed certificate");
        let cert_pem = t.join("cert.pem");
        std::fs::write(&cert_pem, cert.cert.pem()).expect("write cert");
        std::fs::write(t.join("key.pem"), cert.signing_key.serialize_pem()).expect("write key");

        let mut passwd = String::new();
        for (user, password) in users {
            passwd.push_str(&format!("{user}:{{PLAIN}}{password}\n"));
            std::fs::create_dir_all(t.join("home").join(user).join("Maildir")).expect("mkdir");
        }
        std::fs::write(t.join("passwd"), passwd).expect("write passwd");

        let (imap, imaps, pop3, pop3s) = (free_port(), free_port(), free_port(), free_port());
        let conf = t.join("dovecot.conf");
        let td = t.display();
        let text = format!(
            r#"instance_name = roost-test-{pid}-{port}
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
  mailbox "Sent Messages" {{
    special_use = \Sent
  }}
  mailbox Trash {{
    special_use = \Trash
  }}
  mailbox Archive {{
    special_use = \Archive
  }}
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
    port = {pop3s_port}
    ssl = yes
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
            port = imap.port(),
            imap_port = imap.port(),
            imaps_port = imaps.port(),
            pop3_port = pop3.port(),
            pop3s_port = pop3s.port(),
        );
        std::fs::write(&conf, text).expect("write dovecot.conf");

        let mut server = DovecotServer {
            tmp,
            imap,
            imaps,
            pop3,
            pop3s,
            cert_pem,
            conf,
            child: None,
            uid,
            gid,
        };
        populate(&server);
        server.chown_tree(&server.tmp.path().join("home"));

        let log = std::fs::File::create(t.join("stderr.log")).expect("create log");
        let child = Command::new(&dovecot)
            .arg("-F")
            .arg("-c")
            .arg(&server.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn dovecot");
        // Stored at once, so a failed start below still stops it on drop.
        server.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        for addr in [imap, imaps, pop3, pop3s] {
            while TcpStream::connect(addr).is_err() {
                if let Some(Ok(Some(status))) = server.child.as_mut().map(Child::try_wait) {
                    panic!("dovecot exited with {status}:\n{}", server.log());
                }
                assert!(
                    Instant::now() < deadline,
                    "dovecot did not listen on {addr}:\n{}",
                    server.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(server)
    }

    /// The Maildir root (INBOX) of `user`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.tmp.path().join("home").join(user).join("Maildir")
    }

    /// Write `body` as a message of `user` in `folder` (`""` for INBOX, else the Maildir++
    /// directory name such as `.Work.Projects`), in `cur/` with these Maildir flag letters
    /// (e.g. `"FS"`, keyword letters `a`.. as listed in `dovecot-keywords`), and `mtime` as
    /// its INTERNALDATE. Call from `populate`, before Dovecot has looked at the folder.
    pub fn put_message(
        &self,
        user: &str,
        folder: &str,
        name: &str,
        body: &[u8],
        flags: &str,
        mtime: i64,
    ) {
        let dir = self.maildir(user).join(folder);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        if !folder.is_empty() {
            std::fs::write(dir.join("maildirfolder"), b"").expect("maildirfolder");
        }
        let path = dir.join("cur").join(format!("{name}:2,{flags}"));
        let mut f = std::fs::File::create(&path).expect("create message");
        f.write_all(body).expect("write message");
        let when = SystemTime::UNIX_EPOCH + Duration::from_secs(mtime as u64);
        f.set_modified(when).expect("set mtime");
    }

    /// Write `dovecot-keywords` of a folder: keyword `i` is flag letter `a + i`.
    pub fn put_keywords(&self, user: &str, folder: &str, names: &[&str]) {
        let dir = self.maildir(user).join(folder);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let text: String = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{i} {n}\n"))
            .collect();
        std::fs::write(dir.join("dovecot-keywords"), text).expect("write keywords");
    }

    /// Run `doveadm` against this server's config; panics with its stderr on failure.
    pub fn doveadm(&self, args: &[&str]) -> String {
        let out = Command::new(doveadm_path())
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()
            .expect("spawn doveadm");
        assert!(
            out.status.success(),
            "doveadm {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// (UIDVALIDITY, UIDNEXT) of `user`'s `mailbox` from `doveadm mailbox status`.
    pub fn status(&self, user: &str, mailbox: &str) -> (u32, u32) {
        let out = self.doveadm(&[
            "-f",
            "tab",
            "mailbox",
            "status",
            "-u",
            user,
            "uidvalidity uidnext",
            mailbox,
        ]);
        parse_status(&out)
    }

    /// Everything Dovecot logged so far.
    pub fn log(&self) -> String {
        let t = self.tmp.path();
        let mut s = std::fs::read_to_string(t.join("dovecot.log")).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(t.join("stderr.log")).unwrap_or_default());
        s
    }

    /// Give `path` and everything below to the mail user.
    pub fn chown_tree(&self, path: &Path) {
        chown_tree(path, self.uid, self.gid);
    }
}

impl Drop for DovecotServer {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        // SIGTERM lets the master take its children (login, imap, pop3) down with it.
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: signalling our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn server_serves_populated_mail_over_pop3() {
        let Some(dv) = DovecotServer::start(&[("kit", "pw")], |s| {
            s.put_keywords("kit", "", &["Work"]);
            s.put_message(
                "kit",
                "",
                "1000.M1P1.kit",
                b"Subject: a\n\nbody\n",
                "Sa",
                1_000,
            );
        }) else {
            return;
        };
        let stream = TcpStream::connect(dv.pop3).expect("connect");
        let mut r = BufReader::new(stream.try_clone().expect("clone"));
        let mut w = stream;
        let mut line = String::new();
        r.read_line(&mut line).expect("greeting");
        assert!(line.starts_with("+OK"), "{line}");
        w.write_all(b"USER kit\r\nPASS pw\r\nSTAT\r\n")
            .expect("write");
        for _ in 0..3 {
            line.clear();
            r.read_line(&mut line).expect("reply");
            assert!(line.starts_with("+OK"), "{line}\n{}", dv.log());
        }
        assert!(line.starts_with("+OK 1 "), "{line}");
        let out = dv.doveadm(&[
            "-f", "tab", "fetch", "-u", "kit", "flags", "mailbox", "INBOX", "all",
        ]);
        assert!(out.contains("Work"), "{out}");
        assert_eq!(dv.status("kit", "INBOX").1, 2);
    }
}
