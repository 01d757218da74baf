//! Parsers of the QUOTA (RFC 9208) and UNAUTHENTICATE (RFC 8437) commands.

use super::{BodyResult, CommandBody, Cx, astring, atom, number64, one_mailbox, sp, utf8_string};
use nom::bytes::complete::tag;

/// `getquota = "GETQUOTA" SP quota-root-name`
pub(super) fn getquota<'a>(_cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, root) = astring(i)?;
    let (i, root) = utf8_string(i, root.into_bytes())?;
    Ok((i, CommandBody::GetQuota(root)))
}

/// `getquotaroot = "GETQUOTAROOT" SP mailbox`
pub(super) fn getquotaroot<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, m) = one_mailbox(cx, i)?;
    Ok((i, CommandBody::GetQuotaRoot(m)))
}

/// `setquota = "SETQUOTA" SP quota-root-name SP setquota-list`
/// `setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"`
/// `setquota-resource = resource-name SP resource-limit`
pub(super) fn setquota<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, root) = astring(i)?;
    let (i, root) = utf8_string(i, root.into_bytes())?;
    let (mut i, _) = tag(" (")(i)?;
    let mut limits = Vec::new();
    while !i.starts_with(b")") {
        if !limits.is_empty() {
            (i, _) = sp(i)?;
        }
        let (rest, name) = atom(i)?;
        let (rest, _) = sp(rest)?;
        let (rest, n) = number64(rest)?;
        limits.push((name.as_str().to_ascii_uppercase(), n));
        if limits.len() > cx.limits.max_items {
            return super::hard(i, super::CommandErrorKind::TooManyItems);
        }
        i = rest;
    }
    Ok((&i[1..], CommandBody::SetQuota { root, limits }))
}
