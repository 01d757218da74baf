//! Server responses: status lines, multi-line lists and SASL challenges.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::command::MsgNum;

/// Longest status line we send, in octets including CRLF.
/// RFC 2449 section 4: "response ... up to 512 octets, including the
/// terminating CRLF"; longer text is cut so old clients never choke.
pub const MAX_RESPONSE_LINE: usize = 512;

/// Extended response codes sent as `-ERR [CODE] text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RespCode {
    /// `IN-USE` (RFC 2449): the maildrop is locked by another session.
    InUse,
    /// `LOGIN-DELAY` (RFC 2449): logged in too recently.
    LoginDelay,
    /// `SYS/TEMP` (RFC 3206): transient server problem, retry later.
    SysTemp,
    /// `SYS/PERM` (RFC 3206): permanent server problem.
    SysPerm,
    /// `AUTH` (RFC 3206): the credentials are wrong.
    Auth,
    /// `UTF8` (RFC 6856): the command needs UTF8 mode first.
    Utf8,
}

impl RespCode {
    /// The code as it appears between the brackets.
    pub fn as_str(self) -> &'static str {
        match self {
            RespCode::InUse => "IN-USE",
            RespCode::LoginDelay => "LOGIN-DELAY",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
            RespCode::Auth => "AUTH",
            RespCode::Utf8 => "UTF8",
        }
    }
}

impl fmt::Display for RespCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a valid UIDL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidlError {
    /// Empty or longer than 70 characters.
    #[error("a unique-id must be 1 to 70 characters long, got {0}")]
    Length(usize),
    /// A character outside 0x21..=0x7E.
    #[error("a unique-id may only contain printable ASCII without space, found byte {0:#04x}")]
    Char(u8),
}

/// A unique-id listing value. RFC 1939 section 7: "The unique-id of a
/// message ... consists of one to 70 characters in the range of 0x21 to 0x7E".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uidl(String);

impl Uidl {
    /// The validated value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Uidl {
    type Error = UidlError;

    fn try_from(s: &str) -> Result<Self, UidlError> {
        if s.is_empty() || s.len() > 70 {
            return Err(UidlError::Length(s.len()));
        }
        match s.bytes().find(|b| !(0x21..=0x7e).contains(b)) {
            Some(b) => Err(UidlError::Char(b)),
            None => Ok(Uidl(s.to_owned())),
        }
    }
}

impl TryFrom<String> for Uidl {
    type Error = UidlError;

    fn try_from(s: String) -> Result<Self, UidlError> {
        Uidl::try_from(s.as_str())
    }
}

impl fmt::Display for Uidl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One response, ready to be encoded to wire bytes.
///
/// Free text is sanitized when encoded: CR, LF and NUL become spaces so that
/// text echoing client input can never inject a line, and status lines are
/// cut to [`MAX_RESPONSE_LINE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `+OK [text]`.
    Ok(String),
    /// `-ERR [[CODE] ]text`.
    Err {
        /// Optional extended response code.
        code: Option<RespCode>,
        /// Human-readable text.
        text: String,
    },
    /// `+OK [text]`, then each line (dot-stuffed), then `.`.
    MultiLine {
        /// Text of the first line.
        text: String,
        /// Body lines without line endings.
        lines: Vec<String>,
    },
    /// SASL server challenge: `+ base64` (RFC 5034); data is raw bytes.
    Continue(Vec<u8>),
}

impl Response {
    /// `+OK text`.
    pub fn ok(text: impl Into<String>) -> Self {
        Response::Ok(text.into())
    }

    /// `-ERR text`.
    pub fn err(text: impl Into<String>) -> Self {
        Response::Err {
            code: None,
            text: text.into(),
        }
    }

    /// `-ERR [CODE] text`.
    pub fn err_code(code: RespCode, text: impl Into<String>) -> Self {
        Response::Err {
            code: Some(code),
            text: text.into(),
        }
    }

    /// A multi-line `+OK` response with its terminating `.` line.
    pub fn multi_line(text: impl Into<String>, lines: Vec<String>) -> Self {
        Response::MultiLine {
            text: text.into(),
            lines,
        }
    }

