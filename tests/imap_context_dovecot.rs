//! CONTEXT=SEARCH (RFC 5267 section 4) side by side with a live Dovecot 2.3: the same
//! script of `SEARCH RETURN (UPDATE ...)` commands, with APPEND, STORE and EXPUNGE from a
//! second session (and from the watching session itself, and during IDLE), run against the
//! real `roost` binary and against Dovecot's full server, and the watching session's
//! ESEARCH, EXISTS and EXPUNGE lines compared byte for byte, in order.
//!
//! Masked: FETCH lines (not this test's subject; Roost's unsolicited FETCH FLAGS also carry
//! the UID), `\Recent` and the human text of tagged answers. Nothing UIDVALIDITY-dependent
//! appears in ESEARCH. Dovecot has no CONTEXT=SORT, so only SEARCH is compared.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::imap::{answer, cmd};
use common::{ALICE, Server, connect, read_line, send};
use roost_testkit::DovecotServer;

/// Who sends a step.
#[derive(Clone, Copy, PartialEq)]
enum Who {
    /// The watching session: its lines are compared.
    A,
    /// The other session: its changes are what A is told about.
    B,
    /// A enters IDLE, B runs the command, A waits a moment and ends IDLE.
    Idle,
}

const MSG: &str = "Subject: hello\r\n\r\nx\r\n";
const OTHER: &str = "Subject: other\r\n\r\ny\r\n";

fn append(date: &str, msg: &str) -> String {
    format!("APPEND INBOX \"{date}\" {{{}+}}\r\n{msg}", msg.len())
}

/// The script; the session A starts with `SELECT INBOX`, B has INBOX selected too.
fn steps() -> Vec<(Who, String)> {
    use Who::*;
    let mut v = vec![];
    for (i, m) in [MSG, OTHER, MSG, OTHER, OTHER].iter().enumerate() {
        v.push((B, append(&format!("0{}-Jan-2024 10:00:00 +0000", i + 1), m)));
    }
    v.push((B, "SELECT INBOX".into()));
    v.push((A, "SELECT INBOX".into()));
    for c in [
        "SEARCH RETURN (ALL UPDATE) UNSEEN",
        "UID SEARCH RETURN (UPDATE) FLAGGED",
        "UID SEARCH RETURN (COUNT UPDATE) SUBJECT hello",
        "SEARCH RETURN (MIN MAX UPDATE) NOT DELETED",
        "UID SEARCH RETURN (UPDATE ALL) OR SEEN FLAGGED",
    ] {
        v.push((A, c.into()));
    }
    let b_then_noop = [
        "STORE 2 +FLAGS.SILENT (\\Seen)",
        "STORE 3 +FLAGS.SILENT (\\Flagged)",
        &append("10-Jan-2024 10:00:00 +0000", MSG),
        "STORE 1,4 +FLAGS.SILENT (\\Deleted)",
        "EXPUNGE",
        "STORE 1:3 -FLAGS.SILENT (\\Seen \\Flagged)",
    ];
    for c in b_then_noop {
        v.push((B, c.to_string()));
        v.push((A, "NOOP".into()));
    }
    v.push((Idle, append("11-Jan-2024 10:00:00 +0000", MSG)));
    v.push((Idle, "STORE 2 +FLAGS.SILENT (\\Flagged \\Seen)".into()));
    v.push((A, "CANCELUPDATE \"k7\"".into()));
    v.push((B, "STORE 1 +FLAGS.SILENT (\\Seen)".into()));
    v.push((A, "NOOP".into()));
    // The watching session's own changes.
    v.push((A, "STORE 3 +FLAGS.SILENT (\\Flagged)".into()));
    v.push((A, "NOOP".into()));
    v.push((A, "STORE 1 +FLAGS.SILENT (\\Deleted)".into()));
    v.push((A, "EXPUNGE".into()));
    v.push((A, append("12-Jan-2024 10:00:00 +0000", OTHER)));
    v.push((A, "NOOP".into()));
    v
}

fn session(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    read_line(&mut s).expect("greeting");
    let r = cmd(&mut s, "l", "LOGIN alice secret");
    assert!(r.last().is_some_and(|l| l.starts_with("l OK")), "{r:?}");
    s
}

/// What A's answer to a step shows: ESEARCH/EXISTS/EXPUNGE lines and the status word.
fn keep(lines: Vec<String>, tag: &str) -> Vec<String> {
    lines
        .into_iter()
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                return Some(format!("{tag} {}", rest.split(' ').next().unwrap_or("")));
            }
            let keep = l.starts_with("* ESEARCH")
                || l.ends_with(" EXISTS")
                || l.ends_with(" EXPUNGE")
                || l.starts_with("+ ");
            keep.then_some(l)
        })
        .map(|l| if l.starts_with("+ ") { "+".into() } else { l })
        .collect()
}

