//! The per-session view of the selected mailbox: sequence numbers <-> UIDs, the flags the
//! client was last told, and the modseq it has seen, updated from the shared mailbox's
//! change feed. EXPUNGE is only reported when the caller says the command allows it
//! (RFC 3501 7.4.1, RFC 9051 7.5.1); until then an expunged message keeps its number.

use std::collections::BTreeSet;
use std::sync::Arc;

use roost_storage::{Changes, Flags, Mailbox, MessageInfo, StorageError};

use crate::types::{Atom, Date, DateTime, Flag, SeqSet};

/// An untagged update the client must be told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// `n EXPUNGE`
    Expunge(u32),
    /// This UID is gone (QRESYNC enabled: sent as `VANISHED`, which names UIDs).
    Vanished(u32),
    /// `n EXISTS`
    Exists(u32),
    /// `n RECENT` (IMAP4rev1 only; the session drops it for rev2)
    Recent(u32),
    /// `n FETCH (FLAGS ...)`: flags changed by someone else.
    Flags(u32),
}

/// One session's view of its selected mailbox.
#[derive(Debug)]
pub struct View {
    mailbox: Arc<Mailbox>,
    read_only: bool,
    /// What the client knows: index = seq - 1, ascending UIDs.
    messages: Vec<MessageInfo>,
    /// UIDs gone from storage but not yet reported (they keep their sequence number).
    pending_expunge: BTreeSet<u32>,
    modseq: u64,
    /// UIDs >= this are \Recent in this session; u32::MAX when none.
    recent_from: u32,
    uid_validity: u32,
    uid_next: u32,
    /// How many keyword names the client was given in FLAGS (names are only ever added).
    keywords_told: usize,
    /// QRESYNC is enabled: expunges are reported by UID (RFC 7162 3.2.10).
    vanished: bool,
    /// The highest modseq the client was told (HIGHESTMODSEQ).
    modseq_told: u64,
}

impl View {
    /// Selects `mailbox`: takes a snapshot and, unless read-only, claims the \Recent
    /// messages for this session.
    pub fn open(mailbox: Arc<Mailbox>, read_only: bool) -> Result<View, StorageError> {
        let recent_from = if read_only {
            u32::MAX
        } else {
            mailbox.claim_recent()?
        };
        let snap = mailbox.snapshot()?;
        let keywords_told = mailbox.keyword_names().len();
        let recent_from = if read_only {
            // EXAMINE shows what is recent without taking it from other sessions.
            snap.first_recent_uid
        } else {
            recent_from
        };
        Ok(View {
            mailbox,
            read_only,
            messages: snap.messages,
            pending_expunge: BTreeSet::new(),
            modseq: snap.highest_modseq,
            recent_from,
            uid_validity: snap.uid_validity,
            uid_next: snap.next_uid,
            keywords_told,
            vanished: false,
            modseq_told: snap.highest_modseq,
        })
    }

    /// A view over known messages, for tests of the update logic.
    pub fn from_parts(mailbox: Arc<Mailbox>, messages: Vec<MessageInfo>, modseq: u64) -> View {
        let keywords_told = mailbox.keyword_names().len();
        View {
            mailbox,
            read_only: false,
            messages,
            pending_expunge: BTreeSet::new(),
            modseq,
            recent_from: u32::MAX,
            uid_validity: 1,
            uid_next: 1,
            keywords_told,
            vanished: false,
            modseq_told: modseq,
        }
    }

    /// The shared mailbox.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// Whether the mailbox now has keywords (`count` names) the client was not given in
    /// FLAGS yet; they count as given from now on.
    pub fn take_new_keywords(&mut self, count: usize) -> bool {
        let new = count > self.keywords_told;
        self.keywords_told = self.keywords_told.max(count);
        new
    }

    /// From now on expunges are reported as [`Update::Vanished`] (QRESYNC).
    pub fn report_vanished(&mut self) {
        self.vanished = true;
    }

    /// The highest modseq the client has been brought up to.
    pub fn modseq(&self) -> u64 {
        self.modseq
    }

    /// The highest modseq when it moved past what the client was told and every change up
    /// to it was reported (no expunge is held back); it counts as told from now on.
    pub fn take_modseq_news(&mut self) -> Option<u64> {
        if self.modseq <= self.modseq_told || !self.pending_expunge.is_empty() {
            return None;
        }
        self.modseq_told = self.modseq;
        Some(self.modseq)
    }

