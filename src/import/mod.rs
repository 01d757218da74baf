//! `roost import`: bring a user's mail over from an old POP3 or IMAP server, or an mbox
//! file, so that clients notice nothing.
//!
//! - POP3: every message goes into INBOX with the old UIDL as its legacy UIDL, so a client
//!   that leaves mail on the server sees the same UIDLs and downloads nothing twice.
//! - IMAP: every mailbox with its hierarchy, subscriptions, flags, keywords and INTERNALDATE;
//!   into a mailbox without messages the old UIDVALIDITY and UIDs are kept, so IMAP clients
//!   keep their caches; into one with messages they are appended with new UIDs.
//! - mbox: mboxrd/mboxo files into one mailbox.
//!
//! Every copied message is recorded in a state file (see [`state`]), so a second or an
//! interrupted run copies only what is still missing.

pub mod imap;
pub mod mbox;
pub mod net;
pub mod pop3;
mod privdrop;
pub mod progress;
pub mod state;
pub mod url;

use std::io::{self, BufRead, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use roost_config::Config;
use roost_storage::{MailboxName, NewMessage, StorageError, UserStore};

use crate::cli::ConfigArg;
use crate::exit::{Exit, Fail};
use crate::logging::Secret;
use crate::wiring;

pub use progress::{Progress, Summary};

/// Environment variable with the old server's password (for scripts).
pub const PASSWORD_ENV: &str = "ROOST_IMPORT_PASSWORD";

/// `roost import ...` sources.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Copy a POP3 maildrop into INBOX, keeping each old UIDL.
    Pop3(RemoteArgs),
    /// Copy every mailbox over IMAP, keeping UIDVALIDITY and UIDs where possible.
    Imap(RemoteArgs),
    /// Copy the messages of an mbox file (mboxrd or mboxo) into a mailbox.
    Mbox(MboxArgs),
}

/// Options of `roost import pop3|imap`.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// The old server: pop3://host[:110], pop3s://host[:995], imap://host[:143] or
    /// imaps://host[:993].
    pub url: String,
    /// The Roost user receiving the mail.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Login name on the old server (default: the same as --user).
    #[arg(long, value_name = "NAME")]
    pub remote_user: Option<String>,
    /// File whose first line is the old server's password (else $ROOST_IMPORT_PASSWORD,
    /// else a prompt on the terminal).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Trust only the CA certificates (or self-signed certificate) in this PEM file.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca_file: Option<PathBuf>,
    /// Do not check the server's certificate (the connection is still encrypted).
    #[arg(long)]
    pub insecure: bool,
    /// Log in without TLS when a plain-port server offers no STARTTLS/STLS.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Configuration file.
    #[command(flatten)]
    pub config: ConfigArg,
    /// The password, when it was read before dropping root.
    #[arg(skip)]
    pub password_read: Option<Secret<String>>,
}

/// Options of `roost import mbox`.
#[derive(Debug, Clone, Args)]
pub struct MboxArgs {
    /// The mbox file.
    pub file: PathBuf,
    /// The Roost user receiving the mail.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Target mailbox (created if missing; default INBOX).
    #[arg(long, value_name = "NAME", default_value = "INBOX")]
    pub mailbox: String,
    /// Configuration file.
    #[command(flatten)]
    pub config: ConfigArg,
    /// The file, when it was opened before dropping root.
    #[arg(skip)]
    pub opened: Option<std::sync::Arc<std::fs::File>>,
}

