//! The corpus and its fixture files: which FETCH items are checked, how Dovecot's answers
//! are recorded, and how they are read back.
//!
//! A fixture `NAME.expected` next to `NAME.eml` is a list of records
//! `=== LEN ITEM\n` + LEN bytes + `\n`, one per FETCH item, where the bytes are exactly
//! what Dovecot wrote for `FETCH n (ITEM)`: the untagged `* n FETCH (...)` response, or the
//! tagged `NO`/`BAD` line (without Dovecot's timing suffix) when the item failed.
#![allow(dead_code)] // each test binary uses a different part of the helper

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::dovecot::Dovecot;

/// FETCH items asked for every corpus message; parts a message lacks are still asked,
/// since what a server answers for them is part of the contract.
pub const ITEMS: &[&str] = &[
    "ENVELOPE",
    "BODY",
    "BODYSTRUCTURE",
    "RFC822.SIZE",
    "BODY.PEEK[]",
    "BODY.PEEK[HEADER]",
    "BODY.PEEK[TEXT]",
    "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]",
    "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT FROM)]",
    "BODY.PEEK[1]",
    "BODY.PEEK[1.MIME]",
    "BODY.PEEK[2]",
    "BODY.PEEK[2.MIME]",
    "BODY.PEEK[1.1]",
    "BODY.PEEK[1.2]",
    "BODY.PEEK[2.HEADER]",
    "BODY.PEEK[2.TEXT]",
    "BODY.PEEK[2.1]",
    "BODY.PEEK[2.2]",
    "BODY.PEEK[2.1.MIME]",
    "BINARY.PEEK[1]",
    "BINARY.SIZE[1]",
    "BINARY.PEEK[2]",
    "BINARY.SIZE[2]",
    "BINARY.PEEK[3]",
    "BINARY.PEEK[4]",
    "BINARY.SIZE[4]",
];

/// The corpus directory.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// All corpus messages, sorted by name: (name without `.eml`, bytes).
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(corpus_dir()).expect("read corpus dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("eml") {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name")
                .to_string();
            out.push((name, std::fs::read(&path).expect("read eml")));
        }
    }
    out.sort();
    out
}

/// Serializes records in the fixture format.
pub fn write_records(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (item, bytes) in records {
        out.extend_from_slice(format!("=== {} {}\n", bytes.len(), item).as_bytes());
        out.extend_from_slice(bytes);
        out.push(b'\n');
    }
    out
}

/// Parses the fixture format; panics on a malformed file (it is ours).
pub fn read_records(mut data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let nl = data.iter().position(|&b| b == b'\n').expect("record header");
        let header = std::str::from_utf8(&data[..nl]).expect("utf-8 header");
        let rest = header.strip_prefix("=== ").expect("=== prefix");
        let (len, item) = rest.split_once(' ').expect("len and item");
        let len: usize = len.parse().expect("length");
        let body = &data[nl + 1..nl + 1 + len];
        out.push((item.to_string(), body.to_vec()));
        data = &data[nl + 1 + len + 1..];
    }
    out
}

