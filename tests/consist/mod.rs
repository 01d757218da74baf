//! Clients and checks for the consistency and soak tests: small blocking IMAP, POP3 and LMTP
//! clients that report failures as `io::Error` (a server may be killed under them), the
//! outside writers (`mv` into `new/`, `roost deliver`), and the final whole-mailbox check.

#![allow(dead_code)] // each test file uses a different subset

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Server, config_yaml_lmtp, let_unprivileged_in};

/// Longest a client waits for one answer before the test calls it a hang.
pub const CLIENT_WAIT: Duration = Duration::from_secs(30);

/// The users file of the consistency and soak tests.
pub const USERS: &str = "alice:{PLAIN}pw::::::\n";

/// Start `roost serve` in `dir` on `data` (perhaps another server's), LMTP included.
pub fn start(dir: &Path, data: &Path) -> Server {
    Server::start_with_users(dir, config_yaml_lmtp(data), USERS, 5)
}

/// Server dirs `a` and `b` below `tmp` and the one data dir (in `a`) both serve, as two
/// machines on shared storage would.
pub fn two_server_dirs(tmp: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let_unprivileged_in(tmp);
    let (a_dir, b_dir) = (tmp.join("a"), tmp.join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let data = a_dir.join("data");
    (a_dir, b_dir, data)
}

/// A connection that gives up after [`CLIENT_WAIT`], split into its reading and writing
/// halves.
fn open(addr: SocketAddr) -> io::Result<(BufReader<TcpStream>, TcpStream)> {
    let tcp = TcpStream::connect_timeout(&addr, CLIENT_WAIT)?;
    tcp.set_read_timeout(Some(CLIENT_WAIT))?;
    Ok((BufReader::new(tcp.try_clone()?), tcp))
}

/// One line without its line end; end of stream is an error (the server went away).
fn read_line(r: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "server closed",
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(line)
}

fn proto_err(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

/// A message whose identity (`X-Id`) and content survive every path in: the part from
/// `X-Id:` on is compared, since LMTP adds a `Return-Path:` above it.
pub fn message(id: &str, lines: usize) -> Vec<u8> {
    let mut m = format!(
        "From: tester@example.org\r\nTo: alice@example.org\r\nSubject: {id}\r\nX-Id: {id}\r\n\r\n"
    );
    for i in 0..lines {
        m.push_str(&format!("line {i} of {id}\r\n"));
    }
    m.push_str(".a line starting with a dot\r\n");
    m.into_bytes()
}

/// The `X-Id` of a message as any protocol returns it, and its normalized content from
/// the `X-Id:` header on (CR removed).
pub fn identify(raw: &[u8]) -> Option<(String, Vec<u8>)> {
    let at = raw.windows(6).position(|w| w == b"X-Id: ")?;
    let rest: Vec<u8> = raw[at..].iter().copied().filter(|&b| b != b'\r').collect();
    let end = rest.iter().position(|&b| b == b'\n')?;
    let id = String::from_utf8_lossy(&rest[6..end]).into_owned();
    Some((id, rest))
}

/// One message as IMAP shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapMsg {
    /// UID.
    pub uid: u32,
    /// Flags and keywords, sorted.
    pub flags: Vec<String>,
    /// MODSEQ.
    pub modseq: u64,
    /// `X-Id` of the content.
    pub id: String,
    /// Normalized content from `X-Id:` on.
    pub content: Vec<u8>,
}

/// An untagged or tagged response with its literals taken out (`{n}` stays in `text`).
#[derive(Debug)]
pub struct Resp {
    /// The response line(s), literals left as their `{n}` announcements.
    pub text: String,
    /// The literals, in order.
    pub literals: Vec<Vec<u8>>,
}

/// A blocking IMAP client.
pub struct Imap {
    r: BufReader<TcpStream>,
    w: TcpStream,
    tag: u32,
}

impl Imap {
    /// Connect and LOGIN.
    pub fn login(addr: SocketAddr, user: &str, pass: &str) -> io::Result<Imap> {
        let (r, w) = open(addr)?;
        let mut c = Imap { r, w, tag: 0 };
        let greeting = c.read_resp()?;
        if !greeting.text.starts_with("* OK") {
            return Err(proto_err(format!("greeting {}", greeting.text)));
        }
        c.ok(&format!("LOGIN {user} \"{pass}\""))?;
        Ok(c)
    }

    /// The socket, for a client that goes off script (half a literal, then gone).
    pub fn into_stream(self) -> TcpStream {
        self.w
    }

    /// Drop the connection without LOGOUT (a client that goes away).
    pub fn cut(self) {
        let _ = self.w.shutdown(std::net::Shutdown::Both);
    }

    fn read_resp(&mut self) -> io::Result<Resp> {
        let mut text = Vec::new();
        let mut literals = Vec::new();
        loop {
            let line = read_line(&mut self.r)?;
            let lit = line
                .strip_suffix(b"}")
                .and_then(|l| l.iter().rposition(|&b| b == b'{').map(|i| &l[i + 1..]))
                .and_then(|d| std::str::from_utf8(d).ok()?.parse::<usize>().ok());
            text.extend_from_slice(&line);
            match lit {
                Some(n) => {
                    let mut buf = vec![0; n];
                    self.r.read_exact(&mut buf)?;
                    literals.push(buf);
                }
                None => {
                    return Ok(Resp {
                        text: String::from_utf8_lossy(&text).into_owned(),
                        literals,
                    });
                }
            }
        }
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("t{}", self.tag)
    }

    /// Send a command; the untagged responses and the tagged one.
    pub fn cmd(&mut self, cmd: &str) -> io::Result<(Vec<Resp>, String)> {
        let tag = self.next_tag();
        self.w.write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
        self.finish(&tag)
    }

    fn finish(&mut self, tag: &str) -> io::Result<(Vec<Resp>, String)> {
        let mut untagged = Vec::new();
        loop {
            let r = self.read_resp()?;
            if let Some(rest) = r.text.strip_prefix(&format!("{tag} ")) {
                return Ok((untagged, rest.to_string()));
            }
            untagged.push(r);
        }
    }

    /// A command that must answer OK.
    pub fn ok(&mut self, cmd: &str) -> io::Result<Vec<Resp>> {
        let (untagged, done) = self.cmd(cmd)?;
        if !done.starts_with("OK") {
            return Err(proto_err(format!("{cmd}: {done}")));
        }
        Ok(untagged)
    }

    /// SELECT with CONDSTORE; the UIDVALIDITY.
    pub fn select(&mut self, mailbox: &str) -> io::Result<u32> {
        let untagged = self.ok(&format!("SELECT \"{mailbox}\" (CONDSTORE)"))?;
        untagged
            .iter()
            .find_map(|r| number_after(&r.text, "[UIDVALIDITY "))
            .map(|v| v as u32)
            .ok_or_else(|| proto_err("no UIDVALIDITY"))
    }

    /// APPEND with a synchronizing literal; the UID from APPENDUID once the server said OK.
    pub fn append(&mut self, mailbox: &str, flags: &str, body: &[u8]) -> io::Result<u32> {
        let tag = self.next_tag();
        self.w.write_all(
            format!(
                "{tag} APPEND \"{mailbox}\" ({flags}) {{{}}}\r\n",
                body.len()
            )
            .as_bytes(),
        )?;
        let go = self.read_resp()?;
        if !go.text.starts_with('+') {
            return Err(proto_err(format!("APPEND refused: {}", go.text)));
        }
        self.w.write_all(body)?;
        self.w.write_all(b"\r\n")?;
        let (_, done) = self.finish(&tag)?;
        if !done.starts_with("OK") {
            return Err(proto_err(format!("APPEND: {done}")));
        }
        // `[APPENDUID <validity> <uid>]`
        done.split("[APPENDUID ")
            .nth(1)
            .and_then(|rest| rest.split([' ', ']']).nth(1)?.parse().ok())
            .ok_or_else(|| proto_err(format!("no APPENDUID in {done}")))
    }

    /// The UIDs of the selected mailbox, in sequence order.
    pub fn uids(&mut self) -> io::Result<Vec<u32>> {
        let (untagged, done) = self.cmd("FETCH 1:* (UID)")?;
        if !done.starts_with("OK") {
            return Ok(Vec::new());
        }
        let mut out: Vec<(u64, u32)> = untagged
            .iter()
            .filter(|r| r.text.contains(" FETCH ("))
            .filter_map(|r| {
                Some((
                    number_after(&r.text, "* ")?,
                    number_after(&r.text, "UID ")? as u32,
                ))
            })
            .collect();
        out.sort();
        Ok(out.into_iter().map(|(_, u)| u).collect())
    }

    /// Every message of the selected mailbox, in sequence order.
    pub fn fetch_all(&mut self) -> io::Result<Vec<ImapMsg>> {
        let (untagged, done) = self.cmd("FETCH 1:* (UID FLAGS MODSEQ BODY.PEEK[])")?;
        if !done.starts_with("OK") {
            // An empty mailbox answers BAD or NO to `1:*` on some servers.
            let (none, _) = self.cmd("NOOP")?;
            if none
                .iter()
                .any(|r| r.text.contains(" EXISTS") && !r.text.contains("* 0 "))
            {
                return Err(proto_err(format!("FETCH: {done}")));
            }
            return Ok(Vec::new());
        }
        let mut out: Vec<(u64, ImapMsg)> = Vec::new();
        for r in untagged {
            if !r.text.contains(" FETCH (") {
                continue;
            }
            let seq = number_after(&r.text, "* ").unwrap_or(0);
            let (Some(uid), Some(body)) = (number_after(&r.text, "UID "), r.literals.first())
            else {
                continue;
            };
            let Some((id, content)) = identify(body) else {
                return Err(proto_err(format!("UID {uid}: no X-Id")));
            };
            out.push((
                seq,
                ImapMsg {
                    uid: uid as u32,
                    flags: flags_of(&r.text),
                    modseq: number_after(&r.text, "MODSEQ (").unwrap_or(0),
                    id,
                    content,
                },
            ));
        }
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out.into_iter().map(|(_, m)| m).collect())
    }

    /// NOOP until `pred` holds on the untagged responses seen, or `within` passes.
    pub fn noop_until(
        &mut self,
        within: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> io::Result<bool> {
        let deadline = Instant::now() + within;
        loop {
            let untagged = self.ok("NOOP")?;
            if untagged.iter().any(|r| pred(&r.text)) {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Subscribed mailbox names, sorted.
    pub fn subscribed(&mut self) -> io::Result<Vec<String>> {
        let untagged = self.ok("LSUB \"\" \"*\"")?;
        let mut names: Vec<String> = untagged
            .iter()
            .filter_map(|r| {
                let name = r.text.rsplit(' ').next()?;
                Some(name.trim_matches('"').to_string())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// LOGOUT.
    pub fn logout(mut self) {
        let _ = self.cmd("LOGOUT");
    }
}

/// The number right after `key` in `text`.
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn flags_of(text: &str) -> Vec<String> {
    let Some(at) = text.find("FLAGS (") else {
        return Vec::new();
    };
    let rest = &text[at + 7..];
    let end = rest.find(')').unwrap_or(rest.len());
    let mut flags: Vec<String> = rest[..end]
        .split_whitespace()
        // \Recent belongs to one session, not to the message.
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(str::to_string)
        .collect();
    flags.sort();
    flags
}

/// A blocking POP3 client.
pub struct Pop3 {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Pop3 {
    /// Connect, USER and PASS.
    pub fn login(addr: SocketAddr, user: &str, pass: &str) -> io::Result<Pop3> {
        let (r, w) = open(addr)?;
        let mut c = Pop3 { r, w };
        c.line()?;
        c.ok(&format!("USER {user}"))?;
        c.ok(&format!("PASS {pass}"))?;
        Ok(c)
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "server closed",
            ));
        }
        Ok(line.trim_end().to_string())
    }

    /// A command answered `+OK`; the status line.
    pub fn ok(&mut self, cmd: &str) -> io::Result<String> {
        self.w.write_all(format!("{cmd}\r\n").as_bytes())?;
        let line = self.line()?;
        if !line.starts_with("+OK") {
            return Err(proto_err(format!("{cmd}: {line}")));
        }
        Ok(line)
    }

    fn multi(&mut self, cmd: &str) -> io::Result<Vec<Vec<u8>>> {
        self.ok(cmd)?;
        let mut lines = Vec::new();
        loop {
            let mut line = read_line(&mut self.r)?;
            if line == b"." {
                return Ok(lines);
            }
            if line.first() == Some(&b'.') {
                line.remove(0);
            }
            lines.push(line);
        }
    }

    /// (message number, UIDL) of every message.
    pub fn uidl(&mut self) -> io::Result<Vec<(u32, String)>> {
        Ok(self
            .multi("UIDL")?
            .iter()
            .filter_map(|l| {
                let l = String::from_utf8_lossy(l);
                let (n, u) = l.split_once(' ')?;
                Some((n.parse().ok()?, u.to_string()))
            })
            .collect())
    }

    /// The message, lines joined with CRLF.
    pub fn retr(&mut self, n: u32) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for line in self.multi(&format!("RETR {n}"))? {
            out.extend_from_slice(&line);
            out.extend_from_slice(b"\r\n");
        }
        Ok(out)
    }

    /// QUIT (commits DELEs).
    pub fn quit(mut self) -> io::Result<()> {
        self.ok("QUIT").map(|_| ())
    }

    /// Drop the connection without QUIT.
    pub fn cut(self) {
        let _ = self.w.shutdown(std::net::Shutdown::Both);
    }
}

/// Deliver `body` over LMTP to `rcpt`; Ok only after the 250 for the recipient.
pub fn lmtp_deliver(addr: SocketAddr, rcpt: &str, body: &[u8]) -> io::Result<()> {
    lmtp_send(addr, rcpt, body, false)
}

/// Start an LMTP delivery and hang up in the middle of DATA (nothing may be stored).
pub fn lmtp_cut(addr: SocketAddr, rcpt: &str, body: &[u8]) -> io::Result<()> {
    lmtp_send(addr, rcpt, body, true)
}

fn lmtp_send(addr: SocketAddr, rcpt: &str, body: &[u8], cut: bool) -> io::Result<()> {
    let (mut r, mut w) = open(addr)?;
    let expect = |r: &mut BufReader<TcpStream>, code: &str| -> io::Result<()> {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed",
                ));
            }
            if !line.starts_with(code) {
                return Err(proto_err(format!("LMTP wanted {code}: {line}")));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    };
    expect(&mut r, "220")?;
    w.write_all(b"LHLO test\r\n")?;
    expect(&mut r, "250")?;
    w.write_all(b"MAIL FROM:<tester@example.org>\r\n")?;
    expect(&mut r, "250")?;
    w.write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())?;
    expect(&mut r, "250")?;
    w.write_all(b"DATA\r\n")?;
    expect(&mut r, "354")?;
    let mut data = Vec::new();
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            data.push(b'.');
        }
        data.extend_from_slice(line);
        data.extend_from_slice(b"\r\n");
    }
    if body.ends_with(b"\n") {
        data.truncate(data.len() - 2);
    }
    if cut {
        return w.write_all(&data[..data.len() / 2]);
    }
    data.extend_from_slice(b".\r\n");
    w.write_all(&data)?;
    expect(&mut r, "250")?;
    let _ = w.write_all(b"QUIT\r\n");
    Ok(())
}

