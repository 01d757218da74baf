//! The session on real Maildirs and a real users file: C:/S: transcripts from
//! `tests/transcripts` replayed pipelined in every chunk size, every answer also parsed by
//! imap-codec; plus what transcripts cannot show (updates from other sessions).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use roost_storage::auth::Authenticator;
use roost_storage::{Mailbox, MailboxName, Store};
use roost_testkit::StoreBuilder;

use super::{ImapContext, ImapSession, ImapSettings, Output};
use crate::testing::assert_imap_codec_parses;

const MSG1: &[u8] = b"Subject: one\n\nHello\n";
const MSG2: &[u8] = b"Subject: two\n\nA\r\nB\n";
const MSG3: &[u8] = b"Subject: three\n\nbody 1\nbody 2\n";

/// A users file with alice ({PLAIN}secret) and a store below `root` that autocreates
/// mailboxes, with a Sent mailbox and "Sent Items" as its alias.
pub(super) fn alice_store(root: &Path) -> (Arc<Store>, Arc<Authenticator>) {
    std::fs::write(root.join("users"), "alice:{PLAIN}secret\n").expect("users");
    let auth = Arc::new(Authenticator::open(root.join("users")).expect("auth"));
    let store = StoreBuilder::for_mail_path(format!("{}/mail/{{user}}", root.display()))
        .special_use("Sent", "\\Sent")
        .alias("\\Sent", "Sent Items")
        .build();
    (store, auth)
}

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
        let (store, auth) = alice_store(dir.path());
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
            Output::AuthFailed(_) => {}
            // The session's part ends at the answer; the driver does the deflating.
            Output::StartCompress { .. } => {}
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
            Output::LoggedIn { .. } => {}
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

/// imap-codec check of everything it knows: it has no ESEARCH (RFC 4731), no LIST
/// CHILDINFO (RFC 5258, written as in the RFC's examples) and no UIDONLY (RFC 9586), so
/// those lines are left out.
fn codec_parses(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let known: String = text
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("* ESEARCH ") && !l.contains(" (\"CHILDINFO\" "))
        .filter(|l| !l.contains(" UIDFETCH (") && !l.contains(" [UIDREQUIRED] "))
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

/// The modseqs of INBOX's messages by UID, and its highest modseq.
fn modseqs(fx: &Fixture) -> (Vec<u64>, u64) {
    let snap = fx.mailbox("INBOX").snapshot().expect("snapshot");
    (
        snap.messages.iter().map(|m| m.modseq).collect(),
        snap.highest_modseq,
    )
}

/// Asserts the exact bytes (imap-codec parses them too, ESEARCH aside).
fn expect(out: &[u8], want: &str) {
    assert_eq!(String::from_utf8_lossy(out), want);
    codec_parses(out);
}

