//! CONDSTORE and QRESYNC (RFC 7162) state and answers shared by several commands, and the
//! ID command (RFC 2971).

use std::num::NonZeroU32;

use super::{CmdError, CmdResult, ImapSession, ok};
use crate::command::{FetchModifier, SelectParam};
use crate::response::{Code, Data, FetchItem};
use crate::types::{SearchKey, SeqSet};
use crate::view::{flags_of, ranges_to_set};

/// At most this many of a client's ID fields are logged: the RFC's own limit (RFC 2971 3.3).
pub const MAX_ID_FIELDS: usize = 30;
/// Longer ID values are cut to this many bytes in the log: the RFC's limit for values.
pub const MAX_ID_VALUE: usize = 1024;

/// The fetch modifiers of one FETCH, checked.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FetchMods {
    /// `CHANGEDSINCE n`
    pub changed_since: Option<u64>,
    /// `VANISHED`
    pub vanished: bool,
    /// `PARTIAL range` (RFC 9394)
    pub partial: Option<crate::partial::PartialRange>,
}

/// A QRESYNC SELECT's parameters, once checked.
pub(crate) struct QResync {
    pub uid_validity: NonZeroU32,
    pub mod_seq: u64,
    pub known_uids: Option<SeqSet>,
}

/// Whether a search uses the MODSEQ key anywhere (it enables CONDSTORE and adds the
/// MODSEQ to the answer, RFC 7162 3.1.5).
pub(crate) fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// Cuts an ID value for the log at a character boundary.
fn bounded(v: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(&v[..v.len().min(MAX_ID_VALUE)]).into_owned();
    if v.len() > MAX_ID_VALUE {
        s.push('…');
    }
    s
}

impl ImapSession {
    /// A CONDSTORE enabling command (RFC 7162 3.1): from now on FETCH responses caused by
    /// flag changes carry MODSEQ.
    pub(crate) fn enable_condstore(&mut self) {
        self.condstore = true;
    }

