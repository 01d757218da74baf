//! Message preview text (RFC 8970 FETCH PREVIEW), made the way Dovecot 2.3 makes it, so a
//! client sees the same preview from either server: the first text part only (other
//! parts before it are skipped), transfer encoding and charset undone, HTML turned into
//! text, runs of whitespace one space, quoted lines (`>`) left out unless they are all
//! there is, at most [`PREVIEW_MAX_CHARS`] characters.

use crate::section::{charset_text, decode_body};
use crate::structure::{BodyPart, PartKind, body_structure};

mod entities;

/// RFC 8970 3.1: a preview is at most 200 characters (not octets).
pub const PREVIEW_MAX_CHARS: usize = 200;

/// The preview text of `msg` ("" when it has no text part or the part is empty).
pub fn preview(msg: &[u8]) -> String {
    let tree = body_structure(msg);
    let Some(part) = first_text(&tree) else {
        return String::new();
    };
    let bytes = match decode_body(msg, part) {
        Ok((b, _)) => b,
        Err(_) => msg
            .get(part.body_start as usize..part.body_end as usize)
            .unwrap_or_default()
            .to_vec(),
    };
    let text = charset_text(part, &bytes);
    let html = part
        .content_type
        .as_ref()
        .is_some_and(|(t, s)| t.eq_ignore_ascii_case(b"text") && s.eq_ignore_ascii_case(b"html"));
    if html {
        snippet(&html_to_text(&text), false)
    } else {
        snippet(&text, true)
    }
}

/// The first leaf that is text (or has no Content-Type), depth first; encapsulated
/// messages are not looked into.
fn first_text(part: &BodyPart) -> Option<&BodyPart> {
    match part.kind {
        PartKind::Leaf => part
            .content_type
            .as_ref()
            .is_none_or(|(t, _)| t.eq_ignore_ascii_case(b"text"))
            .then_some(part),
        PartKind::Multipart => part.children.iter().find_map(first_text),
        PartKind::Message => None,
    }
}

/// Collects text with whitespace runs folded to one space and no leading space, up to
/// the character limit.
struct Collector {
    text: String,
    chars: usize,
    limit: usize,
    pending_space: bool,
}

impl Collector {
    fn new(limit: usize) -> Collector {
        Collector {
            text: String::new(),
            chars: 0,
            limit,
            pending_space: false,
        }
    }

    fn space(&mut self) {
        if !self.text.is_empty() {
            self.pending_space = true;
        }
    }

    /// Adds `c`; false once the limit is reached.
    fn push(&mut self, c: char) -> bool {
        if self.pending_space {
            self.pending_space = false;
            if !self.add(' ') {
                return false;
            }
        }
        self.add(c)
    }

    fn add(&mut self, c: char) -> bool {
        if self.chars >= self.limit {
            return false;
        }
        self.text.push(c);
        self.chars += 1;
        true
    }

    fn finish(self) -> String {
        self.text.trim_end_matches(' ').to_string()
    }
}

/// The preview of decoded text; in plain text, lines starting with `>` go to a separate
/// quoted preview that is used (after a `>`) only when there is nothing else.
fn snippet(text: &str, plain: bool) -> String {
    let mut main = Collector::new(PREVIEW_MAX_CHARS);
    // The `>` it gets in front counts too.
    let mut quoted = Collector::new(PREVIEW_MAX_CHARS - 1);
    let mut line_start = true;
    let mut in_quote = false;
    for c in text.chars() {
        if line_start && plain && c == '>' {
            in_quote = true;
            line_start = false;
            continue;
        }
        line_start = false;
        let target = if in_quote { &mut quoted } else { &mut main };
        match c {
            '\u{feff}' | '\0' => {}
            '\r' | '\t' | ' ' => target.space(),
            '\n' => {
                target.space();
                line_start = true;
                in_quote = false;
            }
            _ => {
                if !target.push(c) && !in_quote {
                    break;
                }
            }
        }
    }
    let main = main.finish();
    if main.is_empty() {
        let quoted = quoted.finish();
        if !quoted.is_empty() {
            return format!(">{quoted}");
        }
    }
    main
}

