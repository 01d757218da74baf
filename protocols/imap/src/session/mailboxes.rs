//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, NAMESPACE, STATUS and ENABLE.

use roost_storage::MailboxName;

use super::{CmdError, CmdResult, ImapSession, ok};
use crate::response::{Code, Data};
use crate::types::{Atom, Mailbox, StatusItem};

impl ImapSession {
    pub(super) fn create(&mut self, mailbox: Mailbox) -> CmdResult {
        // RFC 3501 6.3.3: a trailing separator only says the client wants inferiors.
        let mailbox = match &mailbox {
            Mailbox::Other(s) if s.ends_with('.') && s.len() > 1 => {
                Mailbox::try_from(s.trim_end_matches('.'))
                    .map_err(|e| CmdError::Bad(e.to_string()))?
            }
            _ => mailbox,
        };
        let name = self.mailbox_name(&mailbox)?;
        self.check_create(&name)?;
        self.user()?.store.create(&name)?;
        ok("CREATE completed")
    }

    pub(super) fn delete(&mut self, mailbox: Mailbox) -> CmdResult {
        let name = self.mailbox_name(&mailbox)?;
        self.refuse_alias(&name)?;
        let user = self.user()?;
        if name.is_inbox() {
            return Err(CmdError::No(
                Some(Code::Cannot),
                "INBOX cannot be deleted".into(),
            ));
        }
        if !user.store.exists(&name) {
            let has_children = user
                .store
                .list()?
                .iter()
                .any(|e| e.name.parent().as_ref() == Some(&name));
            // RFC 3501 6.3.4: a \Noselect name with inferiors cannot be deleted.
            if has_children {
                return Err(CmdError::No(
                    Some(Code::HasChildren),
                    "Mailbox has children and holds no messages".into(),
                ));
            }
        }
        let selected_here = user
            .selected
            .as_ref()
            .is_some_and(|v| v.mailbox().name() == &name);
        user.store.delete(&name)?;
        if selected_here {
            user.selected = None;
        }
        ok("DELETE completed")
    }

    pub(super) fn rename(&mut self, from: Mailbox, to: Mailbox) -> CmdResult {
        let from = self.mailbox_name(&from)?;
        self.refuse_alias(&from)?;
        let to = self.mailbox_name(&to)?;
        self.check_create(&to)?;
        if to.is_inbox() {
            return Err(CmdError::No(
                Some(Code::AlreadyExists),
                "INBOX always exists".into(),
            ));
        }
        self.user()?.store.rename(&from, &to)?;
        ok("RENAME completed")
    }

    pub(super) fn subscribe(&mut self, mailbox: Mailbox, on: bool) -> CmdResult {
        let name = self.mailbox_name(&mailbox)?;
        let store = &self.user()?.store;
        if on {
            if !store.exists(&name) {
                return Err(CmdError::No(
                    Some(Code::NonExistent),
                    format!("Mailbox {} does not exist", name.as_str()),
                ));
            }
            store.subscribe(name.as_str())?;
            ok("SUBSCRIBE completed")
        } else {
            store.unsubscribe(name.as_str())?;
            ok("UNSUBSCRIBE completed")
        }
    }

    pub(super) fn namespace(&mut self) -> CmdResult {
        self.data(Data::Namespace {
            personal: vec![(String::new(), Some('.'))],
            other: Vec::new(),
            shared: Vec::new(),
        });
        ok("NAMESPACE completed")
    }

    pub(super) fn status(&mut self, mailbox: Mailbox, items: &[StatusItem]) -> CmdResult {
        let asked = self.mailbox_name(&mailbox)?;
        let name = self.resolved_name(&mailbox)?;
        if items.contains(&StatusItem::HighestModSeq) {
            self.enable_condstore();
        }
        let mut data = self.status_data(&name, items)?;
        // The answer names the mailbox as asked, alias or not.
        if let Data::Status { mailbox, .. } = &mut data {
            *mailbox = self.wire_name(asked.as_str());
        }
        self.data(data);
        ok("STATUS completed")
    }

    /// `* STATUS` for one mailbox (also used by LIST-STATUS).
    pub(crate) fn status_data(
        &mut self,
        name: &MailboxName,
        items: &[StatusItem],
    ) -> Result<Data, CmdError> {
        let mb = self.user()?.store.open(name)?;
        let st = mb.status()?;
        let mut out = Vec::new();
        let mut mailbox_id = None;
        for &item in items {
            let value = match item {
                StatusItem::MailboxId => {
                    mailbox_id = Some(roost_storage::objectid::mailbox_id(mb.dir())?);
                    continue;
                }
                StatusItem::Messages => u64::from(st.messages),
                StatusItem::Recent => u64::from(st.recent),
                StatusItem::UidNext => u64::from(st.uid_next),
                StatusItem::UidValidity => u64::from(st.uid_validity),
                StatusItem::Unseen => u64::from(st.unseen),
                StatusItem::Deleted | StatusItem::Size => {
                    let snap = mb.snapshot()?;
                    if item == StatusItem::Deleted {
                        snap.messages
                            .iter()
                            .filter(|m| m.flags.contains(roost_storage::Flags::DELETED))
                            .count() as u64
                    } else {
                        let uids: Vec<u32> = snap.messages.iter().map(|m| m.uid).collect();
                        mb.vsizes(&uids)?.into_iter().flatten().sum()
                    }
                }
                StatusItem::HighestModSeq => st.highest_modseq,
                // RFC 7889: the same limit for every mailbox, as advertised globally.
                StatusItem::AppendLimit => self.ctx.settings.max_append_size,
            };
            out.push((item, value));
        }
        Ok(Data::Status {
            mailbox: self.wire_name(name.as_str()),
            items: out,
            mailbox_id,
        })
    }

    pub(super) fn enable(&mut self, caps: Vec<Atom>) -> CmdResult {
        let mut enabled = Vec::new();
        for c in caps {
            let name = c.as_str().to_ascii_uppercase();
            match name.as_str() {
                "IMAP4REV2" if !self.rev2 => self.rev2 = true,
                "UTF8=ACCEPT" if !self.utf8_accept => self.utf8_accept = true,
                "UIDONLY" if !self.uid_only => {
                    // Expunges can only be told as UIDs now (RFC 9586 3.3).
                    self.uid_only = true;
                    if let Some(v) = self.user()?.selected.as_mut() {
                        v.report_vanished();
                    }
                }
                "CONDSTORE" if !self.condstore => self.enable_condstore(),
                "QRESYNC" if !self.qresync => {
                    // QRESYNC implies CONDSTORE (RFC 7162 3.2.3).
                    self.qresync = true;
                    self.enable_condstore();
                    if let Some(v) = self.user()?.selected.as_mut() {
                        v.report_vanished();
                    }
                }
                _ => continue,
            }
            enabled.push(c);
        }
        self.data(Data::Enabled(enabled));
        ok("ENABLE completed")
    }
}
