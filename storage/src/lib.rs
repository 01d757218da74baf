//! Roost's one shared storage layer, below both POP3 and IMAP.
//!
//! - [`maildir`]: the on-disk formats shared with Dovecot and Courier (Maildir++ names,
//!   `dovecot-uidlist`, `dovecot-keywords`, `subscriptions`, file names with flags).
//! - [`auth`]: users and passwords from a Dovecot passwd-file.
//!
//! Storage never knows which protocol asked: sessions of every protocol get the same
//! shared mailbox object and see one ordered stream of changes.

pub mod auth;
pub mod maildir;
