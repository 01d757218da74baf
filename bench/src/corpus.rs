//! A deterministic corpus of realistic MIME messages: plain text, multipart/alternative,
//! attachments, forwarded message/rfc822, RFC 2047 encoded headers, quoted-printable.
//!
//! Message `i` is always the same bytes, so both servers get identical mail. Every
//! [`NEEDLE_EVERY`]th message carries [`SUBJECT_NEEDLE`] in its Subject and [`BODY_NEEDLE`] in
//! its text, so SEARCH has a known, small answer.

/// Word only the needle messages have in their Subject.
pub const SUBJECT_NEEDLE: &str = "zebracorn";
/// Word only the needle messages have in their body text.
pub const BODY_NEEDLE: &str = "quokkafish";
/// One message in this many carries the needles.
pub const NEEDLE_EVERY: usize = 1000;

const WORDS: &[&str] = &[
    "meeting", "budget", "release", "server", "mailbox", "invoice", "schedule", "review",
    "deadline", "coffee", "project", "report", "update", "question", "answer", "tomorrow",
];

/// A small deterministic generator (xorshift), so no rand dependency and identical runs.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded; a zero seed is replaced, as xorshift would stay at zero.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.below(WORDS.len())]);
    }
    s
}

fn paragraph(rng: &mut Rng, lines: usize) -> String {
    (0..lines).map(|_| sentence(rng, 10) + ".\r\n").collect()
}

fn base64_blob(rng: &mut Rng, bytes: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let chars = bytes.div_ceil(3) * 4;
    let mut out = String::with_capacity(chars + chars / 76 * 2 + 2);
    for i in 0..chars {
        out.push(ALPHABET[rng.below(64)] as char);
        if i % 76 == 75 {
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out
}

/// Message number `i` of the corpus, with CRLF line ends.
pub fn message(i: usize) -> Vec<u8> {
    let mut rng = Rng::new(i as u64 + 1);
    let needle = i.is_multiple_of(NEEDLE_EVERY);
    let mut subject = format!("{} {} #{i}", sentence(&mut rng, 3), "notes");
    let lines = 3 + rng.below(12);
    let mut text = paragraph(&mut rng, lines);
    if needle {
        subject.push_str(&format!(" {SUBJECT_NEEDLE}"));
        text.push_str(&format!("the {BODY_NEEDLE} was seen again.\r\n"));
    }
    let day = 1 + i % 28;
    let head = format!(
        "Message-ID: <bench.{i}@example.org>\r\n\
         Date: Mon, {day} Sep 2025 10:{:02}:00 +0000\r\n\
         To: Bench User <bench@example.org>\r\n\
         MIME-Version: 1.0\r\n",
        i % 60
    );
    let attachment = 1024 + rng.below(8192);
    let body = match i % 5 {
        0 => format!(
            "From: Alice Example <alice@example.org>\r\nSubject: {subject}\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\r\n{text}"
        ),
        1 => format!(
            "From: Bob <bob@example.org>\r\nSubject: {subject}\r\n\
             Content-Type: multipart/alternative; boundary=\"alt-{i}\"\r\n\r\n\
             --alt-{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\
             --alt-{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
             <html><body><p>{}</p></body></html>\r\n--alt-{i}--\r\n",
            text.replace("\r\n", "<br>")
        ),
        2 => format!(
            "From: Carol <carol@example.org>\r\nSubject: {subject}\r\n\
             Content-Type: multipart/mixed; boundary=\"mix-{i}\"\r\n\r\n\
             --mix-{i}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}\
             --mix-{i}\r\nContent-Type: application/pdf; name=\"report-{i}.pdf\"\r\n\
             Content-Disposition: attachment; filename=\"report-{i}.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}--mix-{i}--\r\n",
            base64_blob(&mut rng, attachment)
        ),
        3 => format!(
            "From: Dave <dave@example.org>\r\nSubject: Fwd: {subject}\r\n\
             Content-Type: multipart/mixed; boundary=\"fwd-{i}\"\r\n\r\n\
             --fwd-{i}\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n\
             --fwd-{i}\r\nContent-Type: message/rfc822\r\n\r\n\
             From: Erin <erin@example.net>\r\nTo: Dave <dave@example.org>\r\n\
             Subject: {subject}\r\nDate: Sun, {day} Sep 2025 09:00:00 +0000\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\r\n{text}--fwd-{i}--\r\n"
        ),
        _ => format!(
            "From: =?ISO-8859-1?Q?Fran=E7ois_M=FCller?= <francois@example.org>\r\n\
             Subject: =?UTF-8?B?w5xiZXJzaWNodA==?= {subject}\r\n\
             Content-Type: text/plain; charset=iso-8859-1\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n\
             Gr=FC=DFe aus M=FCnchen,\r\n{text}"
        ),
    };
    (head + &body).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(msg: &[u8], s: &str) -> bool {
        crate::client::contains(msg, s.as_bytes())
    }

    #[test]
    fn corpus_is_deterministic_and_varied() {
        assert_eq!(message(7), message(7));
        assert_ne!(message(7), message(8));
        let kinds = [
            "text/plain; charset=us-ascii",
            "multipart/alternative",
            "application/pdf",
            "message/rfc822",
            "quoted-printable",
        ];
        for (i, kind) in kinds.iter().enumerate() {
            assert!(has(&message(i + 5), kind), "message {} lacks {kind}", i + 5);
        }
        for i in 0..200 {
            let m = message(i);
            assert!(
                !m.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
                "bare LF in {i}"
            );
            assert_eq!(
                has(&m, SUBJECT_NEEDLE),
                i.is_multiple_of(NEEDLE_EVERY),
                "{i}"
            );
            assert_eq!(has(&m, BODY_NEEDLE), i.is_multiple_of(NEEDLE_EVERY), "{i}");
        }
    }
}
