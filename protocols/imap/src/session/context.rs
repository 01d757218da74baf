//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4): `RETURN (UPDATE)` keeps a SEARCH
//! or SORT result alive, and as the selected mailbox changes the session tells the client
//! how the result changed with unsolicited `* ESEARCH (TAG "t") [UID] REMOVEFROM (...)` and
//! `ADDTO (...)`, until CANCELUPDATE or the mailbox is left.
//!
//! The result is kept as UIDs and recomputed from the session's view whenever the view
//! changed, so updates follow what the client was told and go out where those may: after
//! commands, during IDLE and with NOTIFY. REMOVEFROM goes before the EXPUNGEs of the same
//! sync and ADDTO after the EXISTS (RFC 5267 4.3.3, 4.3.4), so message numbers in them are
//! valid when the client reads them.
//!
//! Positions: a SEARCH result is kept in mailbox order, so its updates carry position 0; a
//! SORT result is a list, and each position is where the first message of its run is
//! (REMOVEFROM: in the list before, highest first; ADDTO: in the list after, lowest first),
//! so applying them in the order sent rebuilds the list.
//!
//! Time: a result with OLDER/YOUNGER (RFC 5032) also changes as time passes. Such a
//! context remembers the next instant a message crosses one of its boundaries
//! (INTERNALDATE + n); the result is recomputed at the first command boundary after it, and
//! [`ImapSession::context_deadline`] tells the driver when to call
//! [`ImapSession::context_tick`] where updates may go out without a command (IDLE, NOTIFY
//! `selected`).

use std::collections::HashSet;

use super::messages::to_set;
use super::{CmdError, CmdResult, ImapSession, Output, ok};
use crate::partial::ordered_set;
use crate::response::{Code, Data, ESearch};
use crate::sort::{SortCriterion, sort};
use crate::types::{AString, FetchAttribute, FetchItems, SearchKey, SearchReturn, Tag};

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
    /// `UPDATE (fetch-att ...)` (RFC 5465 section 7): FETCHed for new messages that join.
    fetch: Vec<FetchAttribute>,
    /// The view's state the result was computed from.
    seen: Fingerprint,
    /// Unix second at which a message next crosses an OLDER/YOUNGER boundary of the
    /// criteria; None without such keys.
    due: Option<i64>,
}

/// Messages, last UID, highest modseq: any new message, expunge or flag change moves it.
type Fingerprint = (usize, u32, u64);

/// The live contexts of a session.
#[derive(Default)]
pub(crate) struct Contexts {
    list: Vec<SearchContext>,
    /// The view's UIDs when the contexts were last brought up to date: the message numbers
    /// the client still knows for messages expunged since.
    before: Vec<u32>,
    /// The fetch-atts of the `UPDATE (...)` of the command running, for its context.
    pending_fetch: Vec<FetchAttribute>,
    /// FETCHes owed for new messages that joined results: after the EXISTS, before ADDTO.
    fetches: Vec<(Vec<FetchAttribute>, Vec<u32>)>,
    /// The clock the last search ran at (Unix seconds): a new context's boundaries are
    /// counted from there, so none crossed between the search and the context is missed.
    search_now: i64,
    /// A fixed clock for tests (Unix seconds).
    fake_now: Option<i64>,
}

/// The `n` of every OLDER n / YOUNGER n in `key`, however deeply nested.
fn time_keys(key: &SearchKey, out: &mut Vec<u32>) {
    match key {
        SearchKey::Older(n) | SearchKey::Younger(n) => out.push(*n),
        SearchKey::Not(k) => time_keys(k, out),
        SearchKey::Or(a, b) => {
            time_keys(a, out);
            time_keys(b, out);
        }
        SearchKey::And(keys) => keys.iter().for_each(|k| time_keys(k, out)),
        _ => {}
    }
}

/// The answer to `RETURN (UPDATE)` alone: the correlator and nothing else, as RFC 4731's
/// default ALL is for an empty list only (Dovecot answers the same; clients ask
/// `RETURN (ALL UPDATE)` for the starting result).
pub(super) fn bare_answer(tag: &Tag, uid: bool) -> Data {
    Data::ESearch(ESearch {
        tag: Some(tag.clone()),
        uid,
        ..ESearch::default()
    })
}

impl ImapSession {
    /// A `RETURN (...)` list without `UPDATE`, and whether UPDATE was in it. UPDATE does
    /// not interact with the other options (RFC 5267 4.3): they are answered as usual.
    pub(super) fn take_update(
        &mut self,
        tag: &Tag,
        opts: &mut Vec<SearchReturn>,
    ) -> Result<bool, CmdError> {
        let before = opts.len();
        let mut fetch = Vec::new();
        opts.retain(|o| match o {
            SearchReturn::Update => false,
            SearchReturn::UpdateFetch(atts) => {
                fetch = atts.clone();
                false
            }
            _ => true,
        });
        self.contexts.pending_fetch = fetch;
        let update = opts.len() != before;
        // RFC 5267 4.3: updates are told apart by tag alone.
        if update && self.contexts.list.iter().any(|c| c.tag == tag.as_str()) {
            return Err(CmdError::Bad("Tag reuse".into()));
        }
        Ok(update)
    }