/// Saves every message into a fresh Dovecot INBOX and records its answer to each of
/// [`ITEMS`]; returns (name, records) per message.
pub fn dovecot_answers(dv: &Dovecot, msgs: &[(String, Vec<u8>)]) -> Vec<Vec<(String, Vec<u8>)>> {
    for (_, msg) in msgs {
        dv.save("INBOX", msg);
    }
    let mut script = b"s EXAMINE INBOX\r\n".to_vec();
    let mut tags = Vec::new();
    for seq in 1..=msgs.len() {
        for (i, item) in ITEMS.iter().enumerate() {
            let tag = format!("f{seq}x{i}");
            script.extend_from_slice(format!("{tag} FETCH {seq} ({item})\r\n").as_bytes());
            tags.push(tag);
        }
    }
    script.extend_from_slice(b"z LOGOUT\r\n");
    let out = dv.imap(&script);
    // Dovecot runs pipelined FETCHes concurrently, so answers are matched by sequence
    // number and item name, and failures by tag.
    let (mut untagged, mut tagged) = split_responses(&out);
    let mut result = Vec::new();
    for seq in 1..=msgs.len() {
        let mut records = Vec::new();
        for (i, item) in ITEMS.iter().enumerate() {
            let mut r = untagged
                .remove(&(seq, answer_name(item)))
                .map(|r| {
                    // Fixtures are per message: number it 1 whatever its place in the mailbox.
                    let skip = format!("* {seq} FETCH (").len();
                    [b"* 1 FETCH (".as_slice(), &r[skip..]].concat()
                })
                .unwrap_or_default();
            r.extend(tagged.remove(&format!("f{seq}x{i}")).unwrap_or_default());
            records.push((item.to_string(), r));
        }
        result.push(records);
    }
    result
}

/// The name a FETCH answer carries for a requested item (`.PEEK` is not echoed).
pub fn answer_name(item: &str) -> String {
    item.replace(".PEEK", "")
}

type Untagged = HashMap<(usize, String), Vec<u8>>;

/// Splits a server transcript into untagged FETCH responses keyed by (sequence number,
/// first item name) and non-OK tagged lines keyed by tag (minus Dovecot's timing suffix).
fn split_responses(mut out: &[u8]) -> (Untagged, HashMap<String, Vec<u8>>) {
    let mut untagged = HashMap::new();
    let mut map = HashMap::new();
    while !out.is_empty() {
        // One response: a line, plus any literals it announces.
        let mut resp = Vec::new();
        loop {
            let nl = out
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("CRLF-terminated line")
                + 2;
            let line = &out[..nl];
            resp.extend_from_slice(line);
            out = &out[nl..];
            let body = &line[..line.len() - 2];
            if body.ends_with(b"}") {
                if let Some(open) = body.iter().rposition(|&b| b == b'{') {
                    if let Ok(n) = std::str::from_utf8(&body[open + 1..body.len() - 1])
                        .unwrap_or("x")
                        .parse::<usize>()
                    {
                        resp.extend_from_slice(&out[..n]);
                        out = &out[n..];
                        continue;
                    }
                }
            }
            break;
        }
        if resp.starts_with(b"* ") {
            let head = String::from_utf8_lossy(&resp[..resp.len().min(200)]).into_owned();
            let mut words = head[2..].splitn(3, ' ');
            if let (Some(seq), Some("FETCH"), Some(rest)) = (words.next(), words.next(), words.next())
                && let Ok(seq) = seq.parse::<usize>()
            {
                let rest = rest.trim_start_matches('(');
                // The item name runs to the first space outside brackets.
                let mut depth = 0;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '[' => depth += 1,
                            ']' => depth -= 1,
                            _ => {}
                        }
                        c == ' ' && depth == 0
                    })
                    .map_or(rest.len(), |(i, _)| i);
                let name = rest[..end].to_string();
                let name = match name.find(']') {
                    Some(p) => name[..=p].to_string(),
                    None => name,
                };
                untagged.insert((seq, name), resp);
            }
            continue;
        }
        let text = String::from_utf8_lossy(&resp).into_owned();
        let (tag, rest) = text.split_once(' ').unwrap_or((&text, ""));
        let mut rec = Vec::new();
        if !rest.starts_with("OK") {
            // "NO [UNKNOWN-CTE] text (0.001 + 0.000 secs).\r\n" -> without the timing.
            let trimmed = match rest.rfind(" (") {
                Some(p) if rest.trim_end().ends_with("secs).") => &rest[..p],
                _ => rest.trim_end(),
            };
            rec.extend_from_slice(format!("{tag} {trimmed}\r\n").as_bytes());
        }
        map.insert(tag.to_string(), rec);
    }
    (untagged, map)
}