/// Why an import stopped as a whole (failures of single messages are counted instead).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(String),
    /// The Roost user is not in the users file.
    #[error("unknown user {0:?}: add it with `roost user add` first")]
    NoUser(String),
    /// The old server cannot be reached or went away.
    #[error("old server unreachable: {0}")]
    Unreachable(String),
    /// TLS could not be set up or the certificate was refused.
    #[error("{0}")]
    Tls(String),
    /// The old server refused the login.
    #[error("login refused by the old server: {0}")]
    Auth(String),
    /// The old server said something we cannot work with.
    #[error("old server: {0}")]
    Protocol(String),
    /// No password could be obtained.
    #[error("{0}")]
    Password(String),
    /// The input file cannot be read.
    #[error("{0}")]
    Input(String),
    /// The state file cannot be read or written.
    #[error("import state: {0}")]
    State(String),
    /// Roost's storage failed.
    #[error("{0}")]
    Storage(#[from] StorageError),
}

impl From<roost_storage::maildir::MaildirError> for ImportError {
    fn from(e: roost_storage::maildir::MaildirError) -> Self {
        ImportError::Storage(e.into())
    }
}

impl ImportError {
    /// The exit status: 77 for a refused login, 75 for what may work on a later run.
    pub fn exit(&self) -> Exit {
        match self {
            ImportError::Usage(_) => Exit::Usage,
            ImportError::Config(_) => Exit::Config,
            ImportError::NoUser(_) => Exit::NoUser,
            ImportError::Auth(_) => Exit::NoPerm,
            ImportError::Unreachable(_) | ImportError::Protocol(_) | ImportError::Tls(_) => {
                Exit::TempFail
            }
            ImportError::Password(_) => Exit::DataErr,
            ImportError::Input(_) => Exit::IoErr,
            ImportError::State(_) => Exit::IoErr,
            ImportError::Storage(e) if e.is_temporary() => Exit::TempFail,
            ImportError::Storage(_) => Exit::IoErr,
        }
    }
}

/// Run `roost import ...`: the summary goes to stdout, progress and failures to stderr.
pub fn run_cli(cmd: ImportCommand) -> Result<(), Fail> {
    let config_arg = match &cmd {
        ImportCommand::Pop3(a) | ImportCommand::Imap(a) => &a.config,
        ImportCommand::Mbox(a) => &a.config,
    };
    let config = Config::load_default_or(config_arg.config.as_deref())
        .map_err(|e| Fail::new(Exit::Config, e.to_string()))?;
    crate::logging::init(&config.log).map_err(|e| Fail::new(Exit::Config, e.to_string()))?;
    let (config, cmd) =
        privdrop::prepare(&config, cmd).map_err(|e| Fail::new(e.exit(), e.to_string()))?;
    let mut progress = Progress::new(progress::stderr_is_tty());
    let result = run(&config, cmd, &mut progress);
    let summary = progress.finish();
    println!("{summary}");
    match result {
        Err(e) => Err(Fail::new(e.exit(), e.to_string())),
        Ok(()) if summary.failed > 0 => Err(Fail::new(
            Exit::TempFail,
            format!(
                "{} message(s) could not be copied (see above); run the same command again \
                 to retry them",
                summary.failed
            ),
        )),
        Ok(()) => Ok(()),
    }
}

/// Run one import with `config`, reporting to `progress`.
pub fn run(
    config: &Config,
    cmd: ImportCommand,
    progress: &mut Progress,
) -> Result<(), ImportError> {
    let user = match &cmd {
        ImportCommand::Pop3(a) | ImportCommand::Imap(a) => a.user.clone(),
        ImportCommand::Mbox(a) => a.user.clone(),
    };
    crate::cli::check_user_name(&user).map_err(|f| ImportError::Usage(f.message))?;
    let users = wiring::authenticator(config).map_err(ImportError::Config)?;
    if users.lookup(&user).is_none() {
        return Err(ImportError::NoUser(user));
    }
    let store = wiring::store(config);
    let mailboxes = store.user(&user)?;
    mailboxes.ensure_special_use()?;
    let mut state = state::State::open(&config.data_dir.join("import"), &user)?;
    let target = Target {
        mailboxes: &mailboxes,
        max_size: config.limits.max_message_size,
        special_use: config
            .mailboxes
            .special_use
            .iter()
            .map(|s| (s.special_use.attribute().to_string(), s.name.clone()))
            .collect(),
    };
    let result = match cmd {
        ImportCommand::Pop3(a) => remote(a, url::Protocol::Pop3, |src| {
            let rt = runtime()?;
            rt.block_on(pop3::import(src, &target, &mut state, progress))
        }),
        ImportCommand::Imap(a) => remote(a, url::Protocol::Imap, |src| {
            let rt = runtime()?;
            rt.block_on(imap::import(src, &target, &mut state, progress))
        }),
        ImportCommand::Mbox(a) => mbox::import(
            &a.file,
            a.opened.as_deref(),
            &a.mailbox,
            &target,
            &mut state,
            progress,
        ),
    };
    state.sync()?;
    store.flush_all(true);
    result
}

