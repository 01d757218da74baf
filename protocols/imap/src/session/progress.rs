//! INPROGRESS (RFC 9585): `* OK [INPROGRESS ("tag" done total)]` while a long SEARCH,
//! FETCH, STORE, COPY, MOVE or EXPUNGE runs.
//!
//! Commands run to completion inside [`ImapSession::feed`] on the driver's blocking thread,
//! so their outputs leave only when the command ends. Progress lines therefore go through
//! a separate sink the driver installs ([`ImapSession::set_progress_sink`]) and writes to
//! the socket while the command is still running. Without a sink nothing is sent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ImapSession;

/// Where progress lines go while a command runs (the driver writes them at once).
pub type ProgressSink = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

/// The progress of one command: emits at most one line per interval.
pub(crate) struct Progress {
    sink: Option<ProgressSink>,
    tag: String,
    /// How many items the command goes through.
    pub(crate) total: usize,
    next: Instant,
    interval: Duration,
}

impl Progress {
    /// Called with the number of items done; cheap when nothing is due.
    pub(crate) fn tick(&mut self, done: usize) {
        let Some(sink) = &self.sink else {
            return;
        };
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + self.interval;
        // Tags cannot hold `"` or `\` (ASTRING-CHAR), so quoting needs no escapes.
        sink(
            format!(
                "* OK [INPROGRESS (\"{}\" {done} {})] Still working\r\n",
                self.tag, self.total
            )
            .into_bytes(),
        );
    }
}

impl ImapSession {
    /// Installs the sink for INPROGRESS lines; the driver writes what it gets right away.
    pub fn set_progress_sink(&mut self, sink: ProgressSink) {
        self.progress_sink = Some(sink);
    }

    /// A progress reporter for the running command over `total` items.
    pub(crate) fn progress(&self, total: usize) -> Progress {
        let s = &self.ctx.settings;
        Progress {
            // Only a running command has a tag to report progress under.
            sink: self.current_tag.as_ref().and(self.progress_sink.clone()),
            tag: self
                .current_tag
                .as_ref()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            total,
            next: Instant::now() + s.inprogress_after,
            interval: s.inprogress_interval,
        }
    }
}
