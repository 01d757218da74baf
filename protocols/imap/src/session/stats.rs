//! What the driver needs for metrics: each handled command with the time the session spent
//! on it, and the mechanism of the last login attempt.

use std::time::{Duration, Instant};

use super::ImapSession;
use crate::command::CommandBody;

/// One handled command.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandStat {
    /// The command name as [`CommandBody::name`] gives it (`UID FETCH`).
    pub name: &'static str,
    /// Time spent in the session (storage work; streaming a body by the driver excluded).
    pub elapsed: Duration,
}

/// Per-session collection, drained by the driver after each feed.
#[derive(Debug, Default)]
pub(super) struct Stats {
    done: Vec<CommandStat>,
    mechanism: Option<String>,
}

impl Stats {
    /// A command starts: remember a login's mechanism, and start its clock.
    pub(super) fn begin(&mut self, body: &CommandBody) -> (&'static str, Instant) {
        match body {
            CommandBody::Login { .. } => self.mechanism = Some("LOGIN".into()),
            CommandBody::Authenticate { mechanism, .. } => {
                self.mechanism = Some(mechanism.as_str().to_ascii_uppercase());
            }
            _ => {}
        }
        (body.name(), Instant::now())
    }

    /// A command line the parser refused (an unknown name among others): counted as `other`.
    pub(super) fn refused(&mut self) {
        self.done.push(CommandStat {
            name: "other",
            elapsed: Duration::ZERO,
        });
    }

    /// The command's dispatch returned.
    pub(super) fn end(&mut self, (name, started): (&'static str, Instant)) {
        // Bounded by the commands in one read: the driver drains after every feed.
        self.done.push(CommandStat {
            name,
            elapsed: started.elapsed(),
        });
    }
}

impl ImapSession {
    /// The commands handled since the last call.
    pub fn take_command_stats(&mut self) -> Vec<CommandStat> {
        std::mem::take(&mut self.stats.done)
    }

    /// The mechanism of the last LOGIN or AUTHENTICATE (`LOGIN`, `PLAIN`, ...).
    pub fn auth_mechanism(&self) -> Option<&str> {
        self.stats.mechanism.as_deref()
    }
}
