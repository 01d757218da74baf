//! Progress of an import: a redrawn status line on a terminal, plain log lines otherwise,
//! every failure on its own line, and the summary at the end.

use std::io::Write;
use std::time::{Duration, Instant};

/// A plain progress line is logged every this many messages when stderr is not a terminal.
const LOG_EVERY: u64 = 100;
/// The terminal status line is redrawn at most this often.
const REDRAW: Duration = Duration::from_millis(100);

/// Whether stderr is a terminal.
pub fn stderr_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(libc::STDERR_FILENO) == 1 }
}

/// Counts at the end of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Messages copied by this run.
    pub copied: u64,
    /// Messages found already copied by an earlier run.
    pub skipped: u64,
    /// Messages that could not be copied (each reported).
    pub failed: u64,
    /// Bytes copied by this run.
    pub bytes: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "import finished: {} copied ({} bytes), {} already there, {} failed",
            self.copied, self.bytes, self.skipped, self.failed
        )
    }
}

/// Reports progress to stderr.
pub struct Progress {
    tty: bool,
    sum: Summary,
    /// Where we are (a mailbox name), shown in the status line.
    place: String,
    /// Messages expected in the current place, when known.
    total: Option<u64>,
    done_here: u64,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl Progress {
    /// Report to a terminal (`tty`) or as log lines.
    pub fn new(tty: bool) -> Progress {
        Progress {
            tty,
            sum: Summary::default(),
            place: String::new(),
            total: None,
            done_here: 0,
            last_draw: None,
            drawn: false,
        }
    }

    /// Start on a mailbox (or maildrop) with `total` messages to look at.
    pub fn enter(&mut self, place: &str, total: Option<u64>) {
        self.place = place.to_string();
        self.total = total;
        self.done_here = 0;
        self.line(&format!(
            "{place}: {} message(s)",
            total.map_or("?".to_string(), |t| t.to_string())
        ));
    }

    /// A message was copied.
    pub fn copied(&mut self, bytes: u64) {
        self.sum.copied += 1;
        self.sum.bytes += bytes;
        self.done_here += 1;
        if self.tty {
            self.draw(false);
        } else if self.sum.copied.is_multiple_of(LOG_EVERY) {
            self.line(&format!(
                "{}: copied {} message(s), {} bytes so far",
                self.place, self.sum.copied, self.sum.bytes
            ));
        }
    }

    /// A message was already there.
    pub fn skipped(&mut self) {
        self.sum.skipped += 1;
        self.done_here += 1;
        if self.tty {
            self.draw(false);
        }
    }

    /// A message could not be copied: always reported, with what and why.
    pub fn failed(&mut self, what: &str, why: &str) {
        self.sum.failed += 1;
        self.done_here += 1;
        self.line(&format!("FAILED {what}: {why}"));
    }

    /// Something the admin should know (e.g. UIDs could not be kept).
    pub fn note(&mut self, text: &str) {
        self.line(text);
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        self.sum
    }

    /// Clear the status line and return the counts.
    pub fn finish(&mut self) -> Summary {
        if self.tty && self.drawn {
            self.draw(true);
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
        self.sum
    }

    fn line(&mut self, text: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty && self.drawn {
            // Wipe the status line first, then put it back below.
            let _ = write!(err, "\r\x1b[K");
            self.drawn = false;
        }
        let _ = writeln!(err, "roost import: {text}");
    }

    fn draw(&mut self, force: bool) {
        if !force && self.last_draw.is_some_and(|t| t.elapsed() < REDRAW) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let of = self.total.map_or(String::new(), |t| format!("/{t}"));
        let _ = write!(
            std::io::stderr().lock(),
            "\r\x1b[K{}: {}{of} | total {} copied, {} skipped, {} failed, {:.1} MB",
            self.place,
            self.done_here,
            self.sum.copied,
            self.sum.skipped,
            self.sum.failed,
            self.sum.bytes as f64 / 1e6
        );
        self.drawn = true;
    }
}
