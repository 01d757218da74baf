//! Command failures and their wire form: the one place where storage, fetch and search
//! errors become `NO [code]`, protocol misuse becomes `BAD`, and anything unexpected is
//! logged and becomes `NO [SERVERBUG]`.

use roost_storage::StorageError;

use crate::fetch::FetchError;
use crate::response::{Code, StatusKind};
use crate::search::SearchError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// `NO [code] text`
    #[error("{1}")]
    No(Option<Code>, String),
    /// `BAD text`: the command is not valid here.
    #[error("{0}")]
    Bad(String),
    /// `BAD [code] text`.
    #[error("{1}")]
    BadCode(Code, String),
    /// Wrong credentials (`NO [AUTHENTICATIONFAILED]` after the failure delay), with the
    /// user name the client tried, if it named one.
    #[error("authentication failed")]
    AuthFailed(Option<String>),
    /// A storage failure.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Rendering a message failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Evaluating a search failed.
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl CmdError {
    /// The wire answer: kind, code and text. Unexpected failures are logged here.
    pub(crate) fn to_wire(&self, command: &str, peer: &str) -> (StatusKind, Option<Code>, String) {
        let no = |code: Option<Code>, text: String| (StatusKind::No, code, text);
        match self {
            CmdError::No(code, text) => no(code.clone(), text.clone()),
            CmdError::Bad(text) => (StatusKind::Bad, None, text.clone()),
            CmdError::BadCode(code, text) => (StatusKind::Bad, Some(code.clone()), text.clone()),
            CmdError::AuthFailed(_) => no(
                Some(Code::AuthenticationFailed),
                "Authentication failed.".into(),
            ),
            CmdError::Storage(e) => storage(e, command, peer),
            CmdError::Fetch(FetchError::Storage(e)) => storage(e, command, peer),
            CmdError::Fetch(FetchError::Expunged) => no(
                Some(Code::ExpungeIssued),
                "Some messages were expunged meanwhile.".into(),
            ),
            CmdError::Fetch(e @ FetchError::UnknownCte(_)) => {
                no(Some(Code::UnknownCte), format!("{e}"))
            }
            CmdError::Search(SearchError::BadCharset(c)) => no(
                Some(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])),
                format!("Unsupported charset {c}"),
            ),
            CmdError::Search(SearchError::Storage(e)) => storage(e, command, peer),
        }
    }
}

fn storage(e: &StorageError, command: &str, peer: &str) -> (StatusKind, Option<Code>, String) {
    let code = match e {
        StorageError::NoSuchMailbox(_) => Code::NonExistent,
        StorageError::AlreadyExists(_) => Code::AlreadyExists,
        StorageError::InvalidName { .. } => Code::Cannot,
        StorageError::TooBig { .. } => Code::TooBig,
        StorageError::NoSpace | StorageError::OverQuota(_) => Code::OverQuota,
        StorageError::LockTimeout(_) => Code::InUse,
        StorageError::Expunged(_) => Code::ExpungeIssued,
        StorageError::NotAllowed(_) => Code::Cannot,
        StorageError::Io { .. } | StorageError::Maildir(_) => {
            tracing::error!(command, peer, error = %e, "storage failure");
            return (
                StatusKind::No,
                Some(Code::ServerBug),
                "Internal error; the server log has the details.".into(),
            );
        }
    };
    (StatusKind::No, Some(code), format!("{e}"))
}
