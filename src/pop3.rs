//! The tokio driver for POP3: socket, TLS, timeouts, shutdown and the failure delay
//! around the sans-IO [`Pop3Session`]. Session calls touch storage, so they run on the
//! blocking pool; message bodies are streamed from the file in 64 KiB chunks.

use std::io;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use roost_config::Config;
use roost_pop3::{
    Frame, LineLimits, LoginDelays, LoginGate, MaildropLocks, Output, Pop3Context, Pop3Session,
    Pop3Settings, UidlFormat,
};
use tokio::io::AsyncReadExt;

use crate::conn::{Connection, LineRead};
use crate::login_record::LoginRecorder;
use crate::server::SessionContext;

/// Read size when streaming a message: large enough for few syscalls, small enough that
/// a 50 MB RETR never holds more than this (plus its dot-stuffed copy) in memory.
const STREAM_CHUNK: usize = 64 * 1024;

/// Messages up to this size are read and dot-stuffed whole on the blocking pool, where the
/// command already runs, and go out with their `+OK` line and terminator in one write;
/// larger ones are streamed in [`STREAM_CHUNK`]s. The benchmark found RETR paying a
/// blocking-pool hop per file read and three writes per message.
const INLINE_REPLY_MAX: u64 = 1024 * 1024;

/// Maildrop locks of this process: one registry for all POP3 sessions, never seen by IMAP.
static LOCKS: LazyLock<MaildropLocks> = LazyLock::new(MaildropLocks::default);

/// Last POP3 login per user in this process, for LOGIN-DELAY.
static LOGIN_DELAYS: LazyLock<LoginDelays> = LazyLock::new(LoginDelays::default);

/// The POP3 settings of a configuration.
pub fn settings(config: &Config) -> Pop3Settings {
    let p = &config.pop3;
    let uidl_format = UidlFormat::parse(&p.uidl_format).unwrap_or_else(|e| {
        // The config crate validated it already; this only guards against drift.
        tracing::warn!(error = %e, "pop3.uidl_format unusable; using the Dovecot default");
        UidlFormat::default()
    });
    Pop3Settings {
        uidl_format,
        deleted_keyword: p.deleted_keyword.clone(),
        retr_sets_seen: p.retr_sets_seen,
        lock_maildrop: p.lock_maildrop,
        apop: p.apop,
        expire_days: p.expire_days,
        login_delay_secs: p.login_delay_secs,
        limits: LineLimits {
            command: p.max_line_length,
            ..LineLimits::default()
        },
        require_tls: config.auth.require_tls,
        protocol_denied_message: config.auth.protocol_denied_message.clone(),
    }
}

/// This host's name, for greetings (POP3 APOP timestamps, LMTP).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match (rc, std::str::from_utf8(&buf[..end])) {
        (0, Ok(h)) if !h.is_empty() => h.to_owned(),
        _ => "localhost".to_owned(),
    }
}

