//! Streaming line and literal framing of client input (RFC 9051 section 2.2, RFC 7888).
//!
//! The framer is fed arbitrary chunks and yields [`Event`]s. It never interprets a command; it
//! only knows where lines end and where literals are announced, so that the session can decide
//! about every literal before a single byte of it is consumed.
//!
//! Resynchronisation after an error:
//! - an overlong line or command is skipped up to its CRLF; if that line announced a literal, a
//!   synchronizing literal needs no skipping (the client waits for `+`), a non-synchronizing one
//!   is skipped byte for byte, and framing resumes at the next command;
//! - a rejected literal is handled the same way;
//! - a non-synchronizing literal whose length cannot be represented (`{4294967296+}` and up)
//!   cannot be skipped: the framer reports [`FramingError::is_fatal`] and the session must send
//!   `* BYE` and close, as the next command's start is unknowable.

use thiserror::Error;

/// Limits of the framer. Every limit is named with the reason for its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingLimits {
    /// Longest single line including CRLF; 64 KiB is what Dovecot accepts.
    pub max_line_len: usize,
    /// Largest literal accepted at all; 50 MiB covers real mail with attachments.
    pub max_literal_len: u64,
    /// Literals up to this size may be collected in memory by the parser; larger ones are
    /// APPEND bodies and must be streamed. 64 KiB keeps per-connection memory small.
    pub max_inline_literal: u64,
    /// Total of lines and inline literals of one command; 1 MiB bounds a command's memory while
    /// leaving room for long UID sets and search terms.
    pub max_command_len: usize,
}

impl Default for FramingLimits {
    fn default() -> Self {
        Self {
            max_line_len: 64 * 1024,
            max_literal_len: 50 * 1024 * 1024,
            max_inline_literal: 64 * 1024,
            max_command_len: 1024 * 1024,
        }
    }
}

/// A literal announcement at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Literal {
    /// Announced length in bytes.
    pub len: u32,
    /// `{n}`: the client waits for `+` before sending the data.
    pub sync: bool,
    /// `~{n}` (literal8, RFC 3516): the data may contain NUL.
    pub binary: bool,
}

/// What the framer found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A line up to and including its line end. `complete` is false when the line ends with a
    /// literal announcement (a [`Event::LiteralAnnounced`] follows), true when the command or
    /// continuation line is complete.
    Line {
        /// The bytes, including the announcement and the line end.
        data: &'a [u8],
        /// True when no literal follows.
        complete: bool,
    },
    /// The preceding line announced a literal; the framer waits for [`Framer::accept_literal`]
    /// or [`Framer::reject_command`] before consuming anything more.
    LiteralAnnounced(Literal),
    /// A chunk of accepted literal data; the chunks add up to exactly the announced length.
    LiteralData(&'a [u8]),
    /// The input broke a limit or the framing rules; the current command is being discarded.
    Error(FramingError),
}

/// Framing errors; each names the limit or rule that was broken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FramingError {
    /// A line longer than [`FramingLimits::max_line_len`].
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// A command larger than [`FramingLimits::max_command_len`].
    #[error("command larger than {limit} bytes")]
    CommandTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// A literal larger than [`FramingLimits::max_literal_len`].
    #[error("literal of {len} bytes exceeds the limit of {limit} bytes")]
    LiteralTooLarge {
        /// The announced length.
        len: u64,
        /// The configured limit.
        limit: u64,
        /// Whether the literal was synchronizing.
        sync: bool,
    },
    /// A literal length that does not fit the protocol's 32-bit number.
    #[error("literal length {digits} is not a valid 32-bit number")]
    LiteralLengthInvalid {
        /// The announced digits (truncated).
        digits: String,
        /// Whether the literal was synchronizing; a non-synchronizing one cannot be skipped.
        sync: bool,
    },
}

