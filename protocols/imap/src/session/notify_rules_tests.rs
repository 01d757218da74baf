//! NOTIFY (RFC 5465) rules checked one by one against the RFC text on the sans-IO session:
//! the command's own checks (3.1, 5, 6.1) and the implicit NOOP of NOTIFY SET (3.1).

use super::ext_tests::{Fx, talk, two};

/// Every event Roost supports, in the order it names them in `[BADEVENT (...)]`.
const SUPPORTED: &str = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange \
                         MailboxMetadataChange ServerMetadataChange";

/// 3.1: an unsupported event gets a tagged NO, not BAD, whose BADEVENT code "MUST list
/// names of all events supported by the server"; AnnotationChange (RFC 5257 ANNOTATE,
/// which Roost lacks) is one, as is an unknown event name.
#[test]
fn unsupported_events_get_no_badevent_with_the_supported_ones() {
    let fx = Fx::new();
    let (mut a, _b) = two(&fx, 1);
    for events in [
        "MessageNew MessageExpunge AnnotationChange",
        "MessageNew MessageExpunge FlagChange AnnotationChange",
        "MailboxName XUnknownEvent",
    ] {
        assert_eq!(
            talk(
                &mut a,
                format!("y NOTIFY SET (personal ({events}))\r\n").as_bytes()
            ),
            format!("y NO [BADEVENT ({SUPPORTED})] Unsupported NOTIFY events\r\n"),
            "{events}"
        );
    }
}

/// 6.1: "Only one of the mailbox specifiers affecting the currently selected mailbox can
/// be specified", and "It is an error to specify other types of events with either the
/// SELECTED or the SELECTED-DELAYED selector" (the ABNF allows only message events there).
#[test]
fn selected_specifiers_take_one_group_of_message_events() {
    let fx = Fx::new();
    let (mut a, _b) = two(&fx, 1);
    for line in [
        "NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed NONE)",
        "NOTIFY SET (selected NONE) (selected (MessageNew MessageExpunge))",
    ] {
        assert_eq!(
            talk(&mut a, format!("x {line}\r\n").as_bytes()),
            "x BAD Only one of selected and selected-delayed may be given\r\n",
            "{line}"
        );
    }
    for events in [
        "MailboxName",
        "SubscriptionChange",
        "MailboxMetadataChange",
        "ServerMetadataChange",
        "MessageNew MessageExpunge MailboxName",
    ] {
        for filter in ["selected", "selected-delayed"] {
            assert_eq!(
                talk(
                    &mut a,
                    format!("x NOTIFY SET ({filter} ({events}))\r\n").as_bytes()
                ),
                format!("x BAD {filter} takes only message events\r\n"),
                "{filter} {events}"
            );
        }
    }
    assert_eq!(
        talk(
            &mut a,
            b"x NOTIFY SET (selected (MessageNew MessageExpunge)) (personal (MailboxName))\r\n"
        ),
        "x OK NOTIFY completed\r\n"
    );
}

