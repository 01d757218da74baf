//! The MIME part tree: parsing (Dovecot `message-parser.c` semantics), BODY and
//! BODYSTRUCTURE output (`imap-bodystructure.c` semantics), and a compact cache blob.

use crate::crlf_len;
use crate::envelope::{self, Envelope};
use crate::header::{self, HeaderBlock, line_end};
use crate::imap_string::ImapString;

/// Deepest part nesting parsed (each multipart child and each message/rfc822 body counts
/// a level). Deeper content stays an opaque leaf: Dovecot's limit, which also bounds our
/// recursion on hostile input.
pub const MAX_NESTING: usize = 100;

/// How a part was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A single part (text, attachment, or anything not parsed further).
    Leaf,
    /// multipart/*: `children` are its body parts (possibly none, when no boundary).
    Multipart,
    /// message/rfc822: `children` holds exactly the encapsulated message.
    Message,
}

/// One node of a message's MIME tree, with the offsets needed to cut sections out of the
/// stored bytes and everything BODYSTRUCTURE reports. Text fields are raw header bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyPart {
    /// How the part was parsed.
    pub kind: PartKind,
    /// Offset of the part's header in the stored message.
    pub header_start: u64,
    /// Offset of the part's body (after the header's empty line).
    pub body_start: u64,
    /// Offset just past the body (the line end before a boundary is not part of it).
    pub body_end: u64,
    /// Header size in octets with CRLF line ends.
    pub header_size: u64,
    /// Body size in octets with CRLF line ends.
    pub body_size: u64,
    /// Number of lines in the body.
    pub body_lines: u64,
    /// Content-Type type and subtype as written; None when absent or unparsable.
    pub content_type: Option<(Vec<u8>, Vec<u8>)>,
    /// Content-Type parameters (RFC 2231 continuations joined).
    pub params: Vec<(Vec<u8>, Vec<u8>)>,
    /// Content-ID.
    pub id: Option<Vec<u8>>,
    /// Content-Description.
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding token.
    pub encoding: Option<Vec<u8>>,
    /// Content-MD5.
    pub md5: Option<Vec<u8>>,
    /// Content-Disposition token.
    pub disposition: Option<Vec<u8>>,
    /// Content-Disposition parameters.
    pub disposition_params: Vec<(Vec<u8>, Vec<u8>)>,
    /// Content-Language tags.
    pub language: Vec<Vec<u8>>,
    /// Content-Location.
    pub location: Option<Vec<u8>>,
    /// For [`PartKind::Message`]: the encapsulated message's ENVELOPE.
    pub envelope: Option<Box<Envelope>>,
    /// Sub-parts (see [`PartKind`]).
    pub children: Vec<BodyPart>,
}

struct Hit {
    line_start: usize,
    after: usize,
    idx: usize,
    close: bool,
}

struct Parser<'a> {
    msg: &'a [u8],
    bounds: Vec<Vec<u8>>,
}

fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// Parses the MIME structure of the stored message `msg`.
pub fn body_structure(msg: &[u8]) -> BodyPart {
    let mut p = Parser {
        msg,
        bounds: Vec::new(),
    };
    p.part(0, 0, false, false).0
}

