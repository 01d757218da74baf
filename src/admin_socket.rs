//! The admin socket: a Unix socket of the running server (mode 0600, owned by the serving
//! user) speaking JSON lines, one request and one answer per line:
//!
//! ```text
//! > {"cmd":"who"}
//! < {"ok":true,"result":[{"user":"alice","protocol":"imap",...}]}
//! > {"cmd":"kick","user":"alice"}
//! < {"ok":true,"result":{"kicked":1}}
//! > {"cmd":"expunge","user":"alice","mailbox":"INBOX","before":1700000000}
//! < {"ok":false,"error":"unknown user \"alice\"...","exit":67}
//! ```
//!
//! Also here: starting the metrics endpoints, which share the server's lifetime.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::admin::AdminError;
use crate::server::SessionContext;

/// Longest request line; requests are a few names.
const MAX_REQUEST: usize = 64 * 1024;
/// How long the CLI waits for an answer (a reindex of a huge mailbox takes a while).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

/// One admin request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Logged-in sessions.
    Who,
    /// Close every session of a user.
    Kick {
        /// The user.
        user: String,
    },
    /// A user's mailboxes with counts.
    MailboxList {
        /// The user.
        user: String,
    },
    /// One mailbox's counters.
    MailboxStatus {
        /// The user.
        user: String,
        /// The mailbox (INBOX when null).
        mailbox: Option<String>,
    },
    /// Rebuild index and cache (every mailbox when `mailbox` is null).
    MailboxReindex {
        /// The user.
        user: String,
        /// The mailbox.
        mailbox: Option<String>,
    },
    /// Expunge messages with INTERNALDATE before `before`.
    Expunge {
        /// The user.
        user: String,
        /// The mailbox.
        mailbox: String,
        /// Unix seconds.
        before: i64,
    },
}

/// Run `request` against a store and users file (the server's, or the CLI's own).
pub fn execute(
    request: &Request,
    store: &Arc<roost_storage::Store>,
    users: &roost_storage::auth::Authenticator,
) -> Result<Value, AdminError> {
    use crate::ops;
    let v = match request {
        Request::Who | Request::Kick { .. } => Value::Null,
        Request::MailboxList { user } => json!(ops::list(store, users, user)?),
        Request::MailboxStatus { user, mailbox } => {
            json!(ops::status(store, users, user, mailbox.as_deref())?)
        }
        Request::MailboxReindex { user, mailbox } => {
            json!(ops::reindex(store, users, user, mailbox.as_deref())?)
        }
        Request::Expunge {
            user,
            mailbox,
            before,
        } => json!(ops::expunge_before(store, users, user, mailbox, *before)?),
    };
    Ok(v)
}

/// The background tasks of the admin socket and the metrics endpoints.
pub struct OpsTasks {
    tasks: Vec<JoinHandle<()>>,
    socket: Option<PathBuf>,
}

