//! SELECT, EXAMINE, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE and IDLE.

use std::num::NonZeroU32;

use roost_storage::Flags;

use super::{CmdError, CmdResult, Done, ImapSession, Mode, ok};
use crate::command::SelectParam;
use crate::response::{Code, Data, ListEntry};
use crate::types::{FlagPerm, Mailbox, SeqSet, Tag};
use crate::view::{View, flag_list};

impl ImapSession {
    /// `* FLAGS` and `* OK [PERMANENTFLAGS]` (empty when read-only): at SELECT, and again
    /// whenever a new keyword appears, since both lists name the keywords (RFC 3501 7.1, 7.2.6).
    pub(crate) fn announce_flags(&mut self, names: &[Option<String>], read_only: bool) {
        let flags = flag_list(names);
        self.data(Data::Flags(flags.clone()));
        let perm = if read_only {
            Vec::new()
        } else {
            let mut p: Vec<FlagPerm> = flags.into_iter().map(FlagPerm::Flag).collect();
            p.push(FlagPerm::Wildcard);
            p
        };
        self.untagged_ok(Some(Code::PermanentFlags(perm)), "Flags permitted");
    }

    pub(super) fn select(
        &mut self,
        mailbox: Mailbox,
        read_only: bool,
        params: Vec<SelectParam>,
    ) -> CmdResult {
        // Checked before the current mailbox is closed: a bad SELECT changes nothing.
        let qresync = self.select_params(params)?;
        let had = self.user()?.selected.take().is_some();
        if had {
            // RFC 7162 / RFC 9051: the previous mailbox is closed before the new one opens.
            self.untagged_ok(Some(Code::Closed), "Previous mailbox closed");
        }
        self.user()?.saved = None;
        let name = self.resolved_name(&mailbox)?;
        let mb = self.user()?.store.open(&name)?;
        let mut view = View::open(mb, read_only)?;
        if self.qresync || self.uid_only {
            view.report_vanished();
        }
        let names = view.mailbox().keyword_names();
        self.announce_flags(&names, read_only);
        self.data(Data::Exists(view.messages().len() as u32));
        if !self.rev2 {
            self.data(Data::Recent(view.recent_count()));
            // RFC 9586 section 3: no message numbers in any response once UIDONLY is on,
            // and UNSEEN names one.
            if !self.uid_only
                && let Some(i) = view
                    .messages()
                    .iter()
                    .position(|m| !m.flags.contains(Flags::SEEN))
                && let Some(n) = NonZeroU32::new(i as u32 + 1)
            {
                self.untagged_ok(Some(Code::Unseen(n)), "First unseen");
            }
        }
        if let Some(v) = NonZeroU32::new(view.uid_validity()) {
            self.untagged_ok(Some(Code::UidValidity(v)), "UIDs valid");
        }
        if let Some(n) = NonZeroU32::new(view.uid_next()) {
            self.untagged_ok(Some(Code::UidNext(n)), "Predicted next UID");
        }
        // RFC 7162 3.1.2.1: on every SELECT/EXAMINE, whether CONDSTORE is enabled or not;
        // every Roost mailbox has modseqs, so NOMODSEQ is never sent.
        self.untagged_ok(Some(Code::HighestModSeq(view.modseq())), "Highest");
        let id = roost_storage::objectid::mailbox_id(view.mailbox().dir())?;
        self.untagged_ok(Some(Code::MailboxId(id)), "Ok");
        if self.rev2 {
            let wire = self.wire_name(name.as_str());
            self.data(Data::List(ListEntry {
                attributes: Vec::new(),
                delimiter: Some('.'),
                mailbox: wire,
                extended: Vec::new(),
            }));
        }
        self.user()?.selected = Some(view);
        if let Some(q) = &qresync {
            self.qresync_answer(q)?;
        }
        let (code, verb) = if read_only {
            (Code::ReadOnly, "EXAMINE")
        } else {
            (Code::ReadWrite, "SELECT")
        };
        Ok(Done::Ok(Some(code), format!("{verb} completed")))
    }

    pub(super) fn close(&mut self) -> CmdResult {
        let Some(view) = self.user()?.selected.take() else {
            return Err(CmdError::Bad("No mailbox selected".into()));
        };
        if !view.read_only() {
            // Silently: CLOSE sends no EXPUNGE responses. Messages others flagged meanwhile
            // count too, so ask storage rather than the view.
            let snap = view.mailbox().snapshot()?;
            let deleted: Vec<u32> = snap
                .messages
                .iter()
                .filter(|m| m.flags.contains(Flags::DELETED))
                .map(|m| m.uid)
                .collect();
            if !deleted.is_empty() {
                view.mailbox().expunge(&deleted)?;
            }
        }
        ok("CLOSE completed")
    }

    pub(super) fn unselect(&mut self) -> CmdResult {
        self.user()?.selected = None;
        ok("UNSELECT completed")
    }

    pub(super) fn expunge(&mut self, set: Option<SeqSet>) -> CmdResult {
        self.report_updates(false)?;
        let mut progress = self.progress(0);
        let user = self.user()?;
        let saved = user.saved.clone();
        let Some(view) = user.selected.as_mut() else {
            return Err(CmdError::Bad("No mailbox selected".into()));
        };
        if view.read_only() {
            return Err(CmdError::No(
                Some(Code::Cannot),
                "Mailbox is read-only (EXAMINE)".into(),
            ));
        }
        let seqs: Option<Vec<u32>> = set
            .as_ref()
            .map(|s| view.resolve(s, true, saved.as_deref()));
        let uids: Vec<u32> = view
            .messages()
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                m.flags.contains(Flags::DELETED)
                    && seqs
                        .as_ref()
                        .is_none_or(|s| s.binary_search(&(*i as u32 + 1)).is_ok())
            })
            .map(|(_, m)| m.uid)
            .collect();
        if !uids.is_empty() {
            progress.total = uids.len();
            view.mailbox()
                .expunge_with_progress(&uids, &mut |n| progress.tick(n))?;
        }
        self.report_updates(true)?;
        let code = self.highest_modseq_code()?;
        Ok(Done::Ok(code, "EXPUNGE completed".into()))
    }

    pub(super) fn idle(&mut self, tag: &Tag) -> CmdResult {
        // Subscribe before the first sync so a change in between still wakes the driver.
        let watch = self
            .user()?
            .selected
            .as_ref()
            .map(|v| v.mailbox().subscribe());
        self.report_updates(true)?;
        self.send(crate::response::Response::Continue(
            crate::response::Text::sanitized("idling"),
        ));
        self.mode = Mode::Idle { tag: tag.clone() };
        self.idle_watch = watch;
        self.reader.set_line_mode(true);
        Ok(Done::Pending)
    }
}
