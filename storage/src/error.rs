//! The storage error type, with the distinctions protocols map to response codes.

use crate::maildir::MaildirError;

/// Why a storage operation failed. Protocols map these to wire answers in one place:
/// `NoSuchMailbox` -> NONEXISTENT/TRYCREATE, `AlreadyExists` -> ALREADYEXISTS,
/// `TooBig` -> TOOBIG, `NoSpace`/`LockTimeout` -> temporary failures, `Io` -> SERVERBUG.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("mailbox {0} does not exist")]
    NoSuchMailbox(String),
    #[error("mailbox {0} already exists")]
    AlreadyExists(String),
    #[error("invalid mailbox name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    #[error("message is larger than the limit of {limit} bytes")]
    TooBig { limit: u64 },
    #[error("no space left on the mail storage")]
    NoSpace,
    /// The user's quota would be exceeded (IMAP OVERQUOTA, LMTP 452 4.2.2).
    #[error("quota exceeded: {0}")]
    OverQuota(String),
    #[error("mailbox is locked by another process ({0}); try again later")]
    LockTimeout(String),
    #[error("message UID {0} has been expunged")]
    Expunged(u32),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Maildir(MaildirError),
}

impl StorageError {
    /// Wrap an I/O error with what was being done, recognising a full disk.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> StorageError {
        if source.raw_os_error() == Some(libc::ENOSPC)
            || source.raw_os_error() == Some(libc::EDQUOT)
        {
            return StorageError::NoSpace;
        }
        StorageError::Io {
            context: context.into(),
            source,
        }
    }

    /// True for failures worth retrying later (an MTA should defer, POP3 says SYS/TEMP).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            StorageError::NoSpace
                | StorageError::OverQuota(_)
                | StorageError::LockTimeout(_)
                | StorageError::Io { .. }
        )
    }
}

impl From<MaildirError> for StorageError {
    fn from(e: MaildirError) -> Self {
        match e {
            MaildirError::LockTimeout { path } => {
                StorageError::LockTimeout(path.display().to_string())
            }
            MaildirError::InvalidName { name, reason } => StorageError::InvalidName {
                name,
                reason: reason.to_string(),
            },
            MaildirError::Io { path, source } => {
                StorageError::io(format!("{}", path.display()), source)
            }
            other => StorageError::Maildir(other),
        }
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