/// `roost deliver` as an MTA runs it: as the mail account when the test runs as root, so
/// the files it writes belong to the account the server runs as.
pub fn roost_deliver(config: &Path, user: &str, body: &[u8]) -> io::Result<()> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roost"));
    cmd.args(["deliver", "-c"])
        .arg(config)
        .args(["--user", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    as_account(&mut cmd, "mail");
    let mut child = cmd.spawn()?;
    child.stdin.take().expect("stdin").write_all(body)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(proto_err(format!(
            "deliver: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Run `cmd` as `account` when the test runs as root (no change otherwise).
pub fn as_account(cmd: &mut Command, account: &str) {
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    if let Some((uid, gid)) = account_ids(account) {
        cmd.uid(uid).gid(gid);
    }
}

/// (uid, gid) of a local account.
pub fn account_ids(account: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(account).ok()?;
    // SAFETY: getpwnam gets a valid C string; the result is read at once, before any other
    // getpw* call in this thread.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: non-null result of getpwnam.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// Write a message the way procmail does: into `tmp/`, then `mv` into `new/`.
pub fn outside_write(maildir: &Path, name: &str, body: &[u8]) -> io::Result<()> {
    let tmp = maildir.join("tmp").join(name);
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, maildir.join("new").join(name))
}

/// What the final check found, for the assertions and the failure messages.
#[derive(Debug, Default)]
pub struct Census {
    /// `X-Id` -> UID, from IMAP.
    pub imap: BTreeMap<String, u32>,
    /// `X-Id` -> UIDL, from POP3.
    pub pop3: BTreeMap<String, String>,
    /// `X-Id` of every message file on disk.
    pub disk: BTreeMap<String, usize>,
}

/// The whole-mailbox check: over IMAP every message has one UID, UIDs strictly increase
/// with sequence numbers, no `X-Id` twice, content intact; POP3 lists the same messages with
/// the same content; the files on disk are exactly those messages; `dovecot-uidlist` has each
/// file once and each UID once. `expected` maps `X-Id` to the content sent (None: any).
pub fn check_inbox(
    imap: &[ImapMsg],
    pop3: Option<&mut Pop3>,
    maildir: &Path,
    expected: &HashMap<String, Vec<u8>>,
) -> Census {
    let mut census = Census::default();
    for pair in imap.windows(2) {
        assert!(
            pair[0].uid < pair[1].uid,
            "UIDs not strictly increasing: {} then {}",
            pair[0].uid,
            pair[1].uid
        );
    }
    for m in imap {
        if let Some(first) = census.imap.insert(m.id.clone(), m.uid) {
            let files: Vec<String> = message_files(maildir)
                .iter()
                .filter(|f| {
                    std::fs::read(f)
                        .ok()
                        .and_then(|raw| identify(&raw))
                        .is_some_and(|(id, _)| id == m.id)
                })
                .map(|f| f.display().to_string())
                .collect();
            let uidlist =
                std::fs::read_to_string(maildir.join("dovecot-uidlist")).unwrap_or_default();
            let lines: Vec<&str> = uidlist
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("{first} ")) || l.starts_with(&format!("{} ", m.uid))
                })
                .collect();
            panic!(
                "{} twice over IMAP: UIDs {first} and {}; files {files:?}; uidlist {lines:?}",
                m.id, m.uid
            );
        }
        if let Some(sent) = expected.get(&m.id) {
            assert_eq!(&m.content, &identify(sent).unwrap().1, "{} changed", m.id);
        }
    }
    let mut pop3_ids: HashSet<String> = census.imap.keys().cloned().collect();
    if let Some(pop3) = pop3 {
        pop3_ids.clear();
        let uidls = pop3.uidl().expect("UIDL");
        assert_eq!(uidls.len(), imap.len(), "POP3 and IMAP counts differ");
        for (n, uidl) in &uidls {
            let raw = pop3.retr(*n).expect("RETR");
            let (id, content) = identify(&raw).expect("X-Id over POP3");
            if let Some(m) = imap.iter().find(|m| m.id == id) {
                assert_eq!(m.content, content, "{id}: POP3 and IMAP content differ");
            }
            assert!(
                census.pop3.insert(id.clone(), uidl.clone()).is_none(),
                "{id} twice over POP3"
            );
            pop3_ids.insert(id);
        }
    }
    let files = message_files(maildir);
    for f in &files {
        let raw = std::fs::read(f).expect("read message file");
        let (id, _) = identify(&raw).unwrap_or_else(|| panic!("{} has no X-Id", f.display()));
        *census.disk.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = census.disk.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "files stored twice: {twice:?}");
    let imap_ids: HashSet<&String> = census.imap.keys().collect();
    let pop3_ids: HashSet<&String> = pop3_ids.iter().collect();
    let disk_ids: HashSet<&String> = census.disk.keys().collect();
    assert_eq!(imap_ids, pop3_ids, "IMAP and POP3 see different messages");
    assert_eq!(imap_ids, disk_ids, "IMAP and the files on disk differ");
    check_uidlist(maildir, &files);
    census
}

/// The check for a mailbox that may hold several copies of one message (COPY targets):
/// UIDs strictly increase, IMAP shows exactly the files on disk (as a multiset of `X-Id`s),
/// dovecot-uidlist lists each file and each UID once. Returns `X-Id` -> copies.
pub fn check_copies(imap: &[ImapMsg], maildir: &Path) -> BTreeMap<String, usize> {
    for pair in imap.windows(2) {
        assert!(pair[0].uid < pair[1].uid, "UIDs not strictly increasing");
    }
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    for m in imap {
        *shown.entry(m.id.clone()).or_default() += 1;
    }
    let files = message_files(maildir);
    let mut disk: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let raw = std::fs::read(f).expect("read message file");
        let (id, _) = identify(&raw).unwrap_or_else(|| panic!("{} has no X-Id", f.display()));
        *disk.entry(id).or_default() += 1;
    }
    assert_eq!(shown, disk, "IMAP and the files on disk differ");
    check_uidlist(maildir, &files);
    shown
}

/// Files in `new/` and `cur/`.
pub fn message_files(maildir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(maildir.join(sub)) {
            files.extend(rd.filter_map(|e| Some(e.ok()?.path())));
        }
    }
    files
}

