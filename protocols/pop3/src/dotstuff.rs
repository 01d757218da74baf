//! Turns stored message bytes into a RETR/TOP body on the wire.
//!
//! Stored messages may use LF or CRLF line ends and may contain bare CR and
//! NUL. On the wire (RFC 1939 section 3) lines end in CRLF, a line starting
//! with `.` gets a second `.`, and the body ends with `.` CRLF. Bare CR and
//! NUL are passed through untouched, as Dovecot does; bare LF becomes CRLF.

/// What the transform produces besides plain data; lets the same state
/// machine write bytes or merely count them.
trait Sink {
    fn data(&mut self, bytes: &[u8]);
    /// The extra `.` inserted before a line that starts with `.`.
    fn stuffing(&mut self);
}

impl Sink for Vec<u8> {
    fn data(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn stuffing(&mut self) {
        self.push(b'.');
    }
}

/// Counts octets of the CRLF-normalized message, stuffing excluded.
struct Counter(u64);

impl Sink for Counter {
    fn data(&mut self, bytes: &[u8]) {
        self.0 += bytes.len() as u64;
    }
    fn stuffing(&mut self) {}
}

/// Whether a [`DotStuffer`] wants more input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Keep feeding message bytes.
    NeedMore,
    /// TOP has emitted everything it will; the caller can stop reading the
    /// file and call [`DotStuffer::finish`]. Further input is ignored.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// RETR: the whole message.
    All,
    /// TOP: the header, still looking for the blank line.
    Header { body_lines: u32 },
    /// TOP: in the body, this many more line ends to pass.
    Body { remaining: u32 },
    /// TOP: enough emitted.
    Done,
}

/// Streaming RETR/TOP body encoder. Feed it the stored message in chunks of
/// any size; output is identical whatever the chunking.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    /// A CR whose fate (CRLF or bare CR) depends on the next byte.
    pending_cr: bool,
    /// Nothing of the current line has been written yet.
    at_line_start: bool,
    limit: Limit,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer::retr()
    }
}

impl DotStuffer {
    /// Encoder for RETR: the whole message.
    pub fn retr() -> Self {
        DotStuffer {
            pending_cr: false,
            at_line_start: true,
            limit: Limit::All,
        }
    }

    /// Encoder for `TOP msg n`: the header, the blank line after it, and at
    /// most `body_lines` lines of the body. A message without a blank line
    /// is all header and is sent whole.
    pub fn top(body_lines: u32) -> Self {
        DotStuffer {
            limit: Limit::Header { body_lines },
            ..DotStuffer::retr()
        }
    }

    /// True once a TOP encoder has emitted all it will.
    pub fn is_done(&self) -> bool {
        self.limit == Limit::Done
    }

    /// Encodes the next chunk of the stored message, appending wire bytes to
    /// `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Progress {
        self.run(input, out)
    }

    /// Ends the body: a CRLF if the last line was unterminated, then `.`
    /// CRLF. An empty message yields just the terminator.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.close_line(out);
        out.extend_from_slice(b".\r\n");
    }

    fn close_line<S: Sink>(&mut self, sink: &mut S) {
        if self.pending_cr {
            // A CR at the very end stays a bare CR, then the line is closed.
            sink.data(b"\r");
            self.pending_cr = false;
            self.at_line_start = false;
        }
        if !self.at_line_start {
            sink.data(b"\r\n");
            self.at_line_start = true;
        }
    }

    fn run<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Progress {
        let mut i = 0;
        while i < input.len() {
            if self.limit == Limit::Done {
                return Progress::Done;
            }
            if self.pending_cr {
                self.pending_cr = false;
                if input[i] == b'\n' {
                    i += 1;
                    self.end_line(sink);
                } else {
                    sink.data(b"\r");
                    self.at_line_start = false;
                }
                continue;
            }
            if self.at_line_start && input[i] == b'.' {
                sink.stuffing();
            }
            // Copy the run of ordinary bytes up to the next CR or LF in one go.
            let run_end = input[i..]
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .map_or(input.len(), |p| i + p);
            if run_end > i {
                sink.data(&input[i..run_end]);
                self.at_line_start = false;
                i = run_end;
                continue;
            }
            // input[i] is CR or LF.
            i += 1;
            if input[i - 1] == b'\r' {
                self.pending_cr = true;
            } else {
                self.end_line(sink);
            }
        }
        if self.limit == Limit::Done {
            Progress::Done
        } else {
            Progress::NeedMore
        }
    }

    /// Emits CRLF for a line end (CRLF or bare LF) and advances TOP.
    fn end_line<S: Sink>(&mut self, sink: &mut S) {
        let was_empty = self.at_line_start;
        sink.data(b"\r\n");
        self.at_line_start = true;
        self.limit = match self.limit {
            Limit::Header { body_lines } if was_empty => Limit::Body {
                remaining: body_lines,
            },
            Limit::Body { remaining } => Limit::Body {
                remaining: remaining.saturating_sub(1),
            },
            other => other,
        };
        if self.limit == (Limit::Body { remaining: 0 }) {
            self.limit = Limit::Done;
        }
    }
}

