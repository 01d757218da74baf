//! LMTP delivery (RFC 2033) as a session state machine: lines in, replies out, messages
//! into the shared storage. No sockets here; the binary's driver feeds lines and writes
//! replies.
//!
//! The message is streamed once into the first recipient's `tmp/` while DATA arrives and
//! staged for the other recipients by hard link, then committed per recipient; each gets
//! its own reply (RFC 2033 4.2), sent only after its copy is safely on disk.

use std::io::Write;
use std::sync::Arc;

use roost_storage::auth::Authenticator;
use roost_storage::{Mailbox, MailboxName, NewMessage, StorageError, Store, TmpWriter, UserStore};
use tracing::{info, warn};

/// Longest command line accepted (RFC 5321 4.5.3.1.4: 512 octets with CRLF).
pub const MAX_COMMAND_LINE: usize = 512;
/// Longest message line accepted in DATA. RFC 5321 allows 1000; real mail sometimes has
/// longer lines, so allow far more, but bound what one line may hold in memory.
pub const MAX_DATA_LINE: usize = 1024 * 1024;
/// The local-part separator of address extensions (`user+detail@host` is `user`).
pub const DETAIL_DELIMITER: char = '+';

/// What a session needs from the server.
#[derive(Clone)]
pub struct LmtpContext {
    /// Announced in the greeting and the LHLO reply.
    pub hostname: String,
    pub store: Arc<Store>,
    pub users: Arc<Authenticator>,
    /// Largest message accepted (SIZE).
    pub max_message_size: u64,
    /// Most recipients of one transaction.
    pub max_recipients: usize,
}

/// The bytes to send, and whether to close afterwards.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub close: bool,
}

impl Reply {
    fn line(text: &str) -> Reply {
        Reply {
            bytes: format!("{text}\r\n").into_bytes(),
            close: false,
        }
    }
}

struct Recipient {
    address: String,
    user: String,
    mailbox: Arc<Mailbox>,
    /// The user's mail, which checks the quota on commit.
    store: UserStore,
}

enum Body {
    /// Streaming into the first recipient's `tmp/`.
    Writing(TmpWriter),
    /// Over the size limit: the rest is read and dropped.
    TooBig,
    /// A line over [`MAX_DATA_LINE`]: the message cannot be stored faithfully.
    LineTooLong,
    /// Writing failed; the error is reported for every recipient.
    Failed(StorageError),
}

enum State {
    /// Before LHLO.
    Greeted,
    /// After LHLO, no transaction.
    Ready,
    /// After MAIL FROM; recipients being added.
    Transaction { from: String, rcpts: Vec<Recipient> },
    /// Receiving the message.
    Data { rcpts: Vec<Recipient>, body: Body },
}

/// One LMTP connection.
pub struct LmtpSession {
    ctx: LmtpContext,
    state: State,
}

fn verb(line: &str) -> (String, &str) {
    let (v, rest) = line.split_once(' ').unwrap_or((line, ""));
    (v.to_ascii_uppercase(), rest.trim_start())
}

/// `MAIL FROM:<path> [params]` / `RCPT TO:<path> [params]`: the address and the params.
/// `path = "<" [ A-d-l ":" ] mailbox ">"`, with `<>` allowed for MAIL.
fn parse_path<'a>(arg: &'a str, prefix: &str) -> Option<(String, Vec<&'a str>)> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    // A quoted local part may contain '>': find the closing bracket outside quotes.
    let mut quoted = false;
    let mut end = None;
    for (i, c) in rest.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end?;
    let mut addr = &rest[..end];
    // RFC 5321 paths have no control characters (a quoted-pair is %d32-126); a bare CR
    // would also break the reply that echoes the address.
    if addr.chars().any(char::is_control) {
        return None;
    }
    // Source routes (`@a,@b:user@c`) are obsolete; the mailbox is after the colon.
    if addr.starts_with('@')
        && let Some((_, m)) = addr.split_once(':')
    {
        addr = m;
    }
    let params = rest[end + 1..].split_whitespace().collect();
    Some((addr.to_string(), params))
}