/// RFC 7162 CONDSTORE: SELECT (CONDSTORE), FETCH CHANGEDSINCE, STORE UNCHANGEDSINCE with
/// MODIFIED (sequence numbers for STORE, UIDs for UID STORE), SEARCH MODSEQ with the
/// MODSEQ in SEARCH and ESEARCH, STATUS HIGHESTMODSEQ, implicit \Seen and other sessions'
/// changes with MODSEQ, EXPUNGE with HIGHESTMODSEQ.
#[test]
fn condstore_byte_transcript() {
    let fx = Fixture::new();
    let (m, h) = modseqs(&fx);
    let mut s = fx.session(true);
    talk(&mut s, b"1 LOGIN alice secret\r\n");
    let out = talk(&mut s, b"2 SELECT INBOX (CONDSTORE)\r\n");
    let text = String::from_utf8_lossy(&out).to_string();
    assert!(
        text.contains(&format!("* OK [HIGHESTMODSEQ {h}] Highest\r\n")),
        "{text}"
    );
    assert!(text.ends_with("2 OK [READ-WRITE] SELECT completed\r\n"));
    codec_parses(&out);
    let out = talk(
        &mut s,
        format!("3 FETCH 1:* (FLAGS) (CHANGEDSINCE {})\r\n", m[1]).as_bytes(),
    );
    expect(
        &out,
        &format!(
            "* 3 FETCH (FLAGS (\\Recent) MODSEQ ({}))\r\n3 OK FETCH completed\r\n",
            m[2]
        ),
    );
    let out = talk(
        &mut s,
        format!("4 STORE 1 (UNCHANGEDSINCE {}) +FLAGS (\\Seen)\r\n", m[0]).as_bytes(),
    );
    let h1 = modseqs(&fx).1;
    expect(
        &out,
        &format!(
            "* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ ({}))\r\n4 OK STORE completed\r\n",
            h1
        ),
    );
    // Message 1 changed after m[0]: refused and named by number; message 2 passes.
    let out = talk(
        &mut s,
        format!(
            "5 STORE 1:2 (UNCHANGEDSINCE {}) +FLAGS.SILENT (\\Flagged)\r\n",
            m[1]
        )
        .as_bytes(),
    );
    let h2 = modseqs(&fx).1;
    expect(
        &out,
        &format!(
            "* 2 FETCH (MODSEQ ({}))\r\n5 OK [MODIFIED 1] Some messages changed meanwhile\r\n",
            h2
        ),
    );
    let out = talk(
        &mut s,
        b"6 UID STORE 2:3 (UNCHANGEDSINCE 0) +FLAGS (\\Draft)\r\n",
    );
    expect(
        &out,
        "6 OK [MODIFIED 2:3] Some messages changed meanwhile\r\n",
    );
    let out = talk(&mut s, format!("7 SEARCH MODSEQ {}\r\n", h1).as_bytes());
    expect(
        &out,
        &format!("* SEARCH 1 2 (MODSEQ {})\r\n7 OK SEARCH completed\r\n", h2),
    );
    let out = talk(
        &mut s,
        format!("7b SEARCH MODSEQ {}\r\n", h2 + 1).as_bytes(),
    );
    expect(&out, "* SEARCH\r\n7b OK SEARCH completed\r\n");
    let out = talk(
        &mut s,
        format!(
            "8 UID SEARCH RETURN (ALL) MODSEQ \"/flags/\\\\seen\" all {}\r\n",
            h2
        )
        .as_bytes(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!(
            "* ESEARCH (TAG \"8\") UID ALL 2 MODSEQ {}\r\n8 OK UID SEARCH completed\r\n",
            h2
        )
    );
    let out = talk(&mut s, b"9 STATUS INBOX (HIGHESTMODSEQ MESSAGES)\r\n");
    expect(
        &out,
        &format!(
            "* STATUS INBOX (HIGHESTMODSEQ {} MESSAGES 3)\r\n9 OK STATUS completed\r\n",
            h2
        ),
    );
    // The implicit \Seen of a body FETCH reports the new modseq (and the UID).
    let out = talk(&mut s, b"10 FETCH 2 (BODY[HEADER])\r\n");
    let h3 = modseqs(&fx).1;
    expect(
        &out,
        &format!(
            "* 2 FETCH (BODY[HEADER] {{16}}\r\nSubject: two\r\n\r\n \
             FLAGS (\\Flagged \\Seen \\Recent) UID 2 MODSEQ ({}))\r\n10 OK FETCH completed\r\n",
            h3
        ),
    );
    // Another session's change arrives with its MODSEQ.
    let mut b = fx.session(true);
    talk(&mut b, b"1 LOGIN alice secret\r\n2 SELECT INBOX\r\n");
    talk(&mut b, b"3 STORE 3 +FLAGS.SILENT (\\Deleted)\r\n");
    let h4 = modseqs(&fx).1;
    let out = talk(&mut s, b"11 NOOP\r\n");
    expect(
        &out,
        &format!(
            "* 3 FETCH (FLAGS (\\Deleted \\Recent) UID 3 MODSEQ ({}))\r\n11 OK NOOP completed\r\n",
            h4
        ),
    );
    let out = talk(&mut s, b"12 EXPUNGE\r\n");
    let h5 = modseqs(&fx).1;
    expect(
        &out,
        &format!(
            "* 3 EXPUNGE\r\n12 OK [HIGHESTMODSEQ {}] EXPUNGE completed\r\n",
            h5
        ),
    ); // One new modseq per change (each at least the clock in microseconds, so not `h + 1`).
    assert!(h < h1 && h1 < h2 && h2 < h3 && h3 < h4 && h4 < h5);
}

/// A session that never used CONDSTORE sees no MODSEQ anywhere, but its SELECT carries
/// HIGHESTMODSEQ (RFC 7162 3.1.2.1) and STATUS HIGHESTMODSEQ works without ENABLE.
#[test]
fn without_condstore_no_modseq_is_volunteered() {
    let fx = Fixture::new();
    let mut s = fx.session(true);
    talk(&mut s, b"1 LOGIN alice secret\r\n2 SELECT INBOX\r\n");
    let out = talk(&mut s, b"3 STORE 1 +FLAGS (\\Seen)\r\n4 EXPUNGE\r\n");
    expect(
        &out,
        "* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n3 OK STORE completed\r\n4 OK EXPUNGE completed\r\n",
    );
    let out = talk(
        &mut s,
        b"5 ENABLE CONDSTORE\r\n6 ENABLE CONDSTORE QRESYNC\r\n",
    );
    expect(
        &out,
        "* ENABLED CONDSTORE\r\n5 OK ENABLE completed\r\n* ENABLED QRESYNC\r\n6 OK ENABLE completed\r\n",
    );
    let out = talk(&mut s, b"7 STORE 1 -FLAGS.SILENT (\\Seen)\r\n");
    let h2 = modseqs(&fx).1;
    expect(
        &out,
        &format!(
            "* 1 FETCH (MODSEQ ({0}))\r\n* OK [HIGHESTMODSEQ {0}] Highest\r\n7 OK STORE completed\r\n",
            h2
        ),
    );
}

/// RFC 7162 QRESYNC: ENABLE, VANISHED instead of EXPUNGE, SELECT (QRESYNC ...) after time
/// away with VANISHED (EARLIER) and the changed flags, UID FETCH (CHANGEDSINCE n VANISHED),
/// a UIDVALIDITY mismatch, and the errors.
#[test]
fn qresync_byte_transcript() {
    let fx = Fixture::new();
    let (_, h0) = modseqs(&fx);
    let inbox = fx.mailbox("INBOX");
    let validity = inbox.status().expect("status").uid_validity;
    let mut s = fx.session(true);
    talk(&mut s, b"1 LOGIN alice secret\r\n");
    // Not enabled yet: QRESYNC parameters and VANISHED are refused.
    let out = talk(
        &mut s,
        format!("2 SELECT INBOX (QRESYNC ({validity} {h0}))\r\n").as_bytes(),
    );
    expect(&out, "2 BAD QRESYNC is not enabled (ENABLE QRESYNC)\r\n");
    let out = talk(&mut s, b"3 ENABLE QRESYNC\r\n4 SELECT INBOX\r\n");
    assert!(String::from_utf8_lossy(&out).starts_with("* ENABLED QRESYNC\r\n3 OK"));
    let out = talk(&mut s, b"5 FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n");
    expect(&out, "5 BAD VANISHED needs UID FETCH\r\n");
    let out = talk(&mut s, b"5b UID FETCH 1 FLAGS (VANISHED)\r\n");
    expect(&out, "5b BAD VANISHED needs CHANGEDSINCE\r\n");
    // Another session expunges 2: this one hears VANISHED, not EXPUNGE.
    inbox
        .store(
            &[2],
            roost_storage::FlagOp::Add,
            roost_storage::Flags::DELETED,
            &[],
            None,
        )
        .expect("store");
    inbox.expunge(&[2]).expect("expunge");
    let (_, h) = modseqs(&fx);
    let out = talk(&mut s, b"6 NOOP\r\n");
    // The new highest modseq follows, as the resync point (the expunge moved it).
    expect(
        &out,
        &format!("* VANISHED 2\r\n* OK [HIGHESTMODSEQ {h}] Highest\r\n6 OK NOOP completed\r\n"),
    );
    let out = talk(&mut s, b"6b NOOP\r\n");
    expect(&out, "6b OK NOOP completed\r\n");
    let out = talk(&mut s, b"7 LOGOUT\r\n");
    assert!(String::from_utf8_lossy(&out).ends_with("7 OK LOGOUT completed\r\n"));
    let (_, h1) = modseqs(&fx);

    // While the client is away: 3 is flagged, 1 expunged, a new message arrives.
    inbox
        .store(
            &[3],
            roost_storage::FlagOp::Add,
            roost_storage::Flags::FLAGGED,
            &[],
            None,
        )
        .expect("store");
    inbox.expunge(&[1]).expect("expunge");
    inbox.deliver(&mut &MSG1[..], 1 << 20).expect("deliver");
    let (m, h2) = modseqs(&fx);
    let id = roost_storage::objectid::mailbox_id(inbox.dir()).expect("mailbox id");

    let mut s = fx.session(true);
    talk(&mut s, b"1 LOGIN alice secret\r\n2 ENABLE QRESYNC\r\n");
    let out = talk(
        &mut s,
        format!("3 SELECT INBOX (QRESYNC ({validity} {h1} 1:3))\r\n").as_bytes(),
    );
    expect(
        &out,
        &format!(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
             * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n\
             * 2 EXISTS\r\n\
             * 1 RECENT\r\n\
             * OK [UNSEEN 1] First unseen\r\n\
             * OK [UIDVALIDITY {validity}] UIDs valid\r\n\
             * OK [UIDNEXT 5] Predicted next UID\r\n\
             * OK [HIGHESTMODSEQ {h2}] Highest\r\n\
             * OK [MAILBOXID ({id})] Ok\r\n\
             * VANISHED (EARLIER) 1\r\n\
             * 1 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ ({}))\r\n\
             * 2 FETCH (UID 4 FLAGS (\\Recent) MODSEQ ({}))\r\n\
             3 OK [READ-WRITE] SELECT completed\r\n",
            m[0], m[1]
        ),
    );
    // The same questions by UID FETCH, from before the first session's expunge.
    let out = talk(
        &mut s,
        format!("4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)\r\n").as_bytes(),
    );
    expect(
        &out,
        &format!(
            "* VANISHED (EARLIER) 1:2\r\n\
             * 1 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ ({}))\r\n\
             * 2 FETCH (UID 4 FLAGS (\\Recent) MODSEQ ({}))\r\n\
             4 OK UID FETCH completed\r\n",
            m[0], m[1]
        ),
    );
    // Up to date: nothing to tell.
    let out = talk(
        &mut s,
        format!("5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h2} VANISHED)\r\n").as_bytes(),
    );
    expect(&out, "5 OK UID FETCH completed\r\n");
    // A wrong UIDVALIDITY: a plain SELECT answer, CLOSED for the previous mailbox.
    let out = talk(
        &mut s,
        format!(
            "6 EXAMINE INBOX (QRESYNC ({} {h0}))\r\n",
            validity.wrapping_add(1).max(1)
        )
        .as_bytes(),
    );
    let text = String::from_utf8_lossy(&out).to_string();
    assert!(
        text.starts_with("* OK [CLOSED] Previous mailbox closed\r\n"),
        "{text}"
    );
    assert!(
        !text.contains("VANISHED") && !text.contains("FETCH"),
        "{text}"
    );
    assert!(
        text.ends_with("6 OK [READ-ONLY] EXAMINE completed\r\n"),
        "{text}"
    );
    codec_parses(&out);
}

