//! The POP3 session on real Maildirs and a real users file: C:/S: transcripts replayed
//! pipelined and in every chunk size, plus the behaviours transcripts cannot show
//! (random challenges, IMAP-side expunges, locks, what QUIT commits).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use roost_pop3::{
    Frame, LineFramer, LoginDelays, MaildropLocks, Output, Pop3Context, Pop3Session, Pop3Settings,
    UidlFormat,
};
use roost_storage::auth::Authenticator;
use roost_storage::{Flags, Mailbox, MailboxOptions, Store};
use roost_testkit::StoreBuilder;
use roost_testkit::maildir::files;
use roost_testkit::store::open;

const MSG1: &[u8] = b"Subject: one\n\nHello\n.dot line\n";
const MSG2: &[u8] = b"Subject: 22\n\nA\rB\0C\n";
const MSG3: &[u8] = b"Subject: three\n\nbody 1 xx\nbody 2 xx\nbody 3 xx\n";

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: Arc<Store>,
    auth: Arc<Authenticator>,
    locks: MaildropLocks,
}

impl Fixture {
    /// alice ({PLAIN}secret) with MSG1..MSG3 in INBOX; MSG2 is written by "another
    /// program" without a `,W=` size, so its size must be computed.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("users"), "alice:{PLAIN}secret\n").expect("users");
        let auth = Arc::new(Authenticator::open(root.join("users")).expect("auth"));
        let store =
            StoreBuilder::for_mail_path(format!("{}/mail/{{user}}", root.display())).build();
        let fx = Fixture {
            _dir: dir,
            root,
            store,
            auth,
            locks: MaildropLocks::default(),
        };
        let inbox = fx.inbox();
        inbox.deliver(&mut &MSG1[..], 1 << 20).expect("deliver 1");
        let raw = fx.root.join("mail/alice/new/1700000000.M1P1.other");
        std::fs::write(raw, MSG2).expect("raw message");
        inbox.sync_now(true).expect("sync");
        inbox.deliver(&mut &MSG3[..], 1 << 20).expect("deliver 3");
        let snap = inbox.snapshot().expect("snapshot");
        assert_eq!(snap.messages.len(), 3);
        assert_eq!(snap.messages[1].vsize, None, "MSG2 has no W= size");
        fx
    }

    fn inbox(&self) -> Arc<Mailbox> {
        open(&self.store, "alice", "INBOX")
    }

    fn uid_validity(&self) -> u32 {
        self.inbox().snapshot().expect("snapshot").uid_validity
    }

    fn session(&self, settings: Pop3Settings) -> Pop3Session {
        Pop3Session::new(Pop3Context {
            is_tls: false,
            stls_available: true,
            cleartext_allowed: true,
            store: Arc::clone(&self.store),
            auth: Arc::clone(&self.auth),
            settings: Arc::new(settings),
            hostname: "test.example".into(),
            peer: "192.0.2.1:1234".into(),
            locks: self.locks.clone(),
            login_delays: LoginDelays::default(),
            login_gate: None,
        })
    }
}

/// Carries out outputs the way the driver does; a file is read 7 bytes at a time.
fn execute(session: &mut Pop3Session, outputs: Vec<Output>, out: &mut Vec<u8>) -> bool {
    for o in outputs {
        match o {
            Output::Write(bytes) => out.extend_from_slice(&bytes),
            Output::Stream {
                mut file,
                mut stuffer,
                header,
            } => {
                out.extend_from_slice(&header);
                let mut buf = [0u8; 7];
                loop {
                    let n = file.read(&mut buf).expect("read message");
                    if n == 0 || stuffer.feed(&buf[..n], out) == roost_pop3::Progress::Done {
                        break;
                    }
                }
                stuffer.finish(out);
            }
            Output::StartTls => {
                out.extend_from_slice(b"<TLS>\r\n");
                session.tls_started(true);
            }
            Output::AuthFailed(_) => {}
            Output::Close => return false,
            Output::LoggedIn { .. } => {}
        }
    }
    true
}

