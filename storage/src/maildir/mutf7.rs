//! Modified UTF-7 for mailbox names (RFC 3501 section 5.1.3), as Dovecot stores folder names.
//!
//! `decode` is strict in the same way as Dovecot's `imap_utf7_is_valid`: every string has
//! exactly one accepted spelling, so two different directory names can never decode to the
//! same mailbox and a crafted name cannot smuggle `.` or `/` through an encoded run.

use super::MaildirError;

/// The modified base64 alphabet: RFC 2045 base64 with `,` instead of `/`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn is_direct(c: char) -> bool {
    // Printable US-ASCII except `&` represents itself (RFC 3501 5.1.3).
    (' '..='~').contains(&c) && c != '&'
}

/// Encodes a UTF-8 name into modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush_shift(&mut out, &mut pending);
            out.push(c);
        } else if c == '&' {
            flush_shift(&mut out, &mut pending);
            out.push_str("&-");
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush_shift(&mut out, &mut pending);
    out
}

fn flush_shift(out: &mut String, units: &mut Vec<u16>) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &u in units.iter() {
        acc = (acc << 16) | u32::from(u);
        bits += 16;
        while bits >= 6 {
            bits -= 6;
            out.push(char::from(ALPHABET[((acc >> bits) & 0x3f) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (6 - bits)) & 0x3f) as usize]));
    }
    out.push('-');
    units.clear();
}

fn sextet(b: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == b).map(|p| p as u32)
}

/// Decodes modified UTF-7 into UTF-8, refusing every non-canonical spelling.
///
/// Refused: bytes outside printable ASCII, a `&` run without its closing `-`, an empty
/// run other than `&-`, two runs back to back (they must be one run), non-zero or
/// superfluous padding bits, unpaired surrogates, and encoded characters that must be
/// written directly (printable ASCII, including `&`).
pub fn decode(s: &str) -> Result<String, MaildirError> {
    let err = |reason| MaildirError::InvalidMutf7 {
        input: s.to_string(),
        reason,
    };
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    // True right after a non-empty encoded run: another `&run-` here should have been merged.
    let mut after_run = false;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(err("byte outside printable ASCII"));
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            after_run = false;
            continue;
        }
        i += 1;
        let start = i;
        while i < bytes.len() && bytes[i] != b'-' {
            i += 1;
        }
        if i >= bytes.len() {
            return Err(err("unterminated '&' run"));
        }
        let run = &bytes[start..i];
        i += 1; // the '-'
        if run.is_empty() {
            out.push('&');
            after_run = false;
            continue;
        }
        if after_run {
            return Err(err("two encoded runs back to back"));
        }
        decode_run(run, &mut out).map_err(err)?;
        after_run = true;
    }
    Ok(out)
}

fn decode_run(run: &[u8], out: &mut String) -> Result<(), &'static str> {
    let mut units: Vec<u16> = Vec::with_capacity(run.len() * 6 / 16);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in run {
        let v = sextet(b).ok_or("character outside the modified base64 alphabet")?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 16 {
            bits -= 16;
            units.push(((acc >> bits) & 0xffff) as u16);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits are padding: fewer than one sextet and all zero, or the run is not canonical.
    if bits >= 6 {
        return Err("superfluous base64 character");
    }
    if acc != 0 {
        return Err("non-zero padding bits");
    }
    for decoded in char::decode_utf16(units.iter().copied()) {
        let c = decoded.map_err(|_| "unpaired UTF-16 surrogate")?;
        if (' '..='~').contains(&c) {
            return Err("printable ASCII must not be encoded");
        }
        out.push(c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (UTF-8, modified UTF-7) pairs; checked in both directions.
    const KNOWN: &[(&str, &str)] = &[
        ("", ""),
        ("INBOX", "INBOX"),
        ("&", "&-"),
        ("a&b", "a&-b"),
        ("&&", "&-&-"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("日本語", "&ZeVnLIqe-"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("ä", "&AOQ-"),
        ("äö", "&AOQA9g-"),
        ("äöü", "&AOQA9gD8-"),
        ("ä&ö", "&AOQ-&-&APY-"),
        ("😀", "&2D3eAA-"),
        ("a😀b𝄞", "a&2D3eAA-b&2DTdHg-"),
        ("\u{7f}", "&AH8-"),
        ("tab\there", "tab&AAk-here"),
        ("Ελληνικά", "&A5UDuwO7A7cDvQO5A7oDrA-"),
    ];

    #[test]
    fn known_answers() -> Result<(), MaildirError> {
        for &(utf8, utf7) in KNOWN {
            assert_eq!(encode(utf8), utf7, "encode {utf8:?}");
            assert_eq!(decode(utf7)?, utf8, "decode {utf7:?}");
        }
        Ok(())
    }

    #[test]
    fn invalid_inputs() {
        let bad = [
            "&",          // unterminated
            "abc&AOQ",    // unterminated run
            "&AOQ-&APY-", // two runs back to back
            "&AGE-",      // encoded printable ASCII 'a'
            "&ACY-",      // encoded '&'
            "&AC4ALg-",   // encoded ".."
            "&AOR-",      // non-zero padding bits
            "&AOQA-",     // superfluous base64 character
            "&2D0-",      // lone high surrogate
            "&3gA-",      // lone low surrogate
            "&A/Q-",      // '/' is not in the modified alphabet
            "&A=Q-",      // '=' padding is not used
            "Entwürfe",   // raw 8-bit
            "a\tb",       // raw control
            "&AOQ",       // no '-'
        ];
        for s in bad {
            assert!(decode(s).is_err(), "accepted {s:?}");
        }
    }

    #[test]
    fn roundtrip_every_bmp_char_and_some_astral() -> Result<(), MaildirError> {
        let mut name = String::new();
        for cp in (0x20u32..0xd800).chain(0xe000..0x10000).step_by(7) {
            if let Some(c) = char::from_u32(cp) {
                name.push(c);
            }
        }
        name.push('\u{1F600}');
        name.push('&');
        name.push('\u{10FFFF}');
        assert_eq!(decode(&encode(&name))?, name);
        // Every encoding is itself valid ASCII without NUL or '/' beyond what the input had.
        for cp in [0x2fu32, 0x2e, 0x26, 0x10000, 0x1F600] {
            let c = char::from_u32(cp).map(String::from).unwrap_or_default();
            let e = encode(&c);
            assert!(e.is_ascii());
            assert_eq!(decode(&e)?, c);
        }
        Ok(())
    }
}
