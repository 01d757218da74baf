//! UIDONLY (RFC 9586): after ENABLE UIDONLY, commands that take message sequence numbers
//! are refused with `BAD [UIDREQUIRED]`, FETCH responses become `uid UIDFETCH (...)` and
//! expunges are reported as VANISHED.

use super::ImapSession;
use crate::command::CommandBody;
use crate::response::{Data, FetchItem, Response};

/// Whether the command names messages by sequence number.
pub(super) fn uses_sequence_numbers(body: &CommandBody) -> bool {
    use CommandBody as C;
    matches!(
        body,
        C::Fetch { uid: false, .. }
            | C::Store { uid: false, .. }
            | C::Search { uid: false, .. }
            | C::Copy { uid: false, .. }
            | C::Move { uid: false, .. }
            | C::Replace { uid: false, .. }
            | C::Catenate {
                replace: Some((false, _)),
                ..
            }
    )
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
