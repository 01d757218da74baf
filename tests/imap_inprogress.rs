//! INPROGRESS (RFC 9585) end to end: long SEARCH, FETCH, STORE, COPY, MOVE and EXPUNGE on a
//! mailbox of a few thousand messages send `* OK [INPROGRESS ("tag" n total)]` while they
//! run.

mod common;

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{ALICE, Server, connect, drop_message, read_line, send};

const COUNT: usize = 3000;

/// Lines up to the tagged answer, each with its arrival time.
fn until(s: &mut impl Read, tag: &str) -> Vec<(String, Instant)> {
    let mut lines = Vec::new();
    loop {
        let l = read_line(s).unwrap_or_else(|| panic!("EOF before {tag}: {lines:?}"));
        let done = l.starts_with(&format!("{tag} "));
        lines.push((l, Instant::now()));
        if done {
            return lines;
        }
    }
}

/// The INPROGRESS counts of a command's answer; checks the exact form and the order.
fn progress(lines: &[(String, Instant)], tag: &str, total: usize) -> Vec<usize> {
    let prefix = format!("* OK [INPROGRESS (\"{tag}\" ");
    let suffix = format!(" {total})] Still working");
    let mut counts = Vec::new();
    for (l, _) in lines {
        if let Some(rest) = l.strip_prefix(&prefix) {
            let n = rest.strip_suffix(&suffix).unwrap_or_else(|| panic!("{l}"));
            counts.push(n.parse::<usize>().unwrap());
        } else {
            assert!(!l.contains("INPROGRESS"), "{l}");
        }
    }
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    assert!(counts.iter().all(|&n| n <= total), "{counts:?}");
    counts
}

fn start(dir: &Path) -> Server {
    let md = dir.join("data/mail/alice/Maildir");
    for i in 0..COUNT {
        let body = format!("Subject: message {i}\n\n{}\n", "filler text ".repeat(20));
        drop_message(&md, &format!("17000{i:05}.M1P1.mta"), body.as_bytes());
    }
    let extra = "imap:\n  inprogress_after_ms: 0\n  inprogress_interval_ms: 5\n";
    Server::start_users_with(dir, ALICE, extra)
}

#[test]
fn long_commands_report_progress_while_they_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut s = connect(server.addr("imap"));
    read_line(&mut s).unwrap();
    send(
        &mut s,
        "a LOGIN alice secret\r\nb SELECT INBOX\r\nc CREATE Work\r\n",
    );
    until(&mut s, "a");
    until(&mut s, "b");
    until(&mut s, "c");

    // SEARCH reading every message body.
    send(&mut s, "s SEARCH BODY needle\r\n");
    let lines = until(&mut s, "s");
    let counts = progress(&lines, "s", COUNT);
    assert!(!counts.is_empty(), "{lines:?}");
    assert_eq!(lines.last().unwrap().0, "s OK SEARCH completed");
    // Sent while the search ran, not with its answer.
    let first = lines
        .iter()
        .find(|(l, _)| l.contains("INPROGRESS"))
        .unwrap()
        .1;
    let done = lines.last().unwrap().1;
    assert!(
        done.duration_since(first) >= Duration::from_millis(10),
        "{:?}",
        done.duration_since(first)
    );

    // FETCH of every body: the progress lines come before the FETCH responses, which
    // leave only once the command is through.
    send(&mut s, "f FETCH 1:* (BODY.PEEK[])\r\n");
    let lines = until(&mut s, "f");
    assert!(
        !progress(&lines, "f", COUNT).is_empty(),
        "{:?}",
        &lines[..3]
    );
    let first_fetch = lines
        .iter()
        .position(|(l, _)| l.contains(" FETCH "))
        .unwrap();
    let last_progress = lines
        .iter()
        .rposition(|(l, _)| l.contains("INPROGRESS"))
        .unwrap();
    assert!(last_progress < first_fetch, "{last_progress} {first_fetch}");
    assert_eq!(lines.last().unwrap().0, "f OK FETCH completed");

    // STORE renaming every message file.
    send(&mut s, "g STORE 1:* +FLAGS.SILENT (\\Flagged)\r\n");
    let lines = until(&mut s, "g");
    assert!(!progress(&lines, "g", COUNT).is_empty(), "{lines:?}");
    assert_eq!(lines.last().unwrap().0, "g OK STORE completed");

    send(&mut s, "k COPY 1:* Work\r\n");
    let lines = until(&mut s, "k");
    assert!(!progress(&lines, "k", COUNT).is_empty(), "{lines:?}");
    assert!(lines.last().unwrap().0.starts_with("k OK [COPYUID "));

    send(&mut s, "m MOVE 1:1000 Work\r\n");
    let lines = until(&mut s, "m");
    assert!(!progress(&lines, "m", 2000).is_empty(), "{lines:?}");
    assert_eq!(lines.last().unwrap().0, "m OK MOVE completed");

    send(&mut s, "d STORE 1:* +FLAGS.SILENT (\\Deleted)\r\n");
    until(&mut s, "d");
    send(&mut s, "e EXPUNGE\r\n");
    let lines = until(&mut s, "e");
    assert!(!progress(&lines, "e", COUNT - 1000).is_empty(), "{lines:?}");
    assert!(lines.last().unwrap().0.starts_with("e OK "));
}
