//! Where each key of a YAML document sits, so errors can name `file:line:column` and a key path.
//!
//! serde only tells us *what* went wrong and serde-saphyr *where*; neither knows the dotted key
//! path (`auth.cleartext`). A second, cheap walk over the parser's events recovers it.

use std::fmt;

use serde_saphyr::granit_parser::{Event, Parser};

/// A 1-based line and column in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line, counting from 1.
    pub line: u64,
    /// Column in characters, counting from 1.
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One node of the document with the key path leading to it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// Dotted path, sequence items as `[i]`: `mailboxes.special_use[0].name`; the root is "".
    pub path: String,
    /// Where the key is written (for sequence items and the root: where the item starts).
    pub key: Position,
    /// Where the value starts.
    pub value: Position,
    /// The scalar text, when the value is a scalar.
    pub scalar: Option<String>,
}

/// All nodes of one document in document order.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    pub entries: Vec<Entry>,
}

enum Frame {
    Map {
        path: String,
        key: Option<(String, Position)>,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// Inside a non-scalar mapping key, which our config never has; skipped by depth.
    Skip(usize),
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl KeyIndex {
    /// Index `text`; a syntax error just ends the walk, since the deserializer reports it.
    pub fn build(text: &str) -> KeyIndex {
        let mut index = KeyIndex::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut root_seen = false;
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let pos = Position {
                line: span.start.line() as u64,
                column: span.start.col() as u64 + 1,
            };
            let (is_start, is_end, scalar) = match &event {
                Event::MappingStart(..) | Event::SequenceStart(..) => (true, false, None),
                Event::MappingEnd | Event::SequenceEnd => (false, true, None),
                Event::Scalar(s, ..) => (false, false, Some(s.to_string())),
                Event::Alias(..) => (false, false, None),
                _ => continue,
            };
            if let Some(Frame::Skip(depth)) = stack.last_mut() {
                if is_start {
                    *depth += 1;
                } else if is_end {
                    *depth -= 1;
                }
                if *depth == 0 {
                    stack.pop();
                    if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                        *key = Some(("?".to_string(), pos));
                    }
                }
                continue;
            }
            if is_end {
                stack.pop();
                continue;
            }
            // A scalar in key position names the next value.
            if let Some(Frame::Map {
                key: key @ None, ..
            }) = stack.last_mut()
            {
                match scalar {
                    Some(s) => *key = Some((s, pos)),
                    None if is_start => stack.push(Frame::Skip(1)),
                    None => *key = Some(("?".to_string(), pos)),
                }
                continue;
            }
            let (path, key_pos) = match stack.last_mut() {
                Some(Frame::Map { path, key }) => match key.take() {
                    Some((k, at)) => (join(path, &k), at),
                    None => continue,
                },
                Some(Frame::Seq { path, next }) => {
                    *next += 1;
                    (format!("{path}[{}]", *next - 1), pos)
                }
                Some(Frame::Skip(_)) => continue,
                None if !root_seen => {
                    root_seen = true;
                    (String::new(), pos)
                }
                None => continue,
            };
            if is_start {
                let frame = match event {
                    Event::MappingStart(..) => Frame::Map {
                        path: path.clone(),
                        key: None,
                    },
                    _ => Frame::Seq {
                        path: path.clone(),
                        next: 0,
                    },
                };
                stack.push(frame);
            }
            index.entries.push(Entry {
                path,
                key: key_pos,
                value: pos,
                scalar,
            });
        }
        index
    }

    /// The node whose key or value starts exactly at `at`, else the last one starting before it.
    pub fn at(&self, at: Position) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.key == at)
            .or_else(|| self.entries.iter().find(|e| e.value == at))
            .or_else(|| self.entries.iter().rev().find(|e| e.value <= at))
    }

    /// The first node with exactly this key path.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    #[cfg(test)]
    /// Key paths with sequence indexes written `[]`, deduplicated, in document order.
    pub fn shapes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.entries {
            let mut shape = String::new();
            let mut in_index = false;
            for c in e.path.chars() {
                match c {
                    '[' => {
                        in_index = true;
                        shape.push('[');
                    }
                    ']' => {
                        in_index = false;
                        shape.push(']');
                    }
                    _ if in_index => {}
                    _ => shape.push(c),
                }
            }
            if !shape.is_empty() && !out.contains(&shape) {
                out.push(shape);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: u64, column: u64) -> Position {
        Position { line, column }
    }

    #[test]
    fn paths_and_positions() {
        let text = "auth:\n  cleartext: never\nlisten:\n  imap:\n    - 1.2.3.4:1\n    - \"[::1]:2\"\n  pop3: []\nmailboxes: {special_use: [{name: A, use: sent}]}\n";
        let index = KeyIndex::build(text);
        let got: Vec<(&str, Position, Position, Option<&str>)> = index
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e.key, e.value, e.scalar.as_deref()))
            .collect();
        let want = vec![
            ("", p(1, 1), p(1, 1), None),
            ("auth", p(1, 1), p(2, 3), None),
            ("auth.cleartext", p(2, 3), p(2, 14), Some("never")),
            ("listen", p(3, 1), p(4, 3), None),
            ("listen.imap", p(4, 3), p(5, 5), None),
            ("listen.imap[0]", p(5, 7), p(5, 7), Some("1.2.3.4:1")),
            ("listen.imap[1]", p(6, 7), p(6, 7), Some("[::1]:2")),
            ("listen.pop3", p(7, 3), p(7, 9), None),
            ("mailboxes", p(8, 1), p(8, 12), None),
            ("mailboxes.special_use", p(8, 13), p(8, 26), None),
            ("mailboxes.special_use[0]", p(8, 27), p(8, 27), None),
            (
                "mailboxes.special_use[0].name",
                p(8, 28),
                p(8, 34),
                Some("A"),
            ),
            (
                "mailboxes.special_use[0].use",
                p(8, 37),
                p(8, 42),
                Some("sent"),
            ),
        ];
        assert_eq!(got, want);
        assert_eq!(
            index.shapes(),
            vec![
                "auth",
                "auth.cleartext",
                "listen",
                "listen.imap",
                "listen.imap[]",
                "listen.pop3",
                "mailboxes",
                "mailboxes.special_use",
                "mailboxes.special_use[]",
                "mailboxes.special_use[].name",
                "mailboxes.special_use[].use",
            ]
        );
    }

    #[test]
    fn lookup_prefers_exact_key_then_value_then_preceding() {
        let index = KeyIndex::build("log:\n  level: info\n  format: text\n");
        assert_eq!(
            index.at(p(2, 3)).map(|e| e.path.as_str()),
            Some("log.level")
        );
        assert_eq!(
            index.at(p(3, 11)).map(|e| e.path.as_str()),
            Some("log.format")
        );
        assert_eq!(
            index.at(p(3, 14)).map(|e| e.path.as_str()),
            Some("log.format")
        );
        assert_eq!(index.get("log.level").map(|e| e.value), Some(p(2, 10)));
    }

    #[test]
    fn syntax_error_and_complex_keys_do_not_panic() {
        assert!(KeyIndex::build("a: [\n").entries.len() <= 2);
        let index = KeyIndex::build("? [x, y]\n: 1\nb: 2\n");
        let paths: Vec<&str> = index.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["", "?", "b"]);
    }
}
