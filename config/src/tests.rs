//! Whole-crate tests: round trips, path resolution, and the example file and docs staying in
//! step with the types.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::index::KeyIndex;
use crate::{Config, ConfigError, LogFormat, SpecialUse, SpecialUseMailbox};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(text: &str, origin: &Path) -> Config {
    match Config::from_yaml_str(text, Some(origin)) {
        Ok(c) => c,
        Err(e) => panic!("{e}\n--- yaml ---\n{text}"),
    }
}

/// Printing and reloading must give the same configuration, even with values YAML would
/// otherwise read as numbers, booleans, nulls or flow syntax.
#[test]
fn to_yaml_round_trips() {
    let origin = Path::new("/etc/roost/roost.yaml");
    let defaults = load("", origin);
    assert_eq!(load(&defaults.to_yaml(), origin), defaults);

    let mut tricky = defaults.clone();
    tricky.data_dir = PathBuf::from("/srv/my mail: data #1");
    tricky.mail_path = "/srv/{user}/true/~/Maildir".to_string();
    tricky.users_file = PathBuf::from("/etc/roost/null");
    tricky.tls.cert = Some(PathBuf::from("/etc/ssl/[cert].pem"));
    tricky.tls.key = Some(PathBuf::from("/etc/ssl/key, 2.pem"));
    tricky.listen.imap = vec!["[::1]:1143".parse::<SocketAddr>().unwrap()];
    tricky.listen.pop3s = Vec::new();
    tricky.log.level = "warn,roost_storage=trace".to_string();
    tricky.log.format = LogFormat::Json;
    tricky.limits.max_message_size = u64::MAX;
    tricky.storage.fsync = false;
    tricky.mailboxes.special_use = ["yes", "123", "null", "~", "- x", "{a}", "Éléments envoyés"]
        .iter()
        .map(|name| SpecialUseMailbox {
            name: name.to_string(),
            special_use: SpecialUse::Sent,
        })
        .collect();
    let printed = tricky.to_yaml();
    assert_eq!(load(&printed, origin), tricky, "printed:\n{printed}");
}

/// Relative paths follow the config file, `{data_dir}` expands everywhere, `{user}` waits.
#[test]
fn paths_resolve_against_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("etc").join("roost");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("roost.yaml");
    std::fs::write(
        &file,
        "data_dir: ./state\n\
         mail_path: \"{data_dir}/../mail/{user}\"\n\
         users_file: passwd\n\
         tls:\n  cert: \"{data_dir}/tls/cert.pem\"\n  key: /abs/key.pem\n",
    )
    .unwrap();
    let c = Config::load_file(&file).unwrap();
    assert_eq!(c.data_dir, dir.join("state"));
    assert_eq!(
        c.mail_path,
        format!("{}/state/../mail/{{user}}", dir.display())
    );
    assert_eq!(c.mail_dir("alice"), dir.join("state/../mail/alice"));
    assert_eq!(c.users_file, dir.join("passwd"));
    assert_eq!(c.tls.cert, Some(dir.join("state/tls/cert.pem")));
    assert_eq!(c.tls.key, Some(PathBuf::from("/abs/key.pem")));

    // The default templates hang off data_dir wherever it is.
    std::fs::write(&file, "data_dir: /var/lib/roost\n").unwrap();
    let c = Config::load_default_or(Some(&file)).unwrap();
    assert_eq!(c.users_file, PathBuf::from("/var/lib/roost/users"));
    assert_eq!(
        c.mail_dir("bob"),
        PathBuf::from("/var/lib/roost/mail/bob/Maildir")
    );
}

#[test]
fn embedded_defaults_resolve_against_the_current_directory() {
    let cwd = std::env::current_dir().unwrap();
    let c = Config::from_yaml_str("", None).unwrap();
    assert_eq!(c.data_dir, cwd.join("roost-data"));
    assert_eq!(c.users_file, cwd.join("roost-data/users"));
    assert_eq!(c.mail_dir("u"), cwd.join("roost-data/mail/u/Maildir"));
    // Comments only is the same as empty.
    let commented = Config::from_yaml_str("# nothing here\n---\n", None).unwrap();
    assert_eq!(commented, c);
}

#[test]
fn unreadable_file_is_a_read_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.yaml");
    let err = Config::load_file(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Read { ref path, .. } if *path == missing));
    assert!(
        err.to_string()
            .starts_with(&format!("cannot read config file {}: ", missing.display())),
        "{err}"
    );
}

/// Text that came from no file is labelled as such, still with line and column.
#[test]
fn error_in_text_without_file() {
    let err = Config::from_yaml_str("mail_path: /x\n", None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<config text>:1:12: `mail_path`: must contain {user}, or every user would share one Maildir"
    );
}

fn example_path() -> PathBuf {
    manifest_dir().join("roost.example.yaml")
}

/// Key paths (sequence items as `[]`) of the default config as printed.
fn default_key_paths() -> Vec<String> {
    KeyIndex::build(&Config::default().to_yaml()).shapes()
}

#[test]
fn example_file_loads_to_the_defaults() {
    let path = example_path();
    let example = Config::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    // Same paths resolution as the defaults would get next to the example file.
    let defaults = load("", &path);
    assert_eq!(example, defaults);
}

#[test]
fn example_file_mentions_every_key() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let in_example = KeyIndex::build(&text).shapes();
    let missing: Vec<String> = default_key_paths()
        .into_iter()
        .filter(|k| !in_example.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from roost.example.yaml: {missing:?}"
    );
    assert!(in_example.len() >= 30, "index found only {in_example:?}");
}

#[test]
fn docs_mention_every_key() {
    let docs = manifest_dir().join("../docs/configuration.md");
    let text = std::fs::read_to_string(&docs).unwrap();
    let missing: Vec<String> = default_key_paths()
        .into_iter()
        .filter(|k| !k.ends_with("[]") && !text.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/configuration.md: {missing:?}"
    );
}

/// Each default value appears in its key's row of the docs table, so a changed default in code
/// fails here until the docs follow.
#[test]
fn docs_show_every_default_value() {
    let docs = manifest_dir().join("../docs/configuration.md");
    let text = std::fs::read_to_string(&docs).unwrap();
    let index = KeyIndex::build(&Config::default().to_yaml());
    let mut wrong = Vec::new();
    let mut checked = 0;
    for entry in &index.entries {
        let Some(value) = entry.scalar.as_deref() else {
            continue;
        };
        // `listen.imap[0]` is shown in the `listen.imap` row; special_use has its own block.
        let key = entry.path.split('[').next().unwrap_or_default();
        if key.starts_with("mailboxes.special_use") {
            continue;
        }
        let row_start = format!("| `{key}` |");
        match text.lines().find(|l| l.starts_with(&row_start)) {
            Some(row) if row.contains(value) => checked += 1,
            Some(row) => wrong.push(format!("{key} = {value}: {row}")),
            None => wrong.push(format!("{key}: no table row")),
        }
    }
    assert!(
        wrong.is_empty(),
        "docs disagree with defaults:\n{}",
        wrong.join("\n")
    );
    assert!(checked >= 20, "only {checked} values checked");
}
