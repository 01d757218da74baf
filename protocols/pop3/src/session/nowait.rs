//! The commands a logged-in session can answer without waiting for a lock or the disk, so
//! the driver can run them on its own thread instead of a blocking-pool round trip (two
//! thread switches per command, most of the cost of a small RETR).

use super::{Output, Pop3Session, State};
use crate::command::{Command, parse_command};
use crate::dotstuff::DotStuffer;
use crate::framer::Frame;
use crate::response::Response;

impl Pop3Session {
    /// Answers `frame` now when that needs nothing but memory and, for RETR and TOP of a
    /// message of at most `max_message` octets, one `open` under a free mailbox lock. The
    /// frame comes back when the command needs [`Pop3Session::handle`] on a thread that may
    /// block (other states and commands, a busy mailbox, a message renamed or expunged by
    /// another session, a bigger message). The answer is byte for byte `handle`'s.
    pub fn try_handle_nowait(
        &mut self,
        frame: Frame,
        max_message: u64,
    ) -> Result<Vec<Output>, Frame> {
        let State::Transaction(drop) = &mut self.state else {
            return Err(frame);
        };
        let Frame::Line(line) = &frame else {
            return Err(frame);
        };
        let Ok(cmd) = parse_command(line) else {
            return Err(frame);
        };
        let (n, stuffer, header, retr) = match cmd {
            // Memory only (errors such as "no such message" included).
            Command::Stat
            | Command::List(Some(_))
            | Command::Uidl(Some(_))
            | Command::Noop
            | Command::Rset => return Ok(self.handle(frame)),
            Command::Retr(n) => {
                let Some(m) = drop.messages.get(n.index()).filter(|m| !m.deleted) else {
                    return Ok(self.handle(frame));
                };
                let header = Response::ok(format!("{} octets", m.size)).to_bytes();
                (n, DotStuffer::retr(), header, true)
            }
            Command::Top { msg, lines } => {
                if drop.messages.get(msg.index()).is_none_or(|m| m.deleted) {
                    return Ok(self.handle(frame));
                }
                (
                    msg,
                    DotStuffer::top(lines),
                    Response::ok("").to_bytes(),
                    false,
                )
            }
            _ => return Err(frame),
        };
        let m = &mut drop.messages[n.index()];
        if m.size > max_message {
            return Err(frame);
        }
        let Some((file, _)) = drop.mailbox.open_message_nowait(m.uid) else {
            return Err(frame);
        };
        // As `handle` does: RETR (never TOP) sets \Seen at QUIT.
        m.retrieved |= retr;
        Ok(vec![Output::Stream {
            file,
            stuffer,
            header,
        }])
    }
}