/// Serve one POP3 connection until QUIT, disconnect, idle timeout or shutdown.
pub async fn serve(mut conn: Connection, mut ctx: SessionContext) -> io::Result<()> {
    let config = Arc::clone(&ctx.config);
    let policy = config.auth.cleartext;
    let loopback = conn.is_loopback();
    let ip = conn.peer_addr().ip();
    let gate: LoginGate = ctx.login_gate(ip);
    let mut logins = LoginRecorder::new(&ctx.logins, "pop3", ip);
    let mut session = Pop3Session::new(Pop3Context {
        is_tls: conn.is_tls(),
        stls_available: !conn.is_tls(),
        cleartext_allowed: policy.allows(conn.is_tls(), loopback),
        store: Arc::clone(&ctx.store),
        auth: Arc::clone(&ctx.users),
        settings: Arc::new(settings(&config)),
        hostname: hostname(),
        peer: conn.peer_addr().to_string(),
        locks: LOCKS.clone(),
        login_delays: LOGIN_DELAYS.clone(),
        login_gate: Some(gate),
    });
    let idle = Duration::from_secs(config.pop3.idle_timeout_secs);
    let cached_max = config.pop3.cached_retr_max_size;
    // From connect, not from the last command: a client that keeps talking without ever
    // logging in cannot hold a connection either.
    let login_deadline =
        tokio::time::Instant::now() + Duration::from_secs(config.limits.login_timeout_secs);
    conn.set_line_deadline(Duration::from_secs(config.limits.line_deadline_secs));
    conn.set_rawlog(&config, crate::rawlog::RawProto::Pop3);
    conn.write_all(&session.greeting()).await?;
    conn.flush().await?;
    // The mechanism of the last login attempt, for the login metrics.
    let mut mechanism = String::from("other");
    loop {
        // The limits count the CRLF; read_line's does not.
        let max = session.max_line().saturating_sub(2).max(1);
        let read = tokio::select! {
            _ = ctx.shutdown.wait() => {
                if ctx.shutdown.kicked() {
                    // POP3 has no way to say why; closing without QUIT deletes nothing.
                    tracing::info!("kicked by the admin");
                    let _ = conn.shutdown().await;
                    return Ok(());
                }
                return conn.goodbye(b"-ERR [SYS/TEMP] Server shutting down\r\n").await;
            }
            r = tokio::time::timeout_at(
                if session.is_authenticated() {
                    tokio::time::Instant::now() + idle
                } else {
                    login_deadline.min(tokio::time::Instant::now() + idle)
                },
                conn.read_line(max),
            ) => r,
        };
        let frame = match read {
            Err(_) if !session.is_authenticated() => {
                tracing::info!("login timeout");
                return conn.goodbye(b"-ERR Login timeout, disconnecting\r\n").await;
            }
            Err(_) => {
                return conn
                    .goodbye(b"-ERR Autologout; idle for too long\r\n")
                    .await;
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::TimedOut => {
                tracing::info!("command line too slow");
                return conn
                    .goodbye(b"-ERR Command line too slow, disconnecting\r\n")
                    .await;
            }
            Ok(read) => match read? {
                LineRead::Line(l) => Frame::Line(l),
                LineRead::TooLong => Frame::TooLong,
                LineRead::Eof => return Ok(()),
            },
        };
        let was_authenticated = session.is_authenticated();
        let command = match (&frame, session.frame_mode()) {
            (Frame::Line(l), roost_pop3::FrameMode::Command) => Some(command_name(l)),
            _ => None,
        };
        if let Some(m) = command.and_then(login_mechanism(&frame)) {
            mechanism = m;
        }
        let started = std::time::Instant::now();
        let outputs = match answer_nowait(&mut session, frame, cached_max) {
            Ok(outputs) => outputs,
            Err(job) => {
                // The blocking pool does not inherit the span; without it the session's log
                // lines (logins above all) would lose the protocol and session id.
                let span = tracing::Span::current();
                let (back, outputs) = tokio::task::spawn_blocking(move || {
                    let _in = span.enter();
                    let outputs = match job {
                        Blocking::Frame(frame) => coalesce(session.handle(frame)),
                        Blocking::Outputs(outputs) => coalesce(outputs),
                    };
                    (session, outputs)
                })
                .await
                .map_err(io::Error::other)?;
                session = back;
                outputs?
            }
        };
        let proto = crate::server::Proto::Pop3;
        if let Some(name) = command {
            ctx.metrics.command(proto, name, started.elapsed());
        }
        if !was_authenticated && session.is_authenticated() {
            ctx.metrics.login(proto, &mechanism, true);
        }
        conn.rawlog_user(session.user_name());
        let mut banned = false;
        for output in outputs {
            match output {
                Output::Write(bytes) => conn.write_all(&bytes).await?,
                Output::AuthFailed(user) => {
                    conn.flush().await?;
                    ctx.metrics.login(proto, &mechanism, false);
                    let penalty = ctx.guard.failure_for(ip, user.as_deref());
                    if penalty.banned {
                        ctx.metrics.ban();
                    }
                    banned |= penalty.banned;
                    tokio::time::sleep(penalty.delay).await;
                }
                Output::StartTls => {
                    conn.flush().await?;
                    conn.start_tls(&ctx.tls).await?;
                    if let Some(this) = &ctx.this {
                        this.set_tls();
                    }
                    session.tls_started(policy.allows(true, loopback));
                }
                Output::Stream {
                    file,
                    stuffer,
                    header,
                } => stream(&mut conn, file, stuffer, header).await?,
                Output::Close => {
                    conn.flush().await?;
                    let _ = conn.shutdown().await;
                    return Ok(());
                }
                Output::LoggedIn { user, mechanism } => {
                    logins.logged_in(&user, &mechanism, conn.is_tls(), None);
                }
            }
        }
        conn.flush().await?;
        if banned {
            // The NO is already out; nothing this address sends would be believed now.
            return conn
                .goodbye(crate::server::Proto::Pop3.banned_reply())
                .await;
        }
    }
}

/// The command of a line, as one of the metrics' fixed names (`other` for the rest).
fn command_name(line: &[u8]) -> &'static str {
    let word = line.split(|&b| b == b' ').next().unwrap_or_default();
    let word = String::from_utf8_lossy(word);
    crate::metrics::POP3_COMMANDS
        .iter()
        .find(|c| c.eq_ignore_ascii_case(&word))
        .copied()
        .unwrap_or("other")
}

