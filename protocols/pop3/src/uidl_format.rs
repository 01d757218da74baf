//! The UIDL template: how a message's UID and the mailbox's UIDVALIDITY become its
//! POP3 unique-id, with Dovecot's `pop3_uidl_format` syntax so migrated users keep
//! their UIDLs (and clients do not download everything again).

use std::fmt::Write as _;

use crate::response::Uidl;

/// Dovecot's default `pop3_uidl_format`: UID then UIDVALIDITY, 8 upper-case hex digits each.
pub const DOVECOT_UIDL_FORMAT: &str = "%08Xu%08Xv";
/// Cyrus: `UIDVALIDITY.UID` in decimal.
pub const CYRUS_UIDL_FORMAT: &str = "%v.%u";
/// Courier (its POP3 UIDL version 2): `UIDVALIDITY-UID` in decimal.
pub const COURIER_UIDL_FORMAT: &str = "%v-%u";

/// Why a UIDL template is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UidlFormatError {
    /// `%` followed by something other than `[0][width][x|X](u|v)` or `%`.
    #[error("unknown placeholder at byte {0} (use %u, %v, %08Xu, %x... or %%)")]
    Placeholder(usize),
    /// Without `%u` two messages would share a UIDL.
    #[error("must contain %u (the message UID), or messages would share a UIDL")]
    NoUid,
    /// A character a unique-id may not contain (RFC 1939: 0x21..=0x7E).
    #[error("may only contain printable ASCII without spaces")]
    Char,
    /// Could exceed the 70 characters RFC 1939 allows.
    #[error("can produce more than 70 characters")]
    TooLong,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field {
        uid: bool,
        width: usize,
        zero: bool,
        hex: Option<bool>, // Some(upper)
    },
}

/// A parsed UIDL template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidlFormat {
    pieces: Vec<Piece>,
}

impl Default for UidlFormat {
    fn default() -> Self {
        UidlFormat::parse(DOVECOT_UIDL_FORMAT).unwrap_or(UidlFormat { pieces: Vec::new() })
    }
}

impl UidlFormat {
    /// Parses a template or one of the presets `dovecot`, `cyrus`, `courier`.
    ///
    /// `template = *(literal / "%%" / "%" ["0"] [width] ["x" / "X"] ("u" / "v"))`
    pub fn parse(text: &str) -> Result<UidlFormat, UidlFormatError> {
        let text = match text {
            "dovecot" => DOVECOT_UIDL_FORMAT,
            "cyrus" => CYRUS_UIDL_FORMAT,
            "courier" => COURIER_UIDL_FORMAT,
            t => t,
        };
        let bytes = text.as_bytes();
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut i = 0;
        let mut max_len = 0usize;
        let mut has_uid = false;
        while i < bytes.len() {
            let b = bytes[i];
            if b != b'%' {
                if !(0x21..=0x7e).contains(&b) {
                    return Err(UidlFormatError::Char);
                }
                literal.push(char::from(b));
                max_len += 1;
                i += 1;
                continue;
            }
            let start = i;
            i += 1;
            if bytes.get(i) == Some(&b'%') {
                literal.push('%');
                max_len += 1;
                i += 1;
                continue;
            }
            let zero = bytes.get(i) == Some(&b'0');
            if zero {
                i += 1;
            }
            let mut width = 0usize;
            while let Some(d) = bytes.get(i).filter(|d| d.is_ascii_digit()) {
                width = width * 10 + usize::from(d - b'0');
                if width > 70 {
                    return Err(UidlFormatError::TooLong);
                }
                i += 1;
            }
            let hex = match bytes.get(i) {
                Some(b'x') => Some(false),
                Some(b'X') => Some(true),
                _ => None,
            };
            if hex.is_some() {
                i += 1;
            }
            let uid = match bytes.get(i) {
                Some(b'u') => true,
                Some(b'v') => false,
                _ => return Err(UidlFormatError::Placeholder(start)),
            };
            i += 1;
            has_uid |= uid;
            // u32 is at most 10 decimal or 8 hex digits.
            max_len += width.max(if hex.is_some() { 8 } else { 10 });
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Field {
                uid,
                width,
                zero,
                hex,
            });
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        if !has_uid {
            return Err(UidlFormatError::NoUid);
        }
        if max_len > 70 {
            return Err(UidlFormatError::TooLong);
        }
        Ok(UidlFormat { pieces })
    }

    /// The unique-id of message `uid` in a mailbox with `uid_validity`.
    pub fn render(&self, uid: u32, uid_validity: u32) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(s) => out.push_str(s),
                &Piece::Field {
                    uid: is_uid,
                    width,
                    zero,
                    hex,
                } => {
                    let n = if is_uid { uid } else { uid_validity };
                    // Writing to a String cannot fail.
                    let _ = match (hex, zero) {
                        (Some(true), true) => write!(out, "{n:0width$X}"),
                        (Some(true), false) => write!(out, "{n:width$X}"),
                        (Some(false), true) => write!(out, "{n:0width$x}"),
                        (Some(false), false) => write!(out, "{n:width$x}"),
                        (None, true) => write!(out, "{n:0width$}"),
                        (None, false) => write!(out, "{n:width$}"),
                    };
                }
            }
        }
        out
    }

    /// The unique-id as a validated [`Uidl`]; a space-padded field (`%8u`) is the only
    /// way to produce an invalid one, and then the Dovecot default is used instead.
    pub fn uidl(&self, uid: u32, uid_validity: u32) -> Uidl {
        match Uidl::try_from(self.render(uid, uid_validity)) {
            Ok(u) => u,
            Err(_) => {
                let fallback = format!("{uid:08X}{uid_validity:08X}");
                Uidl::try_from(fallback).unwrap_or_else(|_| unreachable!("16 hex digits"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        let cases = [
            ("dovecot", 1, 1_700_000_000, "000000016553F100"),
            (DOVECOT_UIDL_FORMAT, 255, 1, "000000FF00000001"),
            ("cyrus", 42, 1_700_000_000, "1700000000.42"),
            ("courier", 42, 1_700_000_000, "1700000000-42"),
            ("%08xu%08xv", 255, 10, "000000ff0000000a"),
            ("%u", 7, 9, "7"),
            ("a%%b%u", 7, 9, "a%b7"),
            ("%010u", 7, 9, "0000000007"),
        ];
        for (fmt, uid, uv, want) in cases {
            let f = UidlFormat::parse(fmt).unwrap_or_else(|e| panic!("{fmt}: {e}"));
            assert_eq!(f.render(uid, uv), want, "{fmt}");
            assert_eq!(f.uidl(uid, uv).as_str(), want);
        }
        assert_eq!(UidlFormat::default().render(1, 2), "0000000100000002");
        // Space padding would be invalid on the wire: the default steps in.
        let padded = UidlFormat::parse("%8u").expect("parses");
        assert_eq!(padded.uidl(1, 2).as_str(), "0000000100000002");
    }

    #[test]
    fn bad_templates() {
        let cases = [
            ("%v", UidlFormatError::NoUid),
            ("", UidlFormatError::NoUid),
            ("%f", UidlFormatError::Placeholder(0)),
            ("x%u%", UidlFormatError::Placeholder(3)),
            ("%u %v", UidlFormatError::Char),
            ("%u\u{e9}", UidlFormatError::Char),
            ("%70u%u", UidlFormatError::TooLong),
            ("%999999999999u", UidlFormatError::TooLong),
        ];
        for (fmt, err) in cases {
            assert_eq!(UidlFormat::parse(fmt), Err(err), "{fmt:?}");
        }
    }
}
