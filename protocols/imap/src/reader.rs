//! Framer and parser together: bytes in, commands out, with the decisions about literals that
//! only the session can make surfaced as events.

use crate::command::{
    AppendNext, AppendPiece, AppendTail, CommandBody, CommandError, CommandErrorKind, Parsed,
    ParserLimits, TailParsed, in_catenate, parse_append_tail, parse_command_with,
};
use crate::framing::{Event, Framer, FramingError, FramingLimits};

pub use crate::command::Command;

/// What the reader produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// A complete command. For APPEND the message literal is announced but not consumed: call
    /// [`CommandReader::accept_append`] (sending `+` first for a synchronizing literal) or
    /// [`CommandReader::reject_command`].
    Command(Command),
    /// A synchronizing literal inside a command that is valid so far was accepted: send
    /// `+ Ready` so the client sends it.
    SendContinuation,
    /// A chunk of an accepted APPEND message.
    AppendData(&'a [u8]),
    /// The APPEND message and its command line are complete.
    AppendDone,
    /// MULTIAPPEND (RFC 3502): another message follows on the same command. Like an APPEND
    /// command, it waits for [`CommandReader::accept_append`] or
    /// [`CommandReader::reject_command`].
    AppendNext(AppendNext),
    /// CATENATE (RFC 4469): URL parts and message boundaries up to the next streamed literal
    /// (a TEXT part or a message) or the command's end. With a literal it waits for
    /// [`CommandReader::accept_append`] or [`CommandReader::reject_command`] like APPEND.
    AppendTail(AppendTail),
    /// A raw line in line mode (IDLE's `DONE`, SASL responses), without its line end.
    Line(&'a [u8]),
    /// The command is invalid: answer `tag BAD` (or `* BAD` without a tag).
    Bad(CommandError),
    /// The framing limits were broken; answer `BAD`, or `* BYE` and close when
    /// [`FramingError::is_fatal`].
    Framing(FramingError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Commands,
    /// APPEND returned; waiting for the session's decision.
    AppendDecision,
    /// Streaming the APPEND message.
    Appending,
    /// Reading the line that announces MULTIAPPEND's next message.
    AppendHeader,
    Lines,
}

/// Turns a byte stream into [`Input`]s.
#[derive(Debug)]
pub struct CommandReader {
    framer: Framer,
    parser: ParserLimits,
    /// The command so far: its lines and collected literals.
    command: Vec<u8>,
    /// Copy of the last data chunk or line handed out.
    scratch: Vec<u8>,
    state: State,
    /// The APPEND message being streamed is a `UTF8 (~{n})`: a `)` must follow it.
    utf8_paren: bool,
    /// The literal being streamed is a CATENATE TEXT part: more parts or `)` follow it.
    in_cat: bool,
}

enum Out {
    Input(Input<'static>),
    Data,
    Line,
}

impl CommandReader {
    /// A reader with the given limits.
    pub fn new(framing: FramingLimits, parser: ParserLimits) -> Self {
        Self {
            framer: Framer::new(framing),
            parser,
            command: Vec::new(),
            scratch: Vec::new(),
            state: State::Commands,
            utf8_paren: false,
            in_cat: false,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    /// Switches to line mode (true) for IDLE and AUTHENTICATE, or back to commands.
    pub fn set_line_mode(&mut self, on: bool) {
        self.state = if on { State::Lines } else { State::Commands };
    }

    /// Accepts the message literal of the APPEND just returned.
    pub fn accept_append(&mut self) -> bool {
        if self.state != State::AppendDecision {
            return false;
        }
        self.state = State::Appending;
        self.framer.accept_streamed_literal()
    }

    /// Rejects the APPEND just returned; the framer skips whatever the client still sends
    /// for it.
    pub fn reject_command(&mut self) -> bool {
        if self.state != State::AppendDecision {
            return false;
        }
        self.state = State::Commands;
        self.framer.reject_command()
    }

    /// Bytes this reader holds in memory: unconsumed input plus the command being assembled
    /// (its lines and inline literals), for the per-connection memory ceiling.
    pub fn memory(&self) -> usize {
        self.framer.buffered() + self.command.len()
    }

    /// Takes the unconsumed input (see [`Framer::take_buffered`]).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        self.framer.take_buffered()
    }

    /// True when the connection must be closed (framing lost).
    pub fn is_dead(&self) -> bool {
        self.framer.is_dead()
    }

    /// The next input, or None when more bytes (or a decision about an APPEND) are needed.
    pub fn next_input(&mut self) -> Option<Input<'_>> {
        let out = self.step()?;
        Some(match out {
            Out::Input(i) => i,
            Out::Data => Input::AppendData(&self.scratch),
            Out::Line => Input::Line(&self.scratch),
        })
    }

    fn step(&mut self) -> Option<Out> {
        loop {
            if self.state == State::AppendDecision {
                return None;
            }
            let ev = self.framer.next_event()?;
            match ev {
                Event::Error(e) => {
                    self.command.clear();
                    if matches!(self.state, State::Appending | State::AppendHeader) {
                        self.state = State::Commands;
                    }
                    return Some(Out::Input(Input::Framing(e)));
                }
                Event::LiteralData(d) => {
                    if self.state == State::Appending {
                        self.scratch.clear();
                        self.scratch.extend_from_slice(d);
                        return Some(Out::Data);
                    }
                    self.command.extend_from_slice(d);
                }
                Event::Line { data, complete } => match self.state {
                    State::Lines => {
                        let line = data.strip_suffix(b"\n").unwrap_or(data);
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        self.scratch.clear();
                        self.scratch.extend_from_slice(line);
                        if !complete {
                            // Line mode has no literals; the next line is not part of this one.
                            self.framer.reject_command();
                        }
                        return Some(Out::Line);
                    }
                    State::Appending if self.utf8_paren && !data.starts_with(b")") => {
                        self.state = State::Commands;
                        if !complete {
                            self.framer.reject_command();
                        }
                        return Some(Out::Input(Input::Bad(CommandError {
                            tag: None,
                            kind: CommandErrorKind::Syntax,
                            message: "APPEND: expected ')' after the UTF8 message".into(),
                        })));
                    }
                    State::Appending if !complete => {
                        let data = &data[usize::from(self.utf8_paren)..];
                        // MULTIAPPEND: the next message's flags, date and literal.
                        self.command.extend_from_slice(data);
                        self.state = State::AppendHeader;
                    }
                    State::Appending => {
                        self.state = State::Commands;
                        let data = &data[usize::from(self.utf8_paren)..];
                        if !self.in_cat && matches!(data, b"\r\n" | b"\n") {
                            return Some(Out::Input(Input::AppendDone));
                        }
                        let result = parse_append_tail(data, self.in_cat, true, &self.parser);
                        return Some(Out::Input(self.tail_input(result)));
                    }
                    State::AppendHeader => {
                        // The line after a URL given as a literal.
                        self.command.extend_from_slice(data);
                        if complete {
                            let result =
                                parse_append_tail(&self.command, self.in_cat, true, &self.parser);
                            self.command.clear();
                            self.state = State::Commands;
                            return Some(Out::Input(self.tail_input(result)));
                        }
                    }
                    _ => {
                        self.command.extend_from_slice(data);
                        if complete {
                            let result = parse_command_with(&self.command, &self.parser);
                            self.command.clear();
                            return Some(Out::Input(match result {
                                Ok(Parsed::Command(c)) => Input::Command(c),
                                Ok(Parsed::NeedsLiteral) => Input::Bad(CommandError {
                                    tag: None,
                                    kind: CommandErrorKind::Syntax,
                                    message: "Incomplete command".into(),
                                }),
                                Err(e) => Input::Bad(e),
                            }));
                        }
                    }
                },
                Event::LiteralAnnounced(lit) if self.state == State::AppendHeader => {
                    let result = parse_append_tail(&self.command, self.in_cat, false, &self.parser);
                    if let Ok(TailParsed::NeedsLiteral) = result {
                        // A URL sent as a literal: collected like any inline literal.
                        if u64::from(lit.len) > self.framer.limits().max_inline_literal {
                            self.command.clear();
                            self.state = State::Commands;
                            self.framer.reject_command();
                            return Some(Out::Input(Input::Bad(CommandError {
                                tag: None,
                                kind: CommandErrorKind::LiteralTooBig,
                                message: format!("Literal of {} bytes is too big", lit.len),
                            })));
                        }
                        self.framer.accept_literal();
                        if lit.sync {
                            return Some(Out::Input(Input::SendContinuation));
                        }
                        continue;
                    }
                    self.command.clear();
                    let input = self.tail_input(result);
                    if matches!(input, Input::Bad(_)) {
                        self.state = State::Commands;
                        self.framer.reject_command();
                    } else {
                        self.state = State::AppendDecision;
                    }
                    return Some(Out::Input(input));
                }
                Event::LiteralAnnounced(lit) => {
                    match parse_command_with(&self.command, &self.parser) {
                        Ok(Parsed::Command(c)) => {
                            self.command.clear();
                            if let CommandBody::Append { message, .. }
                            | CommandBody::Replace { message, .. } = &c.body
                            {
                                self.state = State::AppendDecision;
                                self.utf8_paren = message.utf8;
                                self.in_cat = false;
                                return Some(Out::Input(Input::Command(c)));
                            }
                            if let CommandBody::Catenate {
                                pieces,
                                literal: Some(message),
                                ..
                            } = &c.body
                            {
                                self.state = State::AppendDecision;
                                self.utf8_paren = message.utf8;
                                self.in_cat = in_catenate(false, pieces);
                                return Some(Out::Input(Input::Command(c)));
                            }
                            // A literal after a complete command cannot belong to it.
                            self.framer.reject_command();
                            return Some(Out::Input(Input::Bad(CommandError {
                                tag: Some(c.tag),
                                kind: CommandErrorKind::Syntax,
                                message: format!("{}: unexpected literal", c.body.name()),
                            })));
                        }
                        Ok(Parsed::NeedsLiteral) => {
                            if u64::from(lit.len) > self.framer.limits().max_inline_literal {
                                let tag = tag_of(&self.command);
                                self.command.clear();
                                self.framer.reject_command();
                                return Some(Out::Input(Input::Bad(CommandError {
                                    tag,
                                    kind: CommandErrorKind::LiteralTooBig,
                                    message: format!("Literal of {} bytes is too big", lit.len),
                                })));
                            }
                            self.framer.accept_literal();
                            if lit.sync {
                                return Some(Out::Input(Input::SendContinuation));
                            }
                        }
                        Err(e) => {
                            self.command.clear();
                            self.framer.reject_command();
                            return Some(Out::Input(Input::Bad(e)));
                        }
                    }
                }
            }
        }
    }
}

impl CommandReader {
    /// The input for a parsed APPEND tail; a tail with a literal leaves the reader waiting
    /// for the session's decision about it (the caller sets the state).
    fn tail_input(&mut self, result: Result<TailParsed, CommandError>) -> Input<'static> {
        let mut tail = match result {
            Ok(TailParsed::Tail(t)) => t,
            Ok(TailParsed::NeedsLiteral) => {
                return Input::Bad(CommandError {
                    tag: None,
                    kind: CommandErrorKind::Syntax,
                    message: "Incomplete command".into(),
                });
            }
            Err(e) => return Input::Bad(e),
        };
        if let Some(message) = tail.literal {
            self.utf8_paren = message.utf8;
        }
        self.in_cat = in_catenate(self.in_cat, &tail.pieces);
        // A plain next message keeps MULTIAPPEND's own input.
        if let Some(message) = tail.literal
            && let [
                AppendPiece::Message {
                    flags,
                    date,
                    catenate: false,
                },
            ] = tail.pieces.as_mut_slice()
        {
            return Input::AppendNext(AppendNext {
                flags: std::mem::take(flags),
                date: date.take(),
                message,
            });
        }
        if tail.pieces.is_empty() && tail.literal.is_none() {
            return Input::AppendDone;
        }
        Input::AppendTail(tail)
    }
}

/// The tag of a partial command, for error responses.
fn tag_of(command: &[u8]) -> Option<crate::types::Tag> {
    let end = command.iter().position(|&b| b == b' ')?;
    let tag = std::str::from_utf8(&command[..end]).ok()?;
    crate::types::Tag::try_from(tag).ok()
}

impl Default for CommandReader {
    fn default() -> Self {
        Self::new(FramingLimits::default(), ParserLimits::default())
    }
}

#[cfg(test)]
mod tests;
