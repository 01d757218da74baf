//! The tokio driver for IMAP: socket, TLS, timeouts, IDLE wake-ups and shutdown around the
//! sans-IO [`ImapSession`]. Session calls touch storage, so they run on the blocking pool.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use roost_config::Config;
use roost_imap::command::ParserLimits;
use roost_imap::framing::FramingLimits;
use roost_imap::session::{
    BodyFile, BodyStream, ImapContext, ImapSession, ImapSettings, LoginGate, Output,
};
use tokio::io::AsyncReadExt as _;

use crate::conn::{Connection, LineClock};
use crate::login_record::LoginRecorder;
use crate::server::SessionContext;

/// The IMAP settings of a configuration.
pub fn settings(config: &Config) -> ImapSettings {
    let i = &config.imap;
    let defaults = ImapSettings::default();
    ImapSettings {
        framing: FramingLimits {
            max_line_len: i.max_line_length,
            max_command_len: defaults.framing.max_command_len.max(i.max_line_length),
            ..defaults.framing
        },
        parser: ParserLimits {
            max_depth: i.max_nesting_depth,
            max_items: i.max_set_items,
        },
        max_append_size: config.limits.max_message_size,
        stream_body_from: defaults.stream_body_from,
        max_connection_memory: config.limits.max_connection_memory,
        require_tls: config.auth.require_tls,
        protocol_denied_message: config.auth.protocol_denied_message.clone(),
        metadata_max_size: i.metadata_max_size,
        metadata_max_entries: i.metadata_max_entries,
        notify_max_mailboxes: i.notify_max_mailboxes,
        max_search_contexts: i.max_search_contexts,
        inprogress_after: Duration::from_millis(i.inprogress_after_ms),
        inprogress_interval: Duration::from_millis(i.inprogress_interval_ms),
    }
}

/// Waits for a command running on the blocking pool, writing its INPROGRESS lines to the
/// client meanwhile (the session cannot: its outputs leave when the command ends).
async fn with_progress<T>(
    conn: &mut Connection,
    mut task: tokio::task::JoinHandle<T>,
    progress: &mut tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) -> io::Result<T> {
    loop {
        tokio::select! {
            r = &mut task => {
                // Lines sent before the command ended go out before its answer.
                while let Ok(line) = progress.try_recv() {
                    conn.write_all(&line).await?;
                }
                return r.map_err(io::Error::other);
            }
            Some(line) = progress.recv() => {
                conn.write_all(&line).await?;
                conn.flush().await?;
            }
        }
    }
}

