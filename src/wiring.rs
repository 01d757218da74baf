//! Turning the configuration into each layer's own settings.

use std::sync::Arc;
use std::time::Duration;

use roost_config::Config;
use roost_storage::auth::Authenticator;
use roost_storage::{MailboxOptions, QuotaLimits, QuotaPolicy, SpecialMailbox, Store, StoreConfig};

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
    }
}

/// The process's one store.
pub fn store(config: &Config) -> Arc<Store> {
    Store::new(store_config(config))
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
