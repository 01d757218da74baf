//! Dovecot's `subscriptions` file in the Maildir root (subscription-file.c).
//!
//! Version 2 starts with the header `V\t2\n\n`; each following line is one mailbox with its
//! hierarchy components separated by TAB, each component tab-escaped. The names are the
//! storage names Dovecot 2.3 uses for Maildir++, i.e. each component in modified UTF-7
//! (`Entw&APw-rfe`, not `Entwürfe`). Files without the header are the old format: one
//! storage name per line with `.` as separator. We always write version 2.

use std::path::Path;

use super::names::{MailboxName, SEPARATOR};
use super::{MaildirError, mutf7, write_atomic};

/// File name of the subscription list in the Maildir root.
pub const SUBSCRIPTIONS_FILE: &str = "subscriptions";

const V2_HEADER: &str = "V\t2\n\n";

/// Reads the subscribed mailbox names (UTF-8, `.` separated); missing file = none.
///
/// Entries that do not decode to a valid name are skipped with a warning, so one bad
/// line written by some other tool does not hide all subscriptions.
pub fn read_subscriptions(root: &Path) -> Result<Vec<String>, MaildirError> {
    let path = root.join(SUBSCRIPTIONS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MaildirError::io(path, e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let (v2, body) = match text.strip_prefix(V2_HEADER) {
        Some(rest) => (true, rest),
        None => (false, text.as_ref()),
    };
    let mut out: Vec<String> = Vec::new();
    for line in body.split('\n').filter(|l| !l.is_empty()) {
        match decode_line(line, v2) {
            Some(name) if !out.contains(&name) => out.push(name),
            Some(_) => {}
            None => {
                tracing::warn!(file = %path.display(), entry = line, "skipping bad subscription")
            }
        }
    }
    Ok(out)
}

fn decode_line(line: &str, v2: bool) -> Option<String> {
    let components: Vec<String> = if v2 {
        line.split('\t').map(tab_unescape).collect::<Option<_>>()?
    } else {
        line.split(SEPARATOR).map(str::to_string).collect()
    };
    let mut name = String::with_capacity(line.len());
    for (i, comp) in components.iter().enumerate() {
        if i > 0 {
            name.push(SEPARATOR);
        }
        let decoded = mutf7::decode(comp).ok()?;
        if decoded.contains(SEPARATOR) {
            return None;
        }
        name.push_str(&decoded);
    }
    MailboxName::new(&name).ok().map(|n| n.as_str().to_string())
}

/// Replaces the subscription list atomically; names are validated and deduplicated.
///
/// Dovecot guards its own updates with `subscriptions.lock`; we only replace the file by
/// rename, so a reader never sees a half-written list.
pub fn write_subscriptions(root: &Path, names: &[String], fsync: bool) -> Result<(), MaildirError> {
    let mut out = String::from(V2_HEADER);
    let mut seen: Vec<MailboxName> = Vec::with_capacity(names.len());
    for name in names {
        let n = MailboxName::new(name)?;
        if seen.contains(&n) {
            continue;
        }
        let line: Vec<String> = n
            .components()
            .map(|c| tab_escape(&mutf7::encode(c)))
            .collect();
        out.push_str(&line.join("\t"));
        out.push('\n');
        seen.push(n);
    }
    write_atomic(root, SUBSCRIPTIONS_FILE, out.as_bytes(), fsync)
}

/// Dovecot's tab escaping: `\x01` introduces `0`, `1`, `t`, `r`, `n`.
fn tab_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\x010"),
            '\x01' => out.push_str("\x011"),
            '\t' => out.push_str("\x01t"),
            '\r' => out.push_str("\x01r"),
            '\n' => out.push_str("\x01n"),
            c => out.push(c),
        }
    }
    out
}

fn tab_unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\x01' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '0' => '\0',
            '1' => '\x01',
            't' => '\t',
            'r' => '\r',
            'n' => '\n',
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Result<tempfile::TempDir, MaildirError> {
        tempfile::tempdir().map_err(|e| MaildirError::io("tempdir", e))
    }

    #[test]
    fn reads_dovecot_v2_bytes() -> Result<(), MaildirError> {
        let tmp = dir()?;
        // Exactly what Dovecot 2.3.19 wrote after subscribing `Entwürfe` and `a.b`.
        std::fs::write(
            tmp.path().join(SUBSCRIPTIONS_FILE),
            "V\t2\n\nEntw&APw-rfe\na\tb\n",
        )
        .map_err(|e| MaildirError::io("w", e))?;
        assert_eq!(read_subscriptions(tmp.path())?, ["Entwürfe", "a.b"]);
        Ok(())
    }

    #[test]
    fn reads_old_format_and_skips_bad() -> Result<(), MaildirError> {
        let tmp = dir()?;
        std::fs::write(
            tmp.path().join(SUBSCRIPTIONS_FILE),
            "INBOX\nEntw&APw-rfe.2024\n\nbad&\na..b\nINBOX\n",
        )
        .map_err(|e| MaildirError::io("w", e))?;
        assert_eq!(read_subscriptions(tmp.path())?, ["INBOX", "Entwürfe.2024"]);
        Ok(())
    }

    #[test]
    fn write_is_dovecot_v2_and_roundtrips() -> Result<(), MaildirError> {
        let tmp = dir()?;
        assert!(read_subscriptions(tmp.path())?.is_empty());
        let names = ["inbox", "Entwürfe", "a.b", "Entwürfe", "x&y"].map(String::from);
        write_subscriptions(tmp.path(), &names, true)?;
        let text = std::fs::read_to_string(tmp.path().join(SUBSCRIPTIONS_FILE))
            .map_err(|e| MaildirError::io("r", e))?;
        assert_eq!(text, "V\t2\n\nINBOX\nEntw&APw-rfe\na\tb\nx&-y\n");
        assert_eq!(
            read_subscriptions(tmp.path())?,
            ["INBOX", "Entwürfe", "a.b", "x&y"]
        );
        let bad = write_subscriptions(tmp.path(), &["a/b".to_string()], false);
        assert!(matches!(bad, Err(MaildirError::InvalidName { .. })));
        Ok(())
    }

    #[test]
    fn tab_escaping_roundtrips() {
        for s in ["", "plain", "\t\x01\r\n\0", "a\tb"] {
            assert_eq!(tab_unescape(&tab_escape(s)).as_deref(), Some(s));
        }
        assert_eq!(tab_unescape("\x01x"), None);
        assert_eq!(tab_unescape("\x01"), None);
    }
}
