//! APPEND: the message literal is streamed chunk by chunk into the target's `tmp/`
//! (bounded memory whatever its size), then committed. A missing mailbox or a message over
//! the limit is refused before the `+`, so the client never sends it.
//!
//! MULTIAPPEND (RFC 3502): further messages on the same command line are streamed the same
//! way and all of them are committed together under one uidlist lock at the end, so either
//! every message becomes visible or none does.

use std::num::NonZeroU32;

use roost_storage::{NewMessage, StorageError};

use super::messages::split_flags;
use super::{Append, CmdError, CmdResult, Done, ImapSession, Mode};
use crate::command::{AppendNext, MessageLiteral};
use crate::response::{Code, Response, Text};
use crate::types::{DateTime, Flag, Mailbox, Tag};

impl ImapSession {
    pub(super) fn append(
        &mut self,
        tag: &Tag,
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: MessageLiteral,
    ) -> CmdResult {
        match self.start_append(tag, mailbox, flags, date, &message) {
            Ok(append) => {
                self.reader.accept_append();
                if message.sync {
                    self.send(Response::Continue(Text::sanitized("Ready for the message")));
                }
                self.mode = Mode::Append(Box::new(append));
                Ok(Done::Pending)
            }
            Err(e) => {
                // The client must not send (or we skip) the literal.
                self.reader.reject_command();
                Err(e)
            }
        }
    }

