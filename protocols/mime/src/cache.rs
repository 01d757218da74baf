//! A compact, versioned binary encoding of [`BodyPart`] so storage can cache a parsed
//! structure as a blob and answer BODYSTRUCTURE and sections without reparsing.
//!
//! Layout: magic `RMB1`, then the root part. A part is: kind byte, six varints (offsets
//! and sizes), content type (option of two byte strings), params (list of pairs), five
//! optional strings (id, description, encoding, md5, location), disposition (option),
//! disposition params, language (list), envelope (option), children (list of parts).
//! Varints are LEB128; byte strings are a varint length and the bytes.

use crate::Address;
use crate::envelope::Envelope;
use crate::structure::{BodyPart, MAX_NESTING, PartKind};

const MAGIC: &[u8; 4] = b"RMB1";

/// Why a cached blob could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a blob of this format or version.
    #[error("not a roost-mime structure blob (bad magic)")]
    BadMagic,
    /// The blob ends in the middle of a value.
    #[error("structure blob truncated")]
    Truncated,
    /// A value is out of range (unknown tag, overlong varint, absurd nesting).
    #[error("structure blob corrupt: {0}")]
    Corrupt(&'static str),
    /// Bytes left over after the root part.
    #[error("structure blob has trailing bytes")]
    Trailing,
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

struct W(Vec<u8>);

impl W {
    fn uint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.uint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn opt(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.0.push(0),
            Some(b) => {
                self.0.push(1);
                self.bytes(b);
            }
        }
    }
    fn pairs(&mut self, p: &Pairs) {
        self.uint(p.len() as u64);
        for (k, v) in p {
            self.bytes(k);
            self.bytes(v);
        }
    }
    fn addrs(&mut self, a: Option<&Vec<Address>>) {
        match a {
            None => self.0.push(0),
            Some(list) => {
                self.0.push(1);
                self.uint(list.len() as u64);
                for x in list {
                    self.opt(x.name.as_deref());
                    self.opt(x.adl.as_deref());
                    self.opt(x.mailbox.as_deref());
                    self.opt(x.host.as_deref());
                }
            }
        }
    }
    fn part(&mut self, p: &BodyPart) {
        self.0.push(match p.kind {
            PartKind::Leaf => 0,
            PartKind::Multipart => 1,
            PartKind::Message => 2,
        });
        for v in [
            p.header_start,
            p.body_start,
            p.body_end,
            p.header_size,
            p.body_size,
            p.body_lines,
        ] {
            self.uint(v);
        }
        match &p.content_type {
            None => self.0.push(0),
            Some((t, s)) => {
                self.0.push(1);
                self.bytes(t);
                self.bytes(s);
            }
        }
        self.pairs(&p.params);
        for o in [&p.id, &p.description, &p.encoding, &p.md5, &p.location] {
            self.opt(o.as_deref());
        }
        self.opt(p.disposition.as_deref());
        self.pairs(&p.disposition_params);
        self.uint(p.language.len() as u64);
        for l in &p.language {
            self.bytes(l);
        }
        match &p.envelope {
            None => self.0.push(0),
            Some(e) => {
                self.0.push(1);
                for o in [&e.date, &e.subject] {
                    self.opt(o.as_deref());
                }
                for a in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
                    self.addrs(a.as_ref());
                }
                for o in [&e.in_reply_to, &e.message_id] {
                    self.opt(o.as_deref());
                }
            }
        }
        self.uint(p.children.len() as u64);
        for c in &p.children {
            self.part(c);
        }
    }
}

struct R<'a> {
    b: &'a [u8],
    pos: usize,
}

