//! COMPRESS=DEFLATE (RFC 4978) and the per-connection input memory ceiling.
//!
//! The session only answers; the driver does the compressing after [`Output::StartCompress`],
//! as it does the TLS handshake after STARTTLS.

use super::{CmdError, CmdResult, Done, ImapSession, Output};
use crate::response::{Code, Response, StatusKind, Text};
use crate::types::{Atom, Tag};

/// Default of [`super::ImapSettings::max_connection_memory`]: far above what the framing
/// limits let one command hold (1 MiB), so it only ever stops input that slipped past them.
pub const DEFAULT_MAX_CONNECTION_MEMORY: usize = 64 * 1024 * 1024;

impl ImapSession {
    /// `compress = "COMPRESS" SP algorithm`: `OK`, then both directions are raw DEFLATE.
    pub(super) fn compress(&mut self, tag: &Tag, mechanism: &Atom) -> CmdResult {
        if !mechanism.as_str().eq_ignore_ascii_case("DEFLATE") {
            return Err(CmdError::Bad(format!(
                "Unsupported compression mechanism {}",
                mechanism.as_str()
            )));
        }
        if self.compressed {
            return Err(CmdError::No(
                Some(Code::CompressionActive),
                "Compression is already active".into(),
            ));
        }
        self.send(Response::Tagged {
            tag: tag.clone(),
            kind: StatusKind::Ok,
            code: None,
            text: Text::sanitized("DEFLATE active"),
        });
        self.compressed = true;
        tracing::debug!(peer = self.ctx.peer, "COMPRESS DEFLATE active");
        // `feed` fills in the bytes pipelined after this command.
        self.out.push(Output::StartCompress {
            pipelined: Vec::new(),
        });
        Ok(Done::Pending)
    }

    /// Whether COMPRESS=DEFLATE is active.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Closes the connection when the input it holds passed the ceiling. The framing limits
    /// bound a single line and command; this bounds everything buffered at once.
    pub(super) fn check_memory(&mut self) {
        let held = self.reader.memory();
        let max = self.ctx.settings.max_connection_memory;
        if held <= max || self.logged_out {
            return;
        }
        tracing::warn!(
            peer = self.ctx.peer,
            held,
            max,
            "connection memory ceiling exceeded; closing"
        );
        self.send(Response::Untagged {
            kind: StatusKind::Bad,
            code: Some(Code::Limit),
            text: Text::sanitized(&format!(
                "Connection buffers more than {max} bytes of input (limits.max_connection_memory)"
            )),
        });
        let bye = self.bye("Too much input buffered; closing");
        self.write(bye);
        self.out.push(Output::Close);
        self.logged_out = true;
    }
}
