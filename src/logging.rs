//! Logging setup from `config.log`, per-connection session ids, and redacted secrets.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use roost_config::{Log, LogFormat};
use tracing_subscriber::EnvFilter;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `log.level` is not a valid tracing filter.
    #[error("`log.level`: {0:?} is not a valid filter (use error, warn, info, debug, trace)")]
    Level(String),
}

/// Install the global subscriber. Logs go to stderr: stdout is reserved for the
/// `listening ...` lines that scripts and tests parse.
pub fn init(log: &Log) -> Result<(), LogError> {
    let filter = EnvFilter::try_new(&log.level).map_err(|_| LogError::Level(log.level.clone()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes would garble log files and journald.
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (e.g. in tests) keeps the first subscriber; that is fine.
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}

static NEXT_SESSION: AtomicU64 = AtomicU64::new(0);

/// A new short session id, unique within this process and unlikely to repeat across
/// restarts, so one connection's lines can be grepped out of a busy log.
pub fn session_id() -> String {
    let n = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // The odd multiplier spreads consecutive counters over the kept 40 bits.
    let mixed = (n ^ (start << 24)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{:010x}", mixed >> 24)
}

/// Passwords and SASL data: `Debug` prints `<redacted>` (one type for the whole server).
pub use roost_storage::auth::Secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug_and_display() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn session_ids_are_short_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| session_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 10));
    }

    #[test]
    fn bad_level_is_a_clear_error() {
        let log = Log {
            level: "loud[".to_string(),
            format: LogFormat::Text,
            ..Log::default()
        };
        let err = init(&log).unwrap_err().to_string();
        assert!(err.contains("log.level"), "{err}");
    }
}
