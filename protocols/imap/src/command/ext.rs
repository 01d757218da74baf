//! Parsers of CREATE-SPECIAL-USE (RFC 6154), METADATA (RFC 5464) and NOTIFY (RFC 5465),
//! kept apart from the core grammar.

use nom::bytes::complete::take_while1;

use super::{
    BodyResult, CommandBody, CommandErrorKind, Cx, PResult, astring, atom, close, fetch_att, hard,
    keyword, literal_announcement, mailbox, number, open, paren_list, quoted, soft, sp,
    starts_string, try_close,
};
use crate::types::{FetchAttribute, Mailbox};

/// `scope-opt` of GETMETADATA (RFC 5464 section 4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataDepth {
    /// `DEPTH 0`: the named entries only.
    Zero,
    /// `DEPTH 1`: and their children.
    One,
    /// `DEPTH infinity`: the whole subtree.
    Infinity,
}

/// Which mailboxes a NOTIFY event group covers (RFC 5465 section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyFilter {
    /// `selected`
    Selected,
    /// `selected-delayed`: expunges of the selected mailbox wait for a command allowing them.
    SelectedDelayed,
    /// `inboxes`
    Inboxes,
    /// `personal`
    Personal,
    /// `subscribed`
    Subscribed,
    /// `subtree mailboxes`
    Subtree(Vec<Mailbox>),
    /// `mailboxes mailboxes`
    Mailboxes(Vec<Mailbox>),
}

impl NotifyFilter {
    /// `selected` or `selected-delayed`: the group is about the selected mailbox.
    pub fn is_selected(&self) -> bool {
        matches!(self, NotifyFilter::Selected | NotifyFilter::SelectedDelayed)
    }
}

/// One NOTIFY event (RFC 5465 section 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    /// `MessageNew [(fetch-att ...)]`
    MessageNew(Vec<FetchAttribute>),
    /// `MessageExpunge`
    MessageExpunge,
    /// `FlagChange`
    FlagChange,
    /// `AnnotationChange`
    AnnotationChange,
    /// `MailboxName`
    MailboxName,
    /// `SubscriptionChange`
    SubscriptionChange,
    /// `MailboxMetadataChange`
    MailboxMetadataChange,
    /// `ServerMetadataChange`
    ServerMetadataChange,
    /// Any other event name, which the session refuses with `[BADEVENT]`.
    Other(String),
}

/// `event-group = "(" filter-mailboxes SP events ")"`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyGroup {
    /// The mailboxes.
    pub filter: NotifyFilter,
    /// The events; empty for `NONE`.
    pub events: Vec<NotifyEvent>,
}

/// `notify-set = "SET" [status-indicator] SP event-groups`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySet {
    /// `STATUS`: send the current STATUS of the watched mailboxes at once.
    pub status: bool,
    /// The event groups, in order.
    pub groups: Vec<NotifyGroup>,
}

/// `create = "CREATE" SP mailbox [create-params]`;
/// `create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"` (RFC 4466, RFC 6154)
pub(super) fn create<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, m) = mailbox(i)?;
    let Ok((rest, _)) = sp(i) else {
        return Ok((i, CommandBody::Create(m)));
    };
    let (rest, ()) = open(rest)?;
    let (rest, ()) = keyword(rest, "USE")?;
    let (rest, _) = sp(rest)?;
    let (rest, uses) = paren_list(cx, rest, true, |i| {
        let (r, _) = nom::bytes::complete::tag("\\")(i)?;
        let (r, a) = atom(r)?;
        Ok((r, format!("\\{}", a.as_str())))
    })?;
    let (rest, ()) = close(rest)?;
    Ok((rest, CommandBody::CreateSpecialUse { mailbox: m, uses }))
}

/// `entry = astring`: a slash-separated path under `/private` or `/shared` (RFC 5464 3.2).
fn entry(i: &[u8]) -> PResult<'_, String> {
    let (rest, a) = astring(i)?;
    let Ok(s) = String::from_utf8(a.into_bytes()) else {
        return hard(i, CommandErrorKind::BadUtf8);
    };
    let lower = s.to_ascii_lowercase();
    let valid = (lower == "/private"
        || lower == "/shared"
        || lower.starts_with("/private/")
        || lower.starts_with("/shared/"))
        && !s.contains("//")
        && !s.ends_with('/')
        && s.bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'*' && b != b'%');
    if !valid {
        return hard(
            i,
            CommandErrorKind::Invalid(crate::types::ValueError::Invalid(
                "metadata entry name (must be /private/... or /shared/..., printable ASCII)",
            )),
        );
    }
    Ok((rest, s))
}

