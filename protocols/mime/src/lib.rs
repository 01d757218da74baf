//! MIME analysis for IMAP FETCH and SEARCH: ENVELOPE, BODY/BODYSTRUCTURE, body sections,
//! BINARY decoding and search text, all as pure functions over message bytes.
//!
//! Messages are stored with LF line ends; everything IMAP sees is CRLF. The conversion is
//! defined once, in [`crlf`]: a bare LF becomes CRLF, an existing CRLF stays. Sizes and
//! line counts are those of the converted text, as IMAP and Dovecot count them.
//!
//! Output is meant to match Dovecot 2.3 byte for byte; `tests/corpus` holds messages with
//! the answers Dovecot gave for them.

mod address;
mod cache;
mod envelope;
mod header;
mod imap_string;
mod preview;
mod search;
mod section;
mod structure;

pub use address::{Address, parse_list};
pub use cache::DecodeError;
pub use envelope::{Envelope, envelope};
pub use imap_string::ImapString;
pub use preview::{PREVIEW_MAX_CHARS, preview};
pub use search::{body_text, contains_ci, header_values};
pub use section::{Binary, SectionSpec, SectionText, binary, section};
pub use structure::{BodyPart, MAX_NESTING, PartKind, body_structure};

/// Errors a caller maps to an IMAP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// The part's Content-Transfer-Encoding is not one we can decode; IMAP answers
    /// `NO [UNKNOWN-CTE]` (RFC 3516).
    #[error("unknown Content-Transfer-Encoding {0:?}")]
    UnknownCte(String),
}

/// Converts stored text to IMAP's line ends: each bare LF becomes CRLF.
pub fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Size of `data` after [`crlf`], without converting it.
pub fn crlf_len(data: &[u8]) -> u64 {
    let mut n = data.len() as u64;
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            n += 1;
        }
        prev = b;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_conversion_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"a\nb", b"a\r\nb"),
            (b"a\r\nb\n", b"a\r\nb\r\n"),
            (b"\n\n", b"\r\n\r\n"),
            (b"cr\ronly", b"cr\ronly"),
        ];
        for (input, want) in cases {
            assert_eq!(crlf(input), *want, "{input:?}");
            assert_eq!(crlf_len(input), want.len() as u64, "{input:?}");
        }
    }
}
