//! `roost import` started as root: become the `run_as` account before touching mail, as
//! `roost deliver` does, so no root-owned file is left where the server cannot use it.
//!
//! What the admin named on the command line is dealt with first, as root: paths are made
//! absolute (the drop moves into `data_dir`), the old server's password is read (a
//! password file is typically root's own), and an mbox file is opened.

use std::sync::Arc;

use roost_config::Config;

use super::{ImportCommand, ImportError, password};

/// Prepares `cmd` for running without root and drops to the `run_as` account; returns the
/// configuration to go on with. Not started as root: nothing changes.
pub fn prepare(
    config: &Config,
    mut cmd: ImportCommand,
) -> Result<(Config, ImportCommand), ImportError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok((config.clone(), cmd));
    }
    let absolute = |p: &std::path::Path| {
        std::path::absolute(p).map_err(|e| ImportError::Input(format!("{}: {e}", p.display())))
    };
    match &mut cmd {
        ImportCommand::Pop3(a) | ImportCommand::Imap(a) => {
            if let Some(f) = &a.ca_file {
                a.ca_file = Some(absolute(f)?);
            }
            let login = a.remote_user.clone().unwrap_or_else(|| a.user.clone());
            let host = super::url::ServerUrl::parse(&a.url)
                .map(|u| u.host)
                .unwrap_or_default();
            a.password_read = Some(password(a.password_file.as_deref(), &login, &host)?);
        }
        ImportCommand::Mbox(a) => {
            a.file = absolute(&a.file)?;
            let fh = std::fs::File::open(&a.file).map_err(|e| {
                ImportError::Input(format!("cannot open {}: {e}", a.file.display()))
            })?;
            a.opened = Some(Arc::new(fh));
        }
    }
    let config = crate::privs::drop_for_mail_writes(config)
        .map_err(|e| ImportError::Config(e.to_string()))?;
    Ok((config, cmd))
}