/// For a login command, its mechanism: `USER` for USER/PASS, `APOP`, or AUTH's argument.
fn login_mechanism(frame: &Frame) -> impl Fn(&'static str) -> Option<String> + '_ {
    move |name| match name {
        "USER" | "PASS" => Some("USER".into()),
        "APOP" => Some("APOP".into()),
        "AUTH" => match frame {
            Frame::Line(l) => l
                .split(|&b| b == b' ')
                .nth(1)
                .map(|m| String::from_utf8_lossy(m).to_ascii_uppercase()),
            _ => None,
        },
        _ => None,
    }
}

/// What is left for the blocking pool after [`answer_nowait`].
enum Blocking {
    /// The line, for [`Pop3Session::handle`].
    Frame(Frame),
    /// The session's answer, whose message file is not (all) in the page cache.
    Outputs(Vec<Output>),
}

/// The answer to `frame` computed on this runtime thread when nothing in it can block: a
/// command the session answers from memory, or a RETR/TOP of a message of at most
/// `max_message` octets that is in the page cache. The benchmark found the blocking-pool
/// round trip (two thread switches) to be most of the cost of a small RETR. The `open`
/// itself may still read an inode from disk; after the session's listing it is cached.
fn answer_nowait(
    session: &mut Pop3Session,
    frame: Frame,
    max_message: u64,
) -> Result<Vec<Output>, Blocking> {
    if max_message == 0 {
        return Err(Blocking::Frame(frame));
    }
    let outputs = session
        .try_handle_nowait(frame, max_message)
        .map_err(Blocking::Frame)?;
    // Every message file of the answer, read now if all of it is cached.
    let cached: Option<Vec<Option<Vec<u8>>>> = outputs
        .iter()
        .map(|o| match o {
            Output::Stream { file, .. } => {
                crate::cached_read::read_cached(file, max_message).map(Some)
            }
            _ => Some(None),
        })
        .collect();
    let Some(cached) = cached else {
        return Err(Blocking::Outputs(outputs));
    };
    let outputs = outputs
        .into_iter()
        .zip(cached)
        .map(|(o, data)| match (o, data) {
            (
                Output::Stream {
                    stuffer, header, ..
                },
                Some(data),
            ) => Output::Write(stuffed(header, stuffer, &data)),
            (o, _) => o,
        });
    Ok(join_writes(outputs))
}

/// Adjacent writes joined into one.
fn join_writes(outputs: impl Iterator<Item = Output>) -> Vec<Output> {
    let mut merged: Vec<Output> = Vec::new();
    for output in outputs {
        if let (Output::Write(bytes), Some(Output::Write(last))) = (&output, merged.last_mut()) {
            last.extend_from_slice(bytes);
            continue;
        }
        merged.push(output);
    }
    merged
}

/// `reply` (the `+OK` line) followed by `data` dot-stuffed and the terminator.
fn stuffed(mut reply: Vec<u8>, mut stuffer: roost_pop3::DotStuffer, data: &[u8]) -> Vec<u8> {
    reply.reserve(data.len() + data.len() / 16 + 8);
    stuffer.feed(data, &mut reply);
    stuffer.finish(&mut reply);
    reply
}

/// Replaces small message streams by whole replies and joins adjacent writes, so a
/// reply costs one write. Runs on the blocking pool (it reads files).
fn coalesce(outputs: Vec<Output>) -> io::Result<Vec<Output>> {
    let mut read = Vec::with_capacity(outputs.len());
    for output in outputs {
        read.push(match output {
            Output::Stream {
                file,
                stuffer,
                header,
            } => inline(file, stuffer, header)?,
            other => other,
        });
    }
    Ok(join_writes(read.into_iter()))
}

/// One message reply as a single buffer, or the stream unchanged when the file is large.
fn inline(
    mut file: std::fs::File,
    stuffer: roost_pop3::DotStuffer,
    reply: Vec<u8>,
) -> io::Result<Output> {
    let len = file.metadata()?.len();
    if len > INLINE_REPLY_MAX {
        return Ok(Output::Stream {
            file,
            stuffer,
            header: reply,
        });
    }
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    std::io::Read::read_to_end(&mut file, &mut data)?;
    Ok(Output::Write(stuffed(reply, stuffer, &data)))
}

/// Header, then the file through the dot-stuffer chunk by chunk, then the terminator.
async fn stream(
    conn: &mut Connection,
    file: std::fs::File,
    mut stuffer: roost_pop3::DotStuffer,
    header: Vec<u8>,
) -> io::Result<()> {
    conn.write_all(&header).await?;
    let mut file = tokio::fs::File::from_std(file);
    let mut buf = vec![0u8; STREAM_CHUNK];
    let mut out = Vec::with_capacity(STREAM_CHUNK + STREAM_CHUNK / 8);
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let progress = stuffer.feed(&buf[..n], &mut out);
        conn.write_all(&out).await?;
        out.clear();
        if progress == roost_pop3::Progress::Done {
            break;
        }
    }
    stuffer.finish(&mut out);
    conn.write_all(&out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(bytes: &[u8]) -> (tempfile::TempDir, std::fs::File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("msg");
        std::fs::write(&path, bytes).expect("write");
        let file = std::fs::File::open(&path).expect("open");
        (dir, file)
    }

    #[test]
    fn a_small_retr_becomes_one_write_with_what_streaming_would_send() {
        let (_d, file) = file_with(b"Subject: x\n\n.dot\nend");
        let outputs = vec![
            Output::Write(b"* early\r\n".to_vec()),
            Output::Stream {
                file,
                stuffer: roost_pop3::DotStuffer::retr(),
                header: b"+OK 20 octets\r\n".to_vec(),
            },
        ];
        let merged = coalesce(outputs).expect("coalesce");
        assert_eq!(merged.len(), 1);
        let Some(Output::Write(bytes)) = merged.first() else {
            panic!("not a write");
        };
        assert_eq!(
            String::from_utf8_lossy(bytes),
            "* early\r\n+OK 20 octets\r\nSubject: x\r\n\r\n..dot\r\nend\r\n.\r\n"
        );
    }

    #[test]
    fn a_message_over_the_inline_limit_is_still_streamed() {
        let big = vec![b'a'; INLINE_REPLY_MAX as usize + 1];
        let (_d, file) = file_with(&big);
        let outputs = vec![Output::Stream {
            file,
            stuffer: roost_pop3::DotStuffer::retr(),
            header: b"+OK\r\n".to_vec(),
        }];
        let merged = coalesce(outputs).expect("coalesce");
        assert!(matches!(merged.as_slice(), [Output::Stream { .. }]));
    }
}
