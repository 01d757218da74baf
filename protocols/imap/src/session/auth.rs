//! Not-authenticated state: STARTTLS, LOGIN, AUTHENTICATE (with SASL-IR) and the login
//! that opens the user's mail.

use roost_storage::auth::policy::denied_message;
use roost_storage::auth::sasl::{self, SaslServer, SaslStep};
use roost_storage::auth::{AuthOutcome, Secret};

use super::{CmdError, CmdResult, Done, ImapSession, Mode, Output, User};
use crate::response::{Code, Response, Text};
use crate::types::{AString, Atom, Tag};

impl ImapSession {
    pub(super) fn starttls(&mut self, tag: &Tag) -> CmdResult {
        if self.ctx.is_tls {
            return Err(CmdError::Bad("TLS is already active".into()));
        }
        if !self.ctx.starttls_available {
            return Err(CmdError::Bad("STARTTLS is not available".into()));
        }
        self.send(Response::Tagged {
            tag: tag.clone(),
            kind: crate::response::StatusKind::Ok,
            code: None,
            text: Text::sanitized("Begin TLS negotiation now"),
        });
        self.out.push(Output::StartTls);
        Ok(Done::Pending)
    }

    /// `auth.require_tls` is on and this connection is not encrypted (yet).
    pub(super) fn tls_missing(&self) -> bool {
        self.ctx.settings.require_tls && !self.ctx.is_tls
    }

    fn tls_refused() -> CmdError {
        CmdError::No(
            Some(Code::PrivacyRequired),
            "Authentication requires TLS on this server; use STARTTLS or IMAPS.".into(),
        )
    }

    fn cleartext_refused() -> CmdError {
        CmdError::No(
            Some(Code::PrivacyRequired),
            "Cleartext passwords are refused on this connection; use STARTTLS or IMAPS.".into(),
        )
    }

    pub(super) fn login_cmd(&mut self, username: AString, password: Secret<AString>) -> CmdResult {
        if self.tls_missing() {
            return Err(Self::tls_refused());
        }
        if !self.ctx.cleartext_allowed {
            return Err(Self::cleartext_refused());
        }
        let Some(user) = username.to_str() else {
            return Err(CmdError::AuthFailed(None));
        };
        let pass = password.expose().as_bytes();
        let step = match self.ctx.auth.verify(user, pass) {
            AuthOutcome::Ok(e) => SaslStep::Success { user: e.name },
            AuthOutcome::Failed => SaslStep::Failure,
            AuthOutcome::TempFail(_) => SaslStep::TempFailure,
        };
        let tried = user.to_string();
        self.auth_result(step, "LOGIN", Some(&tried))
    }

    pub(super) fn authenticate(
        &mut self,
        tag: &Tag,
        mechanism: Atom,
        initial: Option<Secret<String>>,
    ) -> CmdResult {
        if self.tls_missing() {
            return Err(Self::tls_refused());
        }
        let mech = mechanism.as_str().to_ascii_uppercase();
        let offered = sasl::mechanisms(&self.ctx.auth, self.ctx.cleartext_allowed);
        if !offered.contains(&mech.as_str()) {
            if matches!(mech.as_str(), "PLAIN" | "LOGIN") {
                return Err(Self::cleartext_refused());
            }
            return Err(CmdError::No(
                None,
                "Unsupported authentication mechanism".into(),
            ));
        }
        let mut server = SaslServer::start(&mech, &self.ctx.auth, self.ctx.cleartext_allowed)
            .map_err(|e| CmdError::No(None, format!("{e}")))?;
        let step = match initial {
            None => server.step(None),
            // SASL-IR: `=` is an empty initial response.
            Some(s) if s.expose() == "=" => server.step(Some(&[])),
            Some(s) => match Self::unb64(s.expose().as_bytes()) {
                Some(data) => server.step(Some(&data)),
                None => return Err(CmdError::Bad("Invalid base64 in initial response".into())),
            },
        };
        self.sasl_step(tag, Box::new(server), step)
    }

