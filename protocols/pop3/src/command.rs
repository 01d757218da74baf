//! Typed POP3 commands and their parser (RFC 1939, 2449, 2595, 5034, 6856).
//!
//! Separator policy, checked against Dovecot's pop3 (it splits the keyword
//! off at the first space and then skips runs of spaces between numeric
//! arguments): we accept one or more SP between arguments and ignore
//! trailing SP, but `PASS` takes the rest of the line verbatim after exactly
//! one SP because passwords may start or end with spaces. Unlike Dovecot we
//! reject arguments to commands that take none, as RFC 1939 says they get
//! `-ERR`.

use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use nom::IResult;
use nom::Parser;
use nom::bytes::complete::{take_while_m_n, take_while1};
use nom::combinator::all_consuming;

use crate::Secret;
use crate::response::Response;

/// Most decimal digits a u32 can need; longer digit strings are rejected
/// without being parsed so absurd lengths cost nothing.
const MAX_DECIMAL_DIGITS: usize = 10;

/// A 1-based message number as used by LIST, RETR, DELE, TOP and UIDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgNum(NonZeroU32);

impl MsgNum {
    /// Wraps an already validated non-zero number.
    pub fn new(n: NonZeroU32) -> Self {
        MsgNum(n)
    }

    /// The number as the client sees it (starting at 1).
    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// The 0-based index into a session's message list.
    pub fn index(self) -> usize {
        // u32 always fits in usize on the 32/64-bit targets we build for.
        (self.0.get() - 1) as usize
    }
}

impl TryFrom<u32> for MsgNum {
    type Error = ParseError;

    fn try_from(n: u32) -> Result<Self, ParseError> {
        NonZeroU32::new(n).map(MsgNum).ok_or(ParseError::MsgNumZero)
    }
}

impl std::fmt::Display for MsgNum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A SASL mechanism name, stored upper-cased.
///
/// RFC 4422: `sasl-mech = 1*20mech-char`,
/// `mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE`
/// (matched case-insensitively, as clients send `auth plain`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mechanism(String);

impl Mechanism {
    /// The upper-cased name, e.g. `PLAIN`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Mechanism {
    type Error = ParseError;

    fn try_from(s: &str) -> Result<Self, ParseError> {
        match all_consuming(mechanism).parse(s.as_bytes()) {
            Ok((_, m)) => Ok(m),
            Err(_) => Err(ParseError::InvalidMechanism),
        }
    }
}

/// A parsed client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name` (RFC 1939).
    User(String),
    /// `PASS string` (RFC 1939); the whole rest of the line.
    Pass(Secret<Vec<u8>>),
    /// `APOP name digest` (RFC 1939).
    Apop {
        /// The mailbox name.
        name: String,
        /// 32 lowercase hex digits of MD5(timestamp + secret).
        digest: String,
    },
    /// `AUTH` without arguments: list mechanisms (RFC 1734 era clients;
    /// Dovecot answers it too).
    AuthList,
    /// `AUTH mechanism [initial-response]` (RFC 5034).
    Auth {
        /// The requested mechanism.
        mechanism: Mechanism,
        /// Decoded initial response; `Some(empty)` for `=`.
        initial_response: Option<Secret<Vec<u8>>>,
    },
    /// `STLS` (RFC 2595).
    Stls,
    /// `CAPA` (RFC 2449).
    Capa,
    /// `UTF8` (RFC 6856).
    Utf8,
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<MsgNum>),
    /// `RETR msg`.
    Retr(MsgNum),
    /// `DELE msg`.
    Dele(MsgNum),
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// `TOP msg n`.
    Top {
        /// The message.
        msg: MsgNum,
        /// How many body lines to send after the header.
        lines: u32,
    },
    /// `UIDL [msg]`.
    Uidl(Option<MsgNum>),
    /// `QUIT`.
    Quit,
}

