//! roost-imap: the IMAP codec (framing, types, command parser, response serializer).
//!
//! Pure sans-IO: bytes in, typed commands out; typed responses in, bytes out. The session
//! state machine and the tokio driver sit on top of this API.

pub mod command;
pub mod framing;
pub mod response;
pub mod types;

pub mod reader;
#[cfg(test)]
pub(crate) mod testing;
