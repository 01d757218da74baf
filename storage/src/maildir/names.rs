//! Validated mailbox names and their Maildir++ directory names.
//!
//! Layout (Dovecot `LAYOUT=maildir++`, no namespace prefix, as Dovecot 2.3 writes it):
//! INBOX is the Maildir root; every other mailbox `A.B` lives in the root's subdirectory
//! `.A.B` with each component in modified UTF-7. Children of INBOX are ordinary names
//! (`INBOX.Sub` is stored as `.INBOX.Sub`), and `inbox` in any case is spelled `INBOX`, also
//! as the first component (`inbox.Sub` -> `INBOX.Sub`), exactly as Dovecot normalizes it.
//!
//! `cur`, `new` and `tmp` are allowed as names: their directories are `.cur` etc. and cannot
//! collide with the root's own `cur`/`new`/`tmp` (Dovecot accepts them the same way).

use super::{MaildirError, mutf7};

/// Hierarchy separator of Maildir++ names.
pub const SEPARATOR: char = '.';

/// Longest directory name most file systems accept (NAME_MAX).
pub const MAX_DIR_NAME_BYTES: usize = 255;

/// A valid mailbox name: UTF-8, `.`-separated, safe to turn into a single directory name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

impl MailboxName {
    /// Validates `name` (UTF-8, `.` separated) and normalizes the INBOX spelling.
    pub fn new(name: &str) -> Result<MailboxName, MaildirError> {
        let bad = |reason| MaildirError::InvalidName {
            name: name.to_string(),
            reason,
        };
        if name.is_empty() {
            return Err(bad("empty name"));
        }
        let normalized = match name.split_once(SEPARATOR) {
            None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
            Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => {
                format!("INBOX{SEPARATOR}{rest}")
            }
            _ => name.to_string(),
        };
        if normalized.starts_with('~') {
            return Err(bad("leading '~' (home directory expansion)"));
        }
        for c in normalized.chars() {
            match c {
                '/' => return Err(bad("contains '/'")),
                '\\' => return Err(bad("contains '\\'")),
                c if c.is_control() => return Err(bad("contains a control character")),
                _ => {}
            }
        }
        for comp in normalized.split(SEPARATOR) {
            if comp.is_empty() {
                return Err(bad("empty hierarchy component"));
            }
        }
        let out = MailboxName(normalized);
        if let Some(dir) = out.dir_name()
            && dir.len() > MAX_DIR_NAME_BYTES
        {
            return Err(bad("directory name longer than 255 bytes"));
        }
        Ok(out)
    }

    /// The name as UTF-8, `.` separated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for INBOX (the Maildir root).
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    /// The parent mailbox, or None at the top level.
    pub fn parent(&self) -> Option<MailboxName> {
        self.0
            .rsplit_once(SEPARATOR)
            .map(|(parent, _)| MailboxName(parent.to_string()))
    }

    /// The hierarchy components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split(SEPARATOR)
    }

    /// The directory under the Maildir root: None for INBOX, else `.` + encoded components.
    pub fn dir_name(&self) -> Option<String> {
        if self.is_inbox() {
            return None;
        }
        let mut dir = String::with_capacity(self.0.len() + 1);
        for comp in self.components() {
            dir.push(SEPARATOR);
            dir.push_str(&mutf7::encode(comp));
        }
        Some(dir)
    }

    /// Inverse of [`MailboxName::dir_name`] for a directory entry of the Maildir root.
    ///
    /// Errors for entries that are not Maildir++ folders or whose name does not decode, so
    /// a directory scan can skip them with a warning. `.INBOX` is refused: it would shadow
    /// the root.
    pub fn from_dir_name(dir: &str) -> Result<MailboxName, MaildirError> {
        let bad = |reason| MaildirError::InvalidName {
            name: dir.to_string(),
            reason,
        };
        let Some(rest) = dir.strip_prefix(SEPARATOR) else {
            return Err(bad("folder directory must start with '.'"));
        };
        if rest.is_empty() || rest == "." {
            return Err(bad("'.' and '..' are not folders"));
        }
        let mut name = String::with_capacity(rest.len());
        for (i, comp) in rest.split(SEPARATOR).enumerate() {
            if i > 0 {
                name.push(SEPARATOR);
            }
            let decoded = mutf7::decode(comp).map_err(|_| bad("not valid modified UTF-7"))?;
            if decoded.contains(SEPARATOR) {
                return Err(bad("encoded separator"));
            }
            name.push_str(&decoded);
        }
        let parsed = MailboxName::new(&name)?;
        if parsed.is_inbox() {
            return Err(bad("'.INBOX' would shadow the root"));
        }
        // Only the canonical spelling maps back, so two directories never share a name.
        if parsed.dir_name().as_deref() != Some(dir) {
            return Err(bad("not the canonical directory name"));
        }
        Ok(parsed)
    }
}

impl std::fmt::Display for MailboxName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for MailboxName {
    type Error = MaildirError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        MailboxName::new(s)
    }
}

