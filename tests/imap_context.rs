//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4) end to end: the real `roost`
//! binary, a raw Python client keeping a SEARCH and a SORT result live while an LMTP
//! delivery and imaplib change its mailbox.

mod common;

use common::python_with_lmtp;

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
