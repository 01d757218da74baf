//! Administrative actions behind `roost user ...`, `roost pw` and `roost deliver`.

use std::io::Read;
use std::str::FromStr;

use roost_config::Config;
use roost_storage::auth::{self, AuthError, Scheme};
use roost_storage::{MailboxName, StorageError};

use crate::exit::Exit;
use crate::logging::Secret;
use crate::wiring;

/// The scheme `roost pw` uses without `-s` (and every new users-file entry): ARGON2ID.
pub const DEFAULT_SCHEME: &str = "ARGON2ID";

/// Why an administrative action failed; each maps to one sysexits status.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Users file or password problem.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// `roost deliver` for a user not in the users file.
    #[error("unknown user {0:?}: add it with `roost user add` first")]
    NoUser(String),
    /// `roost deliver --mailbox` naming a mailbox that does not exist.
    #[error("mailbox {0:?} does not exist for this user: create it first or deliver to INBOX")]
    NoMailbox(String),
    /// Storage failure while delivering.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// The users file cannot be read.
    #[error("{0}")]
    UsersFile(String),
}

impl AdminError {
    /// The sysexits status for this failure, chosen so an MTA defers what may succeed later
    /// (75, 74) and bounces what never will (67, 65).
    pub fn exit(&self) -> Exit {
        match self {
            AdminError::Auth(AuthError::UnknownScheme(_)) => Exit::Usage,
            AdminError::Auth(AuthError::InvalidUserName { .. })
            | AdminError::Auth(AuthError::InvalidPassword(_)) => Exit::DataErr,
            AdminError::Auth(AuthError::UserExists(_)) => Exit::CantCreat,
            AdminError::Auth(AuthError::NoSuchUser(_)) | AdminError::NoUser(_) => Exit::NoUser,
            AdminError::Auth(AuthError::Io { .. }) => Exit::IoErr,
            AdminError::Auth(_) => Exit::Software,
            AdminError::NoMailbox(_) => Exit::CantCreat,
            AdminError::Storage(e) => match e {
                StorageError::TooBig { .. } => Exit::DataErr,
                StorageError::InvalidName { .. } => Exit::DataErr,
                StorageError::NoSuchMailbox(_) => Exit::CantCreat,
                // Like Dovecot's quota_full_tempfail: the MTA keeps the mail and retries.
                StorageError::NoSpace
                | StorageError::OverQuota(_)
                | StorageError::LockTimeout(_) => Exit::TempFail,
                StorageError::NotAllowed(_) => Exit::NoPerm,
                _ => Exit::IoErr,
            },
            AdminError::UsersFile(_) => Exit::TempFail,
        }
    }
}

/// Add `name` with `password` to the users file (hash: ARGON2ID).
pub fn user_add(config: &Config, name: &str, password: &Secret<String>) -> Result<(), AdminError> {
    auth::add_user(&config.users_file, name, password.expose().as_bytes())?;
    Ok(())
}

/// Change the password of `name`.
pub fn user_passwd(
    config: &Config,
    name: &str,
    password: &Secret<String>,
) -> Result<(), AdminError> {
    auth::set_password(&config.users_file, name, password.expose().as_bytes())?;
    Ok(())
}

/// Remove `name` from the users file (mail is kept).
pub fn user_del(config: &Config, name: &str) -> Result<(), AdminError> {
    auth::delete_user(&config.users_file, name)?;
    Ok(())
}

/// The user names in the users file.
pub fn user_list(config: &Config) -> Result<Vec<String>, AdminError> {
    Ok(auth::list_users(&config.users_file)?)
}

/// Hash `password` with `scheme` into Dovecot's `{SCHEME}hash` form.
pub fn pw_hash(scheme: &str, password: &Secret<String>) -> Result<String, AdminError> {
    let scheme = Scheme::from_str(scheme)?;
    Ok(auth::hash_password(scheme, password.expose().as_bytes())?)
}

/// Deliver the message read from `message` into `mailbox` (INBOX when None) of `user`;
/// returns only once it is safely on disk.
pub fn deliver(
    config: &Config,
    user: &str,
    mailbox: Option<&str>,
    message: &mut dyn Read,
) -> Result<u32, AdminError> {
    let users = wiring::authenticator(config).map_err(AdminError::UsersFile)?;
    if users.lookup(user).is_none() {
        return Err(AdminError::NoUser(user.to_string()));
    }
    let name = MailboxName::new(mailbox.unwrap_or("INBOX")).map_err(StorageError::from)?;
    let store = wiring::store(config);
    wiring::apply_quota(config, &store, &users);
    let mailboxes = store.user(user)?;
    if !mailboxes.exists(&name) {
        return Err(AdminError::NoMailbox(name.as_str().to_string()));
    }
    let mailbox = mailboxes.open(&name)?;
    let tmp = mailbox.write_tmp(message, config.limits.max_message_size)?;
    let uid = mailboxes.commit(
        &mailbox,
        vec![roost_storage::NewMessage::delivered(tmp)],
        true,
    )?[0];
    store.flush_all(true);
    Ok(uid)
}
