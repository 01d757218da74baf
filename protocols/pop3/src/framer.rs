//! Splits the client byte stream into lines, with a hard memory cap.

use std::fmt;

/// Longest command line we accept, in octets including the CRLF.
/// RFC 2449 section 4: "the maximum length of a command line is 255 octets,
/// including the terminating CRLF".
pub const DEFAULT_MAX_COMMAND_LINE: usize = 255;

/// Longest SASL continuation line we accept, in octets including the CRLF.
/// RFC 5034 does not apply the 255-octet limit to the SASL exchange, and
/// GSSAPI tickets routinely exceed 4 KiB; 16 KiB leaves room for them.
pub const DEFAULT_MAX_SASL_LINE: usize = 16 * 1024;

/// The line-length limits a [`LineFramer`] enforces, one per [`FrameMode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLimits {
    /// Maximum command line length in octets, line ending included.
    pub command: usize,
    /// Maximum SASL continuation line length in octets, line ending included.
    pub sasl: usize,
}

impl Default for LineLimits {
    fn default() -> Self {
        LineLimits {
            command: DEFAULT_MAX_COMMAND_LINE,
            sasl: DEFAULT_MAX_SASL_LINE,
        }
    }
}

/// Which kind of line the session expects next; only the length limit differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrameMode {
    /// Ordinary POP3 command lines.
    #[default]
    Command,
    /// Client responses during an AUTH exchange (base64 or `*`).
    Sasl,
}

/// One unit of client input.
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its CRLF (or bare LF).
    Line(Vec<u8>),
    /// A line exceeded the limit. Reported once, as soon as the limit is
    /// crossed; the rest of that line is then silently discarded.
    TooLong,
}

// A command line may be `PASS secret`, so the bytes never reach a log.
impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Line(line) => write!(f, "Line(<{} bytes>)", line.len()),
            Frame::TooLong => f.write_str("TooLong"),
        }
    }
}

/// Incremental line splitter: feed it whatever the socket returned, take
/// complete lines out one at a time.
///
/// It buffers at most one partial line, never more than the current limit,
/// so a client cannot make it grow by withholding the line ending. Lines end
/// at LF; a CR right before the LF is dropped too, so bare-LF clients work.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    limits: LineLimits,
    mode: FrameMode,
    discarding: bool,
}

impl Default for LineFramer {
    fn default() -> Self {
        LineFramer::new(LineLimits::default())
    }
}

impl LineFramer {
    /// Creates a framer in [`FrameMode::Command`] with the given limits.
    /// Limits below 2 are raised to 2 so that an empty CRLF line always fits.
    pub fn new(limits: LineLimits) -> Self {
        let limits = LineLimits {
            command: limits.command.max(2),
            sasl: limits.sasl.max(2),
        };
        LineFramer {
            buf: Vec::new(),
            limits,
            mode: FrameMode::Command,
            discarding: false,
        }
    }

    /// The mode that applies to the next line.
    pub fn mode(&self) -> FrameMode {
        self.mode
    }

    /// Switches the mode; meant to be called between lines (after AUTH is
    /// accepted, and back when the exchange ends).
    pub fn set_mode(&mut self, mode: FrameMode) {
        self.mode = mode;
    }

