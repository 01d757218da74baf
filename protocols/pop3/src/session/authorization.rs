//! AUTHORIZATION state: USER/PASS, APOP, AUTH (RFC 5034), STLS, UTF8, and the login
//! that opens the maildrop.

use std::sync::Arc;
use std::time::Duration;

use roost_storage::auth::AuthOutcome;
use roost_storage::auth::policy::denied_message;
use roost_storage::auth::sasl::{self, SaslServer, SaslStep};
use roost_storage::{Mailbox, MailboxName, StorageError};

use super::{Maildrop, Msg, Output, Pop3Session, State, err, storage_failure, write};
use crate::command::{Command, SaslResponse, parse_sasl_response};
use crate::framer::Frame;
use crate::response::{RespCode, Response};

impl Pop3Session {
    fn cleartext_refused() -> Vec<Output> {
        vec![write(Response::err_code(
            RespCode::Auth,
            "Plaintext authentication disallowed on non-secure connections.",
        ))]
    }

    /// `auth.require_tls` is on and this connection is not encrypted (yet).
    pub(super) fn tls_missing(&self) -> bool {
        self.ctx.settings.require_tls && !self.ctx.is_tls
    }

    pub(super) fn authorization(&mut self, cmd: Command) -> Vec<Output> {
        let logs_in = matches!(
            cmd,
            Command::User(_) | Command::Pass(_) | Command::Apop { .. } | Command::Auth { .. }
        );
        if logs_in && self.tls_missing() {
            return vec![write(Response::err_code(
                RespCode::Auth,
                "Authentication requires TLS on this server; use STLS or POP3S.",
            ))];
        }
        match cmd {
            Command::User(name) => {
                if !self.ctx.cleartext_allowed {
                    return Self::cleartext_refused();
                }
                if self.ctx.auth.is_empty() {
                    return vec![write(Response::err_code(
                        RespCode::Auth,
                        "No users are configured.",
                    ))];
                }
                self.state = State::Authorization { user: Some(name) };
                vec![write(Response::ok(""))]
            }
            Command::Pass(pass) => {
                let State::Authorization { user } = &mut self.state else {
                    return err("Unexpected PASS.");
                };
                let Some(user) = user.take() else {
                    return err("No USER given.");
                };
                if !self.ctx.cleartext_allowed {
                    return Self::cleartext_refused();
                }
                let step = match self.ctx.auth.verify(&user, pass.expose()) {
                    AuthOutcome::Ok(e) => SaslStep::Success { user: e.name },
                    AuthOutcome::Failed => SaslStep::Failure,
                    AuthOutcome::TempFail(_) => SaslStep::TempFailure,
                };
                self.auth_result(step, "USER", Some(&user))
            }
            Command::Apop { name, digest } => match self.apop_timestamp.clone() {
                None => err("APOP is not enabled."),
                Some(ts) => {
                    let step = sasl::apop_verify(&self.ctx.auth, &name, &ts, &digest);
                    self.auth_result(step, "APOP", Some(&name))
                }
            },
            Command::AuthList => {
                let mut mechs = sasl::mechanisms(&self.ctx.auth, self.ctx.cleartext_allowed);
                if self.tls_missing() {
                    mechs.clear();
                }
                let lines = mechs.iter().map(|m| (*m).to_owned()).collect();
                vec![write(Response::multi_line("", lines))]
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                let offered = sasl::mechanisms(&self.ctx.auth, self.ctx.cleartext_allowed);
                if !offered.contains(&mechanism.as_str()) {
                    if matches!(mechanism.as_str(), "PLAIN" | "LOGIN") {
                        return Self::cleartext_refused();
                    }
                    return err("Unsupported authentication mechanism.");
                }
                let mut server = match SaslServer::start(
                    mechanism.as_str(),
                    &self.ctx.auth,
                    self.ctx.cleartext_allowed,
                ) {
                    Ok(s) => s,
                    Err(e) => return err(&format!("{e}.")),
                };
                let step = server.step(initial_response.as_ref().map(|d| d.expose().as_slice()));
                self.sasl_step(Box::new(server), step)
            }
            Command::Stls if self.ctx.is_tls => err("TLS is already active."),
            Command::Stls if !self.ctx.stls_available => err("STLS is not available."),
            Command::Stls => vec![
                write(Response::ok("Begin TLS negotiation now.")),
                Output::StartTls,
            ],
            Command::Utf8 => {
                self.utf8 = true;
                vec![write(Response::ok("UTF8 enabled."))]
            }
            _ => err("Not logged in yet."),
        }
    }

    pub(super) fn sasl_line(&mut self, frame: Frame) -> Vec<Output> {
        let State::Sasl(server) = std::mem::replace(&mut self.state, State::Closed) else {
            return vec![Output::Close];
        };
        self.state = State::Authorization { user: None };
        let line = match frame {
            Frame::Line(line) => line,
            Frame::TooLong => return err("Authentication line too long."),
        };
        match parse_sasl_response(&line) {
            Ok(SaslResponse::Cancel) => err("Authentication cancelled."),
            Ok(SaslResponse::Data(data)) => {
                let mut server = server;
                let step = server.step(Some(data.expose()));
                self.sasl_step(server, step)
            }
            Err(e) => vec![write(e.to_response())],
        }
    }