    /// UIDs the mailbox no longer has, among `within` (all UIDs when None) below
    /// [`View::uid_next`], that were expunged after `modseq` and are not still counted by
    /// this view: the `VANISHED (EARLIER)` answer (RFC 7162 3.2.5.2, 3.2.6). When the
    /// expunge log no longer reaches back to `modseq`, every UID the mailbox lacks is
    /// named instead, as the RFC allows.
    pub fn vanished_since(
        &self,
        modseq: u64,
        within: Option<&SeqSet>,
    ) -> Result<Vec<(u32, u32)>, StorageError> {
        let changes = self.mailbox.changes_since(modseq)?;
        Ok(self.vanished_in(changes, within))
    }

    /// [`View::vanished_since`] given the mailbox's answer (pure; table-tested).
    pub fn vanished_in(&self, changes: Changes, within: Option<&SeqSet>) -> Vec<(u32, u32)> {
        let top = self.uid_next().saturating_sub(1);
        let known: Vec<u32> = self.messages.iter().map(|m| m.uid).collect();
        let within: Vec<(u32, u32)> = match within {
            Some(set) => set_ranges(set, top),
            None if top > 0 => vec![(1, top)],
            None => Vec::new(),
        };
        if !changes.complete {
            return uid_gaps(&within, &known);
        }
        let mut gone: Vec<u32> = changes
            .expunged
            .into_iter()
            .filter(|u| {
                *u <= top
                    && known.binary_search(u).is_err()
                    && within.iter().any(|&(a, b)| (a..=b).contains(u))
            })
            .collect();
        gone.sort_unstable();
        gone.dedup();
        uid_gaps(&gone.iter().map(|&u| (u, u)).collect::<Vec<_>>(), &[])
    }

    /// Opened with EXAMINE.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The messages as the client knows them (index = seq - 1).
    pub fn messages(&self) -> &[MessageInfo] {
        &self.messages
    }

    /// UIDVALIDITY at selection.
    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// UIDNEXT: one above the highest UID known, or the snapshot's next UID.
    pub fn uid_next(&self) -> u32 {
        let last = self.messages.last().map_or(0, |m| m.uid);
        self.uid_next.max(last + 1)
    }

    /// First UID that is \Recent in this session (u32::MAX: none).
    pub fn recent_from(&self) -> u32 {
        self.recent_from
    }

    /// Number of \Recent messages in this session.
    pub fn recent_count(&self) -> u32 {
        self.messages
            .iter()
            .filter(|m| m.uid >= self.recent_from)
            .count() as u32
    }

