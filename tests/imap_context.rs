//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4) end to end: the real `roost`
//! binary, a raw Python client keeping a SEARCH and a SORT result live while an LMTP
//! delivery and imaplib change its mailbox.

mod common;

use std::time::{Duration, Instant};

use common::{ALICE, Server, connect, python_with_lmtp, read_line, send};

#[test]
fn search_and_sort_updates_follow_lmtp_and_other_sessions() {
    let Some(stdout) = python_with_lmtp("imap_context.py") else {
        return;
    };
    let got: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            let step = l.split(':').next().unwrap_or("");
            !["login", "enable", "select", "logout"].contains(&step)
        })
        .collect();
    let want = [
        "search: * ESEARCH (TAG \"t1\") UID ALL 1",
        "search: t1 OK UID SEARCH completed",
        "sort: * ESEARCH (TAG \"t2\") UID ALL 1",
        "sort: t2 OK UID SORT completed",
        "idle: + idling",
        // Subject "b" sorts before "a" in reverse: position 1.
        "lmtp: * 2 EXISTS",
        "lmtp: * ESEARCH (TAG \"t1\") UID ADDTO (0 2)",
        "lmtp: * ESEARCH (TAG \"t2\") UID ADDTO (1 2)",
        "seen: * ESEARCH (TAG \"t1\") UID REMOVEFROM (0 1)",
        "seen: * 1 FETCH (FLAGS (\\Seen) UID 1)",
        "done: i OK IDLE terminated",
        "append: * 3 EXISTS",
        "append: * ESEARCH (TAG \"t1\") UID ADDTO (0 3)",
        "append: * ESEARCH (TAG \"t2\") UID ADDTO (1 3)",
        "append: n OK NOOP completed",
        // REMOVEFROM before the EXPUNGE (RFC 5267 4.3.4).
        "expunge: * ESEARCH (TAG \"t1\") UID REMOVEFROM (0 2)",
        "expunge: * ESEARCH (TAG \"t2\") UID REMOVEFROM (2 2)",
        "expunge: * 2 EXPUNGE",
        "expunge: n OK NOOP completed",
        "cancel: c OK CANCELUPDATE completed",
        "after-cancel: * 3 EXISTS",
        "after-cancel: n OK NOOP completed",
    ];
    assert_eq!(got, want, "\n{stdout}");
}

/// Lines up to the tagged answer of `tag`.
fn until(s: &mut std::net::TcpStream, tag: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = read_line(s).unwrap_or_else(|| panic!("EOF before {tag}: {lines:?}"));
        let done = l.starts_with(&format!("{tag} "));
        lines.push(l);
        if done {
            return lines;
        }
    }
}

#[test]
fn younger_result_in_idle_loses_a_message_as_it_ages() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_users(dir.path(), ALICE);
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(&mut s, "l LOGIN alice secret\r\n");
    until(&mut s, "l");
    send(&mut s, "s SELECT INBOX\r\n");
    until(&mut s, "s");
    // Dated now by the server: younger than 2 seconds for at most 2 seconds.
    send(&mut s, "a APPEND INBOX {12+}\r\nSubject: x\r\n\r\n");
    until(&mut s, "a");
    send(&mut s, "t UID SEARCH RETURN (ALL UPDATE) YOUNGER 2\r\n");
    let got = until(&mut s, "t");
    assert!(
        got.contains(&"* ESEARCH (TAG \"t\") UID ALL 1".to_string()),
        "{got:?}"
    );
    send(&mut s, "i IDLE\r\n");
    assert_eq!(read_line(&mut s).unwrap(), "+ idling");
    let idled = Instant::now();
    // Nothing else changes the mailbox: only the clock can send this.
    assert_eq!(
        read_line(&mut s).unwrap(),
        "* ESEARCH (TAG \"t\") UID REMOVEFROM (0 1)"
    );
    assert!(
        idled.elapsed() < Duration::from_secs(3),
        "{:?}",
        idled.elapsed()
    );
    send(&mut s, "DONE\r\n");
    assert_eq!(until(&mut s, "i"), ["i OK IDLE terminated"]);
}
