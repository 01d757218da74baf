//! The session on real Maildirs and a real users file: C:/S: transcripts from
//! `tests/transcripts` replayed pipelined in every chunk size, every answer also parsed by
//! imap-codec; plus what transcripts cannot show (updates from other sessions).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use roost_storage::auth::Authenticator;
use roost_storage::{Mailbox, MailboxName, MailboxOptions, SpecialMailbox, Store, StoreConfig};

use super::{ImapContext, ImapSession, ImapSettings, Output};
use crate::testing::assert_imap_codec_parses;

const MSG1: &[u8] = b"Subject: one\n\nHello\n";
const MSG2: &[u8] = b"Subject: two\n\nA\r\nB\n";
const MSG3: &[u8] = b"Subject: three\n\nbody 1\nbody 2\n";

struct Fixture {
    _dir: tempfile::TempDir,
    /// Keeps INBOX open for the whole test: closing and reopening a mailbox can lose the
    /// \Recent boundary in storage (a race with the watcher, reported separately), which
    /// is not what these tests are about.
    _inbox: Option<Arc<Mailbox>>,
    store: Arc<Store>,
    auth: Arc<Authenticator>,
}

impl Fixture {
    /// alice ({PLAIN}secret) with MSG1..MSG3 in INBOX and a Sent mailbox.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("users"), "alice:{PLAIN}secret\n").expect("users");
        let auth = Arc::new(Authenticator::open(root.join("users")).expect("auth"));
        let store = Store::new(StoreConfig {
            mail_path: format!("{}/mail/{{user}}", root.display()),
            mailbox: MailboxOptions {
                fsync: false,
                lock_timeout: Duration::from_secs(5),
                stale_lock: Duration::from_secs(120),
            },
            rescan_interval: Duration::from_secs(3600),
            autocreate: true,
            special_use: vec![SpecialMailbox {
                name: "Sent".into(),
                attribute: "\\Sent".into(),
            }],
        });
        let mut fx = Fixture {
            _dir: dir,
            _inbox: None,
            store,
            auth,
        };
        let inbox = fx.mailbox("INBOX");
        for m in [MSG1, MSG2, MSG3] {
            inbox.deliver(&mut &m[..], 1 << 20).expect("deliver");
        }
        fx._inbox = Some(inbox);
        fx
    }

    fn mailbox(&self, name: &str) -> Arc<Mailbox> {
        let user = self.store.user("alice").expect("user");
        user.open(&MailboxName::new(name).expect("name"))
            .expect("open")
    }

    fn session(&self, cleartext: bool) -> ImapSession {
        self.session_streaming_from(cleartext, u64::MAX)
    }

    /// A session that streams whole-message bodies of at least `stream_from` octets.
    fn session_streaming_from(&self, cleartext: bool, stream_from: u64) -> ImapSession {
        ImapSession::new(ImapContext {
            is_tls: false,
            starttls_available: true,
            cleartext_allowed: cleartext,
            store: Arc::clone(&self.store),
            auth: Arc::clone(&self.auth),
            settings: Arc::new(ImapSettings {
                max_append_size: 1000,
                stream_body_from: stream_from,
                ..ImapSettings::default()
            }),
            peer: "192.0.2.1:1234".into(),
            login_gate: None,
        })
    }
}

/// Carries out outputs the way the driver does.
fn execute(session: &mut ImapSession, outputs: Vec<Output>, out: &mut Vec<u8>) -> bool {
    for o in outputs {
        match o {
            Output::Write(bytes) => out.extend_from_slice(&bytes),
            Output::StartTls => session.tls_started(true),
            Output::AuthFailed => {}
            Output::Stream(body) => {
                // As the driver does: the file through the converter, in small chunks.
                use std::io::Read as _;
                let mut file = body.file;
                let mut conv = super::BodyStream::new(body.len);
                let mut buf = [0u8; 7];
                loop {
                    let n = file.read(&mut buf).expect("read message file");
                    if n == 0 {
                        break;
                    }
                    conv.feed(&buf[..n], out);
                }
                assert!(!conv.finish(out), "the file was shorter than announced");
            }
            Output::Close => return false,
        }
    }
    true
}

/// Feeds `input` in chunks of `chunk` bytes; returns everything the session wrote.
fn run(session: &mut ImapSession, input: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = session.greeting();
    for piece in input.chunks(chunk.max(1)) {
        let outputs = session.feed(piece);
        if !execute(session, outputs, &mut out) {
            break;
        }
    }
    out
}