    /// The sequence number of a UID the client knows.
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| i as u32 + 1)
    }

    /// Whether the message was expunged by someone else and not yet reported.
    pub fn is_expunged(&self, uid: u32) -> bool {
        self.pending_expunge.contains(&uid)
    }

    /// Sequence numbers (ascending) named by `set`, as sequence numbers or as UIDs.
    /// `$` is resolved with `saved` (UIDs). UIDs not in the mailbox are skipped.
    pub fn resolve(&self, set: &SeqSet, uid: bool, saved: Option<&[u32]>) -> Vec<u32> {
        let mut out = Vec::new();
        if let SeqSet::Saved = set {
            for &u in saved.unwrap_or(&[]) {
                if let Some(s) = self.seq_of(u) {
                    out.push(s);
                }
            }
            out.sort_unstable();
            return out;
        }
        let count = self.messages.len() as u32;
        if uid {
            let largest = self.messages.last().map_or(0, |m| m.uid);
            for (i, m) in self.messages.iter().enumerate() {
                if set.contains(m.uid, largest) {
                    out.push(i as u32 + 1);
                }
            }
        } else if let SeqSet::Ranges(ranges) = set {
            // Walk the ranges rather than every message, so `1:*` on a large mailbox and
            // `5` cost what they should.
            let mut all = BTreeSet::new();
            for r in ranges {
                let v = |s: crate::types::SeqNum| match s {
                    crate::types::SeqNum::Value(v) => v.get(),
                    crate::types::SeqNum::Last => count,
                };
                let (a, b) = (v(r.from), v(r.to));
                let (lo, hi) = (a.min(b), a.max(b).min(count));
                if lo <= hi {
                    all.extend(lo..=hi);
                }
            }
            out.extend(all);
        }
        out
    }

    /// True when a sequence set names a number beyond the mailbox (a client error).
    pub fn seq_out_of_range(&self, set: &SeqSet) -> bool {
        let count = self.messages.len() as u32;
        match set {
            SeqSet::Saved => false,
            SeqSet::Ranges(r) => r.iter().any(|r| {
                [r.from, r.to].iter().any(|s| match s {
                    crate::types::SeqNum::Value(v) => v.get() > count,
                    crate::types::SeqNum::Last => count == 0,
                })
            }),
        }
    }

    /// Our own flag change (STORE, FETCH setting \Seen): the client is told by the command
    /// itself, so the next sync must not report it again.
    pub fn apply_own(&mut self, changed: &[MessageInfo]) {
        for info in changed {
            if let Ok(i) = self.messages.binary_search_by_key(&info.uid, |m| m.uid) {
                self.messages[i] = info.clone();
            }
        }
    }

    /// Asks the mailbox what changed and returns what to tell the client.
    pub fn sync(&mut self, allow_expunge: bool) -> Result<Vec<Update>, StorageError> {
        let changes = self.mailbox.changes_since(self.modseq)?;
        let changes = if changes.complete {
            changes
        } else {
            // The expunge log no longer reaches back to our modseq: compare UID lists.
            let snap = self.mailbox.snapshot()?;
            let present: BTreeSet<u32> = snap.messages.iter().map(|m| m.uid).collect();
            Changes {
                highest_modseq: snap.highest_modseq,
                expunged: self
                    .messages
                    .iter()
                    .map(|m| m.uid)
                    .filter(|u| !present.contains(u))
                    .collect(),
                changed: snap.messages,
                complete: true,
            }
        };
        let before = self.messages.last().map_or(0, |m| m.uid);
        let had_new = changes.changed.iter().any(|m| m.uid > before);
        if had_new && !self.read_only {
            // New mail while selected is \Recent for the first session that claims it.
            // Once this session has a boundary, later mail is above it anyway (mail another
            // session claimed in between is counted here too: rev1 \Recent is advisory).
            let first = self.mailbox.claim_recent()?;
            let newest = changes.changed.last().map_or(0, |m| m.uid);
            if self.recent_from == u32::MAX && first <= newest {
                self.recent_from = first.max(before + 1);
            }
        }
        Ok(self.apply(changes, allow_expunge))
    }

    /// [`View::sync`] for a wake-up by the change feed, answered from what the mailbox
    /// last published ([`Mailbox::try_published`]): no disk access and no waiting. Also
    /// returns the keyword names. `None`: the caller must use [`View::sync`] instead.
    pub fn try_sync_published(
        &mut self,
        allow_expunge: bool,
    ) -> Option<(Vec<Update>, Vec<Option<String>>)> {
        let before = self.messages.last().map_or(0, |m| m.uid);
        let claim = (!self.read_only).then_some(before);
        let p = self.mailbox.try_published(self.modseq, claim)?;
        if let Some(first) = p.recent_first {
            // As in `sync`: the first claim of this session sets its boundary.
            let newest = p.changes.changed.last().map_or(0, |m| m.uid);
            if self.recent_from == u32::MAX && first <= newest {
                self.recent_from = first.max(before + 1);
            }
        }
        Some((self.apply(p.changes, allow_expunge), p.keyword_names))
    }

    /// Applies a change set (pure; table-tested). Order: EXPUNGEs (highest number first,
    /// so each number is valid when sent), FETCH FLAGS, then EXISTS/RECENT for new mail.
    pub fn apply(&mut self, changes: Changes, allow_expunge: bool) -> Vec<Update> {
        let mut out = Vec::new();
        for uid in &changes.expunged {
            if self.seq_of(*uid).is_some() {
                self.pending_expunge.insert(*uid);
            }
        }
        if allow_expunge {
            for uid in std::mem::take(&mut self.pending_expunge).into_iter().rev() {
                if let Some(seq) = self.seq_of(uid) {
                    self.messages.remove(seq as usize - 1);
                    out.push(if self.vanished {
                        Update::Vanished(uid)
                    } else {
                        Update::Expunge(seq)
                    });
                }
            }
        }
        let mut new = 0;
        for info in changes.changed {
            if self.pending_expunge.contains(&info.uid) {
                continue;
            }
            match self.messages.binary_search_by_key(&info.uid, |m| m.uid) {
                Ok(i) => {
                    let old = &self.messages[i];
                    let differs = old.flags != info.flags || old.keywords != info.keywords;
                    self.messages[i] = info;
                    if differs {
                        out.push(Update::Flags(i as u32 + 1));
                    }
                }
                Err(i) if i == self.messages.len() => {
                    self.messages.push(info);
                    new += 1;
                }
                // A UID below the highest we know that we never saw was expunged before
                // we could be told about it; nothing to report.
                Err(_) => {}
            }
        }
        if new > 0 {
            out.push(Update::Exists(self.messages.len() as u32));
            out.push(Update::Recent(self.recent_count()));
        }
        self.modseq = self.modseq.max(changes.highest_modseq);
        out
    }
}

