//! Reading YAML into [`Config`], resolving paths and validating values.

use std::path::{Path, PathBuf};

use crate::Config;

/// Why a configuration could not be used; the message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: `{key}`: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

fn file_label(origin: Option<&Path>) -> String {
    origin
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<embedded defaults>".to_string())
}

pub(crate) fn from_yaml_str(text: &str, origin: Option<&Path>) -> Result<Config, ConfigError> {
    let file = file_label(origin);
    let mut config: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.clone(),
            message: e.to_string(),
        })?
    };
    let base = match origin.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
    };
    resolve(&mut config, &base);
    validate(&config, &file)?;
    Ok(config)
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
    for p in [&mut config.tls.cert, &mut config.tls.key].into_iter().flatten() {
        *p = absolute(base, &PathBuf::from(expand(&p.display().to_string())));
    }
}

fn validate(config: &Config, file: &str) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: &str| ConfigError::Invalid {
        file: file.to_string(),
        key: key.to_string(),
        message: message.to_string(),
    };
    if !config.mail_path.contains("{user}") {
        return Err(invalid(
            "mail_path",
            "must contain {user}, or every user would share one Maildir",
        ));
    }
    if config.tls.cert.is_some() != config.tls.key.is_some() {
        return Err(invalid(
            "tls",
            "set both `cert` and `key`, or neither for a generated self-signed certificate",
        ));
    }
    if config.limits.max_connections == 0 {
        return Err(invalid("limits.max_connections", "must be at least 1"));
    }
    if config.limits.max_connections_per_user_ip == 0 {
        return Err(invalid(
            "limits.max_connections_per_user_ip",
            "must be at least 1",
        ));
    }
    Ok(())
}