/// `entries = entry / "(" entry *(SP entry) ")"`
fn entries<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, Vec<String>> {
    if i.first() == Some(&b'(') {
        paren_list(cx, i, false, entry)
    } else {
        let (r, e) = entry(i)?;
        Ok((r, vec![e]))
    }
}

/// `getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries`;
/// `getmetadata-option = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity")`
pub(super) fn getmetadata<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (mut i, _) = sp(i)?;
    let mut max_size = None;
    let mut depth = MetadataDepth::Zero;
    if i.first() == Some(&b'(') {
        enum Opt {
            MaxSize(u32),
            Depth(MetadataDepth),
        }
        let (rest, opts) = paren_list(cx, i, false, |i| {
            if let Ok((r, ())) = keyword(i, "MAXSIZE") {
                let (r, _) = sp(r)?;
                let (r, n) = number(r)?;
                return Ok((r, Opt::MaxSize(n)));
            }
            let (r, ()) = keyword(i, "DEPTH")?;
            let (r, _) = sp(r)?;
            if let Ok((r, ())) = keyword(r, "infinity") {
                return Ok((r, Opt::Depth(MetadataDepth::Infinity)));
            }
            match r.first() {
                Some(b'0') => Ok((&r[1..], Opt::Depth(MetadataDepth::Zero))),
                Some(b'1') => Ok((&r[1..], Opt::Depth(MetadataDepth::One))),
                _ => soft(r),
            }
        })?;
        for o in opts {
            match o {
                Opt::MaxSize(n) => max_size = Some(n),
                Opt::Depth(d) => depth = d,
            }
        }
        let (rest, _) = sp(rest)?;
        i = rest;
    }
    let (i, m) = mailbox(i)?;
    let (i, _) = sp(i)?;
    let (i, entries) = entries(cx, i)?;
    Ok((
        i,
        CommandBody::GetMetadata {
            mailbox: m,
            max_size,
            depth,
            entries,
        },
    ))
}

/// `value = nstring / literal8` (NUL allowed in a literal8)
fn value(i: &[u8]) -> PResult<'_, Option<Vec<u8>>> {
    if let Ok((r, ())) = keyword(i, "NIL") {
        return Ok((r, None));
    }
    if !starts_string(i) {
        return soft(i);
    }
    if i.first() == Some(&b'"') {
        let (r, v) = quoted(i)?;
        return Ok((r, Some(v)));
    }
    let (r, (n, _, binary)) = literal_announcement(i)?;
    let n = n as usize;
    if r.len() < n {
        return Err(nom::Err::Incomplete(nom::Needed::new(n - r.len())));
    }
    let data = &r[..n];
    if !binary && data.contains(&0) {
        return hard(r, CommandErrorKind::Nul);
    }
    Ok((&r[n..], Some(data.to_vec())))
}

/// `setmetadata = "SETMETADATA" SP mailbox SP entry-values`;
/// `entry-values = "(" entry-value *(SP entry-value) ")"`; `entry-value = entry SP value`
pub(super) fn setmetadata<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    let (i, m) = mailbox(i)?;
    let (i, _) = sp(i)?;
    let (i, list) = paren_list(cx, i, false, |i| {
        let (r, e) = entry(i)?;
        let (r, _) = sp(r)?;
        let (r, v) = value(r)?;
        Ok((r, (e, v)))
    })?;
    Ok((
        i,
        CommandBody::SetMetadata {
            mailbox: m,
            entries: list,
        },
    ))
}

/// `one-or-more-mailbox = mailbox / many-mailboxes`
fn mailboxes<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, Vec<Mailbox>> {
    if i.first() == Some(&b'(') {
        paren_list(cx, i, false, mailbox)
    } else {
        let (r, m) = mailbox(i)?;
        Ok((r, vec![m]))
    }
}