    /// Bytes currently held for an unfinished line.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn limit(&self) -> usize {
        match self.mode {
            FrameMode::Command => self.limits.command,
            FrameMode::Sasl => self.limits.sasl,
        }
    }

    /// Consumes a prefix of `input` and returns how many bytes it used plus
    /// at most one frame. Call again with the unused rest (which may be empty
    /// of frames) until it reports all bytes consumed; stopping after each
    /// frame lets the caller switch modes exactly at line boundaries.
    pub fn decode(&mut self, input: &[u8]) -> (usize, Option<Frame>) {
        let mut used = 0;
        while used < input.len() {
            let rest = &input[used..];
            let newline = rest.iter().position(|&b| b == b'\n');
            if self.discarding {
                match newline {
                    Some(i) => {
                        self.discarding = false;
                        used += i + 1;
                        continue;
                    }
                    None => return (input.len(), None),
                }
            }
            let limit = self.limit();
            return match newline {
                Some(i) => {
                    used += i + 1;
                    if self.buf.len() + i + 1 > limit {
                        self.buf.clear();
                        (used, Some(Frame::TooLong))
                    } else {
                        let mut line = std::mem::take(&mut self.buf);
                        line.extend_from_slice(&rest[..i]);
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        (used, Some(Frame::Line(line)))
                    }
                }
                // Without an LF yet, the line will be at least one octet
                // longer than what we have, so `>=` already proves overflow.
                None if self.buf.len() + rest.len() >= limit => {
                    self.buf.clear();
                    self.discarding = true;
                    (input.len(), Some(Frame::TooLong))
                }
                None => {
                    self.buf.extend_from_slice(rest);
                    (input.len(), None)
                }
            };
        }
        (used, None)
    }

    /// Convenience for callers that never switch modes mid-chunk: decodes
    /// every frame `chunk` completes, in order.
    pub fn decode_all(&mut self, chunk: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            let (used, frame) = self.decode(rest);
            rest = &rest[used..];
            frames.extend(frame);
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn known_answers() {
        let cases: &[(&[u8], Vec<Frame>)] = &[
            (b"", vec![]),
            (b"NOOP", vec![]),
            (b"NOOP\r\n", vec![line("NOOP")]),
            (b"NOOP\n", vec![line("NOOP")]),
            (b"\r\n", vec![line("")]),
            (b"\n\n", vec![line(""), line("")]),
            (b"A\r\rB\r\n", vec![line("A\r\rB")]),
            (b"A\rB\n", vec![line("A\rB")]),
            (b"\r\r\n", vec![line("\r")]),
            (
                b"USER a\r\nPASS b c\r\nSTAT\nQUIT\r\n",
                vec![line("USER a"), line("PASS b c"), line("STAT"), line("QUIT")],
            ),
        ];
        for (input, want) in cases {
            let mut f = LineFramer::default();
            assert_eq!(&f.decode_all(input), want, "input {input:?}");
        }
    }

    #[test]
    fn limit_counts_the_line_ending() {
        let limits = LineLimits {
            command: 10,
            sasl: 20,
        };
        // 8 + CRLF = 10 fits; 9 + CRLF = 11 does not.
        let mut f = LineFramer::new(limits);
        assert_eq!(f.decode_all(b"12345678\r\n"), vec![line("12345678")]);
        assert_eq!(f.decode_all(b"123456789\r\n"), vec![Frame::TooLong]);
        // 9 + LF = 10 fits.
        assert_eq!(f.decode_all(b"123456789\n"), vec![line("123456789")]);
        assert_eq!(f.decode_all(b"1234567890\n"), vec![Frame::TooLong]);
        // The next line is unaffected.
        assert_eq!(f.decode_all(b"NOOP\r\n"), vec![line("NOOP")]);
    }

    #[test]
    fn too_long_is_reported_once_and_the_rest_discarded() {
        let mut f = LineFramer::new(LineLimits {
            command: 8,
            sasl: 8,
        });
        assert_eq!(f.decode_all(b"AAAA"), vec![]);
        assert_eq!(f.decode_all(b"AAAA"), vec![Frame::TooLong]);
        assert_eq!(f.buffered(), 0);
        for _ in 0..1000 {
            assert_eq!(f.decode_all(b"AAAAAAAAAAAAAAAA"), vec![]);
            assert_eq!(f.buffered(), 0);
        }
        assert_eq!(
            f.decode_all(b"AAAA\r\nSTAT\r\n"),
            vec![line("STAT")],
            "remainder up to the line end is dropped"
        );
    }

    #[test]
    fn buffer_never_exceeds_the_limit() {
        let mut f = LineFramer::default();
        let mut chunk = vec![b'x'; 7];
        chunk.push(b'\n');
        for round in 0..500 {
            let piece = &chunk[..(round % chunk.len()) + 1];
            let _ = f.decode_all(piece);
            assert!(f.buffered() <= DEFAULT_MAX_COMMAND_LINE);
        }
        let mut f = LineFramer::default();
        let _ = f.decode_all(&[b'x'; DEFAULT_MAX_COMMAND_LINE - 1]);
        assert_eq!(f.buffered(), DEFAULT_MAX_COMMAND_LINE - 1);
        assert_eq!(f.decode_all(b"x"), vec![Frame::TooLong]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn sasl_mode_has_its_own_limit_and_switches_at_line_boundaries() {
        let mut f = LineFramer::new(LineLimits {
            command: 12,
            sasl: 30,
        });
        let input = b"AUTH PLAIN\r\nAAAAAAAAAAAAAAAAAAAA\r\nAAAAAAAAAAAAAAAAAAAA\r\n";
        let (used, frame) = f.decode(input);
        assert_eq!(frame, Some(line("AUTH PLAIN")));
        f.set_mode(FrameMode::Sasl);
        assert_eq!(f.mode(), FrameMode::Sasl);
        let (used2, frame) = f.decode(&input[used..]);
        assert_eq!(frame, Some(line("AAAAAAAAAAAAAAAAAAAA")));
        f.set_mode(FrameMode::Command);
        let (_, frame) = f.decode(&input[used + used2..]);
        assert_eq!(frame, Some(Frame::TooLong));
    }

    #[test]
    fn debug_hides_line_content() {
        let printed = format!("{:?}", line("PASS hunter2"));
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    /// A pipelined transcript with every framing oddity we handle.
    fn transcript() -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(b"CAPA\r\nUSER alice\r\nPASS pa ss\r\nSTAT\nLIST\r\n");
        t.extend_from_slice(b"\r\n\n");
        t.extend_from_slice(b"RETR 1\r\nTOP 1 10\r\n");
        t.extend(std::iter::repeat_n(b'Z', 300));
        t.extend_from_slice(b"\r\nUIDL\r\nA\rB\r\n");
        t.extend(std::iter::repeat_n(b'Y', 254));
        t.extend_from_slice(b"\nDELE 2\r\n");
        t.extend(std::iter::repeat_n(b'W', 253));
        t.extend_from_slice(b"\r\nQUIT\r\n");
        t
    }

    #[test]
    fn chunk_size_sweep_gives_identical_frames() {
        let t = transcript();
        let whole = LineFramer::default().decode_all(&t);
        let w253 = Frame::Line(vec![b'W'; 253]);
        let y254 = Frame::Line(vec![b'Y'; 254]);
        let want = vec![
            line("CAPA"),
            line("USER alice"),
            line("PASS pa ss"),
            line("STAT"),
            line("LIST"),
            line(""),
            line(""),
            line("RETR 1"),
            line("TOP 1 10"),
            Frame::TooLong,
            line("UIDL"),
            line("A\rB"),
            y254,
            line("DELE 2"),
            w253,
            line("QUIT"),
        ];
        assert_eq!(whole, want);
        for size in 1..=64 {
            let mut f = LineFramer::default();
            let mut got = Vec::new();
            for chunk in t.chunks(size) {
                got.extend(f.decode_all(chunk));
                assert!(f.buffered() <= DEFAULT_MAX_COMMAND_LINE);
            }
            assert_eq!(got, want, "chunk size {size}");
        }
    }
}
