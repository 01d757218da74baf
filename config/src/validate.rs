//! Checks on values that parse but cannot work; each names the key and, when it is written in
//! the file, its line and column.

use std::net::SocketAddr;

use crate::Config;
use crate::index::KeyIndex;
use crate::load::ConfigError;

/// Levels a tracing filter understands (`off` silences a target).
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

pub(crate) fn validate(config: &Config, index: &KeyIndex, file: &str) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        file: file.to_string(),
        at: index.get(key).map(|e| e.value),
        key: key.to_string(),
        message,
    };
    let template = config.mail_path.replace("{user}", "");
    if template.len() == config.mail_path.len() {
        return Err(invalid(
            "mail_path",
            "must contain {user}, or every user would share one Maildir".to_string(),
        ));
    }
    if let Some(bad) = placeholder(&template) {
        return Err(invalid(
            "mail_path",
            format!("unknown placeholder `{bad}` (only {{data_dir}} and {{user}} exist)"),
        ));
    }
    for (key, path) in [
        ("users_file", Some(&config.users_file)),
        ("admin.socket", Some(&config.admin.socket)),
        ("tls.cert", config.tls.cert.as_ref()),
        ("tls.key", config.tls.key.as_ref()),
    ] {
        let Some(path) = path else { continue };
        if let Some(bad) = placeholder(&path.display().to_string()) {
            return Err(invalid(
                key,
                format!("unknown placeholder `{bad}` (only {{data_dir}} exists here)"),
            ));
        }
    }
    if config.tls.cert.is_some() != config.tls.key.is_some() {
        return Err(invalid(
            "tls",
            "set both `cert` and `key`, or neither for a generated self-signed certificate"
                .to_string(),
        ));
    }
    let mut names: Vec<String> = Vec::new();
    for (i, sni) in config.tls.sni.iter().enumerate() {
        if sni.names.is_empty() {
            return Err(invalid(
                &format!("tls.sni[{i}].names"),
                "list at least one host name".to_string(),
            ));
        }
        for (j, name) in sni.names.iter().enumerate() {
            let key = format!("tls.sni[{i}].names[{j}]");
            if !is_host_pattern(name) {
                return Err(invalid(
                    &key,
                    format!(
                        "`{name}` is not a host name (letters, digits, `-`, `.`; `*.` may start it)"
                    ),
                ));
            }
            let lower = name.to_ascii_lowercase();
            if names.contains(&lower) {
                return Err(invalid(&key, format!("`{name}` is listed twice; keep one")));
            }
            names.push(lower);
        }
        for (what, path) in [("cert", &sni.cert), ("key", &sni.key)] {
            if let Some(bad) = placeholder(&path.display().to_string()) {
                return Err(invalid(
                    &format!("tls.sni[{i}].{what}"),
                    format!("unknown placeholder `{bad}` (only {{data_dir}} exists here)"),
                ));
            }
        }
    }
    check_listeners(config).map_err(|(key, message)| invalid(&key, message))?;
    if let Err(message) = check_log_level(&config.log.level) {
        return Err(invalid("log.level", message));
    }
    let at_least_one = [
        (
            "limits.max_connections",
            config.limits.max_connections as u64,
        ),
        (
            "limits.max_connections_per_user_ip",
            config.limits.max_connections_per_user_ip as u64,
        ),
        ("limits.max_message_size", config.limits.max_message_size),
        (
            "limits.lmtp_max_recipients",
            config.limits.lmtp_max_recipients as u64,
        ),
        (
            "storage.rescan_interval_secs",
            config.storage.rescan_interval_secs,
        ),
        (
            "storage.lock_timeout_secs",
            config.storage.lock_timeout_secs,
        ),
        ("storage.stale_lock_secs", config.storage.stale_lock_secs),
        (
            "limits.max_connections_per_ip",
            config.limits.max_connections_per_ip as u64,
        ),
        (
            "limits.login_timeout_secs",
            config.limits.login_timeout_secs,
        ),
        (
            "limits.line_deadline_secs",
            config.limits.line_deadline_secs,
        ),
        ("auth.ban_window_secs", config.auth.ban_window_secs),
        ("auth.ban_secs", config.auth.ban_secs),
        (
            "auth.login_state_flush_secs",
            config.auth.login_state_flush_secs,
        ),
    ];
    for (key, value) in at_least_one {
        if value == 0 {
            return Err(invalid(key, "must be at least 1".to_string()));
        }
    }
    if let Err(message) = check_uidl_format(&config.pop3.uidl_format) {
        return Err(invalid("pop3.uidl_format", message));
    }
    if let Some(kw) = &config.pop3.deleted_keyword {
        // An IMAP flag-keyword is an atom: no specials, no backslash (system flags).
        let bad = |c: char| !c.is_ascii_graphic() || "(){%*\"]\\".contains(c);
        if kw.is_empty() || kw.chars().any(bad) {
            return Err(invalid(
                "pop3.deleted_keyword",
                format!("`{kw}` is not an IMAP keyword (letters, digits, `$`, `_`, `-` ...)"),
            ));
        }
    }
    if config.pop3.idle_timeout_secs == 0 {
        return Err(invalid(
            "pop3.idle_timeout_secs",
            "must be at least 1 (RFC 1939 asks for 600)".to_string(),
        ));
    }
    // Room for the longest line twice over (one being parsed, the next arriving).
    let least_memory = config
        .imap
        .max_line_length
        .saturating_mul(2)
        .max(256 * 1024);
    if config.limits.max_connection_memory < least_memory {
        return Err(invalid(
            "limits.max_connection_memory",
            format!("must be at least {least_memory} (256 KiB, and twice imap.max_line_length)"),
        ));
    }
    if !(255..=65536).contains(&config.pop3.max_line_length) {
        return Err(invalid(
            "pop3.max_line_length",
            "must be between 255 (RFC 2449) and 65536".to_string(),
        ));
    }
    if config.auth.penalty_max_secs.saturating_mul(1000) < config.auth.failure_delay_ms {
        return Err(invalid(
            "auth.failure_delay_ms",
            format!(
                "must not exceed auth.penalty_max_secs ({} s), the ceiling of the growing delay",
                config.auth.penalty_max_secs
            ),
        ));
    }
    let denied = &config.auth.protocol_denied_message;
    // It goes on a response line: a CR or LF would end it early.
    if denied.trim().is_empty() || denied.len() > 300 || denied.chars().any(char::is_control) {
        return Err(invalid(
            "auth.protocol_denied_message",
            "must be 1 to 300 characters without control characters".to_string(),
        ));
    }
    if let Some(name) = [&config.run_as.user, &config.run_as.group]
        .into_iter()
        .flatten()
        .find(|n| n.as_str() == "root" || n.as_str() == "0")
    {
        let key = if config.run_as.user.as_ref() == Some(name) {
            "run_as.user"
        } else {
            "run_as.group"
        };
        return Err(invalid(
            key,
            format!(
                "`{name}`: sessions never run as root, so a hole in a session cannot own the \
                 host; name an unprivileged account such as `mail` (or leave it null)"
            ),
        ));
    }
    if let Some(name) = [&config.run_as.user, &config.run_as.group]
        .into_iter()
        .flatten()
        .find(|n| n.is_empty() || n.contains([':', '/', '\0']))
    {
        return Err(invalid(
            "run_as",
            format!("`{name}` is not a user or group name"),
        ));
    }
    let imap_login_timeout = config.imap.login_timeout_secs.unwrap_or(1);
    if config.imap.idle_timeout_secs < 60 || imap_login_timeout == 0 {
        let key = if imap_login_timeout == 0 {
            "imap.login_timeout_secs"
        } else {
            "imap.idle_timeout_secs"
        };
        return Err(invalid(
            key,
            "too short (RFC 9051 asks for 1800 seconds after login)".to_string(),
        ));
    }
    if config.imap.idle_keepalive_secs == 0 {
        return Err(invalid(
            "imap.idle_keepalive_secs",
            "must be at least 1 second".to_string(),
        ));
    }
    if !(1024..=16 * 1024 * 1024).contains(&config.imap.max_line_length) {
        return Err(invalid(
            "imap.max_line_length",
            "must be between 1024 and 16777216".to_string(),
        ));
    }
    if !(4..=256).contains(&config.imap.max_nesting_depth) {
        return Err(invalid(
            "imap.max_nesting_depth",
            "must be between 4 and 256".to_string(),
        ));
    }
    if config.imap.max_set_items < 100 {
        return Err(invalid(
            "imap.max_set_items",
            "must be at least 100".to_string(),
        ));
    }
    if config.imap.inprogress_interval_ms == 0 {
        return Err(invalid(
            "imap.inprogress_interval_ms",
            "must be at least 1".to_string(),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for (i, mb) in config.mailboxes.special_use.iter().enumerate() {
        let key = format!("mailboxes.special_use[{i}].name");
        let name = mb.name.as_str();
        let problem = if name.trim().is_empty() {
            Some("must not be empty".to_string())
        } else if name.contains('/') {
            Some(format!(
                "`{name}` must not contain `/` (it would name a nested mailbox)"
            ))
        } else if name.chars().any(char::is_control) {
            Some("must not contain control characters".to_string())
        } else if name.eq_ignore_ascii_case("INBOX") {
            Some("INBOX always exists and cannot be a special-use mailbox".to_string())
        } else if seen.contains(&name.to_lowercase()) {
            Some(format!("`{name}` is listed twice; keep one"))
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(invalid(&key, message));
        }
        seen.push(name.to_lowercase());
    }
    for (usage, names) in &config.mailboxes.aliases {
        for (i, name) in names.iter().enumerate() {
            let key = format!(
                "mailboxes.aliases.{}[{i}]",
                usage.attribute()[1..].to_lowercase()
            );
            let problem = if name.trim().is_empty() {
                Some("must not be empty".to_string())
            } else if name.contains('/') || name.chars().any(char::is_control) {
                Some(format!(
                    "`{name}` must not contain `/` or control characters"
                ))
            } else if name.eq_ignore_ascii_case("INBOX") {
                Some("INBOX cannot be an alias".to_string())
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(invalid(&key, message));
            }
        }
    }
    Ok(())
}

/// A preset or `*(literal / "%%" / "%" ["0"] [width] ["x" / "X"] ("u" / "v"))` with
/// `%u`; the POP3 crate renders it (this crate is a leaf, so the check is repeated here).
pub(crate) fn check_uidl_format(text: &str) -> Result<(), String> {
    if matches!(text, "dovecot" | "cyrus" | "courier") {
        return Ok(());
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut has_uid = false;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if b != b'%' {
            if !(0x21..=0x7e).contains(&b) {
                return Err("may only contain printable ASCII without spaces".to_string());
            }
            continue;
        }
        if bytes.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if matches!(bytes.get(i), Some(b'x' | b'X')) {
            i += 1;
        }
        match bytes.get(i) {
            Some(b'u') => has_uid = true,
            Some(b'v') => {}
            _ => {
                return Err(format!(
                    "unknown placeholder at byte {} (use a preset dovecot, cyrus, courier, \
                     or %u, %v, %08Xu, %%)",
                    i
                ));
            }
        }
        i += 1;
    }
    if !has_uid {
        return Err("must contain %u, or messages would share a UIDL".to_string());
    }
    Ok(())
}

/// A DNS name, or `*.` and a DNS name (a wildcard covers exactly one label).
fn is_host_pattern(name: &str) -> bool {
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The first `{word}` left in `text`, if any; catches typos like `{usr}`.
fn placeholder(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let len = text[start..].find('}')?;
    Some(&text[start..=start + len])
}

/// Two listeners on one port fail at bind time; say so now, naming both keys.
fn check_listeners(config: &Config) -> Result<(), (String, String)> {
    let l = &config.listen;
    let mut all: Vec<(String, SocketAddr)> = Vec::new();
    for (name, list) in [
        ("imap", &l.imap),
        ("imaps", &l.imaps),
        ("pop3", &l.pop3),
        ("pop3s", &l.pop3s),
        ("lmtp", &l.lmtp),
    ] {
        for (i, addr) in list.iter().enumerate() {
            let key = format!("listen.{name}[{i}]");
            // Port 0 asks the kernel for a fresh port each time, so it never collides.
            if addr.port() != 0
                && let Some((other, _)) = all.iter().find(|(_, a)| overlaps(a, addr))
            {
                return Err((
                    key,
                    format!("{addr} collides with `{other}`; each address:port can be bound once"),
                ));
            }
            all.push((key, *addr));
        }
    }
    Ok(())
}

/// Same port and either the same IP or a wildcard of the same family covering the other.
fn overlaps(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// filter = directive *("," directive)
/// directive = level / target "=" level
/// target = 1*(ALPHA / DIGIT / "_" / ":" / "-" / ".")
///
/// A subset of tracing-subscriber's EnvFilter syntax (no span or field filters), checked here so
/// a typo is reported at load time instead of silently logging at the wrong level.
pub(crate) fn check_log_level(filter: &str) -> Result<(), String> {
    if filter.trim().is_empty() {
        return Err(format!(
            "must not be empty; use one of {}",
            LEVELS.join(", ")
        ));
    }
    for directive in filter.split(',').map(str::trim) {
        let (target, level) = match directive.split_once('=') {
            Some((t, l)) => (Some(t.trim()), l.trim()),
            None => (None, directive),
        };
        if let Some(target) = target {
            let ok_char = |c: char| c.is_ascii_alphanumeric() || "_:-.".contains(c);
            if target.is_empty() || !target.chars().all(ok_char) {
                return Err(format!(
                    "in `{directive}` the target before `=` must be a module path like roost_storage"
                ));
            }
        }
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            let what = if directive.is_empty() {
                "an empty directive (stray comma)".to_string()
            } else {
                format!("`{directive}`")
            };
            return Err(format!(
                "{what} is not a level or `target=level` directive (levels: {})",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels() {
        let good = [
            "info",
            "TRACE",
            "off",
            "warn,roost_storage=debug",
            "roost_imap::session=trace, info",
        ];
        for g in good {
            assert_eq!(check_log_level(g), Ok(()), "{g}");
        }
        let bad = [
            (
                "",
                "must not be empty; use one of off, error, warn, info, debug, trace",
            ),
            (
                "verbose",
                "`verbose` is not a level or `target=level` directive (levels: off, error, warn, info, debug, trace)",
            ),
            (
                "info,",
                "an empty directive (stray comma) is not a level or `target=level` directive (levels: off, error, warn, info, debug, trace)",
            ),
            (
                "=debug",
                "in `=debug` the target before `=` must be a module path like roost_storage",
            ),
            (
                "a b=info",
                "in `a b=info` the target before `=` must be a module path like roost_storage",
            ),
            (
                "roost=loud",
                "`roost=loud` is not a level or `target=level` directive (levels: off, error, warn, info, debug, trace)",
            ),
        ];
        for (b, want) in bad {
            assert_eq!(check_log_level(b), Err(want.to_string()), "{b}");
        }
    }

    #[test]
    fn imap_values_are_checked() {
        for (yaml, key) in [
            ("imap:\n  idle_timeout_secs: 10\n", "imap.idle_timeout_secs"),
            (
                "imap:\n  idle_keepalive_secs: 0\n",
                "imap.idle_keepalive_secs",
            ),
            (
                "imap:\n  login_timeout_secs: 0\n",
                "imap.login_timeout_secs",
            ),
            ("imap:\n  max_line_length: 100\n", "imap.max_line_length"),
            (
                "imap:\n  max_nesting_depth: 1000\n",
                "imap.max_nesting_depth",
            ),
            ("imap:\n  max_set_items: 5\n", "imap.max_set_items"),
            (
                "limits:\n  max_connection_memory: 100000\n",
                "limits.max_connection_memory",
            ),
            (
                "imap:\n  max_line_length: 1048576\nlimits:\n  max_connection_memory: 1048576\n",
                "limits.max_connection_memory",
            ),
        ] {
            let err = Config::from_yaml_str(yaml, None)
                .expect_err(yaml)
                .to_string();
            assert!(err.contains(key), "{yaml}: {err}");
        }
    }

    #[test]
    fn pop3_values_are_checked() {
        let cases = [
            ("pop3:\n  uidl_format: \"%v\"\n", "pop3.uidl_format"),
            (
                "pop3:\n  deleted_keyword: \"\\\\Deleted\"\n",
                "pop3.deleted_keyword",
            ),
            (
                "pop3:\n  deleted_keyword: \"a b\"\n",
                "pop3.deleted_keyword",
            ),
            ("pop3:\n  idle_timeout_secs: 0\n", "pop3.idle_timeout_secs"),
            ("pop3:\n  max_line_length: 254\n", "pop3.max_line_length"),
        ];
        for (yaml, key) in cases {
            let err = Config::from_yaml_str(yaml, None)
                .expect_err(yaml)
                .to_string();
            assert!(err.contains(key), "{yaml}: {err}");
        }
        let ok =
            "pop3:\n  uidl_format: cyrus\n  deleted_keyword: $POP3Deleted\n  expire_days: 30\n";
        let config = Config::from_yaml_str(ok, None).expect("valid");
        assert_eq!(config.pop3.deleted_keyword.as_deref(), Some("$POP3Deleted"));
        assert_eq!(config.pop3.expire_days, Some(30));
    }

    #[test]
    fn uidl_formats() {
        for good in [
            "dovecot",
            "cyrus",
            "courier",
            "%08Xu%08Xv",
            "%v.%u",
            "a%%%u",
        ] {
            assert_eq!(check_uidl_format(good), Ok(()), "{good}");
        }
        for bad in ["%v", "", "%f", "%u %v", "x%", "dovecot2"] {
            assert!(check_uidl_format(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn placeholders() {
        assert_eq!(placeholder("/srv/mail/{usr}/Maildir"), Some("{usr}"));
        assert_eq!(placeholder("/srv/mail/x"), None);
        assert_eq!(placeholder("/srv/{unclosed"), None);
    }

    #[test]
    fn overlap_rules() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(overlaps(&a("0.0.0.0:143"), &a("127.0.0.1:143")));
        assert!(overlaps(&a("10.0.0.1:143"), &a("10.0.0.1:143")));
        assert!(!overlaps(&a("10.0.0.1:143"), &a("10.0.0.2:143")));
        assert!(!overlaps(&a("0.0.0.0:143"), &a("0.0.0.0:993")));
        assert!(!overlaps(&a("0.0.0.0:143"), &a("[::1]:143")));
        assert!(overlaps(&a("[::]:143"), &a("[::1]:143")));
    }
}