/// imap-codec check of everything it knows: it has no ESEARCH (RFC 4731) and no LIST
/// CHILDINFO (RFC 5258, written as in the RFC's examples), so those lines are left out.
fn codec_parses(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let known: String = text
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("* ESEARCH ") && !l.contains(" (\"CHILDINFO\" "))
        .collect();
    assert_imap_codec_parses(known.as_bytes());
}

/// Feeds `input` at once and returns what the session wrote.
fn talk(s: &mut ImapSession, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let outputs = s.feed(input);
    execute(s, outputs, &mut out);
    out
}

/// `S:` lines may hold `{any}` for text that differs per run (UIDVALIDITY).
fn line_matches(want: &str, got: &str) -> bool {
    let parts: Vec<&str> = want.split("{any}").collect();
    if parts.len() == 1 {
        return want == got;
    }
    let mut rest = got;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            let Some(at) = rest.find(p) else { return false };
            rest = &rest[at + p.len()..];
        }
    }
    true
}

fn transcripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts")
}

/// Splits a transcript into client bytes and expected server lines.
fn parse_transcript(text: &str) -> (Vec<u8>, Vec<String>) {
    let mut client = Vec::new();
    let mut server = Vec::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("C: ") {
            client.extend_from_slice(c.as_bytes());
            client.extend_from_slice(b"\r\n");
        } else if let Some(s) = line.strip_prefix("S: ") {
            server.push(s.to_string());
        } else if line == "C:" {
            client.extend_from_slice(b"\r\n");
        }
    }
    (client, server)
}

fn check(name: &str, want: &[String], got: &[u8]) {
    let text = String::from_utf8_lossy(got);
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    let ok = lines.len() == want.len() && want.iter().zip(&lines).all(|(w, g)| line_matches(w, g));
    assert!(
        ok,
        "{name}: transcript mismatch\n--- want\n{}\n--- got\n{}",
        want.join("\n"),
        lines.join("\n")
    );
}

#[test]
fn transcripts_in_every_chunk_size() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(transcripts_dir())
        .expect("transcripts")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "imap"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for path in names {
        let text = std::fs::read_to_string(&path).expect("read");
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let cleartext = !text.starts_with("# cleartext: refused");
        let (client, want) = parse_transcript(&text);
        let mut parsed = false;
        // The last two runs stream every whole-message body from its file: same bytes.
        for (chunk, stream_from) in [
            (client.len(), u64::MAX),
            (1, u64::MAX),
            (2, u64::MAX),
            (3, u64::MAX),
            (5, u64::MAX),
            (7, u64::MAX),
            (13, u64::MAX),
            (64, u64::MAX),
            (client.len(), 0),
            (3, 0),
        ] {
            let fx = Fixture::new();
            let mut session = fx.session_streaming_from(cleartext, stream_from);
            let got = run(&mut session, &client, chunk);
            check(
                &format!("{name} (chunk {chunk}, streaming from {stream_from})"),
                &want,
                &got,
            );
            if !parsed {
                codec_parses(&got);
                parsed = true;
            }
        }
    }
}

#[test]
fn another_sessions_changes_arrive_after_commands_that_allow_them() {
    let fx = Fixture::new();
    let mut a = fx.session(true);
    let mut b = fx.session(true);
    let login = b"1 LOGIN alice secret\r\n2 SELECT INBOX\r\n";
    talk(&mut a, login);
    talk(&mut b, login);
    let out = talk(
        &mut b,
        b"3 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n4 EXPUNGE\r\n",
    );
    assert!(String::from_utf8_lossy(&out).contains("* 2 EXPUNGE"));
    // FETCH must not announce the expunge; the message keeps its number meanwhile.
    let out = talk(&mut a, b"5 FETCH 1:* (FLAGS)\r\n");
    let text = String::from_utf8_lossy(&out).to_string();
    assert!(!text.contains("EXPUNGE"), "{text}");
    assert!(text.contains("* 3 FETCH"), "{text}");
    codec_parses(&out);
    // Now the view knows: data of the expunged message is refused, still no EXPUNGE.
    let out = talk(&mut a, b"5b FETCH 2 (FLAGS)\r\n");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "5b NO [EXPUNGEISSUED] Some messages were expunged meanwhile.\r\n"
    );
    // NOOP may: now it is sent.
    let out = talk(&mut a, b"6 NOOP\r\n");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "* 2 EXPUNGE\r\n6 OK NOOP completed\r\n"
    );
    // A flag change by b reaches a as an untagged FETCH.
    talk(&mut b, b"7 STORE 1 +FLAGS.SILENT (\\Flagged)\r\n");
    let out = talk(&mut a, b"8 NOOP\r\n");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "* 1 FETCH (FLAGS (\\Flagged \\Recent) UID 1)\r\n8 OK NOOP completed\r\n"
    );
    codec_parses(&out);
}

