//! APPEND: the message literal is streamed chunk by chunk into the target's `tmp/`
//! (bounded memory whatever its size), then committed. A missing mailbox or a message over
//! the limit is refused before the `+`, so the client never sends it.

use std::num::NonZeroU32;

use roost_storage::{NewMessage, StorageError};

use super::messages::split_flags;
use super::{Append, CmdError, CmdResult, Done, ImapSession, Mode};
use crate::command::MessageLiteral;
use crate::response::{Code, Response, Text};
use crate::types::{DateTime, Flag, Mailbox, SeqNum, SeqRange, SeqSet, Tag};

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
        let name = self.mailbox_name(&mailbox)?;
        let limit = self.ctx.settings.max_append_size;
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
        if u64::from(message.len) > limit {
            return Err(CmdError::No(
                Some(Code::TooBig),
                format!("Message is larger than the limit of {limit} bytes"),
            ));
        }
        let writer = mb.create_tmp(limit)?;
        Ok(Append {
            tag: tag.clone(),
            name,
            mailbox: mb,
            writer: Some(writer),
            flags,
            date: date.as_ref().map(crate::view::unix_time),
            failed: None,
        })
    }

    pub(super) fn append_done(&mut self) {
        let Mode::Append(mut a) = std::mem::replace(&mut self.mode, Mode::Commands) else {
            return;
        };
        let tag = a.tag.clone();
        let result = self.commit_append(&mut a);
        self.finish(tag, "APPEND", result);
    }

    fn commit_append(&mut self, a: &mut Append) -> CmdResult {
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
        let uids = self.user()?.store.commit(
            &a.mailbox,
            vec![NewMessage {
                tmp,
                flags,
                keywords,
            }],
            false,
        )?;
        let validity = a.mailbox.status()?.uid_validity;
        tracing::debug!(mailbox = a.name.as_str(), "APPEND committed");
        self.report_updates(true)?;
        let code = match (
            NonZeroU32::new(validity),
            uids.first().copied().and_then(NonZeroU32::new),
        ) {
            (Some(uid_validity), Some(uid)) => Some(Code::AppendUid {
                uid_validity,
                uids: SeqSet::Ranges(vec![SeqRange {
                    from: SeqNum::Value(uid),
                    to: SeqNum::Value(uid),
                }]),
            }),
            _ => None,
        };
        Ok(Done::Ok(code, "APPEND completed".into()))
    }
}
