//! FETCH, STORE, SEARCH, COPY and MOVE, with their UID forms. Rendering and evaluation
//! live in `fetch.rs` and `search.rs`; this file resolves sets, applies \Seen and flag
//! changes through storage, and reports updates where RFC 3501 7.4.1 allows them.

use std::collections::HashSet;
use std::num::NonZeroU32;

use roost_storage::{FlagOp, Flags, StorageError};

use super::{BodyFile, CmdError, CmdResult, Done, ImapSession, Output, ok};
use crate::command::FetchModifier;
use crate::fetch::{FetchEnv, FetchError, fetch_message, sets_seen};
use crate::response::{Code, Data, FetchItem};
use crate::types::{
    AString, FetchAttribute, FetchItems, Flag, Mailbox, SearchKey, SearchReturn, SeqNum, SeqRange,
    SeqSet, StoreKind, StoreOp, Tag,
};
use crate::view::flags_of;

/// Compresses ascending numbers into a sequence set (`1:3,7`).
pub(crate) fn to_set(nums: &[u32]) -> Option<SeqSet> {
    let mut ranges: Vec<SeqRange> = Vec::new();
    let mut sorted: Vec<u32> = nums.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        ranges.push(SeqRange {
            from: SeqNum::Value(NonZeroU32::new(start)?),
            to: SeqNum::Value(NonZeroU32::new(end)?),
        });
        i += 1;
    }
    (!ranges.is_empty()).then_some(SeqSet::Ranges(ranges))
}

/// Same as [`to_set`] but keeps the given order (COPYUID pairs must correspond).
fn to_ordered_set(nums: &[u32]) -> Option<SeqSet> {
    let ranges: Option<Vec<SeqRange>> = nums
        .iter()
        .map(|&n| {
            NonZeroU32::new(n).map(|v| SeqRange {
                from: SeqNum::Value(v),
                to: SeqNum::Value(v),
            })
        })
        .collect();
    ranges.filter(|r| !r.is_empty()).map(SeqSet::Ranges)
}

/// Splits STORE flags into storage flags and keyword names.
pub(crate) fn storage_flags(flags: &[Flag]) -> (Flags, Vec<String>) {
    let mut f = Flags::EMPTY;
    let mut kw = Vec::new();
    for flag in flags {
        match flag {
            Flag::Answered => f.insert(Flags::ANSWERED),
            Flag::Flagged => f.insert(Flags::FLAGGED),
            Flag::Deleted => f.insert(Flags::DELETED),
            Flag::Seen => f.insert(Flags::SEEN),
            Flag::Draft => f.insert(Flags::DRAFT),
            Flag::Keyword(a) => kw.push(a.as_str().to_string()),
            // \Recent cannot be stored; unknown system flags are not permanent.
            Flag::Recent | Flag::Extension(_) => {}
        }
    }
    (f, kw)
}

pub(crate) use self::storage_flags as split_flags;

impl ImapSession {
    /// The selected view, or BAD.
    pub(super) fn view_parts(
        &mut self,
    ) -> Result<(&mut crate::view::View, Option<Vec<u32>>), CmdError> {
        let user = self.user()?;
        let saved = user.saved.clone();
        let view = user
            .selected
            .as_mut()
            .ok_or_else(|| CmdError::Bad("No mailbox selected".into()))?;
        Ok((view, saved))
    }

    /// Queues FETCH output: the parts split by streamed bodies, then the rest.
    fn emit(&mut self, parts: Vec<Output>, rest: Vec<u8>) {
        for p in parts {
            match p {
                Output::Write(bytes) => self.write(bytes),
                other => self.out.push(other),
            }
        }
        self.write(rest);
    }

    fn check_set(&mut self, set: &SeqSet, uid: bool) -> Result<(), CmdError> {
        let (view, _) = self.view_parts()?;
        if !uid && view.seq_out_of_range(set) {
            return Err(CmdError::Bad("Sequence number out of range".into()));
        }
        Ok(())
    }