impl FramingError {
    /// True when framing cannot resynchronise: the session must send `* BYE` and close.
    pub fn is_fatal(&self) -> bool {
        matches!(self, FramingError::LiteralLengthInvalid { sync: false, .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a line; `scanned` bytes of the buffer are known to contain no LF.
    Line { scanned: usize },
    /// A line announcing `Literal` was returned; the announcement event is next.
    Announce(Literal),
    /// Waiting for the session's decision about the literal.
    Decide(Literal),
    /// Delivering `remaining` bytes of accepted literal data.
    Data { remaining: u32 },
    /// Discarding until the end of an overlong line; `tail` keeps the last bytes seen so a
    /// literal announcement at the end of the discarded line is still recognised.
    SkipLine,
    /// Discarding `remaining` bytes of a rejected non-synchronizing literal.
    SkipData { remaining: u32 },
    /// Framing is lost for good.
    Dead,
}

/// Longest literal announcement we need to recognise at the end of a skipped line:
/// `~{4294967295+}\r\n` plus slack for an overlong digit run.
const TAIL_LEN: usize = 32;

/// The streaming framer.
#[derive(Debug)]
pub struct Framer {
    limits: FramingLimits,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    pos: usize,
    state: State,
    /// Bytes of the current command counted against `max_command_len`.
    command_len: usize,
    /// Last bytes of a line being skipped.
    tail: Vec<u8>,
    /// After an error, discard the rest of the command (following lines and literals).
    discarding: bool,
    /// The event to return next, produced by the previous step (only errors need this).
    pending_error: Option<FramingError>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(FramingLimits::default())
    }
}

impl Framer {
    /// A framer with the given limits.
    pub fn new(limits: FramingLimits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            pos: 0,
            state: State::Line { scanned: 0 },
            command_len: 0,
            tail: Vec::new(),
            discarding: false,
            pending_error: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &FramingLimits {
        &self.limits
    }

    /// Appends received bytes. Memory stays bounded because [`Framer::next_event`] consumes
    /// buffered input as far as it can before more is pushed.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 4096 && self.pos * 2 > self.buf.len() {
            // `State::Line::scanned` is relative to `pos`, so it survives the shift.
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet consumed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Hands out the bytes buffered but not consumed, leaving the framer at the start of a
    /// line: after COMPRESS they are compressed data for the driver's inflater.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        if let State::Line { .. } = self.state {
            self.state = State::Line { scanned: 0 };
        }
        rest
    }

    /// True while the framer waits for a decision about an announced literal.
    pub fn awaiting_decision(&self) -> bool {
        matches!(self.state, State::Decide(_) | State::Announce(_))
    }

    /// True once framing is lost and the connection must be closed.
    pub fn is_dead(&self) -> bool {
        self.state == State::Dead
    }

    /// Accepts the announced literal: its data follows as [`Event::LiteralData`]. For a
    /// synchronizing literal the caller sends `+` first. Returns false if no literal was
    /// awaiting a decision.
    pub fn accept_literal(&mut self) -> bool {
        if let State::Decide(lit) | State::Announce(lit) = self.state
            && u64::from(lit.len) <= self.limits.max_inline_literal
        {
            self.command_len += lit.len as usize;
        }
        self.accept_streamed_literal()
    }

    /// Accepts the announced literal as data the caller streams elsewhere (an APPEND message
    /// or CATENATE TEXT part): unlike [`Framer::accept_literal`] it does not count against
    /// `max_command_len`, which bounds what is held in memory.
    pub fn accept_streamed_literal(&mut self) -> bool {
        match self.state {
            State::Decide(lit) | State::Announce(lit) => {
                self.state = if lit.len == 0 {
                    State::Line { scanned: 0 }
                } else {
                    State::Data { remaining: lit.len }
                };
                true
            }
            _ => false,
        }
    }

    /// Rejects the current command: the framer discards the rest of it (a non-synchronizing
    /// literal's data and any following lines of the command). Returns false if there was no
    /// literal awaiting a decision; a command without pending literal needs no rejection.
    pub fn reject_command(&mut self) -> bool {
        match self.state {
            State::Decide(lit) | State::Announce(lit) => {
                self.reject(lit);
                true
            }
            _ => false,
        }
    }

    fn reject(&mut self, lit: Literal) {
        self.command_len = 0;
        if lit.sync || lit.len == 0 {
            // The client sends nothing for a literal it got no `+` for; the next line starts
            // a new command.
            self.discarding = false;
            self.state = State::Line { scanned: 0 };
        } else {
            self.discarding = true;
            self.state = State::SkipData { remaining: lit.len };
        }
    }

    /// The next event, or `None` when more input is needed (or a decision is awaited).
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        if let Some(err) = self.pending_error.take() {
            return Some(Event::Error(err));
        }
        loop {
            match self.state {
                State::Dead | State::Decide(_) => return None,
                State::Announce(lit) => {
                    self.state = State::Decide(lit);
                    return Some(Event::LiteralAnnounced(lit));
                }
                State::Data { remaining } => {
                    let avail = self.buf.len() - self.pos;
                    if avail == 0 {
                        return None;
                    }
                    let n = avail.min(remaining as usize);
                    let start = self.pos;
                    self.pos += n;
                    let left = remaining - n as u32;
                    self.state = if left == 0 {
                        State::Line { scanned: 0 }
                    } else {
                        State::Data { remaining: left }
                    };
                    return Some(Event::LiteralData(&self.buf[start..start + n]));
                }
                State::SkipData { remaining } => {
                    let avail = self.buf.len() - self.pos;
                    if avail == 0 {
                        return None;
                    }
                    let n = avail.min(remaining as usize);
                    self.pos += n;
                    let left = remaining - n as u32;
                    self.state = if left == 0 {
                        State::Line { scanned: 0 }
                    } else {
                        State::SkipData { remaining: left }
                    };
                }
                State::SkipLine => {
                    let rest = &self.buf[self.pos..];
                    match rest.iter().position(|&b| b == b'\n') {
                        None => {
                            self.remember_tail(self.buf.len());
                            self.pos = self.buf.len();
                            return None;
                        }
                        Some(i) => {
                            let end = self.pos + i + 1;
                            self.remember_tail(end);
                            self.pos = end;
                            let tail = std::mem::take(&mut self.tail);
                            match announcement(&tail) {
                                Ok(Some(lit)) => self.reject(lit),
                                Ok(None) => {
                                    self.discarding = false;
                                    self.command_len = 0;
                                    self.state = State::Line { scanned: 0 };
                                }
                                Err(e) => return Some(self.fail_literal(e)),
                            }
                        }
                    }
                }
                State::Line { scanned } => {
                    let rest = &self.buf[self.pos..];
                    let Some(i) = rest[scanned..].iter().position(|&b| b == b'\n') else {
                        if rest.len() > self.limits.max_line_len {
                            return Some(self.start_skip_line(FramingError::LineTooLong {
                                limit: self.limits.max_line_len,
                            }));
                        }
                        self.state = State::Line {
                            scanned: rest.len(),
                        };
                        return None;
                    };
                    let len = scanned + i + 1;
                    if len > self.limits.max_line_len {
                        return Some(self.start_skip_line(FramingError::LineTooLong {
                            limit: self.limits.max_line_len,
                        }));
                    }
                    let start = self.pos;
                    self.pos += len;
                    let line = &self.buf[start..start + len];
                    let lit = match announcement(line) {
                        Ok(lit) => lit,
                        Err(e) => {
                            self.pos = start + len;
                            return Some(self.fail_literal(e));
                        }
                    };
                    if self.discarding {
                        match lit {
                            Some(lit) => self.reject(lit),
                            None => {
                                self.discarding = false;
                                self.command_len = 0;
                                self.state = State::Line { scanned: 0 };
                            }
                        }
                        continue;
                    }
                    self.command_len += len;
                    if self.command_len > self.limits.max_command_len {
                        let err = FramingError::CommandTooLong {
                            limit: self.limits.max_command_len,
                        };
                        match lit {
                            Some(lit) => self.reject(lit),
                            None => {
                                self.command_len = 0;
                                self.state = State::Line { scanned: 0 };
                            }
                        }
                        return Some(Event::Error(err));
                    }
                    if let Some(lit) = lit
                        && u64::from(lit.len) > self.limits.max_literal_len
                    {
                        self.reject(lit);
                        return Some(Event::Error(FramingError::LiteralTooLarge {
                            len: lit.len.into(),
                            limit: self.limits.max_literal_len,
                            sync: lit.sync,
                        }));
                    }
                    match lit {
                        Some(lit) => self.state = State::Announce(lit),
                        None => {
                            self.command_len = 0;
                            self.state = State::Line { scanned: 0 };
                        }
                    }
                    let line = &self.buf[start..start + len];
                    return Some(Event::Line {
                        data: line,
                        complete: lit.is_none(),
                    });
                }
            }
        }
    }

