//! Courier-IMAP's UID files, adopted when a Maildir has no `dovecot-uidlist` yet, so a
//! mailbox moved over from Courier keeps its IMAP UIDs, UIDVALIDITY and POP3 UIDLs (what
//! Dovecot's `courier-dovecot-migrate.pl` does, done on first open).
//!
//! - `courierimapuiddb`, version 1: a header `1 <uidvalidity> <nextuid>`, then one line
//!   `<uid> <filename>` per message (the same layout as Dovecot's uidlist version 1).
//! - `courierpop3dsizelist` (Courier 0.43+): without a header (version 0) each line is
//!   `<filename> <size>` and the UIDL is the file name; with a header `/<version>
//!   <nextuid> <uidvalidity>` (versions 1 to 3) lines are `<filename> <size> <uid>`
//!   (UIDL `UID<uid>`) or `<filename> <size> <uid>:<uidvalidity>` (UIDL
//!   `UID<uid>-<uidvalidity>`); a uid of 0 means the file-name UIDL.
//!
//! File names may carry `:2,` flags; they are matched by their base name. A file with an
//! unknown version or a broken header is ignored with a warning (messages then get new
//! UIDs, as they would without it); single broken lines are skipped.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use super::MaildirError;
use super::uidlist::{UidRecord, Uidlist};

/// Courier-IMAP's UID database in each Maildir.
pub const IMAP_UIDDB: &str = "courierimapuiddb";
/// Courier's POP3 UIDL and size cache, in the INBOX Maildir.
pub const POP3_SIZELIST: &str = "courierpop3dsizelist";

/// What `courierimapuiddb` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUidDb {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// Next UID (above every listed UID).
    pub next_uid: u32,
    /// `(uid, base file name)` in file order.
    pub uids: Vec<(u32, String)>,
}

fn base(name: &str) -> &str {
    name.split_once(':').map_or(name, |(b, _)| b)
}

/// Parses `courierimapuiddb`; `Err` names what is wrong with the header.
pub fn parse_imap_uiddb(text: &str) -> Result<ImapUidDb, String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let fields: Vec<&str> = header.split(' ').collect();
    let (uid_validity, mut next_uid) = match fields[..] {
        ["1", v, n] => match (v.parse::<u32>(), n.parse::<u32>()) {
            (Ok(v), Ok(n)) if v != 0 => (v, n),
            _ => return Err(format!("broken header {header:?}")),
        },
        [version, ..] if version != "1" && version.parse::<u32>().is_ok() => {
            return Err(format!("unsupported version {version}"));
        }
        _ => return Err(format!("broken header {header:?}")),
    };
    let mut uids = Vec::new();
    for line in lines {
        let Some((uid, name)) = line.split_once(' ') else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        if uid == 0 || uid == u32::MAX || name.is_empty() {
            continue;
        }
        next_uid = next_uid.max(uid + 1);
        uids.push((uid, base(name).to_owned()));
    }
    Ok(ImapUidDb {
        uid_validity,
        next_uid,
        uids,
    })
}