    pub(super) fn fetch(
        &mut self,
        uid: bool,
        set: &SeqSet,
        items: &FetchItems,
        modifiers: &[FetchModifier],
    ) -> CmdResult {
        self.check_set(set, uid)?;
        let mods = self.fetch_mods(uid, modifiers)?;
        let rev2 = self.rev2;
        let mut attrs = items.expand();
        if uid && !attrs.contains(&FetchAttribute::Uid) {
            attrs.insert(0, FetchAttribute::Uid);
        }
        let uid_only = self.uid_only;
        if uid_only {
            // First, so the rendered `* n FETCH (UID u` prefix becomes `* u UIDFETCH (`.
            attrs.retain(|a| *a != FetchAttribute::Uid);
            attrs.insert(0, FetchAttribute::Uid);
        }
        if attrs.contains(&FetchAttribute::ModSeq) {
            self.enable_condstore();
        }
        // CHANGEDSINCE implies the MODSEQ item (RFC 7162 3.1.4.1).
        if mods.changed_since.is_some() && !attrs.contains(&FetchAttribute::ModSeq) {
            attrs.push(FetchAttribute::ModSeq);
        }
        if let (true, Some(since)) = (mods.vanished, mods.changed_since) {
            self.fetch_vanished(set, since)?;
        }
        let condstore = self.condstore;
        let seen = sets_seen(&attrs);
        let stream_from = self.ctx.settings.stream_body_from;
        let mut progress = self.progress(0);
        let (view, saved) = self.view_parts()?;
        let mut seqs = view.resolve(set, uid, saved.as_deref());
        if let Some(since) = mods.changed_since {
            seqs.retain(|&s| {
                view.messages()
                    .get(s as usize - 1)
                    .is_some_and(|m| m.modseq > since)
            });
        }
        if let Some(p) = mods.partial {
            seqs = p.apply(&seqs);
        }
        let mailbox = std::sync::Arc::clone(view.mailbox());
        let read_only = view.read_only();
        let mut out = Vec::new();
        let mut expunged = false;
        if seen && !read_only {
            let unseen: Vec<u32> = seqs
                .iter()
                .filter_map(|&s| view.messages().get(s as usize - 1))
                .filter(|m| !m.flags.contains(Flags::SEEN) && !view.is_expunged(m.uid))
                .map(|m| m.uid)
                .collect();
            if !unseen.is_empty() {
                let outcome = mailbox.store(&unseen, FlagOp::Add, Flags::SEEN, &[], None)?;
                view.apply_own(&outcome.changed);
            }
        }
        let names = mailbox.keyword_names();
        // Streamed bodies split the output: what comes before each, then the file.
        let mut parts: Vec<Output> = Vec::new();
        progress.total = seqs.len();
        for (done, &seq) in seqs.iter().enumerate() {
            progress.tick(done);
            let Some(info) = view.messages().get(seq as usize - 1).cloned() else {
                continue;
            };
            if view.is_expunged(info.uid) {
                expunged = true;
                continue;
            }
            let env = FetchEnv {
                mailbox: &mailbox,
                keyword_names: &names,
                utf8: rev2,
                recent: !rev2 && info.uid >= view.recent_from(),
            };
            let mut these = attrs.clone();
            if seen && !read_only && !these.contains(&FetchAttribute::Flags) {
                // The implicit \Seen must be reported (RFC 3501 6.4.5).
                these.push(FetchAttribute::Flags);
            }
            if seen && !read_only && condstore {
                // ... with its new modseq once CONDSTORE is on (RFC 7162 3.1.4).
                for a in [FetchAttribute::Uid, FetchAttribute::ModSeq] {
                    if !these.contains(&a) {
                        these.push(a);
                    }
                }
            }
            let stream = match super::stream::streamable(&these) {
                Some(i) => {
                    let size = match info.vsize {
                        Some(v) => Some(v),
                        None => mailbox.vsizes(&[info.uid])?.first().copied().flatten(),
                    };
                    size.filter(|&v| v >= stream_from).map(|v| (i, v))
                }
                None => None,
            };
            let Some((i, len)) = stream else {
                match fetch_message(&env, seq, &info, &these) {
                    Ok(bytes) if uid_only => out.extend_from_slice(&super::uid_only::to_uidfetch(
                        bytes, seq, info.uid, true,
                    )),
                    Ok(bytes) => out.extend_from_slice(&bytes),
                    Err(FetchError::Expunged) => expunged = true,
                    Err(e) => {
                        self.emit(parts, out);
                        return Err(e.into());
                    }
                }
                continue;
            };
            // The items before and after the body rendered as usual, spliced around a
            // literal whose data the driver copies from the file: same bytes, same order.
            let rendered = mailbox
                .open_message(info.uid)
                .map_err(FetchError::from)
                .and_then(|f| {
                    let file = f.ok_or(FetchError::Expunged)?.0;
                    let mut before = fetch_message(&env, seq, &info, &these[..i])?;
                    if uid_only {
                        before = super::uid_only::to_uidfetch(before, seq, info.uid, false);
                    }
                    let after = fetch_message(&env, seq, &info, &these[i + 1..])?;
                    Ok((file, before, after))
                });
            match rendered {
                Ok((file, before, after)) => {
                    let prefix = format!("* {seq} FETCH (");
                    let head = before.strip_suffix(b")\r\n").unwrap_or(&before);
                    let tail = after.strip_prefix(prefix.as_bytes()).unwrap_or(&after);
                    out.extend_from_slice(head);
                    if i > 0 && !head.ends_with(b"(") {
                        out.push(b' ');
                    }
                    let name = super::stream::item_name(&these[i]);
                    out.extend_from_slice(format!("{name} {{{len}}}\r\n").as_bytes());
                    parts.push(Output::Write(std::mem::take(&mut out)));
                    parts.push(Output::Stream(BodyFile { file, len }));
                    if i + 1 < these.len() {
                        out.push(b' ');
                    }
                    out.extend_from_slice(tail);
                }
                Err(FetchError::Expunged) => expunged = true,
                Err(e) => {
                    self.emit(parts, out);
                    return Err(e.into());
                }
            }
        }
        self.emit(parts, out);
        self.report_updates(uid)?;
        if expunged {
            return Err(CmdError::Fetch(FetchError::Expunged));
        }
        ok(if uid {
            "UID FETCH completed"
        } else {
            "FETCH completed"
        })
    }