/// The lines IDLE sent for one change: waits for the first (up to [`common::WAIT`]), then
/// takes more until the session is quiet for half a second.
fn idle_lines(a: &mut TcpStream) -> Vec<String> {
    let mut lines = vec![read_line(a).expect("IDLE update")];
    a.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match a.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => {
                lines.push(String::from_utf8_lossy(&line).trim_end().to_string());
                line.clear();
            }
            Ok(1) => line.push(byte[0]),
            // Quiet (or closed): the update is complete. A line never stops halfway,
            // as each server writes an update in one go.
            _ if line.is_empty() => break,
            _ => panic!("IDLE line cut off: {line:?}"),
        }
    }
    a.set_read_timeout(Some(common::WAIT)).unwrap();
    lines
}

/// Runs the script against the server at `addr`: per step, what A was told.
fn run(addr: SocketAddr) -> Vec<String> {
    let (mut a, mut b) = (session(addr), session(addr));
    let mut out = Vec::new();
    for (i, (who, c)) in steps().into_iter().enumerate() {
        let tag = format!("k{i}");
        match who {
            Who::A => out.push(format!(
                "{c}\n  {}",
                keep(cmd(&mut a, &tag, &c), &tag).join("\n  ")
            )),
            Who::B => {
                let r = cmd(&mut b, &tag, &c);
                assert!(r.last().is_some_and(|l| l.contains(" OK")), "{c}: {r:?}");
            }
            Who::Idle => {
                send(&mut a, &format!("{tag} IDLE\r\n"));
                assert!(read_line(&mut a).is_some_and(|l| l.starts_with("+ ")));
                let r = cmd(&mut b, "b", &c);
                assert!(r.last().is_some_and(|l| l.contains(" OK")), "{c}: {r:?}");
                // Every change here makes at least one line (EXISTS or FETCH); the rest
                // of the same update follows at once.
                let mut lines = idle_lines(&mut a);
                send(&mut a, "DONE\r\n");
                lines.extend(answer(&mut a, &tag));
                let got = keep(lines, &tag);
                out.push(format!("IDLE + {c}\n  {}", got.join("\n  ")));
            }
        }
    }
    out
}

/// A step's lines with the ESEARCH lines of each run between other lines sorted.
///
/// The one known difference: when one sync changes several contexts, Roost sends every
/// context's REMOVEFROM first (before the EXPUNGEs) and every ADDTO last (after the EXISTS),
/// while Dovecot sends each context's lines together where no EXPUNGE or EXISTS is between.
/// RFC 5267 4.3 orders only each update against the EXPUNGE and EXISTS responses it must
/// precede or follow (so its message numbers hold); updates of different contexts are
/// told apart by their tags and apply independently, so both orders are right. Sorting
/// within runs keeps every EXPUNGE/EXISTS boundary checked.
fn contexts_unordered(step: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for l in step.lines() {
        if l.trim_start().starts_with("* ESEARCH") {
            run.push(l);
            continue;
        }
        run.sort_unstable();
        out.extend(run.drain(..).map(str::to_string));
        out.push(l.to_string());
    }
    run.sort_unstable();
    out.extend(run.drain(..).map(str::to_string));
    out.join("\n")
}

#[test]
fn search_context_updates_match_dovecot() {
    let Some(dv) = DovecotServer::start(&[("alice", "secret")], |_| {}) else {
        return;
    };
    let theirs = run(dv.imap);
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_users(dir.path(), ALICE);
    let ours = run(server.addr("imap"));
    if std::env::var_os("CONTEXT_DUMP").is_some() {
        eprintln!(
            "=== Roost\n{}\n=== Dovecot\n{}",
            ours.join("\n"),
            theirs.join("\n")
        );
    }
    assert_eq!(ours.len(), theirs.len());
    let mut bad = Vec::new();
    let mut reordered = 0;
    for (o, t) in ours.iter().zip(&theirs) {
        if o == t {
            continue;
        }
        if contexts_unordered(o) == contexts_unordered(t) {
            reordered += 1;
        } else {
            bad.push(format!("Dovecot: {t}\nRoost:   {o}"));
        }
    }
    // The script has one sync that changes several contexts both ways without an EXPUNGE
    // or EXISTS: if the orders ever agree there, this note (and compliance.md) is stale.
    assert_eq!(reordered, 1, "the known order difference moved");
    // The comparison must cover updates, or it proves nothing.
    assert!(theirs.iter().any(|t| t.contains("ADDTO")), "{theirs:?}");
    assert!(
        theirs.iter().any(|t| t.contains("REMOVEFROM")),
        "{theirs:?}"
    );
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
