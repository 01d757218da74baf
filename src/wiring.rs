//! Turning the configuration into each layer's own settings.

use std::sync::Arc;
use std::time::Duration;

use roost_config::Config;
use roost_storage::auth::Authenticator;
use roost_storage::logins::{self, LoginLog};
use roost_storage::{
    MailboxOptions, QuotaLimits, QuotaPolicy, SpecialAlias, SpecialMailbox, Store, StoreConfig,
};

/// The storage settings from the configuration.
pub fn store_config(config: &Config) -> StoreConfig {
    StoreConfig {
        mail_path: config.mail_path.clone(),
        mailbox: MailboxOptions {
            fsync: config.storage.fsync,
            lock_timeout: Duration::from_secs(config.storage.lock_timeout_secs),
            stale_lock: Duration::from_secs(config.storage.stale_lock_secs),
        },
        rescan_interval: Duration::from_secs(config.storage.rescan_interval_secs),
        autocreate: config.mailboxes.autocreate,
        special_use: config
            .mailboxes
            .special_use
            .iter()
            .map(|s| SpecialMailbox {
                name: s.name.clone(),
                attribute: s.special_use.attribute().to_string(),
            })
            .collect(),
        aliases: config
            .mailboxes
            .aliases
            .iter()
            .flat_map(|(usage, names)| {
                names.iter().map(move |n| SpecialAlias {
                    attribute: usage.attribute().to_string(),
                    name: n.clone(),
                })
            })
            .collect(),
    }
}

/// The process's one store.
pub fn store(config: &Config) -> Arc<Store> {
    Store::new(store_config(config))
}

/// The login record under `data_dir`, with its flusher running.
pub fn login_log(config: &Config) -> Arc<LoginLog> {
    let log = Arc::new(LoginLog::open(config.data_dir.join(logins::FILE_NAME)));
    let every = Duration::from_secs(config.auth.login_state_flush_secs);
    if let Err(e) = log.spawn_flusher(every) {
        tracing::warn!("no login state flusher ({e}); the state is written at shutdown only");
    }
    log
}

/// The authenticator over the configured users file.
pub fn authenticator(config: &Config) -> Result<Arc<Authenticator>, String> {
    Authenticator::open(&config.users_file)
        .map(Arc::new)
        .map_err(|e| format!("cannot use users file {}: {e}", config.users_file.display()))
}

/// Quota limits for every user of `store`: the configured default, overridden by the users
/// file's extra fields.
pub fn apply_quota(config: &Config, store: &Store, users: &Arc<Authenticator>) {
    store.set_quota_policy(QuotaPolicy {
        default: QuotaLimits {
            storage_kib: config.quota.storage_kib,
            messages: config.quota.messages,
        },
        users: Some(Arc::clone(users)),
    });
}