/// 3.1: "A successful NOTIFY SET command MUST cause the server to immediately return any
/// accumulated changes to the currently selected mailbox (if any), such as flag changes
/// and new or expunged messages. Thus, a successful NOTIFY SET command implies an implicit
/// NOOP command."
#[test]
fn notify_set_is_an_implicit_noop() {
    let fx = Fx::new();
    let (mut a, mut b) = two(&fx, 2);
    talk(&mut b, b"f STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
    talk(&mut b, b"x EXPUNGE\r\n");
    talk(&mut b, b"f STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
    fx.deliver("INBOX", 1);
    assert_eq!(
        talk(
            &mut a,
            b"n NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))\r\n"
        ),
        "* 1 EXPUNGE\r\n* 1 FETCH (FLAGS (\\Seen) UID 2)\r\n* 2 EXISTS\r\n\
         n OK NOTIFY completed\r\n"
    );
}

/// Section 7: with CONTEXT=SEARCH/SORT, `UPDATE (fetch-att ...)` FETCHes those items for a
/// new message that joins the result, after its EXISTS and before the ESEARCH ADDTO; a
/// message that joins by a flag change gets no such FETCH ("No untagged FETCH responses
/// SHOULD be sent if a message becomes a member of UPDATE SEARCH due to flag changes").
#[test]
fn update_with_fetch_atts_fetches_new_members() {
    let fx = Fx::new();
    let (mut a, mut b) = two(&fx, 2);
    assert_eq!(
        talk(
            &mut a,
            b"t SEARCH RETURN (COUNT UPDATE (BODY.PEEK[HEADER.FIELDS (SUBJECT)])) UNSEEN\r\n"
        ),
        "* ESEARCH (TAG \"t\") COUNT 2\r\nt OK SEARCH completed\r\n"
    );
    talk(&mut b, b"f STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(
        talk(&mut a, b"o NOOP\r\n"),
        "* ESEARCH (TAG \"t\") REMOVEFROM (0 1)\r\n* 1 FETCH (FLAGS (\\Seen) UID 1)\r\n\
         o OK NOOP completed\r\n"
    );
    talk(&mut b, b"f STORE 1 -FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(
        talk(&mut a, b"o NOOP\r\n"),
        "* 1 FETCH (FLAGS () UID 1)\r\n* ESEARCH (TAG \"t\") ADDTO (0 1)\r\n\
         o OK NOOP completed\r\n"
    );
    fx.deliver("INBOX", 1);
    assert_eq!(
        talk(&mut a, b"o NOOP\r\n"),
        "* 3 EXISTS\r\n* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {14}\r\nSubject: 0\r\n\r\n)\r\n\
         * ESEARCH (TAG \"t\") ADDTO (0 3)\r\no OK NOOP completed\r\n"
    );
    // The same for UID SORT, live through NOTIFY.
    talk(&mut a, b"c CANCELUPDATE \"t\"\r\n");
    talk(
        &mut a,
        b"n NOTIFY SET (selected (MessageNew MessageExpunge))\r\n",
    );
    assert_eq!(
        talk(
            &mut a,
            b"s UID SORT RETURN (UPDATE (FLAGS)) (SUBJECT) UTF-8 ALL\r\n"
        ),
        "* ESEARCH (TAG \"s\") UID\r\ns OK UID SORT completed\r\n"
    );
    fx.deliver("INBOX", 1);
    assert_eq!(
        super::ext_tests::text(a.notify_update()),
        "* 4 EXISTS\r\n* 4 FETCH (UID 4 FLAGS ())\r\n* ESEARCH (TAG \"s\") UID ADDTO (3 4)\r\n"
    );
}

/// 5.2: "A FETCH response SHOULD NOT be generated for a new message created by the client
/// on this particular connection" (APPEND or COPY to the selected mailbox); a delivery in
/// the same sync still gets its FETCH.
#[test]
fn own_appends_and_copies_get_no_messagenew_fetch() {
    let fx = Fx::new();
    let (mut a, _b) = two(&fx, 1);
    talk(
        &mut a,
        b"n NOTIFY SET (selected (MessageNew (UID) MessageExpunge))\r\n",
    );
    let out = talk(&mut a, b"p APPEND INBOX {3+}\r\nabc\r\n");
    assert!(out.starts_with("* 2 EXISTS\r\np OK [APPENDUID "), "{out}");
    let out = talk(&mut a, b"c UID COPY 1 INBOX\r\n");
    assert!(out.starts_with("* 3 EXISTS\r\nc OK [COPYUID "), "{out}");
    fx.deliver("INBOX", 1);
    assert_eq!(
        super::ext_tests::text(a.notify_update()),
        "* 4 EXISTS\r\n* 4 FETCH (UID 4)\r\n"
    );
}

/// 5.8: when new mailboxes take the watch list over `imap.notify_max_mailboxes`, the
/// server "MUST notify these clients by sending an untagged OK [NOTIFICATIONOVERFLOW]
/// response and behave as if a NOTIFY NONE command had just been received".
#[test]
fn growing_past_the_limit_sends_notificationoverflow_and_stops() {
    let fx = Fx::new();
    let mut a = fx.session(super::ImapSettings {
        notify_max_mailboxes: 2,
        ..super::ImapSettings::default()
    });
    let mut b = fx.session(super::ImapSettings::default());
    talk(&mut b, b"c CREATE Work\r\nd CREATE Work.a\r\n");
    assert_eq!(
        talk(
            &mut a,
            b"n NOTIFY SET (subtree Work (MessageNew MessageExpunge MailboxName))\r\n"
        ),
        "n OK NOTIFY completed\r\n"
    );
    talk(&mut b, b"e CREATE Work.b\r\n");
    assert_eq!(
        super::ext_tests::text(a.notify_update()),
        "* OK [NOTIFICATIONOVERFLOW] Too many mailboxes to watch, NOTIFY is off\r\n"
    );
    assert!(a.notify_watches().is_empty());
    talk(&mut b, b"f CREATE Work.c\r\n");
    assert_eq!(super::ext_tests::text(a.notify_update()), "");
}

/// 6.5 and 6.6: the names of `subtree` and `mailboxes` are mailbox names, not LIST
/// patterns ("The server MUST NOT do a wildcard expansion"): `W%` covers no `Work`.
#[test]
fn subtree_and_mailboxes_names_are_not_patterns() {
    let fx = Fx::new();
    let mut a = fx.session(super::ImapSettings::default());
    let mut b = fx.session(super::ImapSettings::default());
    talk(&mut b, b"c CREATE Work\r\nd CREATE Work.a\r\n");
    for filter in [
        "subtree \"W%\"",
        "subtree \"W*\"",
        "mailboxes \"Work.%\"",
        "mailboxes (\"W*\" Nope)",
    ] {
        assert_eq!(
            talk(
                &mut a,
                format!("n NOTIFY SET STATUS ({filter} (MessageNew MessageExpunge))\r\n")
                    .as_bytes()
            ),
            "n OK NOTIFY completed\r\n",
            "{filter}"
        );
    }
    let out = talk(
        &mut a,
        b"n NOTIFY SET STATUS (subtree Work (MessageNew MessageExpunge))\r\n",
    );
    assert!(out.contains("* STATUS Work.a ("), "{out}");
}

/// 6.3: `roost deliver --mailbox` can deliver into any mailbox, so the set of inboxes is
/// not easily computed and `inboxes` is `personal` ("it MUST treat 'inboxes' as equivalent
/// to 'personal'"), as Dovecot 2.3.19 does.
#[test]
fn inboxes_is_personal() {
    let fx = Fx::new();
    let mut a = fx.session(super::ImapSettings::default());
    talk(&mut a, b"c CREATE Work\r\n");
    let out = talk(
        &mut a,
        b"n NOTIFY SET STATUS (inboxes (MessageNew MessageExpunge))\r\n",
    );
    assert!(out.contains("* STATUS INBOX ("), "{out}");
    assert!(out.contains("* STATUS Work ("), "{out}");
}
