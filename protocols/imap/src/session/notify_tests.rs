//! NOTIFY's `selected` event list (RFC 5465 5.1, 3.1) and the METADATA events (5.6, 5.7)
//! on the sans-IO session, with real Maildirs and a second session making the changes.

use super::ImapSettings;
use super::ext_tests::{Fx, talk, text, two};

#[test]
fn selected_flag_changes_only_with_flagchange() {
    let fx = Fx::new();
    let (mut a, mut b) = two(&fx, 2);
    talk(
        &mut a,
        b"n NOTIFY SET (selected (MessageNew MessageExpunge))\r\n",
    );
    talk(&mut b, b"f STORE 1 +FLAGS.SILENT (\\Flagged)\r\n");
    assert_eq!(text(a.notify_update()), "", "no FlagChange asked");
    assert_eq!(talk(&mut a, b"o NOOP\r\n"), "o OK NOOP completed\r\n");
    fx.deliver("INBOX", 1);
    assert_eq!(text(a.notify_update()), "* 3 EXISTS\r\n");
    talk(
        &mut a,
        b"n NOTIFY SET (selected (MessageNew MessageExpunge FlagChange))\r\n",
    );
    talk(&mut b, b"f STORE 2 +FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(
        text(a.notify_update()),
        "* 2 FETCH (FLAGS (\\Seen) UID 2)\r\n"
    );
}

#[test]
fn selected_none_keeps_exists_and_expunge_for_message_numbers() {
    let fx = Fx::new();
    let (mut a, mut b) = two(&fx, 2);
    // No selected group is the same as `selected NONE` (RFC 5465 3.1).
    talk(
        &mut a,
        b"n NOTIFY SET (personal (MessageNew MessageExpunge))\r\n",
    );
    talk(&mut b, b"f STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
    talk(&mut b, b"x EXPUNGE\r\n");
    fx.deliver("INBOX", 1);
    talk(&mut b, b"f STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(
        text(a.notify_update()),
        "",
        "nothing live for the selected mailbox"
    );
    assert_eq!(
        talk(&mut a, b"o NOOP\r\n"),
        "* 1 EXPUNGE\r\n* 2 EXISTS\r\no OK NOOP completed\r\n"
    );
    talk(&mut a, b"n NOTIFY SET (selected NONE)\r\n");
    talk(&mut b, b"f STORE 2 +FLAGS.SILENT (\\Flagged)\r\n");
    assert_eq!(talk(&mut a, b"o NOOP\r\n"), "o OK NOOP completed\r\n");
    // Without NOTIFY, base IMAP: flag changes are reported.
    talk(&mut a, b"n NOTIFY NONE\r\n");
    talk(&mut b, b"f STORE 2 -FLAGS.SILENT (\\Flagged)\r\n");
    assert_eq!(
        talk(&mut a, b"o NOOP\r\n"),
        "* 2 FETCH (FLAGS () UID 3)\r\no OK NOOP completed\r\n"
    );
}

#[test]
fn metadata_changes_of_other_sessions_are_announced() {
    let fx = Fx::new();
    let mut a = fx.session(ImapSettings::default());
    let mut b = fx.session(ImapSettings::default());
    talk(&mut b, b"c CREATE Work\r\n");
    assert_eq!(
        talk(
            &mut a,
            b"n NOTIFY SET (mailboxes Work (MailboxMetadataChange ServerMetadataChange))\r\n"
        ),
        "n OK NOTIFY completed\r\n"
    );
    talk(&mut b, b"m SETMETADATA Work (/private/comment \"hi\")\r\n");
    assert_eq!(
        text(a.notify_update()),
        "* METADATA \"Work\" \"/private/comment\"\r\n"
    );
    talk(
        &mut b,
        b"m SETMETADATA \"\" (/shared/admin \"x\" /private/vendor/a \"y\")\r\n",
    );
    assert_eq!(
        text(a.notify_update()),
        "* METADATA \"\" \"/private/vendor/a\" \"/shared/admin\"\r\n"
    );
    // Removal is a change too; INBOX is not watched.
    talk(&mut b, b"m SETMETADATA Work (/private/comment NIL)\r\n");
    talk(&mut b, b"m SETMETADATA INBOX (/private/comment \"z\")\r\n");
    assert_eq!(
        text(a.notify_update()),
        "* METADATA \"Work\" \"/private/comment\"\r\n"
    );
    // The session's own change is not echoed (RFC 5465 5).
    talk(
        &mut a,
        b"m SETMETADATA Work (/private/comment \"mine\")\r\n",
    );
    assert_eq!(text(a.notify_update()), "");
}

#[test]
fn search_context_addto_follows_the_messagenew_fetch() {
    let fx = Fx::new();
    let (mut a, _b) = two(&fx, 2);
    talk(
        &mut a,
        b"n NOTIFY SET (selected (MessageNew (UID) MessageExpunge))\r\n",
    );
    talk(&mut a, b"t UID SEARCH RETURN (UPDATE) ALL\r\n");
    fx.deliver("INBOX", 1);
    // RFC 5465 section 7: EXISTS, then the FETCH, then the ESEARCH.
    assert_eq!(
        text(a.notify_update()),
        "* 3 EXISTS\r\n* 3 FETCH (UID 3)\r\n* ESEARCH (TAG \"t\") UID ADDTO (0 3)\r\n"
    );
}

/// RFC 5465 5.2: the MessageNew FETCH is for the new message also when another message
/// went away in the same update (the count of messages the client knew then shrank).
#[test]
fn messagenew_fetch_follows_an_expunge_in_the_same_update() {
    let fx = Fx::new();
    let (mut a, mut b) = two(&fx, 2);
    talk(
        &mut a,
        b"n NOTIFY SET (selected (MessageNew (UID) MessageExpunge))\r\n",
    );
    talk(&mut b, b"f STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
    talk(&mut b, b"x EXPUNGE\r\n");
    fx.deliver("INBOX", 1);
    assert_eq!(
        text(a.notify_update()),
        "* 1 EXPUNGE\r\n* 2 EXISTS\r\n* 2 FETCH (UID 3)\r\n"
    );
}