/// The RFC 1939 size of a stored message: octets as RETR sends them with
/// CRLF line ends, before dot-stuffing and without the terminating `.` line
/// (including the CRLF added to an unterminated last line).
pub fn wire_size(raw: &[u8]) -> u64 {
    let mut counter = WireSizeCounter::new();
    counter.feed(raw);
    counter.finish()
}

/// Chunk-by-chunk version of [`wire_size`], for messages read in pieces.
#[derive(Debug, Clone, Default)]
pub struct WireSizeCounter {
    state: DotStuffer,
    size: u64,
}

impl WireSizeCounter {
    /// A counter at the start of a message.
    pub fn new() -> Self {
        WireSizeCounter::default()
    }

    /// Counts the next chunk of the stored message.
    pub fn feed(&mut self, input: &[u8]) {
        let mut c = Counter(self.size);
        self.state.run(input, &mut c);
        self.size = c.0;
    }

    /// The total size in octets.
    pub fn finish(mut self) -> u64 {
        let mut c = Counter(self.size);
        self.state.close_line(&mut c);
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retr(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = DotStuffer::retr();
        assert_eq!(s.feed(raw, &mut out), Progress::NeedMore);
        s.finish(&mut out);
        out
    }

    fn top(raw: &[u8], n: u32, chunk: usize) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut s = DotStuffer::top(n);
        let mut stopped_early = false;
        for (k, piece) in raw.chunks(chunk).enumerate() {
            if s.feed(piece, &mut out) == Progress::Done {
                stopped_early = (k + 1) * chunk < raw.len();
                break;
            }
        }
        s.finish(&mut out);
        (out, stopped_early)
    }

