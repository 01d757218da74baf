//! A [`Store`] over a temp directory, and putting messages into its mailboxes.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use roost_storage::{
    Flags, Mailbox, MailboxName, MailboxOptions, NewMessage, SpecialMailbox, Store, StoreConfig,
};

/// Builds the [`StoreConfig`] tests use; every setting starts at what most tests want.
#[derive(Debug, Clone)]
pub struct StoreBuilder {
    config: StoreConfig,
}

impl StoreBuilder {
    /// Mail at `root/{user}/Maildir`, no fsync (tests do not survive power cuts anyway), a
    /// 5 s lock timeout, autocreate on, no special-use mailboxes.
    pub fn new(root: &Path) -> StoreBuilder {
        StoreBuilder {
            config: StoreConfig {
                mail_path: format!("{}/{{user}}/Maildir", root.display()),
                mailbox: MailboxOptions {
                    fsync: false,
                    lock_timeout: Duration::from_secs(5),
                    stale_lock: Duration::from_secs(120),
                },
                // Tests sync on purpose; a timer firing mid-test would only add noise.
                rescan_interval: Duration::from_secs(3600),
                autocreate: true,
                special_use: Vec::new(),
                aliases: Vec::new(),
            },
        }
    }

    /// Like [`StoreBuilder::new`], with mail at the path template `template` instead.
    pub fn for_mail_path(template: impl Into<String>) -> StoreBuilder {
        StoreBuilder::new(Path::new("")).mail_path(template)
    }

    /// Replaces the mail path template (`{user}` is the user name; without it every user
    /// shares the one Maildir).
    pub fn mail_path(mut self, template: impl Into<String>) -> StoreBuilder {
        self.config.mail_path = template.into();
        self
    }

    /// Whether special-use mailboxes are created on a user's first login.
    pub fn autocreate(mut self, on: bool) -> StoreBuilder {
        self.config.autocreate = on;
        self
    }

    /// Adds a special-use mailbox (`attribute` such as `\Sent`).
    pub fn special_use(mut self, name: &str, attribute: &str) -> StoreBuilder {
        self.config.special_use.push(SpecialMailbox {
            name: name.into(),
            attribute: attribute.into(),
        });
        self
    }

    /// Adds `name` as another name of the special-use mailbox with `attribute`.
    pub fn alias(mut self, attribute: &str, name: &str) -> StoreBuilder {
        self.config.aliases.push(roost_storage::SpecialAlias {
            attribute: attribute.into(),
            name: name.into(),
        });
        self
    }

    /// Replaces the per-mailbox options (fsync, lock timeouts).
    pub fn mailbox_options(mut self, options: MailboxOptions) -> StoreBuilder {
        self.config.mailbox = options;
        self
    }

    /// How long to wait for a Maildir lock.
    pub fn lock_timeout(mut self, timeout: Duration) -> StoreBuilder {
        self.config.mailbox.lock_timeout = timeout;
        self
    }

    /// The configuration built so far.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The Store.
    pub fn build(self) -> Arc<Store> {
        Store::new(self.config)
    }
}

/// The name `INBOX`.
pub fn inbox() -> MailboxName {
    mailbox_name("INBOX")
}

/// A mailbox name the test knows to be valid.
pub fn mailbox_name(name: &str) -> MailboxName {
    MailboxName::new(name).unwrap_or_else(|e| panic!("mailbox name {name:?}: {e}"))
}

/// Opens `mailbox` of `user`.
pub fn open(store: &Arc<Store>, user: &str, mailbox: &str) -> Arc<Mailbox> {
    store
        .user(user)
        .unwrap_or_else(|e| panic!("user {user}: {e}"))
        .open(&mailbox_name(mailbox))
        .unwrap_or_else(|e| panic!("open {mailbox}: {e}"))
}

/// INBOX of user `u` in a fresh store below `root`, with `messages` delivered in order
/// (the corpus tests compare answers by message number).
pub fn corpus_inbox(root: &Path, messages: &[Vec<u8>]) -> Arc<Mailbox> {
    let mb = open(&StoreBuilder::new(root).build(), "u", "INBOX");
    for m in messages {
        mb.deliver(&mut &m[..], 1 << 30).expect("deliver");
    }
    mb
}

/// Writes `body` into `mailbox`'s `tmp/`, ready to commit with these flags, keywords and
/// INTERNALDATE (`None`: now).
pub fn stage(
    mailbox: &Mailbox,
    body: &[u8],
    flags: Flags,
    keywords: &[&str],
    date: Option<i64>,
) -> NewMessage {
    let mut w = mailbox.create_tmp(1 << 30).expect("create tmp");
    w.write_all(body).expect("write tmp");
    NewMessage {
        tmp: w.finish(date).expect("finish tmp"),
        flags,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
    }
}

/// Adds a message with these flags, keywords and INTERNALDATE; returns its UID.
pub fn add_message(
    mailbox: &Mailbox,
    body: &[u8],
    flags: Flags,
    keywords: &[&str],
    date: i64,
) -> u32 {
    let staged = stage(mailbox, body, flags, keywords, Some(date));
    let uids = mailbox.commit(vec![staged], false).expect("commit");
    *uids.first().expect("one UID per committed message")
}

/// The bytes of message `uid`, or None if it is gone.
pub fn read_message(mailbox: &Mailbox, uid: u32) -> Option<Vec<u8>> {
    let (mut f, _) = mailbox.open_message(uid).expect("open_message")?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).expect("read message");
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_store_puts_mail_where_the_template_says() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = StoreBuilder::new(tmp.path())
            .special_use("Sent", "\\Sent")
            .build();
        let mb = open(&store, "alice", "INBOX");
        let uid = add_message(
            &mb,
            b"Subject: x\n\nbody\n",
            Flags::SEEN,
            &["work"],
            1_000_000,
        );
        assert_eq!(
            read_message(&mb, uid).as_deref(),
            Some(&b"Subject: x\n\nbody\n"[..])
        );
        assert_eq!(read_message(&mb, uid + 1), None);
        let root = tmp.path().join("alice/Maildir");
        let files = crate::maildir::message_files(&root);
        assert_eq!(files.len(), 1);
        assert!(crate::maildir::file_name(&files[0]).ends_with(":2,Sa"));
        // autocreate makes the special-use folder on first login.
        store
            .user("alice")
            .expect("user")
            .ensure_special_use()
            .expect("special use");
        assert!(root.join(".Sent").is_dir());
    }

    #[test]
    fn mail_path_without_user_is_one_shared_maildir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let shared = tmp.path().join("one");
        let b = StoreBuilder::for_mail_path(shared.display().to_string())
            .autocreate(false)
            .lock_timeout(Duration::from_secs(10));
        assert_eq!(b.config().mailbox.lock_timeout, Duration::from_secs(10));
        let store = b.build();
        let mb = open(&store, "bob", "INBOX");
        mb.deliver(&mut &b"Subject: y\n\n"[..], 1 << 20)
            .expect("deliver");
        assert_eq!(crate::maildir::message_files(&shared).len(), 1);
        store
            .user("bob")
            .expect("user")
            .ensure_special_use()
            .expect("special use");
        assert!(
            !shared.join(".Sent").exists(),
            "{:?}",
            crate::maildir::file_names(&shared)
        );
    }
}
