//! The command line: parsing (clap derive), dispatch, and exit statuses.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use roost_config::Config;

use crate::admin::{self, AdminError};
use crate::admin_cli::AdminCommand;
use crate::exit::{Exit, Fail};
use crate::logging::Secret;
use crate::password;
use crate::server::{self, BindError, Listeners};
use crate::tls::{self, TlsError};

/// Roost: an IMAP and POP3 server over Maildir.
#[derive(Debug, Parser)]
#[command(name = "roost", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `-c FILE` option shared by commands that read the configuration.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArg {
    /// Configuration file (default: ./roost.yaml if present, else built-in defaults).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// The file that will actually be read, if any.
    pub fn effective_path(&self) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            let local = PathBuf::from("roost.yaml");
            local.exists().then_some(local)
        })
    }

    /// The configuration this argument names (or the default one).
    pub fn load(&self) -> Result<Config, roost_config::ConfigError> {
        Config::load_default_or(self.config.as_deref())
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the IMAP and POP3 server until SIGTERM or SIGINT.
    Serve(ConfigArg),
    /// Validate the configuration and print the effective values.
    CheckConfig(ConfigArg),
    /// Manage users in the users file.
    User {
        /// The user action.
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Hash a password for the users file (like `doveadm pw`).
    Pw {
        /// Password scheme, e.g. SHA512-CRYPT, BLF-CRYPT, ARGON2ID.
        #[arg(short = 's', long = "scheme", default_value = admin::DEFAULT_SCHEME)]
        scheme: String,
        /// The password (visible in `ps`; prefer the prompt or stdin).
        #[arg(short = 'p', long = "password")]
        password: Option<String>,
    },
    /// Deliver one message from stdin into a user's mailbox (for an MTA).
    Deliver {
        /// Configuration file.
        #[command(flatten)]
        config: ConfigArg,
        /// The recipient user.
        #[arg(long, value_name = "NAME")]
        user: String,
        /// Target mailbox (default INBOX).
        #[arg(long, value_name = "NAME")]
        mailbox: Option<String>,
    },
    /// Look at and maintain a user's mailboxes (`roost mailbox list|status|view|reindex`).
    Mailbox {
        /// What to do.
        #[command(subcommand)]
        action: MailboxCommand,
    },
    /// See and lift bans of addresses with too many failed logins.
    Ban {
        /// What to do.
        #[command(subcommand)]
        action: BanCommand,
    },
    /// Open sessions of the running server: user, protocol, IP, since, TLS, client.
    Who(crate::admin_cli::OutputArgs),
    /// Close every session of USER on the running server.
    Kick {
        /// The user.
        user: String,
        /// Output and configuration.
        #[command(flatten)]
        out: crate::admin_cli::OutputArgs,
    },
    /// Expunge a mailbox's messages that arrived before a date.
    Expunge(crate::admin_cli::ExpungeArgs),
    /// Import a user's mail from an old POP3 or IMAP server, or from an mbox file.
    Import {
        /// Where the mail comes from.
        #[command(subcommand)]
        source: crate::import::ImportCommand,
    },
    /// Reports from the server's records (`roost report protocols`).
    Report {
        /// Which report.
        #[command(subcommand)]
        what: crate::report::ReportCommand,
    },
}

/// `roost mailbox ...`: look at a user's mailboxes.
#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Show a mailbox as IMAP and POP3 each see it right now: IMAP sequence number, UID,
    /// modseq, size and flags beside the POP3 number, UIDL and listed size.
    View {
        /// The user, as in the users file.
        user: String,
        /// The mailbox (default INBOX).
        mailbox: Option<String>,
        /// The configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Each mailbox of USER with its message and unseen counts.
    List(crate::admin_cli::MailboxArgs),
    /// One mailbox's counters (messages, unseen, recent, size, UIDNEXT, ...).
    Status(crate::admin_cli::MailboxArgs),
    /// Drop and rebuild Roost's index and cache (UIDs are kept).
    Reindex(crate::admin_cli::MailboxArgs),
}

/// `roost ban ...`: bans live in the running server; these read its state file and send it
/// requests (see `docs/security.md`).
#[derive(Debug, Subcommand)]
pub enum BanCommand {
    /// List banned addresses with the seconds left on each ban.
    List {
        /// Configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Lift the ban of IP, or every ban; the running server acts within a second.
    Clear {
        /// The address (all bans when left out).
        ip: Option<std::net::IpAddr>,
        /// Configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// `roost user ...` actions.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user (asks for the password).
    Add {
        /// User name (the login).
        name: String,
        /// Read the password as one line from stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
        /// Configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Change a user's password.
    Passwd {
        /// User name.
        name: String,
        /// Read the password as one line from stdin instead of the terminal.
        #[arg(long)]
        password_stdin: bool,
        /// Configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove a user (their mail stays on disk).
    Del {
        /// User name.
        name: String,
        /// Configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the users.
    List {
        /// Configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Parse `std::env::args`, run the command, report failures on stderr.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e).into(),
    };
    match execute(cli) {
        Ok(()) => Exit::Ok.into(),
        Err(fail) => {
            let _ = writeln!(io::stderr(), "roost: {}", fail.message);
            fail.exit.into()
        }
    }
}

/// Print a clap error (or help/version) and pick the status: 0 for help, EX_USAGE otherwise.
pub fn usage_error(e: &clap::Error) -> Exit {
    let _ = e.print();
    if e.use_stderr() {
        Exit::Usage
    } else {
        Exit::Ok
    }
}

/// Run a parsed command.
pub fn execute(cli: Cli) -> Result<(), Fail> {
    match cli.command {
        Command::Serve(c) => serve(&c),
        Command::CheckConfig(c) => {
            let config = c
                .load()
                .map_err(|e| Fail::new(Exit::Failure, e.to_string()))?;
            print!("{}", config.to_yaml());
            Ok(())
        }
        Command::User { action } => user(action),
        Command::Who(o) => crate::admin_cli::run(AdminCommand::Who(o)),
        Command::Kick { user, out } => crate::admin_cli::run(AdminCommand::Kick(user, out)),
        Command::Expunge(a) => crate::admin_cli::run(AdminCommand::Expunge(a)),
        Command::Mailbox {
            action: MailboxCommand::List(a),
        } => crate::admin_cli::run(AdminCommand::List(a)),
        Command::Mailbox {
            action: MailboxCommand::Status(a),
        } => crate::admin_cli::run(AdminCommand::Status(a)),
        Command::Mailbox {
            action: MailboxCommand::Reindex(a),
        } => crate::admin_cli::run(AdminCommand::Reindex(a)),
        Command::Mailbox {
            action:
                MailboxCommand::View {
                    user,
                    mailbox,
                    config,
                },
        } => {
            let config = load(&config)?;
            let table = crate::mailbox_view::view(&config, &user, mailbox.as_deref())
                .map_err(admin_fail)?;
            print!("{table}");
            Ok(())
        }
        Command::Pw { scheme, password } => {
            let password = match password {
                Some(p) if p.is_empty() => return Err(password::PasswordError::Empty.into()),
                Some(p) => Secret::new(p),
                None if password::stdin_is_tty() => password::read_from_tty()?,
                None => password::read_line_from(&mut io::stdin().lock())?,
            };
            let hash = admin::pw_hash(&scheme, &password).map_err(admin_fail)?;
            println!("{hash}");
            Ok(())
        }
        Command::Deliver {
            config,
            user,
            mailbox,
        } => {
            let config = load(&config)?;
            // Warnings (a rebuilt index, a broken lock) go to stderr, which the MTA logs.
            crate::logging::init(&config.log)
                .map_err(|e| Fail::new(Exit::Config, e.to_string()))?;
            check_user_name(&user)?;
            let config = crate::privs::drop_for_mail_writes(&config)
                .map_err(|e| Fail::new(Exit::NoPerm, e.to_string()))?;
            admin::deliver(&config, &user, mailbox.as_deref(), &mut io::stdin().lock())
                .map(|_| ())
                .map_err(admin_fail)
        }
        Command::Import { source } => crate::import::run_cli(source),
        Command::Ban { action } => ban(action),
        Command::Report { what } => crate::report::run_cli(what),
    }
}

fn ban(action: BanCommand) -> Result<(), Fail> {
    use crate::guard;
    match action {
        BanCommand::List { config } => {
            let config = load(&config)?;
            let bans = guard::read_bans(&config.data_dir.join(guard::BANS_FILE))
                .map_err(|e| Fail::new(Exit::DataErr, e.to_string()))?;
            let now = std::time::SystemTime::now();
            let mut out = io::stdout().lock();
            for (ip, end) in bans {
                // The file can be up to a second behind; an ended ban is no ban.
                if let Ok(left) = end.duration_since(now) {
                    let _ = writeln!(out, "{ip} {}s", left.as_secs().max(1));
                }
            }
            Ok(())
        }
        BanCommand::Clear { ip, config } => {
            let config = load(&config)?;
            guard::request_clear(&config.data_dir, ip).map_err(|e| {
                Fail::new(
                    Exit::CantCreat,
                    format!(
                        "cannot write {}: {e}",
                        config.data_dir.join(guard::CLEAR_FILE).display()
                    ),
                )
            })
        }
    }
}

fn load(c: &ConfigArg) -> Result<Config, Fail> {
    c.load().map_err(|e| Fail::new(Exit::Config, e.to_string()))
}

fn admin_fail(e: AdminError) -> Fail {
    Fail::new(e.exit(), e.to_string())
}

/// Reject names that would corrupt the passwd-file (`:`) or escape the mail path (`/`).
pub fn check_user_name(name: &str) -> Result<(), Fail> {
    let bad = name.is_empty()
        || name.starts_with('.')
        || name
            .chars()
            .any(|c| c == ':' || c == '/' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(Fail::new(
            Exit::DataErr,
            format!(
                "invalid user name {name:?}: use a non-empty name without ':', '/', \
                 spaces or a leading '.'"
            ),
        ));
    }
    Ok(())
}

fn new_password(password_stdin: bool) -> Result<Secret<String>, Fail> {
    if password_stdin {
        Ok(password::read_line_from(&mut io::stdin().lock())?)
    } else if password::stdin_is_tty() {
        Ok(password::read_from_tty()?)
    } else {
        Err(Fail::new(
            Exit::Usage,
            "stdin is not a terminal: pass --password-stdin to read the password from it",
        ))
    }
}

fn user(action: UserCommand) -> Result<(), Fail> {
    match action {
        UserCommand::Add {
            name,
            password_stdin,
            config,
        } => {
            let config = load(&config)?;
            check_user_name(&name)?;
            let pw = new_password(password_stdin)?;
            admin::user_add(&config, &name, &pw).map_err(admin_fail)?;
            users_file_owner(&config)
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            config,
        } => {
            let config = load(&config)?;
            check_user_name(&name)?;
            let pw = new_password(password_stdin)?;
            admin::user_passwd(&config, &name, &pw).map_err(admin_fail)?;
            users_file_owner(&config)
        }
        UserCommand::Del { name, config } => {
            let config = load(&config)?;
            check_user_name(&name)?;
            admin::user_del(&config, &name).map_err(admin_fail)?;
            users_file_owner(&config)
        }
        UserCommand::List { config } => {
            let config = load(&config)?;
            for name in admin::user_list(&config).map_err(admin_fail)? {
                println!("{name}");
            }
            Ok(())
        }
    }
}

/// Keep the users file readable by the server's unprivileged account after a change as root.
fn users_file_owner(config: &Config) -> Result<(), Fail> {
    crate::privs::hand_over_users_file(config).map_err(|e| Fail::new(Exit::NoPerm, e.to_string()))
}

fn bind_fail(e: BindError) -> Fail {
    let exit = match e {
        BindError::Privileged { .. } => Exit::NoPerm,
        BindError::InUse { .. } => Exit::Unavailable,
        BindError::Other { .. } => Exit::OsErr,
    };
    Fail::new(exit, e.to_string())
}

fn tls_fail(e: TlsError) -> Fail {
    let exit = match e {
        TlsError::Generate { .. } => Exit::CantCreat,
        _ => Exit::Config,
    };
    Fail::new(exit, e.to_string())
}

/// `roost serve`: bind first (so a privileged-port problem is the first thing reported),
/// then TLS, then announce and serve until a signal.
fn serve(c: &ConfigArg) -> Result<(), Fail> {
    let config = Arc::new(load(c)?);
    crate::logging::init(&config.log).map_err(|e| Fail::new(Exit::Config, e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail::new(Exit::OsErr, format!("cannot start the async runtime: {e}")))?;
    let path = c.effective_path();
    let result = runtime.block_on(serve_async(config, path.as_deref()));
    // Sessions cut after the grace period must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

async fn serve_async(config: Arc<Config>, config_path: Option<&Path>) -> Result<(), Fail> {
    let priv_fail = |e: crate::privs::PrivError| Fail::new(Exit::NoPerm, e.to_string());
    let account = crate::privs::resolve(&config.run_as).map_err(priv_fail)?;
    let config = match account {
        Some(_) => Arc::new(crate::privs::anchor_in_data_dir(&config).map_err(priv_fail)?),
        None => config,
    };
    crate::wiring::authenticator(&config).map_err(|e| Fail::new(Exit::Config, e))?;
    let mut listeners = Listeners::bind(&config.listen).await.map_err(bind_fail)?;
    listeners.metrics = crate::metrics::bind(&config.metrics.listen)
        .await
        .map_err(|e| Fail::new(Exit::Unavailable, e))?;
    let (acceptor, certs) = tls::reloadable_acceptor(&config).map_err(tls_fail)?;
    // Installed before `listening` is printed: SIGHUP's default action would kill us.
    server::reload_on_sighup(certs)
        .map_err(|e| Fail::new(Exit::OsErr, format!("cannot install signal handlers: {e}")))?;
    // Ports are bound and the key is read: nothing left that needs root.
    if let Some(account) = account {
        crate::privs::hand_over(&config, &account).map_err(priv_fail)?;
        crate::privs::drop_to(&account).map_err(priv_fail)?;
        tracing::info!(
            user = account.name,
            uid = account.uid,
            gid = account.gid,
            "privileges dropped"
        );
    }
    // After dropping privileges, so the socket belongs to the serving user.
    let socket = &config.admin.socket;
    // A failure is logged by `run`: mail keeps flowing without the admin commands.
    listeners.admin = Some(crate::admin_socket::bind(socket));
    let shutdown = server::signals()
        .await
        .map_err(|e| Fail::new(Exit::OsErr, format!("cannot install signal handlers: {e}")))?;
    server::announce(&mut io::stdout().lock(), &listeners, &config, config_path)
        .map_err(|e| Fail::new(Exit::IoErr, format!("cannot write to stdout: {e}")))?;
    if listeners.sockets.is_empty() {
        tracing::warn!("every listener is turned off in `listen`; nothing to serve");
    }
    server::run(config, listeners, acceptor, shutdown).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("roost").chain(args.iter().copied()))
    }

    #[test]
    fn commands_parse() {
        let cli = parse(&["serve", "-c", "/etc/roost.yaml"]).unwrap();
        assert!(
            matches!(cli.command, Command::Serve(ConfigArg { config: Some(p) }) if p == Path::new("/etc/roost.yaml"))
        );
        let cli = parse(&["check-config"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::CheckConfig(ConfigArg { config: None })
        ));
        let cli = parse(&["user", "add", "alice", "--password-stdin", "-c", "x.yaml"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::User { action: UserCommand::Add { ref name, password_stdin: true, config: ConfigArg { config: Some(_) } } } if name == "alice"
        ));
        let cli = parse(&["user", "passwd", "bob"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::User {
                action: UserCommand::Passwd {
                    password_stdin: false,
                    ..
                }
            }
        ));
        assert!(parse(&["user", "del", "bob", "--config", "c"]).is_ok());
        assert!(parse(&["user", "list"]).is_ok());
        let cli = parse(&["pw"]).unwrap();
        assert!(
            matches!(cli.command, Command::Pw { ref scheme, password: None } if scheme == admin::DEFAULT_SCHEME)
        );
        let cli = parse(&["pw", "-s", "BLF-CRYPT", "-p", "x"]).unwrap();
        assert!(
            matches!(cli.command, Command::Pw { ref scheme, password: Some(_) } if scheme == "BLF-CRYPT")
        );
        let cli = parse(&["deliver", "--user", "alice", "--mailbox", "Junk"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Deliver { ref user, mailbox: Some(ref m), .. } if user == "alice" && m == "Junk"
        ));
    }

    #[test]
    fn bad_usage_is_ex_usage_and_help_is_success() {
        for args in [
            &[][..],
            &["frobnicate"],
            &["user", "add"],
            &["deliver"],
            &["user", "del", "a", "--password-stdin"],
            &["pw", "extra"],
        ] {
            let e = parse(args).unwrap_err();
            assert!(e.use_stderr(), "{args:?}");
        }
        for args in [&["--help"][..], &["user", "add", "--help"], &["--version"]] {
            let e = parse(args).unwrap_err();
            assert!(!e.use_stderr(), "{args:?}");
        }
    }

    #[test]
    fn user_names_that_would_corrupt_files_are_refused() {
        for good in ["alice", "bob@example.org", "a.b-c_d"] {
            assert!(check_user_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a:b", "../x", "a/b", "a b", ".hidden", "tab\t"] {
            let e = check_user_name(bad).unwrap_err();
            assert_eq!(e.exit, Exit::DataErr, "{bad}");
        }
    }

    #[test]
    fn failures_map_to_sysexits() {
        let addr = "0.0.0.0:143".parse().unwrap();
        let proto = server::Proto::Imap;
        let f = bind_fail(BindError::Privileged {
            proto,
            addr,
            port: 143,
        });
        assert_eq!(f.exit, Exit::NoPerm);
        assert!(f.message.contains("CAP_NET_BIND_SERVICE") && f.message.contains("143"));
        let f = bind_fail(BindError::InUse {
            proto,
            addr,
            port: 143,
        });
        assert_eq!(f.exit, Exit::Unavailable);
        assert!(f.message.contains("already in use"));
        assert_eq!(
            admin_fail(AdminError::NoUser("x".into())).exit,
            Exit::NoUser
        );
        let f = tls_fail(TlsError::Missing {
            what: "cert",
            path: "/x".into(),
        });
        assert_eq!(f.exit, Exit::Config);
    }
}