impl R<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.b.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }
    fn uint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Corrupt("varint too long"))
    }
    /// A count, bounded by the bytes left so a forged count cannot allocate much.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.uint()?;
        if n > (self.b.len() - self.pos) as u64 {
            return Err(DecodeError::Truncated);
        }
        Ok(n as usize)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.count()?;
        let v = self.b[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Ok(v)
    }
    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Corrupt("bad option tag")),
        }
    }
    fn opt(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        Ok(if self.flag()? {
            Some(self.bytes()?)
        } else {
            None
        })
    }
    fn pairs(&mut self) -> Result<Pairs, DecodeError> {
        let n = self.count()?;
        (0..n).map(|_| Ok((self.bytes()?, self.bytes()?))).collect()
    }
    fn addrs(&mut self) -> Result<Option<Vec<Address>>, DecodeError> {
        if !self.flag()? {
            return Ok(None);
        }
        let n = self.count()?;
        let list = (0..n)
            .map(|_| {
                Ok(Address {
                    name: self.opt()?,
                    adl: self.opt()?,
                    mailbox: self.opt()?,
                    host: self.opt()?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Some(list))
    }
    fn part(&mut self, depth: usize) -> Result<BodyPart, DecodeError> {
        // Parsing never nests deeper than MAX_NESTING; a deeper blob is forged.
        if depth > MAX_NESTING + 1 {
            return Err(DecodeError::Corrupt("nesting too deep"));
        }
        let kind = match self.byte()? {
            0 => PartKind::Leaf,
            1 => PartKind::Multipart,
            2 => PartKind::Message,
            _ => return Err(DecodeError::Corrupt("bad part kind")),
        };
        let mut nums = [0u64; 6];
        for n in &mut nums {
            *n = self.uint()?;
        }
        let content_type = if self.flag()? {
            Some((self.bytes()?, self.bytes()?))
        } else {
            None
        };
        let params = self.pairs()?;
        let id = self.opt()?;
        let description = self.opt()?;
        let encoding = self.opt()?;
        let md5 = self.opt()?;
        let location = self.opt()?;
        let disposition = self.opt()?;
        let disposition_params = self.pairs()?;
        let n = self.count()?;
        let language = (0..n).map(|_| self.bytes()).collect::<Result<_, _>>()?;
        let envelope = if self.flag()? {
            Some(Box::new(Envelope {
                date: self.opt()?,
                subject: self.opt()?,
                from: self.addrs()?,
                sender: self.addrs()?,
                reply_to: self.addrs()?,
                to: self.addrs()?,
                cc: self.addrs()?,
                bcc: self.addrs()?,
                in_reply_to: self.opt()?,
                message_id: self.opt()?,
            }))
        } else {
            None
        };
        let n = self.count()?;
        let children = (0..n)
            .map(|_| self.part(depth + 1))
            .collect::<Result<_, _>>()?;
        Ok(BodyPart {
            kind,
            header_start: nums[0],
            body_start: nums[1],
            body_end: nums[2],
            header_size: nums[3],
            body_size: nums[4],
            body_lines: nums[5],
            content_type,
            params,
            id,
            description,
            encoding,
            md5,
            disposition,
            disposition_params,
            language,
            location,
            envelope,
            children,
        })
    }
}

impl BodyPart {
    /// The cache blob for this tree (see the module docs for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(MAGIC.to_vec());
        w.part(self);
        w.0
    }

    /// Reads a blob written by [`BodyPart::encode`].
    pub fn decode(blob: &[u8]) -> Result<BodyPart, DecodeError> {
        let rest = blob.strip_prefix(MAGIC).ok_or(DecodeError::BadMagic)?;
        let mut r = R { b: rest, pos: 0 };
        let p = r.part(0)?;
        if r.pos != rest.len() {
            return Err(DecodeError::Trailing);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body_structure;

    const MSG: &[u8] = b"Content-Type: multipart/mixed; boundary=x\n\n--x\n\
        Content-Type: message/rfc822\n\nFrom: \"N\" <a@b>\nTo: g: c@d;\n\nhi\n--x--\n";

    #[test]
    fn round_trip() {
        let p = body_structure(MSG);
        let blob = p.encode();
        assert_eq!(BodyPart::decode(&blob), Ok(p));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let blob = body_structure(MSG).encode();
        for n in 0..blob.len() {
            assert!(BodyPart::decode(&blob[..n]).is_err(), "prefix {n}");
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(BodyPart::decode(&longer), Err(DecodeError::Trailing));
        assert_eq!(BodyPart::decode(b"XXXX"), Err(DecodeError::BadMagic));
    }
}
