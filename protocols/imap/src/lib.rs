//! roost-imap: the IMAP codec (framing, types, command parser, response serializer).
//!
//! Pure sans-IO: bytes in, typed commands out; typed responses in, bytes out. The session
//! state machine and the tokio driver sit on top of this API.
//!
//! Reading: push received bytes into a [`reader::CommandReader`] and take
//! [`reader::Input`]s until it returns `None`. It answers the questions only the session can
//! decide as events: an APPEND arrives as a command before its message literal is consumed
//! (accept and stream [`reader::Input::AppendData`], or reject with `NO [TRYCREATE]` and no
//! `+`), a synchronizing literal inside a valid command asks for `+ Ready`, errors arrive as
//! `BAD` material. MULTIAPPEND messages and CATENATE TEXT parts are streamed the same way,
//! announced by [`reader::Input::AppendNext`] and [`reader::Input::AppendTail`]. [`framing::Framer`] and [`command::parse_command`] can be used on their own.
//!
//! Serving: [`session::ImapSession`] is the state machine on top (bytes in, outputs out),
//! with [`view::View`] tracking what the client knows of the selected mailbox.
//!
//! Writing: build a [`response::Response`] and serialize it with [`response::Encoder`]; large
//! FETCH bodies go through [`response::FetchWriter`] so they are streamed, not buffered.

pub mod command;
pub mod fetch;
pub mod framing;
pub mod partial;
pub mod reader;
pub mod response;
pub mod search;
pub mod session;
pub mod sort;
pub mod thread;
pub mod types;
pub mod view;

#[cfg(test)]
pub(crate) mod testing;