/// HTML to plain text for the preview: tags become spaces, comments and the contents of
/// `script`, `style` and `blockquote` are dropped, character references decoded (unknown
/// names vanish).
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                rest = skip_markup(rest);
                out.push(' ');
            }
            '&' => {
                let (decoded, after) = entity(rest);
                out.push_str(&decoded);
                rest = after;
            }
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Skips the markup starting at `<`: a comment, a tag, or a tag with content that is
/// never shown.
fn skip_markup(s: &str) -> &str {
    if let Some(after) = s.strip_prefix("<!--") {
        return after.find("-->").map_or("", |e| &after[e + 3..]);
    }
    let end = s.find('>').map_or(s.len(), |e| e + 1);
    let tag = &s[1..end.saturating_sub(1).max(1)];
    let name: String = tag
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let rest = &s[end..];
    if !matches!(name.as_str(), "script" | "style" | "blockquote") {
        return rest;
    }
    // Skip to the matching end tag (blockquotes nest).
    let (open, close) = (format!("<{name}"), format!("</{name}"));
    let lower = rest.to_ascii_lowercase();
    let mut depth = 1;
    let mut at = 0;
    while depth > 0 {
        let next_close = lower[at..].find(&close).map(|p| p + at);
        let next_open = lower[at..].find(&open).map(|p| p + at);
        match (next_open, next_close) {
            (Some(o), Some(c)) if o < c && name == "blockquote" => {
                depth += 1;
                at = o + open.len();
            }
            (_, Some(c)) => {
                depth -= 1;
                at = c + close.len();
            }
            (_, None) => return "",
        }
    }
    let tail = &rest[at..];
    tail.find('>').map_or("", |e| &tail[e + 1..])
}

/// A character reference at `&`: its text and the input after it. `&` not starting a
/// reference stays as it is.
fn entity(s: &str) -> (String, &str) {
    let body = &s[1..];
    let len = body
        .chars()
        .take(32)
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '#')
        .count();
    if !body[len..].starts_with(';') || len == 0 {
        return ("&".to_string(), body);
    }
    let name = &body[..len];
    let after = &body[len + 1..];
    let code = if let Some(num) = name.strip_prefix('#') {
        match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse().ok(),
        }
    } else {
        entities::ENTITIES
            .binary_search_by_key(&name, |(n, _)| n)
            .ok()
            .map(|i| entities::ENTITIES[i].1)
    };
    let text = code
        .and_then(char::from_u32)
        .map(String::from)
        .unwrap_or_default();
    (text, after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_table() {
        let cases: &[(&str, &str)] = &[
            (
                "Subject: a\n\n> quoted line\nHello   world,\n\nthis is the <b>x</b> text.\n-- \nsig\n",
                "Hello world, this is the <b>x</b> text. -- sig",
            ),
            ("Subject: a\n\n> only quoted\n> more\n", ">only quoted more"),
            ("Subject: a\n\n\n", ""),
            ("Content-Type: image/png\n\nAAAA\n", ""),
            (
                "Content-Type: text/html\n\n<p>a &amp; caf&eacute;</p><style>x</style>b&bogus;c &copy; &#233;&#xE9; x & y",
                "a & café bc © éé x & y",
            ),
            (
                "Content-Type: text/html\n\n<!-- c -->d<blockquote>q<blockquote>r</blockquote>s</blockquote>e",
                "d e",
            ),
            (
                "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: image/png\n\nxx\n--B\nContent-Type: text/plain\n\ntext\n--B\n\nsecond\n--B--\n",
                "text",
            ),
            (
                "Content-Type: message/rfc822\n\nSubject: inner\n\ninner body\n",
                "",
            ),
            (
                "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 =\nsoft\n",
                "Café soft",
            ),
            ("Subject: a\n\n\u{feff}bom text\n", "bom text"),
        ];
        for (msg, want) in cases {
            assert_eq!(preview(msg.as_bytes()), *want, "{msg:?}");
        }
    }

    #[test]
    fn preview_is_at_most_200_characters() {
        let words = format!("Subject: a\n\n{}\n", "word ".repeat(60));
        let p = preview(words.as_bytes());
        assert_eq!(p.chars().count(), 199);
        let wide = format!("Subject: a\n\n{}\n", "é".repeat(300));
        assert_eq!(preview(wide.as_bytes()).chars().count(), 200);
    }
}