/// Resolves when any of the channels changed (NOTIFY's watched mailboxes).
async fn any_changed(rxs: &mut [tokio::sync::watch::Receiver<u64>]) {
    use std::future::Future as _;
    let mut futs: Vec<_> = rxs.iter_mut().map(|r| Box::pin(r.changed())).collect();
    std::future::poll_fn(|cx| {
        // Senders live as long as the store and the mailboxes the session holds, so a
        // ready future is a real change.
        if futs.iter_mut().any(|f| f.as_mut().poll(cx).is_ready()) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

enum Wake {
    Bytes(Vec<u8>),
    Changed,
    Notify,
    ContextTime,
    Keepalive,
    Timeout,
    Shutdown,
}

/// Serve one IMAP connection until LOGOUT, disconnect, idle timeout or shutdown.
pub async fn serve(mut conn: Connection, mut ctx: SessionContext) -> io::Result<()> {
    let config = Arc::clone(&ctx.config);
    let policy = config.auth.cleartext;
    let loopback = conn.is_loopback();
    let ip = conn.peer_addr().ip();
    let gate: LoginGate = ctx.login_gate(ip);
    let mut logins = LoginRecorder::new(&ctx.logins, "imap", ip);
    let mut session = Some(ImapSession::new(ImapContext {
        is_tls: conn.is_tls(),
        starttls_available: !conn.is_tls(),
        cleartext_allowed: policy.allows(conn.is_tls(), loopback),
        store: Arc::clone(&ctx.store),
        auth: Arc::clone(&ctx.users),
        settings: Arc::new(settings(&config)),
        peer: conn.peer_addr().to_string(),
        login_gate: Some(gate),
    }));
    // Progress lines are rare (one per `imap.inprogress_interval_ms`), so unbounded is fine.
    let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    if let Some(s) = session.as_mut() {
        s.set_progress_sink(Arc::new(move |line| {
            let _ = progress_tx.send(line);
        }));
    }
    let login_timeout = Duration::from_secs(config.imap_login_timeout_secs());
    let line_deadline = Duration::from_secs(config.limits.line_deadline_secs);
    let mut clock = LineClock::default();
    let idle_timeout = Duration::from_secs(config.imap.idle_timeout_secs);
    // RFC 2177 asks clients to re-IDLE every 29 minutes; NAT gateways forget quiet
    // connections much sooner, so IDLE sends `* OK Still here` this often.
    let keepalive = Duration::from_secs(config.imap.idle_keepalive_secs);
    conn.set_rawlog(&config, crate::rawlog::RawProto::Imap);
    let greeting = session.as_ref().map(|s| s.greeting()).unwrap_or_default();
    conn.write_all(&greeting).await?;
    conn.flush().await?;
    let mut watch = None;
    // Only client input restarts the inactivity timer: keepalives and IDLE updates do not,
    // so a client that idles forever is still logged out.
    let mut last_input = tokio::time::Instant::now();
    // From connect: a client that keeps talking without logging in is cut all the same.
    let login_deadline = last_input + login_timeout;
    loop {
        let Some(s) = session.as_mut() else {
            return Ok(());
        };
        if s.is_idling() {
            if let Some(w) = s.take_idle_watch() {
                watch = Some(w);
            }
        } else {
            watch = None;
        }
        let authenticated = s.is_authenticated();
        let mut until = if authenticated {
            last_input + idle_timeout
        } else {
            login_deadline
        };
        let mut line_due = false;
        if let Some(started) = clock.started() {
            let due = tokio::time::Instant::from_std(started + line_deadline);
            if due < until {
                until = due;
                line_due = true;
            }
        }
        let idling = s.is_idling();
        let mut notify_rx = s.notify_watches();
        // A search context with OLDER/YOUNGER: woken when a message crosses its boundary.
        let context_due = s.context_deadline().map(|t| {
            t.duration_since(std::time::SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
        let wake = tokio::select! {
            _ = ctx.shutdown.wait() => Wake::Shutdown,
            r = tokio::time::timeout_at(until, conn.read_some()) => match r {
                Err(_) => Wake::Timeout,
                Ok(bytes) => Wake::Bytes(bytes?),
            },
            Ok(()) = async { match watch.as_mut() {
                Some(w) => w.changed().await,
                None => std::future::pending().await,
            } } => Wake::Changed,
            () = any_changed(&mut notify_rx), if !notify_rx.is_empty() => Wake::Notify,
            _ = tokio::time::sleep(keepalive), if idling => Wake::Keepalive,
            _ = tokio::time::sleep(context_due.unwrap_or(Duration::ZERO)), if context_due.is_some() => Wake::ContextTime,
        };
        let outputs = match wake {
            Wake::Shutdown if ctx.shutdown.kicked() => {
                tracing::info!("kicked by the admin");
                // Dovecot's words for a kicked session, with the code clients act on.
                return conn
                    .goodbye(b"* BYE [UNAVAILABLE] Server shutting down.\r\n")
                    .await;
            }
            Wake::Shutdown => {
                let bye = s.bye("Server shutting down");
                return conn.goodbye(&bye).await;
            }
            Wake::Timeout => {
                // The login deadline keeps the idle timeout's words, which clients and
                // tests already know.
                let why = if line_due {
                    "Command line too slow"
                } else {
                    "Autologout; idle for too long"
                };
                let reason = match (line_due, authenticated) {
                    (true, _) => "command line too slow",
                    (false, true) => "idle timeout",
                    (false, false) => "login timeout",
                };
                tracing::info!(reason, "disconnecting");
                let bye = s.bye(why);
                return conn.goodbye(&bye).await;
            }
            Wake::Keepalive => vec![Output::Write(s.keepalive())],
            Wake::Bytes(bytes) if bytes.is_empty() => return Ok(()),
            Wake::Bytes(bytes) => {
                last_input = tokio::time::Instant::now();
                clock.feed(&bytes, last_input.into_std());
                let mut moved = session.take();
                // The blocking pool does not inherit the span; without it the session's
                // log lines (logins above all) would lose the protocol and session id.
                let span = tracing::Span::current();
                let task = tokio::task::spawn_blocking(move || {
                    let _in = span.enter();
                    let outputs = moved.as_mut().map(|s| s.feed(&bytes)).unwrap_or_default();
                    (moved, outputs)
                });
                let (back, outputs) = with_progress(&mut conn, task, &mut progress_rx).await?;
                session = back;
                if let Some(s) = session.as_mut() {
                    record(&ctx, s, authenticated);
                }
                outputs
            }
            Wake::Notify => {
                let mut moved = session.take();
                let span = tracing::Span::current();
                let (back, outputs) = tokio::task::spawn_blocking(move || {
                    let _in = span.enter();
                    let outputs = moved
                        .as_mut()
                        .map(|s| s.notify_update())
                        .unwrap_or_default();
                    (moved, outputs)
                })
                .await
                .map_err(io::Error::other)?;
                session = back;
                outputs
            }
            Wake::ContextTime => {
                // The search may read message files: on the blocking pool.
                let mut moved = session.take();
                let span = tracing::Span::current();
                let (back, outputs) = tokio::task::spawn_blocking(move || {
                    let _in = span.enter();
                    let outputs = moved.as_mut().map(|s| s.context_tick()).unwrap_or_default();
                    (moved, outputs)
                })
                .await
                .map_err(io::Error::other)?;
                session = back;
                outputs
            }
            // Answered on the runtime from the published diff when possible: a delivery
            // wakes every IDLE session of the mailbox at once, and a blocking-pool round
            // trip with a disk check each made the last of 10,000 wait half a second.
            Wake::Changed => {
                let mut quick = s.try_idle_update();
                if quick.is_none() {
                    // The publisher wakes everyone while it still holds the mailbox
                    // lock; by this task's next turn it has usually let go.
                    tokio::task::yield_now().await;
                    quick = s.try_idle_update();
                }
                match quick {
                    Some(outputs) => outputs,
                    None => {
                        let mut moved = session.take();
                        let span = tracing::Span::current();
                        let (back, outputs) = tokio::task::spawn_blocking(move || {
                            let _in = span.enter();
                            let outputs =
                                moved.as_mut().map(|s| s.idle_update()).unwrap_or_default();
                            (moved, outputs)
                        })
                        .await
                        .map_err(io::Error::other)?;
                        session = back;
                        outputs
                    }
                }
            }
        };
        conn.rawlog_user(session.as_ref().and_then(|s| s.user_name()));
        let mut banned = false;
        for output in outputs {
            match output {
                Output::Write(bytes) => conn.write_all(&bytes).await?,
                Output::AuthFailed(user) => {
                    conn.flush().await?;
                    let mech = session.as_ref().and_then(|s| s.auth_mechanism());
                    ctx.metrics
                        .login(crate::server::Proto::Imap, mech.unwrap_or("other"), false);
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
                    // What was pipelined before the handshake is gone, and so is its clock.
                    clock = LineClock::default();
                    if let Some(s) = session.as_mut() {
                        s.tls_started(policy.allows(true, loopback));
                    }
                }
                Output::StartCompress { pipelined } => {
                    // The OK goes out uncompressed; everything after it is DEFLATE.
                    conn.flush().await?;
                    conn.start_compress(pipelined);
                    tracing::info!("COMPRESS DEFLATE started");
                }
                Output::Stream(body) => stream_body(&mut conn, body).await?,
                Output::Close => {
                    conn.flush().await?;
                    let _ = conn.shutdown().await;
                    return Ok(());
                }
                Output::LoggedIn { user, mechanism } => {
                    let id = session.as_ref().and_then(|s| s.client_id());
                    logins.logged_in(&user, &mechanism, conn.is_tls(), id);
                }
            }
        }
        logins.check_id(session.as_ref().and_then(|s| s.client_id()));
        conn.flush().await?;
        if banned {
            // The NO is already out; nothing this address sends would be believed now.
            return conn
                .goodbye(crate::server::Proto::Imap.banned_reply())
                .await;
        }
    }
}

/// After a feed: command times, a new login, and the client's ID name for `roost who`.
fn record(ctx: &SessionContext, s: &mut ImapSession, was_authenticated: bool) {
    let proto = crate::server::Proto::Imap;
    for c in s.take_command_stats() {
        ctx.metrics.command(proto, c.name, c.elapsed);
    }
    if !was_authenticated && s.is_authenticated() {
        ctx.metrics
            .login(proto, s.auth_mechanism().unwrap_or("other"), true);
    }
    if let (Some(this), Some(id)) = (&ctx.this, s.client_id()) {
        this.set_client_from_id(id);
    }
}

/// Read size when streaming a message body: few syscalls, bounded memory.
const STREAM_CHUNK: usize = 64 * 1024;

/// Copies a message file into the literal the session announced, chunk by chunk.
async fn stream_body(conn: &mut Connection, body: BodyFile) -> io::Result<()> {
    let mut file = tokio::fs::File::from_std(body.file);
    let mut conv = BodyStream::new(body.len);
    let mut buf = vec![0u8; STREAM_CHUNK];
    let mut out = Vec::with_capacity(STREAM_CHUNK + STREAM_CHUNK / 8);
    while conv.left() > 0 {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        conv.feed(&buf[..n], &mut out);
        conn.write_all(&out).await?;
        out.clear();
    }
    if conv.finish(&mut out) {
        // The file changed under its recorded size; the padding keeps the framing.
        tracing::warn!("message file shorter than its recorded size; literal padded");
    }
    conn.write_all(&out).await
}
