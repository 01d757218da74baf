//! IMAP string output the way Dovecot writes it (`imap-quote.c` semantics).

/// Writers for IMAP `string` / `nstring` values.
pub struct ImapString;

/// Dovecot switches from quoted to literal after this many `"`/`\` to escape, where the
/// literal's `{n}\r\n` overhead becomes the smaller one for typical lengths.
const QUOTED_MAX_ESCAPES: usize = 4;

impl ImapString {
    /// `nstring`: NIL, a quoted string, or a literal for 8-bit, CR, LF or many escapes.
    pub fn nstring(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            None => out.extend_from_slice(b"NIL"),
            Some(v) => Self::string(out, v),
        }
    }

    /// `string`: quoted when it can be, else a literal `{n}\r\n...`.
    pub fn string(out: &mut Vec<u8>, v: &[u8]) {
        let mut escapes = 0;
        for &b in v {
            let literal = match b {
                b'"' | b'\\' => {
                    escapes += 1;
                    escapes > QUOTED_MAX_ESCAPES
                }
                b'\r' | b'\n' | 0 => true,
                _ => b >= 0x80,
            };
            if literal {
                Self::literal(out, v);
                return;
            }
        }
        out.push(b'"');
        for &b in v {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }

    /// A synchronizing literal `{n}\r\n` followed by the bytes.
    pub fn literal(out: &mut Vec<u8>, v: &[u8]) {
        out.extend_from_slice(format!("{{{}}}\r\n", v.len()).as_bytes());
        out.extend_from_slice(v);
    }

    /// Header text meant for people (ENVELOPE subject and display names): line breaks
    /// removed, runs of blanks collapsed to one space, ends trimmed, NUL shown as 0x80.
    /// Anything that needed changing is sent as a literal, as Dovecot does.
    pub fn for_humans(out: &mut Vec<u8>, v: &[u8]) {
        let needs_change = v
            .iter()
            .any(|&b| matches!(b, 0 | b'\t' | b'\r' | b'\n' | b'"' | b'\\') || b >= 0x80)
            || v.windows(2).any(|w| w == b"  ")
            || v.first() == Some(&b' ')
            || v.last() == Some(&b' ');
        if !needs_change {
            out.push(b'"');
            out.extend_from_slice(v);
            out.push(b'"');
            return;
        }
        let mut clean = Vec::with_capacity(v.len());
        let mut last_blank = true;
        for &b in v {
            match b {
                b'\t' | b' ' => {
                    if !last_blank {
                        clean.push(b' ');
                    }
                    last_blank = true;
                }
                b'\r' | b'\n' => {}
                0 => {
                    clean.push(0x80);
                    last_blank = false;
                }
                _ => {
                    clean.push(b);
                    last_blank = false;
                }
            }
        }
        if last_blank && clean.last() == Some(&b' ') {
            clean.pop();
        }
        if clean.is_empty() {
            out.extend_from_slice(b"\"\"");
        } else {
            Self::literal(out, &clean);
        }
    }

    /// Header text with its folding removed (ENVELOPE date, message-id, in-reply-to): a
    /// line break is dropped, or becomes a space if the next line does not start with one.
    pub fn nolf(out: &mut Vec<u8>, v: Option<&[u8]>) {
        let Some(v) = v else {
            out.extend_from_slice(b"NIL");
            return;
        };
        if !v.iter().any(|&b| b == b'\r' || b == b'\n') {
            Self::string(out, v);
            return;
        }
        let mut clean = Vec::with_capacity(v.len());
        for (i, &b) in v.iter().enumerate() {
            if b != b'\r' && b != b'\n' {
                clean.push(b);
            } else if !matches!(v.get(i + 1), Some(b' ' | b'\t' | b'\r' | b'\n') | None) {
                clean.push(b' ');
            }
        }
        Self::string(out, &clean);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn string_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "\"\""),
            (b"plain", "\"plain\""),
            (b"a \"b\"", "\"a \\\"b\\\"\""),
            (b"\"\"\"\"\"", "{5}\r\n\"\"\"\"\""),
            (b"caf\xc3\xa9", "{5}\r\ncaf\u{e9}"),
            (b"two\r\nlines", "{10}\r\ntwo\r\nlines"),
        ];
        for (input, want) in cases {
            assert_eq!(s(|o| ImapString::string(o, input)), *want, "{input:?}");
        }
        assert_eq!(s(|o| ImapString::nstring(o, None)), "NIL");
    }

    #[test]
    fn for_humans_table() {
        let cases: &[(&[u8], &str)] = &[
            (b"Hello", "\"Hello\""),
            (b"a\n  b\tc", "{5}\r\na b c"),
            (b"say \"hi\"", "{8}\r\nsay \"hi\""),
            (b"  ", "\"\""),
            (b"x ", "{1}\r\nx"),
        ];
        for (input, want) in cases {
            assert_eq!(s(|o| ImapString::for_humans(o, input)), *want, "{input:?}");
        }
    }

    #[test]
    fn nolf_table() {
        assert_eq!(s(|o| ImapString::nolf(o, Some(b"a\n b"))), "\"a b\"");
        assert_eq!(s(|o| ImapString::nolf(o, Some(b"a\nb"))), "\"a b\"");
        assert_eq!(s(|o| ImapString::nolf(o, None)), "NIL");
    }
}
