//! A real Maildir mailbox in a temp directory for FETCH and SEARCH tests.

use std::sync::Arc;

use roost_storage::{Flags, Mailbox, MessageInfo};
use roost_testkit::StoreBuilder;
use roost_testkit::maildir::move_messages;
use roost_testkit::store::{add_message, open};

/// A user's INBOX on disk; the directory lives as long as the value.
pub(crate) struct TestBox {
    dir: tempfile::TempDir,
    pub(crate) mailbox: Arc<Mailbox>,
}

impl TestBox {
    /// An empty INBOX.
    pub(crate) fn new() -> TestBox {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = StoreBuilder::new(dir.path()).build();
        let mailbox = open(&store, "alice", "INBOX");
        TestBox { dir, mailbox }
    }

    /// Adds a message with these flags, keywords and INTERNALDATE; returns its UID.
    pub(crate) fn add(&self, data: &[u8], flags: Flags, keywords: &[&str], date: i64) -> u32 {
        add_message(&self.mailbox, data, flags, keywords, date)
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
        move_messages(&self.maildir(), &self.dir.path().join("away"));
    }
}
