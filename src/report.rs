//! `roost report protocols`: who uses POP3, IMAP or both, from the login record
//! (`data_dir/logins.json`) and the users file. It reads files only, so it works whether
//! the server runs or not (a running server writes the record every
//! `auth.login_state_flush_secs`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::{Subcommand, ValueEnum};
use roost_config::Config;
use roost_storage::auth::Authenticator;
use roost_storage::logins::{self, LoginState, ProtocolLogins};

use crate::cli::ConfigArg;
use crate::exit::{Exit, Fail};

/// `roost report ...` reports.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Users on POP3 only, on both, on IMAP only and never seen, with their clients and
    /// last logins.
    Protocols {
        /// Count only logins of the last DAYS days.
        #[arg(long, value_name = "DAYS")]
        since: Option<u32>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Configuration file.
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people, the totals on top.
    Table,
    /// One JSON object with the totals and every user.
    Json,
    /// One row per user and protocol, for spreadsheets.
    Csv,
}

/// Which protocols a user was seen with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Only POP3 logins.
    Pop3Only,
    /// Both.
    Both,
    /// Only IMAP logins.
    ImapOnly,
    /// No login (in the period).
    NeverSeen,
}

impl Status {
    fn of(protocols: &BTreeMap<String, ProtocolLogins>) -> Status {
        match (
            protocols.contains_key("pop3"),
            protocols.contains_key("imap"),
        ) {
            (true, false) => Status::Pop3Only,
            (true, true) => Status::Both,
            (false, true) => Status::ImapOnly,
            (false, false) => Status::NeverSeen,
        }
    }

    /// The name used in every format.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pop3Only => "pop3 only",
            Status::Both => "both",
            Status::ImapOnly => "imap only",
            Status::NeverSeen => "never seen",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Status::Pop3Only => "pop3_only",
            Status::Both => "both",
            Status::ImapOnly => "imap_only",
            Status::NeverSeen => "never_seen",
        }
    }
}

/// One user's line of the report.
#[derive(Debug, Clone)]
pub struct UserRow {
    /// Login name.
    pub user: String,
    /// Which protocols.
    pub status: Status,
    /// Logins per protocol within the period.
    pub protocols: BTreeMap<String, ProtocolLogins>,
}

/// The whole report.
#[derive(Debug, Clone)]
pub struct Report {
    /// The period, if limited.
    pub since_days: Option<u32>,
    /// Every user of the users file, by name.
    pub users: Vec<UserRow>,
}