    pub(super) fn store_flags(
        &mut self,
        uid: bool,
        set: &SeqSet,
        op: &StoreOp,
        unchanged_since: Option<u64>,
    ) -> CmdResult {
        self.check_set(set, uid)?;
        if unchanged_since.is_some() {
            self.enable_condstore();
        }
        let condstore = self.condstore;
        let rev2 = self.rev2;
        let mut progress = self.progress(0);
        let (view, saved) = self.view_parts()?;
        if view.read_only() {
            return Err(CmdError::No(
                Some(Code::Cannot),
                "Mailbox is read-only (EXAMINE)".into(),
            ));
        }
        let seqs = view.resolve(set, uid, saved.as_deref());
        let uids: Vec<u32> = seqs
            .iter()
            .filter_map(|&s| view.messages().get(s as usize - 1))
            .filter(|m| !view.is_expunged(m.uid))
            .map(|m| m.uid)
            .collect();
        let (flags, keywords) = storage_flags(&op.flags);
        let fop = match op.kind {
            StoreKind::Replace => FlagOp::Replace,
            StoreKind::Add => FlagOp::Add,
            StoreKind::Remove => FlagOp::Remove,
        };
        let mailbox = std::sync::Arc::clone(view.mailbox());
        progress.total = uids.len();
        let outcome = mailbox.store_with_progress(
            &uids,
            fop,
            flags,
            &keywords,
            unchanged_since,
            &mut |n| progress.tick(n),
        )?;
        view.apply_own(&outcome.changed);
        let mut responses = Vec::new();
        let names = mailbox.keyword_names();
        if view.take_new_keywords(names.len()) {
            // A new keyword: the client learns it before the FETCH that shows it.
            self.announce_flags(&names, false);
        }
        let (view, _) = self.view_parts()?;
        // Messages refused by UNCHANGEDSINCE get no FETCH; the tagged MODIFIED names them.
        let mut modified_seqs = Vec::new();
        let refused: HashSet<u32> = outcome.modified.iter().copied().collect();
        let changed_uids: HashSet<u32> = outcome.changed.iter().map(|c| c.uid).collect();
        for &seq in &seqs {
            let Some(info) = view.messages().get(seq as usize - 1) else {
                continue;
            };
            if view.is_expunged(info.uid) {
                continue;
            }
            if refused.contains(&info.uid) {
                modified_seqs.push(seq);
                continue;
            }
            let changed = changed_uids.contains(&info.uid);
            // Every named message gets its flags back, changed or not (RFC 3501 6.4.6);
            // once CONDSTORE is on, even .SILENT reports the new modseq of what changed, or
            // of everything that passed UNCHANGEDSINCE (RFC 7162 3.1.3).
            let report_modseq = condstore && (changed || unchanged_since.is_some());
            if op.silent && !report_modseq {
                continue;
            }
            let mut items = Vec::new();
            if !op.silent {
                let recent = !rev2 && info.uid >= view.recent_from();
                items.push(FetchItem::Flags(flags_of(info, &names, recent)));
            }
            if uid && let Some(u) = NonZeroU32::new(info.uid) {
                items.push(FetchItem::Uid(u));
            }
            if condstore {
                items.push(FetchItem::ModSeq(info.modseq));
            }
            if let Some(seq) = NonZeroU32::new(seq) {
                responses.push(Data::Fetch { seq, items });
            }
        }
        for d in responses {
            self.data(d);
        }
        self.report_updates(uid)?;
        // MODIFIED names UIDs for UID STORE and sequence numbers for STORE (RFC 7162 3.1.3).
        let modified = if uid {
            outcome.modified.clone()
        } else {
            modified_seqs
        };
        if !modified.is_empty()
            && let Some(set) = to_set(&modified)
        {
            return Ok(Done::Ok(
                Some(Code::Modified(set)),
                "Some messages changed meanwhile".into(),
            ));
        }
        ok(if uid {
            "UID STORE completed"
        } else {
            "STORE completed"
        })
    }