/// `filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" /
/// "subscribed" / "subtree" SP one-or-more-mailbox / "mailboxes" SP one-or-more-mailbox`
fn filter<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, NotifyFilter> {
    let (r, word) = take_while1(|b: u8| b.is_ascii_alphabetic() || b == b'-')(i)?;
    let f = match word.to_ascii_lowercase().as_slice() {
        b"selected" => NotifyFilter::Selected,
        b"selected-delayed" => NotifyFilter::SelectedDelayed,
        b"inboxes" => NotifyFilter::Inboxes,
        b"personal" => NotifyFilter::Personal,
        b"subscribed" => NotifyFilter::Subscribed,
        b"subtree" | b"mailboxes" => {
            let (r2, _) = sp(r)?;
            let (r2, list) = mailboxes(cx, r2)?;
            let f = if word.eq_ignore_ascii_case(b"subtree") {
                NotifyFilter::Subtree(list)
            } else {
                NotifyFilter::Mailboxes(list)
            };
            return Ok((r2, f));
        }
        _ => return soft(i),
    };
    Ok((r, f))
}

/// `event = message-event / mailbox-event / user-event / event-ext`
fn event<'a>(cx: &Cx, i: &'a [u8]) -> PResult<'a, NotifyEvent> {
    let (r, a) = atom(i)?;
    let e = match a.as_str().to_ascii_lowercase().as_str() {
        "messagenew" => {
            if let Ok((r2, _)) = sp(r)
                && r2.first() == Some(&b'(')
            {
                let (r2, atts) = paren_list(cx, r2, false, |i| fetch_att(cx, i))?;
                return Ok((r2, NotifyEvent::MessageNew(atts)));
            }
            NotifyEvent::MessageNew(Vec::new())
        }
        "messageexpunge" => NotifyEvent::MessageExpunge,
        "flagchange" => NotifyEvent::FlagChange,
        "annotationchange" => NotifyEvent::AnnotationChange,
        "mailboxname" => NotifyEvent::MailboxName,
        "subscriptionchange" => NotifyEvent::SubscriptionChange,
        "mailboxmetadatachange" => NotifyEvent::MailboxMetadataChange,
        "servermetadatachange" => NotifyEvent::ServerMetadataChange,
        _ => NotifyEvent::Other(a.as_str().to_string()),
    };
    Ok((r, e))
}