    #[test]
    fn retr_known_answers() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b"a\n", b"a\r\n.\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a\r", b"a\r\r\n.\r\n"),
            (b"\n", b"\r\n.\r\n"),
            (b".", b"..\r\n.\r\n"),
            (b".\n", b"..\r\n.\r\n"),
            (b"a\n.\nb\n", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"..x\r\n", b"...x\r\n.\r\n"),
            (b"a.b\n", b"a.b\r\n.\r\n"),
            (b"a\r.b\n", b"a\r.b\r\n.\r\n"),
            (b"a\r\r\nb", b"a\r\r\nb\r\n.\r\n"),
            (b"\r\r", b"\r\r\r\n.\r\n"),
            (b"\r.\n", b"\r.\r\n.\r\n"),
            (b"\0.\0\n", b"\0.\0\r\n.\r\n"),
            (b"\n.\n", b"\r\n..\r\n.\r\n"),
            (b"\xff\xfe\n", b"\xff\xfe\r\n.\r\n"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                retr(raw),
                want.to_vec(),
                "raw {:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn cr_at_chunk_end_then_lf_is_one_crlf() {
        let mut out = Vec::new();
        let mut s = DotStuffer::retr();
        s.feed(b"a\r", &mut out);
        s.feed(b"\n.b\r", &mut out);
        s.feed(b"\n", &mut out);
        s.finish(&mut out);
        assert_eq!(out, b"a\r\n..b\r\n.\r\n");
    }

    #[test]
    fn top_known_answers() {
        let msg: &[u8] = b"From: a\nSubject: b\n\nline1\n.line2\nline3\n";
        let cases: &[(u32, &[u8])] = &[
            (0, b"From: a\r\nSubject: b\r\n\r\n.\r\n"),
            (1, b"From: a\r\nSubject: b\r\n\r\nline1\r\n.\r\n"),
            (2, b"From: a\r\nSubject: b\r\n\r\nline1\r\n..line2\r\n.\r\n"),
            (
                3,
                b"From: a\r\nSubject: b\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n",
            ),
            (
                99,
                b"From: a\r\nSubject: b\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n",
            ),
            (
                u32::MAX,
                b"From: a\r\nSubject: b\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n",
            ),
        ];
        for &(n, want) in cases {
            for chunk in 1..=msg.len() {
                let (out, _) = top(msg, n, chunk);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(want),
                    "TOP {n}, chunk {chunk}"
                );
            }
        }
        // No blank line: all header, sent whole with the last line closed.
        assert_eq!(top(b"A: b\nC: d", 0, 3).0, b"A: b\r\nC: d\r\n.\r\n");
        // CRLF blank line and a body without final line end.
        assert_eq!(top(b"A: b\r\n\r\nx", 5, 2).0, b"A: b\r\n\r\nx\r\n.\r\n");
        // A CRLF line ends the header; a line holding a bare CR does not.
        assert_eq!(top(b"A\n\r\nB\n\nC\n", 0, 1).0, b"A\r\n\r\n.\r\n");
        assert_eq!(
            top(b"A\n\r\r\nB\n\nC\n", 0, 1).0,
            b"A\r\n\r\r\nB\r\n\r\n.\r\n"
        );
    }

    #[test]
    fn top_reports_done_so_the_caller_can_stop_reading() {
        let mut msg = b"H: v\n\nshort\n".to_vec();
        msg.extend(std::iter::repeat_n(b'x', 10_000));
        let (out, stopped_early) = top(&msg, 1, 64);
        assert_eq!(out, b"H: v\r\n\r\nshort\r\n.\r\n");
        assert!(stopped_early);
        let mut s = DotStuffer::top(0);
        let mut out = Vec::new();
        assert_eq!(s.feed(b"H: v\n", &mut out), Progress::NeedMore);
        assert!(!s.is_done());
        assert_eq!(s.feed(b"\nbody\n", &mut out), Progress::Done);
        assert!(s.is_done());
        assert_eq!(s.feed(b"more\n", &mut out), Progress::Done);
        assert_eq!(out, b"H: v\r\n\r\n");
    }

    #[test]
    fn wire_size_known_answers() {
        let cases: &[(&[u8], u64)] = &[
            (b"", 0),
            (b"a", 3),
            (b"a\n", 3),
            (b"a\r\n", 3),
            (b".\n", 3),
            (b"a\nb\n", 6),
            (b"a\r", 4),
            (b"\r", 3),
        ];
        for &(raw, want) in cases {
            assert_eq!(wire_size(raw), want, "{raw:?}");
        }
    }

    /// xorshift64*: tiny deterministic PRNG so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random stored message biased towards the bytes that matter.
    fn random_message(rng: &mut Rng) -> Vec<u8> {
        const ALPHABET: &[u8] = b"..\r\r\n\n\n\0a";
        let len = rng.below(200);
        (0..len)
            .map(|_| {
                if rng.below(8) == 0 {
                    rng.next() as u8
                } else {
                    ALPHABET[rng.below(ALPHABET.len())]
                }
            })
            .collect()
    }

    /// Independent reference: bare LF to CRLF, then close an open last line.
    fn normalize(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &b) in raw.iter().enumerate() {
            if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
                out.push(b'\r');
            }
            out.push(b);
        }
        if !out.is_empty() && !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Inverse of the wire encoding; panics if the encoding is malformed.
    fn unstuff(wire: &[u8]) -> Vec<u8> {
        let body = wire
            .strip_suffix(b".\r\n")
            .expect("terminator present at the end");
        let mut out = Vec::new();
        let mut line_start = true;
        let mut i = 0;
        while i < body.len() {
            if line_start && body[i] == b'.' {
                assert_eq!(body.get(i + 1), Some(&b'.'), "unstuffed dot in {wire:?}");
                i += 1;
            }
            out.push(body[i]);
            line_start = body[..=i].ends_with(b"\r\n");
            i += 1;
        }
        assert!(body.is_empty() || body.ends_with(b"\r\n"));
        out
    }

    #[test]
    fn property_chunking_roundtrip_and_size() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..3000 {
            let raw = random_message(&mut rng);
            let whole = retr(&raw);
            // (a) any chunking gives identical output.
            for _ in 0..4 {
                let mut out = Vec::new();
                let mut s = DotStuffer::retr();
                let mut counter = WireSizeCounter::new();
                let mut rest = raw.as_slice();
                while !rest.is_empty() {
                    let n = 1 + rng.below(rest.len().min(7));
                    s.feed(&rest[..n], &mut out);
                    counter.feed(&rest[..n]);
                    rest = &rest[n..];
                }
                s.finish(&mut out);
                assert_eq!(out, whole, "case {case} raw {raw:?}");
                assert_eq!(counter.finish(), wire_size(&raw));
            }
            // (b) un-stuffing gives the CRLF-normalized input.
            let plain = unstuff(&whole);
            assert_eq!(plain, normalize(&raw), "case {case} raw {raw:?}");
            // (c) the counted size is the un-stuffed length.
            assert_eq!(wire_size(&raw), plain.len() as u64, "case {case}");
        }
    }
}
