//! Text for SEARCH: decoded header values, decoded text of the text parts, and
//! case-insensitive matching with Unicode simple case folding.

use mail_parser::{HeaderValue, MessageParser};

use crate::header;
use crate::section::{charset_text, decode_body};
use crate::structure::{BodyPart, PartKind, body_structure};

/// Every value of header `name` in the message's top-level header, RFC 2047-decoded to
/// UTF-8 with folding removed (for SEARCH HEADER/FROM/TO/SUBJECT...).
pub fn header_values(msg: &[u8], name: &str) -> Vec<String> {
    let h = header::parse(msg, 0, msg.len(), &|_| false);
    h.fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| decode_unstructured(&f.value))
        .collect()
}

/// RFC 2047-decodes a header value by letting mail-parser read it as an unstructured
/// field (as a Subject, which it always decodes); falls back to the raw text (lossy
/// UTF-8, unfolded) if it cannot.
fn decode_unstructured(value: &[u8]) -> String {
    let mut fake = b"Subject: ".to_vec();
    fake.extend_from_slice(value);
    fake.extend_from_slice(b"\n\n");
    let parsed = MessageParser::default().parse_headers(&fake[..]);
    let text = parsed.as_ref().and_then(|m| match m.header("Subject") {
        Some(HeaderValue::Text(t)) => Some(t.to_string()),
        Some(HeaderValue::TextList(l)) => Some(l.join(", ")),
        _ => None,
    });
    text.unwrap_or_else(|| {
        String::from_utf8_lossy(value)
            .split(['\r', '\n'])
            .collect::<Vec<_>>()
            .join("")
    })
}

/// The decoded text of every text/* part (transfer encoding undone, charset converted to
/// UTF-8 where mail-parser knows the charset, else lossy UTF-8), joined by newlines, for
/// SEARCH BODY and TEXT. Walks our own depth-capped tree: mail-parser's recursion
/// overflows the stack on hostile nesting.
pub fn body_text(msg: &[u8]) -> String {
    let tree = body_structure(msg);
    let mut out = String::new();
    collect_text(msg, &tree, &mut out);
    out
}

fn collect_text(msg: &[u8], part: &BodyPart, out: &mut String) {
    if part.kind != PartKind::Leaf {
        for c in &part.children {
            collect_text(msg, c, out);
        }
        return;
    }
    let is_text = part
        .content_type
        .as_ref()
        .is_none_or(|(t, _)| t.eq_ignore_ascii_case(b"text"));
    if !is_text {
        return;
    }
    let bytes = match decode_body(msg, part) {
        Ok((b, _)) => b,
        // An unknown encoding is still searched as it is stored.
        Err(_) => crate::crlf(&msg[part.body_start as usize..part.body_end as usize]),
    };
    let text = charset_text(part, &bytes);
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&text);
}

/// Simple case folding of one char: its lowercase when that is a single char (full
/// foldings that expand, like ß -> ss, are not applied, matching "simple" folding).
fn fold(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Whether `needle` occurs in `haystack`, ignoring case (Unicode simple case folding).
/// An empty needle matches everything, as in IMAP SEARCH.
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    let n: Vec<char> = needle.chars().map(fold).collect();
    if n.is_empty() {
        return true;
    }
    let h: Vec<char> = haystack.chars().map(fold).collect();
    h.windows(n.len()).any(|w| w == n.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_ci_table() {
        let cases = [
            ("Hello World", "world", true),
            ("Hello World", "WORLD", true),
            ("ÄRGER", "ärger", true),
            ("Straße", "STRASSE", false),
            ("ΣΊΣΥΦΟΣ", "σίσυφοσ", true),
            ("abc", "", true),
            ("", "a", false),
            ("ab", "abc", false),
        ];
        for (h, n, want) in cases {
            assert_eq!(contains_ci(h, n), want, "{h:?} {n:?}");
        }
    }

    #[test]
    fn header_values_decode_rfc2047() {
        let msg = b"Subject: =?ISO-8859-1?Q?Andr=E9?= says\n =?UTF-8?B?SGk=?=\nsubject: two\n\nx";
        assert_eq!(header_values(msg, "SUBJECT"), ["André says Hi", "two"]);
    }

    #[test]
    fn body_text_decodes_parts() {
        let msg = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\
            Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n\
            caf=E9\n--b\nContent-Type: application/octet-stream\n\nbinary\n--b--\n";
        let t = body_text(msg);
        assert!(t.contains("café"), "{t:?}");
        assert!(!t.contains("binary"), "{t:?}");
    }
}
