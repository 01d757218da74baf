//! `roost import pop3`: a small POP3 client (RFC 1939, CAPA and STLS from RFC 2449/2595)
//! that copies the maildrop into INBOX with each old UIDL kept as the legacy UIDL.

use std::collections::HashSet;

use roost_storage::{Flags, MailboxName};

use super::net::Conn;
use super::progress::Progress;
use super::state::State;
use super::{ImportError, Source, Target};

/// One status line: `+OK ...` or `-ERR ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `+OK` with its text.
    Ok(String),
    /// `-ERR` with its text.
    Err(String),
}

/// status = "+OK" [SP text] CRLF / "-ERR" [SP text] CRLF
pub fn parse_status(line: &[u8]) -> Result<Status, ImportError> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    if let Some(rest) = text.strip_prefix("+OK") {
        Ok(Status::Ok(rest.trim_start().to_string()))
    } else if let Some(rest) = text.strip_prefix("-ERR") {
        Ok(Status::Err(rest.trim_start().to_string()))
    } else {
        Err(ImportError::Protocol(format!(
            "expected +OK or -ERR, got {:?}",
            text.chars().take(80).collect::<String>()
        )))
    }
}

/// uidl-line = msg-number SP unique-id ; unique-id = 1*70 (0x21..0x7E)
pub fn parse_uidl_line(line: &[u8]) -> Option<(u32, String)> {
    let text = std::str::from_utf8(line).ok()?;
    let (n, id) = text.trim_end_matches(['\r', '\n']).split_once(' ')?;
    let n: u32 = n.parse().ok()?;
    let id = id.trim_matches(' ');
    let valid = !id.is_empty() && id.len() <= 70 && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
    valid.then(|| (n, id.to_string()))
}

/// Collects a multi-line answer: dot-unstuffed lines until the lone `.` (RFC 1939 3).
#[derive(Debug, Default)]
pub struct MultiLine {
    /// The data so far, line ends as sent (CRLF).
    pub data: Vec<u8>,
    /// More was sent than the limit; the rest is being discarded.
    pub overflow: bool,
    limit: usize,
}

impl MultiLine {
    /// Collect at most `limit` bytes.
    pub fn new(limit: usize) -> MultiLine {
        MultiLine {
            data: Vec::new(),
            overflow: false,
            limit,
        }
    }

    /// Feed one line (with its line end); true when the terminating `.` was seen.
    pub fn feed(&mut self, line: &[u8]) -> bool {
        if line == b".\r\n" || line == b".\n" {
            return true;
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        if self.data.len() + line.len() > self.limit {
            self.overflow = true;
        } else {
            self.data.extend_from_slice(line);
        }
        false
    }
}

struct Client {
    conn: Conn,
}

impl Client {
    async fn command(&mut self, cmd: &str) -> Result<Status, ImportError> {
        self.conn.send(format!("{cmd}\r\n").as_bytes()).await?;
        parse_status(&self.conn.read_line().await?)
    }

    async fn multi(&mut self, limit: usize) -> Result<MultiLine, ImportError> {
        let mut m = MultiLine::new(limit);
        while !m.feed(&self.conn.read_line().await?) {}
        Ok(m)
    }