    fn start_skip_line(&mut self, err: FramingError) -> Event<'static> {
        self.tail.clear();
        self.command_len = 0;
        self.state = State::SkipLine;
        Event::Error(err)
    }

    fn fail_literal(&mut self, err: FramingError) -> Event<'static> {
        self.command_len = 0;
        if err.is_fatal() {
            self.state = State::Dead;
        } else {
            self.discarding = false;
            self.state = State::Line { scanned: 0 };
        }
        Event::Error(err)
    }

    fn remember_tail(&mut self, end: usize) {
        let start = self.pos.max(end.saturating_sub(TAIL_LEN));
        self.tail.extend_from_slice(&self.buf[start..end]);
        if self.tail.len() > TAIL_LEN {
            self.tail.drain(..self.tail.len() - TAIL_LEN);
        }
    }
}

/// Recognises a literal announcement at the end of a line:
/// `literal = "{" number64 ["+"] "}" CRLF` (RFC 9051), `literal8 = "~{" number64 "}" CRLF`
/// (RFC 3516), `{n+}` from RFC 7888. A bare LF is accepted as line end like Dovecot does.
fn announcement(line: &[u8]) -> Result<Option<Literal>, FramingError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(body) = line.strip_suffix(b"}") else {
        return Ok(None);
    };
    let (body, sync) = match body.strip_suffix(b"+") {
        Some(b) => (b, false),
        None => (body, true),
    };
    let digits_start = body
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = &body[digits_start..];
    if digits.is_empty() || digits_start == 0 || body[digits_start - 1] != b'{' {
        return Ok(None);
    }
    let binary = digits_start >= 2 && body[digits_start - 2] == b'~';
    let parsed = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<u32>().ok());
    match parsed {
        Some(len) => Ok(Some(Literal { len, sync, binary })),
        None => Err(FramingError::LiteralLengthInvalid {
            digits: String::from_utf8_lossy(&digits[..digits.len().min(24)]).into_owned(),
            sync,
        }),
    }
}

#[cfg(test)]
mod tests;
