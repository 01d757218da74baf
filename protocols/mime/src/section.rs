//! Body sections (RFC 3501 section 6.4.5; RFC 9051 section 6.4.5) and BINARY (RFC 3516),
//! resolved the way Dovecot does (`imap-msgpart.c` semantics): a missing part is an empty
//! string, not an error. Partial `<origin.count>` is applied by the caller to the result.

use base64::Engine as _;
use mail_parser::decoders::charsets::map::charset_decoder;

use crate::header;
use crate::structure::{BodyPart, PartKind};
use crate::{MimeError, crlf};

/// What of a part a section asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`: the (encapsulated) message's header, with its empty line.
    Header,
    /// `HEADER.FIELDS (names)`: only those fields, then an empty line.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`: all but those fields.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`: the (encapsulated) message's body.
    Text,
    /// `MIME`: the part's own MIME header (only with a part number).
    Mime,
}

/// `section = "[" [section-spec] "]"`: a part path (`1.2.3`, empty for the message
/// itself) and an optional text specifier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionSpec {
    /// Part numbers, each 1-based; empty for the whole message.
    pub part: Vec<u32>,
    /// Text specifier; None means the whole message (empty path) or the part's body.
    pub text: Option<SectionText>,
}

/// Decoded content for BINARY[section] (and BINARY.SIZE, its length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary {
    /// The content-transfer-decoded bytes.
    pub data: Vec<u8>,
    /// True when something was decoded: Dovecot then sends a `~{n}` literal8.
    pub literal8: bool,
}

/// Finds a part by path like Dovecot: a non-multipart part only has sub-part 1 (itself),
/// and a path continues into a message/rfc822 part's encapsulated message.
fn find<'a>(root: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    let mut part = root;
    for (i, &num) in path.iter().enumerate() {
        let more = i + 1 < path.len();
        if part.kind == PartKind::Multipart {
            part = part.children.get((num as usize).checked_sub(1)?)?;
        } else if num != 1 || (more && part.kind != PartKind::Message) {
            return None;
        }
        if more && part.kind == PartKind::Message {
            part = part.children.first()?;
        }
    }
    Some(part)
}

fn slice(msg: &[u8], from: u64, to: u64) -> &[u8] {
    let len = msg.len() as u64;
    let (from, to) = (from.min(len) as usize, to.min(len) as usize);
    &msg[from..to.max(from)]
}

/// The bytes of a section (CRLF line ends), before any partial range.
/// `tree` must be `body_structure(msg)` (or its cached copy).
pub fn section(msg: &[u8], tree: &BodyPart, spec: &SectionSpec) -> Vec<u8> {
    let target = if spec.part.is_empty() {
        tree
    } else {
        let Some(p) = find(tree, &spec.part) else {
            return Vec::new();
        };
        match spec.text {
            None => return crlf(slice(msg, p.body_start, p.body_end)),
            Some(SectionText::Mime) => return crlf(slice(msg, p.header_start, p.body_start)),
            Some(_) if p.kind == PartKind::Message => match p.children.first() {
                Some(c) => c,
                None => return Vec::new(),
            },
            Some(_) => return Vec::new(),
        }
    };
    let header = slice(msg, target.header_start, target.body_start);
    match &spec.text {
        None => crlf(slice(msg, target.header_start, target.body_end)),
        Some(SectionText::Header | SectionText::Mime) => crlf(header),
        Some(SectionText::Text) => crlf(slice(msg, target.body_start, target.body_end)),
        Some(SectionText::HeaderFields(names)) => {
            let h = header::parse(header, 0, header.len(), &|_| false);
            let mut out = Vec::new();
            for f in h.fields.iter().filter(|f| wanted(f.name, names)) {
                out.extend_from_slice(&crlf(f.raw));
            }
            out.extend_from_slice(b"\r\n");
            out
        }
        Some(SectionText::HeaderFieldsNot(names)) => {
            let h = header::parse(header, 0, header.len(), &|_| false);
            let mut out = Vec::new();
            let mut pos = 0;
            for f in h.fields.iter().filter(|f| wanted(f.name, names)) {
                let start = f.raw.as_ptr() as usize - header.as_ptr() as usize;
                out.extend_from_slice(&header[pos..start]);
                pos = start + f.raw.len();
            }
            out.extend_from_slice(&header[pos..]);
            crlf(&out)
        }
    }
}

