//! RFC 5322 address lists as IMAP ENVELOPE wants them (Dovecot `message-address.c`
//! semantics): groups become start/end markers, a missing domain becomes
//! `MISSING_DOMAIN`, a missing mailbox `MISSING_MAILBOX`; nothing is RFC 2047-decoded.

/// One ENVELOPE address, or a group marker (`host` None: start has `mailbox` = group
/// name, end has everything None).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// Display name (phrase), unquoted.
    pub name: Option<Vec<u8>>,
    /// Source route (`@a,@b`), obsolete but still reported.
    pub adl: Option<Vec<u8>>,
    /// Local part, or the group name of a group start marker.
    pub mailbox: Option<Vec<u8>>,
    /// Domain; None marks a group marker.
    pub host: Option<Vec<u8>>,
}

const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

/// RFC 5322 `specials`, which end an atom.
fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'@' | b',' | b';' | b':' | b'\\' | b'"' | b'.' | b'[' | b']'
    )
}

fn is_atext(b: u8) -> bool {
    b > b' ' && b != 0x7f && !is_special(b)
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skips blanks, line breaks and (nested) comments.
    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    let mut depth = 0usize;
                    while let Some(c) = self.peek() {
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

    fn atom(&mut self) -> Option<Vec<u8>> {
        let start = self.pos;
        while self.peek().is_some_and(is_atext) {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.s[start..self.pos].to_vec())
    }

    /// A quoted string, unescaped; folding inside it is removed.
    fn quoted(&mut self) -> Option<Vec<u8>> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    if let Some(c) = self.peek() {
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

    /// `phrase`: words (atoms, quoted strings, and for obs-phrase dots) joined by one space.
    fn phrase(&mut self) -> Option<Vec<u8>> {
        let mut out: Vec<u8> = Vec::new();
        let mut any = false;
        loop {
            self.skip_cfws();
            let word = if self.peek() == Some(b'"') {
                self.quoted()
            } else if self.peek() == Some(b'.') && any {
                self.pos += 1;
                Some(b".".to_vec())
            } else {
                self.atom()
            };
            let Some(word) = word else { break };
            if any {
                out.push(b' ');
            }
            out.extend_from_slice(&word);
            any = true;
        }
        any.then_some(out)
    }

    /// `local-part`: dot-separated atoms or quoted strings.
    fn local_part(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut any = false;
        loop {
            self.skip_cfws();
            let word = if self.peek() == Some(b'"') {
                self.quoted()
            } else {
                self.atom()
            };
            match word {
                Some(w) => {
                    out.extend_from_slice(&w);
                    any = true;
                }
                None if !any => return None,
                None => {}
            }
            self.skip_cfws();
            if self.peek() == Some(b'.') {
                self.pos += 1;
                out.push(b'.');
            } else {
                break;
            }
        }
        Some(out)
    }

    /// `domain`: dot-atom or domain literal.
    fn domain(&mut self) -> Option<Vec<u8>> {
        self.skip_cfws();
        if self.peek() == Some(b'[') {
            let start = self.pos;
            while let Some(b) = self.peek() {
                self.pos += 1;
                if b == b']' {
                    break;
                }
            }
            return Some(self.s[start..self.pos].to_vec());
        }
        let mut out = Vec::new();
        loop {
            self.skip_cfws();
            match self.atom() {
                Some(a) => out.extend_from_slice(&a),
                None => break,
            }
            self.skip_cfws();
            if self.peek() == Some(b'.') {
                self.pos += 1;
                out.push(b'.');
            } else {
                break;
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// `addr-spec` after an optional route; fills missing parts like Dovecot.
    fn addr_spec(&mut self, name: Option<Vec<u8>>, adl: Option<Vec<u8>>) -> Address {
        let mailbox = self.local_part();
        self.skip_cfws();
        let host = if self.peek() == Some(b'@') {
            self.pos += 1;
            self.domain()
        } else {
            None
        };
        Address {
            name,
            adl,
            mailbox: Some(mailbox.unwrap_or_else(|| MISSING_MAILBOX.to_vec())),
            host: Some(host.unwrap_or_else(|| MISSING_DOMAIN.to_vec())),
        }
    }

    /// `angle-addr` = "<" [route ":"] addr-spec ">", the `<` already consumed.
    fn angle_addr(&mut self, name: Option<Vec<u8>>) -> Address {
        self.skip_cfws();
        let mut adl = None;
        if self.peek() == Some(b'@') {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b':' || b == b'>' {
                    break;
                }
                self.pos += 1;
            }
            adl = Some(self.s[start..self.pos].to_vec());
            if self.peek() == Some(b':') {
                self.pos += 1;
            }
        }
        let addr = self.addr_spec(name, adl);
        self.skip_cfws();
        if self.peek() == Some(b'>') {
            self.pos += 1;
        }
        addr
    }

    /// Skips to just after the next `,` (or `;` when inside a group) after a parse error.
    fn recover(&mut self, in_group: bool) {
        while let Some(b) = self.peek() {
            if b == b',' || (in_group && b == b';') {
                break;
            }
            self.pos += 1;
        }
    }

    /// One `mailbox` or `group`, appended to `out`.
    fn address(&mut self, out: &mut Vec<Address>, in_group: bool) {
        let start = self.pos;
        let phrase = self.phrase();
        self.skip_cfws();
        match self.peek() {
            Some(b'<') => {
                self.pos += 1;
                out.push(self.angle_addr(phrase));
            }
            Some(b':') if !in_group => {
                self.pos += 1;
                out.push(Address {
                    mailbox: Some(phrase.unwrap_or_default()),
                    ..Address::default()
                });
                loop {
                    self.skip_cfws();
                    match self.peek() {
                        None => break,
                        Some(b';') => {
                            self.pos += 1;
                            break;
                        }
                        Some(b',') => self.pos += 1,
                        Some(_) => {
                            let before = self.pos;
                            self.address(out, true);
                            if self.pos == before {
                                self.pos += 1;
                            }
                        }
                    }
                }
                out.push(Address::default());
            }
            _ => {
                // Not a name-addr: reread from the start as an addr-spec.
                self.pos = start;
                self.skip_cfws();
                if self.peek().is_none() || self.peek() == Some(b',') {
                    return;
                }
                out.push(self.addr_spec(None, None));
                self.skip_cfws();
                let at_end = matches!(self.peek(), None | Some(b','))
                    || (in_group && self.peek() == Some(b';'));
                if !at_end {
                    self.recover(in_group);
                }
            }
        }
    }
}

/// Parses an address-list header value.
pub fn parse_list(value: &[u8]) -> Vec<Address> {
    let mut lx = Lexer { s: value, pos: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b',') => lx.pos += 1,
            Some(_) => {
                let before = lx.pos;
                lx.address(&mut out, false);
                if lx.pos == before {
                    lx.pos += 1;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: Option<&str>, adl: Option<&str>, mb: Option<&str>, host: Option<&str>) -> Address {
        let v = |s: Option<&str>| s.map(|s| s.as_bytes().to_vec());
        Address {
            name: v(name),
            adl: v(adl),
            mailbox: v(mb),
            host: v(host),
        }
    }

    #[test]
    fn address_table() {
        let cases: &[(&str, Vec<Address>)] = &[
            ("a@b.c", vec![a(None, None, Some("a"), Some("b.c"))]),
            (
                "\"Dave, Boss\" <d@x.y>, e@f",
                vec![
                    a(Some("Dave, Boss"), None, Some("d"), Some("x.y")),
                    a(None, None, Some("e"), Some("f")),
                ],
            ),
            (
                "nodomain",
                vec![a(None, None, Some("nodomain"), Some("MISSING_DOMAIN"))],
            ),
            (
                "<@r.example:u@h>",
                vec![a(None, Some("@r.example"), Some("u"), Some("h"))],
            ),
            (
                "G: x@y;",
                vec![
                    a(None, None, Some("G"), None),
                    a(None, None, Some("x"), Some("y")),
                    a(None, None, None, None),
                ],
            ),
            ("(c) h@d", vec![a(None, None, Some("h"), Some("d"))]),
            ("", vec![]),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_list(input.as_bytes()), want, "{input}");
        }
    }
}