    /// SASL challenge `+ base64(data)`; empty data gives `+ `.
    pub fn sasl_challenge(data: &[u8]) -> Self {
        Response::Continue(data.to_vec())
    }

    /// `STAT` answer: `+OK count size` (RFC 1939 "drop listing").
    pub fn stat(count: u32, size: u64) -> Self {
        Response::Ok(format!("{count} {size}"))
    }

    /// `LIST msg` answer: `+OK msg size` (RFC 1939 "scan listing").
    pub fn scan_listing(msg: MsgNum, size: u64) -> Self {
        Response::Ok(format!("{msg} {size}"))
    }

    /// `LIST` answer: one `msg size` line per message.
    pub fn scan_listings(entries: &[(MsgNum, u64)]) -> Self {
        let lines = entries.iter().map(|(m, s)| format!("{m} {s}")).collect();
        Response::multi_line(format!("{} messages", entries.len()), lines)
    }

    /// `UIDL msg` answer: `+OK msg unique-id`.
    pub fn unique_id_listing(msg: MsgNum, uidl: &Uidl) -> Self {
        Response::Ok(format!("{msg} {uidl}"))
    }

    /// `UIDL` answer: one `msg unique-id` line per message.
    pub fn unique_id_listings(entries: &[(MsgNum, Uidl)]) -> Self {
        let lines = entries.iter().map(|(m, u)| format!("{m} {u}")).collect();
        Response::multi_line("", lines)
    }

    /// `CAPA` answer (RFC 2449): one capability per line.
    pub fn capabilities<S: AsRef<str>>(caps: &[S]) -> Self {
        let lines = caps.iter().map(|c| c.as_ref().to_owned()).collect();
        Response::multi_line("Capability list follows", lines)
    }

    /// Appends the wire bytes of this response to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Response::Ok(text) => status_line(out, "+OK", None, text),
            Response::Err { code, text } => status_line(out, "-ERR", *code, text),
            Response::MultiLine { text, lines } => {
                status_line(out, "+OK", None, text);
                for line in lines {
                    let start = out.len();
                    if line.starts_with('.') {
                        out.push(b'.');
                    }
                    push_sanitized(out, line);
                    cap_line(out, start);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b".\r\n");
            }
            Response::Continue(data) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(BASE64.encode(data).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// The wire bytes of this response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn status_line(out: &mut Vec<u8>, status: &str, code: Option<RespCode>, text: &str) {
    let start = out.len();
    out.extend_from_slice(status.as_bytes());
    if let Some(code) = code {
        out.extend_from_slice(b" [");
        out.extend_from_slice(code.as_str().as_bytes());
        out.push(b']');
    }
    if !text.is_empty() {
        out.push(b' ');
        push_sanitized(out, text);
    }
    cap_line(out, start);
    out.extend_from_slice(b"\r\n");
}

fn push_sanitized(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().map(|b| match b {
        b'\r' | b'\n' | b'\0' => b' ',
        b => b,
    }));
}

