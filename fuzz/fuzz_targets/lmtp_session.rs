//! The LMTP session (`roost-lmtp`) on arbitrary client lines, delivering into a real
//! Maildir in a temp dir: it must never panic, every reply must be well-formed SMTP
//! (`NNN-text` / `NNN text` lines, CRLF, final line without `-`), and a session must only
//! close after QUIT.
//!
//! Input lines are split on LF as the driver's line reader does (a trailing CR is
//! dropped); a line over the session's current limit is reported as too long.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use roost_lmtp::{LmtpContext, LmtpSession, Reply};
use roost_storage::auth::Authenticator;
use roost_storage::{MailboxName, MailboxOptions, Store, StoreConfig};

/// Messages kept in a fuzzed INBOX before it is emptied, so long runs stay small on disk.
const MAX_KEPT: usize = 200;

fn context() -> &'static LmtpContext {
    static CTX: OnceLock<LmtpContext> = OnceLock::new();
    CTX.get_or_init(|| {
        // One directory per process, emptied at start; the fuzzer never exits cleanly
        // enough to remove it afterwards, so the name is stable for reuse.
        let root = std::env::temp_dir().join(format!("roost-fuzz-lmtp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("fuzz temp dir");
        std::fs::write(
            root.join("users"),
            "alice:{PLAIN}secret\nbob@example.org:{PLAIN}secret\n",
        )
        .expect("users file");
        let users = Arc::new(Authenticator::open(root.join("users")).expect("users"));
        let store = Store::new(StoreConfig {
            mail_path: format!("{}/mail/{{user}}", root.display()),
            mailbox: MailboxOptions {
                fsync: false,
                lock_timeout: Duration::from_secs(5),
                stale_lock: Duration::from_secs(120),
            },
            rescan_interval: Duration::from_secs(3600),
            autocreate: false,
            special_use: Vec::new(),
            aliases: Vec::new(),
        });
        LmtpContext {
            hostname: "fuzz.example".into(),
            store,
            users,
            max_message_size: 2048,
            max_recipients: 3,
        }
    })
}

/// Every line of a reply is `NNN-text` or `NNN text` with CRLF; only the last has a space.
fn check_reply(reply: &Reply) {
    if reply.bytes.is_empty() {
        return;
    }
    assert!(reply.bytes.ends_with(b"\r\n"), "{:?}", reply);
    let text = std::str::from_utf8(&reply.bytes).expect("replies are UTF-8");
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    for (i, line) in lines.iter().enumerate() {
        let b = line.as_bytes();
        assert!(
            b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit),
            "{line:?}"
        );
        assert!(matches!(b[0], b'2'..=b'5'), "{line:?}");
        assert!(!line.contains('\r') && !line.contains('\n'), "{line:?}");
        // Per-recipient replies after DATA are separate final lines; within a multi-line
        // reply every line but the last continues with '-'.
        if b[3] == b'-' {
            assert!(
                i + 1 < lines.len(),
                "a continuation line ends the reply: {text:?}"
            );
        } else {
            assert_eq!(b[3], b' ', "{line:?}");
        }
    }
}

fn empty_inbox(ctx: &LmtpContext, user: &str) {
    let Ok(us) = ctx.store.user(user) else {
        return;
    };
    let Ok(name) = MailboxName::new("INBOX") else {
        return;
    };
    if !us.exists(&name) {
        return;
    }
    if let Ok(mb) = us.open(&name)
        && let Ok(snap) = mb.snapshot()
        && snap.messages.len() > MAX_KEPT
    {
        let uids: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
        let _ = mb.expunge(&uids);
    }
}

fuzz_target!(|data: &[u8]| {
    let ctx = context();
    let mut session = LmtpSession::new(ctx.clone());
    let greeting = session.greeting();
    assert!(greeting.starts_with(b"220 ") && greeting.ends_with(b"\r\n"));
    let mut closed = false;
    let mut rest = data;
    while !rest.is_empty() {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            // The last unterminated line never reaches the session (the driver waits).
            None => break,
        };
        rest = after;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let quit = !session.in_data()
            && line
                .get(..4)
                .is_some_and(|v| v.eq_ignore_ascii_case(b"QUIT"));
        let reply = if line.len() > session.max_line() {
            session.line_too_long()
        } else {
            session.handle_line(line)
        };
        check_reply(&reply);
        if reply.close {
            assert!(
                quit && reply.bytes.starts_with(b"221 "),
                "closed without QUIT: {reply:?}"
            );
            closed = true;
            break;
        }
    }
    if !closed {
        session.disconnected();
    }
    for user in ["alice", "bob@example.org"] {
        empty_inbox(ctx, user);
    }
});
