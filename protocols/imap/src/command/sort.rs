//! SORT and THREAD (RFC 5256, RFC 5957, RFC 5267 ESORT) and the PARTIAL return option
//! (RFC 5267 / RFC 9394).

use std::num::NonZeroU32;

use nom::bytes::complete::tag;

use super::{
    BodyResult, CommandBody, Cx, PResult, astring, atom, keyword, nz_number, paren_list,
    search_program, search_return_opts, soft, sp,
};
use crate::partial::PartialRange;
use crate::sort::{SortCriterion, SortKey};
use crate::thread::ThreadAlgorithm;
use crate::types::SearchReturn;

/// `sort = ["UID" SP] "SORT" [SP sort-return-opts] SP sort-criteria SP search-criteria`;
/// `sort-criteria = "(" sort-criterion *(SP sort-criterion) ")"`;
/// `search-criteria = charset 1*(SP search-key)`
pub(super) fn sort<'a>(cx: &Cx, i: &'a [u8], uid: bool) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, ret) = search_return_opts(cx, i)?;
    let (i, criteria) = paren_list(cx, i, false, sort_criterion)?;
    let (i, _) = sp(i)?;
    let (i, charset) = astring(i)?;
    let (i, _) = sp(i)?;
    let (i, search) = search_program(cx, i)?;
    Ok((
        i,
        CommandBody::Sort {
            uid,
            ret,
            criteria,
            charset,
            search,
        },
    ))
}

/// `sort-criterion = ["REVERSE" SP] sort-key`;
/// `sort-key = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO" /
///  "DISPLAYFROM" / "DISPLAYTO"`
fn sort_criterion(i: &[u8]) -> PResult<'_, SortCriterion> {
    let (i, reverse) = match keyword(i, "REVERSE") {
        Ok((rest, ())) => (sp(rest)?.0, true),
        Err(_) => (i, false),
    };
    let (rest, a) = atom(i)?;
    match SortKey::from_name(a.as_str()) {
        Some(key) => Ok((rest, SortCriterion { reverse, key })),
        None => soft(i),
    }
}

/// `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria`
pub(super) fn thread<'a>(cx: &Cx, i: &'a [u8], uid: bool) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (rest, a) = atom(i)?;
    let algorithm = match a.as_str().to_ascii_uppercase().as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        _ => return soft(i),
    };
    let (i, _) = sp(rest)?;
    let (i, charset) = astring(i)?;
    let (i, _) = sp(i)?;
    let (i, search) = search_program(cx, i)?;
    Ok((
        i,
        CommandBody::Thread {
            uid,
            algorithm,
            charset,
            search,
        },
    ))
}

/// After `PARTIAL`: `SP partial-range`; `partial-range = partial-range-first /
/// partial-range-last`; `partial-range-first = nz-number ":" nz-number`;
/// `partial-range-last = MINUS nz-number ":" MINUS nz-number`
pub(super) fn partial_opt(i: &[u8]) -> PResult<'_, SearchReturn> {
    let (i, _) = sp(i)?;
    let (i, from_end) = match i.first() {
        Some(b'-') => (&i[1..], true),
        _ => (i, false),
    };
    let (i, a) = nz_number(i)?;
    let i = match (i.first(), from_end) {
        (Some(b':'), _) => &i[1..],
        _ => return soft(i),
    };
    let i = match (i.first(), from_end) {
        (Some(b'-'), true) => &i[1..],
        (Some(b'-'), false) => return soft(i),
        (_, true) => return soft(i),
        _ => i,
    };
    let (i, b): (&[u8], NonZeroU32) = nz_number(i)?;
    Ok((i, SearchReturn::Partial(PartialRange::new(a, b, from_end))))
}

/// After `PREVIEW`: `SP "(" preview-mod *(SP preview-mod) ")"`; `preview-mod = "LAZY"`
/// (RFC 8970). Anything else after PREVIEW is not ours (fetch modifiers follow a lone
/// item the same way).
pub(super) fn preview_att(i: &[u8]) -> PResult<'_, crate::types::FetchAttribute> {
    let (i, _) = sp(i)?;
    let (i, _) = tag("(")(i)?;
    let (mut i, ()) = keyword(i, "LAZY")?;
    while let Ok((r, _)) = sp(i) {
        i = keyword(r, "LAZY")?.0;
    }
    let (i, _) = tag(")")(i)?;
    Ok((i, crate::types::FetchAttribute::Preview { lazy: true }))
}