/// Cuts the line begun at `start` so that it plus CRLF fits the limit,
/// backing up to a UTF-8 character boundary.
fn cap_line(out: &mut Vec<u8>, start: usize) {
    let max = start + MAX_RESPONSE_LINE - 2;
    if out.len() <= max {
        return;
    }
    let mut end = max;
    // 0b10xx_xxxx bytes continue a UTF-8 character.
    while end > start && out[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    out.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u32) -> MsgNum {
        MsgNum::try_from(n).expect("non-zero test number")
    }

    fn uidl(s: &str) -> Uidl {
        Uidl::try_from(s).expect("valid test uidl")
    }

    #[test]
    fn known_answers() {
        let cases: Vec<(Response, &str)> = vec![
            (Response::ok(""), "+OK\r\n"),
            (Response::ok("POP3 ready"), "+OK POP3 ready\r\n"),
            (Response::err("No such message"), "-ERR No such message\r\n"),
            (Response::err(""), "-ERR\r\n"),
            (
                Response::err_code(RespCode::InUse, "Mailbox locked"),
                "-ERR [IN-USE] Mailbox locked\r\n",
            ),
            (
                Response::err_code(RespCode::LoginDelay, "Wait"),
                "-ERR [LOGIN-DELAY] Wait\r\n",
            ),
            (
                Response::err_code(RespCode::SysTemp, "Try later"),
                "-ERR [SYS/TEMP] Try later\r\n",
            ),
            (
                Response::err_code(RespCode::SysPerm, "Broken"),
                "-ERR [SYS/PERM] Broken\r\n",
            ),
            (
                Response::err_code(RespCode::Auth, "Bad password"),
                "-ERR [AUTH] Bad password\r\n",
            ),
            (
                Response::err_code(RespCode::Utf8, "Need UTF8"),
                "-ERR [UTF8] Need UTF8\r\n",
            ),
            (Response::sasl_challenge(b""), "+ \r\n"),
            (Response::sasl_challenge(b"hi there"), "+ aGkgdGhlcmU=\r\n"),
            (Response::stat(2, 320), "+OK 2 320\r\n"),
            (Response::scan_listing(msg(2), 200), "+OK 2 200\r\n"),
            (
                Response::scan_listings(&[(msg(1), 120), (msg(2), 200)]),
                "+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n",
            ),
            (Response::scan_listings(&[]), "+OK 0 messages\r\n.\r\n"),
            (
                Response::unique_id_listing(msg(2), &uidl("QhdPYR:00WBw1Ph7x7")),
                "+OK 2 QhdPYR:00WBw1Ph7x7\r\n",
            ),
            (
                Response::unique_id_listings(&[(msg(1), uidl("whqtswO00WBw418f9t5JxYwZ"))]),
                "+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n.\r\n",
            ),
            (
                Response::capabilities(&["USER", "UIDL", "SASL PLAIN"]),
                "+OK Capability list follows\r\nUSER\r\nUIDL\r\nSASL PLAIN\r\n.\r\n",
            ),
            (
                Response::multi_line("x", vec![".".into(), ".a".into(), "b.".into()]),
                "+OK x\r\n..\r\n..a\r\nb.\r\n.\r\n",
            ),
            (
                Response::err("evil\r\n+OK injected\0"),
                "-ERR evil  +OK injected \r\n",
            ),
        ];
        for (resp, want) in cases {
            assert_eq!(String::from_utf8_lossy(&resp.to_bytes()), want, "{resp:?}");
        }
    }

    #[test]
    fn long_text_is_capped_at_512_octets_on_a_char_boundary() {
        let resp = Response::err("é".repeat(400));
        let bytes = resp.to_bytes();
        assert!(bytes.len() <= MAX_RESPONSE_LINE, "{}", bytes.len());
        assert!(bytes.ends_with(b"\r\n"));
        let text = std::str::from_utf8(&bytes).expect("still UTF-8 after the cut");
        assert!(text.starts_with("-ERR é"));
        let ok = Response::ok("a".repeat(600)).to_bytes();
        assert_eq!(ok.len(), MAX_RESPONSE_LINE);
    }

    #[test]
    fn uidl_validation() {
        let long70 = "x".repeat(70);
        let long71 = "x".repeat(71);
        let good = ["a", "!", "~", long70.as_str(), "QhdPYR:00WBw1Ph7x7"];
        for g in good {
            assert_eq!(Uidl::try_from(g).map(|u| u.to_string()), Ok(g.to_owned()));
        }
        let bad: [(&str, UidlError); 6] = [
            ("", UidlError::Length(0)),
            (long71.as_str(), UidlError::Length(71)),
            ("a b", UidlError::Char(b' ')),
            ("a\x7f", UidlError::Char(0x7f)),
            ("tab\t", UidlError::Char(b'\t')),
            ("é", UidlError::Char(0xc3)),
        ];
        for (b, err) in bad {
            assert_eq!(Uidl::try_from(b), Err(err), "{b:?}");
        }
    }
}
