//! Authentication against a Dovecot passwd-file.
//!
//! - [`scheme`]: Dovecot password schemes (`{SCHEME}hash`), hashing and verification.
//! - [`credentials`]: what challenge-response SASL mechanisms need (CRAM-MD5, SCRAM).
//! - [`passwd_file`]: parsing `user:{SCHEME}hash:uid:gid:gecos:home:shell:extra` lines.
//! - [`authenticator`]: the shared, self-reloading user database used by the protocols.
//! - [`edit`]: atomic users-file edits for `roost user add|passwd|del|list`.
//! - [`policy`]: per-user protocol policy (`protocols=imap`).
//! - [`sasl`]: server side of PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1/256 and APOP.

pub mod authenticator;
mod cram;
pub mod credentials;
pub mod edit;
pub mod passwd_file;
pub mod policy;
pub mod sasl;
pub mod scheme;
mod secret;

use std::path::PathBuf;

pub use authenticator::{AuthOutcome, Authenticator, MechanismSupport};
pub use cram::cram_md5_verify;
pub use credentials::{Credentials, ScramAlgorithm, ScramCredentials};
pub use edit::{
    add_user, add_user_hashed, delete_user, list_users, set_password, set_password_hashed,
    validate_user_name,
};
pub use passwd_file::{UserEntry, parse_line, parse_passwd_file};
pub use scheme::{DEFAULT_SCHEME, Scheme, hash_password, verify_password};
pub use secret::Secret;

/// Everything that can go wrong in authentication and users-file handling.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The `{SCHEME}` prefix (or crypt `$id$`) names nothing we implement.
    #[error("unknown password scheme {0:?}")]
    UnknownScheme(String),
    /// The stored hash has the right scheme but cannot be decoded.
    #[error("malformed {scheme} hash: {reason}")]
    MalformedHash {
        /// Scheme name as Dovecot spells it.
        scheme: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The hashing library refused the input (e.g. parameters out of range).
    #[error("{scheme} hashing failed: {reason}")]
    Hashing {
        /// Scheme name as Dovecot spells it.
        scheme: &'static str,
        /// The library's message.
        reason: String,
    },
    /// A passwd-file line that cannot be used.
    #[error("line {line}: {reason}")]
    MalformedLine {
        /// 1-based line number in the file.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A user name that cannot be stored in a passwd-file or used as a directory name.
    #[error("invalid user name {name:?}: {reason}")]
    InvalidUserName {
        /// The rejected name (may contain control characters; printed escaped).
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// `add_user` for a name already in the file.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// `set_password`/`delete_user` for a name not in the file.
    #[error("no such user {0:?}")]
    NoSuchUser(String),
    /// A password given to the editing functions that cannot be stored.
    #[error("invalid password: {0}")]
    InvalidPassword(&'static str),
    /// Reading or writing the users file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