    /// The clock OLDER/YOUNGER compare with (Unix seconds).
    fn now_secs(&self) -> i64 {
        self.contexts.fake_now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

    /// The clock for a search about to run, remembered for a context it may start.
    pub(super) fn search_clock(&mut self) -> i64 {
        let now = self.now_secs();
        self.contexts.search_now = now;
        now
    }

    /// Sets the clock OLDER/YOUNGER see, for tests.
    #[cfg(test)]
    pub(super) fn set_fake_now(&mut self, now: i64) {
        self.contexts.fake_now = Some(now);
    }

    /// The first instant after `after` at which a message of the view crosses a boundary
    /// of `criteria`: OLDER n starts and YOUNGER n stops matching at INTERNALDATE + n.
    fn next_crossing(&self, criteria: &SearchKey, after: i64) -> Option<i64> {
        let mut ns = Vec::new();
        time_keys(criteria, &mut ns);
        if ns.is_empty() {
            return None;
        }
        ns.sort_unstable();
        ns.dedup();
        let view = self.user.as_ref()?.selected.as_ref()?;
        view.messages()
            .iter()
            .flat_map(|m| {
                ns.iter()
                    .map(move |&n| m.internal_date.saturating_add(i64::from(n)))
            })
            .filter(|&t| t > after)
            .min()
    }

    /// When the driver should call [`ImapSession::context_tick`]: the earliest boundary
    /// crossing of a live result, while updates may go out without a command (IDLE, or
    /// NOTIFY with `selected` between commands). None otherwise, and always for sessions
    /// without time-relative contexts.
    pub fn context_deadline(&self) -> Option<std::time::SystemTime> {
        let due = self.contexts.list.iter().filter_map(|c| c.due).min()?;
        if !(self.is_idling() || self.notify_selected_between_commands()) {
            return None;
        }
        let secs = u64::try_from(due).unwrap_or(0);
        std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
    }

    /// Called by the driver at [`ImapSession::context_deadline`]: the ADDTO and REMOVEFROM
    /// of results that time changed.
    pub fn context_tick(&mut self) -> Vec<Output> {
        if self.is_idling() || self.notify_selected_between_commands() {
            self.context_updates();
        }
        std::mem::take(&mut self.out)
    }

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
        let Some(seen) = self.view_fingerprint() else {
            return;
        };
        if self.contexts.list.len() >= self.ctx.settings.max_search_contexts {
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
        if self.contexts.list.is_empty() {
            self.contexts.before = self.view_uids();
        }
        let fetch = std::mem::take(&mut self.contexts.pending_fetch);
        let due = self.next_crossing(&criteria, self.contexts.search_now);
        self.contexts.list.push(SearchContext {
            tag,
            uid,
            sort,
            charset,
            criteria,
            result,
            fetch,
            seen,
            due,
        });
    }

    /// `CANCELUPDATE "tag" ...`: ends those contexts; `NO` when one of the tags names none
    /// (as Dovecot), after ending the others.
    pub(super) fn cancel_update(&mut self, tags: &[String]) -> CmdResult {
        let unknown = tags
            .iter()
            .find(|t| !self.contexts.list.iter().any(|c| &c.tag == *t))
            .cloned();
        self.contexts.list.retain(|c| !tags.contains(&c.tag));
        match unknown {
            Some(t) => Err(CmdError::No(None, format!("Unknown tag {t:?}"))),
            None => ok("CANCELUPDATE completed"),
        }
    }

    /// After each command and on IDLE/NOTIFY updates: contexts end with the mailbox they
    /// searched, the others report how their results changed.
    pub(super) fn context_after_command(&mut self, name: &str) {
        if matches!(name, "SELECT" | "EXAMINE" | "CLOSE" | "UNSELECT" | "LOGOUT") {
            self.contexts.list.clear();
        }
        self.context_updates();
    }

    fn view_uids(&self) -> Vec<u32> {
        self.user
            .as_ref()
            .and_then(|u| u.selected.as_ref())
            .map(|v| v.messages().iter().map(|m| m.uid).collect())
            .unwrap_or_default()
    }

    /// Sends the REMOVEFROM and ADDTO responses of every context whose view changed.
    pub(super) fn context_updates(&mut self) {
        let (removes, adds) = self.context_changes();
        self.write_some(removes);
        self.context_fetches();
        self.write_some(adds);
    }

    /// The FETCHes `UPDATE (fetch-att ...)` asked for new messages that joined a result
    /// (RFC 5465 section 7: after the EXISTS, before the ESEARCH ADDTO).
    pub(super) fn context_fetches(&mut self) {
        for (atts, uids) in std::mem::take(&mut self.contexts.fetches) {
            // By message number, as NOTIFY's MessageNew FETCH: a UID FETCH would also let
            // expunges out, which the running command may not allow.
            let seqs: Vec<u32> = match self.user.as_ref().and_then(|u| u.selected.as_ref()) {
                Some(view) => uids.iter().filter_map(|&u| view.seq_of(u)).collect(),
                None => return,
            };
            let Some(set) = to_set(&seqs) else {
                continue;
            };
            if let Err(e) = self.fetch(false, &set, &FetchItems::List(atts), &[]) {
                tracing::warn!(error = %e, "search context FETCH failed");
            }
        }
    }

    /// Writes `bytes` unless empty (no empty write for the driver).
    pub(super) fn write_some(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.write(bytes);
        }
    }

