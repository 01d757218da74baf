//! UIDONLY (RFC 9586): after ENABLE UIDONLY, commands that take message sequence numbers
//! are refused with `BAD [UIDREQUIRED]`, FETCH responses become `uid UIDFETCH (...)` and
//! expunges are reported as VANISHED.

use super::ImapSession;
use crate::command::{CommandBody, SelectParam};
use crate::response::{Data, FetchItem, Response};
use crate::types::{SearchKey, SeqSet};

/// Whether the command names messages by sequence number: RFC 9586 section 3 wants
/// `BAD [UIDREQUIRED]` for every such command, which sections 3.2 and 3.8 list (FETCH,
/// STORE, SEARCH, COPY, MOVE, SORT, THREAD, and REPLACE whose argument is one), for the
/// `sequence-set` search key also inside UID SEARCH, UID SORT and UID THREAD (section 3.5),
/// and for the message sequence match data of QRESYNC (section 3.7).
pub(super) fn uses_sequence_numbers(body: &CommandBody) -> bool {
    use CommandBody as C;
    match body {
        C::Fetch { uid: false, .. }
        | C::Store { uid: false, .. }
        | C::Search { uid: false, .. }
        | C::Copy { uid: false, .. }
        | C::Move { uid: false, .. }
        | C::Replace { uid: false, .. }
        | C::Sort { uid: false, .. }
        | C::Thread { uid: false, .. }
        | C::Catenate {
            replace: Some((false, _)),
            ..
        } => true,
        C::Search { criteria: k, .. } | C::Sort { search: k, .. } | C::Thread { search: k, .. } => {
            names_sequence_numbers(k)
        }
        C::Select { params, .. } | C::Examine { params, .. } => params.iter().any(|p| {
            matches!(
                p,
                SelectParam::QResync {
                    seq_match: Some(_),
                    ..
                }
            )
        }),
        _ => false,
    }
}

/// Whether a search program has a `sequence-set` key; `$` names the saved result, which
/// is no message number.
fn names_sequence_numbers(key: &SearchKey) -> bool {
    match key {
        SearchKey::SequenceSet(set) => !matches!(set, SeqSet::Saved),
        SearchKey::Not(k) => names_sequence_numbers(k),
        SearchKey::Or(a, b) => names_sequence_numbers(a) || names_sequence_numbers(b),
        SearchKey::And(keys) => keys.iter().any(names_sequence_numbers),
        _ => false,
    }
}

/// A rendered `* seq FETCH (UID uid ...` as `* uid UIDFETCH (...`; the UID item must be
/// first (the FETCH command puts it there in UIDONLY mode). With `whole`, the UID item is
/// kept when it is the only one, as `msg-att` cannot be empty; a part that a streamed body
/// continues drops it always.
pub(super) fn to_uidfetch(bytes: Vec<u8>, seq: u32, uid: u32, whole: bool) -> Vec<u8> {
    let old = format!("* {seq} FETCH (UID {uid}");
    match bytes.strip_prefix(old.as_bytes()) {
        Some(rest) if !(whole && rest.starts_with(b")")) => {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            [format!("* {uid} UIDFETCH (").as_bytes(), rest].concat()
        }
        Some(rest) => [format!("* {uid} UIDFETCH (UID {uid}").as_bytes(), rest].concat(),
        None => bytes,
    }
}

impl ImapSession {
    /// In UIDONLY mode, an in-memory FETCH response (flag updates, STORE answers) as
    /// UIDFETCH; those always carry the UID item.
    pub(super) fn uid_only_form(&self, r: Response) -> Response {
        if !self.uid_only {
            return r;
        }
        match r {
            Response::Data(Data::Fetch { seq, items }) => {
                let uid = items.iter().find_map(|i| match i {
                    FetchItem::Uid(u) => Some(*u),
                    _ => None,
                });
                match uid {
                    Some(uid) if items.len() > 1 => Response::Data(Data::UidFetch {
                        uid,
                        items: items
                            .into_iter()
                            .filter(|i| !matches!(i, FetchItem::Uid(_)))
                            .collect(),
                    }),
                    Some(uid) => Response::Data(Data::UidFetch { uid, items }),
                    None => Response::Data(Data::Fetch { seq, items }),
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rendered_fetch_becomes_uidfetch() {
        let cases: [(&[u8], &[u8]); 3] = [
            (
                b"* 2 FETCH (UID 7 FLAGS ())\r\n",
                b"* 7 UIDFETCH (FLAGS ())\r\n",
            ),
            (b"* 2 FETCH (UID 7)\r\n", b"* 7 UIDFETCH (UID 7)\r\n"),
            (b"* 3 FETCH (FLAGS ())\r\n", b"* 3 FETCH (FLAGS ())\r\n"),
        ];
        for (from, to) in cases {
            assert_eq!(super::to_uidfetch(from.to_vec(), 2, 7, true), to);
        }
    }
}
