//! NOTIFY (RFC 5465): which mailboxes a client watches and the unsolicited `* STATUS` and
//! `* LIST` responses it gets about them, during IDLE and between commands.
//!
//! The selected mailbox keeps its base-protocol updates (EXISTS, EXPUNGE, FETCH FLAGS after
//! commands and in IDLE). Every other watched mailbox is held open, so storage's change
//! feed and inotify cover it; the driver waits on their watch channels and on the user's
//! tree feed ([`ImapSession::notify_watches`]) and calls [`ImapSession::notify_update`],
//! which compares each mailbox's counts with the last ones reported. A mailbox changed by
//! this session's own command is not reported back to it (its baseline is refreshed after
//! the command).

use std::collections::BTreeMap;
use std::sync::Arc;

use roost_storage::{Mailbox, MailboxName};
use tokio::sync::watch;

use super::{CmdError, CmdResult, ImapSession, Output, ok};
use crate::command::{NotifyEvent, NotifyFilter, NotifySet};
use crate::response::{Code, Data, ListEntry, ListExtended, MailboxAttr};
use crate::types::{FetchAttribute, FetchItems, StatusItem};

/// The counts last reported for a watched mailbox: messages, UIDNEXT, UIDVALIDITY,
/// unseen, highest modseq.
type Counts = (u32, u32, u32, u32, u64);

/// The events NOTIFY supports, as `[BADEVENT (...)]` lists them.
const SUPPORTED_EVENTS: &str = "MessageNew MessageExpunge FlagChange MailboxName \
                                SubscriptionChange MailboxMetadataChange ServerMetadataChange";

/// The response code of a watch list over `imap.notify_max_mailboxes` (RFC 5465 3.1, 5.8).
const OVERFLOW: &str = "NOTIFICATIONOVERFLOW";

/// Events wanted for one mailbox.
#[derive(Debug, Clone, Copy, Default)]
struct Wants {
    new: bool,
    expunge: bool,
    flags: bool,
}

struct Watched {
    mailbox: Arc<Mailbox>,
    rx: watch::Receiver<u64>,
    wants: Wants,
    last: Counts,
}

/// The NOTIFY state of a session.
pub(crate) struct NotifyState {
    set: NotifySet,
    watched: BTreeMap<String, Watched>,
    tree_rx: watch::Receiver<u64>,
    mailbox_names: bool,
    subscriptions: bool,
    /// name -> (selectable, subscribed), as last reported.
    tree: BTreeMap<String, (bool, bool)>,
    /// `MessageNew (fetch-att ...)` of the selected mailbox: FETCHed for each new message.
    selected_fetch: Vec<FetchAttribute>,
    /// `selected` (true) or `selected-delayed` (false) with events: the selected mailbox's
    /// updates are sent as they happen, not only after commands and in IDLE; only
    /// `selected` sends expunges then (RFC 5465 section 6).
    selected_live: Option<bool>,
    /// The selected mailbox's change channel, while `selected_live` is set.
    selected_rx: Option<watch::Receiver<u64>>,
    /// ServerMetadataChange: `* METADATA "" entries` for other sessions' server entries.
    meta_server: bool,
    /// Mailboxes whose METADATA changes are wanted (MailboxMetadataChange).
    meta_mailboxes: std::collections::BTreeSet<String>,
    /// The user's METADATA as last reported, while any METADATA event is wanted.
    metadata: Option<BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
    /// FlagChange is among the `selected`/`selected-delayed` events: other sessions' flag
    /// changes are sent as FETCH (RFC 5465 5.1); without it they are not.
    selected_flags: bool,
    /// UIDs this session's own APPEND or COPY just added to the selected mailbox: no
    /// MessageNew FETCH for them (RFC 5465 5.2).
    own_new: std::collections::BTreeSet<u32>,
}

fn counts(mb: &Mailbox) -> Option<Counts> {
    mb.status().ok().map(|s| {
        (
            s.messages,
            s.uid_next,
            s.uid_validity,
            s.unseen,
            s.highest_modseq,
        )
    })
}

