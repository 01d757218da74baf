//! Parser of CANCELUPDATE (RFC 5267 section 4.3, CONTEXT=SEARCH / CONTEXT=SORT); the
//! `UPDATE` return option itself is parsed with the other SEARCH return options.

use super::{BodyResult, CommandBody, CommandErrorKind, Cx, hard, quoted, sp};

/// `command-select =/ "CANCELUPDATE" 1*(SP quoted)` (RFC 5267 section 5)
pub(super) fn cancelupdate<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (mut i, _) = sp(i)?;
    let mut tags = Vec::new();
    loop {
        if tags.len() >= cx.limits.max_items {
            return hard(i, CommandErrorKind::TooManyItems);
        }
        let (rest, t) = quoted(i)?;
        // `quoted` has refused invalid UTF-8 already; lossy is only the infallible form.
        tags.push(String::from_utf8_lossy(&t).into_owned());
        match sp(rest) {
            Ok((r, _)) => i = r,
            Err(_) => return Ok((rest, CommandBody::CancelUpdate(tags))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::command::{CommandBody, Parsed, parse_command};
    use crate::types::SearchReturn;

    fn body(line: &[u8]) -> Result<CommandBody, String> {
        match parse_command(line) {
            Ok(Parsed::Command(c)) => Ok(c.body),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.message),
        }
    }

    #[test]
    fn cancelupdate_takes_one_or_more_quoted_tags() {
        assert_eq!(
            body(b"a CANCELUPDATE \"B01\" \"B02\"\r\n"),
            Ok(CommandBody::CancelUpdate(vec!["B01".into(), "B02".into()]))
        );
        assert!(body(b"a CANCELUPDATE\r\n").is_err());
        assert!(
            body(b"a CANCELUPDATE B01\r\n").is_err(),
            "the tags are quoted"
        );
        assert!(
            body(b"a CANCELUPDATE {3}\r\nB01\r\n").is_err(),
            "not literals"
        );
        assert!(body(b"a CANCELUPDATE \"B01\" \r\n").is_err());
    }

    #[test]
    fn update_is_a_search_and_sort_return_option() {
        match body(b"a UID SEARCH RETURN (COUNT UPDATE) UNSEEN\r\n") {
            Ok(CommandBody::Search { ret: Some(r), .. }) => {
                assert_eq!(r, vec![SearchReturn::Count, SearchReturn::Update])
            }
            other => panic!("{other:?}"),
        }
        match body(b"a SORT RETURN (update) (DATE) UTF-8 ALL\r\n") {
            Ok(CommandBody::Sort { ret: Some(r), .. }) => assert_eq!(r, vec![SearchReturn::Update]),
            other => panic!("{other:?}"),
        }
    }
}
