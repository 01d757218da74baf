//! Protocol transcripts (`log.rawlog_dir`, `log.rawlog_users`): every IMAP or POP3 session of
//! a listed user goes to its own file, both directions, one timestamped line each, with
//! passwords and SASL exchanges redacted before anything is held or written.
//!
//! The driver learns whose session it is only after login, so the lines before it are held
//! (already redacted, at most `log.rawlog_preauth_max_bytes`) and written once the user is
//! known to be listed; for anyone else they are dropped and nothing more is recorded.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use roost_config::Config;

/// Stands in for every secret byte; what it hides is not even measured on the line.
const REDACTED: &str = "<redacted>";

/// Longest piece of literal content (message data) kept before it is written as a line of its
/// own: bounds memory for an APPEND whose content has no line ends.
const MAX_PENDING_LINE: usize = 8 * 1024;

/// Numbers the transcripts of this process, so two sessions in one second get two files.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The protocol a transcript records; it decides which lines carry secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawProto {
    /// IMAP: `LOGIN` arguments, `AUTHENTICATE` responses, literals inside `LOGIN`.
    Imap,
    /// POP3: `PASS`, the `APOP` digest, `AUTH` responses.
    Pop3,
}

impl RawProto {
    fn name(self) -> &'static str {
        match self {
            RawProto::Imap => "imap",
            RawProto::Pop3 => "pop3",
        }
    }
}

/// Where and for whom transcripts are written, from the configuration.
#[derive(Debug)]
pub struct RawlogSettings {
    dir: PathBuf,
    users: HashSet<String>,
    max_preauth: usize,
}

impl RawlogSettings {
    /// None when transcripts are off (no directory or nobody listed).
    pub fn from_config(config: &Config) -> Option<Arc<RawlogSettings>> {
        let dir = config.log.rawlog_dir.clone()?;
        if config.log.rawlog_users.is_empty() {
            return None;
        }
        Some(Arc::new(RawlogSettings {
            dir,
            users: config.log.rawlog_users.iter().cloned().collect(),
            max_preauth: config.log.rawlog_preauth_max_bytes,
        }))
    }
}

enum Sink {
    /// Login not seen yet: formatted, redacted lines wait here.
    Pending(Vec<u8>),
    /// The user is listed; lines go to this file.
    Recording(File),
    /// Not recorded (user not listed, too much before login, or the file failed).
    Off,
}

/// One session's transcript.
pub struct Rawlog {
    proto: RawProto,
    settings: Arc<RawlogSettings>,
    sink: Sink,
    /// The client line being received (outside literals).
    client_line: Vec<u8>,
    /// Content of the IMAP literal being received, up to its next line end.
    literal_line: Vec<u8>,
    /// Bytes of the current IMAP literal still to come.
    literal_left: u64,
    /// Secret literal bytes skipped, reported once the literal ends.
    literal_hidden: u64,
    /// The command being received continues after a literal (not a new command).
    continued: bool,
    /// The command being received is a `LOGIN`: all of it after the verb is secret.
    secret_command: bool,
    /// A SASL exchange is running: client lines are responses, all secret.
    sasl: bool,
    /// The server line being sent.
    server_line: Vec<u8>,
}

impl Rawlog {
    /// A transcript that records only if the session turns out to be a listed user's.
    pub fn new(settings: Arc<RawlogSettings>, proto: RawProto) -> Rawlog {
        Rawlog {
            proto,
            settings,
            sink: Sink::Pending(Vec::new()),
            client_line: Vec::new(),
            literal_line: Vec::new(),
            literal_left: 0,
            literal_hidden: 0,
            continued: false,
            secret_command: false,
            sasl: false,
            server_line: Vec::new(),
        }
    }

    /// Whether this transcript may still write anything (drivers skip the work otherwise).
    pub fn is_off(&self) -> bool {
        matches!(self.sink, Sink::Off)
    }

