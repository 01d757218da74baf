//! SEARCH against Dovecot: the MIME corpus goes into a Dovecot INBOX (its `imap` binary in
//! PREAUTH mode) and into a Roost INBOX, in the same order, and every key here must select
//! the same sequence numbers in both.

use std::path::PathBuf;

use roost_imap::command::{CommandBody, Parsed, parse_command};
use roost_imap::search::{SearchEnv, search};
use roost_testkit::Dovecot;
use roost_testkit::maildir::read_files_with_extension;
use roost_testkit::store::corpus_inbox;

/// Content keys (the ones that need message text), as sent by a client. Non-ASCII
/// arguments go as LITERAL+ so both servers read the same bytes.
const KEYS: &[&str] = &[
    "ALL",
    "FROM example.com",
    "FROM {7+}\r\nJürgen",
    "FROM {7+}\r\nmüller",
    "FROM alice",
    "FROM \"Sender Name\"",
    "FROM nested@example.com",
    "TO you",
    "TO {6+}\r\nandré",
    "TO pirard",
    "CC {5+}\r\ncafé",
    "CC owner",
    "BCC nobody",
    "SUBJECT \"understand the example\"",
    "SUBJECT nested",
    "SUBJECT \"\\\"quoted\\\"\"",
    "SUBJECT boundary",
    "SUBJECT level",
    "BODY {8+}\r\nmünchen",
    "BODY \"plain version\"",
    "BODY \"html version\"",
    "BODY preamble",
    "BODY \"Inner text\"",
    "BODY JVBERi0",
    "TEXT fwd@example.com",
    "TEXT \"Inner text\"",
    "TEXT {8+}\r\nMÜNCHEN",
    "TEXT \"Content-Type\"",
    "HEADER Message-ID 2047",
    "HEADER Content-Type multipart",
    "HEADER X-Nothing \"\"",
    "HEADER Subject \"\"",
    "SENTBEFORE 3-Jan-2019",
    "SENTON 4-Jan-2019",
    "SENTSINCE 5-Jan-2019",
    "SENTON 7-Feb-1994",
    "SENTON 5-Jan-2019",
    "LARGER 500",
    "SMALLER 200",
    "NOT BODY the",
    "BODY {5+}\r\ncafé",
    "TEXT {5+}\r\nCAFÉ",
    "SUBJECT 8bit",
    "BODY \"\"",
    "TEXT \"\"",
    "TO \"Group Name\"",
    "FROM \"john..doe\"",
    "SUBJECT backslash",
    "HEADER Content-Type text/plain",
    "BODY dot.png",
    "TEXT dot.png",
    "TEXT \"A document\"",
    "BODY \"level 2\"",
    "TEXT \"level 2\"",
    "OR SUBJECT level BODY level",
];

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mime/tests/corpus");
    read_files_with_extension(&dir, "eml")
        .into_iter()
        .map(|(_, bytes)| bytes)
        .collect()
}

/// `1:3,5` -> [1, 2, 3, 5].
fn expand(set: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for item in set.split(',').filter(|s| !s.is_empty()) {
        let (a, b) = item.split_once(':').unwrap_or((item, item));
        let (a, b): (u32, u32) = (a.parse().expect("number"), b.parse().expect("number"));
        out.extend(a.min(b)..=a.max(b));
    }
    out
}

/// Dovecot's answer per key, by tag, from `* ESEARCH (TAG "kN") ALL set` lines.
fn dovecot_answers(msgs: &[Vec<u8>]) -> Option<Vec<Vec<u32>>> {
    let dv = Dovecot::start()?;
    for m in msgs {
        dv.save("INBOX", m);
    }
    let mut script = b"s EXAMINE INBOX\r\n".to_vec();
    for (i, k) in KEYS.iter().enumerate() {
        script.extend_from_slice(
            format!("k{i} SEARCH RETURN (ALL) CHARSET UTF-8 {k}\r\n").as_bytes(),
        );
    }
    script.extend_from_slice(b"z LOGOUT\r\n");
    let out = String::from_utf8_lossy(&dv.imap(&script)).into_owned();
    let mut answers = vec![None; KEYS.len()];
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("* ESEARCH (TAG \"k") {
            let (n, rest) = rest.split_once('"').expect("tag end");
            let set = rest
                .trim_start_matches(')')
                .trim()
                .strip_prefix("ALL ")
                .unwrap_or("");
            answers[n.parse::<usize>().expect("tag number")] = Some(expand(set.trim()));
        }
    }
    for (i, k) in KEYS.iter().enumerate() {
        let tagged = out.lines().find(|l| l.starts_with(&format!("k{i} ")));
        assert!(
            tagged.is_some_and(|l| l.starts_with(&format!("k{i} OK"))),
            "Dovecot refused {k:?}: {tagged:?}\n{out}"
        );
    }
    Some(answers.into_iter().map(Option::unwrap_or_default).collect())
}

/// Where we knowingly answer differently from Dovecot, with the reason.
const KNOWN_DIFFERENCES: &[&str] = &[];

#[test]
fn search_matches_dovecot_on_corpus() {
    let msgs = corpus();
    assert!(msgs.len() >= 20, "corpus went missing");
    let Some(want) = dovecot_answers(&msgs) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mb = corpus_inbox(tmp.path(), &msgs);
    let messages = mb.snapshot().expect("snapshot").messages;
    let names = mb.keyword_names();
    let env = SearchEnv {
        mailbox: &mb,
        keyword_names: &names,
        messages: &messages,
        recent_from_uid: u32::MAX,
        saved: None,
        now: 0,
    };
    let mut bad = Vec::new();
    for (k, want) in KEYS.iter().zip(&want) {
        let line = format!("a SEARCH CHARSET UTF-8 {k}\r\n");
        let key = match parse_command(line.as_bytes()) {
            Ok(Parsed::Command(c)) => match c.body {
                CommandBody::Search { criteria, .. } => criteria,
                other => panic!("{k:?}: {other:?}"),
            },
            other => panic!("{k:?}: {other:?}"),
        };
        let got = search(&env, &key).expect("search");
        if &got != want && !KNOWN_DIFFERENCES.contains(k) {
            bad.push(format!("{k:?}: Dovecot {want:?}, Roost {got:?}"));
        }
    }
    // A key table that selects nothing anywhere would compare nothing.
    assert!(want.iter().filter(|w| !w.is_empty()).count() > 25);
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