impl Parser<'_> {
    /// The innermost boundary `line` opens or closes: (index, is close).
    fn boundary_of(&self, line: &[u8]) -> Option<(usize, bool)> {
        let rest = line.strip_prefix(b"--")?;
        self.bounds
            .iter()
            .enumerate()
            .rev()
            .find(|(_, b)| rest.starts_with(b))
            .map(|(i, b)| (i, rest[b.len()..].starts_with(b"--")))
    }

    fn find_boundary(&self, mut pos: usize) -> Option<Hit> {
        if self.bounds.is_empty() {
            return None;
        }
        let end = self.msg.len();
        while pos < end {
            let next = line_end(self.msg, pos, end);
            if let Some((idx, close)) = self.boundary_of(&self.msg[pos..next]) {
                return Some(Hit {
                    line_start: pos,
                    after: next,
                    idx,
                    close,
                });
            }
            pos = next;
        }
        None
    }

    /// Where a body ends given the boundary line that follows it: the line end before
    /// the boundary belongs to the boundary.
    fn end_before(&self, hit: Option<&Hit>, body_start: usize) -> usize {
        let Some(h) = hit else {
            return self.msg.len();
        };
        let mut e = h.line_start;
        if e > body_start && self.msg[e - 1] == b'\n' {
            e -= 1;
            if e > body_start && self.msg[e - 1] == b'\r' {
                e -= 1;
            }
        }
        e
    }

    fn part(
        &mut self,
        start: usize,
        depth: usize,
        in_multipart: bool,
        digest_child: bool,
    ) -> (BodyPart, Option<Hit>) {
        let h = {
            let this = &*self;
            header::parse(self.msg, start, self.msg.len(), &|line| {
                this.boundary_of(line).is_some()
            })
        };
        let mut part = content_info(&h);
        // Without MIME-Version or Content-Type (and outside a multipart) a message is not
        // MIME: Dovecot then ignores its other Content-* fields.
        if !in_multipart && h.first("MIME-Version").is_none() && h.first("Content-Type").is_none() {
            part = content_info(&HeaderBlock {
                fields: Vec::new(),
                body_start: h.body_start,
            });
        }
        let body_start = h.body_start;
        let (ty, sub) = match &part.content_type {
            Some((t, s)) => (t.clone(), s.clone()),
            None if digest_child => (b"message".to_vec(), b"rfc822".to_vec()),
            None => (b"text".to_vec(), b"plain".to_vec()),
        };
        let can_nest = depth + 1 < MAX_NESTING;
        let boundary = part
            .params
            .iter()
            .find(|(k, _)| eq(k, "boundary"))
            .map(|(_, v)| v.clone())
            .filter(|b| !b.is_empty());
        let hit;
        let body_end;
        if eq(&ty, "multipart") && can_nest {
            part.kind = PartKind::Multipart;
            if let Some(b) = boundary {
                self.bounds.push(b);
                let own = self.bounds.len() - 1;
                let digest = eq(&sub, "digest");
                let mut cur = self.find_boundary(body_start);
                loop {
                    match cur {
                        Some(h) if h.idx == own && !h.close => {
                            let (child, next) = self.part(h.after, depth + 1, true, digest);
                            part.children.push(child);
                            cur = next;
                        }
                        Some(h) if h.idx == own => {
                            // Closed: skip the epilogue up to an enclosing boundary.
                            self.bounds.truncate(own);
                            let next = self.find_boundary(h.after);
                            // The close line keeps its own line end even when the
                            // next boundary follows at once.
                            body_end = self.end_before(next.as_ref(), body_start).max(h.after);
                            hit = next;
                            break;
                        }
                        other => {
                            self.bounds.truncate(own);
                            body_end = self.end_before(other.as_ref(), body_start);
                            hit = other;
                            break;
                        }
                    }
                }
            } else {
                hit = self.find_boundary(body_start);
                body_end = self.end_before(hit.as_ref(), body_start);
            }
        } else if eq(&ty, "multipart") {
            // Too deep: an opaque part whose body still ends at its own boundary, as
            // Dovecot registers the boundary before refusing to descend.
            let pushed = boundary.is_some();
            if let Some(b) = boundary {
                self.bounds.push(b);
            }
            let first = self.find_boundary(body_start);
            body_end = self.end_before(first.as_ref(), body_start);
            if pushed {
                self.bounds.pop();
            }
            hit = match first {
                Some(h) if h.idx >= self.bounds.len() => self.find_boundary(h.line_start),
                other => other,
            };
        } else if eq(&ty, "message") && eq(&sub, "rfc822") && can_nest {
            part.kind = PartKind::Message;
            let (child, next) = self.part(body_start, depth + 1, false, false);
            let child_h = header::parse(
                self.msg,
                child.header_start as usize,
                child.body_start as usize,
                &|_| false,
            );
            part.envelope = Some(Box::new(envelope::from_header(&child_h)));
            part.children.push(child);
            body_end = self.end_before(next.as_ref(), body_start);
            hit = next;
        } else {
            hit = self.find_boundary(body_start);
            body_end = self.end_before(hit.as_ref(), body_start);
        }
        let body = &self.msg[body_start..body_end.max(body_start)];
        part.header_start = start as u64;
        part.body_start = body_start as u64;
        part.body_end = body_end.max(body_start) as u64;
        part.header_size = crlf_len(&self.msg[start..body_start]);
        part.body_size = crlf_len(body);
        part.body_lines = body.iter().filter(|&&b| b == b'\n').count() as u64;
        (part, hit)
    }
}