/// `dovecot-uidlist`: header `3 V<validity> N<next> ...`, then `<uid> [fields] :<name>`.
/// Every UID and every base name at most once, UIDs strictly increasing, every file listed.
/// `N` may lag behind the last record: Dovecot appends records to a v3 file without
/// rewriting the header, and every reader (Dovecot's, Roost's `uidlist.rs`) then takes one
/// past the last record as the next UID.
pub fn check_uidlist(maildir: &Path, files: &[PathBuf]) -> u32 {
    let text = std::fs::read_to_string(maildir.join("dovecot-uidlist")).expect("uidlist");
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let next = header
        .split(' ')
        .find_map(|f| f.strip_prefix('N')?.parse::<u32>().ok())
        .expect("next uid in header");
    let validity = header
        .split(' ')
        .find_map(|f| f.strip_prefix('V')?.parse::<u32>().ok())
        .expect("uidvalidity in header");
    let mut uids = HashSet::new();
    let mut names = HashSet::new();
    let mut last = 0;
    for line in lines {
        let uid: u32 = line.split(' ').next().unwrap().parse().unwrap();
        // The name may carry the `:2,` flags it had when first listed; the base is the key.
        let name = line.split_once(" :").map(|(_, n)| n).unwrap_or_default();
        let name = name.split(':').next().unwrap_or_default();
        assert!(uids.insert(uid), "UID {uid} twice in dovecot-uidlist");
        assert!(
            names.insert(name.to_string()),
            "{name} twice in dovecot-uidlist"
        );
        assert!(
            uid > last,
            "UID {uid} after {last} in dovecot-uidlist (header N{next})"
        );
        last = uid;
    }
    for f in files {
        let base = f.file_name().unwrap().to_string_lossy();
        let base = base.split(':').next().unwrap();
        assert!(
            names.contains(base),
            "{base} is not in dovecot-uidlist:\n{text}"
        );
    }
    validity
}

/// A small deterministic generator (xorshift), seeded and printed by each test so a failing
/// run can be repeated.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `ROOST_TEST_SEED` or the clock.
    pub fn from_env() -> Rng {
        let seed = std::env::var("ROOST_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("ROOST_TEST_SEED={seed}");
        Rng(seed | 1)
    }

    /// Another generator for a thread.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next() | 1)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