    /// The REMOVEFROM lines (to go before the EXPUNGEs of the last sync) and the ADDTO
    /// lines (after its EXISTS) of every context whose view changed.
    pub(super) fn context_changes(&mut self) -> (Vec<u8>, Vec<u8>) {
        let (mut removes, mut adds) = (Vec::new(), Vec::new());
        if self.contexts.list.is_empty() {
            return (removes, adds);
        }
        let Some(now) = self.view_fingerprint() else {
            self.contexts.list.clear();
            return (removes, adds);
        };
        let mut list = std::mem::take(&mut self.contexts.list);
        let before = std::mem::take(&mut self.contexts.before);
        let clock = self.now_secs();
        for c in &mut list {
            if c.seen == now && c.due.is_none_or(|t| t > clock) {
                continue;
            }
            c.seen = now;
            // Counted from before the search: a crossing it may have missed comes again.
            c.due = self.next_crossing(&c.criteria, clock);
            let found = match &c.sort {
                Some(criteria) => self.search_for(Some(&c.charset), &c.criteria, |env, found| {
                    sort(env, &found, criteria)
                }),
                None => self.search_for(Some(&c.charset), &c.criteria, |_, found| Ok(found)),
            };
            match found {
                Ok((_, uids, _)) => {
                    // RFC 5465 section 7: FETCH for messages new since the last look only,
                    // not for old ones a flag change brought in ("No untagged FETCH
                    // responses SHOULD be sent" then).
                    let last = before.last().copied().unwrap_or(0);
                    if !c.fetch.is_empty() {
                        let old: HashSet<u32> = c.result.iter().copied().collect();
                        let new: Vec<u32> = uids
                            .iter()
                            .copied()
                            .filter(|u| *u > last && !old.contains(u))
                            .collect();
                        if !new.is_empty() {
                            // A UID context names messages by UID: so does its FETCH.
                            let mut atts = c.fetch.clone();
                            if c.uid && !atts.contains(&FetchAttribute::Uid) {
                                atts.insert(0, FetchAttribute::Uid);
                            }
                            self.contexts.fetches.push((atts, new));
                        }
                    }
                    let (r, a) = self.context_lines(c, uids, &before);
                    removes.extend(r.into_bytes());
                    adds.extend(a.into_bytes());
                }
                Err(e) => tracing::warn!(error = %e, tag = c.tag, "search context update failed"),
            }
        }
        self.contexts.list = list;
        self.contexts.before = self.view_uids();
        (removes, adds)
    }

    /// Adopts `new` as the result of `c`: its REMOVEFROM and ADDTO lines (empty if none).
    fn context_lines(
        &self,
        c: &mut SearchContext,
        new: Vec<u32>,
        before: &[u32],
    ) -> (String, String) {
        let Some(view) = self.user.as_ref().and_then(|u| u.selected.as_ref()) else {
            return (String::new(), String::new());
        };
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
        // Removed messages are named as the client knew them (before this sync's
        // EXPUNGEs), added ones as the view has them now (after its EXISTS).
        let old_num = |u: u32| {
            if c.uid {
                Some(u)
            } else {
                before.binary_search(&u).ok().map(|i| i as u32 + 1)
            }
        };
        let new_num = |u: u32| if c.uid { Some(u) } else { view.seq_of(u) };
        let sorted = c.sort.is_some();
        let pairs =
            |items: &[(usize, u32)], num: &dyn Fn(u32) -> Option<u32>, highest_first: bool| {
                let mut out = Vec::new();
                if !sorted {
                    let nums: Vec<u32> = items.iter().filter_map(|&(_, u)| num(u)).collect();
                    if let Some(set) = to_set(&nums) {
                        out.push(format!("0 {set}"));
                    }
                    return out.join(" ");
                }
                // Runs of consecutive positions, each as `position number-list`.
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
        let head = format!(
            "* ESEARCH (TAG \"{}\"){}",
            c.tag,
            if c.uid { " UID" } else { "" }
        );
        let line = |item: &str, body: String| {
            if body.is_empty() {
                String::new()
            } else {
                format!("{head} {item} ({body})\r\n")
            }
        };
        (
            line("REMOVEFROM", pairs(&removed, &old_num, true)),
            line("ADDTO", pairs(&added, &new_num, false)),
        )
    }
}