fn size_param(params: &[&str]) -> Result<Option<u64>, ()> {
    for p in params {
        if p.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("SIZE=")) {
            return p[5..].parse().map(Some).map_err(|_| ());
        }
    }
    Ok(None)
}

impl LmtpSession {
    /// A new session; send [`LmtpSession::greeting`] first.
    pub fn new(ctx: LmtpContext) -> LmtpSession {
        LmtpSession {
            ctx,
            state: State::Greeted,
        }
    }

    /// The `220` greeting.
    pub fn greeting(&self) -> Vec<u8> {
        format!("220 {} Roost LMTP ready\r\n", self.ctx.hostname).into_bytes()
    }

    /// Whether the next line belongs to a message (the driver allows longer lines then).
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data { .. })
    }

    /// The line limit for the next line.
    pub fn max_line(&self) -> usize {
        if self.in_data() {
            MAX_DATA_LINE
        } else {
            MAX_COMMAND_LINE
        }
    }

    /// A line longer than [`LmtpSession::max_line`] arrived (the driver dropped its rest).
    pub fn line_too_long(&mut self) -> Reply {
        if let State::Data { body, .. } = &mut self.state {
            *body = Body::LineTooLong;
            return Reply::default();
        }
        Reply::line("500 5.5.2 Line too long")
    }

    /// The client went away; anything not yet answered with 250 is dropped (its file in
    /// `tmp/` is removed).
    pub fn disconnected(&mut self) {
        self.state = State::Ready;
    }

    /// One line, without its CRLF. May do blocking storage I/O.
    pub fn handle_line(&mut self, line: &[u8]) -> Reply {
        if self.in_data() {
            return self.data_line(line);
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return Reply::line("500 5.5.2 Commands must be ASCII");
        };
        let (verb, arg) = verb(text.trim_end());
        match verb.as_str() {
            "LHLO" => self.lhlo(arg),
            "HELO" | "EHLO" => Reply::line("500 5.5.1 This is LMTP: use LHLO"),
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => self.data(arg),
            "RSET" => {
                if !matches!(self.state, State::Greeted) {
                    self.state = State::Ready;
                }
                Reply::line("250 2.0.0 OK")
            }
            "NOOP" => Reply::line("250 2.0.0 OK"),
            "VRFY" => Reply::line("252 2.3.3 Cannot verify, but will try delivery"),
            "QUIT" => Reply {
                bytes: b"221 2.0.0 Bye\r\n".to_vec(),
                close: true,
            },
            "BDAT" => Reply::line("502 5.5.1 CHUNKING is not supported"),
            _ => Reply::line("500 5.5.2 Unknown command"),
        }
    }

    fn lhlo(&mut self, arg: &str) -> Reply {
        if arg.is_empty() {
            return Reply::line("501 5.5.4 Syntax: LHLO hostname");
        }
        self.state = State::Ready;
        let text = format!(
            "250-{}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE {}\r\n",
            self.ctx.hostname, self.ctx.max_message_size
        );
        Reply {
            bytes: text.into_bytes(),
            close: false,
        }
    }

    fn mail(&mut self, arg: &str) -> Reply {
        match self.state {
            State::Greeted => return Reply::line("503 5.5.1 Send LHLO first"),
            State::Transaction { .. } => return Reply::line("503 5.5.1 MAIL already given"),
            _ => {}
        }
        let Some((from, params)) = parse_path(arg, "FROM:") else {
            return Reply::line("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        match size_param(&params) {
            Err(()) => return Reply::line("501 5.5.4 Bad SIZE parameter"),
            Ok(Some(n)) if n > self.ctx.max_message_size => {
                return Reply::line(&format!(
                    "552 5.3.4 Message too big: the limit is {} bytes",
                    self.ctx.max_message_size
                ));
            }
            Ok(_) => {}
        }
        self.state = State::Transaction {
            from,
            rcpts: Vec::new(),
        };
        Reply::line("250 2.1.0 OK")
    }

    /// The user an address delivers to: the whole address, then without its `+detail`,
    /// then the local part, each as given and lowercased.
    fn resolve(&self, address: &str) -> Option<String> {
        let (local, domain) = match address.rsplit_once('@') {
            Some((l, d)) => (l, Some(d)),
            None => (address, None),
        };
        let base = local.split(DETAIL_DELIMITER).next().unwrap_or(local);
        let mut candidates = vec![address.to_string()];
        if let Some(d) = domain {
            candidates.push(format!("{base}@{d}"));
        }
        candidates.push(local.to_string());
        candidates.push(base.to_string());
        let lower: Vec<String> = candidates.iter().map(|c| c.to_lowercase()).collect();
        candidates.extend(lower);
        candidates
            .into_iter()
            .find(|c| !c.is_empty() && self.ctx.users.lookup(c).is_some())
    }

    fn rcpt(&mut self, arg: &str) -> Reply {
        let State::Transaction { rcpts, .. } = &self.state else {
            return Reply::line("503 5.5.1 Send MAIL first");
        };
        if rcpts.len() >= self.ctx.max_recipients {
            return Reply::line("452 4.5.3 Too many recipients");
        }
        let Some((address, _params)) = parse_path(arg, "TO:") else {
            return Reply::line("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        let Some(user) = self.resolve(&address) else {
            return Reply::line(&format!("550 5.1.1 <{address}> User doesn't exist"));
        };
        let inbox = MailboxName::new("INBOX").expect("INBOX is a valid name");
        let opened = self
            .ctx
            .store
            .user(&user)
            .and_then(|u| u.open(&inbox).map(|m| (u, m)));
        let (store, mailbox) = match opened {
            Ok(m) => m,
            Err(e) => {
                warn!(user, error = %e, "cannot open INBOX for delivery");
                return Reply::line(&format!("451 4.3.0 <{address}> Temporary failure"));
            }
        };
        if let State::Transaction { rcpts, .. } = &mut self.state {
            rcpts.push(Recipient {
                address,
                user,
                mailbox,
                store,
            });
        }
        Reply::line("250 2.1.5 OK")
    }

    fn data(&mut self, arg: &str) -> Reply {
        if !arg.is_empty() {
            return Reply::line("501 5.5.4 DATA takes no parameters");
        }
        let State::Transaction { from, rcpts } = &mut self.state else {
            return Reply::line("503 5.5.1 Send MAIL and RCPT first");
        };
        if rcpts.is_empty() {
            return Reply::line("503 5.5.1 No valid recipients");
        }
        let rcpts = std::mem::take(rcpts);
        let return_path = format!("Return-Path: <{from}>\n");
        let body = match rcpts[0].mailbox.create_tmp(self.ctx.max_message_size) {
            Ok(mut w) => match w.write_all(return_path.as_bytes()) {
                Ok(()) => Body::Writing(w),
                Err(e) => Body::Failed(StorageError::io("writing message", e)),
            },
            Err(e) => Body::Failed(e),
        };
        self.state = State::Data { rcpts, body };
        Reply::line("354 Start mail input; end with <CRLF>.<CRLF>")
    }

    fn data_line(&mut self, line: &[u8]) -> Reply {
        let State::Data { body, .. } = &mut self.state else {
            unreachable!("data_line outside DATA")
        };
        if line == b"." {
            return self.finish_data();
        }
        // RFC 5321 4.5.2: a leading dot was doubled by the client.
        let line = line.strip_prefix(b".").unwrap_or(line);
        if let Body::Writing(w) = body {
            let written = w.write_all(line).and_then(|()| w.write_all(b"\n"));
            if let Err(e) = written {
                *body = if e.kind() == std::io::ErrorKind::FileTooLarge {
                    Body::TooBig
                } else {
                    Body::Failed(StorageError::io("writing message", e))
                };
            }
        }
        Reply::default()
    }

    fn finish_data(&mut self) -> Reply {
        let State::Data { rcpts, body } = std::mem::replace(&mut self.state, State::Ready) else {
            unreachable!("finish_data outside DATA")
        };
        let mut out = Vec::new();
        let mut each = |text: String| {
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        };
        let writer = match body {
            Body::Writing(w) => w,
            Body::TooBig => {
                for r in &rcpts {
                    each(format!(
                        "552 5.3.4 <{}> Message too big: the limit is {} bytes",
                        r.address, self.ctx.max_message_size
                    ));
                }
                return Reply {
                    bytes: out,
                    close: false,
                };
            }
            Body::LineTooLong => {
                for r in &rcpts {
                    each(format!(
                        "554 5.6.0 <{}> A line is longer than {MAX_DATA_LINE} bytes",
                        r.address
                    ));
                }
                return Reply {
                    bytes: out,
                    close: false,
                };
            }
            Body::Failed(e) => {
                for r in &rcpts {
                    each(failure_reply(&r.address, &e));
                }
                return Reply {
                    bytes: out,
                    close: false,
                };
            }
        };
        let first = match writer.finish(None) {
            Ok(t) => t,
            Err(e) => {
                for r in &rcpts {
                    each(failure_reply(&r.address, &e));
                }
                return Reply {
                    bytes: out,
                    close: false,
                };
            }
        };
        // Stage every other copy before the first commit moves the upload away.
        let mut staged: Vec<Result<roost_storage::TmpMessage, StorageError>> = rcpts[1..]
            .iter()
            .map(|r| r.mailbox.stage_copy(&first))
            .collect();
        staged.insert(0, Ok(first));
        for (r, tmp) in rcpts.iter().zip(staged) {
            let result = tmp.and_then(|tmp| {
                r.store
                    .commit(&r.mailbox, vec![NewMessage::delivered(tmp)], true)
            });
            match result {
                Ok(uids) => {
                    info!(user = %r.user, uid = uids[0], "delivered");
                    each(format!("250 2.0.0 <{}> Saved", r.address));
                }
                Err(e) => {
                    warn!(user = %r.user, error = %e, "delivery failed");
                    each(failure_reply(&r.address, &e));
                }
            }
        }
        Reply {
            bytes: out,
            close: false,
        }
    }
}

/// The per-recipient reply for a storage failure: temporary where trying later may work.
fn failure_reply(address: &str, e: &StorageError) -> String {
    match e {
        StorageError::TooBig { limit } => {
            format!("552 5.3.4 <{address}> Message too big: the limit is {limit} bytes")
        }
        StorageError::NoSpace => format!("452 4.3.1 <{address}> Insufficient system storage"),
        // RFC 3463 4.2.2 "mailbox full", temporary like Dovecot's quota_full_tempfail: the
        // MTA keeps the mail and retries once the user made room.
        StorageError::OverQuota(_) => format!("452 4.2.2 <{address}> Mailbox is full ({e})"),
        // 4.2.0: the mailbox is fine but busy (another process holds its lock).
        StorageError::LockTimeout(_) => {
            format!("451 4.2.0 <{address}> Mailbox is busy, try again later ({e})")
        }
        _ => format!("451 4.3.0 <{address}> Temporary failure, try again later"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_params() {
        let (a, p) = parse_path("FROM:<a@b.example> SIZE=100 BODY=8BITMIME", "FROM:").unwrap();
        assert_eq!(a, "a@b.example");
        assert_eq!(p, vec!["SIZE=100", "BODY=8BITMIME"]);
        assert_eq!(parse_path("from: <>", "FROM:").unwrap().0, "");
        assert_eq!(
            parse_path("TO:<\"we>ird\"@x>", "TO:").unwrap().0,
            "\"we>ird\"@x"
        );
        assert_eq!(parse_path("TO:<@r1,@r2:u@x>", "TO:").unwrap().0, "u@x");
        assert!(parse_path("TO:u@x", "TO:").is_none());
        assert!(parse_path("TO:<u@x", "TO:").is_none());
        assert!(parse_path("FROM<u@x>", "FROM:").is_none());
        // Found by the lmtp_session fuzz target: a CR inside the path was echoed in the reply.
        assert!(parse_path("TO:<a\r\u{4}b@x>", "TO:").is_none());
        assert_eq!(size_param(&["size=42"]), Ok(Some(42)));
        assert_eq!(size_param(&["SIZE=x"]), Err(()));
        assert_eq!(size_param(&["BODY=7BIT"]), Ok(None));
    }
}