impl ImapSession {
    pub(super) fn notify(&mut self, set: Option<NotifySet>) -> CmdResult {
        let Some(set) = set else {
            self.notify = None;
            return ok("NOTIFY completed");
        };
        for g in &set.groups {
            let bad: Vec<String> = g
                .events
                .iter()
                .filter_map(|e| match e {
                    NotifyEvent::AnnotationChange => Some("AnnotationChange".to_string()),
                    NotifyEvent::Other(n) => Some(n.clone()),
                    _ => None,
                })
                .collect();
            if !bad.is_empty() {
                // RFC 5465 3.1: NO, not BAD, and the code "MUST list names of all events
                // supported by the server" (Dovecot names the refused ones instead).
                return Err(CmdError::No(
                    Some(Code::Other(format!("BADEVENT ({SUPPORTED_EVENTS})"))),
                    "Unsupported NOTIFY events".into(),
                ));
            }
            // RFC 5465 6.1 and its ABNF: only message events for the selected mailbox.
            let selected_filter = match g.filter {
                NotifyFilter::Selected => Some("selected"),
                NotifyFilter::SelectedDelayed => Some("selected-delayed"),
                _ => None,
            };
            if let Some(f) = selected_filter
                && g.events.iter().any(|e| {
                    !matches!(
                        e,
                        NotifyEvent::MessageNew(_)
                            | NotifyEvent::MessageExpunge
                            | NotifyEvent::FlagChange
                    )
                })
            {
                return Err(CmdError::Bad(format!("{f} takes only message events")));
            }
            // RFC 5465 5.1: FlagChange needs MessageNew and MessageExpunge beside it, and
            // MessageNew and MessageExpunge go together.
            let has = |f: fn(&NotifyEvent) -> bool| g.events.iter().any(f);
            let new = has(|e| matches!(e, NotifyEvent::MessageNew(_)));
            let exp = has(|e| matches!(e, NotifyEvent::MessageExpunge));
            let flags = has(|e| matches!(e, NotifyEvent::FlagChange));
            if new != exp || (flags && !new) {
                return Err(CmdError::Bad(
                    "MessageNew and MessageExpunge go together, and FlagChange needs both".into(),
                ));
            }
            let fetch_atts = g
                .events
                .iter()
                .any(|e| matches!(e, NotifyEvent::MessageNew(a) if !a.is_empty()));
            if fetch_atts && !g.filter.is_selected() {
                return Err(CmdError::Bad(
                    "MessageNew FETCH attributes are only for the selected mailbox".into(),
                ));
            }
        }
        // RFC 5465 6.1: "Only one of the mailbox specifiers affecting the currently
        // selected mailbox can be specified in any NOTIFY command."
        let selected_groups = set.groups.iter().filter(|g| g.filter.is_selected()).count();
        if selected_groups > 1 {
            return Err(CmdError::Bad(
                "Only one of selected and selected-delayed may be given".into(),
            ));
        }
        let tree_rx = self.user()?.store.tree_changes();
        let any = |f: fn(&NotifyEvent) -> bool| set.groups.iter().any(|g| g.events.iter().any(f));
        let selected_fetch = set
            .groups
            .iter()
            .filter(|g| g.filter.is_selected())
            .flat_map(|g| &g.events)
            .find_map(|e| match e {
                NotifyEvent::MessageNew(atts) if !atts.is_empty() => Some(atts.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let selected_live = set.groups.iter().find_map(|g| match g.filter {
            NotifyFilter::Selected if !g.events.is_empty() => Some(true),
            NotifyFilter::SelectedDelayed if !g.events.is_empty() => Some(false),
            _ => None,
        });
        let selected_flags = set.groups.iter().any(|g| {
            g.filter.is_selected()
                && g.events
                    .iter()
                    .any(|e| matches!(e, NotifyEvent::FlagChange))
        });
        let mut state = NotifyState {
            meta_server: any(|e| matches!(e, NotifyEvent::ServerMetadataChange)),
            meta_mailboxes: Default::default(),
            metadata: None,
            selected_flags,
            own_new: Default::default(),
            selected_live,
            selected_rx: None,
            selected_fetch,
            mailbox_names: any(|e| matches!(e, NotifyEvent::MailboxName)),
            subscriptions: any(|e| matches!(e, NotifyEvent::SubscriptionChange)),
            set,
            watched: BTreeMap::new(),
            tree_rx,
            tree: BTreeMap::new(),
        };
        self.notify_rebuild(&mut state)?;
        self.metadata_diff(&mut state, false)?;
        let send_status = state.set.status;
        let statuses: Vec<(String, Counts)> = state
            .watched
            .iter()
            .map(|(n, w)| (n.clone(), w.last))
            .collect();
        self.notify = Some(Box::new(state));
        // RFC 5465 3.1: a successful NOTIFY SET is an implicit NOOP for the selected
        // mailbox, with the new event lists already in force.
        self.report_updates(true)?;
        if send_status {
            for (name, c) in statuses {
                self.send_status(&name, c);
            }
        }
        ok("NOTIFY completed")
    }

    /// Recomputes the watched set and the tree baseline (after NOTIFY SET and tree changes).
    fn notify_rebuild(&mut self, state: &mut NotifyState) -> Result<(), CmdError> {
        let max = self.ctx.settings.notify_max_mailboxes;
        let selected = self
            .user
            .as_ref()
            .and_then(|u| u.selected.as_ref())
            .map(|v| v.mailbox().name().as_str().to_string());
        let user = self.user()?;
        let list = user.store.list()?;
        let subs = user.store.subscriptions()?;
        state.tree = list
            .iter()
            .map(|e| {
                let n = e.name.as_str().to_string();
                let s = subs.contains(&n);
                (n, (e.selectable, s))
            })
            .collect();
        for s in &subs {
            state.tree.entry(s.clone()).or_insert((false, true));
        }
        let mut wanted: BTreeMap<String, Wants> = BTreeMap::new();
        state.meta_mailboxes.clear();
        for g in &state.set.groups {
            let has = |f: fn(&NotifyEvent) -> bool| g.events.iter().any(f);
            let meta = has(|e| matches!(e, NotifyEvent::MailboxMetadataChange));
            let wants = Wants {
                new: has(|e| matches!(e, NotifyEvent::MessageNew(_))),
                expunge: has(|e| matches!(e, NotifyEvent::MessageExpunge)),
                flags: has(|e| matches!(e, NotifyEvent::FlagChange)),
            };
            let names: Vec<String> = match &g.filter {
                NotifyFilter::Selected | NotifyFilter::SelectedDelayed => continue,
                // RFC 5465 6.3: `inboxes` is every mailbox an MDA may deliver to, and a
                // server that "cannot easily compute this set" MUST take it as `personal`;
                // `roost deliver --mailbox` can deliver into any mailbox (Dovecot alike).
                NotifyFilter::Inboxes | NotifyFilter::Personal => list
                    .iter()
                    .filter(|e| e.selectable)
                    .map(|e| e.name.as_str().to_string())
                    .collect(),
                NotifyFilter::Subscribed => subs.clone(),
                NotifyFilter::Subtree(ms) | NotifyFilter::Mailboxes(ms) => {
                    let subtree = matches!(g.filter, NotifyFilter::Subtree(_));
                    let mut out = Vec::new();
                    for m in ms {
                        let Ok(name) = super::ImapSession::decode_for_notify(self.rev2, m) else {
                            continue;
                        };
                        for e in &list {
                            let n = e.name.as_str();
                            // RFC 5465 6.5, 6.6: names, not patterns; `*` and `%` in
                            // them match only themselves.
                            let below = n
                                .strip_prefix(name.as_str())
                                .is_some_and(|r| r.starts_with('.'));
                            if n == name || (subtree && below) {
                                out.push(n.to_string());
                            }
                        }
                    }
                    out
                }
            };
            if meta {
                state.meta_mailboxes.extend(names.iter().cloned());
            }
            for n in names {
                // The first group naming a mailbox decides its events.
                wanted.entry(n).or_insert(wants);
            }
        }
        if let Some(sel) = &selected {
            wanted.remove(sel);
        }
        wanted.retain(|_, w| w.new || w.expunge || w.flags);
        if wanted.len() > max {
            // RFC 5465 3.1: the code for notifications too expensive to give.
            return Err(CmdError::No(
                Some(Code::Other(OVERFLOW.into())),
                format!("NOTIFY may watch at most {max} mailboxes"),
            ));
        }
        state.selected_rx = match state.selected_live {
            Some(_) => self
                .user
                .as_ref()
                .and_then(|u| u.selected.as_ref())
                .map(|v| {
                    let mut rx = v.mailbox().subscribe();
                    rx.borrow_and_update();
                    rx
                }),
            None => None,
        };
        let store = self.user()?.store.clone();
        let mut old = std::mem::take(&mut state.watched);
        for (name, wants) in wanted {
            if let Some(mut w) = old.remove(&name) {
                w.wants = wants;
                state.watched.insert(name, w);
                continue;
            }
            let Ok(mn) = MailboxName::new(&name) else {
                continue;
            };
            let Ok(mailbox) = store.open(&mn) else {
                continue;
            };
            let mut rx = mailbox.subscribe();
            rx.borrow_and_update();
            let Some(last) = counts(&mailbox) else {
                continue;
            };
            state.watched.insert(
                name,
                Watched {
                    mailbox,
                    rx,
                    wants,
                    last,
                },
            );
        }
        Ok(())
    }

    fn decode_for_notify(rev2: bool, m: &crate::types::Mailbox) -> Result<String, CmdError> {
        let s = crate::types::decode_mailbox(m, rev2)
            .map_err(|e| CmdError::No(Some(Code::Cannot), format!("{e}")))?;
        Ok(MailboxName::new(&s)
            .map_err(roost_storage::StorageError::from)?
            .as_str()
            .to_string())
    }

    fn send_status(&mut self, name: &str, c: Counts) {
        // The items Dovecot sends, which RFC 5465 5.2 asks for.
        let mut items = vec![
            (StatusItem::Messages, u64::from(c.0)),
            (StatusItem::UidNext, u64::from(c.1)),
            (StatusItem::UidValidity, u64::from(c.2)),
            (StatusItem::Unseen, u64::from(c.3)),
        ];
        if self.condstore {
            items.push((StatusItem::HighestModSeq, c.4));
        }
        self.data(Data::Status {
            mailbox: self.wire_name(name),
            items,
            mailbox_id: None,
        });
    }

    /// Notes messages this session's own command added to `mailbox`: when that is the
    /// selected one, they get no MessageNew FETCH, as RFC 5465 5.2 asks ("A FETCH response
    /// SHOULD NOT be generated for a new message created by the client on this particular
    /// connection"); the client has their UIDs from APPENDUID/COPYUID.
    pub(super) fn notify_own_new(&mut self, mailbox: &Arc<Mailbox>, uids: &[u32]) {
        let selected = self
            .user
            .as_ref()
            .and_then(|u| u.selected.as_ref())
            .is_some_and(|v| Arc::ptr_eq(v.mailbox(), mailbox));
        if let Some(n) = self.notify.as_mut()
            && selected
            && !n.selected_fetch.is_empty()
        {
            n.own_new.extend(uids);
        }
    }

    /// After EXISTS grew from `known`: the FETCH that `MessageNew (fetch-att ...)` asked for.
    pub(super) fn notify_new_messages(&mut self, known: usize) {
        let (atts, own) = match self.notify.as_mut() {
            Some(n) if !n.selected_fetch.is_empty() => {
                (n.selected_fetch.clone(), std::mem::take(&mut n.own_new))
            }
            _ => return,
        };
        let Some(view) = self.user.as_ref().and_then(|u| u.selected.as_ref()) else {
            return;
        };
        let seqs: Vec<u32> = view
            .messages()
            .iter()
            .enumerate()
            .skip(known)
            .filter(|(_, m)| !own.contains(&m.uid))
            .map(|(i, _)| i as u32 + 1)
            .collect();
        let Some(set) = super::messages::to_set(&seqs) else {
            return;
        };
        if let Err(e) = self.fetch(false, &set, &FetchItems::List(atts), &[]) {
            tracing::warn!(error = %e, "NOTIFY MessageNew FETCH failed");
        }
    }

    /// Whether other sessions' flag changes in the selected mailbox go out as FETCH.
    /// Without NOTIFY always (base IMAP); with NOTIFY only for FlagChange on `selected`
    /// (RFC 5465 3.1: no selected group is `selected NONE`). EXISTS and EXPUNGE are never
    /// held back, as the client's message numbers depend on them. A CONDSTORE client
    /// still gets them: HIGHESTMODSEQ it is sent promises it has seen every change below.
    pub(super) fn selected_flag_updates(&self) -> bool {
        match &self.notify {
            None => true,
            Some(n) => n.selected_flags || self.condstore,
        }
    }

    /// Whether the selected mailbox's updates go out between commands (NOTIFY `selected`
    /// or `selected-delayed`), and no command is half-read.
    pub(super) fn notify_selected_between_commands(&self) -> bool {
        self.notify
            .as_ref()
            .is_some_and(|n| n.selected_live.is_some())
            && matches!(self.mode, super::Mode::Commands)
    }

    /// The channels the driver waits on while no command runs (empty without NOTIFY).
    pub fn notify_watches(&self) -> Vec<watch::Receiver<u64>> {
        let Some(n) = &self.notify else {
            return Vec::new();
        };
        // Not in the middle of an APPEND literal or a SASL exchange: what changed meanwhile
        // stays unseen and wakes the driver once the command is over.
        if !matches!(self.mode, super::Mode::Commands | super::Mode::Idle { .. }) {
            return Vec::new();
        }
        let mut out: Vec<_> = n.watched.values().map(|w| w.rx.clone()).collect();
        out.push(n.tree_rx.clone());
        out.extend(n.selected_rx.clone());
        out
    }

    /// Called by the driver when a watched channel changed: the STATUS and LIST responses.
    pub fn notify_update(&mut self) -> Vec<Output> {
        if let Err(e) = self.notify_report(true) {
            tracing::warn!(error = %e, "NOTIFY update failed");
        }
        self.context_updates();
        std::mem::take(&mut self.out)
    }

    /// After this session's own command: adopt what it changed without reporting it.
    pub(super) fn notify_after_command(&mut self, name: &str) {
        let own = matches!(
            name,
            "APPEND"
                | "COPY"
                | "UID COPY"
                | "MOVE"
                | "UID MOVE"
                | "CREATE"
                | "DELETE"
                | "RENAME"
                | "SUBSCRIBE"
                | "UNSUBSCRIBE"
                | "SELECT"
                | "EXAMINE"
                | "CLOSE"
                | "UNSELECT"
                | "SETMETADATA"
        );
        if own
            && self.notify.is_some()
            && let Err(e) = self.notify_report(false)
        {
            tracing::warn!(error = %e, "NOTIFY refresh failed");
        }
    }

    fn notify_report(&mut self, send: bool) -> Result<(), CmdError> {
        let Some(mut state) = self.notify.take() else {
            return Ok(());
        };
        let selected_changed = state
            .selected_rx
            .as_mut()
            .is_some_and(|rx| rx.borrow_and_update().has_changed());
        let tree_changed = state.tree_rx.has_changed().unwrap_or(false);
        state.tree_rx.borrow_and_update();
        let mut lines: Vec<Data> = Vec::new();
        if tree_changed || !send {
            let before = state.tree.clone();
            let result = self.notify_rebuild(&mut state);
            if let Err(e) = result {
                if matches!(&e, CmdError::No(Some(Code::Other(c)), _) if c == OVERFLOW) {
                    // RFC 5465 5.8: new mailboxes took the watch list over the limit; say
                    // so and carry on as after NOTIFY NONE, rather than miss events.
                    self.untagged_ok(
                        Some(Code::Other(OVERFLOW.into())),
                        "Too many mailboxes to watch, NOTIFY is off",
                    );
                    return Ok(());
                }
                self.notify = Some(state);
                return Err(e);
            }
            if send {
                lines.extend(self.tree_diff(&state, &before));
            }
            self.metadata_diff(&mut state, send)?;
        }
        let mut statuses = Vec::new();
        for (name, w) in state.watched.iter_mut() {
            w.rx.borrow_and_update();
            let Some(now) = counts(&w.mailbox) else {
                continue;
            };
            if now == w.last {
                continue;
            }
            let old = std::mem::replace(&mut w.last, now);
            let moved = now.0 != old.0 || now.1 != old.1 || now.2 != old.2;
            let wanted = (moved && (w.wants.new || w.wants.expunge))
                || (!moved && w.wants.flags && (now.3 != old.3 || now.4 != old.4));
            if send && wanted {
                statuses.push((name.clone(), now));
            }
        }
        let live = state.selected_live;
        self.notify = Some(state);
        if send
            && selected_changed
            && let Some(expunges) = live
        {
            self.report_updates(expunges)?;
        }
        for d in lines {
            self.data(d);
        }
        for (name, c) in statuses {
            self.send_status(&name, c);
        }
        Ok(())
    }

    /// MailboxMetadataChange / ServerMetadataChange (RFC 5465 5.6, 5.7): the entries that
    /// changed since the last look, as `* METADATA mailbox entry ...` (names only, RFC 5464
    /// 4.4.2; the client asks GETMETADATA for values). Metadata changes wake the driver
    /// through the user's tree feed, as storage announces them there.
    fn metadata_diff(&mut self, state: &mut NotifyState, send: bool) -> Result<(), CmdError> {
        if !state.meta_server && state.meta_mailboxes.is_empty() {
            state.metadata = None;
            return Ok(());
        }
        let now = self.user()?.store.metadata()?.entries;
        let Some(before) = state.metadata.replace(now.clone()) else {
            return Ok(());
        };
        if !send {
            return Ok(());
        }
        let empty = BTreeMap::new();
        let owners: std::collections::BTreeSet<&String> = before.keys().chain(now.keys()).collect();
        for owner in owners {
            let wanted = if owner.is_empty() {
                state.meta_server
            } else {
                state.meta_mailboxes.contains(owner)
            };
            if !wanted {
                continue;
            }
            let (old, new) = (
                before.get(owner).unwrap_or(&empty),
                now.get(owner).unwrap_or(&empty),
            );
            let changed: std::collections::BTreeSet<&String> = old
                .keys()
                .chain(new.keys())
                .filter(|k| old.get(*k) != new.get(*k))
                .collect();
            if changed.is_empty() {
                continue;
            }
            let mut out = b"* METADATA ".to_vec();
            super::metadata::imap_string(self.wire_name(owner).as_bytes(), &mut out);
            for entry in changed {
                out.push(b' ');
                super::metadata::imap_string(entry.as_bytes(), &mut out);
            }
            out.extend_from_slice(b"\r\n");
            self.write(out);
        }
        Ok(())
    }

    /// `* LIST` responses for created, deleted, renamed and (un)subscribed mailboxes.
    fn tree_diff(&self, state: &NotifyState, before: &BTreeMap<String, (bool, bool)>) -> Vec<Data> {
        let mut out = Vec::new();
        let now = &state.tree;
        let gone: Vec<&String> = before
            .iter()
            .filter(|(n, (sel, _))| *sel && !now.get(*n).is_some_and(|v| v.0))
            .map(|(n, _)| n)
            .collect();
        let new: Vec<&String> = now
            .iter()
            .filter(|(n, (sel, _))| *sel && !before.get(*n).is_some_and(|v| v.0))
            .map(|(n, _)| n)
            .collect();
        let entry = |name: &str, attrs: Vec<MailboxAttr>, extended: Vec<ListExtended>| {
            Data::List(ListEntry {
                attributes: attrs,
                delimiter: Some('.'),
                mailbox: self.wire_name(name),
                extended,
            })
        };
        if state.mailbox_names {
            // One gone and one new mailbox (with children alike) is a RENAME: OLDNAME.
            let renamed = gone.len() == new.len()
                && !gone.is_empty()
                && gone.iter().zip(&new).all(|(g, n)| {
                    g.strip_prefix(gone[0].as_str())
                        .zip(n.strip_prefix(new[0].as_str()))
                        .is_some_and(|(a, b)| a == b)
                });
            for (i, n) in new.iter().enumerate() {
                let sub = now.get(*n).is_some_and(|v| v.1);
                let mut attrs = Vec::new();
                if sub {
                    attrs.push(MailboxAttr::Subscribed);
                }
                let ext = if renamed {
                    vec![ListExtended::OldName(self.wire_name(gone[i]))]
                } else {
                    Vec::new()
                };
                out.push(entry(n, attrs, ext));
            }
            if !renamed {
                for g in &gone {
                    out.push(entry(g, vec![MailboxAttr::NonExistent], Vec::new()));
                }
            }
        }
        if state.subscriptions {
            for (n, (sel, sub)) in now {
                let was = before.get(n).is_some_and(|v| v.1);
                if *sub != was && !new.contains(&n) {
                    let mut attrs = Vec::new();
                    if !sel {
                        attrs.push(MailboxAttr::NonExistent);
                    }
                    if *sub {
                        attrs.push(MailboxAttr::Subscribed);
                    }
                    out.push(entry(n, attrs, Vec::new()));
                }
            }
            for (n, (_, was)) in before {
                if *was && !now.contains_key(n) && !gone.contains(&n) {
                    out.push(entry(n, vec![MailboxAttr::NonExistent], Vec::new()));
                }
            }
        }
        out
    }
}
