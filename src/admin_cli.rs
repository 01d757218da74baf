//! `roost who`, `roost kick`, `roost mailbox list|status|reindex` and `roost expunge`: through
//! the running server's admin socket, or on the files directly when no server answers
//! (who and kick then say so).

use std::io::{self, Write};

use clap::Args;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::admin_socket::{self, Request};
use crate::cli::ConfigArg;
use crate::exit::{Exit, Fail};
use crate::ops::{Changed, MailboxRow, StatusRow};
use crate::sessions::SessionInfo;

/// Options shared by the admin commands.
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// Print the answer as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Configuration file.
    #[command(flatten)]
    pub config: ConfigArg,
}

/// `roost mailbox list|status|reindex USER [MAILBOX]`.
#[derive(Debug, Clone, Args)]
pub struct MailboxArgs {
    /// The user, as in the users file.
    pub user: String,
    /// The mailbox (status: INBOX when left out; reindex: every mailbox).
    pub mailbox: Option<String>,
    /// Output and configuration.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `roost expunge USER MAILBOX --before DATE`.
#[derive(Debug, Clone, Args)]
pub struct ExpungeArgs {
    /// The user.
    pub user: String,
    /// The mailbox.
    pub mailbox: String,
    /// Expunge messages whose INTERNALDATE (arrival) is before this: `YYYY-MM-DD` (UTC) or
    /// Unix seconds.
    #[arg(long, value_name = "DATE")]
    pub before: String,
    /// Output and configuration.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Which admin command.
#[derive(Debug, Clone)]
pub enum AdminCommand {
    /// `roost who`
    Who(OutputArgs),
    /// `roost kick USER`
    Kick(String, OutputArgs),
    /// `roost mailbox list USER`
    List(MailboxArgs),
    /// `roost mailbox status USER [MAILBOX]`
    Status(MailboxArgs),
    /// `roost mailbox reindex USER [MAILBOX]`
    Reindex(MailboxArgs),
    /// `roost expunge USER MAILBOX --before DATE`
    Expunge(ExpungeArgs),
}

/// Run an admin command and print its answer.
pub fn run(cmd: AdminCommand) -> Result<(), Fail> {
    let (request, out) = match cmd {
        AdminCommand::Who(o) => (Request::Who, o),
        AdminCommand::Kick(user, o) => (Request::Kick { user }, o),
        AdminCommand::List(a) => (Request::MailboxList { user: a.user }, a.out),
        AdminCommand::Status(a) => (
            Request::MailboxStatus {
                user: a.user,
                mailbox: a.mailbox,
            },
            a.out,
        ),
        AdminCommand::Reindex(a) => (
            Request::MailboxReindex {
                user: a.user,
                mailbox: a.mailbox,
            },
            a.out,
        ),
        AdminCommand::Expunge(a) => {
            let before = crate::ops::parse_date(&a.before).ok_or_else(|| {
                Fail::new(
                    Exit::Usage,
                    format!(
                        "--before {:?}: expected a date as YYYY-MM-DD or Unix seconds",
                        a.before
                    ),
                )
            })?;
            (
                Request::Expunge {
                    user: a.user,
                    mailbox: a.mailbox,
                    before,
                },
                a.out,
            )
        }
    };
    let config = out
        .config
        .load()
        .map_err(|e| Fail::new(Exit::Config, e.to_string()))?;
    let result = match admin_socket::request(&config.admin.socket, &request)
        .map_err(|e| Fail::new(Exit::NoPerm, e.to_string()))?
    {
        Some(answer) => from_server(answer)?,
        None => offline(&config, &request)?,
    };
    print(&request, &result, out.json)
}

fn from_server(answer: Value) -> Result<Value, Fail> {
    if answer.get("ok") == Some(&Value::Bool(true)) {
        return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
    }
    let error = answer
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("the server refused the request");
    let code = answer
        .get("exit")
        .and_then(Value::as_u64)
        .and_then(|c| u8::try_from(c).ok())
        .and_then(exit_from_code)
        .unwrap_or(Exit::Software);
    Err(Fail::new(code, error.to_string()))
}

/// The server reports failures with the exit status the CLI would have used itself.
fn exit_from_code(code: u8) -> Option<Exit> {
    use Exit::*;
    [
        Failure,
        Usage,
        DataErr,
        NoUser,
        Unavailable,
        Software,
        OsErr,
        CantCreat,
        IoErr,
        TempFail,
        NoPerm,
        Config,
    ]
    .into_iter()
    .find(|e| e.code() == code)
}

/// No server answers: mailbox work goes to the files; who and kick have nothing to do.
fn offline(config: &roost_config::Config, request: &Request) -> Result<Value, Fail> {
    if matches!(request, Request::Who | Request::Kick { .. }) {
        return Err(Fail::new(
            Exit::Unavailable,
            format!(
                "the server is not running (nothing answers on {}); no sessions to show or close",
                config.admin.socket.display()
            ),
        ));
    }
    let config = crate::privs::drop_for_mail_writes(config)
        .map_err(|e| Fail::new(Exit::NoPerm, e.to_string()))?;
    let users = crate::wiring::authenticator(&config).map_err(|e| Fail::new(Exit::TempFail, e))?;
    let store = crate::wiring::store(&config);
    let v = admin_socket::execute(request, &store, &users)
        .map_err(|e| Fail::new(e.exit(), e.to_string()));
    // Write the rebuilt indexes now, marked as cleanly closed.
    store.flush_all(true);
    v
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn parse<T: DeserializeOwned>(v: &Value) -> Result<T, Fail> {
    serde_json::from_value(v.clone()).map_err(|e| {
        Fail::new(
            Exit::Software,
            format!("unexpected answer from the server: {e}"),
        )
    })
}

fn print(request: &Request, result: &Value, json: bool) -> Result<(), Fail> {
    let mut out = io::stdout().lock();
    let w = |e: io::Error| Fail::new(Exit::IoErr, format!("cannot write to stdout: {e}"));
    if json {
        writeln!(out, "{result}").map_err(w)?;
        return Ok(());
    }
    match request {
        Request::Who => {
            let rows: Vec<SessionInfo> = parse(result)?;
            writeln!(out, "USER\tPROTOCOL\tIP\tSINCE\tTLS\tCLIENT").map_err(w)?;
            for r in rows {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    r.user,
                    r.protocol,
                    r.ip,
                    utc(r.since),
                    if r.tls { "yes" } else { "no" },
                    r.client.as_deref().unwrap_or("-")
                )
                .map_err(w)?;
            }
        }
        Request::Kick { user } => {
            let n = result.get("kicked").and_then(Value::as_u64).unwrap_or(0);
            writeln!(out, "{user}: {n} sessions closed").map_err(w)?;
        }
        Request::MailboxList { .. } => {
            let rows: Vec<MailboxRow> = parse(result)?;
            writeln!(out, "MAILBOX\tMESSAGES\tUNSEEN\tSPECIAL-USE").map_err(w)?;
            for r in rows {
                let n = |v: Option<u32>| v.map_or("-".to_string(), |v| v.to_string());
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}",
                    r.name,
                    n(r.messages),
                    n(r.unseen),
                    r.special_use.as_deref().unwrap_or("-")
                )
                .map_err(w)?;
            }
        }
        Request::MailboxStatus { .. } => {
            let s: StatusRow = parse(result)?;
            writeln!(
                out,
                "{}: messages={} unseen={} recent={} deleted={} size={} uidnext={} uidvalidity={} highestmodseq={}",
                s.name, s.messages, s.unseen, s.recent, s.deleted, s.size, s.uidnext, s.uidvalidity, s.highestmodseq
            )
            .map_err(w)?;
        }
        Request::MailboxReindex { .. } => {
            let rows: Vec<Changed> = parse(result)?;
            for r in rows {
                writeln!(out, "{}: reindexed, {} messages", r.name, r.messages).map_err(w)?;
            }
        }
        Request::Expunge { .. } => {
            let r: Changed = parse(result)?;
            writeln!(
                out,
                "{}: {} expunged, {} left",
                r.name,
                r.expunged.len(),
                r.messages
            )
            .map_err(w)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_agree_with_the_date_parser() {
        for (date, secs) in [
            ("1970-01-01", 0),
            ("2000-03-01", 951_868_800),
            ("2024-02-29", 1_709_164_800),
        ] {
            assert_eq!(crate::ops::parse_date(date), Some(secs));
            assert_eq!(utc(secs as u64), format!("{date}T00:00:00Z"));
        }
        assert_eq!(utc(1_709_164_800 + 3_723), "2024-02-29T01:02:03Z");
    }
}
