//! What earlier runs already copied, so a second or interrupted run copies only the rest.
//!
//! `data_dir/import/<user>.state` is a journal of tab-separated records, one per line:
//!
//! ```text
//! pop3 <TAB> source <TAB> uidl                              ; a POP3 message copied
//! imapbox <TAB> source <TAB> mailbox <TAB> uidvalidity <TAB> keep|append
//! imap <TAB> source <TAB> mailbox <TAB> uidvalidity <TAB> uid ; an IMAP message copied
//! mbox <TAB> source <TAB> sha256-prefix                     ; an mbox message copied
//! ```
//!
//! Each record is appended with one `write` right after its message is committed, so a kill
//! loses at most the record of the message being copied (torn last lines are ignored on
//! load). Each run starts by rewriting the journal compacted into a temp file that is
//! fsynced and renamed over the old one, so the file as a whole is replaced atomically.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ImportError;

/// The first line of a state file.
const HEADER: &str = "roost-import-state 1";

/// The journal of one user's imports.
pub struct State {
    path: PathBuf,
    lines: Vec<String>,
    known: HashSet<String>,
    file: File,
}

fn err(path: &Path, what: &str, e: std::io::Error) -> ImportError {
    ImportError::State(format!("{what} {}: {e}", path.display()))
}

/// Whether `field` can be stored in one column.
fn storable(field: &str) -> bool {
    !field.contains(['\t', '\r', '\n'])
}

impl State {
    /// Load (and compact) the journal of `user` in `dir`, creating it if missing.
    pub fn open(dir: &Path, user: &str) -> Result<State, ImportError> {
        std::fs::create_dir_all(dir).map_err(|e| err(dir, "creating", e))?;
        let path = dir.join(format!("{user}.state"));
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(err(&path, "reading", e)),
        };
        let mut lines = Vec::new();
        let mut known = HashSet::new();
        let complete = match text.iter().rposition(|&b| b == b'\n') {
            Some(i) => &text[..=i],
            None => &[][..],
        };
        for line in String::from_utf8_lossy(complete).lines() {
            if line == HEADER || line.is_empty() {
                continue;
            }
            if known.insert(line.to_string()) {
                lines.push(line.to_string());
            }
        }
        let tmp = dir.join(format!("{user}.state.tmp"));
        let mut out = String::with_capacity(complete.len() + HEADER.len() + 1);
        out.push_str(HEADER);
        out.push('\n');
        for l in &lines {
            out.push_str(l);
            out.push('\n');
        }
        {
            let mut f = File::create(&tmp).map_err(|e| err(&tmp, "creating", e))?;
            f.write_all(out.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| err(&tmp, "writing", e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| err(&path, "replacing", e))?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| err(&path, "opening", e))?;
        Ok(State {
            path,
            lines,
            known,
            file,
        })
    }

    /// Whether this record was written before.
    pub fn has(&self, fields: &[&str]) -> bool {
        self.known.contains(&fields.join("\t"))
    }

    /// The last field of the first record starting with `prefix`.
    pub fn value(&self, prefix: &[&str]) -> Option<String> {
        let p = format!("{}\t", prefix.join("\t"));
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&p))
            .filter(|v| !v.contains('\t'))
            .map(str::to_string)
    }

    /// The remaining fields of every record starting with `prefix`.
    pub fn find(&self, prefix: &[&str]) -> Vec<Vec<String>> {
        let p = format!("{}\t", prefix.join("\t"));
        self.lines
            .iter()
            .filter_map(|l| l.strip_prefix(&p))
            .map(|rest| rest.split('\t').map(str::to_string).collect())
            .collect()
    }

    /// Append a record (once).
    pub fn add(&mut self, fields: &[&str]) -> Result<(), ImportError> {
        if let Some(bad) = fields.iter().find(|f| !storable(f)) {
            return Err(ImportError::State(format!(
                "cannot record {bad:?} (tab or line break)"
            )));
        }
        let line = fields.join("\t");
        if self.known.contains(&line) {
            return Ok(());
        }
        // One write per record, so a crash never leaves half of one before a whole one.
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| err(&self.path, "writing", e))?;
        self.known.insert(line.clone());
        self.lines.push(line);
        Ok(())
    }

    /// Make everything recorded so far durable.
    pub fn sync(&mut self) -> Result<(), ImportError> {
        self.file
            .sync_all()
            .map_err(|e| err(&self.path, "syncing", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_a_torn_last_line_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = State::open(tmp.path(), "alice").unwrap();
        s.add(&["pop3", "src", "uidl-1"]).unwrap();
        s.add(&["imapbox", "src", "Work/Sub", "77", "keep"])
            .unwrap();
        s.add(&["pop3", "src", "uidl-1"]).unwrap();
        assert!(s.add(&["pop3", "src", "a\tb"]).is_err());
        drop(s);
        let path = tmp.path().join("alice.state");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"pop3\tsrc\ttorn").unwrap();
        drop(f);

        let s = State::open(tmp.path(), "alice").unwrap();
        assert!(s.has(&["pop3", "src", "uidl-1"]));
        assert!(!s.has(&["pop3", "src", "torn"]));
        assert_eq!(
            s.value(&["imapbox", "src", "Work/Sub", "77"]).as_deref(),
            Some("keep")
        );
        assert_eq!(s.value(&["imapbox", "src", "Work/Sub"]), None);
        assert_eq!(
            s.find(&["imapbox", "src", "Work/Sub"]),
            vec![vec!["77".to_string(), "keep".to_string()]]
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "roost-import-state 1\npop3\tsrc\tuidl-1\nimapbox\tsrc\tWork/Sub\t77\tkeep\n"
        );
    }
}