#[test]
fn another_sessions_new_keyword_resends_flags_and_permanentflags() {
    let fx = Fixture::new();
    let mut a = fx.session(true);
    let mut b = fx.session(true);
    talk(&mut a, b"1 LOGIN alice secret\r\n2 SELECT INBOX\r\n");
    talk(&mut b, b"1 LOGIN alice secret\r\n2 EXAMINE INBOX\r\n");
    let out = talk(&mut a, b"3 STORE 1 +FLAGS.SILENT ($Urgent)\r\n");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Urgent)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Urgent \\*)] Flags permitted\r\n\
         3 OK STORE completed\r\n"
    );
    codec_parses(&out);
    // The read-only session learns the keyword before the FETCH that uses it; its
    // PERMANENTFLAGS stay empty.
    let out = talk(&mut b, b"4 NOOP\r\n");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Urgent)\r\n\
         * OK [PERMANENTFLAGS ()] Flags permitted\r\n\
         * 1 FETCH (FLAGS ($Urgent) UID 1)\r\n\
         4 OK NOOP completed\r\n"
    );
    codec_parses(&out);
    // Told once: the next keyword use brings no new FLAGS.
    let out = talk(&mut a, b"5 STORE 2 +FLAGS.SILENT ($Urgent)\r\n");
    assert_eq!(String::from_utf8_lossy(&out), "5 OK STORE completed\r\n");
}

#[test]
fn only_bodies_at_the_threshold_are_streamed() {
    let fx = Fixture::new();
    // MSG1 is 23 octets with CRLF, MSG2 22: only the first reaches the threshold.
    let mut s = fx.session_streaming_from(true, 23);
    talk(&mut s, b"1 LOGIN alice secret\r\n2 SELECT INBOX\r\n");
    let outputs = s.feed(b"3 FETCH 1:2 (BODY.PEEK[] BODY.PEEK[]<0.3>)\r\n");
    let streamed: Vec<u64> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Stream(b) => Some(b.len),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, [23]);
    let mut out = Vec::new();
    execute(&mut s, outputs, &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "* 1 FETCH (BODY[] {23}\r\nSubject: one\r\n\r\nHello\r\n BODY[]<0> {3}\r\nSub)\r\n\
         * 2 FETCH (BODY[] {22}\r\nSubject: two\r\n\r\nA\r\nB\r\n BODY[]<0> {3}\r\nSub)\r\n\
         3 OK FETCH completed\r\n"
    );
}

#[test]
fn idle_reports_deliveries_and_ends_with_done() {
    let fx = Fixture::new();
    let mut s = fx.session(true);
    talk(
        &mut s,
        b"1 LOGIN alice secret\r\n2 SELECT INBOX\r\n3 IDLE\r\n",
    );
    assert!(s.is_idling());
    let watch = s.take_idle_watch().expect("watch while idling");
    fx.mailbox("INBOX")
        .deliver(&mut &MSG1[..], 1 << 20)
        .expect("deliver");
    assert!(watch.has_changed().expect("sender alive"));
    let mut out = Vec::new();
    let outputs = s.idle_update();
    execute(&mut s, outputs, &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "* 4 EXISTS\r\n* 4 RECENT\r\n"
    );
    let out = talk(&mut s, b"DONE\r\n");
    assert_eq!(String::from_utf8_lossy(&out), "3 OK IDLE terminated\r\n");
    assert!(!s.is_idling());
}

#[test]
fn an_overlong_sasl_line_ends_the_exchange_with_a_tagged_bad() {
    let fx = Fixture::new();
    let mut s = fx.session(true);
    let out = talk(&mut s, b"1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(String::from_utf8_lossy(&out), "+ \r\n");
    let mut long = vec![b'A'; 70 * 1024];
    long.extend_from_slice(b"\r\n2 NOOP\r\n");
    let out = String::from_utf8_lossy(&talk(&mut s, &long)).to_string();
    assert!(out.starts_with("1 BAD line longer than"), "{out}");
    assert!(out.ends_with("2 OK NOOP completed\r\n"), "{out}");
    assert!(!s.is_authenticated());
}