    pub(super) fn sasl_response(
        &mut self,
        tag: &Tag,
        mut server: Box<SaslServer>,
        line: &[u8],
    ) -> CmdResult {
        if line == b"*" {
            return Err(CmdError::Bad("Authentication cancelled".into()));
        }
        let Some(data) = Self::unb64(line) else {
            return Err(CmdError::Bad("Invalid base64 in SASL response".into()));
        };
        let step = server.step(Some(&data));
        self.sasl_step(tag, server, step)
    }

    fn sasl_step(&mut self, tag: &Tag, server: Box<SaslServer>, step: SaslStep) -> CmdResult {
        let mech = server.mechanism();
        match step {
            SaslStep::Challenge(data) => {
                self.send(Response::ContinueBase64(Self::b64(&data)));
                self.mode = Mode::Sasl {
                    tag: tag.clone(),
                    server,
                };
                self.reader.set_line_mode(true);
                Ok(Done::Pending)
            }
            other => {
                let tried = server.tried_user().map(str::to_owned);
                self.auth_result(other, mech, tried.as_deref())
            }
        }
    }

    fn auth_result(&mut self, step: SaslStep, mech: &str, tried: Option<&str>) -> CmdResult {
        let peer = self.ctx.peer.clone();
        let tls = self.ctx.is_tls;
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
                Err(CmdError::No(
                    Some(Code::Unavailable),
                    "Authentication is temporarily unavailable.".into(),
                ))
            }
            SaslStep::Failure | SaslStep::Challenge(_) => {
                tracing::info!(user = tried, peer, mechanism = mech, tls, "login failed");
                Err(CmdError::AuthFailed(tried.map(str::to_owned)))
            }
        }
    }

    /// After the credentials are right: the connection limit, first-login setup.
    fn login(&mut self, user: String, mech: &str) -> CmdResult {
        if !self.ctx.auth.protocol_allowed(&user, "imap") {
            tracing::info!(
                user,
                peer = self.ctx.peer,
                mechanism = mech,
                "login refused: IMAP not allowed for this user"
            );
            let template = &self.ctx.settings.protocol_denied_message;
            return Err(CmdError::No(
                Some(Code::ContactAdmin),
                denied_message(template, "IMAP"),
            ));
        }
        let gate = match &self.ctx.login_gate {
            None => None,
            Some(gate) => match gate(&user) {
                Some(g) => Some(g),
                None => {
                    tracing::info!(user, peer = self.ctx.peer, "too many connections");
                    return Err(CmdError::No(
                        Some(Code::Limit),
                        "Too many connections for this user from this address.".into(),
                    ));
                }
            },
        };
        let store = self.ctx.store.user(&user)?;
        store.ensure_special_use()?;
        tracing::info!(
            user,
            peer = self.ctx.peer,
            mechanism = mech,
            tls = self.ctx.is_tls,
            "login"
        );
        self.out.push(Output::LoggedIn {
            user: user.clone(),
            mechanism: mech.to_owned(),
        });
        self.user = Some(Box::new(User {
            name: user,
            store,
            selected: None,
            saved: None,
            _gate: gate,
        }));
        let caps = self.capabilities();
        Ok(Done::Ok(Some(Code::Capability(caps)), "Logged in".into()))
    }

    /// RFC 8437: back to the not-authenticated state, as if the connection were new
    /// (TLS stays); the selected mailbox is closed without expunging.
    pub(super) fn unauthenticate(&mut self) -> CmdResult {
        if let Some(u) = self.user.take() {
            tracing::info!(user = u.name, peer = self.ctx.peer, "unauthenticate");
        }
        self.rev2 = false;
        self.utf8_accept = false;
        self.uid_only = false;
        self.condstore = false;
        self.qresync = false;
        Ok(Done::Ok(None, "UNAUTHENTICATE completed".into()))
    }
}
