//! POP3 for Roost: the sans-IO codec and the session state machine.
//!
//! Bytes in, typed values out, and back: [`LineFramer`] cuts the client
//! stream into lines, [`parse_command`] and [`parse_sasl_response`] turn
//! lines into [`Command`]s, [`Response`] encodes replies and
//! [`DotStuffer`] encodes RETR/TOP bodies. [`Pop3Session`] is the protocol
//! state on top, talking to storage; nothing here touches sockets, and files
//! are only read through handles storage opened. The tokio driver lives in
//! the binary.

#![warn(missing_docs)]

mod command;
mod dotstuff;
mod framer;
pub mod maildrop;
mod response;
mod session;
mod uidl_format;

#[cfg(test)]
mod command_tests;

pub use command::{
    Command, Mechanism, MsgNum, ParseError, SaslResponse, parse_command, parse_sasl_response,
};
pub use dotstuff::{DotStuffer, Progress, WireSizeCounter, wire_size};
pub use framer::{
    DEFAULT_MAX_COMMAND_LINE, DEFAULT_MAX_SASL_LINE, Frame, FrameMode, LineFramer, LineLimits,
};
pub use response::{MAX_RESPONSE_LINE, RespCode, Response, Uidl, UidlError};
/// Passwords and SASL data: one redacting type for the whole server.
pub use roost_storage::auth::Secret;
pub use session::{
    LoginDelays, LoginGate, MaildropLock, MaildropLocks, Output, Pop3Context, Pop3Session,
    Pop3Settings,
};
pub use uidl_format::{
    COURIER_UIDL_FORMAT, CYRUS_UIDL_FORMAT, DOVECOT_UIDL_FORMAT, UidlFormat, UidlFormatError,
};