/// Feeds `input` in chunks of `chunk` bytes, switching the framer's mode between lines
/// as the driver does, and returns everything the server sent.
fn run(session: &mut Pop3Session, input: &[u8], chunk: usize) -> Vec<u8> {
    run_via(session, input, chunk, Pop3Session::handle)
}

/// [`run`] with each frame answered by `answer` instead of [`Pop3Session::handle`].
fn run_via(
    session: &mut Pop3Session,
    input: &[u8],
    chunk: usize,
    answer: fn(&mut Pop3Session, Frame) -> Vec<Output>,
) -> Vec<u8> {
    let mut out = session.greeting();
    let mut framer = LineFramer::new(Pop3Settings::default().limits);
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            framer.set_mode(session.frame_mode());
            let (used, frame) = framer.decode(rest);
            rest = &rest[used..];
            if let Some(frame) = frame {
                let outputs = answer(session, frame);
                if !execute(session, outputs, &mut out) {
                    return out;
                }
            }
        }
    }
    out
}

/// (client bytes, expected server bytes) of a transcript file.
fn transcript(path: &Path, uid_validity: u32) -> (Vec<u8>, Vec<u8>) {
    let text = std::fs::read_to_string(path).expect("transcript");
    let (mut c, mut s) = (Vec::new(), Vec::new());
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("C:") {
            c.extend_from_slice(rest.strip_prefix(' ').unwrap_or(rest).as_bytes());
            c.extend_from_slice(b"\r\n");
        } else if let Some(rest) = line.strip_prefix("S:") {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            let rest = rest.replace("{V}", &format!("{uid_validity:08X}"));
            s.extend_from_slice(rest.as_bytes());
            s.extend_from_slice(b"\r\n");
        } else {
            assert!(
                line.is_empty() || line.starts_with('#'),
                "bad transcript line {line:?}"
            );
        }
    }
    (c, s)
}

fn transcripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let files: Vec<PathBuf> = files(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pop3"))
        .collect();
    assert!(files.len() >= 4, "{files:?}");
    files
}

#[test]
fn transcripts_pipelined_and_in_every_chunk_size() {
    for path in transcripts() {
        let sizes = (1..=17).chain([64, 255, 256, 100_000]);
        for chunk in sizes {
            let fx = Fixture::new();
            let (input, want) = transcript(&path, fx.uid_validity());
            let got = run(&mut fx.session(Pop3Settings::default()), &input, chunk);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{} with chunk size {chunk}",
                path.display()
            );
        }
    }
}