/// The UIDL Courier gives a message by its file name: bytes outside 0x21..=0x7E and
/// `'`, `"` and `+` become `+XX` (hex).
pub fn filename_uidl(base: &str) -> String {
    let mut out = String::with_capacity(base.len());
    for b in base.bytes() {
        if !(0x21..=0x7e).contains(&b) || matches!(b, b'\'' | b'"' | b'+') {
            out.push_str(&format!("+{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Parses `courierpop3dsizelist` into `(base file name, UIDL)` in POP3 order.
pub fn parse_pop3_sizelist(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut lines = text.lines().peekable();
    if let Some(header) = lines.peek().copied()
        && let Some(rest) = header.strip_prefix('/')
    {
        let fields: Vec<&str> = rest.split(' ').collect();
        match fields[..] {
            [version, n, v]
                if n.parse::<u32>().is_ok()
                    && v.parse::<u32>().is_ok()
                    && matches!(version, "1" | "2" | "3") => {}
            [version, ..] if version.parse::<u32>().is_ok() => {
                return Err(format!("unsupported version {version}"));
            }
            _ => return Err(format!("broken header {header:?}")),
        }
        lines.next();
    }
    let mut out = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        let (name, uid) = match fields[..] {
            [name, size] if size.parse::<u64>().is_ok() => (name, None),
            [name, size, uid] if size.parse::<u64>().is_ok() => (name, Some(uid)),
            _ => continue,
        };
        let b = base(name);
        if b.is_empty() {
            continue;
        }
        let uidl = match uid.map(|u| u.split_once(':').unwrap_or((u, ""))) {
            None => filename_uidl(b),
            Some((u, v)) => match (u.parse::<u64>(), v) {
                (Ok(0), _) => filename_uidl(b),
                (Ok(u), "") => format!("UID{u}"),
                (Ok(u), v) if v.parse::<u64>().is_ok() => format!("UID{u}-{v}"),
                _ => continue,
            },
        };
        out.push((b.to_owned(), uidl));
    }
    Ok(out)
}

fn read_optional(path: &Path) -> Result<Option<String>, MaildirError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(MaildirError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn names_in(dir: &Path) -> Result<Vec<String>, MaildirError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(MaildirError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|source| MaildirError::Io {
            path: dir.to_owned(),
            source,
        })?;
        if let Some(n) = entry.file_name().to_str()
            && !n.starts_with('.')
        {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

/// The uidlist Courier's files in `dir` describe, for the messages now in `new/` and
/// `cur/`; `None` when there are no Courier files (or none usable). `new_validity` gives
/// the UIDVALIDITY when only POP3 UIDLs are known. The GUID is left for the caller.
pub fn adopt(
    dir: &Path,
    new_validity: impl FnOnce() -> u32,
) -> Result<Option<Uidlist>, MaildirError> {
    let imap_text = read_optional(&dir.join(IMAP_UIDDB))?;
    let pop3_text = read_optional(&dir.join(POP3_SIZELIST))?;
    let imap = imap_text.and_then(|t| {
        parse_imap_uiddb(&t)
            .inspect_err(|e| {
                tracing::warn!(dir = %dir.display(), "{IMAP_UIDDB}: {e}; not adopted");
            })
            .ok()
    });
    let pop3 = pop3_text.and_then(|t| {
        parse_pop3_sizelist(&t)
            .inspect_err(|e| {
                tracing::warn!(dir = %dir.display(), "{POP3_SIZELIST}: {e}; not adopted");
            })
            .ok()
    });
    if imap.is_none() && pop3.is_none() {
        return Ok(None);
    }
    let mut present: HashMap<String, ()> = HashMap::new();
    for sub in ["new", "cur"] {
        for name in names_in(&dir.join(sub))? {
            present.insert(base(&name).to_owned(), ());
        }
    }
    let (uid_validity, mut next_uid, imap_uids) = match imap {
        Some(db) => (db.uid_validity, db.next_uid.max(1), db.uids),
        None => (new_validity(), 1, Vec::new()),
    };
    let mut records: Vec<UidRecord> = Vec::new();
    let mut by_base: HashMap<String, usize> = HashMap::new();
    for (uid, b) in imap_uids {
        if present.contains_key(&b) && !by_base.contains_key(&b) {
            by_base.insert(b.clone(), records.len());
            records.push(UidRecord {
                uid,
                fields: Vec::new(),
                filename: b,
            });
        }
    }
    let mut uidls = 0;
    for (b, uidl) in pop3.unwrap_or_default() {
        if !present.contains_key(&b) {
            continue;
        }
        let i = match by_base.get(&b) {
            Some(&i) => i,
            None => {
                // Known to POP3 only: a new UID, in POP3 order.
                let uid = next_uid;
                next_uid = next_uid.saturating_add(1);
                by_base.insert(b.clone(), records.len());
                records.push(UidRecord {
                    uid,
                    fields: Vec::new(),
                    filename: b,
                });
                records.len() - 1
            }
        };
        records[i].set_field('P', uidl);
        uidls += 1;
    }
    records.sort_by_key(|r| r.uid);
    records.dedup_by_key(|r| r.uid);
    tracing::info!(
        dir = %dir.display(), uid_validity, messages = records.len(), pop3_uidls = uidls,
        "adopting Courier UIDs"
    );
    Ok(Some(Uidlist {
        uid_validity,
        next_uid,
        guid: None,
        header_extra: Vec::new(),
        records,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_uiddb_version_1() {
        let db = parse_imap_uiddb("1 1234567 10\n3 a.host\n7 b.host:2,S\nbad line\n0 z\n12 c\n")
            .expect("parses");
        assert_eq!(db.uid_validity, 1234567);
        assert_eq!(db.next_uid, 13, "above the highest UID listed");
        assert_eq!(
            db.uids,
            [(3, "a.host".into()), (7, "b.host".into()), (12, "c".into())]
        );
        for (text, why) in [
            ("2 1 2\n", "unsupported version 2"),
            ("1 0 5\n", "broken header"),
            ("1 x 5\n", "broken header"),
            ("", "broken header"),
        ] {
            let e = parse_imap_uiddb(text).expect_err(text);
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn pop3_sizelist_versions() {
        // Version 0: the file name is the UIDL.
        assert_eq!(
            parse_pop3_sizelist("a.host:2,S 120\nb+c\"d 7\n").expect("v0"),
            [
                ("a.host".into(), "a.host".into()),
                ("b+c\"d".into(), "b+2Bc+22d".into())
            ]
        );
        for v in ["1", "2", "3"] {
            let text =
                format!("/{v} 9 1700000000\na 10 5\nb:2,S 20 6:1700000000\nc 30 0\nbroken\n");
            assert_eq!(
                parse_pop3_sizelist(&text).expect("v1-3"),
                [
                    ("a".into(), "UID5".into()),
                    ("b".into(), "UID6-1700000000".into()),
                    ("c".into(), "c".into())
                ],
                "version {v}"
            );
        }
        assert!(parse_pop3_sizelist("/4 1 2\n").is_err());
        assert!(parse_pop3_sizelist("/x\n").is_err());
    }

    #[test]
    fn adopt_matches_files_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir(d.join(sub)).expect("mkdir");
        }
        std::fs::write(d.join("cur/one.h:2,S"), b"x").expect("write");
        std::fs::write(d.join("cur/two.h:2,"), b"x").expect("write");
        std::fs::write(d.join("new/three.h"), b"x").expect("write");
        assert_eq!(adopt(d, || 99).expect("no files"), None);
        std::fs::write(
            d.join(IMAP_UIDDB),
            "1 555 20\n4 one.h\n9 gone.h\n11 two.h:2,S\n",
        )
        .expect("write");
        std::fs::write(
            d.join(POP3_SIZELIST),
            "/2 30 555\ntwo.h 1 11:555\nthree.h 1 12:555\ngone.h 1 9:555\n",
        )
        .expect("write");
        let list = adopt(d, || 99).expect("adopt").expect("some");
        assert_eq!((list.uid_validity, list.next_uid), (555, 21));
        let got: Vec<_> = list
            .records
            .iter()
            .map(|r| (r.uid, r.filename.as_str(), r.field('P')))
            .collect();
        assert_eq!(
            got,
            [
                (4, "one.h", None),
                (11, "two.h", Some("UID11-555")),
                (20, "three.h", Some("UID12-555")),
            ]
        );
        // POP3 only: a new UIDVALIDITY from the caller.
        std::fs::remove_file(d.join(IMAP_UIDDB)).expect("rm");
        let list = adopt(d, || 99).expect("adopt").expect("some");
        assert_eq!((list.uid_validity, list.next_uid), (99, 3));
    }
}
