//! `roost mailbox view USER [MAILBOX]`: one mailbox as IMAP and POP3 each see it right now,
//! side by side, for admins comparing the two protocols on the same mail.

use std::fmt::Write as _;

use roost_config::Config;
use roost_storage::{Flags, MailboxName, StorageError};

use crate::admin::AdminError;
use crate::wiring;

/// IMAP names of the system flags, in the order FETCH FLAGS lists them; Maildir's `P`
/// (passed) is the `$Forwarded` keyword, as Dovecot shows it.
const FLAG_NAMES: [(Flags, &str); 6] = [
    (Flags::SEEN, "\\Seen"),
    (Flags::ANSWERED, "\\Answered"),
    (Flags::FLAGGED, "\\Flagged"),
    (Flags::DELETED, "\\Deleted"),
    (Flags::DRAFT, "\\Draft"),
    (Flags::PASSED, "$Forwarded"),
];

/// The table for `user`'s `mailbox` (INBOX when None).
pub fn view(config: &Config, user: &str, mailbox: Option<&str>) -> Result<String, AdminError> {
    let users = wiring::authenticator(config).map_err(AdminError::UsersFile)?;
    if users.lookup(user).is_none() {
        return Err(AdminError::NoUser(user.to_string()));
    }
    let name = MailboxName::new(mailbox.unwrap_or("INBOX")).map_err(StorageError::from)?;
    let store = wiring::store(config);
    let us = store.user(user)?;
    if !us.exists(&name) {
        return Err(AdminError::NoMailbox(name.as_str().to_string()));
    }
    let mb = us.open(&name)?;
    let snap = mb.snapshot()?;
    let keywords = mb.keyword_names();
    let unknown: Vec<u32> = snap
        .messages
        .iter()
        .filter(|m| m.vsize.is_none())
        .map(|m| m.uid)
        .collect();
    let mut computed = unknown.iter().copied().zip(mb.vsizes(&unknown)?);
    let pop3 = if name.is_inbox() {
        Some(roost_pop3::maildrop::listing(
            &mb,
            &crate::pop3::settings(config),
        )?)
    } else {
        None
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{user} {}: {} messages, UIDVALIDITY {}, UIDNEXT {}, HIGHESTMODSEQ {}",
        name.as_str(),
        snap.messages.len(),
        snap.uid_validity,
        snap.next_uid,
        snap.highest_modseq
    );
    match &pop3 {
        Some(list) => {
            let _ = writeln!(out, "POP3 lists {} of them.", list.len());
        }
        None => out.push_str("POP3 sees INBOX only.\n"),
    }
    let _ = writeln!(
        out,
        "{:>6} {:>8} {:>20} {:>10}  {:<30} | {:>5} {:<24} {:>10}",
        "SEQ", "UID", "MODSEQ", "SIZE", "FLAGS", "POP3", "UIDL", "SIZE"
    );
    for (i, m) in snap.messages.iter().enumerate() {
        let size = m.vsize.or_else(|| {
            computed
                .by_ref()
                .find(|(uid, _)| *uid == m.uid)
                .and_then(|(_, v)| v)
        });
        let mut flags: Vec<String> = FLAG_NAMES
            .iter()
            .filter(|(f, _)| m.flags.contains(*f))
            .map(|(_, n)| n.to_string())
            .collect();
        flags.extend(
            m.keywords
                .iter()
                .filter_map(|k| keywords.get(k).cloned().flatten()),
        );
        let size = size.map_or_else(|| "?".to_string(), |s| s.to_string());
        let _ = write!(
            out,
            "{:>6} {:>8} {:>20} {:>10}  {:<30} | ",
            i + 1,
            m.uid,
            m.modseq,
            size,
            flags.join(" ")
        );
        let pop3_cell = match &pop3 {
            None => "-".to_string(),
            Some(list) => match list.iter().position(|l| l.uid == m.uid) {
                Some(n) => format!(
                    "{:>5} {:<24} {:>10}",
                    n + 1,
                    list[n].uidl.as_str(),
                    list[n].size
                ),
                None => format!("{:>5} (hidden by pop3.deleted_keyword)", "-"),
            },
        };
        let _ = writeln!(out, "{pop3_cell}");
    }
    Ok(out)
}
