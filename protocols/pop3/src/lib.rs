//! POP3 for Roost: the sans-IO codec layer.
//!
//! Bytes in, typed values out, and back: [`LineFramer`] cuts the client
//! stream into lines, [`parse_command`] and [`parse_sasl_response`] turn
//! lines into [`Command`]s, [`Response`] encodes replies and
//! [`DotStuffer`] encodes RETR/TOP bodies. Nothing here touches sockets or
//! files; the session and the tokio driver build on top.

#![warn(missing_docs)]

mod command;
mod dotstuff;
mod framer;
mod response;
mod secret;

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
pub use secret::Secret;