impl Command {
    /// The command keyword in upper case, for logs and statistics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop { .. } => "APOP",
            Command::AuthList | Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Capa => "CAPA",
            Command::Utf8 => "UTF8",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Top { .. } => "TOP",
            Command::Uidl(_) => "UIDL",
            Command::Quit => "QUIT",
        }
    }
}

/// A client line during an AUTH exchange (RFC 5034).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslResponse {
    /// `cancel-response = "*"`: the client aborts the exchange.
    Cancel,
    /// Decoded base64 data (empty for an empty line).
    Data(Secret<Vec<u8>>),
}

/// Why a line is not a valid command. `Display` is the sentence that goes
/// after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line was empty.
    #[error("Empty command line.")]
    Empty,
    /// The framer reported [`Frame::TooLong`](crate::Frame::TooLong); this
    /// variant lets the session answer it like any other bad line.
    #[error("Line too long.")]
    LineTooLong,
    /// NUL, CR or LF inside the line.
    #[error("Control characters are not allowed in commands.")]
    ControlChar,
    /// The keyword is not one we know.
    #[error("Unknown command.")]
    UnknownCommand,
    /// A required argument is absent.
    #[error("{command} needs {what}.")]
    MissingArgument {
        /// The command keyword.
        command: &'static str,
        /// What was expected, e.g. "a message number".
        what: &'static str,
    },
    /// More arguments than the command takes.
    #[error("Too many arguments for {command}.")]
    TooManyArguments {
        /// The command keyword.
        command: &'static str,
    },
    /// Not a plain decimal message number.
    #[error("Invalid message number.")]
    InvalidMsgNum,
    /// Message number 0.
    #[error("Message numbers start at 1.")]
    MsgNumZero,
    /// A number beyond 4294967295.
    #[error("Number too large.")]
    NumberTooLarge,
    /// TOP's line count is not a plain decimal.
    #[error("Invalid line count.")]
    InvalidLineCount,
    /// The APOP digest is not 32 lowercase hex digits.
    #[error("APOP digest must be 32 lowercase hex digits.")]
    InvalidDigest,
    /// Not a valid SASL mechanism name.
    #[error("Invalid SASL mechanism name.")]
    InvalidMechanism,
    /// Malformed base64 in an AUTH line.
    #[error("Invalid base64 data.")]
    InvalidBase64,
    /// A user name that is not UTF-8.
    #[error("User name is not valid UTF-8.")]
    InvalidUtf8,
}

impl ParseError {
    /// The `-ERR` response for this error.
    pub fn to_response(&self) -> Response {
        Response::err(self.to_string())
    }
}

/// `keyword = 3*4VCHAR` (RFC 2449 section 4); we only know alphanumeric ones.
fn keyword(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(|b: u8| b.is_ascii_alphanumeric()).parse(input)
}

/// `sasl-mech = 1*20mech-char` (RFC 4422 section 3.1).
fn mechanism(input: &[u8]) -> IResult<&[u8], Mechanism> {
    let mech_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    take_while_m_n(1, 20, mech_char)
        .map(|m: &[u8]| Mechanism(String::from_utf8_lossy(m).to_ascii_uppercase()))
        .parse(input)
}

/// `digest = 32LOWER-HEX` (RFC 1939 APOP: "lower-case ASCII characters").
fn digest(input: &[u8]) -> IResult<&[u8], String> {
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    take_while_m_n(32, 32, lower_hex)
        .map(|d: &[u8]| String::from_utf8_lossy(d).into_owned())
        .parse(input)
}

/// `1*DIGIT` with no sign, at most [`MAX_DECIMAL_DIGITS`] digits, as u32.
fn decimal_u32(input: &[u8]) -> IResult<&[u8], Result<u32, ParseError>> {
    take_while1(|b: u8| b.is_ascii_digit())
        .map(|d: &[u8]| {
            if d.len() > MAX_DECIMAL_DIGITS {
                return Err(ParseError::NumberTooLarge);
            }
            let n = d.iter().fold(0u64, |n, &b| n * 10 + u64::from(b - b'0'));
            u32::try_from(n).map_err(|_| ParseError::NumberTooLarge)
        })
        .parse(input)
}