fn wanted(name: &[u8], names: &[String]) -> bool {
    names
        .iter()
        .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// BINARY[part]: the part's body with its Content-Transfer-Encoding undone. For a
/// multipart or message/rfc822 part, every leaf inside is decoded in place and its
/// Content-Transfer-Encoding field is replaced by a final
/// `Content-Transfer-Encoding: binary`, as Dovecot writes it. An empty path
/// is the whole message. A missing part is empty.
pub fn binary(msg: &[u8], tree: &BodyPart, part: &[u32]) -> Result<Binary, MimeError> {
    let (p, with_header) = if part.is_empty() {
        (tree, true)
    } else {
        match find(tree, part) {
            Some(p) => (p, false),
            None => {
                return Ok(Binary {
                    data: Vec::new(),
                    literal8: false,
                });
            }
        }
    };
    let mut out = Binary {
        data: Vec::new(),
        literal8: false,
    };
    if p.kind == PartKind::Leaf && !with_header {
        let (data, decoded) = decode_body(msg, p)?;
        out.data = data;
        out.literal8 = decoded;
        return Ok(out);
    }
    let mut cursor = if with_header {
        p.header_start
    } else {
        p.body_start
    };
    splice(msg, p, &mut cursor, &mut out)?;
    out.data
        .extend_from_slice(&crlf(slice(msg, cursor, p.body_end)));
    Ok(out)
}

/// Appends everything from `cursor` through the leaves under `p`, decoding them.
fn splice(msg: &[u8], p: &BodyPart, cursor: &mut u64, out: &mut Binary) -> Result<(), MimeError> {
    if p.kind != PartKind::Leaf {
        for c in &p.children {
            splice(msg, c, cursor, out)?;
        }
        return Ok(());
    }
    let (data, decoded) = decode_body(msg, p)?;
    if decoded {
        // Copy up to this part's header, then the header with its CTE now "binary".
        out.data
            .extend_from_slice(&crlf(slice(msg, *cursor, p.header_start)));
        let header = slice(msg, p.header_start, p.body_start);
        let h = header::parse(header, 0, header.len(), &|_| false);
        // Dovecot drops the old field and states the new encoding last.
        let fields_end = h.fields.last().map_or(0, |f| {
            f.raw.as_ptr() as usize - header.as_ptr() as usize + f.raw.len()
        });
        let mut pos = 0;
        for f in &h.fields {
            if f.name.eq_ignore_ascii_case(b"Content-Transfer-Encoding") {
                let start = f.raw.as_ptr() as usize - header.as_ptr() as usize;
                out.data.extend_from_slice(&crlf(&header[pos..start]));
                pos = start + f.raw.len();
            }
        }
        out.data
            .extend_from_slice(&crlf(&header[pos..fields_end.max(pos)]));
        out.data
            .extend_from_slice(b"Content-Transfer-Encoding: binary\r\n");
        pos = fields_end.max(pos);
        out.data.extend_from_slice(&crlf(&header[pos..]));
        out.literal8 = true;
    } else {
        out.data
            .extend_from_slice(&crlf(slice(msg, *cursor, p.body_start)));
    }
    out.data.extend_from_slice(&data);
    *cursor = p.body_end;
    Ok(())
}

/// A text part's decoded bytes as characters: through its `charset` parameter when
/// mail-parser knows it, else as UTF-8 with invalid sequences replaced.
pub(crate) fn charset_text(p: &BodyPart, bytes: &[u8]) -> String {
    let charset = p
        .params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
        .map(|(_, v)| v.as_slice());
    match charset.and_then(charset_decoder) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A leaf's decoded body and whether decoding changed anything.
pub(crate) fn decode_body(msg: &[u8], p: &BodyPart) -> Result<(Vec<u8>, bool), MimeError> {
    let body = slice(msg, p.body_start, p.body_end);
    match p.transfer_encoding().as_str() {
        "7bit" | "8bit" | "binary" => Ok((crlf(body), false)),
        "base64" => Ok((decode_base64(body), true)),
        "quoted-printable" => Ok((decode_qp(&crlf(body)), true)),
        other => Err(MimeError::UnknownCte(other.to_string())),
    }
}

/// Base64 ignoring line breaks and junk, stopping at padding; a dangling sextet is dropped.
pub(crate) fn decode_base64(body: &[u8]) -> Vec<u8> {
    let mut clean: Vec<u8> = body
        .iter()
        .copied()
        .take_while(|&b| b != b'=')
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(&clean).unwrap_or_default()
}

/// Quoted-printable over CRLF text: `=XX` escapes, `=` soft breaks, blanks before a
/// line end dropped; a malformed `=` is kept as it is.
pub(crate) fn decode_qp(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut lines = text.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let trimmed_len = line
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        let line = &line[..trimmed_len];
        let (line, soft) = match line.strip_suffix(b"=") {
            Some(l) => (l, true),
            None => (line, false),
        };
        let mut i = 0;
        while i < line.len() {
            if line[i] == b'='
                && let (Some(h), Some(l)) = (
                    line.get(i + 1).and_then(|&c| (c as char).to_digit(16)),
                    line.get(i + 2).and_then(|&c| (c as char).to_digit(16)),
                )
            {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            out.push(line[i]);
            i += 1;
        }
        if !soft && !last {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a=3Db", b"a=b"),
            (b"soft=\r\nbreak", b"softbreak"),
            (b"trail  \r\nx", b"trail\r\nx"),
            (b"keep=20\r\n", b"keep \r\n"),
            (b"bad=ZZ", b"bad=ZZ"),
            (b"caf=c3=a9", b"caf\xc3\xa9"),
        ];
        for (input, want) in cases {
            assert_eq!(decode_qp(input), *want, "{input:?}");
        }
    }

    #[test]
    fn base64_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"SGVsbG8=", b"Hello"),
            (b"SGVs\nbG8", b"Hello"),
            (b"SGVsbG8gV29y\r\nbGQ=\r\n", b"Hello World"),
            (b"", b""),
            (b"S", b""),
        ];
        for (input, want) in cases {
            assert_eq!(decode_base64(input), *want, "{input:?}");
        }
    }

    #[test]
    fn unknown_cte_is_an_error() {
        let msg = b"MIME-Version: 1.0\nContent-Transfer-Encoding: x-uuencode\n\nbegin\n";
        let tree = crate::body_structure(msg);
        assert_eq!(
            binary(msg, &tree, &[1]),
            Err(MimeError::UnknownCte("x-uuencode".into()))
        );
        // Plain BODY[] still works.
        assert_eq!(section(msg, &tree, &SectionSpec::default()), crlf(msg));
    }
}
