//! Test helpers shared by Roost's crates, used only as a `[dev-dependencies]` entry.
//!
//! Everything here panics on failure instead of returning errors: a helper that cannot do
//! its job means the test cannot run, and a panic with the cause is the clearest failure.
//!
//! - [`dovecot`]: the real Dovecot's `doveadm` and `imap` (PREAUTH) on a temp Maildir.
//! - [`server`]: a whole Dovecot IMAP + POP3 server on 127.0.0.1.
//! - [`store`]: a [`roost_storage::Store`] over a temp directory, and messages put into it.
//! - [`maildir`]: reading what is on disk in a Maildir.
//! - [`process`]: running a program with bytes on its stdin.

#![warn(missing_docs)]

pub mod dovecot;
pub mod maildir;
pub mod process;
pub mod server;
pub mod store;

pub use dovecot::{Dovecot, Fetched};
pub use server::DovecotServer;
pub use store::{StoreBuilder, inbox};
