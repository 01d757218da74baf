//! Header block parsing over stored (LF or CRLF) bytes, the way Dovecot's header parser
//! reads it: the block ends at the first empty line; a line that does not look like
//! `Name: value` is still a header line (a "broken" one) and does not end the block.

/// One header field, borrowed from the message.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    /// Name as written (without the colon and trailing blanks).
    pub name: &'a [u8],
    /// Value: leading blanks skipped, folding kept as LF (CRs dropped), no final newline.
    pub value: Vec<u8>,
    /// The raw lines of the field including their line ends.
    pub raw: &'a [u8],
}

/// A parsed header block.
#[derive(Debug, Clone)]
pub(crate) struct HeaderBlock<'a> {
    pub fields: Vec<Field<'a>>,
    /// Where the body starts (after the empty line, or where the header stopped).
    pub body_start: usize,
}

/// Offset just past the line starting at `pos` (after its LF, or `end`).
pub(crate) fn line_end(msg: &[u8], pos: usize, end: usize) -> usize {
    match msg[pos..end].iter().position(|&b| b == b'\n') {
        Some(i) => pos + i + 1,
        None => end,
    }
}

/// Parses the header block starting at `start`, stopping at an empty line, at `end`, or
/// before a line `stop` accepts (a MIME boundary of an enclosing multipart).
pub(crate) fn parse<'a>(
    msg: &'a [u8],
    start: usize,
    end: usize,
    stop: &dyn Fn(&[u8]) -> bool,
) -> HeaderBlock<'a> {
    let mut fields: Vec<Field<'a>> = Vec::new();
    let mut pos = start;
    let mut field_start: Option<usize> = None;
    let flush = |fields: &mut Vec<Field<'a>>, from: usize, to: usize| {
        fields.push(make_field(&msg[from..to]));
    };
    let body_start = loop {
        if pos >= end {
            break end;
        }
        let next = line_end(msg, pos, end);
        let line = &msg[pos..next];
        let content = trim_eol(line);
        if content.is_empty() {
            break next;
        }
        if stop(line) {
            break pos;
        }
        if content[0] == b' ' || content[0] == b'\t' {
            // Continuation; a continuation with no field before it starts one.
            if field_start.is_none() {
                field_start = Some(pos);
            }
        } else {
            if let Some(fs) = field_start {
                flush(&mut fields, fs, pos);
            }
            field_start = Some(pos);
        }
        pos = next;
    };
    // `pos` is where the empty line, the boundary or the end was met.
    if let Some(fs) = field_start {
        flush(&mut fields, fs, pos);
    }
    HeaderBlock { fields, body_start }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn make_field(raw: &[u8]) -> Field<'_> {
    let (name, value) = match raw.iter().position(|&b| b == b':') {
        Some(colon) => (trim_end(&raw[..colon]), &raw[colon + 1..]),
        None => (trim_eol(raw), &raw[raw.len()..]),
    };
    let skip = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let mut v: Vec<u8> = value[skip..]
        .iter()
        .copied()
        .filter(|&b| b != b'\r')
        .collect();
    while v.last() == Some(&b'\n') {
        v.pop();
    }
    Field {
        name,
        value: v,
        raw,
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &s[..n]
}

impl<'a> HeaderBlock<'a> {
    /// The first field called `name` (ASCII case-insensitive).
    pub fn first(&self, name: &str) -> Option<&Field<'a>> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_broken_lines_and_end() {
        let msg = b"Subject: a\n  b\nbroken line\nX:\tv\r\n\r\nbody";
        let h = parse(msg, 0, msg.len(), &|_| false);
        let names: Vec<&[u8]> = h.fields.iter().map(|f| f.name).collect();
        assert_eq!(names, [&b"Subject"[..], b"broken line", b"X"]);
        assert_eq!(h.fields[0].value, b"a\n  b");
        assert_eq!(h.fields[2].value, b"v");
        assert_eq!(&msg[h.body_start..], b"body");
        assert_eq!(h.fields[2].raw, b"X:\tv\r\n");
    }

    #[test]
    fn header_without_empty_line_runs_to_end() {
        let msg = b"A: 1\nB: 2\n";
        let h = parse(msg, 0, msg.len(), &|_| false);
        assert_eq!(h.fields.len(), 2);
        assert_eq!(h.body_start, msg.len());
        assert_eq!(h.fields[1].raw, b"B: 2\n");
    }
}