fn runtime() -> Result<tokio::runtime::Runtime, ImportError> {
    // One connection at a time: a current-thread runtime is all it takes, and the blocking
    // storage calls in between stall nothing else.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ImportError::Config(format!("cannot start the async runtime: {e}")))
}

/// What a remote import needs besides the target: where, who, and how to connect.
pub struct Source {
    /// Parsed URL.
    pub url: url::ServerUrl,
    /// Login name.
    pub login: String,
    /// Password (never logged).
    pub password: Secret<String>,
    /// TLS client settings.
    pub tls: net::TlsClient,
    /// Log in without TLS when no STARTTLS is offered.
    pub allow_plaintext: bool,
}

impl Source {
    /// Key under which the state file remembers what came from this source.
    pub fn state_key(&self) -> String {
        format!(
            "{}://{}@{}:{}",
            self.url.protocol.name(),
            self.login,
            self.url.host,
            self.url.port
        )
    }
}

fn remote(
    a: RemoteArgs,
    expected: url::Protocol,
    go: impl FnOnce(&Source) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let url = url::ServerUrl::parse(&a.url).map_err(ImportError::Usage)?;
    if url.protocol != expected {
        return Err(ImportError::Usage(format!(
            "{} is not a {} URL",
            a.url,
            expected.name()
        )));
    }
    let trust = match (&a.ca_file, a.insecure) {
        (Some(f), _) => net::Trust::CaFile(f.clone()),
        (None, true) => net::Trust::Insecure,
        (None, false) => net::Trust::System,
    };
    let login = a.remote_user.clone().unwrap_or_else(|| a.user.clone());
    let password = match a.password_read.clone() {
        Some(p) => p,
        None => password(a.password_file.as_deref(), &login, &url.host)?,
    };
    let source = Source {
        tls: net::TlsClient::new(&trust)?,
        url,
        login,
        password,
        allow_plaintext: a.allow_plaintext,
    };
    go(&source)
}

/// The old server's password: `--password-file`, `$ROOST_IMPORT_PASSWORD`, or a prompt.
fn password(
    file: Option<&std::path::Path>,
    login: &str,
    host: &str,
) -> Result<Secret<String>, ImportError> {
    if let Some(f) = file {
        let fh = std::fs::File::open(f)
            .map_err(|e| ImportError::Password(format!("cannot read {}: {e}", f.display())))?;
        return crate::password::read_line_from(&mut io::BufReader::new(fh))
            .map_err(|e| ImportError::Password(format!("{}: {e}", f.display())));
    }
    if let Ok(p) = std::env::var(PASSWORD_ENV) {
        if p.is_empty() {
            return Err(ImportError::Password(format!("{PASSWORD_ENV} is empty")));
        }
        return Ok(Secret::new(p));
    }
    if !crate::password::stdin_is_tty() {
        return Err(ImportError::Password(format!(
            "no password: pass --password-file FILE or set {PASSWORD_ENV}"
        )));
    }
    let mut err = io::stderr();
    let _ = write!(err, "Password for {login} at {host}: ");
    let _ = err.flush();
    read_no_echo()
}

