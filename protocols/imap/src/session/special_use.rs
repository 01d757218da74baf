//! CREATE-SPECIAL-USE (RFC 6154 section 3) and special-use aliases: other names under
//! which clients look for a special-use mailbox (Outlook's "Sent Items").
//!
//! An alias is resolved only where a client names an existing mailbox to use it (SELECT,
//! EXAMINE, STATUS, APPEND, COPY, MOVE, METADATA); a real mailbox of that name always wins.
//! LIST shows an alias only when asked for it by its exact name, so clients that read
//! SPECIAL-USE never see two Sent folders; CREATE of an alias answers ALREADYEXISTS (the
//! client's folder is there), DELETE and RENAME of it CANNOT (they would hit the real one).

use roost_storage::MailboxName;

use super::{CmdError, CmdResult, ImapSession, ok};
use crate::response::{Code, MailboxAttr};
use crate::types::Mailbox;

/// The special-use attributes a mailbox can be created with: the virtual `\All` and
/// `\Flagged` views need a server-side search folder, which Roost does not have.
const CREATABLE: [&str; 5] = ["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];

/// Whether a mailbox can be given this special-use attribute.
pub(crate) fn creatable(attr: &str) -> bool {
    CREATABLE.iter().any(|c| c.eq_ignore_ascii_case(attr))
}

impl ImapSession {
    /// A wire name as the storage name to use: an alias becomes its real mailbox.
    pub(crate) fn resolved_name(&mut self, m: &Mailbox) -> Result<MailboxName, CmdError> {
        let name = self.mailbox_name(m)?;
        Ok(self.user()?.store.resolve_alias(&name).unwrap_or(name))
    }

    /// Refuses DELETE and RENAME of a name that only exists as an alias.
    pub(crate) fn refuse_alias(&mut self, name: &MailboxName) -> Result<(), CmdError> {
        if let Some(real) = self.user()?.store.resolve_alias(name) {
            return Err(CmdError::No(
                Some(Code::Cannot),
                format!(
                    "{} is another name of {}; use that name",
                    name.as_str(),
                    real.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// `CREATE name (USE (...))`.
    pub(super) fn create_special_use(&mut self, mailbox: Mailbox, uses: Vec<String>) -> CmdResult {
        let mut attrs: Vec<String> = Vec::new();
        for u in &uses {
            let Some(known) = CREATABLE.iter().find(|c| c.eq_ignore_ascii_case(u)) else {
                return Err(CmdError::No(
                    Some(Code::Other("USEATTR".into())),
                    format!("Special-use attribute {u} is not supported"),
                ));
            };
            if !attrs.iter().any(|a| a == known) {
                attrs.push(known.to_string());
            }
        }
        let name = self.mailbox_name(&mailbox)?;
        self.check_create(&name)?;
        self.user()?.store.create_special_use(&name, &attrs)?;
        ok("CREATE completed")
    }

    /// What CREATE refuses before touching the disk: INBOX and alias names.
    pub(super) fn check_create(&mut self, name: &MailboxName) -> Result<(), CmdError> {
        if name.is_inbox() {
            return Err(CmdError::No(
                Some(Code::AlreadyExists),
                "INBOX always exists".into(),
            ));
        }
        if let Some(real) = self.user()?.store.resolve_alias(name) {
            return Err(CmdError::No(
                Some(Code::AlreadyExists),
                format!(
                    "{} exists as another name of {}",
                    name.as_str(),
                    real.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// LIST entries for patterns that name an alias exactly: the alias with its real
    /// mailbox's children attribute, without the special-use attribute.
    pub(super) fn alias_entries(&mut self, patterns: &[String]) -> Vec<(String, Vec<MailboxAttr>)> {
        let mut out = Vec::new();
        for p in patterns {
            if p.contains(['*', '%']) {
                continue;
            }
            let Ok(name) = MailboxName::new(p) else {
                continue;
            };
            let Ok(user) = self.user() else {
                return out;
            };
            if user.store.resolve_alias(&name).is_some()
                && !out.iter().any(|(n, _)| n == name.as_str())
            {
                out.push((name.as_str().to_string(), vec![MailboxAttr::HasNoChildren]));
            }
        }
        out
    }
}