    fn sasl_step(&mut self, server: Box<SaslServer>, step: SaslStep) -> Vec<Output> {
        let mech = server.mechanism();
        match step {
            SaslStep::Challenge(data) => {
                self.state = State::Sasl(server);
                vec![write(Response::sasl_challenge(&data))]
            }
            other => {
                let tried = server.tried_user().map(str::to_owned);
                self.auth_result(other, mech, tried.as_deref())
            }
        }
    }

    fn auth_result(&mut self, step: SaslStep, mech: &str, tried: Option<&str>) -> Vec<Output> {
        let tls = self.ctx.is_tls;
        let peer = self.ctx.peer.as_str();
        match step {
            SaslStep::Success { user } => self.login(user, mech),
            SaslStep::TempFailure => {
                tracing::warn!(
                    user = tried,
                    peer,
                    mechanism = mech,
                    tls,
                    "login failed: temporary"
                );
                vec![write(Response::err_code(
                    RespCode::SysTemp,
                    "Authentication is temporarily unavailable.",
                ))]
            }
            SaslStep::Failure | SaslStep::Challenge(_) => {
                tracing::info!(user = tried, peer, mechanism = mech, tls, "login failed");
                vec![
                    Output::AuthFailed(tried.map(str::to_owned)),
                    write(Response::err_code(RespCode::Auth, "Authentication failed.")),
                ]
            }
        }
    }

    /// After the credentials are right: limits, lock, first-login setup, snapshot.
    fn login(&mut self, user: String, mech: &str) -> Vec<Output> {
        let tls = self.ctx.is_tls;
        if !self.ctx.auth.protocol_allowed(&user, "pop3") {
            tracing::info!(
                user,
                peer = self.ctx.peer,
                mechanism = mech,
                "login refused: POP3 not allowed for this user"
            );
            let template = &self.ctx.settings.protocol_denied_message;
            return vec![write(Response::err_code(
                RespCode::Auth,
                denied_message(template, "POP3"),
            ))];
        }
        let gate = match &self.ctx.login_gate {
            None => None,
            Some(gate) => match gate(&user) {
                Some(g) => Some(g),
                None => {
                    tracing::info!(user, peer = self.ctx.peer, "too many connections");
                    return vec![write(Response::err_code(
                        RespCode::InUse,
                        "Too many connections for this user from this address.",
                    ))];
                }
            },
        };
        let delay = Duration::from_secs(self.ctx.settings.login_delay_secs);
        if !self.ctx.login_delays.allow(&user, delay) {
            return vec![write(Response::err_code(
                RespCode::LoginDelay,
                format!("Wait {} seconds between logins.", delay.as_secs()),
            ))];
        }
        let lock = if self.ctx.settings.lock_maildrop {
            match self.ctx.locks.try_lock(&user) {
                Some(l) => Some(l),
                None => {
                    return vec![write(Response::err_code(
                        RespCode::InUse,
                        "Mailbox is locked by another POP3 session.",
                    ))];
                }
            }
        } else {
            None
        };
        let maildrop = match self.open_maildrop(&user) {
            Ok(m) => m,
            Err(e) => return storage_failure("Cannot open the mailbox", &e),
        };
        tracing::info!(
            user,
            peer = self.ctx.peer,
            mechanism = mech,
            tls,
            messages = maildrop.len(),
            "login"
        );
        let count = maildrop.len();
        let logged_in = Output::LoggedIn {
            user: user.clone(),
            mechanism: mech.to_owned(),
        };
        self.state = State::Transaction(Box::new(Maildrop {
            user,
            mailbox: maildrop.mailbox,
            messages: maildrop.messages,
            _lock: lock,
            _gate: gate,
        }));
        vec![
            logged_in,
            write(Response::ok(format!("Logged in, {count} messages."))),
        ]
    }

    fn open_maildrop(&self, user: &str) -> Result<Opened, StorageError> {
        let us = self.ctx.store.user(user)?;
        us.ensure_special_use()?;
        let inbox = MailboxName::new("INBOX")?;
        let mailbox = us.open(&inbox)?;
        let messages = crate::maildrop::listing(&mailbox, &self.ctx.settings)?
            .into_iter()
            .map(|l| Msg {
                uid: l.uid,
                size: l.size,
                uidl: l.uidl,
                deleted: false,
                retrieved: false,
            })
            .collect();
        Ok(Opened { mailbox, messages })
    }
}

struct Opened {
    mailbox: Arc<Mailbox>,
    messages: Vec<Msg>,
}

impl Opened {
    fn len(&self) -> usize {
        self.messages.len()
    }
}