/// A UID set as sorted, merged, inclusive ranges within `1..=top` (`*` is `top`).
pub fn set_ranges(set: &SeqSet, top: u32) -> Vec<(u32, u32)> {
    let SeqSet::Ranges(ranges) = set else {
        return Vec::new();
    };
    let v = |s: crate::types::SeqNum| match s {
        crate::types::SeqNum::Value(v) => v.get(),
        crate::types::SeqNum::Last => top,
    };
    let mut r: Vec<(u32, u32)> = ranges
        .iter()
        .map(|r| {
            let (a, b) = (v(r.from), v(r.to));
            (a.min(b), a.max(b).min(top))
        })
        .filter(|(a, b)| a <= b)
        .collect();
    r.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(r.len());
    for (a, b) in r {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The parts of `ranges` (sorted, merged) not covered by `present` (sorted UIDs), as
/// merged ranges. Linear in both inputs, so `1:4294967295` costs what the mailbox does.
pub fn uid_gaps(ranges: &[(u32, u32)], present: &[u32]) -> Vec<(u32, u32)> {
    // u64 so that `u + 1` cannot overflow at UID 4294967295.
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut push = |a: u64, b: u64| match out.last_mut() {
        Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
        _ => out.push((a, b)),
    };
    let mut p = 0;
    for &(a, b) in ranges {
        let (mut from, to) = (u64::from(a), u64::from(b));
        while p < present.len() && u64::from(present[p]) < from {
            p += 1;
        }
        while p < present.len() && u64::from(present[p]) <= to {
            let u = u64::from(present[p]);
            if u > from {
                push(from, u - 1);
            }
            from = u + 1;
            p += 1;
        }
        if from <= to {
            push(from, to);
        }
    }
    out.into_iter().map(|(a, b)| (a as u32, b as u32)).collect()
}

/// Inclusive ranges as a sequence set; None when empty.
pub fn ranges_to_set(ranges: &[(u32, u32)]) -> Option<SeqSet> {
    let r: Option<Vec<crate::types::SeqRange>> = ranges
        .iter()
        .map(|&(a, b)| {
            Some(crate::types::SeqRange {
                from: crate::types::SeqNum::Value(std::num::NonZeroU32::new(a)?),
                to: crate::types::SeqNum::Value(std::num::NonZeroU32::new(b)?),
            })
        })
        .collect();
    r.filter(|r| !r.is_empty()).map(SeqSet::Ranges)
}

/// The system flags a session may store and the keywords this mailbox knows.
pub fn flag_list(keyword_names: &[Option<String>]) -> Vec<Flag> {
    let mut out = vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ];
    for name in keyword_names.iter().flatten() {
        if let Ok(a) = Atom::try_from(name.as_str()) {
            out.push(Flag::Keyword(a));
        }
    }
    out
}

/// The flags of a message as IMAP shows them. Maildir's `P` (passed) is shown as
/// `$Forwarded`, as Dovecot does.
pub fn flags_of(info: &MessageInfo, keyword_names: &[Option<String>], recent: bool) -> Vec<Flag> {
    let mut out = Vec::new();
    for (bit, flag) in [
        (Flags::ANSWERED, Flag::Answered),
        (Flags::FLAGGED, Flag::Flagged),
        (Flags::DELETED, Flag::Deleted),
        (Flags::SEEN, Flag::Seen),
        (Flags::DRAFT, Flag::Draft),
    ] {
        if info.flags.contains(bit) {
            out.push(flag);
        }
    }
    if recent {
        out.push(Flag::Recent);
    }
    let mut forwarded = false;
    for i in info.keywords.iter() {
        if let Some(Some(name)) = keyword_names.get(i)
            && let Ok(a) = Atom::try_from(name.as_str())
        {
            forwarded |= name.eq_ignore_ascii_case("$Forwarded");
            out.push(Flag::Keyword(a));
        }
    }
    if info.flags.contains(Flags::PASSED)
        && !forwarded
        && let Ok(a) = Atom::try_from("$Forwarded")
    {
        out.push(Flag::Keyword(a));
    }
    out
}

/// Unix seconds as an IMAP date-time in UTC.
pub fn date_time(t: i64) -> DateTime {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let date = Date::new(y.clamp(0, 9999) as u16, m, d).unwrap_or(Date {
        year: 1970,
        month: 1,
        day: 1,
    });
    DateTime {
        date,
        hour: (secs / 3600) as u8,
        minute: (secs / 60 % 60) as u8,
        second: (secs % 60) as u8,
        zone_minutes: 0,
    }
}

/// Unix time of an IMAP date-time.
pub fn unix_time(dt: &DateTime) -> i64 {
    let days = days_from_civil(i64::from(dt.date.year), dt.date.month, dt.date.day);
    days * 86_400 + i64::from(dt.hour) * 3600 + i64::from(dt.minute) * 60 + i64::from(dt.second)
        - i64::from(dt.zone_minutes) * 60
}

// Howard Hinnant's civil calendar algorithms (public domain).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