/// RFC 2971: our name and version in any state; the client's fields kept (bounded).
#[test]
fn id_in_any_state() {
    let fx = Fixture::new();
    let mut s = fx.session(true);
    let out = talk(
        &mut s,
        b"1 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" NIL)\r\n",
    );
    expect(
        &out,
        &format!(
            "* ID (\"name\" \"Roost\" \"version\" \"{}\")\r\n1 OK ID completed\r\n",
            env!("CARGO_PKG_VERSION")
        ),
    );
    assert_eq!(
        s.client_id(),
        Some("name=\"sodr\" version=\"19.34\" vendor=\"NIL\"")
    );
    // 40 fields with 2000-byte values: 30 kept, each value cut at 1 KiB.
    let mut line = b"2 ID (".to_vec();
    for i in 0..40 {
        if i > 0 {
            line.push(b' ');
        }
        line.extend_from_slice(format!("\"k{i}\" {{2000+}}\r\n").as_bytes());
        line.extend_from_slice(&[b'v'; 2000]);
    }
    line.extend_from_slice(b")\r\n3 LOGIN alice secret\r\n4 ID NIL\r\n");
    let out = String::from_utf8_lossy(&talk(&mut s, &line)).to_string();
    assert!(out.contains("2 OK ID completed\r\n"), "{out}");
    assert!(out.ends_with("4 OK ID completed\r\n"), "{out}");
    // The last ID wins: NIL.
    assert_eq!(s.client_id(), Some(""));
}