impl OpsTasks {
    /// Stop serving and remove the socket file.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
        if let Some(p) = self.socket {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Start the admin socket (binding it unless `admin` is already bound) and one metrics
/// server per listener.
pub fn start(
    ctx: &SessionContext,
    metrics: Vec<TcpListener>,
    admin: Option<io::Result<UnixListener>>,
) -> OpsTasks {
    let mut tasks = Vec::new();
    for listener in metrics {
        let scrape = crate::metrics::Scrape {
            metrics: Arc::clone(&ctx.metrics),
            sessions: ctx.sessions.clone(),
            guard: Arc::clone(&ctx.guard),
        };
        tasks.push(tokio::spawn(crate::metrics::serve(
            listener,
            scrape,
            ctx.shutdown.clone(),
        )));
    }
    let path = ctx.config.admin.socket.clone();
    let bound = admin.unwrap_or_else(|| bind(&path));
    let socket = match bound {
        Ok(listener) => {
            tasks.push(tokio::spawn(accept_loop(listener, ctx.clone())));
            Some(path)
        }
        Err(e) => {
            tracing::error!(
                socket = %path.display(), error = %e,
                "admin socket unavailable: roost who/kick/mailbox/expunge cannot reach this server"
            );
            None
        }
    };
    OpsTasks { tasks, socket }
}

/// Create the socket at `path` with mode 0600; a stale socket left by a killed server is
/// replaced, one a live server answers on is an error.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another server answers on it; set `admin.socket` to a different path",
            ));
        }
        // Left behind by a server that was killed.
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn accept_loop(listener: UnixListener, ctx: SessionContext) {
    let mut shutdown = ctx.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve_client(stream, ctx.clone()));
            }
            Err(e) => {
                tracing::error!(error = %e, "admin socket accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_client(stream: UnixStream, ctx: SessionContext) {
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
    loop {
        let mut line = String::new();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with('\n') {
            let _ = write
                .write_all(b"{\"ok\":false,\"error\":\"request line too long\",\"exit\":65}\n")
                .await;
            return;
        }
        lines.set_limit(MAX_REQUEST as u64);
        let answer = answer(&line, &ctx).await;
        let mut bytes = answer.to_string().into_bytes();
        bytes.push(b'\n');
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

async fn answer(line: &str, ctx: &SessionContext) -> Value {
    let request: Request = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => {
            return json!({"ok": false, "error": format!("bad request: {e}"), "exit": 64});
        }
    };
    tracing::info!(?request, "admin request");
    match &request {
        Request::Who => return json!({"ok": true, "result": ctx.sessions.who()}),
        Request::Kick { user } => {
            let kicked = ctx.sessions.kick(user);
            tracing::info!(user, kicked, "sessions kicked by the admin");
            return json!({"ok": true, "result": {"kicked": kicked}});
        }
        _ => {}
    }
    let store = Arc::clone(&ctx.store);
    let users = Arc::clone(&ctx.users);
    let result =
        tokio::task::spawn_blocking(move || execute(&request, &store, &users).map_err(fail)).await;
    match result {
        Ok(Ok(v)) => json!({"ok": true, "result": v}),
        Ok(Err(v)) => v,
        Err(e) => json!({"ok": false, "error": e.to_string(), "exit": 70}),
    }
}

fn fail(e: AdminError) -> Value {
    json!({"ok": false, "error": e.to_string(), "exit": e.exit() as i32})
}

/// Why the CLI could not get an answer from the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket exists but this user may not open it.
    #[error(
        "cannot open the admin socket {0}: permission denied; run this as the user the server runs as (or root)"
    )]
    Denied(PathBuf),
    /// Anything else.
    #[error("admin socket {path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

/// Send `request` to the running server. `Ok(None)`: no server is listening.
pub fn request(socket: &Path, request: &Request) -> Result<Option<Value>, ClientError> {
    let io_err = |source| ClientError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let stream = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(ClientError::Denied(socket.to_path_buf()));
        }
        Err(e) => return Err(io_err(e)),
    };
    stream
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(io_err)?;
    let mut line = serde_json::to_string(request).map_err(|e| io_err(io::Error::other(e)))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io_err)?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(io_err)?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(|e| io_err(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_wire_form() {
        let table = [
            (Request::Who, r#"{"cmd":"who"}"#),
            (
                Request::Kick { user: "a".into() },
                r#"{"cmd":"kick","user":"a"}"#,
            ),
            (
                Request::MailboxStatus {
                    user: "a".into(),
                    mailbox: None,
                },
                r#"{"cmd":"mailbox_status","user":"a","mailbox":null}"#,
            ),
            (
                Request::Expunge {
                    user: "a".into(),
                    mailbox: "Trash".into(),
                    before: 5,
                },
                r#"{"cmd":"expunge","user":"a","mailbox":"Trash","before":5}"#,
            ),
        ];
        for (req, wire) in table {
            assert_eq!(serde_json::to_string(&req).unwrap(), wire);
            assert_eq!(serde_json::from_str::<Request>(wire).unwrap(), req);
        }
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"rm -rf"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"kick","user":"a","x":1}"#).is_err());
    }
}
