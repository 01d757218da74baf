//! APPEND: the message literal is streamed chunk by chunk into the target's `tmp/`
//! (bounded memory whatever its size), then committed. A missing mailbox or a message over
//! the limit is refused before the `+`, so the client never sends it.
//!
//! MULTIAPPEND (RFC 3502): further messages on the same command line are streamed the same
//! way and all of them are committed together under one uidlist lock at the end, so either
//! every message becomes visible or none does.
//!
//! CATENATE (RFC 4469, `catenate.rs`): a message may instead be a list of TEXT literals,
//! streamed like a message literal, and URLs, copied as they are reached; it can be any
//! message of a MULTIAPPEND and the message of a REPLACE. The reader hands the command over
//! in pieces, each run ending at a literal to stream or at the command's end.

use std::num::NonZeroU32;

use roost_storage::{NewMessage, StorageError};

use super::messages::split_flags;
use super::{Append, CmdError, CmdResult, Done, ImapSession, Mode};
use crate::command::{AppendNext, AppendPiece, AppendTail, MessageLiteral};
use crate::response::{Code, Response, Text};
use crate::types::{DateTime, Flag, Mailbox, Tag};

/// The answer to a failed write into `tmp/`: over the size limit is `NO [TOOBIG]`.
pub(super) fn write_error(e: std::io::Error) -> CmdError {
    if e.kind() == std::io::ErrorKind::FileTooLarge {
        return CmdError::No(Some(Code::TooBig), "Message is too large".into());
    }
    StorageError::io("writing message", e).into()
}

impl ImapSession {
    pub(super) fn append(
        &mut self,
        tag: &Tag,
        mailbox: Mailbox,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: MessageLiteral,
    ) -> CmdResult {
        let first = vec![AppendPiece::Message {
            flags,
            date,
            catenate: false,
        }];
        self.begin_append(tag, mailbox, first, Some(message), None)
    }

    /// The target must exist before anything is accepted.
    pub(super) fn start_append(
        &mut self,
        tag: &Tag,
        mailbox: Mailbox,
        replace: Option<u32>,
    ) -> Result<Box<Append>, CmdError> {
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
        Ok(Box::new(Append {
            tag: tag.clone(),
            name,
            mailbox: mb,
            writer: None,
            flags: Vec::new(),
            date: None,
            failed: None,
            done: Vec::new(),
            replace,
        }))
    }

    /// Applies `pieces`, then either accepts the literal that follows them (the command
    /// stays pending) or, at the command's end, commits every message. On any failure the
    /// rest of the command is skipped and nothing is stored.
    pub(super) fn continue_append(
        &mut self,
        mut a: Box<Append>,
        pieces: Vec<AppendPiece>,
        literal: Option<MessageLiteral>,
    ) -> CmdResult {
        let applied = self
            .apply_pieces(&mut a, pieces)
            .and_then(|()| match literal {
                Some(l) => self.check_literal(&a, &l).map(|()| Some(l)),
                None => Ok(None),
            });
        match applied {
            Ok(Some(l)) => {
                self.reader.accept_append();
                if l.sync {
                    self.send(Response::Continue(Text::sanitized("Ready for the message")));
                }
                self.mode = Mode::Append(a);
                Ok(Done::Pending)
            }
            Ok(None) => self.commit_append(&mut a),
            Err(e) => {
                self.reader.reject_command();
                // Dropping `a` removes every uploaded message from tmp/.
                Err(e)
            }
        }
    }

    fn apply_pieces(&mut self, a: &mut Append, pieces: Vec<AppendPiece>) -> Result<(), CmdError> {
        if let Some(e) = a.failed.take() {
            return Err(write_error(e));
        }
        for piece in pieces {
            match piece {
                AppendPiece::Message { flags, date, .. } => {
                    if a.writer.is_some() {
                        if a.replace.is_some() {
                            return Err(CmdError::Bad("REPLACE takes exactly one message".into()));
                        }
                        let m = Self::finish_message(a)?;
                        a.done.push(m);
                    }
                    a.writer = Some(a.mailbox.create_tmp(self.ctx.settings.max_append_size)?);
                    a.flags = flags;
                    a.date = date.as_ref().map(crate::view::unix_time);
                }
                AppendPiece::Url(url) => {
                    let w = a
                        .writer
                        .as_mut()
                        .ok_or_else(|| CmdError::Bad("URL outside a CATENATE message".into()))?;
                    self.write_url(&url, w)?;
                }
                AppendPiece::CatenateEnd => {}
            }
        }
        Ok(())
    }

    /// The literal about to be streamed must fit in the message with what it already holds.
    fn check_literal(&self, a: &Append, l: &MessageLiteral) -> Result<(), CmdError> {
        let limit = self.ctx.settings.max_append_size;
        let written = a.writer.as_ref().map_or(0, |w| w.size());
        if written + u64::from(l.len) > limit {
            return Err(CmdError::No(
                Some(Code::TooBig),
                format!("Message is larger than the limit of {limit} bytes"),
            ));
        }
        Ok(())
    }

    /// The next run of a pending APPEND, or the end of it: answered here unless it stays
    /// pending.
    fn append_continue(&mut self, pieces: Vec<AppendPiece>, literal: Option<MessageLiteral>) {
        let Mode::Append(a) = std::mem::replace(&mut self.mode, Mode::Commands) else {
            self.reader.reject_command();
            return;
        };
        let tag = a.tag.clone();
        let name = if a.replace.is_some() {
            "REPLACE"
        } else {
            "APPEND"
        };
        let result = self.continue_append(a, pieces, literal);
        if matches!(result, Ok(Done::Pending)) {
            return;
        }
        // The message lands only now, after the command itself was dispatched.
        self.notify_after_command(name);
        self.finish(tag, name, result);
    }

    /// MULTIAPPEND: the message just received is kept aside and the next one is started,
    /// or the whole command fails and nothing is stored.
    pub(super) fn append_next(&mut self, next: AppendNext) {
        let piece = AppendPiece::Message {
            flags: next.flags,
            date: next.date,
            catenate: false,
        };
        self.append_continue(vec![piece], Some(next.message));
    }

    /// CATENATE parts, message boundaries and the next literal of a pending APPEND.
    pub(super) fn append_tail(&mut self, tail: AppendTail) {
        self.append_continue(tail.pieces, tail.literal);
    }

    pub(super) fn append_done(&mut self) {
        self.append_continue(Vec::new(), None);
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
        let first = vec![AppendPiece::Message {
            flags,
            date,
            catenate: false,
        }];
        self.begin_append(tag, mailbox, first, Some(message), Some((uid, target)))
    }

    /// The UID of the message REPLACE is to expunge.
    pub(super) fn replace_source(
        &mut self,
        uid: bool,
        target: NonZeroU32,
    ) -> Result<u32, CmdError> {
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
            return Err(write_error(e));
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