    async fn capa(&mut self) -> Result<Vec<String>, ImportError> {
        match self.command("CAPA").await? {
            Status::Ok(_) => {
                let m = self.multi(super::net::MAX_LINE).await?;
                Ok(String::from_utf8_lossy(&m.data)
                    .lines()
                    .map(|l| l.trim().to_ascii_uppercase())
                    .collect())
            }
            // RFC 1939 servers without CAPA: nothing advertised.
            Status::Err(_) => Ok(Vec::new()),
        }
    }
}

/// Whether a refused login is worth retrying later (RFC 3206 codes) rather than wrong.
fn temporary(text: &str) -> bool {
    text.contains("[SYS/TEMP]") || text.contains("[IN-USE]")
}

/// Connect, log in (STLS first on a plain port), and copy every message not yet copied.
pub async fn import(
    src: &Source,
    target: &Target<'_>,
    state: &mut State,
    progress: &mut Progress,
) -> Result<(), ImportError> {
    let url = &src.url;
    let conn = Conn::connect(&url.host, url.port, url.implicit_tls.then_some(&src.tls)).await?;
    let mut c = Client { conn };
    if let Status::Err(t) = parse_status(&c.conn.read_line().await?)? {
        return Err(ImportError::Unreachable(format!("greeting: -ERR {t}")));
    }
    let mut caps = c.capa().await?;
    if !c.conn.is_tls() {
        if caps.iter().any(|l| l == "STLS") {
            if let Status::Err(t) = c.command("STLS").await? {
                return Err(ImportError::Tls(format!("STLS refused: {t}")));
            }
            c.conn = c.conn.start_tls(&src.tls).await?;
            caps = c.capa().await?;
        } else if !src.allow_plaintext {
            return Err(ImportError::Tls(format!(
                "{}:{} offers no STLS: use pop3s://, or --allow-plaintext to send the \
                 password unencrypted",
                url.host, url.port
            )));
        }
    }
    if !caps.is_empty() && !caps.iter().any(|l| l == "UIDL") {
        return Err(ImportError::Protocol(
            "the server does not offer UIDL; without UIDLs clients would download \
             everything again"
                .into(),
        ));
    }
    let login = src.login.as_str();
    let password = src.password.expose();
    if login.contains(['\r', '\n']) || password.contains(['\r', '\n']) {
        return Err(ImportError::Usage(
            "user name and password cannot contain line breaks".into(),
        ));
    }
    if let Status::Err(t) = c.command(&format!("USER {login}")).await? {
        return Err(ImportError::Auth(t));
    }
    // Written directly so the password never passes through a formatted log string.
    c.conn
        .send(format!("PASS {password}\r\n").as_bytes())
        .await?;
    match parse_status(&c.conn.read_line().await?)? {
        Status::Ok(_) => {}
        Status::Err(t) if temporary(&t) => return Err(ImportError::Unreachable(t)),
        Status::Err(t) => return Err(ImportError::Auth(t)),
    }

    if let Status::Err(t) = c.command("UIDL").await? {
        return Err(ImportError::Protocol(format!(
            "UIDL refused ({t}); without UIDLs clients would download everything again"
        )));
    }
    let listing = c.multi(usize::MAX).await?;
    let mut uidls = Vec::new();
    for line in listing.data.split_inclusive(|&b| b == b'\n') {
        let parsed = parse_uidl_line(line).ok_or_else(|| {
            ImportError::Protocol(format!(
                "bad UIDL line {:?}",
                String::from_utf8_lossy(line).trim_end()
            ))
        })?;
        uidls.push(parsed);
    }

    let inbox = target.open_or_create(&MailboxName::new("INBOX")?)?;
    let present: HashSet<String> = inbox
        .snapshot()?
        .messages
        .into_iter()
        .filter_map(|m| m.pop3_uidl)
        .collect();
    let key = src.state_key();
    progress.enter(&format!("{key} -> INBOX"), Some(uidls.len() as u64));
    // Room for CRLF line ends on the wire on top of the stored size limit.
    let wire_limit = usize::try_from(target.max_size.saturating_mul(2)).unwrap_or(usize::MAX);
    for (n, uidl) in uidls {
        if state.has(&["pop3", &key, &uidl]) || present.contains(&uidl) {
            state.add(&["pop3", &key, &uidl])?;
            progress.skipped();
            continue;
        }
        let what = format!("message {n} (UIDL {uidl})");
        if let Status::Err(t) = c.command(&format!("RETR {n}")).await? {
            progress.failed(&what, &format!("RETR refused: {t}"));
            continue;
        }
        let body = c.multi(wire_limit).await?;
        if body.overflow {
            progress.failed(&what, "larger than limits.max_message_size");
            continue;
        }
        let data = super::crlf_to_lf(&body.data);
        let staged = super::stage(
            &inbox,
            &data,
            Flags::default(),
            Vec::new(),
            None,
            target.max_size,
        );
        match staged.and_then(|m| inbox.commit_with_pop3_uidls(vec![(m, uidl.clone())])) {
            Ok(_) => {
                state.add(&["pop3", &key, &uidl])?;
                progress.copied(data.len() as u64);
            }
            Err(e) => progress.failed(&what, &e.to_string()),
        }
    }
    // The old maildrop is left as it was: QUIT without DELE changes nothing.
    let _ = c.command("QUIT").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"+OK Dovecot ready.\r\n").unwrap(),
            Status::Ok("Dovecot ready.".into())
        );
        assert_eq!(parse_status(b"+OK\r\n").unwrap(), Status::Ok(String::new()));
        assert_eq!(
            parse_status(b"-ERR [AUTH] Authentication failed.\r\n").unwrap(),
            Status::Err("[AUTH] Authentication failed.".into())
        );
        assert!(parse_status(b"* OK imap\r\n").is_err());
        assert!(temporary("[SYS/TEMP] try later") && !temporary("[AUTH] no"));
    }

    #[test]
    fn uidl_lines() {
        type Row<'a> = (&'a [u8], Option<(u32, &'a str)>);
        let table: &[Row] = &[
            (b"1 000000015a1b2c3d\r\n", Some((1, "000000015a1b2c3d"))),
            (b"12 <abc@x>\n", Some((12, "<abc@x>"))),
            (b"1\r\n", None),
            (b"x abc\r\n", None),
            (b"1 \r\n", None),
            (b"1 caf\xc3\xa9\r\n", None),
        ];
        for (line, want) in table {
            let got = parse_uidl_line(line);
            assert_eq!(
                got.as_ref().map(|(n, s)| (*n, s.as_str())),
                *want,
                "{line:?}"
            );
        }
        let long = format!("1 {}\r\n", "x".repeat(71));
        assert_eq!(parse_uidl_line(long.as_bytes()), None);
    }

    #[test]
    fn multiline_unstuffs_and_stops_at_the_dot_in_any_chunking() {
        let wire: &[&[u8]] = &[
            b"Subject: x\r\n",
            b"\r\n",
            b"..leading dot\r\n",
            b"bare\rcr \xe9\r\n",
            b".\r\n",
        ];
        let mut m = MultiLine::new(1000);
        let mut done = false;
        for l in wire {
            assert!(!done);
            done = m.feed(l);
        }
        assert!(done);
        assert_eq!(
            m.data,
            b"Subject: x\r\n\r\n.leading dot\r\nbare\rcr \xe9\r\n".to_vec()
        );
        let mut small = MultiLine::new(5);
        assert!(!small.feed(b"too long\r\n"));
        assert!(small.overflow && small.data.is_empty());
        assert!(small.feed(b".\r\n"));
    }
}
