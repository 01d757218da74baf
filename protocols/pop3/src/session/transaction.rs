//! TRANSACTION state: STAT, LIST, UIDL, RETR, TOP, DELE, RSET. Nothing here changes
//! the mailbox; DELE only marks, and RETR bodies are streamed by the driver.

use super::{Maildrop, Msg, Output, Pop3Session, State, err, storage_failure, write};
use crate::command::{Command, MsgNum};
use crate::dotstuff::DotStuffer;
use crate::response::{Response, Uidl};

impl Pop3Session {
    pub(super) fn transaction(&mut self, cmd: Command) -> Vec<Output> {
        let State::Transaction(drop) = &mut self.state else {
            return vec![Output::Close];
        };
        match cmd {
            Command::Stat => {
                let live = drop.messages.iter().filter(|m| !m.deleted);
                let (n, size) = live.fold((0u32, 0u64), |(n, s), m| (n + 1, s + m.size));
                vec![write(Response::stat(n, size))]
            }
            Command::List(None) => {
                let entries: Vec<(MsgNum, u64)> =
                    numbered(&drop.messages).map(|(n, m)| (n, m.size)).collect();
                vec![write(Response::scan_listings(&entries))]
            }
            Command::List(Some(n)) => match lookup(&drop.messages, n) {
                Ok(m) => vec![write(Response::scan_listing(n, m.size))],
                Err(out) => out,
            },
            Command::Uidl(None) => {
                let entries: Vec<(MsgNum, Uidl)> = numbered(&drop.messages)
                    .map(|(n, m)| (n, m.uidl.clone()))
                    .collect();
                vec![write(Response::unique_id_listings(&entries))]
            }
            Command::Uidl(Some(n)) => match lookup(&drop.messages, n) {
                Ok(m) => vec![write(Response::unique_id_listing(n, &m.uidl))],
                Err(out) => out,
            },
            Command::Retr(n) => {
                let size = match lookup(&drop.messages, n) {
                    Ok(m) => m.size,
                    Err(out) => return out,
                };
                let header = Response::ok(format!("{size} octets")).to_bytes();
                let out = stream(drop, n, DotStuffer::retr(), header);
                if matches!(out.first(), Some(Output::Stream { .. })) {
                    drop.messages[n.index()].retrieved = true;
                }
                out
            }
            Command::Top { msg, lines } => {
                if let Err(out) = lookup(&drop.messages, msg) {
                    return out;
                }
                let header = Response::ok("").to_bytes();
                stream(drop, msg, DotStuffer::top(lines), header)
            }
            Command::Dele(n) => {
                let uid = match lookup(&drop.messages, n) {
                    Ok(m) => m.uid,
                    Err(out) => return out,
                };
                match drop.mailbox.open_message(uid) {
                    Ok(Some(_)) => {
                        drop.messages[n.index()].deleted = true;
                        vec![write(Response::ok(format!("Message {n} deleted.")))]
                    }
                    Ok(None) => expunged(n),
                    Err(e) => storage_failure("Cannot read the mailbox", &e),
                }
            }
            Command::Rset => {
                for m in &mut drop.messages {
                    m.deleted = false;
                }
                let n = drop.messages.len();
                vec![write(Response::ok(format!("{n} messages.")))]
            }
            Command::Utf8 => err("UTF8 is only allowed before login."),
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop { .. }
            | Command::Auth { .. }
            | Command::AuthList => err("Already logged in."),
            Command::Stls => err("STLS is only allowed before login."),
            Command::Capa | Command::Quit | Command::Noop => {
                vec![write(Response::err("Unexpected command."))]
            }
        }
    }
}

fn numbered(messages: &[Msg]) -> impl Iterator<Item = (MsgNum, &Msg)> {
    messages.iter().enumerate().filter_map(|(i, m)| {
        let n = u32::try_from(i + 1)
            .ok()
            .and_then(|n| MsgNum::try_from(n).ok())?;
        (!m.deleted).then_some((n, m))
    })
}

fn lookup(messages: &[Msg], n: MsgNum) -> Result<&Msg, Vec<Output>> {
    match messages.get(n.index()) {
        None => Err(err("No such message.")),
        Some(m) if m.deleted => Err(err("Message is deleted.")),
        Some(m) => Ok(m),
    }
}

fn expunged(n: MsgNum) -> Vec<Output> {
    err(&format!("Message {n} was deleted by another session."))
}

fn stream(drop: &Maildrop, n: MsgNum, stuffer: DotStuffer, header: Vec<u8>) -> Vec<Output> {
    let uid = drop.messages[n.index()].uid;
    match drop.mailbox.open_message(uid) {
        Ok(Some((file, _))) => vec![Output::Stream {
            file,
            stuffer,
            header,
        }],
        Ok(None) => expunged(n),
        Err(e) => storage_failure("Cannot read the message", &e),
    }
}
