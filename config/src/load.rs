//! Reading YAML into [`Config`], resolving paths and turning parser errors into plain advice.

use std::path::{Path, PathBuf};

use serde_saphyr::Error as YamlError;

use crate::Config;
use crate::index::{KeyIndex, Position};
use crate::validate::validate;

/// Why a configuration could not be used; the message names the place and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The YAML is malformed, or a key or value does not fit the schema.
    #[error("{}: {message}", place(file, at))]
    Parse {
        /// The config file, `<config text>` or `<embedded defaults>`.
        file: String,
        /// Where in the file, when known.
        at: Option<Position>,
        /// One sentence naming the key path and what to write instead.
        message: String,
    },
    /// The file parsed but a value makes no sense (found by validation after parsing).
    #[error("{}: `{key}`: {message}", place(file, at))]
    Invalid {
        /// The config file, `<config text>` or `<embedded defaults>`.
        file: String,
        /// Where the offending value is written, when it is written in the file at all.
        at: Option<Position>,
        /// Dotted key path, e.g. `limits.max_connections`.
        key: String,
        /// What to fix.
        message: String,
    },
}

fn place(file: &str, at: &Option<Position>) -> String {
    match at {
        Some(at) => format!("{file}:{at}"),
        None => file.to_string(),
    }
}

fn file_label(origin: Option<&Path>, text: &str) -> String {
    match origin {
        Some(p) => p.display().to_string(),
        None if text_is_blank(text) => "<embedded defaults>".to_string(),
        None => "<config text>".to_string(),
    }
}

pub(crate) fn from_yaml_str(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
    let file = file_label(origin, text);
    let index = KeyIndex::build(text);
    // A file of only comments has no root node; it means "all defaults", like an empty file.
    let mut config: Config = if text_is_blank(text) {
        Config::default()
    } else {
        // `yes`/`on` as booleans is a YAML 1.1 trap (Norway problem); insist on true/false.
        let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
        serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| parse_error(&e, &index, &file))?
    };
    let base = match origin.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    resolve(&mut config, &base);
    validate(&config, &index, &file)?;
    Ok(config)
}

/// Only whitespace, comments and document markers.
fn text_is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// What a serde-saphyr "expected ..." phrase means to someone editing a config file.
fn expected_phrase(expected: &str) -> String {
    match expected {
        "mapping start" => "a mapping of `key: value` lines".to_string(),
        "sequence start" => "a list (`[a, b]` or `- a` lines)".to_string(),
        "u64" | "usize" | "u32" | "u16" => "a whole number, 0 or more".to_string(),
        "bool" => "true or false".to_string(),
        "string" | "a string" | "string scalar" => "a string".to_string(),
        other => other.to_string(),
    }
}

fn got(entry: Option<&crate::index::Entry>) -> String {
    match entry.and_then(|e| e.scalar.as_deref()) {
        Some(s) => format!(" (got `{s}`)"),
        None => String::new(),
    }
}

fn parse_error(err: &YamlError, index: &KeyIndex, file: &str) -> ConfigError {
    let err = err.without_snippet();
    let at = err.location().map(|l| Position {
        line: l.line(),
        column: l.column(),
    });
    let entry = at.and_then(|at| index.at(at));
    let key = entry.map(|e| e.path.as_str()).unwrap_or("");
    let keyed = |message: String| {
        if key.is_empty() {
            message
        } else {
            format!("`{key}`: {message}")
        }
    };
    // A value reached through an alias: explain the original error, point at the use site.
    let (err, anchor) = match err {
        YamlError::AliasError {
            error, locations, ..
        } => (error.without_snippet(), Some(locations.defined_location)),
        other => (other, None),
    };
    let message = match err {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            let shown = if key.is_empty() { field.as_str() } else { key };
            format!(
                "unknown key `{shown}` (expected one of: {})",
                expected.join(", ")
            )
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => keyed(format!(
            "expected one of {} (got `{variant}`)",
            expected.join(", ")
        )),
        YamlError::SerdeMissingField { field, .. } => keyed(format!("missing key `{field}`")),
        YamlError::DuplicateMappingKey { .. } => {
            format!("key `{key}` is given twice; keep one")
        }
        YamlError::InvalidScalar { ty, .. } => {
            keyed(format!("expected {}{}", expected_phrase(ty), got(entry)))
        }
        YamlError::InvalidBooleanStrict { .. } => {
            keyed(format!("expected true or false{}", got(entry)))
        }
        YamlError::Unexpected { expected, .. } => {
            keyed(format!("expected {}", expected_phrase(expected)))
        }
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => keyed(format!(
            "expected {}, found {unexpected}",
            expected_phrase(expected)
        )),
        YamlError::NullIntoString { .. } => keyed("expected a string, found nothing".to_string()),
        YamlError::Message { msg, .. } if msg.contains("socket address") => keyed(format!(
            "expected an address as IP:port, like 0.0.0.0:143 or [::]:143{}",
            got(entry)
        )),
        // Syntax errors: the key index stopped at the same spot, so a key path would mislead.
        YamlError::ExternalMessage { msg, .. } => format!("invalid YAML: {}", strip_location(msg)),
        YamlError::MultipleDocuments { .. } => {
            "only one YAML document is allowed; remove the second `---`".to_string()
        }
        other => keyed(strip_location(&other.to_string())),
    };
    let message = match anchor {
        Some(def) if def.line() > 0 => format!(
            "{message}; the value comes from the anchor at line {}, column {}",
            def.line(),
            def.column()
        ),
        _ => message,
    };
    ConfigError::Parse {
        file: file.to_string(),
        at,
        message,
    }
}

