//! QUOTA (RFC 9208): one quota root per user covering all of their mailboxes, with the
//! STORAGE (KiB) and MESSAGE resources. Limits come from the configuration and the users
//! file; they are enforced in storage, so SETQUOTA is refused.

use roost_storage::StorageError;

use super::{CmdError, CmdResult, ImapSession, ok};
use crate::response::{Code, Data};
use crate::types::Mailbox;

/// The one quota root's name. Not empty: Apple Mail shows no quota for an empty root name.
pub(crate) const QUOTA_ROOT: &str = "User quota";

impl ImapSession {
    /// `* QUOTA` for the user's root: only the resources with a limit (RFC 9208 5.1).
    fn quota_data(&mut self) -> Result<Data, CmdError> {
        let store = &self.user()?.store;
        let limits = store.quota();
        let usage = if limits.is_limited() {
            store.quota_usage()?
        } else {
            Default::default()
        };
        let mut resources = Vec::new();
        if limits.storage_kib != 0 {
            resources.push(("STORAGE", usage.storage_kib(), limits.storage_kib));
        }
        if limits.messages != 0 {
            resources.push(("MESSAGE", usage.messages, limits.messages));
        }
        Ok(Data::Quota {
            root: QUOTA_ROOT.to_string(),
            resources,
        })
    }

    pub(super) fn getquota(&mut self, root: &str) -> CmdResult {
        if root != QUOTA_ROOT {
            return Err(CmdError::No(
                Some(Code::NonExistent),
                format!("No such quota root; the only one is \"{QUOTA_ROOT}\""),
            ));
        }
        let d = self.quota_data()?;
        self.data(d);
        ok("GETQUOTA completed")
    }

    pub(super) fn getquotaroot(&mut self, mailbox: Mailbox) -> CmdResult {
        let name = self.resolved_name(&mailbox)?;
        if !self.user()?.store.exists(&name) {
            return Err(StorageError::NoSuchMailbox(name.as_str().to_string()).into());
        }
        let wire = self.wire_name(name.as_str());
        self.data(Data::QuotaRoot {
            mailbox: wire,
            roots: vec![QUOTA_ROOT.to_string()],
        });
        let d = self.quota_data()?;
        self.data(d);
        ok("GETQUOTAROOT completed")
    }

    pub(super) fn setquota(&mut self) -> CmdResult {
        Err(CmdError::No(
            Some(Code::NoPerm),
            "Quota limits are set by the administrator".into(),
        ))
    }
}