impl Report {
    /// The population is the users file; the record adds what each user did. Logins
    /// older than `since_days` before `now` are left out.
    pub fn build(
        users: Vec<String>,
        state: &LoginState,
        since_days: Option<u32>,
        now: i64,
    ) -> Report {
        let cutoff = since_days.map(|d| now - i64::from(d) * 86_400);
        let mut rows: Vec<UserRow> = users
            .into_iter()
            .map(|user| {
                let protocols: BTreeMap<String, ProtocolLogins> = state
                    .users
                    .get(&user)
                    .map(|u| {
                        u.protocols
                            .iter()
                            .filter(|(_, p)| cutoff.is_none_or(|c| p.last >= c))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                UserRow {
                    status: Status::of(&protocols),
                    user,
                    protocols,
                }
            })
            .collect();
        rows.sort_by(|a, b| a.user.cmp(&b.user));
        Report {
            since_days,
            users: rows,
        }
    }

    fn count(&self, status: Status) -> usize {
        self.users.iter().filter(|u| u.status == status).count()
    }

    const ALL: [Status; 4] = [
        Status::Pop3Only,
        Status::Both,
        Status::ImapOnly,
        Status::NeverSeen,
    ];

    fn never_label(&self) -> String {
        match self.since_days {
            Some(d) => format!("not seen in {d} days"),
            None => "never seen".to_owned(),
        }
    }

    /// Totals line, then one row per user and protocol in aligned columns.
    pub fn table(&self) -> String {
        let mut out = format!("{} users:", self.users.len());
        for s in Self::ALL {
            let label = match s {
                Status::NeverSeen => self.never_label(),
                s => s.name().to_owned(),
            };
            let _ = write!(out, " {} {label},", self.count(s));
        }
        out.pop();
        out.push('\n');
        let mut rows = vec![header()];
        rows.extend(self.rows(fmt_time));
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        out.push('\n');
        for row in rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// One row per user and protocol (one for a user never seen), with a header row.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        for row in std::iter::once(header()).chain(self.rows(fmt_time)) {
            let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// `{"since_days", "totals", "users": [...]}`.
    pub fn json(&self) -> String {
        use serde_json::{Value, json};
        let mut totals = serde_json::Map::new();
        totals.insert("users".into(), json!(self.users.len()));
        for s in Self::ALL {
            totals.insert(s.key().into(), json!(self.count(s)));
        }
        let users: Vec<Value> = self
            .users
            .iter()
            .map(|u| {
                let protocols: serde_json::Map<String, Value> = u
                    .protocols
                    .iter()
                    .map(|(name, p)| {
                        (
                            name.clone(),
                            json!({
                                "last_login": fmt_rfc3339(p.last),
                                "first_login": fmt_rfc3339(p.first),
                                "logins": p.count,
                                "client": p.client,
                                "ip": p.ip,
                                "tls": p.tls,
                                "mechanism": p.mechanism,
                                "clients": p.clients,
                            }),
                        )
                    })
                    .collect();
                json!({"user": u.user, "status": u.status.key(), "protocols": protocols})
            })
            .collect();
        let doc = json!({"since_days": self.since_days, "totals": totals, "users": users});
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    }

    fn rows(&self, time: fn(i64) -> String) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        for u in &self.users {
            let status = match u.status {
                Status::NeverSeen => self.never_label(),
                s => s.name().to_owned(),
            };
            if u.protocols.is_empty() {
                let mut row = vec![u.user.clone(), status.clone()];
                row.resize(header().len(), String::new());
                rows.push(row);
            }
            for (name, p) in &u.protocols {
                rows.push(vec![
                    u.user.clone(),
                    status.clone(),
                    name.clone(),
                    time(p.last),
                    p.count.to_string(),
                    // Without an ID the address is what tells the devices apart.
                    p.client.clone().unwrap_or_else(|| p.ip.clone()),
                    p.ip.clone(),
                    if p.tls { "yes" } else { "no" }.to_owned(),
                    p.mechanism.clone(),
                ]);
            }
        }
        rows
    }
}

fn header() -> Vec<String> {
    [
        "USER",
        "STATUS",
        "PROTOCOL",
        "LAST LOGIN (UTC)",
        "LOGINS",
        "CLIENT",
        "IP",
        "TLS",
        "MECHANISM",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn csv_cell(c: &str) -> String {
    if c.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c.to_owned()
    }
}

/// `2026-11-26 12:50:42` (UTC).
pub fn fmt_time(t: i64) -> String {
    let (y, mo, d, h, mi, s) = crate::utc::parts(t);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `2026-11-26T12:50:42Z`.
pub fn fmt_rfc3339(t: i64) -> String {
    let (y, mo, d, h, mi, s) = crate::utc::parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Runs `roost report ...`.
pub fn run_cli(cmd: ReportCommand) -> Result<(), Fail> {
    let ReportCommand::Protocols {
        since,
        format,
        config,
    } = cmd;
    let config = Config::load_default_or(config.config.as_deref())
        .map_err(|e| Fail::new(Exit::Config, e.to_string()))?;
    let users = Authenticator::open(&config.users_file)
        .map_err(|e| {
            Fail::new(
                Exit::NoPerm,
                format!(
                    "cannot read users file {}: {e}",
                    config.users_file.display()
                ),
            )
        })?
        .user_names();
    let path = config.data_dir.join(logins::FILE_NAME);
    let state = logins::load(&path).map_err(|e| Fail::new(Exit::DataErr, e.to_string()))?;
    let report = Report::build(users, &state, since, logins::now());
    let text = match format {
        Format::Table => report.table(),
        Format::Json => report.json(),
        Format::Csv => report.csv(),
    };
    print!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost_storage::logins::LoginEvent;

    #[test]
    fn times() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00");
        assert_eq!(fmt_rfc3339(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(fmt_time(1_798_761_599), "2026-12-31 23:59:59");
    }

    #[test]
    fn since_leaves_old_logins_out() {
        let mut state = LoginState::default();
        let e = |user, protocol, at| LoginEvent {
            user,
            protocol,
            client: None,
            ip: "192.0.2.1",
            tls: false,
            mechanism: "USER",
            at,
        };
        let now = 100 * 86_400;
        state.record(&e("a", "pop3", now - 40 * 86_400));
        state.record(&e("a", "imap", now - 86_400));
        state.record(&e("b", "pop3", now - 40 * 86_400));
        let users = vec!["b".to_owned(), "a".to_owned(), "c".to_owned()];
        let all = Report::build(users.clone(), &state, None, now);
        let got: Vec<_> = all
            .users
            .iter()
            .map(|u| (u.user.as_str(), u.status))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Status::Both),
                ("b", Status::Pop3Only),
                ("c", Status::NeverSeen)
            ]
        );
        let recent = Report::build(users, &state, Some(30), now);
        let got: Vec<_> = recent.users.iter().map(|u| u.status).collect();
        assert_eq!(
            got,
            [Status::ImapOnly, Status::NeverSeen, Status::NeverSeen]
        );
        assert!(
            recent
                .table()
                .starts_with("3 users: 0 pop3 only, 0 both, 1 imap only, 2 not seen in 30 days\n")
        );
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