/// serde-saphyr appends " at line N, column M"; we print the position in front instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    // Drop `.` components so printed paths stay readable.
    joined
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn resolve(config: &mut Config, base: &Path) {
    config.data_dir = absolute(base, &config.data_dir);
    let data_dir = config.data_dir.display().to_string();
    let expand = |s: &str| s.replace("{data_dir}", &data_dir);
    let mail = expand(&config.mail_path);
    config.mail_path = absolute(base, Path::new(&mail)).display().to_string();
    let users = expand(&config.users_file.display().to_string());
    config.users_file = absolute(base, Path::new(&users));
    let socket = expand(&config.admin.socket.display().to_string());
    config.admin.socket = absolute(base, Path::new(&socket));
    if let Some(dir) = config.log.rawlog_dir.as_mut() {
        *dir = absolute(base, &PathBuf::from(expand(&dir.display().to_string())));
    }
    let sni = config
        .tls
        .sni
        .iter_mut()
        .flat_map(|s| [&mut s.cert, &mut s.key]);
    for p in [&mut config.tls.cert, &mut config.tls.key]
        .into_iter()
        .flatten()
        .chain(sni)
    {
        *p = absolute(base, &PathBuf::from(expand(&p.display().to_string())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each snippet is loaded as if from `roost.yaml`; the whole error text is compared.
    const BAD: &[(&str, &str)] = &[
        (
            "mailboxes:\n  special_use:\n    - {name: X, usage: sent}\n",
            "roost.yaml:3:17: unknown key `mailboxes.special_use[0].usage` (expected one of: name, use)",
        ),
        (
            "log:\n  level: &l info\n  format: *l\n",
            "roost.yaml:3:11: `log.format`: expected one of text, json (got `info`); the value comes from the anchor at line 2, column 13",
        ),
        (
            "log:\n  level: \"warn,,debug\"\n",
            "roost.yaml:2:10: `log.level`: an empty directive (stray comma) is not a level or `target=level` directive (levels: off, error, warn, info, debug, trace)",
        ),
        (
            "listen:\n  imaps: [\"[::]:993\", \"[::1]:993\"]\n",
            "roost.yaml:2:23: `listen.imaps[1]`: [::1]:993 collides with `listen.imaps[0]`; each address:port can be bound once",
        ),
        (
            "listn: []\n",
            "roost.yaml:1:1: unknown key `listn` (expected one of: data_dir, mail_path, users_file, listen, tls, auth, log, limits, mailboxes, storage, pop3, imap, run_as, metrics, admin, quota)",
        ),
        (
            "listen:\n  imap: []\n  imapp: []\n",
            "roost.yaml:3:3: unknown key `listen.imapp` (expected one of: imap, imaps, pop3, pop3s, lmtp)",
        ),
        (
            "auth:\n  cleartext: sometimes\n",
            "roost.yaml:2:14: `auth.cleartext`: expected one of never, tls_or_loopback, always (got `sometimes`)",
        ),
        (
            "listen:\n  imap:\n    - 1.2.3.4\n",
            "roost.yaml:3:7: `listen.imap[0]`: expected an address as IP:port, like 0.0.0.0:143 or [::]:143 (got `1.2.3.4`)",
        ),
        (
            "listen:\n  pop3: [\"localhost:110\"]\n",
            "roost.yaml:2:10: `listen.pop3[0]`: expected an address as IP:port, like 0.0.0.0:143 or [::]:143 (got `localhost:110`)",
        ),
        (
            "limits:\n  max_connections: -1\n",
            "roost.yaml:2:20: `limits.max_connections`: expected a whole number, 0 or more (got `-1`)",
        ),
        (
            "limits:\n  max_message_size: 50M\n",
            "roost.yaml:2:21: `limits.max_message_size`: expected a whole number, 0 or more (got `50M`)",
        ),
        (
            "auth: 5\n",
            "roost.yaml:1:7: `auth`: expected a mapping of `key: value` lines",
        ),
        (
            "listen:\n  imap: 0.0.0.0:143\n",
            "roost.yaml:2:9: `listen.imap`: expected a list (`[a, b]` or `- a` lines)",
        ),
        (
            "mailboxes:\n  special_use:\n    - name: X\n      use: foo\n",
            "roost.yaml:4:12: `mailboxes.special_use[0].use`: expected one of all, archive, drafts, flagged, junk, sent, trash (got `foo`)",
        ),
        (
            "mailboxes:\n  special_use:\n    - name: X\n",
            "roost.yaml:3:7: `mailboxes.special_use[0]`: missing key `use`",
        ),
        (
            "storage:\n  fsync: yes\n",
            "roost.yaml:2:10: `storage.fsync`: expected true or false (got `yes`)",
        ),
        (
            "limits: {max_connections: 1, max_connections: 2}\n",
            "roost.yaml:1:30: key `limits.max_connections` is given twice; keep one",
        ),
        (
            "log:\n  level: [info]\n",
            "roost.yaml:2:10: `log.level`: expected a string",
        ),
        (
            "data_dir: [\n",
            "roost.yaml:1:11: `data_dir`: expected a string",
        ),
        (
            "auth:\n\tcleartext: never\n",
            "roost.yaml:2:2: invalid YAML: tabs disallowed within this context (block indentation)",
        ),
        (
            "log: {level: info\n",
            "roost.yaml:1:6: invalid YAML: unclosed bracket '{'",
        ),
        (
            "log:\n  level: 'info\n",
            "roost.yaml:2:10: invalid YAML: unclosed quote",
        ),
        (
            "a: b: c\n",
            "roost.yaml:1:1: unknown key `a` (expected one of: data_dir, mail_path, users_file, listen, tls, auth, log, limits, mailboxes, storage, pop3, imap, run_as, metrics, admin, quota)",
        ),
        (
            "- 1\n- 2\n",
            "roost.yaml:1:1: expected a mapping of `key: value` lines",
        ),
        (
            "---\nlog: {}\n---\nlog: {}\n",
            "roost.yaml:4:1: only one YAML document is allowed; remove the second `---`",
        ),
        (
            "mail_path: ~\n",
            "roost.yaml:1:12: `mail_path`: expected a string, found nothing",
        ),
        (
            "mail_path: /srv/mail\n",
            "roost.yaml:1:12: `mail_path`: must contain {user}, or every user would share one Maildir",
        ),
        (
            "mail_path: /srv/{usr}/{user}\n",
            "roost.yaml:1:12: `mail_path`: unknown placeholder `{usr}` (only {data_dir} and {user} exist)",
        ),
        (
            "users_file: /srv/{user}/users\n",
            "roost.yaml:1:13: `users_file`: unknown placeholder `{user}` (only {data_dir} exists here)",
        ),
        (
            "tls:\n  cert: /etc/c.pem\n",
            "roost.yaml:2:3: `tls`: set both `cert` and `key`, or neither for a generated self-signed certificate",
        ),
        (
            "log:\n  level: verbose\n",
            "roost.yaml:2:10: `log.level`: `verbose` is not a level or `target=level` directive (levels: off, error, warn, info, debug, trace)",
        ),
        (
            "limits:\n  max_connections: 0\n",
            "roost.yaml:2:20: `limits.max_connections`: must be at least 1",
        ),
        (
            "limits:\n  max_message_size: 0\n",
            "roost.yaml:2:21: `limits.max_message_size`: must be at least 1",
        ),
        (
            "storage:\n  lock_timeout_secs: 0\n",
            "roost.yaml:2:22: `storage.lock_timeout_secs`: must be at least 1",
        ),
        (
            "listen:\n  imap: [\"0.0.0.0:143\"]\n  pop3: [\"127.0.0.1:143\"]\n",
            "roost.yaml:3:10: `listen.pop3[0]`: 127.0.0.1:143 collides with `listen.imap[0]`; each address:port can be bound once",
        ),
        (
            "listen:\n  lmtp: [\"127.0.0.1:24\", \"127.0.0.1:24\"]\n",
            "roost.yaml:2:26: `listen.lmtp[1]`: 127.0.0.1:24 collides with `listen.lmtp[0]`; each address:port can be bound once",
        ),
        (
            "mailboxes:\n  special_use:\n    - {name: \"\", use: sent}\n",
            "roost.yaml:3:14: `mailboxes.special_use[0].name`: must not be empty",
        ),
        (
            "mailboxes:\n  special_use:\n    - {name: a/b, use: sent}\n",
            "roost.yaml:3:14: `mailboxes.special_use[0].name`: `a/b` must not contain `/` (it would name a nested mailbox)",
        ),
        (
            "mailboxes:\n  special_use:\n    - {name: Sent, use: sent}\n    - {name: sent, use: trash}\n",
            "roost.yaml:4:14: `mailboxes.special_use[1].name`: `sent` is listed twice; keep one",
        ),
        (
            "mailboxes:\n  special_use:\n    - {name: Inbox, use: archive}\n",
            "roost.yaml:3:14: `mailboxes.special_use[0].name`: INBOX always exists and cannot be a special-use mailbox",
        ),
        (
            "auth:\n  ban_allow: [\"10.0.0.1/8\"]\n",
            "roost.yaml:2:15: `auth.ban_allow[0]`: `10.0.0.1/8` has host bits set; did you mean 10.0.0.0/8?",
        ),
        (
            "auth:\n  failure_delay_ms: 20000\n",
            "roost.yaml:2:21: `auth.failure_delay_ms`: must not exceed auth.penalty_max_secs (15 s), the ceiling of the growing delay",
        ),
        (
            "run_as:\n  user: root\n",
            "roost.yaml:2:9: `run_as.user`: `root`: sessions never run as root, so a hole in a session cannot own the host; name an unprivileged account such as `mail` (or leave it null)",
        ),
        (
            "limits:\n  line_deadline_secs: 0\n",
            "roost.yaml:2:23: `limits.line_deadline_secs`: must be at least 1",
        ),
        (
            "tls:\n  sni:\n    - {names: [], cert: c.pem, key: k.pem}\n",
            "roost.yaml:3:15: `tls.sni[0].names`: list at least one host name",
        ),
        (
            "tls:\n  sni:\n    - {names: [\"mail.example.org\", \"a b\"], cert: c.pem, key: k.pem}\n",
            "roost.yaml:3:36: `tls.sni[0].names[1]`: `a b` is not a host name (letters, digits, `-`, `.`; `*.` may start it)",
        ),
        (
            "tls:\n  sni:\n    - {names: [a.org], cert: c.pem, key: k.pem}\n    - {names: [A.org], cert: c.pem, key: k.pem}\n",
            "roost.yaml:4:16: `tls.sni[1].names[0]`: `A.org` is listed twice; keep one",
        ),
    ];

    #[test]
    fn bad_snippets_give_exact_errors() {
        let mut failures = Vec::new();
        for (yaml, want) in BAD {
            let got = match from_yaml_str(yaml, Some(Path::new("roost.yaml"))) {
                Ok(_) => "<loaded>".to_string(),
                Err(e) => e.to_string(),
            };
            if got != *want {
                failures.push(format!("{yaml:?}\n   got: {got}"));
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    type Change = fn(&mut Config);

    /// Good snippets and what they change relative to the defaults.
    const GOOD: &[(&str, Change)] = &[
        ("# only a comment\n", |_| {}),
        ("{}\n", |_| {}),
        ("listen:\n  imap: []\n", |c| c.listen.imap.clear()),
        (
            "listen: {imap: [\"[::]:143\", \"0.0.0.0:143\"], imaps: [\"127.0.0.1:0\", \"127.0.0.1:0\"]}\n",
            |c| {
                c.listen.imap = vec![sock("[::]:143"), sock("0.0.0.0:143")];
                c.listen.imaps = vec![sock("127.0.0.1:0"), sock("127.0.0.1:0")];
            },
        ),
        ("auth:\n  cleartext: never\n  failure_delay_ms: 0\n", |c| {
            c.auth.cleartext = crate::CleartextPolicy::Never;
            c.auth.failure_delay_ms = 0;
        }),
        (
            "log: {level: \"warn, roost_storage=DEBUG\", format: json}\n",
            |c| {
                c.log.level = "warn, roost_storage=DEBUG".to_string();
                c.log.format = crate::LogFormat::Json;
            },
        ),
        ("storage:\n  fsync: false\n", |c| c.storage.fsync = false),
        ("limits:\n  shutdown_grace_secs: 0\n", |c| {
            c.limits.shutdown_grace_secs = 0
        }),
        (
            "mailboxes:\n  autocreate: false\n  special_use: []\n",
            |c| {
                c.mailboxes.autocreate = false;
                c.mailboxes.special_use.clear();
            },
        ),
        ("mail_path: /srv/vmail/{user}\n", |c| {
            c.mail_path = "/srv/vmail/{user}".to_string()
        }),
    ];

    fn sock(s: &str) -> std::net::SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn good_snippets_change_only_what_they_say() {
        let origin = Some(Path::new("/etc/roost/roost.yaml"));
        let defaults = from_yaml_str("", origin).expect("defaults load");
        for (yaml, change) in GOOD {
            let mut want = defaults.clone();
            change(&mut want);
            match from_yaml_str(yaml, origin) {
                Ok(got) => assert_eq!(got, want, "{yaml:?}"),
                Err(e) => panic!("{yaml:?}: {e}"),
            }
        }
    }
}