/// A whole argument that must be a number, mapping syntax errors to `bad`.
fn number_arg(arg: &[u8], bad: ParseError) -> Result<u32, ParseError> {
    match all_consuming(decimal_u32).parse(arg) {
        Ok((_, n)) => n,
        Err(_) => Err(bad),
    }
}

/// `msg = 1*DIGIT` greater than zero (RFC 1939 "message-number").
fn msg_num(arg: &[u8]) -> Result<MsgNum, ParseError> {
    MsgNum::try_from(number_arg(arg, ParseError::InvalidMsgNum)?)
}

/// Splits arguments on runs of SP; see the module docs for why runs.
fn split_args(rest: &[u8]) -> Vec<&[u8]> {
    rest.split(|&b| b == b' ')
        .filter(|a| !a.is_empty())
        .collect()
}

fn no_args(command: &'static str, args: &[&[u8]], cmd: Command) -> Result<Command, ParseError> {
    if args.is_empty() {
        Ok(cmd)
    } else {
        Err(ParseError::TooManyArguments { command })
    }
}

fn optional_msg(command: &'static str, args: &[&[u8]]) -> Result<Option<MsgNum>, ParseError> {
    match args {
        [] => Ok(None),
        [n] => msg_num(n).map(Some),
        _ => Err(ParseError::TooManyArguments { command }),
    }
}

fn required_msg(command: &'static str, args: &[&[u8]]) -> Result<MsgNum, ParseError> {
    match args {
        [] => Err(ParseError::MissingArgument {
            command,
            what: "a message number",
        }),
        [n] => msg_num(n),
        _ => Err(ParseError::TooManyArguments { command }),
    }
}

fn decode_base64(data: &[u8]) -> Result<Vec<u8>, ParseError> {
    BASE64.decode(data).map_err(|_| ParseError::InvalidBase64)
}

/// Parses one command line (without its line ending) into a [`Command`].
///
/// RFC 2449 section 4: `command = keyword *(SP param) CRLF`; keywords are
/// case-insensitive.
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    if line.iter().any(|&b| matches!(b, b'\0' | b'\r' | b'\n')) {
        return Err(ParseError::ControlChar);
    }
    let (after, kw) = keyword(line).map_err(|_| ParseError::UnknownCommand)?;
    let rest = match after.split_first() {
        None => &[][..],
        Some((b' ', rest)) => rest,
        Some(_) => return Err(ParseError::UnknownCommand),
    };
    let args = split_args(rest);
    match kw.to_ascii_uppercase().as_slice() {
        b"USER" => parse_user(rest),
        b"PASS" => parse_pass(after),
        b"APOP" => parse_apop(&args),
        b"AUTH" => parse_auth(&args),
        b"STLS" => no_args("STLS", &args, Command::Stls),
        b"CAPA" => no_args("CAPA", &args, Command::Capa),
        b"UTF8" => no_args("UTF8", &args, Command::Utf8),
        b"STAT" => no_args("STAT", &args, Command::Stat),
        b"NOOP" => no_args("NOOP", &args, Command::Noop),
        b"RSET" => no_args("RSET", &args, Command::Rset),
        b"QUIT" => no_args("QUIT", &args, Command::Quit),
        b"LIST" => optional_msg("LIST", &args).map(Command::List),
        b"UIDL" => optional_msg("UIDL", &args).map(Command::Uidl),
        b"RETR" => required_msg("RETR", &args).map(Command::Retr),
        b"DELE" => required_msg("DELE", &args).map(Command::Dele),
        b"TOP" => parse_top(&args),
        _ => Err(ParseError::UnknownCommand),
    }
}