/// After `EMAILID`/`THREADID`: `SP objectid`; `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`
pub(super) fn objectid(i: &[u8]) -> PResult<'_, crate::types::Atom> {
    let (i, _) = sp(i)?;
    let (rest, a) = atom(i)?;
    let ok = a.as_str().len() <= 255
        && a.as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok((rest, a)) } else { soft(i) }
}

#[cfg(test)]
mod tests {
    use crate::command::{CommandBody, Parsed, parse_command};
    use crate::sort::SortKey;
    use crate::types::SearchReturn;

    fn body(line: &str) -> Option<CommandBody> {
        match parse_command(format!("{line}\r\n").as_bytes()) {
            Ok(Parsed::Command(c)) => Some(c.body),
            _ => None,
        }
    }

    #[test]
    fn sort_and_thread_commands() {
        let Some(CommandBody::Sort {
            uid,
            ret,
            criteria,
            charset,
            ..
        }) = body("a UID SORT RETURN (MIN PARTIAL -1:-10) (REVERSE date displayFROM) utf-8 ALL")
        else {
            panic!("UID SORT did not parse");
        };
        assert!(uid);
        let ret = ret.expect("RETURN");
        assert_eq!(ret[0], SearchReturn::Min);
        assert!(matches!(ret[1], SearchReturn::Partial(p) if p.to_string() == "-1:-10"));
        assert_eq!(criteria.len(), 2);
        assert!(criteria[0].reverse && criteria[0].key == SortKey::Date);
        assert!(!criteria[1].reverse && criteria[1].key == SortKey::DisplayFrom);
        assert_eq!(charset.to_str(), Some("utf-8"));
        assert!(matches!(
            body("a THREAD references US-ASCII SEEN FROM x"),
            Some(CommandBody::Thread { uid: false, .. })
        ));
        assert!(matches!(
            body("a SEARCH RETURN (PARTIAL 1:100 COUNT) ALL"),
            Some(CommandBody::Search { .. })
        ));
        assert!(matches!(
            body("a UID FETCH 1:* (FLAGS) (PARTIAL -1:-30)"),
            Some(CommandBody::Fetch { .. })
        ));
    }

    #[test]
    fn preview_fetch_items() {
        use crate::types::FetchAttribute as F;
        let items = |line: &str| match body(line) {
            Some(CommandBody::Fetch {
                items, modifiers, ..
            }) => (items.expand(), modifiers.len()),
            other => panic!("{line:?}: {other:?}"),
        };
        assert_eq!(
            items("a FETCH 1 (PREVIEW (LAZY) FLAGS)"),
            (vec![F::Preview { lazy: true }, F::Flags], 0)
        );
        assert_eq!(
            items("a FETCH 1 preview"),
            (vec![F::Preview { lazy: false }], 0)
        );
        assert_eq!(
            items("a UID FETCH 1 PREVIEW (CHANGEDSINCE 5)"),
            (vec![F::Preview { lazy: false }], 1)
        );
        assert!(body("a FETCH 1 (PREVIEW (FAST))").is_none());
    }

    #[test]
    fn malformed_sort_and_thread_are_refused() {
        for line in [
            "a SORT (ARRIVAL) ALL",
            "a SORT () UTF-8 ALL",
            "a SORT (SUBJECT REVERSE) UTF-8 ALL",
            "a SORT (SPEED) UTF-8 ALL",
            "a SORT ARRIVAL UTF-8 ALL",
            "a SORT (ARRIVAL) UTF-8",
            "a THREAD UTF-8 ALL",
            "a THREAD SUBJECTS UTF-8 ALL",
            "a THREAD REFERENCES UTF-8",
            "a SEARCH RETURN (PARTIAL 0:5) ALL",
            "a SEARCH RETURN (PARTIAL -1:5) ALL",
            "a SEARCH RETURN (PARTIAL 1:-5) ALL",
            "a SEARCH RETURN (PARTIAL 5) ALL",
            "a SEARCH RETURN (PARTIAL) ALL",
        ] {
            assert!(body(line).is_none(), "{line:?} parsed");
        }
    }
}
