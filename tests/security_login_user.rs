//! The per-user login penalty against the real binary: guesses at one user's password from
//! many addresses (a botnet, here distinct loopback addresses) are slowed like guesses from
//! one, for IMAP and POP3 alike; another user is not affected; nobody is banned for it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::buffered::{connect_from, line, send};
use common::{Server, plain_yaml};

const USERS: &str = "alice:{PLAIN}secret\nbob:{PLAIN}hunter2\n";

/// 300 ms first delay doubling up to 2 s; bans after 3 failures per address (never
/// reached here: each address fails once or twice).
fn yaml(data: &Path) -> String {
    plain_yaml(
        data,
        "auth:\n  failure_delay_ms: 300\n  penalty_max_secs: 2\n  ban_after_failures: 3\n  \
         ban_window_secs: 60\n  ban_secs: 60\n  ban_allow: []\n",
    )
}

/// One wrong IMAP LOGIN from `src`: the answer and how long it took.
fn imap_fail(server: &Server, src: &str, user: &str) -> (String, Duration) {
    let mut r = connect_from(src, server.addr("imap"));
    assert!(line(&mut r).starts_with("* OK"));
    let t = Instant::now();
    send(&mut r, &format!("a1 LOGIN {user} wrong\r\n"));
    let answer = line(&mut r);
    (answer, t.elapsed())
}

/// One wrong POP3 USER/PASS from `src`.
fn pop3_fail(server: &Server, src: &str, user: &str) -> (String, Duration) {
    let mut r = connect_from(src, server.addr("pop3"));
    assert!(line(&mut r).starts_with("+OK"));
    send(&mut r, &format!("USER {user}\r\n"));
    assert!(line(&mut r).starts_with("+OK"));
    let t = Instant::now();
    send(&mut r, "PASS wrong\r\n");
    let answer = line(&mut r);
    (answer, t.elapsed())
}

#[test]
fn guesses_at_one_user_from_many_addresses_are_slowed_like_from_one() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_users(tmp.path(), yaml(&tmp.path().join("data")), USERS, 2);
    // Four addresses, one guess each, alternating protocols: 300, 600, 1200, 2000 ms.
    let mut took = Vec::new();
    for (i, src) in ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"]
        .iter()
        .enumerate()
    {
        let (answer, t) = if i % 2 == 0 {
            imap_fail(&server, src, "alice")
        } else {
            pop3_fail(&server, src, "alice")
        };
        assert!(
            answer.starts_with("a1 NO [AUTHENTICATIONFAILED]") || answer.starts_with("-ERR [AUTH]"),
            "{answer}"
        );
        took.push(t);
    }
    let ms: Vec<u128> = took.iter().map(Duration::as_millis).collect();
    assert!(ms[0] >= 300 && ms[0] < 1000, "{ms:?}");
    assert!(ms[1] >= 600, "{ms:?}");
    assert!(ms[2] >= 1200, "{ms:?}");
    assert!(
        ms[3] >= 2000 && ms[3] < 4000,
        "capped at penalty_max_secs: {ms:?}"
    );
    // Another user from a fresh address pays only the first delay (300 ms), not alice's
    // 2 s. The bounds below sit at that 2 s, not near 300 ms: a loaded CI machine can add
    // half a second to an answer.
    let penalized = Duration::from_secs(2);
    let (_, bob) = imap_fail(&server, "127.0.0.15", "bob");
    assert!(bob < penalized, "{bob:?}");
    // Nobody was banned: each address failed once.
    let mut r = connect_from("127.0.0.11", server.addr("imap"));
    assert!(line(&mut r).starts_with("* OK"));
    // The real alice logs in at once, and that forgives her name.
    let t = Instant::now();
    send(&mut r, "a2 LOGIN alice secret\r\n");
    assert!(line(&mut r).starts_with("a2 OK"));
    assert!(t.elapsed() < penalized, "{:?}", t.elapsed());
    let (_, after) = pop3_fail(&server, "127.0.0.16", "alice");
    assert!(after < penalized, "{after:?}");
}

#[test]
fn sasl_failures_count_for_the_user_named_inside_the_exchange() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with_users(tmp.path(), yaml(&tmp.path().join("data")), USERS, 2);
    // AUTHENTICATE PLAIN with alice/wrong, twice from two addresses: the second waits longer.
    let mut took = Vec::new();
    for src in ["127.0.0.21", "127.0.0.22"] {
        let mut r = connect_from(src, server.addr("imap"));
        assert!(line(&mut r).starts_with("* OK"));
        let t = Instant::now();
        // base64("\0alice\0wrong")
        send(&mut r, "a1 AUTHENTICATE PLAIN AGFsaWNlAHdyb25n\r\n");
        let answer = line(&mut r);
        assert!(
            answer.starts_with("a1 NO [AUTHENTICATIONFAILED]"),
            "{answer}"
        );
        took.push(t.elapsed());
    }
    assert!(took[1] >= Duration::from_millis(600), "{took:?}");
}
