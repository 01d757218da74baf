//! A minimal IMAP driver so the runtime can be exercised end to end.
//! It is replaced by `roost-imap`; keep it small and isolated.

use std::io;
use std::time::Duration;

use crate::conn::{Connection, LineRead};
use crate::server::SessionContext;

/// RFC 9051 section 5.4: at least 30 minutes of inactivity before autologout.
const IMAP_IDLE: Duration = Duration::from_secs(30 * 60);
/// Longest command line accepted; Dovecot's imap_max_line_length is 64 KiB.
const MAX_LINE: usize = 64 * 1024;

enum Event {
    Line(Vec<u8>),
    TooLong,
    Gone,
    Idle,
    Shutdown,
}

async fn next(
    conn: &mut Connection,
    ctx: &mut SessionContext,
    idle: Duration,
) -> io::Result<Event> {
    tokio::select! {
        _ = ctx.shutdown.wait() => Ok(Event::Shutdown),
        r = tokio::time::timeout(idle, conn.read_line(MAX_LINE)) => match r {
            Err(_) => Ok(Event::Idle),
            Ok(read) => Ok(match read? {
                LineRead::Line(l) => Event::Line(l),
                LineRead::TooLong => Event::TooLong,
                LineRead::Eof => Event::Gone,
            }),
        },
    }
}

async fn send(conn: &mut Connection, text: &str) -> io::Result<()> {
    conn.write_all(text.as_bytes()).await?;
    conn.flush().await
}

fn imap_capability(conn: &Connection) -> &'static str {
    if conn.is_tls() {
        "IMAP4rev1"
    } else {
        "IMAP4rev1 STARTTLS LOGINDISABLED"
    }
}

/// A placeholder IMAP session: CAPABILITY, NOOP, LOGOUT, STARTTLS; everything else BAD.
pub async fn imap(mut conn: Connection, mut ctx: SessionContext) -> io::Result<()> {
    let greeting = format!(
        "* OK [CAPABILITY {}] Roost ready.\r\n",
        imap_capability(&conn)
    );
    send(&mut conn, &greeting).await?;
    loop {
        let line = match next(&mut conn, &mut ctx, IMAP_IDLE).await? {
            Event::Line(l) => l,
            Event::TooLong => {
                send(&mut conn, "* BAD Command line too long\r\n").await?;
                continue;
            }
            Event::Gone => return Ok(()),
            Event::Idle => return send(&mut conn, "* BYE Autologout; idle for too long\r\n").await,
            Event::Shutdown => return send(&mut conn, "* BYE Server shutting down\r\n").await,
        };
        let text = String::from_utf8_lossy(&line);
        let mut words = text.split_ascii_whitespace();
        let (Some(tag), command) = (words.next(), words.next()) else {
            send(&mut conn, "* BAD Empty command line\r\n").await?;
            continue;
        };
        let command = command.unwrap_or("").to_ascii_uppercase();
        match command.as_str() {
            "CAPABILITY" => {
                let caps = imap_capability(&conn);
                send(
                    &mut conn,
                    &format!("* CAPABILITY {caps}\r\n{tag} OK CAPABILITY completed\r\n"),
                )
                .await?
            }
            "NOOP" => send(&mut conn, &format!("{tag} OK NOOP completed\r\n")).await?,
            "LOGOUT" => {
                let bye = format!("* BYE Logging out\r\n{tag} OK LOGOUT completed\r\n");
                return send(&mut conn, &bye).await;
            }
            "STARTTLS" if !conn.is_tls() => {
                send(
                    &mut conn,
                    &format!("{tag} OK Begin TLS negotiation now\r\n"),
                )
                .await?;
                conn.start_tls(&ctx.tls).await?;
            }
            "STARTTLS" => send(&mut conn, &format!("{tag} BAD TLS is already active\r\n")).await?,
            _ => send(&mut conn, &format!("{tag} BAD Unknown command\r\n")).await?,
        }
    }
}
