//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4): `RETURN (UPDATE)` keeps a SEARCH
//! or SORT result alive, and as the selected mailbox changes the session tells the client
//! how the result changed with unsolicited `* ESEARCH (TAG "t") [UID] REMOVETO (...)
//! ADDTO (...)`, until CANCELUPDATE or the mailbox is left.
//!
//! The result is kept as UIDs and recomputed from the session's view whenever the view
//! changed, so updates follow what the client was told (EXISTS, EXPUNGE, FETCH) and go out
//! exactly where those may: after commands and during IDLE.
//!
//! Positions: a SEARCH result is a set, so its updates carry position 0; a SORT result is a
//! list, and each position is where the first message of its run is (REMOVETO: in the list
//! before, highest first; ADDTO: in the list after, lowest first), so applying them in the
//! order sent rebuilds the list.

use std::collections::HashSet;

use super::messages::to_set;
use super::{CmdError, CmdResult, ImapSession, ok};
use crate::partial::ordered_set;
use crate::response::Code;
use crate::sort::{SortCriterion, sort};
use crate::types::{AString, SearchKey, SearchReturn, Tag};

/// One live SEARCH/SORT result.
pub(crate) struct SearchContext {
    tag: String,
    uid: bool,
    /// The SORT criteria; None for SEARCH.
    sort: Option<Vec<SortCriterion>>,
    charset: AString,
    criteria: SearchKey,
    /// The result as last reported: UIDs, in sort order for SORT, ascending for SEARCH.
    result: Vec<u32>,
    /// The view's state the result was computed from.
    seen: Fingerprint,
}

/// Messages, last UID, highest modseq: any new message, expunge or flag change moves it.
type Fingerprint = (usize, u32, u64);

/// A `RETURN (...)` list without `UPDATE`, and whether UPDATE was in it.
pub(super) fn take_update(opts: &mut Vec<SearchReturn>) -> Result<bool, CmdError> {
    let before = opts.len();
    opts.retain(|o| *o != SearchReturn::Update);
    let update = opts.len() != before;
    // SAVE and PARTIAL describe one moment (a `$` or a window); updates to them would need
    // a different response, which RFC 5267 does not define for SAVE.
    if update
        && opts
            .iter()
            .any(|o| matches!(o, SearchReturn::Save | SearchReturn::Partial(_)))
    {
        return Err(CmdError::Bad(
            "UPDATE cannot be combined with SAVE or PARTIAL".into(),
        ));
    }
    Ok(update)
}

impl ImapSession {
    fn view_fingerprint(&self) -> Option<Fingerprint> {
        let view = self.user.as_ref()?.selected.as_ref()?;
        let msgs = view.messages();
        Some((
            msgs.len(),
            msgs.last().map_or(0, |m| m.uid),
            msgs.iter().map(|m| m.modseq).max().unwrap_or(0),
        ))
    }

    /// Keeps the result of `tag` for updates, or answers `* NO [NOUPDATE "tag"]` when
    /// `imap.max_search_contexts` are live already.
    pub(super) fn context_start(
        &mut self,
        tag: &Tag,
        uid: bool,
        sort: Option<Vec<SortCriterion>>,
        charset: Option<AString>,
        criteria: SearchKey,
        result: Vec<u32>,
    ) {
        let tag = tag.as_str().to_string();
        // A reused tag replaces its old context (the client cannot tell them apart).
        self.contexts.retain(|c| c.tag != tag);
        let Some(seen) = self.view_fingerprint() else {
            return;
        };
        if self.contexts.len() >= self.ctx.settings.max_search_contexts {
            let quoted = format!("\"{tag}\"");
            self.send(crate::response::Response::Untagged {
                kind: crate::response::StatusKind::No,
                code: Some(Code::Other(format!("NOUPDATE {quoted}"))),
                text: crate::response::Text::sanitized("Too many search contexts"),
            });
            return;
        }
        let Some(charset) = charset.or_else(|| AString::try_from("UTF-8").ok()) else {
            return;
        };
        self.contexts.push(SearchContext {
            tag,
            uid,
            sort,
            charset,
            criteria,
            result,
            seen,
        });
    }

    /// `CANCELUPDATE tag-string ...`: ends those contexts; unknown tags are ignored, as a
    /// context may have ended by itself (the mailbox was closed).
    pub(super) fn cancel_update(&mut self, tags: &[String]) -> CmdResult {
        self.contexts.retain(|c| !tags.contains(&c.tag));
        ok("CANCELUPDATE completed")
    }

    /// After each command and on IDLE/NOTIFY updates: contexts end with the mailbox they
    /// searched, the others report how their results changed.
    pub(super) fn context_after_command(&mut self, name: &str) {
        if matches!(name, "SELECT" | "EXAMINE" | "CLOSE" | "UNSELECT" | "LOGOUT") {
            self.contexts.clear();
        }
        self.context_updates();
    }

