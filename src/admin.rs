//! Administrative actions behind `roost user ...`, `roost pw` and `roost deliver`.
//!
//! STUBS: every function returns [`AdminError::NotWired`] until the lead connects them
//! to `roost-storage` (users file, password schemes, Maildir delivery).

use std::io::Read;

use roost_config::Config;

use crate::exit::Exit;
use crate::logging::Secret;

/// The scheme `roost pw` uses without `-s`.
pub const DEFAULT_SCHEME: &str = "SHA512-CRYPT";

/// Why an administrative action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The action is not connected to the storage layer yet.
    #[error("`{0}` is not wired yet: this build cannot do it")]
    NotWired(&'static str),
}

impl AdminError {
    /// The sysexits status for this failure.
    pub fn exit(&self) -> Exit {
        match self {
            AdminError::NotWired(_) => Exit::Software,
        }
    }
}

/// Add `name` with `password` to the users file. STUB.
pub fn user_add(
    _config: &Config,
    _name: &str,
    _password: &Secret<String>,
) -> Result<(), AdminError> {
    Err(AdminError::NotWired("user add"))
}

/// Change the password of `name`. STUB.
pub fn user_passwd(
    _config: &Config,
    _name: &str,
    _password: &Secret<String>,
) -> Result<(), AdminError> {
    Err(AdminError::NotWired("user passwd"))
}

/// Remove `name` from the users file (mail is kept). STUB.
pub fn user_del(_config: &Config, _name: &str) -> Result<(), AdminError> {
    Err(AdminError::NotWired("user del"))
}

/// The user names in the users file. STUB.
pub fn user_list(_config: &Config) -> Result<Vec<String>, AdminError> {
    Err(AdminError::NotWired("user list"))
}

/// Hash `password` with `scheme` into Dovecot's `{SCHEME}hash` form. STUB.
pub fn pw_hash(_scheme: &str, _password: &Secret<String>) -> Result<String, AdminError> {
    Err(AdminError::NotWired("pw"))
}

/// Deliver the message read from `message` into `mailbox` (INBOX when None) of `user`. STUB.
pub fn deliver(
    _config: &Config,
    _user: &str,
    _mailbox: Option<&str>,
    _message: &mut dyn Read,
) -> Result<(), AdminError> {
    Err(AdminError::NotWired("deliver"))
}