fn login(fx: &Fixture, settings: Pop3Settings) -> Pop3Session {
    let mut s = fx.session(settings);
    let out = run(&mut s, b"USER alice\r\nPASS secret\r\n", 1000);
    assert!(
        String::from_utf8_lossy(&out).ends_with("+OK Logged in, 3 messages.\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    s
}

/// Runs more commands on a logged-in session; returns only their answers.
fn more(s: &mut Pop3Session, input: &str) -> String {
    let greeting = s.greeting().len();
    let out = run(s, input.as_bytes(), 1000);
    String::from_utf8_lossy(&out[greeting..]).into_owned()
}

#[test]
fn retr_sends_bare_cr_and_nul_and_the_listed_size_matches() {
    let fx = Fixture::new();
    let mut s = login(&fx, Pop3Settings::default());
    let out = more(&mut s, "LIST 2\r\nRETR 2\r\n");
    let (list, body) = out.split_once("+OK 22 octets\r\n").expect("RETR answer");
    assert_eq!(list, "+OK 2 22\r\n");
    let body = body.strip_suffix(".\r\n").expect("terminator");
    assert_eq!(body.as_bytes(), b"Subject: 22\r\n\r\nA\rB\0C\r\n");
    assert_eq!(body.len(), 22);
}

#[test]
fn quit_commits_seen_and_expunge_and_disconnect_commits_nothing() {
    let fx = Fixture::new();
    let uids: Vec<u32> = fx
        .inbox()
        .snapshot()
        .expect("s")
        .messages
        .iter()
        .map(|m| m.uid)
        .collect();
    // Disconnect without QUIT: nothing changes.
    let mut s = login(&fx, Pop3Settings::default());
    more(&mut s, "RETR 1\r\nDELE 2\r\n");
    drop(s);
    let snap = fx.inbox().snapshot().expect("snapshot");
    assert_eq!(snap.messages.len(), 3);
    assert!(snap.messages.iter().all(|m| !m.flags.contains(Flags::SEEN)));
    // QUIT: RETR'd message gets \Seen, TOP'd one does not, DELE'd one is expunged.
    let mut s = login(&fx, Pop3Settings::default());
    let out = more(&mut s, "RETR 1\r\nTOP 3 1\r\nDELE 2\r\nQUIT\r\n");
    assert!(
        out.ends_with("+OK Logging out, 1 deleted, 2 left.\r\n"),
        "{out}"
    );
    let snap = fx.inbox().snapshot().expect("snapshot");
    let got: Vec<(u32, bool)> = snap
        .messages
        .iter()
        .map(|m| (m.uid, m.flags.contains(Flags::SEEN)))
        .collect();
    assert_eq!(got, [(uids[0], true), (uids[2], false)]);
    // The setting turns \Seen off.
    let fx = Fixture::new();
    let settings = Pop3Settings {
        retr_sets_seen: false,
        ..Pop3Settings::default()
    };
    let mut s = login(&fx, settings);
    more(&mut s, "RETR 1\r\nQUIT\r\n");
    let snap = fx.inbox().snapshot().expect("snapshot");
    assert!(!snap.messages[0].flags.contains(Flags::SEEN));
}

#[test]
fn imap_expunge_during_session_gives_err_for_that_message_only() {
    let fx = Fixture::new();
    let mut s = login(&fx, Pop3Settings::default());
    let before = more(&mut s, "UIDL\r\n");
    let inbox = fx.inbox();
    let uid2 = inbox.snapshot().expect("s").messages[1].uid;
    assert_eq!(inbox.expunge(&[uid2]).expect("expunge"), [uid2]);
    let out = more(
        &mut s,
        "RETR 2\r\nTOP 2 0\r\nDELE 2\r\nUIDL\r\nLIST 2\r\nRETR 1\r\n",
    );
    let gone = "-ERR Message 2 was deleted by another session.\r\n";
    assert!(
        out.starts_with(&format!("{gone}{gone}{gone}{before}+OK 2 22\r\n")),
        "{out}"
    );
    assert!(out.contains("+OK 34 octets\r\nSubject: one\r\n"), "{out}");
    assert!(more(&mut s, "QUIT\r\n").starts_with("+OK Logging out, 0 deleted"));
    assert_eq!(fx.inbox().snapshot().expect("s").messages.len(), 2);
}

#[test]
fn deleted_keyword_hides_instead_of_expunging() {
    let fx = Fixture::new();
    let settings = || Pop3Settings {
        deleted_keyword: Some("$POP3Deleted".into()),
        ..Pop3Settings::default()
    };
    let mut s = login(&fx, settings());
    more(&mut s, "DELE 1\r\nQUIT\r\n");
    assert_eq!(
        fx.inbox().snapshot().expect("s").messages.len(),
        3,
        "IMAP keeps it"
    );
    let mut s = fx.session(settings());
    let out = run(&mut s, b"USER alice\r\nPASS secret\r\nSTAT\r\n", 1000);
    assert!(
        String::from_utf8_lossy(&out).ends_with("+OK Logged in, 2 messages.\r\n+OK 2 73\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn exclusive_lock_gives_in_use_until_the_first_session_ends() {
    let fx = Fixture::new();
    let settings = || Pop3Settings {
        lock_maildrop: true,
        ..Pop3Settings::default()
    };
    let first = login(&fx, settings());
    let mut second = fx.session(settings());
    let out = run(&mut second, b"USER alice\r\nPASS secret\r\n", 1000);
    assert!(
        String::from_utf8_lossy(&out)
            .ends_with("-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n")
    );
    drop(first);
    drop(login(&fx, settings()));
    // Without the setting two sessions coexist.
    let _a = login(&fx, Pop3Settings::default());
    let _b = login(&fx, Pop3Settings::default());
}

#[test]
fn login_gate_refusal_is_in_use_and_failures_ask_for_the_delay() {
    let fx = Fixture::new();
    let mut ctx_session = Pop3Session::new(Pop3Context {
        is_tls: true,
        stls_available: false,
        cleartext_allowed: true,
        store: Arc::clone(&fx.store),
        auth: Arc::clone(&fx.auth),
        settings: Arc::new(Pop3Settings::default()),
        hostname: "h".into(),
        peer: "p".into(),
        locks: fx.locks.clone(),
        login_delays: LoginDelays::default(),
        login_gate: Some(Arc::new(|_user: &str| None)),
    });
    let out = ctx_session.handle(Frame::Line(b"USER alice".to_vec()));
    assert!(matches!(&out[..], [Output::Write(_)]));
    let out = ctx_session.handle(Frame::Line(b"PASS wrong".to_vec()));
    assert!(
        matches!(&out[..], [Output::AuthFailed(_), Output::Write(_)]),
        "{out:?}"
    );
    ctx_session.handle(Frame::Line(b"USER alice".to_vec()));
    let out = ctx_session.handle(Frame::Line(b"PASS secret".to_vec()));
    let [Output::Write(bytes)] = &out[..] else {
        panic!("{out:?}")
    };
    assert!(String::from_utf8_lossy(bytes).starts_with("-ERR [IN-USE]"));
    // No STLS over TLS, and CAPA says so.
    let out = more(&mut ctx_session, "STLS\r\nCAPA\r\n");
    assert!(out.starts_with("-ERR TLS is already active.\r\n"), "{out}");
    assert!(!out.contains("STLS\r\n"), "{out}");
}

#[test]
fn cleartext_refused_hides_user_plain_login_and_refuses_them() {
    let fx = Fixture::new();
    let mut s = Pop3Session::new(Pop3Context {
        is_tls: false,
        stls_available: true,
        cleartext_allowed: false,
        store: Arc::clone(&fx.store),
        auth: Arc::clone(&fx.auth),
        settings: Arc::new(Pop3Settings::default()),
        hostname: "h".into(),
        peer: "p".into(),
        locks: fx.locks.clone(),
        login_delays: LoginDelays::default(),
        login_gate: None,
    });
    let out = more(
        &mut s,
        "CAPA\r\nUSER alice\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nSTLS\r\n",
    );
    assert!(
        out.contains("SASL SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5\r\n"),
        "{out}"
    );
    assert!(!out.contains("USER\r\n"), "{out}");
    let refused = "-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.\r\n";
    assert!(
        out.contains(&format!("{refused}{refused}+OK Begin TLS")),
        "{out}"
    );
    assert!(out.ends_with("<TLS>\r\n"), "{out}");
    // After the handshake the driver says cleartext is fine.
    let out = more(&mut s, "CAPA\r\nUSER alice\r\nPASS secret\r\n");
    assert!(out.contains("USER\r\n") && !out.contains("STLS"), "{out}");
    assert!(out.ends_with("+OK Logged in, 3 messages.\r\n"), "{out}");
}

fn md5_hex(data: &[u8]) -> String {
    // RFC 1321 through the storage crate's dependency would need a dev-dependency;
    // python3 is on every machine the tests run on, so ask it instead.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.md5(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn apop_uses_the_greeting_timestamp() {
    let fx = Fixture::new();
    let settings = || Pop3Settings {
        apop: true,
        ..Pop3Settings::default()
    };
    let mut s = fx.session(settings());
    let greeting = String::from_utf8(s.greeting()).expect("utf8");
    let ts = greeting
        .trim_end()
        .rsplit(' ')
        .next()
        .expect("timestamp")
        .to_owned();
    assert!(
        ts.starts_with('<') && ts.ends_with("@test.example>"),
        "{greeting}"
    );
    let digest = md5_hex(format!("{ts}secret").as_bytes());
    let wrong = md5_hex(format!("{ts}wrong").as_bytes());
    let out = more(
        &mut s,
        &format!("APOP alice {wrong}\r\nAPOP alice {digest}\r\nSTAT\r\n"),
    );
    assert_eq!(
        out,
        "-ERR [AUTH] Authentication failed.\r\n+OK Logged in, 3 messages.\r\n+OK 3 107\r\n"
    );
}

#[test]
fn sasl_cram_md5_and_scram_through_the_session() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let fx = Fixture::new();
    // CRAM-MD5: HMAC-MD5 via python's hmac module, a real independent implementation.
    let mut s = fx.session(Pop3Settings::default());
    let out = more(&mut s, "AUTH CRAM-MD5\r\n");
    let challenge = b64
        .decode(out.trim_end().strip_prefix("+ ").expect("challenge"))
        .expect("b64");
    let py = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac,sys; print(hmac.new(b'secret', sys.argv[1].encode(), 'md5').hexdigest())",
            &String::from_utf8_lossy(&challenge),
        ])
        .output()
        .expect("python3");
    let digest = String::from_utf8_lossy(&py.stdout).trim().to_owned();
    let resp = b64.encode(format!("alice {digest}"));
    assert_eq!(
        more(&mut s, &format!("{resp}\r\n")),
        "+OK Logged in, 3 messages.\r\n"
    );
    // SCRAM-SHA-256 with a client in Python (hashlib.pbkdf2_hmac, RFC 5802 steps).
    let script = r#"
import base64,hashlib,hmac,sys
msg=lambda: sys.stdin.readline().strip()
nonce="fyko+d2lbbFgONRv9qkxdawL"
first_bare="n=alice,r="+nonce
print("AUTH SCRAM-SHA-256 "+base64.b64encode(("n,,"+first_bare).encode()).decode(),flush=True)
server_first=base64.b64decode(msg()[2:]).decode()
attrs=dict(a.split("=",1) for a in server_first.split(","))
salted=hashlib.pbkdf2_hmac("sha256",b"secret",base64.b64decode(attrs["s"]),int(attrs["i"]))
ck=hmac.new(salted,b"Client Key","sha256").digest()
sk=hashlib.sha256(ck).digest()
without="c=biws,r="+attrs["r"]
am=(first_bare+","+server_first+","+without).encode()
sig=hmac.new(sk,am,"sha256").digest()
proof=bytes(a^b for a,b in zip(ck,sig))
print(base64.b64encode((without+",p="+base64.b64encode(proof).decode()).encode()).decode(),flush=True)
final=base64.b64decode(msg()[2:]).decode()
server_key=hmac.new(salted,b"Server Key","sha256").digest()
assert final=="v="+base64.b64encode(hmac.new(server_key,am,"sha256").digest()).decode(), final
print("",flush=True)
print(msg(),flush=True)
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut to_py = child.stdin.take().expect("stdin");
    let mut from_py = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut s = fx.session(Pop3Settings::default());
    let mut next = || {
        use std::io::BufRead;
        let mut l = String::new();
        from_py.read_line(&mut l).expect("python line");
        l
    };
    for _ in 0..3 {
        let line = next();
        let answer = more(&mut s, &line.replace('\n', "\r\n"));
        use std::io::Write;
        to_py.write_all(answer.as_bytes()).expect("to python");
        to_py.flush().expect("flush");
    }
    assert_eq!(next().trim_end(), "+OK Logged in, 3 messages.");
    assert!(child.wait().expect("python").success());
}

#[test]
fn legacy_uidl_and_uidl_templates() {
    let fx = Fixture::new();
    let uv = fx.uid_validity();
    let settings = Pop3Settings {
        uidl_format: UidlFormat::parse("cyrus").expect("preset"),
        ..Pop3Settings::default()
    };
    let mut s = login(&fx, settings);
    let out = more(&mut s, "UIDL 1\r\n");
    assert_eq!(out, format!("+OK 1 {uv}.1\r\n"));
}

#[test]
fn legacy_pop3_uidl_from_dovecot_uidlist_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let maildir = root.join("mail/alice");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
    }
    std::fs::write(maildir.join("cur/1600000000.M1P1.old:2,S"), MSG1).expect("m1");
    std::fs::write(maildir.join("cur/1600000001.M1P1.old:2,"), MSG3).expect("m2");
    std::fs::write(
        maildir.join("dovecot-uidlist"),
        "3 V1234 N3 G0123456789abcdef0123456789abcdef\n\
         1 PUID1-from-old-server :1600000000.M1P1.old\n\
         2 :1600000001.M1P1.old\n",
    )
    .expect("uidlist");
    std::fs::write(root.join("users"), "alice:{PLAIN}secret\n").expect("users");
    let fx = Fixture {
        root: root.to_path_buf(),
        store: StoreBuilder::for_mail_path(format!("{}/mail/{{user}}", root.display()))
            .mailbox_options(MailboxOptions::default())
            .autocreate(false)
            .build(),
        auth: Arc::new(Authenticator::open(root.join("users")).expect("auth")),
        locks: MaildropLocks::default(),
        _dir: dir,
    };
    let mut s = fx.session(Pop3Settings::default());
    let out = run(
        &mut s,
        b"USER alice\r\nPASS secret\r\nUIDL\r\nLIST\r\n",
        1000,
    );
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.ends_with(
            "+OK\r\n1 UID1-from-old-server\r\n2 00000002000004D2\r\n.\r\n\
             +OK 2 messages\r\n1 34\r\n2 51\r\n.\r\n"
        ),
        "{out}"
    );
    let _ = fx.root.exists();
}

