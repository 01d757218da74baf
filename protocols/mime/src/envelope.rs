//! ENVELOPE (RFC 3501 section 7.4.2; RFC 9051 section 7.5.2).

use crate::address::{Address, parse_list};
use crate::header::{self, HeaderBlock};
use crate::imap_string::ImapString;

/// The ENVELOPE of a message: raw header values, not RFC 2047-decoded (IMAP leaves that
/// to the client). An absent header is None; an address header that yields no address
/// is None too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `Date:` value.
    pub date: Option<Vec<u8>>,
    /// `Subject:` value.
    pub subject: Option<Vec<u8>>,
    /// `From:` addresses.
    pub from: Option<Vec<Address>>,
    /// `Sender:` addresses (written as `from` when absent).
    pub sender: Option<Vec<Address>>,
    /// `Reply-To:` addresses (written as `from` when absent).
    pub reply_to: Option<Vec<Address>>,
    /// `To:` addresses.
    pub to: Option<Vec<Address>>,
    /// `Cc:` addresses.
    pub cc: Option<Vec<Address>>,
    /// `Bcc:` addresses.
    pub bcc: Option<Vec<Address>>,
    /// `In-Reply-To:` value.
    pub in_reply_to: Option<Vec<u8>>,
    /// `Message-ID:` value.
    pub message_id: Option<Vec<u8>>,
}

/// The ENVELOPE of the message in `msg`.
pub fn envelope(msg: &[u8]) -> Envelope {
    let h = header::parse(msg, 0, msg.len(), &|_| false);
    from_header(&h)
}

pub(crate) fn from_header(h: &HeaderBlock<'_>) -> Envelope {
    let text = |name: &str| h.first(name).map(|f| f.value.clone());
    let addrs = |name: &str| {
        h.first(name)
            .map(|f| parse_list(&f.value))
            .filter(|l| !l.is_empty())
    };
    Envelope {
        date: text("Date"),
        subject: text("Subject"),
        from: addrs("From"),
        sender: addrs("Sender"),
        reply_to: addrs("Reply-To"),
        to: addrs("To"),
        cc: addrs("Cc"),
        bcc: addrs("Bcc"),
        in_reply_to: text("In-Reply-To"),
        message_id: text("Message-ID"),
    }
}

impl Envelope {
    /// The parenthesized ENVELOPE value as Dovecot writes it.
    pub fn to_imap(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write(&mut out);
        out
    }

    /// Appends the parenthesized ENVELOPE value to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'(');
        self.write_fields(out);
        out.push(b')');
    }

    /// The ten fields without the surrounding parentheses.
    pub(crate) fn write_fields(&self, out: &mut Vec<u8>) {
        ImapString::nolf(out, self.date.as_deref());
        out.push(b' ');
        match &self.subject {
            Some(s) => ImapString::for_humans(out, s),
            None => out.extend_from_slice(b"NIL"),
        }
        let from = self.from.as_ref();
        for list in [
            from,
            self.sender.as_ref().or(from),
            self.reply_to.as_ref().or(from),
            self.to.as_ref(),
            self.cc.as_ref(),
            self.bcc.as_ref(),
        ] {
            out.push(b' ');
            write_addresses(out, list);
        }
        out.push(b' ');
        ImapString::nolf(out, self.in_reply_to.as_deref());
        out.push(b' ');
        ImapString::nolf(out, self.message_id.as_deref());
    }
}

fn write_addresses(out: &mut Vec<u8>, list: Option<&Vec<Address>>) {
    let Some(list) = list else {
        out.extend_from_slice(b"NIL");
        return;
    };
    out.push(b'(');
    for a in list {
        out.push(b'(');
        match &a.name {
            Some(n) => ImapString::for_humans(out, n),
            None => out.extend_from_slice(b"NIL"),
        }
        out.push(b' ');
        ImapString::nstring(out, a.adl.as_deref());
        out.push(b' ');
        ImapString::nstring(out, a.mailbox.as_deref());
        out.push(b' ');
        ImapString::nstring(out, a.host.as_deref());
        out.push(b')');
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_and_reply_to_default_to_from() {
        let e = envelope(b"From: a@b\nSubject: s\n\nbody\n");
        assert_eq!(
            String::from_utf8(e.to_imap()).unwrap(),
            "(NIL \"s\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) \
             ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)"
        );
    }

    #[test]
    fn no_headers_is_all_nil() {
        let e = envelope(b"\nbody\n");
        assert_eq!(e, Envelope::default());
        assert_eq!(e.to_imap(), b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    }
}
