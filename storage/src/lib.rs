//! Roost's one shared storage layer, below both POP3 and IMAP.
//!
//! - [`maildir`]: the on-disk formats shared with Dovecot and Courier (Maildir++ names,
//!   `dovecot-uidlist`, `dovecot-keywords`, `subscriptions`, file names with flags).
//! - [`index`]: Roost's own per-mailbox index (modseqs, caches, sync stamps).
//! - [`mailbox`]: the one shared object per mailbox, its sync and its change feed.
//! - [`store`]: the registry of open mailboxes and each user's mailbox tree.
//! - [`auth`]: users and passwords from a Dovecot passwd-file.
//! - [`logins`]: who logged in with which protocol and client (`logins.json`).
//!
//! Storage never knows which protocol asked: sessions of every protocol get the same
//! shared mailbox object and see one ordered stream of changes.

pub mod auth;
pub mod cache;
pub mod error;
pub mod index;
pub mod logins;
pub mod mailbox;
pub mod maildir;
pub mod metadata;
pub mod objectid;
pub mod quota;
pub mod store;
mod watch;

pub use cache::CacheField;
pub use error::StorageError;
pub use mailbox::{
    Changes, FlagOp, Mailbox, MailboxOptions, MessageInfo, NewMessage, Published, Snapshot, Status,
    StoreOutcome, TmpMessage, TmpWriter,
};
pub use maildir::filename::{Flags, KeywordSet};
pub use maildir::names::MailboxName;
pub use metadata::{Metadata, MetadataRefusal};
pub use quota::{QuotaLimits, QuotaPolicy, QuotaUsage};
pub use store::{MailboxEntry, SpecialAlias, SpecialMailbox, Store, StoreConfig, UserStore};
