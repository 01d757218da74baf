//! A real Maildir mailbox in a temp directory for FETCH and SEARCH tests.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use roost_storage::{
    Flags, Mailbox, MailboxName, MailboxOptions, MessageInfo, NewMessage, Store, StoreConfig,
};

/// A user's INBOX on disk; the directory lives as long as the value.
pub(crate) struct TestBox {
    dir: tempfile::TempDir,
    pub(crate) mailbox: Arc<Mailbox>,
}

impl TestBox {
    /// An empty INBOX.
    pub(crate) fn new() -> TestBox {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::new(StoreConfig {
            mail_path: format!("{}/{{user}}/Maildir", dir.path().display()),
            mailbox: MailboxOptions {
                fsync: false,
                lock_timeout: Duration::from_secs(5),
                stale_lock: Duration::from_secs(120),
            },
            rescan_interval: Duration::from_secs(3600),
            autocreate: true,
            special_use: Vec::new(),
        });
        let user = store.user("alice").expect("user");
        let mailbox = user
            .open(&MailboxName::new("INBOX").expect("name"))
            .expect("INBOX");
        TestBox { dir, mailbox }
    }

    /// Adds a message with these flags, keywords and INTERNALDATE; returns its UID.
    pub(crate) fn add(&self, data: &[u8], flags: Flags, keywords: &[&str], date: i64) -> u32 {
        let mut w = self.mailbox.create_tmp(1 << 30).expect("tmp");
        w.write_all(data).expect("write");
        let tmp = w.finish(Some(date)).expect("finish");
        let uids = self
            .mailbox
            .commit(
                vec![NewMessage {
                    tmp,
                    flags,
                    keywords: keywords.iter().map(|k| k.to_string()).collect(),
                }],
                false,
            )
            .expect("commit");
        uids[0]
    }

    /// The mailbox as a session sees it after SELECT.
    pub(crate) fn messages(&self) -> Vec<MessageInfo> {
        self.mailbox.snapshot().expect("snapshot").messages
    }

    /// The Maildir directory.
    pub(crate) fn maildir(&self) -> std::path::PathBuf {
        self.dir.path().join("alice/Maildir")
    }

    /// Moves every message file out of the Maildir behind the storage's back.
    pub(crate) fn hide_files(&self) {
        let root = self.maildir();
        let away = self.dir.path().join("away");
        std::fs::create_dir_all(&away).expect("mkdir");
        for sub in ["cur", "new"] {
            move_all(&root.join(sub), &away);
        }
    }
}

fn move_all(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read_dir") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("file name");
        std::fs::rename(&p, to.join(name)).expect("rename");
    }
}