    /// The REMOVETO/ADDTO responses of every context whose view changed.
    pub(super) fn context_updates(&mut self) {
        if self.contexts.is_empty() {
            return;
        }
        let Some(now) = self.view_fingerprint() else {
            self.contexts.clear();
            return;
        };
        let mut contexts = std::mem::take(&mut self.contexts);
        for c in &mut contexts {
            if c.seen == now {
                continue;
            }
            c.seen = now;
            let found = match &c.sort {
                Some(criteria) => self.search_for(&c.charset, &c.criteria, |env, found| {
                    sort(env, &found, criteria)
                }),
                None => self.search_for(&c.charset, &c.criteria, |_, found| Ok(found)),
            };
            let uids = match found {
                Ok((_, uids, _)) => uids,
                Err(e) => {
                    tracing::warn!(error = %e, tag = c.tag, "search context update failed");
                    continue;
                }
            };
            if let Some(line) = self.context_line(c, uids) {
                self.write(line.into_bytes());
            }
        }
        // A context started meanwhile cannot exist (no command ran), but keep any anyway.
        contexts.append(&mut self.contexts);
        self.contexts = contexts;
    }

    /// Adopts `new` as the result of `c`; the ESEARCH line describing the change, if any.
    fn context_line(&self, c: &mut SearchContext, new: Vec<u32>) -> Option<String> {
        let view = self.user.as_ref()?.selected.as_ref()?;
        if !c.uid {
            // With sequence numbers an expunged message has no number left to name; the
            // client drops it on the EXPUNGE it was sent, so the result does too.
            c.result.retain(|&u| view.seq_of(u).is_some());
        }
        let old = std::mem::replace(&mut c.result, new);
        let new = &c.result;
        let old_set: HashSet<u32> = old.iter().copied().collect();
        let new_set: HashSet<u32> = new.iter().copied().collect();
        let mut removed: Vec<(usize, u32)> = old
            .iter()
            .enumerate()
            .filter(|(_, u)| !new_set.contains(u))
            .map(|(i, &u)| (i + 1, u))
            .collect();
        let mut added: Vec<(usize, u32)> = new
            .iter()
            .enumerate()
            .filter(|(_, u)| !old_set.contains(u))
            .map(|(i, &u)| (i + 1, u))
            .collect();
        let kept_old: Vec<u32> = old
            .iter()
            .copied()
            .filter(|u| new_set.contains(u))
            .collect();
        let kept_new: Vec<u32> = new
            .iter()
            .copied()
            .filter(|u| old_set.contains(u))
            .collect();
        if c.sort.is_some() && kept_old != kept_new {
            // Sort keys do not change, but should order ever move: restate the whole list.
            removed = old.iter().enumerate().map(|(i, &u)| (i + 1, u)).collect();
            added = new.iter().enumerate().map(|(i, &u)| (i + 1, u)).collect();
        }
        if removed.is_empty() && added.is_empty() {
            return None;
        }
        let num = |u: u32| if c.uid { Some(u) } else { view.seq_of(u) };
        let sorted = c.sort.is_some();
        let pairs = |items: &[(usize, u32)], highest_first: bool| -> String {
            let mut out = Vec::new();
            if !sorted {
                let nums: Vec<u32> = items.iter().filter_map(|&(_, u)| num(u)).collect();
                if let Some(set) = to_set(&nums) {
                    out.push(format!("0 {set}"));
                }
                return out.join(" ");
            }
            // Runs of consecutive positions, each as `position uid-list`.
            let mut runs: Vec<(usize, Vec<u32>)> = Vec::new();
            for &(pos, u) in items {
                let Some(n) = num(u) else { continue };
                match runs.last_mut() {
                    Some((start, list)) if *start + list.len() == pos => list.push(n),
                    _ => runs.push((pos, vec![n])),
                }
            }
            if highest_first {
                runs.reverse();
            }
            for (pos, list) in runs {
                if let Some(set) = ordered_set(&list) {
                    out.push(format!("{pos} {set}"));
                }
            }
            out.join(" ")
        };
        let mut line = format!("* ESEARCH (TAG \"{}\")", c.tag);
        if c.uid {
            line.push_str(" UID");
        }
        let (rem, add) = (pairs(&removed, true), pairs(&added, false));
        if rem.is_empty() && add.is_empty() {
            return None;
        }
        if !rem.is_empty() {
            line.push_str(&format!(" REMOVETO ({rem})"));
        }
        if !add.is_empty() {
            line.push_str(&format!(" ADDTO ({add})"));
        }
        line.push_str("\r\n");
        Some(line)
    }
}