#[test]
fn storage_failure_is_sys_temp_and_the_session_goes_on() {
    let fx = Fixture::new();
    // bob's Maildir path is taken by a plain file: storage cannot create or open it.
    std::fs::write(
        fx.root.join("users"),
        "alice:{PLAIN}secret\nbob:{PLAIN}pw\n",
    )
    .expect("users");
    std::fs::write(fx.root.join("mail/bob"), b"not a directory").expect("file");
    let mut s = fx.session(Pop3Settings::default());
    let out = run(
        &mut s,
        b"USER bob\r\nPASS pw\r\nUSER alice\r\nPASS secret\r\n",
        1000,
    );
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains(
            "+OK\r\n-ERR [SYS/TEMP] Cannot open the mailbox; try again later.\r\n+OK\r\n\
             +OK Logged in, 3 messages.\r\n"
        ),
        "{out}"
    );
}

#[test]
fn overlong_sasl_line_ends_the_exchange_only() {
    let fx = Fixture::new();
    let mut s = fx.session(Pop3Settings::default());
    let long = "A".repeat(20_000);
    let out = more(&mut s, &format!("AUTH PLAIN\r\n{long}\r\nNOOP\r\n"));
    assert_eq!(out, "+ \r\n-ERR Authentication line too long.\r\n+OK\r\n");
    // A line over the 255-octet command limit but under the SASL limit is read whole
    // (a 9,000-octet password, wrong of course).
    use base64::Engine;
    let mut plain = b"\0alice\0".to_vec();
    plain.extend(std::iter::repeat_n(b'x', 6_750));
    let padded = base64::engine::general_purpose::STANDARD.encode(plain);
    assert!(padded.len() > 9_000);
    let out = more(&mut s, &format!("AUTH PLAIN\r\n{padded}\r\n"));
    assert_eq!(out, "+ \r\n-ERR [AUTH] Authentication failed.\r\n");
}