/// BODYSTRUCTURE data from a part header's Content-* fields (first of each wins).
fn content_info(h: &HeaderBlock<'_>) -> BodyPart {
    let mut p = BodyPart {
        kind: PartKind::Leaf,
        header_start: 0,
        body_start: 0,
        body_end: 0,
        header_size: 0,
        body_size: 0,
        body_lines: 0,
        content_type: None,
        params: Vec::new(),
        id: None,
        description: None,
        encoding: None,
        md5: None,
        disposition: None,
        disposition_params: Vec::new(),
        language: Vec::new(),
        location: None,
        envelope: None,
        children: Vec::new(),
    };
    let mut seen_type = false;
    let mut seen_lang = false;
    for f in &h.fields {
        let Some(name) = f
            .name
            .get(..8)
            .filter(|n| eq(n, "Content-"))
            .map(|_| &f.name[8..])
        else {
            continue;
        };
        let v = &f.value;
        if eq(name, "Type") && !seen_type {
            seen_type = true;
            let mut t = Tok { s: v, pos: 0 };
            t.skip();
            if let Some(ty) = t.token() {
                t.skip();
                if t.eat(b'/') {
                    t.skip();
                    if let Some(sub) = t.token() {
                        p.content_type = Some((ty, sub));
                        p.params = t.params();
                    }
                }
            }
        } else if eq(name, "Transfer-Encoding") && p.encoding.is_none() {
            let mut t = Tok { s: v, pos: 0 };
            t.skip();
            p.encoding = t.token();
        } else if eq(name, "ID") && p.id.is_none() {
            p.id = Some(v.clone());
        } else if eq(name, "Description") && p.description.is_none() {
            p.description = Some(v.clone());
        } else if eq(name, "MD5") && p.md5.is_none() {
            p.md5 = Some(v.clone());
        } else if eq(name, "Location") && p.location.is_none() {
            p.location = Some(v.clone());
        } else if eq(name, "Language") && !seen_lang {
            seen_lang = true;
            let mut t = Tok { s: v, pos: 0 };
            loop {
                t.skip();
                match t.token() {
                    Some(tag) => p.language.push(tag),
                    None => break,
                }
                t.skip();
                if !t.eat(b',') {
                    break;
                }
            }
        } else if eq(name, "Disposition") && p.disposition.is_none() {
            let mut t = Tok { s: v, pos: 0 };
            t.skip();
            if let Some(d) = t.token() {
                p.disposition = Some(d);
                p.disposition_params = t.params();
            }
        }
    }
    p
}

