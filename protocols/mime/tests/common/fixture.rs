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

use roost_testkit::Dovecot;
use roost_testkit::maildir::read_files_with_extension;

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
    read_files_with_extension(&corpus_dir(), "eml")
        .into_iter()
        .map(|(path, bytes)| {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name")
                .to_string();
            (name, bytes)
        })
        .collect()
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
        let nl = data
            .iter()
            .position(|&b| b == b'\n')
            .expect("record header");
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
            // A line ending in `{n}` (or `~{n}`) announces n literal bytes.
            let literal = body
                .strip_suffix(b"}")
                .and_then(|b| b.iter().rposition(|&c| c == b'{').map(|o| &b[o + 1..]))
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
            if let Some(n) = literal {
                resp.extend_from_slice(&out[..n]);
                out = &out[n..];
                continue;
            }
            break;
        }
        if resp.starts_with(b"* ") {
            let head = String::from_utf8_lossy(&resp[..resp.len().min(200)]).into_owned();
            let mut words = head[2..].splitn(3, ' ');
            if let (Some(seq), Some("FETCH"), Some(rest)) =
                (words.next(), words.next(), words.next())
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

/// What roost-mime answers for `FETCH 1 (item)`, in the same shape as the fixtures
/// (an untagged FETCH response, or `NO ...` for a failure, without tag).
pub fn roost_answer(msg: &[u8], item: &str) -> Vec<u8> {
    use roost_mime::{SectionSpec, SectionText};
    let tree = roost_mime::body_structure(msg);
    let name = answer_name(item);
    let mut out = format!("* 1 FETCH ({name} ").into_bytes();
    let value: Vec<u8> = match item {
        "ENVELOPE" => roost_mime::envelope(msg).to_imap(),
        "BODY" => tree.to_imap(false),
        "BODYSTRUCTURE" => tree.to_imap(true),
        "RFC822.SIZE" => roost_mime::crlf_len(msg).to_string().into_bytes(),
        _ => {
            let open = item.find('[').expect("section item");
            let spec = &item[open + 1..item.len() - 1];
            let kind = &item[..open];
            let (path, rest) = split_path(spec);
            if kind.starts_with("BINARY") {
                match roost_mime::binary(msg, &tree, &path) {
                    Err(roost_mime::MimeError::UnknownCte(_)) => {
                        return b"NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding\r\n".to_vec();
                    }
                    Ok(b) if kind == "BINARY.SIZE" => b.data.len().to_string().into_bytes(),
                    Ok(b) => {
                        let tilde = if b.literal8 { "~" } else { "" };
                        let mut v = format!("{tilde}{{{}}}\r\n", b.data.len()).into_bytes();
                        v.extend_from_slice(&b.data);
                        v
                    }
                }
            } else {
                let text = match rest {
                    "" => None,
                    "HEADER" => Some(SectionText::Header),
                    "TEXT" => Some(SectionText::Text),
                    "MIME" => Some(SectionText::Mime),
                    r => {
                        let (head, list) = r.split_once(" (").expect("field list");
                        let names = list
                            .trim_end_matches(')')
                            .split(' ')
                            .map(str::to_string)
                            .collect();
                        match head {
                            "HEADER.FIELDS" => Some(SectionText::HeaderFields(names)),
                            "HEADER.FIELDS.NOT" => Some(SectionText::HeaderFieldsNot(names)),
                            other => panic!("unknown section {other}"),
                        }
                    }
                };
                let data = roost_mime::section(msg, &tree, &SectionSpec { part: path, text });
                let mut v = format!("{{{}}}\r\n", data.len()).into_bytes();
                v.extend_from_slice(&data);
                v
            }
        }
    };
    out.extend_from_slice(&value);
    out.extend_from_slice(b")\r\n");
    out
}

/// `1.2.MIME` -> ([1, 2], "MIME").
fn split_path(spec: &str) -> (Vec<u32>, &str) {
    let mut path = Vec::new();
    let mut rest = spec;
    while let Some(first) = rest.split('.').next() {
        let Ok(n) = first.parse::<u32>() else { break };
        path.push(n);
        rest = rest[first.len()..].strip_prefix('.').unwrap_or("");
    }
    (path, rest)
}

/// A fixture answer with the tag of a tagged failure removed.
pub fn untag(expected: &[u8]) -> &[u8] {
    if expected.starts_with(b"* ") {
        return expected;
    }
    match expected.iter().position(|&b| b == b' ') {
        Some(p) => &expected[p + 1..],
        None => expected,
    }
}

/// (message, item) pairs where we knowingly differ from Dovecot; see the corpus README.
/// Dovecot 2.3.19 answers BINARY.SIZE inconsistently with its own BINARY when both are
/// pipelined: NO [UNKNOWN-CTE] for decodable parts, or a size 3 bytes off the literal it
/// sends. We answer the length of what BINARY sends.
pub const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    ("attachments", "BINARY.SIZE[1]"),
    ("attachments", "BINARY.SIZE[2]"),
    ("nested", "BINARY.SIZE[1]"),
    // Dovecot ends the body of the b2 multipart at the line `--b20--` (a line that merely
    // starts with `--b2`), 100 levels deep; its BODYSTRUCTURE agrees with ours.
    ("deep", "BODY.PEEK[1.1]"),
];

/// Compares roost-mime's answers with `expected` records for one message; returns a
/// description of each mismatch.
pub fn compare(name: &str, msg: &[u8], expected: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (item, want) in expected {
        if KNOWN_DIFFERENCES.contains(&(name, item.as_str())) {
            continue;
        }
        let got = roost_answer(msg, item);
        if got != untag(want) {
            bad.push(format!(
                "{name} {item}:\n  want {}\n  got  {}",
                show(untag(want)),
                show(&got)
            ));
        }
    }
    bad
}

fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(400)]);
    format!("{s:?}")
}
