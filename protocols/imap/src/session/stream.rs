//! Whole-message FETCH bodies streamed from the message file instead of held in memory.
//!
//! A `BODY[]`, `BODY.PEEK[]` or `RFC822` of a large message is announced as a literal of its
//! CRLF size (RFC822.SIZE, kept in the index) and then copied from the file by the driver
//! through [`BodyStream`], which makes the same bytes the in-memory path makes: bare LF
//! becomes CRLF and NUL becomes 0x80 (a literal may not carry NUL, RFC 3501 4.3).

use std::fs::File;

use crate::types::{FetchAttribute, Section};

/// The first whole-message body item in `attrs` that can be streamed (no partial range).
pub(crate) fn streamable(attrs: &[FetchAttribute]) -> Option<usize> {
    attrs.iter().position(|a| match a {
        FetchAttribute::BodySection {
            section: Section { part, text: None },
            partial: None,
            ..
        } => part.is_empty(),
        FetchAttribute::Rfc822 => true,
        _ => false,
    })
}

/// The item name as the response spells it (`.PEEK` is never echoed).
pub(crate) fn item_name(attr: &FetchAttribute) -> &'static str {
    match attr {
        FetchAttribute::Rfc822 => "RFC822",
        _ => "BODY[]",
    }
}

/// A message file to copy into an announced literal of exactly `len` bytes.
#[derive(Debug)]
pub struct BodyFile {
    /// The open message file (immutable in a Maildir).
    pub file: File,
    /// The literal length already sent: exactly this many bytes must follow.
    pub len: u64,
}

/// LF -> CRLF and NUL -> 0x80 over a stream of chunks, cut or padded to an exact length.
#[derive(Debug)]
pub struct BodyStream {
    left: u64,
    prev: u8,
}

impl BodyStream {
    /// A converter that will produce exactly `len` bytes in total.
    pub fn new(len: u64) -> BodyStream {
        BodyStream { left: len, prev: 0 }
    }

    /// Bytes still owed to the literal.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Converts one chunk of the file into `out`, never past the announced length.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.left == 0 {
                return;
            }
            if b == b'\n' && self.prev != b'\r' {
                out.push(b'\r');
                self.left -= 1;
                if self.left == 0 {
                    return;
                }
            }
            out.push(if b == 0 { 0x80 } else { b });
            self.left -= 1;
            self.prev = b;
        }
    }

    /// At the end of the file: pads a file that shrank since its size was recorded, so the
    /// literal keeps its announced length and the connection its framing. Returns whether
    /// padding was needed.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> bool {
        let short = self.left > 0;
        out.extend(std::iter::repeat_n(b' ', self.left as usize));
        self.left = 0;
        short
    }
}

#[cfg(test)]
mod tests {
    use super::BodyStream;

    #[test]
    fn same_bytes_as_the_in_memory_path_in_every_chunk_size() {
        let inputs: [&[u8]; 5] = [
            b"Subject: a\n\nline\n",
            b"Subject: b\r\n\r\nmixed\nends\r\n",
            b"nul \0 byte\n\n",
            b"\n\n\r\n\r\r\n",
            b"",
        ];
        for input in inputs {
            let want: Vec<u8> = roost_mime::crlf(input)
                .into_iter()
                .map(|b| if b == 0 { 0x80 } else { b })
                .collect();
            for chunk in 1..=input.len().max(1) {
                let mut s = BodyStream::new(want.len() as u64);
                let mut out = Vec::new();
                for piece in input.chunks(chunk) {
                    s.feed(piece, &mut out);
                }
                assert!(!s.finish(&mut out));
                assert_eq!(out, want, "{input:?} in chunks of {chunk}");
            }
        }
    }

    #[test]
    fn a_changed_file_is_cut_or_padded_to_the_announced_length() {
        let mut s = BodyStream::new(4);
        let mut out = Vec::new();
        s.feed(b"ab\ncd", &mut out);
        assert_eq!(out, b"ab\r\n");
        assert!(!s.finish(&mut out));
        let mut s = BodyStream::new(6);
        let mut out = Vec::new();
        s.feed(b"ab", &mut out);
        assert_eq!(s.left(), 4);
        assert!(s.finish(&mut out));
        assert_eq!(out, b"ab    ");
    }
}
