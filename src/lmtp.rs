//! The LMTP driver: lines from the connection into [`LmtpSession`], replies back.

use std::io;
use std::time::Duration;

use roost_lmtp::{LmtpContext, LmtpSession};
use tokio::runtime::{Handle, RuntimeFlavor};

use crate::conn::{Connection, LineRead};
use crate::server::SessionContext;

/// An MTA that stops talking mid-transaction is dropped after this long (RFC 5321
/// 4.5.3.2.7 asks servers to wait at least 5 minutes).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Run storage work from async code: on the multi-thread runtime the worker steps aside
/// for it; a current-thread runtime (tests) just runs it.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Serve one LMTP connection until QUIT, EOF, idle timeout or shutdown.
pub async fn serve(mut conn: Connection, ctx: SessionContext) -> io::Result<()> {
    let mut session = LmtpSession::new(LmtpContext {
        hostname: crate::pop3::hostname(),
        store: ctx.store.clone(),
        users: ctx.users.clone(),
        max_message_size: ctx.config.limits.max_message_size,
        max_recipients: ctx.config.limits.lmtp_max_recipients,
    });
    conn.write_all(&session.greeting()).await?;
    conn.flush().await?;
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let read = tokio::select! {
            r = tokio::time::timeout(IDLE_TIMEOUT, conn.read_line(session.max_line())) => r,
            _ = shutdown.wait() => {
                // Nothing unanswered was promised: a message not yet acknowledged is dropped
                // and the MTA retries it.
                return conn.goodbye(b"421 4.3.2 Server shutting down\r\n").await;
            }
        };
        let reply = match read {
            Err(_) => return conn.goodbye(b"421 4.4.2 Idle too long, closing\r\n").await,
            Ok(Err(e)) => return Err(e),
            Ok(Ok(LineRead::Eof)) => {
                blocking(|| session.disconnected());
                return Ok(());
            }
            Ok(Ok(LineRead::TooLong)) => session.line_too_long(),
            Ok(Ok(LineRead::Line(line))) => {
                let end_of_data = session.in_data() && line == b".";
                let reply = blocking(|| session.handle_line(&line));
                if end_of_data {
                    // One reply line per recipient (RFC 2033 4.2).
                    for l in reply.bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                        ctx.metrics.delivery(l.first() == Some(&b'2'));
                    }
                }
                reply
            }
        };
        if !reply.bytes.is_empty() {
            conn.write_all(&reply.bytes).await?;
            conn.flush().await?;
        }
        if reply.close {
            return Ok(());
        }
    }
}