    pub(super) fn search(
        &mut self,
        tag: &Tag,
        uid: bool,
        ret: Option<Vec<SearchReturn>>,
        charset: Option<AString>,
        criteria: SearchKey,
    ) -> CmdResult {
        if self.utf8_accept && charset.is_some() {
            // RFC 6855 3: strings are UTF-8 now; a charset label could only conflict.
            return Err(CmdError::Bad(
                "SEARCH: no CHARSET after ENABLE UTF8=ACCEPT".into(),
            ));
        }
        let rev2 = self.rev2;
        let (seqs, uids_found, modseq) =
            self.search_for(charset.as_ref(), &criteria, |_, found| Ok(found))?;
        let nums = if uid { uids_found.clone() } else { seqs };
        // rev2 has no SEARCH response: a plain SEARCH answers ESEARCH ALL.
        let ret = match ret {
            None if rev2 => Some(Vec::new()),
            r => r,
        };
        match ret {
            None => {
                let list = nums.iter().filter_map(|&n| NonZeroU32::new(n)).collect();
                self.data(Data::Search(list, modseq));
            }
            Some(mut opts) => {
                let update = self.take_update(tag, &mut opts)?;
                let save = opts.contains(&SearchReturn::Save);
                if save {
                    self.user()?.saved = Some(uids_found.clone());
                }
                if update && opts.is_empty() {
                    self.data(super::context::bare_answer(tag, uid));
                } else if let Some(e) =
                    super::sort::esearch_answer(tag, uid, &opts, &nums, false, modseq)
                {
                    self.data(Data::ESearch(e));
                }
                if update {
                    self.context_start(tag, uid, None, charset, criteria, uids_found);
                }
            }
        }
        self.report_updates(uid)?;
        ok(if uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        })
    }

    pub(super) fn copy(
        &mut self,
        uid: bool,
        set: &SeqSet,
        target: Mailbox,
        moving: bool,
    ) -> CmdResult {
        self.check_set(set, uid)?;
        let name = self.resolved_name(&target)?;
        let dest = match self.user()?.store.open(&name) {
            Ok(d) => d,
            Err(StorageError::NoSuchMailbox(_)) => {
                return Err(CmdError::No(
                    Some(Code::TryCreate),
                    format!("Mailbox {} does not exist", name.as_str()),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let mut progress = self.progress(0);
        let (view, saved) = self.view_parts()?;
        if moving && view.read_only() {
            return Err(CmdError::No(
                Some(Code::Cannot),
                "Mailbox is read-only (EXAMINE)".into(),
            ));
        }
        let seqs = view.resolve(set, uid, saved.as_deref());
        let uids: Vec<u32> = seqs
            .iter()
            .filter_map(|&s| view.messages().get(s as usize - 1))
            .filter(|m| !view.is_expunged(m.uid))
            .map(|m| m.uid)
            .collect();
        let source = std::sync::Arc::clone(view.mailbox());
        // MOVE counts copying and expunging as one pass over twice the messages.
        progress.total = if moving { uids.len() * 2 } else { uids.len() };
        let pairs = self
            .user()?
            .store
            .copy(&source, &uids, &dest, moving, &mut |n| progress.tick(n))?;
        self.notify_own_new(&dest, &pairs.iter().map(|p| p.1).collect::<Vec<_>>());
        let validity = dest.status()?.uid_validity;
        let code = match (
            NonZeroU32::new(validity),
            to_ordered_set(&pairs.iter().map(|p| p.0).collect::<Vec<_>>()),
            to_ordered_set(&pairs.iter().map(|p| p.1).collect::<Vec<_>>()),
        ) {
            (Some(uid_validity), Some(source), Some(dest)) => {
                Some(crate::response::Code::CopyUid {
                    uid_validity,
                    source,
                    dest,
                })
            }
            _ => None,
        };
        if !moving {
            self.report_updates(uid)?;
            return Ok(Done::Ok(code, "COPY completed".into()));
        }
        // RFC 6851: COPYUID goes in an untagged OK before the EXPUNGEs.
        if code.is_some() {
            self.untagged_ok(code, "Moved");
        }
        let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        if !moved.is_empty() {
            let copied = uids.len();
            source.expunge_with_progress(&moved, &mut |n| progress.tick(copied + n))?;
        }
        self.report_updates(true)?;
        ok("MOVE completed")
    }
}
