//! SEARCH evaluation. This is the session engineer's minimal stand-in (ALL, sequence sets,
//! UID, flags and keywords, NOT/OR/AND); the full version with dates, sizes, headers and
//! text replaces this file with the same signatures.

use roost_storage::{Flags, Mailbox, MessageInfo, StorageError};

use crate::types::{SearchKey, SeqSet};

/// What evaluating a search needs.
pub struct SearchEnv<'a> {
    /// The selected mailbox.
    pub mailbox: &'a Mailbox,
    /// `Mailbox::keyword_names()`.
    pub keyword_names: &'a [Option<String>],
    /// The session's view: index = seq - 1.
    pub messages: &'a [MessageInfo],
    /// UIDs >= this are \Recent in this session (u32::MAX: none).
    pub recent_from_uid: u32,
    /// SEARCHRES `$` as UIDs, if saved.
    pub saved: Option<&'a [u32]>,
    /// Unix time, for OLDER/YOUNGER.
    pub now: i64,
}

/// Why a search could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// An unsupported charset (answered with `NO [BADCHARSET]`).
    #[error("{0}")]
    BadCharset(String),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Sequence numbers (ascending) of the messages matching `key`.
pub fn search(env: &SearchEnv<'_>, key: &SearchKey) -> Result<Vec<u32>, SearchError> {
    let mut out = Vec::new();
    for (i, m) in env.messages.iter().enumerate() {
        let seq = i as u32 + 1;
        if matches(env, key, seq, m) {
            out.push(seq);
        }
    }
    Ok(out)
}

fn keyword(env: &SearchEnv<'_>, m: &MessageInfo, name: &str) -> bool {
    m.keywords.iter().any(|i| {
        env.keyword_names
            .get(i)
            .and_then(|n| n.as_deref())
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

fn in_set(env: &SearchEnv<'_>, set: &SeqSet, n: u32, largest: u32, uid: bool) -> bool {
    match set {
        SeqSet::Saved => env.saved.is_some_and(|s| {
            if uid {
                s.contains(&n)
            } else {
                env.messages
                    .get(n as usize - 1)
                    .is_some_and(|m| s.contains(&m.uid))
            }
        }),
        s => s.contains(n, largest),
    }
}

fn matches(env: &SearchEnv<'_>, key: &SearchKey, seq: u32, m: &MessageInfo) -> bool {
    let f = |flag: Flags| m.flags.contains(flag);
    let recent = m.uid >= env.recent_from_uid;
    match key {
        SearchKey::All => true,
        SearchKey::Answered => f(Flags::ANSWERED),
        SearchKey::Unanswered => !f(Flags::ANSWERED),
        SearchKey::Deleted => f(Flags::DELETED),
        SearchKey::Undeleted => !f(Flags::DELETED),
        SearchKey::Draft => f(Flags::DRAFT),
        SearchKey::Undraft => !f(Flags::DRAFT),
        SearchKey::Flagged => f(Flags::FLAGGED),
        SearchKey::Unflagged => !f(Flags::FLAGGED),
        SearchKey::Seen => f(Flags::SEEN),
        SearchKey::Unseen => !f(Flags::SEEN),
        SearchKey::Recent => recent,
        SearchKey::New => recent && !f(Flags::SEEN),
        SearchKey::Old => !recent,
        SearchKey::Keyword(k) => keyword(env, m, k.as_str()),
        SearchKey::Unkeyword(k) => !keyword(env, m, k.as_str()),
        SearchKey::SequenceSet(s) => in_set(env, s, seq, env.messages.len() as u32, false),
        SearchKey::Uid(s) => {
            let largest = env.messages.last().map_or(0, |m| m.uid);
            in_set(env, s, m.uid, largest, true)
        }
        SearchKey::Not(k) => !matches(env, k, seq, m),
        SearchKey::Or(a, b) => matches(env, a, seq, m) || matches(env, b, seq, m),
        SearchKey::And(keys) => keys.iter().all(|k| matches(env, k, seq, m)),
        // Not in the stand-in; the full search.rs evaluates these.
        _ => false,
    }
}