#[test]
fn login_delay_refuses_logins_too_close_together() {
    let fx = Fixture::new();
    let delays = LoginDelays::default();
    let session = || {
        Pop3Session::new(Pop3Context {
            is_tls: true,
            stls_available: false,
            cleartext_allowed: true,
            store: Arc::clone(&fx.store),
            auth: Arc::clone(&fx.auth),
            settings: Arc::new(Pop3Settings {
                login_delay_secs: 3600,
                ..Pop3Settings::default()
            }),
            hostname: "h".into(),
            peer: "p".into(),
            locks: fx.locks.clone(),
            login_delays: delays.clone(),
            login_gate: None,
        })
    };
    let out = more(&mut session(), "CAPA\r\nUSER alice\r\nPASS secret\r\n");
    assert!(out.contains("LOGIN-DELAY 3600\r\n"), "{out}");
    assert!(out.ends_with("+OK Logged in, 3 messages.\r\n"), "{out}");
    let out = more(&mut session(), "USER alice\r\nPASS secret\r\n");
    assert_eq!(
        out,
        "+OK\r\n-ERR [LOGIN-DELAY] Wait 3600 seconds between logins.\r\n"
    );
    assert!(delays.allow("bob", Duration::from_secs(3600)), "per user");
    assert!(
        delays.allow("alice", Duration::ZERO),
        "zero delay never refuses"
    );
}