    /// Bytes received from the client, in any chunking.
    pub fn client(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.is_off() {
            if self.literal_left > 0 {
                let take = usize::try_from(self.literal_left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let (chunk, rest) = bytes.split_at(take);
                bytes = rest;
                self.literal_left -= take as u64;
                self.literal_content(chunk);
                if self.literal_left == 0 {
                    self.literal_end();
                }
                continue;
            }
            let (part, rest, ended) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            bytes = rest;
            // A runaway line is refused by the protocol anyway; its start (which decides
            // what is secret) is kept, the rest dropped, so memory stays bounded.
            let room = MAX_PENDING_LINE.saturating_sub(self.client_line.len());
            self.client_line
                .extend_from_slice(&part[..part.len().min(room)]);
            if ended {
                let line = std::mem::take(&mut self.client_line);
                self.client_line_done(&line);
            }
        }
    }

    /// Bytes sent to the client.
    pub fn server(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.is_off() {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.server_line.extend_from_slice(&bytes[..i]);
                    bytes = &bytes[i + 1..];
                    let line = std::mem::take(&mut self.server_line);
                    self.server_line_done(&line);
                }
                None => {
                    self.server_line.extend_from_slice(bytes);
                    if self.server_line.len() > MAX_PENDING_LINE {
                        let line = std::mem::take(&mut self.server_line);
                        self.record(b"S: ", &line);
                    }
                    bytes = &[];
                }
            }
        }
    }

    /// Tell the transcript who is logged in (None: nobody yet). The first known user
    /// decides: a listed one gets the file, anyone else is not recorded.
    pub fn user(&mut self, user: Option<&str>) {
        let Some(user) = user else { return };
        let Sink::Pending(held) = &mut self.sink else {
            return;
        };
        let held = std::mem::take(held);
        if !self.settings.users.contains(user) {
            self.sink = Sink::Off;
            return;
        }
        self.sink = match self.open(user) {
            Ok(mut file) => match file.write_all(&held) {
                Ok(()) => Sink::Recording(file),
                Err(e) => {
                    tracing::warn!(error = %e, "rawlog: cannot write; session not recorded");
                    Sink::Off
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, dir = %self.settings.dir.display(),
                    "rawlog: cannot create the transcript; session not recorded");
                Sink::Off
            }
        };
    }

    fn open(&self, user: &str) -> std::io::Result<File> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.settings.dir)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (y, mo, d, h, mi, s) = crate::utc::parts(i64::try_from(now.as_secs()).unwrap_or(0));
        let stamp = format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}");
        let name = format!(
            "{}-{}-{stamp}-{}-{}.log",
            file_safe(user),
            self.proto.name(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // 0600 from the first byte: transcripts hold mail content.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.settings.dir.join(name))
    }

    fn client_line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let starts_command = !self.continued;
        if self.sasl && starts_command {
            self.record(b"C: ", REDACTED.as_bytes());
            return;
        }
        let shown = if starts_command {
            self.redact_command(line)
        } else if self.secret_command {
            REDACTED.as_bytes().to_vec()
        } else {
            line.to_vec()
        };
        self.record(b"C: ", &shown);
        self.literal_left = match self.proto {
            RawProto::Imap => crate::conn::literal_len(line).unwrap_or(0),
            RawProto::Pop3 => 0,
        };
        self.continued = self.literal_left > 0;
        if !self.continued {
            self.secret_command = false;
        }
    }

    /// The line as shown, and the secrecy it starts: IMAP `LOGIN` hides its arguments (and
    /// literals), `AUTHENTICATE`/`AUTH` hide any initial response and start a SASL exchange,
    /// POP3 `PASS` and the `APOP` digest are hidden.
    fn redact_command(&mut self, line: &[u8]) -> Vec<u8> {
        let words: Vec<&[u8]> = line.splitn(4, |&b| b == b' ').collect();
        // Index of the verb, and how many words after it stay visible.
        let (verb_at, keep) = match self.proto {
            RawProto::Imap => (1, 1),
            RawProto::Pop3 => (0, 1),
        };
        let Some(verb) = words.get(verb_at) else {
            return line.to_vec();
        };
        let verb = verb.to_ascii_uppercase();
        let visible = match (self.proto, verb.as_slice()) {
            (RawProto::Imap, b"LOGIN") => {
                self.secret_command = true;
                verb_at + 1
            }
            (RawProto::Imap, b"AUTHENTICATE") | (RawProto::Pop3, b"AUTH")
                if words.len() > verb_at + 1 =>
            {
                self.sasl = true;
                verb_at + 1 + keep
            }
            (RawProto::Pop3, b"PASS") => verb_at + 1,
            (RawProto::Pop3, b"APOP") => verb_at + 2,
            _ => return line.to_vec(),
        };
        if words.len() <= visible {
            return line.to_vec();
        }
        let mut shown = words[..visible].join(&b' ');
        shown.push(b' ');
        shown.extend_from_slice(REDACTED.as_bytes());
        shown
    }

    fn literal_content(&mut self, chunk: &[u8]) {
        if self.secret_command {
            self.literal_hidden += chunk.len() as u64;
            return;
        }
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.literal_line.extend_from_slice(&rest[..i]);
            rest = &rest[i + 1..];
            let line = std::mem::take(&mut self.literal_line);
            self.record(b"C: ", line.strip_suffix(b"\r").unwrap_or(&line));
        }
        self.literal_line.extend_from_slice(rest);
        if self.literal_line.len() > MAX_PENDING_LINE {
            let line = std::mem::take(&mut self.literal_line);
            self.record(b"C: ", &line);
        }
    }

    fn literal_end(&mut self) {
        if self.literal_hidden > 0 {
            self.literal_hidden = 0;
            self.record(b"C: ", REDACTED.as_bytes());
        }
        if !self.literal_line.is_empty() {
            let line = std::mem::take(&mut self.literal_line);
            self.record(b"C: ", &line);
        }
    }

    fn server_line_done(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // A SASL challenge is `+` or `+ data` (POP3's `+OK` is not one); any other answer
        // ends the exchange.
        let challenge = line == b"+" || line.starts_with(b"+ ");
        if self.sasl && !challenge {
            self.sasl = false;
        }
        if self.sasl {
            // Challenges carry SASL state (SCRAM nonces and salts) as well.
            self.record(b"S: ", b"+ <redacted>");
        } else {
            self.record(b"S: ", line);
        }
    }

    fn record(&mut self, dir: &[u8], line: &[u8]) {
        let mut out = Vec::with_capacity(line.len() + 32);
        out.extend_from_slice(timestamp().as_bytes());
        out.push(b' ');
        out.extend_from_slice(dir);
        out.extend_from_slice(line);
        out.push(b'\n');
        match &mut self.sink {
            Sink::Pending(held) => {
                if held.len() + out.len() > self.settings.max_preauth {
                    tracing::debug!("rawlog: too much before login; session not recorded");
                    self.sink = Sink::Off;
                } else {
                    held.extend_from_slice(&out);
                }
            }
            Sink::Recording(file) => {
                if let Err(e) = file.write_all(&out) {
                    tracing::warn!(error = %e, "rawlog: write failed; recording stopped");
                    self.sink = Sink::Off;
                }
            }
            Sink::Off => {}
        }
    }
}

