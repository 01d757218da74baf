//! SORT and THREAD with their UID forms (RFC 5256), ESORT (RFC 5267), and the ESEARCH
//! answer shared with SEARCH (RETURN MIN/MAX/ALL/COUNT/PARTIAL/SAVE).

use std::num::NonZeroU32;

use super::messages::to_set;
use super::{CmdError, CmdResult, ImapSession, ok};
use crate::partial::ordered_set;
use crate::response::{Data, ESearch};
use crate::search::{SearchEnv, SearchError, search_with_progress};
use crate::sort::{SortCriterion, sort};
use crate::thread::{ThreadAlgorithm, thread};
use crate::types::{AString, SearchKey, SearchReturn, Tag};

/// SEARCH and SORT accept UTF-8 and its subset US-ASCII only (`NO [BADCHARSET]`).
pub(super) fn check_charset(charset: &AString) -> Result<(), CmdError> {
    let name = charset.to_str().unwrap_or("");
    if name.eq_ignore_ascii_case("UTF-8") || name.eq_ignore_ascii_case("US-ASCII") {
        Ok(())
    } else {
        Err(SearchError::BadCharset(name.to_string()).into())
    }
}

/// The ESEARCH answer to `RETURN (opts)` for `nums` (result order: ascending for SEARCH,
/// sort order for SORT); None when only SAVE was asked (RFC 5182: no answer then).
pub(super) fn esearch_answer(
    tag: &Tag,
    uid: bool,
    opts: &[SearchReturn],
    nums: &[u32],
    sorted: bool,
    modseq: Option<u64>,
) -> Option<ESearch> {
    let default = [SearchReturn::All];
    let opts = if opts.is_empty() { &default[..] } else { opts };
    if opts.iter().all(|o| *o == SearchReturn::Save) {
        return None;
    }
    let has = |o: SearchReturn| opts.contains(&o);
    let set = |n: &[u32]| if sorted { ordered_set(n) } else { to_set(n) };
    // RFC 5267 3.2: for SORT, MIN and MAX are the first and last in sort order.
    let (min, max) = if sorted {
        (nums.first().copied(), nums.last().copied())
    } else {
        (nums.iter().min().copied(), nums.iter().max().copied())
    };
    let partial = opts.iter().find_map(|o| match o {
        SearchReturn::Partial(r) => Some((*r, set(&r.apply(nums)))),
        _ => None,
    });
    Some(ESearch {
        tag: Some(tag.clone()),
        uid,
        min: has(SearchReturn::Min)
            .then_some(min)
            .flatten()
            .and_then(NonZeroU32::new),
        max: has(SearchReturn::Max)
            .then_some(max)
            .flatten()
            .and_then(NonZeroU32::new),
        all: has(SearchReturn::All).then(|| set(nums)).flatten(),
        partial,
        count: has(SearchReturn::Count).then_some(nums.len() as u32),
        modseq,
    })
}

/// A search result in result order: sequence numbers, UIDs, and the highest modseq among
/// them when the criteria used MODSEQ.
pub(super) type Found = (Vec<u32>, Vec<u32>, Option<u64>);

impl ImapSession {
    /// Runs the search of a SEARCH, SORT, THREAD or search context: the matching sequence
    /// numbers (in the order `then` puts them), their UIDs, and the highest modseq among
    /// them when the criteria used MODSEQ (RFC 7162 3.1.5).
    pub(super) fn search_for(
        &mut self,
        charset: Option<&AString>,
        criteria: &SearchKey,
        then: impl FnOnce(&SearchEnv<'_>, Vec<u32>) -> Result<Vec<u32>, SearchError>,
    ) -> Result<Found, CmdError> {
        if let Some(c) = charset {
            check_charset(c)?;
        }
        let with_modseq = super::condstore::uses_modseq(criteria);
        if with_modseq {
            self.enable_condstore();
        }
        let now = self.search_clock();
        // Search context updates between commands have no command, so they report no
        // INPROGRESS.
        let mut progress = self.progress(0);
        let (view, saved) = self.view_parts()?;
        let mailbox = std::sync::Arc::clone(view.mailbox());
        let names = mailbox.keyword_names();
        let env = SearchEnv {
            mailbox: &mailbox,
            keyword_names: &names,
            messages: view.messages(),
            recent_from_uid: view.recent_from(),
            saved: saved.as_deref(),
            now,
        };
        progress.total = env.messages.len();
        let found = search_with_progress(&env, criteria, &mut |n| progress.tick(n))?;
        let seqs = then(&env, found)?;
        let info = |s: &u32| view.messages().get(*s as usize - 1);
        let uids = seqs.iter().filter_map(info).map(|m| m.uid).collect();
        let modseq = with_modseq
            .then(|| seqs.iter().filter_map(info).map(|m| m.modseq).max())
            .flatten();
        Ok((seqs, uids, modseq))
    }

    /// `[UID] SORT [RETURN (...)] (criteria) charset keys`
    pub(super) fn sort(
        &mut self,
        tag: &Tag,
        uid: bool,
        ret: Option<Vec<SearchReturn>>,
        criteria: &[SortCriterion],
        charset: &AString,
        keys: &SearchKey,
    ) -> CmdResult {
        let (seqs, uids, modseq) = self.search_for(Some(charset), keys, |env, found| {
            sort(env, &found, criteria)
        })?;
        let nums = if uid { uids.clone() } else { seqs };
        match ret {
            None => {
                let list = nums.iter().filter_map(|&n| NonZeroU32::new(n)).collect();
                self.data(Data::Sort(list, modseq));
            }
            Some(mut opts) => {
                let update = self.take_update(tag, &mut opts)?;
                if opts.contains(&SearchReturn::Save) {
                    self.user()?.saved = Some(uids.clone());
                }
                if update && opts.is_empty() {
                    self.data(super::context::bare_answer(tag, uid));
                } else if let Some(e) = esearch_answer(tag, uid, &opts, &nums, true, modseq) {
                    self.data(Data::ESearch(e));
                }
                if update {
                    let sort = Some(criteria.to_vec());
                    self.context_start(tag, uid, sort, Some(charset.clone()), keys.clone(), uids);
                }
            }
        }
        self.report_updates(uid)?;
        ok(if uid {
            "UID SORT completed"
        } else {
            "SORT completed"
        })
    }

    /// `[UID] THREAD algorithm charset keys`
    pub(super) fn thread(
        &mut self,
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: &AString,
        keys: &SearchKey,
    ) -> CmdResult {
        let mut threads = crate::thread::Threads::default();
        self.search_for(Some(charset), keys, |env, found| {
            threads = thread(env, &found, algorithm, uid)?;
            Ok(Vec::new())
        })?;
        self.data(Data::Thread(threads));
        self.report_updates(uid)?;
        ok(if uid {
            "UID THREAD completed"
        } else {
            "THREAD completed"
        })
    }
}