    fn start_append(
        &mut self,
        tag: &Tag,
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: &MessageLiteral,
    ) -> Result<Append, CmdError> {
        let name = self.resolved_name(&mailbox)?;
        let mb = match self.user()?.store.open(&name) {
            Ok(mb) => mb,
            Err(StorageError::NoSuchMailbox(_)) => {
                return Err(CmdError::No(
                    Some(Code::TryCreate),
                    format!("Mailbox {} does not exist", name.as_str()),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let mut a = Append {
            tag: tag.clone(),
            name,
            mailbox: mb,
            writer: None,
            flags: Vec::new(),
            date: None,
            failed: None,
            done: Vec::new(),
            replace: None,
        };
        self.open_message(&mut a, flags, date, message)?;
        Ok(a)
    }

    /// Check the announced size and start writing the next message into `tmp/`.
    fn open_message(
        &self,
        a: &mut Append,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: &MessageLiteral,
    ) -> Result<(), CmdError> {
        let limit = self.ctx.settings.max_append_size;
        if u64::from(message.len) > limit {
            return Err(CmdError::No(
                Some(Code::TooBig),
                format!("Message is larger than the limit of {limit} bytes"),
            ));
        }
        a.writer = Some(a.mailbox.create_tmp(limit)?);
        a.flags = flags;
        a.date = date.as_ref().map(crate::view::unix_time);
        a.failed = None;
        Ok(())
    }

    /// MULTIAPPEND: the message just received is kept aside and the next one is started,
    /// or the whole command fails and nothing is stored.
    pub(super) fn append_next(&mut self, next: AppendNext) {
        let Mode::Append(mut a) = std::mem::replace(&mut self.mode, Mode::Commands) else {
            self.reader.reject_command();
            return;
        };
        if a.replace.is_some() {
            self.reader.reject_command();
            let tag = a.tag.clone();
            drop(a);
            let e = CmdError::Bad("REPLACE takes exactly one message".into());
            self.finish(tag, "REPLACE", Err(e));
            return;
        }
        let result = Self::finish_message(&mut a).and_then(|m| {
            a.done.push(m);
            self.open_message(&mut a, next.flags, next.date, &next.message)
        });
        match result {
            Ok(()) => {
                self.reader.accept_append();
                if next.message.sync {
                    self.send(Response::Continue(Text::sanitized("Ready for the message")));
                }
                self.mode = Mode::Append(a);
            }
            Err(e) => {
                self.reader.reject_command();
                let tag = a.tag.clone();
                // Dropping `a` removes every uploaded message from tmp/.
                drop(a);
                self.finish(tag, "APPEND", Err(e));
            }
        }
    }

    pub(super) fn append_done(&mut self) {
        let Mode::Append(mut a) = std::mem::replace(&mut self.mode, Mode::Commands) else {
            return;
        };
        let tag = a.tag.clone();
        let result = self.commit_append(&mut a);
        let name = if a.replace.is_some() {
            "REPLACE"
        } else {
            "APPEND"
        };
        // The message lands only now, after the command itself was dispatched.
        self.notify_after_command(name);
        self.finish(tag, name, result);
    }

    /// REPLACE (RFC 8508): an APPEND whose success expunges a message of the selected
    /// mailbox. The message must exist and the mailbox be writable before the literal is
    /// accepted; if the APPEND fails the old message stays.
    pub(super) fn replace(
        &mut self,
        tag: &Tag,
        (uid, target): (bool, NonZeroU32),
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: MessageLiteral,
    ) -> CmdResult {
        let source = match self.replace_source(uid, target) {
            Ok(s) => s,
            Err(e) => {
                self.reader.reject_command();
                return Err(e);
            }
        };
        let result = self.append(tag, mailbox, flags, date, message);
        if let Mode::Append(a) = &mut self.mode {
            a.replace = Some(source);
        }
        result
    }

    /// The UID of the message REPLACE is to expunge.
    fn replace_source(&mut self, uid: bool, target: NonZeroU32) -> Result<u32, CmdError> {
        let view = self
            .user()?
            .selected
            .as_ref()
            .ok_or_else(|| CmdError::Bad("No mailbox selected".into()))?;
        if view.read_only() {
            return Err(CmdError::No(
                Some(Code::Cannot),
                "Mailbox is read-only (EXAMINE)".into(),
            ));
        }
        let n = target.get();
        let found = if uid {
            view.messages().iter().find(|m| m.uid == n).map(|m| m.uid)
        } else {
            let m = view.messages().get(n as usize - 1);
            if m.is_none() {
                return Err(CmdError::Bad("Sequence number out of range".into()));
            }
            m.map(|m| m.uid)
        };
        match found {
            Some(u) if !view.is_expunged(u) => Ok(u),
            _ => Err(CmdError::No(
                Some(Code::ExpungeIssued),
                "The message to replace no longer exists".into(),
            )),
        }
    }

    /// The message just streamed, ready to commit.
    fn finish_message(a: &mut Append) -> Result<NewMessage, CmdError> {
        let writer = a
            .writer
            .take()
            .ok_or_else(|| CmdError::Bad("APPEND without a message".into()))?;
        if let Some(e) = a.failed.take() {
            if e.kind() == std::io::ErrorKind::FileTooLarge {
                return Err(CmdError::No(
                    Some(Code::TooBig),
                    "Message is too large".into(),
                ));
            }
            return Err(StorageError::io("writing message", e).into());
        }
        let tmp = writer.finish(a.date)?;
        let (flags, keywords) = split_flags(&a.flags);
        Ok(NewMessage {
            tmp,
            flags,
            keywords,
        })
    }

    fn commit_append(&mut self, a: &mut Append) -> CmdResult {
        let last = Self::finish_message(a)?;
        let mut msgs = std::mem::take(&mut a.done);
        msgs.push(last);
        let uids = self.user()?.store.commit(&a.mailbox, msgs, false)?;
        self.notify_own_new(&a.mailbox, &uids);
        let validity = a.mailbox.status()?.uid_validity;
        tracing::debug!(
            mailbox = a.name.as_str(),
            messages = uids.len(),
            "APPEND committed"
        );
        let code = match (NonZeroU32::new(validity), super::messages::to_set(&uids)) {
            (Some(uid_validity), Some(uids)) => Some(Code::AppendUid { uid_validity, uids }),
            _ => None,
        };
        let Some(source) = a.replace else {
            self.report_updates(true)?;
            return Ok(Done::Ok(code, "APPEND completed".into()));
        };
        // RFC 8508 3.4: APPENDUID in an untagged OK, then the EXPUNGE of the old message.
        self.untagged_ok(code, "Replacement Message ID");
        let view = self
            .user()?
            .selected
            .as_ref()
            .ok_or_else(|| CmdError::Bad("No mailbox selected".into()))?;
        let source_mailbox = std::sync::Arc::clone(view.mailbox());
        source_mailbox.expunge(&[source])?;
        self.report_updates(true)?;
        Ok(Done::Ok(None, "REPLACE completed".into()))
    }
}