impl Drop for Rawlog {
    fn drop(&mut self) {
        if !self.server_line.is_empty() {
            let line = std::mem::take(&mut self.server_line);
            self.record(b"S: ", &line);
        }
    }
}

/// A user name as a file name part: anything but letters, digits, `@ . _ -` becomes `_`,
/// so a name can never leave the directory.
fn file_safe(user: &str) -> String {
    let safe: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.starts_with('.') {
        format!("_{safe}")
    } else {
        safe
    }
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, d, h, mi, s) = crate::utc::parts(i64::try_from(now.as_secs()).unwrap_or(0));
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &std::path::Path, max: usize) -> Arc<RawlogSettings> {
        Arc::new(RawlogSettings {
            dir: dir.to_path_buf(),
            users: ["alice".to_string()].into_iter().collect(),
            max_preauth: max,
        })
    }

    /// Feeds a client/server exchange one byte at a time and returns the transcript lines
    /// without their timestamps.
    fn transcript(proto: RawProto, script: &[(bool, &str)], user: &str) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut log = Rawlog::new(settings(dir.path(), 1 << 20), proto);
            for (from_client, text) in script {
                for b in text.as_bytes() {
                    if *from_client {
                        log.client(std::slice::from_ref(b));
                    } else {
                        log.server(std::slice::from_ref(b));
                    }
                }
                if text.contains(" OK") || text.starts_with("+OK Logged") {
                    log.user(Some(user));
                }
            }
        }
        let file = std::fs::read_dir(dir.path()).unwrap().next()?.unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        Some(
            text.lines()
                .map(|l| l.split_once(' ').unwrap().1)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    #[test]
    fn imap_login_and_literals_are_redacted() {
        let t = transcript(
            RawProto::Imap,
            &[
                (false, "* OK ready\r\n"),
                (true, "a LOGIN alice {6}\r\n"),
                (false, "+ go\r\n"),
                (true, "se\r\nrt {3+}\r\nxyz\r\n"),
                (false, "a OK done\r\n"),
                (true, "b APPEND INBOX {9}\r\nhi\r\nthere\r\n"),
                (false, "b OK appended\r\n"),
            ],
            "alice",
        )
        .unwrap();
        assert!(!t.contains("se\nrt") && !t.contains("xyz"), "{t}");
        assert!(t.contains("C: a LOGIN <redacted>"), "{t}");
        assert!(t.contains("C: hi\nC: there"), "{t}");
        assert!(t.contains("S: b OK appended"), "{t}");
    }

    #[test]
    fn sasl_exchanges_are_redacted() {
        let t = transcript(
            RawProto::Imap,
            &[
                (true, "a AUTHENTICATE PLAIN\r\n"),
                (false, "+ \r\n"),
                (true, "AGFsaWNlAHNlY3JldA==\r\n"),
                (false, "a OK done\r\n"),
                (true, "b NOOP\r\n"),
            ],
            "alice",
        )
        .unwrap();
        assert!(!t.contains("AGFsaWNl"), "{t}");
        assert!(t.contains("C: b NOOP"), "{t}");
        let t = transcript(
            RawProto::Pop3,
            &[
                (true, "USER alice\r\n"),
                (true, "PASS hunter2\r\n"),
                (true, "APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n"),
                (true, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
                (false, "+OK Logged in.\r\n"),
                (true, "STAT\r\n"),
            ],
            "alice",
        )
        .unwrap();
        for secret in ["hunter2", "c4c9334b", "AGFsaWNl"] {
            assert!(!t.contains(secret), "{t}");
        }
        assert!(t.contains("C: APOP alice <redacted>"), "{t}");
        assert!(t.contains("C: STAT"), "{t}");
    }

    #[test]
    fn other_users_and_chatty_anonymous_clients_are_not_recorded() {
        let t = transcript(
            RawProto::Pop3,
            &[(true, "USER bob\r\n"), (false, "+OK Logged in.\r\n")],
            "bob",
        );
        assert_eq!(t, None);
        let dir = tempfile::tempdir().unwrap();
        let mut log = Rawlog::new(settings(dir.path(), 100), RawProto::Pop3);
        log.client(&[b'x'; 200]);
        log.client(b"\r\n");
        assert!(log.is_off());
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("../x y"), "_.._x_y");
    }
}