/// RFC 2045 token/parameter lexer.
struct Tok<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Tok<'_> {
    fn skip(&mut self) {
        while let Some(&b) = self.s.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    let mut depth = 0usize;
                    while let Some(&c) = self.s.get(self.pos) {
                        self.pos += 1;
                        match c {
                            b'\\' => self.pos = (self.pos + 1).min(self.s.len()),
                            b'(' => depth += 1,
                            b')' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => break,
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// RFC 2045 `token`: no controls, space or tspecials.
    fn token(&mut self) -> Option<Vec<u8>> {
        let start = self.pos;
        while let Some(&b) = self.s.get(self.pos) {
            if b <= b' ' || b == 0x7f || b"()<>@,;:\\\"/[]?=".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        (self.pos > start).then(|| self.s[start..self.pos].to_vec())
    }

    fn quoted(&mut self) -> Option<Vec<u8>> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = Vec::new();
        while let Some(&b) = self.s.get(self.pos) {
            self.pos += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    if let Some(&c) = self.s.get(self.pos) {
                        out.push(c);
                        self.pos += 1;
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        Some(out)
    }

    /// `*(";" attribute "=" value)`, with RFC 2231 continuations (`name*0`, `name*1*`)
    /// joined after the plain parameters, as Dovecot's `rfc2231_parse` does. Values
    /// stay as written (no charset decoding).
    fn params(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut plain = Vec::new();
        // (base name, extended?, index, value)
        let mut cont: Vec<(Vec<u8>, bool, u32, Vec<u8>)> = Vec::new();
        loop {
            self.skip();
            if !self.eat(b';') {
                break;
            }
            self.skip();
            let Some(name) = self.token() else { break };
            self.skip();
            if !self.eat(b'=') {
                break;
            }
            self.skip();
            let Some(value) = self.quoted().or_else(|| self.token()) else {
                break;
            };
            match split_continuation(&name) {
                Some((base, idx, ext)) => cont.push((base.to_vec(), ext, idx, value)),
                None => plain.push((name, value)),
            }
        }
        let mut order: Vec<Vec<u8>> = Vec::new();
        for (base, ..) in &cont {
            if !order.iter().any(|b| b.eq_ignore_ascii_case(base)) {
                order.push(base.clone());
            }
        }
        for base in order {
            let mut segs: Vec<&(Vec<u8>, bool, u32, Vec<u8>)> = cont
                .iter()
                .filter(|c| c.0.eq_ignore_ascii_case(&base))
                .collect();
            segs.sort_by_key(|c| c.2);
            let extended = segs.first().is_some_and(|c| c.1);
            let mut name = base.clone();
            if extended {
                name.push(b'*');
            }
            let value = segs.iter().flat_map(|c| c.3.iter().copied()).collect();
            plain.push((name, value));
        }
        plain
    }
}

/// `name*N` or `name*N*` -> (name, N, extended).
fn split_continuation(name: &[u8]) -> Option<(&[u8], u32, bool)> {
    let star = name.iter().position(|&b| b == b'*')?;
    let rest = &name[star + 1..];
    let (digits, ext) = match rest.strip_suffix(b"*") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((&name[..star], n, ext))
}

impl BodyPart {
    fn is_text(&self) -> bool {
        self.kind == PartKind::Leaf
            && self
                .content_type
                .as_ref()
                .is_none_or(|(t, _)| eq(t, "text"))
    }

    /// The Content-Transfer-Encoding, lowercased, defaulting to 7bit.
    pub fn transfer_encoding(&self) -> String {
        self.encoding.as_deref().map_or_else(
            || "7bit".to_string(),
            |e| String::from_utf8_lossy(e).to_ascii_lowercase(),
        )
    }

    /// BODY (`extended` false) or BODYSTRUCTURE (`extended` true), parenthesized.
    pub fn to_imap(&self, extended: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(b'(');
        self.write(&mut out, extended);
        out.push(b')');
        out
    }

    fn write(&self, out: &mut Vec<u8>, extended: bool) {
        if self.kind == PartKind::Multipart {
            if self.children.is_empty() {
                // A multipart must have a part: Dovecot shows an empty text/plain.
                out.extend_from_slice(
                    b"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0",
                );
                if extended {
                    out.extend_from_slice(b" NIL NIL NIL NIL");
                }
                out.push(b')');
            }
            for c in &self.children {
                out.push(b'(');
                c.write(out, extended);
                out.push(b')');
            }
            out.push(b' ');
            match &self.content_type {
                Some((_, s)) => ImapString::string(out, s),
                None => out.extend_from_slice(b"\"x-unknown\""),
            }
            if extended {
                out.push(b' ');
                write_params(out, &self.params, false);
                self.write_ext_tail(out);
            }
            return;
        }
        let text = self.is_text();
        match (&self.kind, &self.content_type) {
            (PartKind::Message, _) => out.extend_from_slice(b"\"message\" \"rfc822\""),
            (_, Some((t, s))) if eq(t, "multipart") || (eq(t, "message") && eq(s, "rfc822")) => {
                // Structured types left unparsed (too deep) are opaque data.
                out.extend_from_slice(b"\"application\" \"octet-stream\"");
            }
            (_, Some((t, s))) => {
                ImapString::string(out, t);
                out.push(b' ');
                ImapString::string(out, s);
            }
            (_, None) => out.extend_from_slice(b"\"text\" \"plain\""),
        }
        out.push(b' ');
        write_params(out, &self.params, text);
        out.push(b' ');
        ImapString::nstring(out, self.id.as_deref());
        out.push(b' ');
        ImapString::nstring(out, self.description.as_deref());
        out.push(b' ');
        match &self.encoding {
            Some(e) => ImapString::string(out, e),
            None => out.extend_from_slice(b"\"7bit\""),
        }
        out.extend_from_slice(format!(" {}", self.body_size).as_bytes());
        if text {
            out.extend_from_slice(format!(" {}", self.body_lines).as_bytes());
        } else if self.kind == PartKind::Message {
            out.extend_from_slice(b" (");
            if let Some(e) = &self.envelope {
                e.write_fields(out);
            }
            out.extend_from_slice(b") ");
            if let Some(c) = self.children.first() {
                out.push(b'(');
                c.write(out, extended);
                out.push(b')');
            }
            out.extend_from_slice(format!(" {}", self.body_lines).as_bytes());
        }
        if extended {
            out.push(b' ');
            ImapString::nstring(out, self.md5.as_deref());
            self.write_ext_tail(out);
        }
    }

    /// ` disposition language location`.
    fn write_ext_tail(&self, out: &mut Vec<u8>) {
        out.push(b' ');
        match &self.disposition {
            None => out.extend_from_slice(b"NIL"),
            Some(d) => {
                out.push(b'(');
                ImapString::string(out, d);
                out.push(b' ');
                write_params(out, &self.disposition_params, false);
                out.push(b')');
            }
        }
        out.push(b' ');
        if self.language.is_empty() {
            out.extend_from_slice(b"NIL");
        } else {
            out.push(b'(');
            for (i, l) in self.language.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                ImapString::string(out, l);
            }
            out.push(b')');
        }
        out.push(b' ');
        ImapString::nstring(out, self.location.as_deref());
    }
}

fn write_params(out: &mut Vec<u8>, params: &[(Vec<u8>, Vec<u8>)], text: bool) {
    let add_charset = text && !params.iter().any(|(k, _)| eq(k, "charset"));
    if params.is_empty() && !add_charset {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        ImapString::string(out, k);
        out.push(b' ');
        ImapString::string(out, v);
    }
    if add_charset {
        if !params.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(b"\"charset\" \"us-ascii\"");
    }
    out.push(b')');
}