/// `notify = "NOTIFY" SP (notify-set / "NONE")`;
/// `event-groups = event-group *(SP event-group)`;
/// `events = ("(" event *(SP event) ")") / "NONE"`
pub(super) fn notify<'a>(cx: &Cx, i: &'a [u8]) -> BodyResult<'a> {
    let (i, _) = sp(i)?;
    if let Ok((r, ())) = keyword(i, "NONE") {
        return Ok((r, CommandBody::Notify(None)));
    }
    let (i, ()) = keyword(i, "SET")?;
    let (mut i, _) = sp(i)?;
    let mut status = false;
    if let Ok((r, ())) = keyword(i, "STATUS") {
        let (r, _) = sp(r)?;
        status = true;
        i = r;
    }
    let mut groups = Vec::new();
    loop {
        if groups.len() >= cx.limits.max_items {
            return hard(i, CommandErrorKind::TooManyItems);
        }
        let (r, ()) = open(i)?;
        let (r, f) = filter(cx, r)?;
        let (r, _) = sp(r)?;
        let (r, events) = if let Ok((r2, ())) = keyword(r, "NONE") {
            (r2, Vec::new())
        } else {
            paren_list(cx, r, false, |i| event(cx, i))?
        };
        let r = match try_close(r)? {
            Some(r) => r,
            None => return soft(r),
        };
        groups.push(NotifyGroup { filter: f, events });
        match sp(r) {
            Ok((r2, _)) => i = r2,
            Err(_) => {
                i = r;
                break;
            }
        }
    }
    Ok((i, CommandBody::Notify(Some(NotifySet { status, groups }))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Parsed, parse_command};

    fn body(line: &str) -> CommandBody {
        match parse_command(line.as_bytes()) {
            Ok(Parsed::Command(c)) => c.body,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn bad(line: &str) {
        assert!(parse_command(line.as_bytes()).is_err(), "{line:?} parsed");
    }

    #[test]
    fn known_answers() {
        assert_eq!(
            body("a CREATE Foo (USE (\\Sent \\Archive))\r\n"),
            CommandBody::CreateSpecialUse {
                mailbox: Mailbox::Other("Foo".into()),
                uses: vec!["\\Sent".into(), "\\Archive".into()],
            }
        );
        assert_eq!(
            body("a CREATE Foo\r\n"),
            CommandBody::Create(Mailbox::Other("Foo".into()))
        );
        assert_eq!(
            body("a GETMETADATA (DEPTH infinity MAXSIZE 1024) \"\" (/shared/comment /private)\r\n"),
            CommandBody::GetMetadata {
                mailbox: Mailbox::Other(String::new()),
                max_size: Some(1024),
                depth: MetadataDepth::Infinity,
                entries: vec!["/shared/comment".into(), "/private".into()],
            }
        );
        assert_eq!(
            body("a SETMETADATA INBOX (/private/comment ~{3}\r\na\0b /shared/x NIL)\r\n"),
            CommandBody::SetMetadata {
                mailbox: Mailbox::Inbox,
                entries: vec![
                    ("/private/comment".into(), Some(b"a\0b".to_vec())),
                    ("/shared/x".into(), None)
                ]
            }
        );
        assert_eq!(
            body(
                "a NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge)) \
                 (subtree (A \"B C\") (MailboxName)) (personal NONE)\r\n"
            ),
            CommandBody::Notify(Some(NotifySet {
                status: true,
                groups: vec![
                    NotifyGroup {
                        filter: NotifyFilter::Selected,
                        events: vec![
                            NotifyEvent::MessageNew(vec![
                                FetchAttribute::Uid,
                                FetchAttribute::Flags
                            ]),
                            NotifyEvent::MessageExpunge
                        ]
                    },
                    NotifyGroup {
                        filter: NotifyFilter::Subtree(vec![
                            Mailbox::Other("A".into()),
                            Mailbox::Other("B C".into())
                        ]),
                        events: vec![NotifyEvent::MailboxName]
                    },
                    NotifyGroup {
                        filter: NotifyFilter::Personal,
                        events: vec![]
                    },
                ]
            }))
        );
        assert_eq!(body("a NOTIFY NONE\r\n"), CommandBody::Notify(None));
    }

    /// The same commands in every chunk size through the framer give the same results.
    #[test]
    fn chunk_size_sweep() {
        use crate::reader::{CommandReader, Input};
        let stream: &[u8] = b"a CREATE Box (USE (\\Sent))\r\n\
            b SETMETADATA INBOX (/private/c {3}\r\nx\ty /shared/d ~{2}\r\n\0\x01)\r\n\
            c GETMETADATA (MAXSIZE 9) \"\" /private\r\n\
            d NOTIFY SET (subtree \"A B\" (MailboxName)) (selected (MessageNew (UID) MessageExpunge))\r\n";
        let collect = |chunk: usize| {
            let mut reader = CommandReader::default();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                reader.push(piece);
                while let Some(input) = reader.next_input() {
                    match input {
                        Input::Command(c) => out.push(c.body),
                        Input::SendContinuation => {}
                        other => panic!("chunk {chunk}: {other:?}"),
                    }
                }
            }
            out
        };
        let whole = collect(stream.len());
        assert_eq!(whole.len(), 4, "{whole:?}");
        assert!(matches!(
            &whole[1],
            CommandBody::SetMetadata { entries, .. } if entries[1].1.as_deref() == Some(&b"\0\x01"[..])
        ));
        for chunk in 1..stream.len() {
            assert_eq!(collect(chunk), whole, "chunk {chunk}");
        }
    }

    #[test]
    fn refused() {
        bad("a CREATE Foo (USE (Sent))\r\n");
        bad("a CREATE Foo (USE (\\Sent)\r\n");
        bad("a GETMETADATA INBOX /other/x\r\n");
        bad("a GETMETADATA INBOX /private//x\r\n");
        bad("a GETMETADATA INBOX /private/x/\r\n");
        bad("a GETMETADATA INBOX /private/*\r\n");
        bad("a GETMETADATA (DEPTH 2) INBOX /private/x\r\n");
        bad("a SETMETADATA INBOX (/private/x \"a\"\r\n");
        bad("a SETMETADATA INBOX (/private/x {3}\r\na\0b)\r\n");
        bad("a NOTIFY SET (nowhere (MessageNew))\r\n");
        bad("a NOTIFY SET (selected (MessageNew)\r\n");
        bad("a NOTIFY\r\n");
    }
}