/// One line from the terminal with echo off.
fn read_no_echo() -> Result<Secret<String>, ImportError> {
    let fail = |e: io::Error| ImportError::Password(format!("cannot read the password: {e}"));
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut term) } != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    let mut quiet = term;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: applying a modified copy of valid settings to the same descriptor.
    unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = io::stdin().lock().read_line(&mut line);
    // SAFETY: restoring the settings read above.
    unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &term) };
    read.map_err(fail)?;
    let line = line.trim_end_matches(['\r', '\n']).to_string();
    if line.is_empty() {
        return Err(ImportError::Password("the password is empty".into()));
    }
    Ok(Secret::new(line))
}

/// Where imported mail goes: one user's mailboxes and the limits that apply.
pub struct Target<'a> {
    /// The user's mailbox tree.
    pub mailboxes: &'a UserStore,
    /// Largest message accepted (`limits.max_message_size`).
    pub max_size: u64,
    /// (RFC 6154 attribute, configured local mailbox name).
    pub special_use: Vec<(String, String)>,
}

impl Target<'_> {
    /// Open `name`, creating it (and its parents) when missing.
    pub fn open_or_create(
        &self,
        name: &MailboxName,
    ) -> Result<std::sync::Arc<roost_storage::Mailbox>, ImportError> {
        if !self.mailboxes.exists(name) {
            match self.mailboxes.create(name) {
                Ok(()) | Err(StorageError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.mailboxes.open(name)?)
    }

    /// The local mailbox configured for a special-use attribute, if any.
    pub fn special_mailbox(&self, attribute: &str) -> Option<&str> {
        self.special_use
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(attribute))
            .map(|(_, n)| n.as_str())
    }
}

/// Write `body` into `mb`'s `tmp/` as a message with these flags, keywords and date.
pub fn stage(
    mb: &roost_storage::Mailbox,
    body: &[u8],
    flags: roost_storage::Flags,
    keywords: Vec<String>,
    internal_date: Option<i64>,
    max_size: u64,
) -> Result<NewMessage, StorageError> {
    if body.len() as u64 > max_size {
        return Err(StorageError::TooBig { limit: max_size });
    }
    let mut w = mb.create_tmp(max_size)?;
    w.write_all(body)
        .map_err(|e| StorageError::io("writing message", e))?;
    Ok(NewMessage {
        tmp: w.finish(internal_date)?,
        flags,
        keywords,
    })
}

/// Turn a network message (CRLF line ends) into how Maildir stores it (LF), leaving any
/// bare CR inside a line as it is.
pub fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' && data.get(i + 1) == Some(&b'\n') {
            out.push(b'\n');
            i += 2;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_but_bare_cr_stays() {
        let table: &[(&[u8], &[u8])] = &[
            (b"a\r\nb\r\n", b"a\nb\n"),
            (b"bare\rcr\r\n", b"bare\rcr\n"),
            (b"\r\r\n", b"\r\n"),
            (b"lf\nonly", b"lf\nonly"),
            (b"end\r", b"end\r"),
            (b"8bit \xe9\r\n", b"8bit \xe9\n"),
        ];
        for (input, want) in table {
            assert_eq!(&crlf_to_lf(input), want, "{input:?}");
        }
    }

    #[test]
    fn errors_map_to_exit_statuses() {
        let table = [
            (ImportError::Auth("x".into()), Exit::NoPerm),
            (ImportError::Unreachable("x".into()), Exit::TempFail),
            (ImportError::Tls("x".into()), Exit::TempFail),
            (ImportError::Usage("x".into()), Exit::Usage),
            (ImportError::NoUser("x".into()), Exit::NoUser),
            (ImportError::Storage(StorageError::NoSpace), Exit::TempFail),
        ];
        for (e, want) in table {
            assert_eq!(e.exit(), want, "{e}");
        }
        assert_eq!(Exit::NoPerm.code(), 77);
        assert_eq!(Exit::TempFail.code(), 75);
    }
}