impl AsRef<str> for MailboxName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Result<MailboxName, MaildirError> {
        MailboxName::new(s)
    }

    #[test]
    fn known_dir_names() -> Result<(), MaildirError> {
        let table: &[(&str, &str, Option<&str>)] = &[
            ("INBOX", "INBOX", None),
            ("inbox", "INBOX", None),
            ("InBox", "INBOX", None),
            ("inbox.Sub", "INBOX.Sub", Some(".INBOX.Sub")),
            ("INBOXes", "INBOXes", Some(".INBOXes")),
            ("Sent", "Sent", Some(".Sent")),
            ("Entwürfe.2024", "Entwürfe.2024", Some(".Entw&APw-rfe.2024")),
            ("a&b", "a&b", Some(".a&-b")),
            ("cur", "cur", Some(".cur")),
            ("tmp.new", "tmp.new", Some(".tmp.new")),
            ("&Li4-", "&Li4-", Some(".&-Li4-")),
            ("日本語", "日本語", Some(".&ZeVnLIqe-")),
            ("a b", "a b", Some(".a b")),
        ];
        for &(input, norm, dir) in table {
            let n = name(input)?;
            assert_eq!(n.as_str(), norm, "{input}");
            assert_eq!(n.dir_name().as_deref(), dir, "{input}");
            if let Some(d) = dir {
                assert_eq!(MailboxName::from_dir_name(d)?, n, "{d}");
            }
        }
        Ok(())
    }

    #[test]
    fn hierarchy() -> Result<(), MaildirError> {
        let n = name("a.b.c")?;
        assert_eq!(n.components().collect::<Vec<_>>(), ["a", "b", "c"]);
        let p = n.parent();
        assert_eq!(p.as_ref().map(|p| p.as_str()), Some("a.b"));
        assert_eq!(p.and_then(|p| p.parent()).map(|p| p.0), Some("a".into()));
        assert_eq!(name("a")?.parent(), None);
        assert!(name("inbox")?.is_inbox());
        assert!(!name("inbox.x")?.is_inbox());
        assert_eq!(name("inbox.x")?.parent().map(|p| p.is_inbox()), Some(true));
        Ok(())
    }

    #[test]
    fn refused_names() {
        let long = "x".repeat(255);
        let long_enc = "ä".repeat(100); // 100 chars -> 1 + ~270 bytes encoded
        let bad = [
            "",
            ".",
            "..",
            "a..b",
            ".a",
            "a.",
            "a/b",
            "/",
            "a\\b",
            "a\0b",
            "a\tb",
            "a\u{7f}",
            "a\u{85}b",
            "~user",
            "x.~ok_in_middle_but.",
            long.as_str(),
            long_enc.as_str(),
        ];
        for b in bad {
            assert!(name(b).is_err(), "accepted {b:?}");
        }
        assert!(name("a.~b").is_ok(), "'~' is only dangerous at the start");
        assert!(name(&"x".repeat(254)).is_ok());
    }

    #[test]
    fn from_dir_name_refuses() {
        for d in [
            "",
            ".",
            "..",
            "cur",
            "Sent",
            ".INBOX",
            ".inbox",
            ".a..b",
            ".a.",
            ".Entwürfe",
            ".&AGE-",
            ".&AC4-",
            ".&AOQ-&APY-",
            ".&",
            ".a/b",
            ".&AC8-",
        ] {
            assert!(MailboxName::from_dir_name(d).is_err(), "accepted {d:?}");
        }
    }

    /// Deterministic generator of hostile names from a small alphabet of dangerous pieces.
    #[test]
    fn hostile_names_never_escape_one_directory() {
        let pieces = [
            ".", "..", "/", "\\", "\0", "\n", "\u{7f}", "&", "-", "&-", "&Li4-", "&AC4-", "&AC8-",
            "~", "a", "ä", "😀", "\u{202e}", "INBOX", "inbox", "cur", " ", "\u{ff0e}", "%2e",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut checked = 0;
        for _ in 0..20_000 {
            let len = (seed % 5 + 1) as usize;
            let mut s = String::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                s.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let Ok(n) = MailboxName::new(&s) else {
                continue;
            };
            checked += 1;
            if let Some(dir) = n.dir_name() {
                assert!(dir.starts_with('.'), "{s:?} -> {dir:?}");
                assert!(dir != "." && dir != "..", "{s:?} -> {dir:?}");
                assert!(
                    !dir.contains('/') && !dir.contains('\0'),
                    "{s:?} -> {dir:?}"
                );
                assert!(dir.len() <= MAX_DIR_NAME_BYTES);
                assert!(dir.is_ascii(), "{s:?} -> {dir:?}");
                assert_eq!(
                    MailboxName::from_dir_name(&dir).ok(),
                    Some(n.clone()),
                    "{s:?}"
                );
            } else {
                assert_eq!(n.as_str(), "INBOX");
            }
        }
        assert!(
            checked > 1000,
            "generator produced too few valid names: {checked}"
        );
    }
}