/// What the driver does: the answer without waiting when there is one, else `handle`.
fn nowait_first(s: &mut Pop3Session, frame: Frame) -> Vec<Output> {
    match s.try_handle_nowait(frame, 1 << 20) {
        Ok(outputs) => outputs,
        Err(frame) => s.handle(frame),
    }
}

#[test]
fn transcripts_answered_without_waiting_are_byte_for_byte_the_same() {
    for path in transcripts() {
        for chunk in [1, 5, 100_000] {
            let fx = Fixture::new();
            let (input, want) = transcript(&path, fx.uid_validity());
            let mut s = fx.session(Pop3Settings::default());
            let got = run_via(&mut s, &input, chunk, nowait_first);
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{} with chunk size {chunk}",
                path.display()
            );
        }
    }
}

#[test]
fn retr_without_waiting_sets_seen_and_leaves_expunged_and_big_messages_to_handle() {
    let fx = Fixture::new();
    let mut s = login(&fx, Pop3Settings::default());
    let line = |l: &str| Frame::Line(l.as_bytes().to_vec());
    // A cached small message: answered here, as a stream of its file.
    let out = s
        .try_handle_nowait(line("RETR 1"), 1 << 20)
        .expect("nowait");
    assert!(matches!(out.as_slice(), [Output::Stream { .. }]), "{out:?}");
    // Too big for the limit, or a message another session expunged: back to `handle`.
    assert!(s.try_handle_nowait(line("RETR 3"), 10).is_err());
    let inbox = fx.inbox();
    let uid2 = inbox.snapshot().expect("s").messages[1].uid;
    inbox.expunge(&[uid2]).expect("expunge");
    let Err(frame) = s.try_handle_nowait(line("RETR 2"), 1 << 20) else {
        panic!("an expunged message was answered without the blocking path");
    };
    let (outputs, mut out) = (s.handle(frame), Vec::new());
    execute(&mut s, outputs, &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "-ERR Message 2 was deleted by another session.\r\n"
    );
    // Not logged in, or not a message command: always `handle`.
    assert!(s.try_handle_nowait(line("UIDL"), 1 << 20).is_err());
    assert!(
        fx.session(Pop3Settings::default())
            .try_handle_nowait(line("STAT"), 1 << 20)
            .is_err()
    );
    // The RETR answered without waiting counts for \Seen at QUIT like any other.
    let out = more(&mut s, "QUIT\r\n");
    assert!(out.starts_with("+OK Logging out"), "{out}");
    let snap = fx.inbox().snapshot().expect("snapshot");
    assert!(snap.messages[0].flags.contains(Flags::SEEN));
    assert!(!snap.messages[1].flags.contains(Flags::SEEN));
}