    /// `ID`: our name and version; the client's fields are logged (bounded) and kept.
    pub(super) fn id(&mut self, fields: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> CmdResult {
        let text: Vec<String> = fields
            .iter()
            .take(MAX_ID_FIELDS)
            .map(|(k, v)| {
                let v = v.as_deref().map_or_else(|| "NIL".to_string(), bounded);
                format!("{}={v:?}", bounded(k))
            })
            .collect();
        let text = text.join(" ");
        tracing::info!(peer = self.ctx.peer, client_id = text, "client ID");
        self.client_id = Some(text);
        self.data(Data::Id(vec![
            ("name".into(), "Roost".into()),
            ("version".into(), env!("CARGO_PKG_VERSION").into()),
        ]));
        ok("ID completed")
    }

    /// The client's ID fields as logged (`name="x" version="y"`), once it sent ID.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Checks SELECT/EXAMINE parameters; `CONDSTORE` enables it at once.
    pub(crate) fn select_params(
        &mut self,
        params: Vec<SelectParam>,
    ) -> Result<Option<QResync>, CmdError> {
        let mut qresync = None;
        let mut condstore = false;
        for p in params {
            match p {
                SelectParam::CondStore if !condstore => condstore = true,
                SelectParam::QResync { .. } if !self.qresync => {
                    return Err(CmdError::Bad(
                        "QRESYNC is not enabled (ENABLE QRESYNC)".into(),
                    ));
                }
                SelectParam::QResync {
                    uid_validity,
                    mod_seq,
                    known_uids,
                    ..
                } if qresync.is_none() => {
                    if mod_seq == 0 {
                        return Err(CmdError::Bad("QRESYNC modseq must be above 0".into()));
                    }
                    qresync = Some(QResync {
                        uid_validity,
                        mod_seq,
                        known_uids,
                    });
                }
                _ => return Err(CmdError::Bad("Parameter given twice".into())),
            }
        }
        if condstore || qresync.is_some() {
            self.enable_condstore();
        }
        Ok(qresync)
    }

    /// After a QRESYNC SELECT with the right UIDVALIDITY: `VANISHED (EARLIER)` for what
    /// was expunged since the client's modseq, then a FETCH of every message changed since
    /// (RFC 7162 3.2.5.2).
    pub(crate) fn qresync_answer(&mut self, q: &QResync) -> Result<(), CmdError> {
        let rev2 = self.rev2;
        let Some(view) = self.user()?.selected.as_ref() else {
            return Ok(());
        };
        if view.uid_validity() != q.uid_validity.get() {
            // The client's cache is void: a plain SELECT answer (RFC 7162 3.2.5.2).
            return Ok(());
        }
        let gone = view.vanished_since(q.mod_seq, q.known_uids.as_ref())?;
        let names = view.mailbox().keyword_names();
        let mut fetches = Vec::new();
        for (i, info) in view.messages().iter().enumerate() {
            if info.modseq <= q.mod_seq {
                continue;
            }
            let (Some(seq), Some(uid)) = (NonZeroU32::new(i as u32 + 1), NonZeroU32::new(info.uid))
            else {
                continue;
            };
            let recent = !rev2 && info.uid >= view.recent_from();
            fetches.push(Data::Fetch {
                seq,
                items: vec![
                    FetchItem::Uid(uid),
                    FetchItem::Flags(flags_of(info, &names, recent)),
                    FetchItem::ModSeq(info.modseq),
                ],
            });
        }
        if let Some(uids) = ranges_to_set(&gone) {
            self.data(Data::Vanished {
                earlier: true,
                uids,
            });
        }
        for f in fetches {
            self.data(f);
        }
        Ok(())
    }

    /// Checks FETCH modifiers (RFC 7162 3.1.4.1, 3.2.6).
    pub(crate) fn fetch_mods(
        &mut self,
        uid: bool,
        mods: &[FetchModifier],
    ) -> Result<FetchMods, CmdError> {
        let mut out = FetchMods::default();
        for m in mods {
            match *m {
                FetchModifier::ChangedSince(n) if out.changed_since.is_none() => {
                    out.changed_since = Some(n);
                }
                FetchModifier::Vanished if !out.vanished => out.vanished = true,
                // RFC 9394 3.2: paging is by UID order, so only UID FETCH takes it.
                FetchModifier::Partial(_) if !uid => {
                    return Err(CmdError::Bad("PARTIAL needs UID FETCH".into()));
                }
                FetchModifier::Partial(p) if out.partial.is_none() => out.partial = Some(p),
                _ => return Err(CmdError::Bad("FETCH modifier given twice".into())),
            }
        }
        if out.vanished {
            if !uid {
                return Err(CmdError::Bad("VANISHED needs UID FETCH".into()));
            }
            if !self.qresync {
                return Err(CmdError::Bad(
                    "QRESYNC is not enabled (ENABLE QRESYNC)".into(),
                ));
            }
            if out.changed_since.is_none() {
                return Err(CmdError::Bad("VANISHED needs CHANGEDSINCE".into()));
            }
        }
        if out.changed_since.is_some() {
            self.enable_condstore();
        }
        Ok(out)
    }

    /// `* VANISHED (EARLIER)` for UID FETCH ... (CHANGEDSINCE n VANISHED): the UIDs of
    /// `set` expunged since `n` (RFC 7162 3.2.6).
    pub(crate) fn fetch_vanished(&mut self, set: &SeqSet, since: u64) -> Result<(), CmdError> {
        let Some(view) = self.user()?.selected.as_ref() else {
            return Ok(());
        };
        let gone = view.vanished_since(since, Some(set))?;
        if let Some(uids) = ranges_to_set(&gone) {
            self.data(Data::Vanished {
                earlier: true,
                uids,
            });
        }
        Ok(())
    }

    /// `[HIGHESTMODSEQ n]` for the tagged OK of EXPUNGE once CONDSTORE is on (RFC 7162
    /// 3.1.11 / 3.2.10), so a client that saw only VANISHED can advance its modseq.
    /// With QRESYNC the untagged `OK [HIGHESTMODSEQ]` after the updates already said it.
    pub(crate) fn highest_modseq_code(&mut self) -> Result<Option<Code>, CmdError> {
        if !self.condstore || self.qresync {
            return Ok(None);
        }
        Ok(self
            .user()?
            .selected
            .as_ref()
            .map(|v| Code::HighestModSeq(v.modseq())))
    }
}