/// `USER SP name` (RFC 1939). Like Dovecot we take the rest of the line
/// (trimmed of SP), so names containing spaces survive.
fn parse_user(rest: &[u8]) -> Result<Command, ParseError> {
    let start = rest.iter().position(|&b| b != b' ');
    let end = rest.iter().rposition(|&b| b != b' ');
    let name = match (start, end) {
        (Some(s), Some(e)) => &rest[s..=e],
        _ => {
            return Err(ParseError::MissingArgument {
                command: "USER",
                what: "a user name",
            });
        }
    };
    std::str::from_utf8(name)
        .map(|n| Command::User(n.to_owned()))
        .map_err(|_| ParseError::InvalidUtf8)
}

/// `PASS SP string` (RFC 1939): everything after the single SP, spaces and
/// all, because "the server may treat spaces in the argument as part of the
/// password, instead of as argument separators".
fn parse_pass(after_keyword: &[u8]) -> Result<Command, ParseError> {
    match after_keyword.split_first() {
        Some((b' ', pass)) if !pass.is_empty() => Ok(Command::Pass(Secret::new(pass.to_vec()))),
        _ => Err(ParseError::MissingArgument {
            command: "PASS",
            what: "a password",
        }),
    }
}

/// `APOP SP name SP digest` (RFC 1939).
fn parse_apop(args: &[&[u8]]) -> Result<Command, ParseError> {
    match args {
        [name, d] => {
            let name = std::str::from_utf8(name).map_err(|_| ParseError::InvalidUtf8)?;
            let (_, digest) = all_consuming(digest)
                .parse(d)
                .map_err(|_| ParseError::InvalidDigest)?;
            Ok(Command::Apop {
                name: name.to_owned(),
                digest,
            })
        }
        [] | [_] => Err(ParseError::MissingArgument {
            command: "APOP",
            what: "a name and a digest",
        }),
        _ => Err(ParseError::TooManyArguments { command: "APOP" }),
    }
}

/// `auth_command = "AUTH" SP sasl-mech [SP initial-response] ...`,
/// `initial-response = base64 / "="` (RFC 5034 section 4).
fn parse_auth(args: &[&[u8]]) -> Result<Command, ParseError> {
    let (mech, ir) = match args {
        [] => return Ok(Command::AuthList),
        [m] => (m, None),
        [m, ir] => (m, Some(ir)),
        _ => return Err(ParseError::TooManyArguments { command: "AUTH" }),
    };
    let (_, mechanism) = all_consuming(mechanism)
        .parse(mech)
        .map_err(|_| ParseError::InvalidMechanism)?;
    let initial_response = match ir.copied() {
        None => None,
        Some(b"=") => Some(Secret::new(Vec::new())),
        Some(data) => Some(Secret::new(decode_base64(data)?)),
    };
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

/// `TOP SP msg SP n` (RFC 1939); n is any non-negative u32.
fn parse_top(args: &[&[u8]]) -> Result<Command, ParseError> {
    match args {
        [] => Err(ParseError::MissingArgument {
            command: "TOP",
            what: "a message number and a line count",
        }),
        [_] => Err(ParseError::MissingArgument {
            command: "TOP",
            what: "a line count",
        }),
        [m, n] => Ok(Command::Top {
            msg: msg_num(m)?,
            lines: number_arg(n, ParseError::InvalidLineCount)?,
        }),
        _ => Err(ParseError::TooManyArguments { command: "TOP" }),
    }
}

/// Parses one client line of an AUTH exchange.
///
/// RFC 5034 section 4: `*(CRLF [base64]) [CRLF cancel-response]`,
/// `cancel-response = "*"`.
pub fn parse_sasl_response(line: &[u8]) -> Result<SaslResponse, ParseError> {
    if line == b"*" {
        return Ok(SaslResponse::Cancel);
    }
    decode_base64(line).map(|d| SaslResponse::Data(Secret::new(d)))
}