#[test]
fn command_stats_name_each_command_and_the_login_mechanism() {
    let fx = Fixture::new();
    let mut s = fx.session(true);
    talk(
        &mut s,
        b"1 LOGIN alice wrong\r\n2 XYZZY\r\n3 AUTHENTICATE plain AGFsaWNlAHNlY3JldA==\r\n4 UID FETCH 1 FLAGS\r\n",
    );
    let names: Vec<&str> = s.take_command_stats().iter().map(|c| c.name).collect();
    assert_eq!(names, ["LOGIN", "other", "AUTHENTICATE", "UID FETCH"]);
    assert_eq!(s.auth_mechanism(), Some("PLAIN"));
    assert!(s.is_authenticated());
    assert!(s.take_command_stats().is_empty(), "drained");
}

#[test]
fn compress_answers_and_hands_pipelined_bytes_to_the_driver() {
    let fx = Fixture::new();
    let mut s = fx.session(true);
    let before =
        String::from_utf8(talk(&mut s, b"1 COMPRESS DEFLATE\r\n2 CAPABILITY\r\n")).unwrap();
    assert!(before.starts_with("1 BAD "), "{before}");
    assert!(
        !before.contains("COMPRESS=DEFLATE"),
        "only after login: {before}"
    );
    let login = String::from_utf8(talk(&mut s, b"3 LOGIN alice secret\r\n")).unwrap();
    assert!(login.contains(" COMPRESS=DEFLATE"), "{login}");
    let bad = String::from_utf8(talk(&mut s, b"4 COMPRESS GZIP\r\n")).unwrap();
    assert!(bad.starts_with("4 BAD "), "{bad}");
    // Whatever follows the COMPRESS line is compressed: not parsed, handed back as is.
    let outputs = s.feed(b"5 COMPRESS DEFLATE\r\n\x01\x02garbage 6 NOOP\r\n");
    match &outputs[..] {
        [Output::Write(ok), Output::StartCompress { pipelined }] => {
            assert_eq!(ok, b"5 OK DEFLATE active\r\n");
            assert_eq!(pipelined, b"\x01\x02garbage 6 NOOP\r\n");
        }
        other => panic!("{other:?}"),
    }
    assert!(s.is_compressed());
    let again = String::from_utf8(talk(&mut s, b"7 COMPRESS DEFLATE\r\n8 CAPABILITY\r\n")).unwrap();
    assert!(again.starts_with("7 NO [COMPRESSIONACTIVE] "), "{again}");
    assert!(!again.contains("COMPRESS=DEFLATE"), "{again}");
}

