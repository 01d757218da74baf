//! `roost import mbox`: messages of an mbox file (mboxrd or mboxo) into one mailbox.
//!
//! A message starts at a `From ` line at the start of the file or after an empty line
//! (requiring the empty line keeps an unescaped `From ` inside an mboxo body from splitting
//! it in most real files). In the body, `>From `, `>>From `... lose one `>` (mboxrd; for
//! mboxo only `>From ` is quoted, which the same rule undoes). The empty line before the
//! next separator belongs to the file format and is dropped. The separator's date becomes
//! INTERNALDATE; `Status:`/`X-Status:` headers (as written by mutt, Thunderbird, Dovecot)
//! give the flags.

use std::io::{BufRead, BufReader};
use std::path::Path;

use roost_storage::{Flags, MailboxName};
use sha2::{Digest, Sha256};

use super::imap::parse_month;
use super::progress::Progress;
use super::state::State;
use super::{ImportError, Target};

/// One message cut out of an mbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// The message, unescaped, with its line ends as in the file.
    pub data: Vec<u8>,
    /// The date of the `From ` line, seconds since the epoch, when it parses.
    pub date: Option<i64>,
    /// Flags from `Status:` and `X-Status:`.
    pub flags: Flags,
    /// 1-based position in the file, for messages to the admin.
    pub number: u64,
}

/// Splits an mbox stream into messages, one at a time.
pub struct MboxReader<R> {
    input: R,
    /// The separator line that starts the next message, once read.
    pending_from: Option<Vec<u8>>,
    number: u64,
    started: bool,
}

fn is_from_line(line: &[u8]) -> bool {
    line.starts_with(b"From ")
}

/// `>+From ` loses one `>`.
fn unquote(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

fn is_empty_line(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

impl<R: BufRead> MboxReader<R> {
    /// Read messages from `input`.
    pub fn new(input: R) -> MboxReader<R> {
        MboxReader {
            input,
            pending_from: None,
            number: 0,
            started: false,
        }
    }

    fn read_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut line = Vec::new();
        if self.input.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line))
    }

    /// The next message, or None at the end. Data before the first `From ` line is an error.
    pub fn next_message(&mut self) -> Result<Option<MboxMessage>, ImportError> {
        let io = |e: std::io::Error| ImportError::Input(format!("reading the mbox: {e}"));
        if !self.started {
            self.started = true;
            // Blank lines before the first separator are tolerated.
            loop {
                match self.read_line().map_err(io)? {
                    None => return Ok(None),
                    Some(l) if is_empty_line(&l) => continue,
                    Some(l) if is_from_line(&l) => {
                        self.pending_from = Some(l);
                        break;
                    }
                    Some(_) => {
                        return Err(ImportError::Input(
                            "not an mbox file: it does not start with a \"From \" line".into(),
                        ));
                    }
                }
            }
        }
        let Some(from) = self.pending_from.take() else {
            return Ok(None);
        };
        self.number += 1;
        let mut data = Vec::new();
        let mut prev_empty = false;
        while let Some(line) = self.read_line().map_err(io)? {
            if prev_empty && is_from_line(&line) {
                self.pending_from = Some(line);
                break;
            }
            prev_empty = is_empty_line(&line);
            data.extend_from_slice(unquote(&line));
        }
        // The separator's blank line is not part of the message.
        if self.pending_from.is_some() || data.ends_with(b"\n\n") || data.ends_with(b"\r\n\r\n") {
            if data.ends_with(b"\r\n") {
                data.truncate(data.len() - 2);
            } else if data.ends_with(b"\n") {
                data.truncate(data.len() - 1);
            }
        }
        let flags = status_flags(&data);
        Ok(Some(MboxMessage {
            date: parse_from_date(&from),
            flags,
            data,
            number: self.number,
        }))
    }
}

/// Flags from the `Status:` (R read) and `X-Status:` (A answered, F flagged, T draft,
/// D deleted) headers in the message's header.
pub fn status_flags(data: &[u8]) -> Flags {
    let mut flags = Flags::default();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        let Some((name, value)) = text.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("Status") {
            if value.contains('R') {
                flags.insert(Flags::SEEN);
            }
        } else if name.eq_ignore_ascii_case("X-Status") {
            for (c, f) in [
                ('A', Flags::ANSWERED),
                ('F', Flags::FLAGGED),
                ('T', Flags::DRAFT),
                ('D', Flags::DELETED),
            ] {
                if value.contains(c) {
                    flags.insert(f);
                }
            }
        }
    }
    flags
}

