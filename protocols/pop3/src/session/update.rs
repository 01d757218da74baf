//! UPDATE state (RFC 1939 section 6): the only place a POP3 session changes the mailbox.

use roost_storage::{FlagOp, Flags};

use super::{Output, Pop3Session, State, write};
use crate::response::{RespCode, Response};

impl Pop3Session {
    /// The UPDATE state (RFC 1939 section 6): commit \Seen, then remove what DELE marked.
    pub(super) fn update(&mut self) -> Vec<Output> {
        let State::Transaction(drop) = std::mem::replace(&mut self.state, State::Closed) else {
            return vec![Output::Close];
        };
        let settings = &self.ctx.settings;
        let deleted: Vec<u32> = drop
            .messages
            .iter()
            .filter(|m| m.deleted)
            .map(|m| m.uid)
            .collect();
        let seen: Vec<u32> = drop
            .messages
            .iter()
            .filter(|m| m.retrieved && !m.deleted)
            .map(|m| m.uid)
            .collect();
        let mut result = Ok(());
        if settings.retr_sets_seen && !seen.is_empty() {
            result = drop
                .mailbox
                .store(&seen, FlagOp::Add, Flags::SEEN, &[], None)
                .map(|_| ());
        }
        if result.is_ok() && !deleted.is_empty() {
            result = match &settings.deleted_keyword {
                Some(kw) => drop
                    .mailbox
                    .store(
                        &deleted,
                        FlagOp::Add,
                        Flags::EMPTY,
                        std::slice::from_ref(kw),
                        None,
                    )
                    .map(|_| ()),
                None => drop.mailbox.expunge(&deleted).map(|_| ()),
            };
        }
        match result {
            Ok(()) => {
                tracing::info!(user = drop.user, deleted = deleted.len(), "logout");
                let left = drop.messages.len() - deleted.len();
                vec![
                    write(Response::ok(format!(
                        "Logging out, {} deleted, {left} left.",
                        deleted.len()
                    ))),
                    Output::Close,
                ]
            }
            Err(e) => {
                tracing::error!(user = drop.user, error = %e, "POP3 update failed");
                vec![
                    write(Response::err_code(
                        RespCode::SysTemp,
                        "Some deleted messages were not removed.",
                    )),
                    Output::Close,
                ]
            }
        }
    }
}