#[test]
fn memory_ceiling_closes_the_session() {
    let fx = Fixture::new();
    let mut s = ImapSession::new(ImapContext {
        is_tls: false,
        starttls_available: true,
        cleartext_allowed: true,
        store: Arc::clone(&fx.store),
        auth: Arc::clone(&fx.auth),
        settings: Arc::new(ImapSettings {
            max_connection_memory: 100_000,
            ..ImapSettings::default()
        }),
        peer: "192.0.2.1:1234".into(),
        login_gate: None,
    });
    let mut input = b"1 SEARCH".to_vec();
    for _ in 0..3 {
        input.extend_from_slice(b" TEXT {40000+}\r\n");
        input.extend_from_slice(&[b'y'; 40000]);
    }
    let outputs = s.feed(&input);
    let mut out = Vec::new();
    assert!(!execute(&mut s, outputs, &mut out), "the session closes");
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("* BAD [LIMIT] "), "{text}");
    assert!(text.contains("\r\n* BYE "), "{text}");
}

/// RFC 7889 STATUS APPENDLIMIT, also through LIST-STATUS (imap-codec does not know the item,
/// so this is not a transcript).
#[test]
fn status_and_list_status_report_the_append_limit() {
    let fx = Fixture::new();
    let mut s = fx.session(true);
    let out = run(
        &mut s,
        b"1 LOGIN alice secret\r\n2 STATUS INBOX (MESSAGES APPENDLIMIT)\r\n\
          3 LIST \"\" Sent RETURN (STATUS (APPENDLIMIT))\r\n",
        usize::MAX,
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.ends_with(
            "* STATUS INBOX (MESSAGES 3 APPENDLIMIT 1000)\r\n2 OK STATUS completed\r\n\
             * LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n* STATUS Sent (APPENDLIMIT 1000)\r\n\
             3 OK LIST completed\r\n"
        ),
        "{text}"
    );
}

