//! The `dovecot-keywords` file: which keyword name each file-name letter `a`..`z` stands for.
//!
//! Format (Dovecot maildir-keywords.c): one `<index> <name>\n` line per used index. Like
//! Dovecot, lines that cannot be understood (e.g. a torn last line) are skipped with a
//! warning instead of making the whole mailbox unreadable. Names are matched
//! case-insensitively (ASCII), as Dovecot does: `$label1` finds an existing `$Label1`.

use std::path::Path;

use super::filename::MAX_KEYWORDS;
use super::{MaildirError, write_atomic};

/// File name of the keyword table in each Maildir (root or folder).
pub const KEYWORDS_FILE: &str = "dovecot-keywords";

/// Keyword names by index; `names[i]` is the keyword of letter `a`+i.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeywordNames {
    /// Index -> name; never longer than 26.
    pub names: Vec<Option<String>>,
}

impl KeywordNames {
    /// The index of `name`, compared case-insensitively.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .position(|n| n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)))
    }

    /// The name at `index`, if assigned.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).and_then(|n| n.as_deref())
    }

    /// The index of `name`, assigning the lowest free index if it is new.
    ///
    /// None when all 26 indexes are taken, or when the name cannot be stored in the file
    /// (empty, or containing whitespace or control characters).
    pub fn get_or_add(&mut self, name: &str) -> Option<usize> {
        if let Some(i) = self.index_of(name) {
            return Some(i);
        }
        if !storable(name) {
            return None;
        }
        if let Some(i) = self.names.iter().position(Option::is_none) {
            self.names[i] = Some(name.to_string());
            return Some(i);
        }
        if self.names.len() < MAX_KEYWORDS {
            self.names.push(Some(name.to_string()));
            return Some(self.names.len() - 1);
        }
        None
    }

    /// Parses the file contents. Never fails; bad lines are skipped with a warning.
    pub fn parse(text: &str) -> KeywordNames {
        let mut k = KeywordNames::default();
        for (lineno, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(idx, name)| {
                let idx: usize = idx.parse().ok()?;
                let ok = idx < MAX_KEYWORDS && storable(name) && k.index_of(name).is_none();
                ok.then_some((idx, name))
            });
            let Some((idx, name)) = parsed else {
                tracing::warn!(line = lineno + 1, "skipping bad {KEYWORDS_FILE} line");
                continue;
            };
            if k.names.len() <= idx {
                k.names.resize(idx + 1, None);
            }
            if k.names[idx].is_none() {
                k.names[idx] = Some(name.to_string());
            }
        }
        k
    }

    /// The file contents: assigned indexes in ascending order.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (i, name) in self.names.iter().enumerate().take(MAX_KEYWORDS) {
            if let Some(name) = name {
                out.push_str(&format!("{i} {name}\n"));
            }
        }
        out
    }
}

fn storable(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Reads `dir/dovecot-keywords`; a missing file is an empty table.
pub fn read_keywords(dir: &Path) -> Result<KeywordNames, MaildirError> {
    let path = dir.join(KEYWORDS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(KeywordNames::parse(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeywordNames::default()),
        Err(e) => Err(MaildirError::io(path, e)),
    }
}

/// Replaces `dir/dovecot-keywords` atomically (temp file + rename).
pub fn write_keywords(dir: &Path, k: &KeywordNames, fsync: bool) -> Result<(), MaildirError> {
    write_atomic(dir, KEYWORDS_FILE, k.render().as_bytes(), fsync)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_render_and_lookup() {
        let k = KeywordNames::parse("0 $Label1\n1 $Label2\n3 Junk\n");
        assert_eq!(k.render(), "0 $Label1\n1 $Label2\n3 Junk\n");
        assert_eq!(k.index_of("$label1"), Some(0));
        assert_eq!(k.index_of("JUNK"), Some(3));
        assert_eq!(k.index_of("nope"), None);
        assert_eq!(k.name(2), None);
        assert_eq!(k.name(3), Some("Junk"));
    }

    #[test]
    fn bad_lines_are_skipped() {
        let k = KeywordNames::parse("0 ok\nx bad\n26 toobig\n1\n2 \n3 OK\n4 two words\n5 fine");
        assert_eq!(k.render(), "0 ok\n5 fine\n");
    }

    #[test]
    fn get_or_add_fills_holes_then_stops_at_26() {
        let mut k = KeywordNames::parse("1 b\n");
        assert_eq!(k.get_or_add("B"), Some(1));
        assert_eq!(k.get_or_add("a"), Some(0));
        assert_eq!(k.get_or_add("c"), Some(2));
        assert_eq!(k.get_or_add("bad name"), None);
        assert_eq!(k.get_or_add(""), None);
        for i in 3..26 {
            assert_eq!(k.get_or_add(&format!("k{i}")), Some(i));
        }
        assert_eq!(k.get_or_add("one-too-many"), None);
        assert_eq!(k.get_or_add("K25"), Some(25));
    }

    #[test]
    fn file_roundtrip_and_missing() -> Result<(), MaildirError> {
        let tmp = tempfile::tempdir().map_err(|e| MaildirError::io("tempdir", e))?;
        assert_eq!(read_keywords(tmp.path())?, KeywordNames::default());
        let mut k = KeywordNames::default();
        k.get_or_add("$Forwarded");
        k.get_or_add("$Junk");
        write_keywords(tmp.path(), &k, true)?;
        let text = std::fs::read_to_string(tmp.path().join(KEYWORDS_FILE))
            .map_err(|e| MaildirError::io("read", e))?;
        assert_eq!(text, "0 $Forwarded\n1 $Junk\n");
        assert_eq!(read_keywords(tmp.path())?, k);
        Ok(())
    }
}
