//! The mailbox operations behind `roost mailbox list|status|reindex` and `roost expunge`.
//!
//! The same functions run inside the server (on its shared store, so open sessions see the
//! changes at once, EXPUNGE included) and in the CLI on the files directly when the server
//! is not running.

use std::sync::Arc;

use roost_storage::auth::Authenticator;
use roost_storage::{Flags, MailboxName, StorageError, Store};
use serde::{Deserialize, Serialize};

use crate::admin::AdminError;

/// One mailbox in `roost mailbox list`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MailboxRow {
    /// The mailbox name (UTF-8, `/` hierarchy as IMAP shows it).
    pub name: String,
    /// RFC 6154 attribute, e.g. `\Sent`.
    pub special_use: Option<String>,
    /// Messages (null for a `\Noselect` parent).
    pub messages: Option<u32>,
    /// Messages without `\Seen`.
    pub unseen: Option<u32>,
}

/// `roost mailbox status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusRow {
    /// The mailbox name.
    pub name: String,
    /// Messages.
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Messages not yet claimed as `\Recent` by any IMAP session.
    pub recent: u32,
    /// The next UID.
    pub uidnext: u32,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// HIGHESTMODSEQ.
    pub highestmodseq: u64,
    /// Total size in octets (as stored).
    pub size: u64,
    /// Messages marked `\Deleted`.
    pub deleted: u32,
}

/// What `roost mailbox reindex` and `roost expunge` did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Changed {
    /// The mailbox name.
    pub name: String,
    /// Messages after the operation.
    pub messages: u32,
    /// UIDs expunged (empty for reindex).
    pub expunged: Vec<u32>,
}

fn user_store(
    store: &Arc<Store>,
    users: &Authenticator,
    user: &str,
) -> Result<roost_storage::UserStore, AdminError> {
    if users.lookup(user).is_none() {
        return Err(AdminError::NoUser(user.to_string()));
    }
    Ok(store.user(user)?)
}

fn open(
    store: &Arc<Store>,
    users: &Authenticator,
    user: &str,
    mailbox: Option<&str>,
) -> Result<Arc<roost_storage::Mailbox>, AdminError> {
    let us = user_store(store, users, user)?;
    let name = MailboxName::new(mailbox.unwrap_or("INBOX")).map_err(StorageError::from)?;
    if !us.exists(&name) {
        return Err(AdminError::NoMailbox(name.as_str().to_string()));
    }
    Ok(us.open(&name)?)
}

/// Every mailbox of `user` with its message counts.
pub fn list(
    store: &Arc<Store>,
    users: &Authenticator,
    user: &str,
) -> Result<Vec<MailboxRow>, AdminError> {
    let us = user_store(store, users, user)?;
    let mut rows = Vec::new();
    for entry in us.list()? {
        let status = if entry.selectable {
            Some(us.open(&entry.name)?.status()?)
        } else {
            None
        };
        rows.push(MailboxRow {
            name: entry.name.as_str().to_string(),
            special_use: entry.special_use,
            messages: status.as_ref().map(|s| s.messages),
            unseen: status.as_ref().map(|s| s.unseen),
        });
    }
    Ok(rows)
}

/// The counters of one mailbox (INBOX when None).
pub fn status(
    store: &Arc<Store>,
    users: &Authenticator,
    user: &str,
    mailbox: Option<&str>,
) -> Result<StatusRow, AdminError> {
    let mb = open(store, users, user, mailbox)?;
    let s = mb.status()?;
    let snap = mb.snapshot()?;
    Ok(StatusRow {
        name: mb.name().as_str().to_string(),
        messages: s.messages,
        unseen: s.unseen,
        recent: s.recent,
        uidnext: s.uid_next,
        uidvalidity: s.uid_validity,
        highestmodseq: s.highest_modseq,
        size: snap.messages.iter().map(|m| m.size).sum(),
        deleted: snap
            .messages
            .iter()
            .filter(|m| m.flags.contains(Flags::DELETED))
            .count() as u32,
    })
}

/// Drop and rebuild Roost's index and cache of one mailbox (all of the user's when None),
/// keeping UIDs.
pub fn reindex(
    store: &Arc<Store>,
    users: &Authenticator,
    user: &str,
    mailbox: Option<&str>,
) -> Result<Vec<Changed>, AdminError> {
    let names: Vec<String> = match mailbox {
        Some(m) => vec![m.to_string()],
        None => user_store(store, users, user)?
            .list()?
            .into_iter()
            .filter(|e| e.selectable)
            .map(|e| e.name.as_str().to_string())
            .collect(),
    };
    let mut out = Vec::new();
    for name in names {
        let mb = open(store, users, user, Some(&name))?;
        mb.rebuild_index()?;
        tracing::info!(user, mailbox = name, "index rebuilt by the admin");
        out.push(Changed {
            name,
            messages: mb.status()?.messages,
            expunged: Vec::new(),
        });
    }
    Ok(out)
}

/// Expunge the messages of `mailbox` whose INTERNALDATE is before `before` (Unix seconds).
pub fn expunge_before(
    store: &Arc<Store>,
    users: &Authenticator,
    user: &str,
    mailbox: &str,
    before: i64,
) -> Result<Changed, AdminError> {
    let mb = open(store, users, user, Some(mailbox))?;
    let old: Vec<u32> = mb
        .snapshot()?
        .messages
        .iter()
        .filter(|m| m.internal_date < before)
        .map(|m| m.uid)
        .collect();
    let expunged = if old.is_empty() {
        Vec::new()
    } else {
        mb.expunge(&old)?
    };
    tracing::info!(
        user,
        mailbox,
        count = expunged.len(),
        "expunged by the admin"
    );
    Ok(Changed {
        name: mb.name().as_str().to_string(),
        messages: mb.status()?.messages,
        expunged,
    })
}

/// `YYYY-MM-DD` (midnight UTC) or Unix seconds, as Unix seconds.
pub fn parse_date(s: &str) -> Option<i64> {
    if let Ok(secs) = s.parse::<i64>() {
        return Some(secs);
    }
    let mut parts = s.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let table = [
            ("1970-01-01", Some(0)),
            ("2000-03-01", Some(951_868_800)),
            ("2024-02-29", Some(1_709_164_800)),
            ("1700000000", Some(1_700_000_000)),
            ("2024-13-01", None),
            ("yesterday", None),
            ("2024-01", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_date(s), want, "{s}");
        }
    }
}