/// UIDONLY with a body streamed from its file (the splice around the literal) and in memory:
/// the same `uid UIDFETCH` bytes.
#[test]
fn uidonly_fetch_streamed_and_in_memory_agree() {
    let want = "* 3 UIDFETCH (BODY[] {34}\r\nSubject: three\r\n\r\nbody 1\r\nbody 2\r\n FLAGS (\\Seen \\Recent))\r\n\
                4 OK UID FETCH completed\r\n";
    for stream_from in [0, u64::MAX] {
        let fx = Fixture::new();
        let mut s = fx.session_streaming_from(true, stream_from);
        let out = run(
            &mut s,
            b"1 LOGIN alice secret\r\n2 ENABLE UIDONLY\r\n3 SELECT INBOX\r\n4 UID FETCH 3 BODY[]\r\n",
            usize::MAX,
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.ends_with(want), "stream_from {stream_from}: {text}");
    }
}

/// One IDLE scenario (two EXAMINE sessions, two SELECT sessions, two deliveries), with
/// the driver's non-blocking path or the blocking one: what each session was told.
fn idle_scenario(fast: bool) -> Vec<String> {
    let fx = Fixture::new();
    let mut sessions: Vec<ImapSession> = (0..4).map(|_| fx.session(true)).collect();
    for (i, s) in sessions.iter_mut().enumerate() {
        let select: &[u8] = if i % 2 == 0 { b"SELECT" } else { b"EXAMINE" };
        talk(
            s,
            &[
                b"1 LOGIN alice secret\r\n2 ",
                select,
                b" INBOX\r\n3 IDLE\r\n",
            ]
            .concat(),
        );
    }
    let inbox = fx.mailbox("INBOX");
    let mut told = Vec::new();
    let mut update = |s: &mut ImapSession| {
        let outputs = if fast {
            // The watcher thread may hold the mailbox for a moment after a delivery; the
            // driver then yields and tries again too.
            // A deadline, not a count of tries: on a loaded CI machine the watcher thread
            // can be kept off the CPU for a second or more while it holds the mailbox.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            loop {
                if let Some(outputs) = s.try_idle_update() {
                    break outputs;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "never answered without blocking"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        } else {
            s.idle_update()
        };
        let mut out = Vec::new();
        execute(s, outputs, &mut out);
        told.push(String::from_utf8_lossy(&out).to_string());
    };
    inbox.deliver(&mut &MSG1[..], 1 << 20).expect("deliver");
    // Sessions 1 and 3 sleep through the first delivery: the diff computed for the
    // others must not be handed to them after the second.
    update(&mut sessions[2]);
    update(&mut sessions[0]);
    inbox.deliver(&mut &MSG2[..], 1 << 20).expect("deliver");
    for s in sessions.iter_mut() {
        update(s);
    }
    // Nothing new: nothing said.
    update(&mut sessions[1]);
    told
}

/// The driver's non-blocking IDLE path tells every session what the blocking one does.
#[test]
fn idle_updates_from_the_published_feed_match_the_full_sync() {
    let fast = idle_scenario(true);
    assert_eq!(fast, idle_scenario(false));
    assert_eq!(fast[0], "* 4 EXISTS\r\n* 1 RECENT\r\n", "{fast:?}");
    assert_eq!(fast[2], "* 5 EXISTS\r\n* 5 RECENT\r\n", "{fast:?}");
    assert_eq!(fast[6], "");
}