/// from-line = "From " sender SP asctime-date [SP zone] ; e.g.
/// `From MAILER-DAEMON Fri Jul  8 12:08:34 2011`. The date is taken as UTC.
pub fn parse_from_date(line: &[u8]) -> Option<i64> {
    let text = String::from_utf8_lossy(line);
    let words: Vec<&str> = text.split_whitespace().collect();
    // Find "Mon DD HH:MM:SS YYYY" after a weekday, wherever the sender ends.
    for i in 2..words.len().saturating_sub(3) {
        let Some(month) = parse_month(words[i]) else {
            continue;
        };
        let day: u32 = words[i + 1].parse().ok()?;
        let mut hms = words[i + 2].split(':').map(|p| p.parse::<u32>().ok());
        let (h, m, s) = (
            hms.next()??,
            hms.next()??,
            hms.next().flatten().unwrap_or(0),
        );
        let year: i64 = words[i + 3].parse().ok()?;
        return super::imap::civil_to_unix(year, month, day, h, m, s);
    }
    None
}

fn digest(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Copy every message of `file` not copied before into `mailbox`.
pub fn import(
    file: &Path,
    opened: Option<&std::fs::File>,
    mailbox: &str,
    target: &Target<'_>,
    state: &mut State,
    progress: &mut Progress,
) -> Result<(), ImportError> {
    let fh = match opened {
        // Opened as root before the privilege drop.
        Some(f) => f.try_clone(),
        None => std::fs::File::open(file),
    }
    .map_err(|e| ImportError::Input(format!("cannot open {}: {e}", file.display())))?;
    let key = std::fs::canonicalize(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string();
    let name = MailboxName::new(mailbox).map_err(|e| ImportError::Usage(e.to_string()))?;
    let mb = target.open_or_create(&name)?;
    progress.enter(&format!("{} -> {}", file.display(), name.as_str()), None);
    let mut reader = MboxReader::new(BufReader::new(fh));
    while let Some(m) = reader.next_message()? {
        // Content, not position, identifies a message: the file may have grown or been
        // rewritten by a mail client between runs.
        let id = digest(&m.data);
        if state.has(&["mbox", &key, &id]) {
            progress.skipped();
            continue;
        }
        let what = format!("message {} of {}", m.number, file.display());
        let committed = super::stage(&mb, &m.data, m.flags, Vec::new(), m.date, target.max_size)
            .and_then(|msg| mb.commit(vec![msg], false));
        match committed {
            Ok(_) => {
                state.add(&["mbox", &key, &id])?;
                progress.copied(m.data.len() as u64);
            }
            Err(e) => progress.failed(&what, &e.to_string()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8]) -> Vec<MboxMessage> {
        let mut r = MboxReader::new(input);
        let mut out = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn mboxrd_is_split_and_unescaped() {
        let input = b"From a@example.org Fri Jul  8 12:08:34 2011\n\
Status: RO\n\
X-Status: AF\n\
Subject: one\n\
\n\
>From the start\n\
>>From quoted twice\n\
From inside a paragraph stays\n\
\n\
From b@example.org Sat Jan  3 01:05:34 1996\n\
Subject: two\n\
\n\
bare\rcr \xe9\n";
        let msgs = split(input);
        assert_eq!(msgs.len(), 2);
        assert_eq!(
            msgs[0].data,
            b"Status: RO\nX-Status: AF\nSubject: one\n\nFrom the start\n>From quoted twice\nFrom inside a paragraph stays\n".to_vec()
        );
        assert_eq!(msgs[0].date, Some(1_310_126_914));
        assert_eq!(
            msgs[0].flags,
            Flags::SEEN.union(Flags::ANSWERED).union(Flags::FLAGGED)
        );
        assert_eq!(msgs[1].data, b"Subject: two\n\nbare\rcr \xe9\n".to_vec());
        assert_eq!(msgs[1].date, Some(820_631_134));
        assert_eq!(msgs[1].flags, Flags::default());
        assert_eq!(msgs[1].number, 2);
    }

    #[test]
    fn empty_and_non_mbox_inputs() {
        assert!(split(b"").is_empty());
        assert!(split(b"\n\n").is_empty());
        let mut r = MboxReader::new(&b"Subject: not an mbox\n"[..]);
        assert!(r.next_message().is_err());
    }

    #[test]
    fn from_dates() {
        let table: &[(&[u8], Option<i64>)] = &[
            (
                b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011\n",
                Some(1_310_126_914),
            ),
            (b"From x Thu Jan  1 00:00:00 1970\n", Some(0)),
            (b"From x\n", None),
            (b"From x Thu Foo  1 00:00:00 1970\n", None),
        ];
        for (line, want) in table {
            assert_eq!(parse_from_date(line), *want, "{line:?}");
        }
    }
}
