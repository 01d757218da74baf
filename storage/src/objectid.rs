//! Object identifiers (RFC 8474). MAILBOXID is a random id kept in a file inside the
//! mailbox directory: it survives restarts, follows RENAME (which moves the directory
//! with everything in it), and a mailbox deleted and created again gets a new one.
//! EMAILID is derived from the message content (SHA-1, as Cyrus does), so it needs no
//! storage and is the same after COPY and MOVE, which keep the bytes.

use std::io::Write;
use std::path::Path;

use rand::RngCore;
use sha1::{Digest, Sha1};

use crate::error::StorageError;

/// File holding the MAILBOXID, in the mailbox directory.
pub const MAILBOX_ID_FILE: &str = "roost-mailboxid";

/// `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`
fn valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The MAILBOXID of the mailbox in `dir`, created on first use. Two processes creating
/// it at once agree: the id is published with a link that fails if one already exists.
pub fn mailbox_id(dir: &Path) -> Result<String, StorageError> {
    let path = dir.join(MAILBOX_ID_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if valid(id) {
            return Ok(id.to_string());
        }
    }
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let id: String = std::iter::once("F".to_string())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    let tmp = dir.join(format!(
        "{MAILBOX_ID_FILE}.tmp.{}.{}",
        std::process::id(),
        &id[1..9]
    ));
    let io = |e| StorageError::io(format!("writing {}", path.display()), e);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(format!("{id}\n").as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(id),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            let existing = text.trim();
            if valid(existing) {
                Ok(existing.to_string())
            } else {
                // A damaged file: replace it (no client can have seen a valid id from it).
                std::fs::write(&path, format!("{id}\n")).map_err(io)?;
                Ok(id)
            }
        }
        Err(e) => Err(io(e)),
    }
}

/// The EMAILID of a message with these stored bytes: `M` and 24 hex digits of its SHA-1.
pub fn email_id(message: &[u8]) -> String {
    let digest = Sha1::digest(message);
    std::iter::once("M".to_string())
        .chain(digest.iter().take(12).map(|b| format!("{b:02x}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_id_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = mailbox_id(dir.path()).expect("id");
        assert!(valid(&a) && a.len() == 33, "{a}");
        assert_eq!(mailbox_id(dir.path()).expect("again"), a);
        let other = tempfile::tempdir().expect("tempdir");
        assert_ne!(mailbox_id(other.path()).expect("other"), a);
        std::fs::write(dir.path().join(MAILBOX_ID_FILE), "bad id!\n").expect("damage");
        let b = mailbox_id(dir.path()).expect("repaired");
        assert!(valid(&b) && b != a);
        let leftovers = std::fs::read_dir(dir.path())
            .expect("list")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp."))
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn email_id_depends_on_content_only() {
        let a = email_id(b"Subject: a\n\nx\n");
        assert_eq!(a, email_id(b"Subject: a\n\nx\n"));
        assert_ne!(a, email_id(b"Subject: a\n\ny\n"));
        assert!(a.starts_with('M') && a.len() == 25 && valid(&a));
    }
}
