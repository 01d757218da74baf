//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4) on the sans-IO session: the
//! ADDTO/REMOVEFROM bytes another session's changes produce, on real Maildirs.

use roost_storage::MailboxName;

use super::ImapSettings;
use super::ext_tests::{Fx, talk, text, two};

#[test]
fn uid_search_update_reports_flag_changes_new_messages_and_expunges() {
    let fx = Fx::new();
    let (mut a, mut b) = two(&fx, 3);
    assert_eq!(
        talk(&mut a, b"t1 UID SEARCH RETURN (ALL UPDATE) UNSEEN\r\n"),
        "* ESEARCH (TAG \"t1\") UID ALL 1:3\r\nt1 OK UID SEARCH completed\r\n"
    );
    // Nothing changed: no update.
    assert_eq!(talk(&mut a, b"n NOOP\r\n"), "n OK NOOP completed\r\n");
    talk(&mut b, b"f UID STORE 2 +FLAGS.SILENT (\\Seen)\r\n");
    assert_eq!(
        talk(&mut a, b"n NOOP\r\n"),
        "* ESEARCH (TAG \"t1\") UID REMOVEFROM (0 2)\r\n\
         * 2 FETCH (FLAGS (\\Seen) UID 2)\r\n\
         n OK NOOP completed\r\n"
    );
    fx.deliver("INBOX", 2);
    assert_eq!(
        talk(&mut a, b"n NOOP\r\n"),
        "* 5 EXISTS\r\n* ESEARCH (TAG \"t1\") UID ADDTO (0 4:5)\r\nn OK NOOP completed\r\n"
    );
    talk(&mut b, b"d UID STORE 1,2 +FLAGS.SILENT (\\Deleted)\r\n");
    talk(&mut b, b"x EXPUNGE\r\n");
    let got = talk(&mut a, b"n NOOP\r\n");
    assert!(
        got.ends_with(
            "* ESEARCH (TAG \"t1\") UID REMOVEFROM (0 1)\r\n\
             * 2 EXPUNGE\r\n* 1 EXPUNGE\r\nn OK NOOP completed\r\n"
        ),
        "{got}"
    );
    assert_eq!(
        talk(&mut a, b"c CANCELUPDATE \"t1\"\r\n"),
        "c OK CANCELUPDATE completed\r\n"
    );
    fx.deliver("INBOX", 1);
    assert_eq!(
        talk(&mut a, b"n NOOP\r\n"),
        "* 4 EXISTS\r\nn OK NOOP completed\r\n"
    );
}

#[test]
fn sort_update_positions_follow_the_sort_order() {
    let fx = Fx::new();
    let (mut a, mut b) = two(&fx, 4);
    // The test messages' subjects are "0", "1", ...; ties go by arrival.
    assert_eq!(
        talk(
            &mut a,
            b"t2 UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNDELETED\r\n"
        ),
        "* ESEARCH (TAG \"t2\") UID ALL 1:4\r\nt2 OK UID SORT completed\r\n"
    );
    // Two more with subjects "0" and "1": the list becomes 1,5,2,6,3,4.
    fx.deliver("INBOX", 2);
    assert_eq!(
        talk(&mut a, b"n NOOP\r\n"),
        "* 6 EXISTS\r\n* ESEARCH (TAG \"t2\") UID ADDTO (2 5 4 6)\r\nn OK NOOP completed\r\n"
    );
    // UIDs 3 and 4 (positions 5-6) and 1 (position 1) leave, highest position first so
    // each position holds in the list as it is then.
    talk(&mut b, b"d UID STORE 1,3:4 +FLAGS.SILENT (\\Deleted)\r\n");
    let got = talk(&mut a, b"n NOOP\r\n");
    assert!(
        got.starts_with("* ESEARCH (TAG \"t2\") UID REMOVEFROM (5 3:4 1 1)\r\n* 1 FETCH"),
        "{got}"
    );
}

#[test]
fn sequence_number_search_updates_and_idle() {
    let fx = Fx::new();
    let (mut a, _b) = two(&fx, 2);
    assert_eq!(
        talk(&mut a, b"t3 SEARCH RETURN (COUNT UPDATE) ALL\r\n"),
        "* ESEARCH (TAG \"t3\") COUNT 2\r\nt3 OK SEARCH completed\r\n"
    );
    assert_eq!(talk(&mut a, b"i IDLE\r\n"), "+ idling\r\n");
    fx.deliver("INBOX", 1);
    assert_eq!(
        text(a.idle_update()),
        "* 3 EXISTS\r\n* ESEARCH (TAG \"t3\") ADDTO (0 3)\r\n"
    );
    // Leaving the mailbox ends its contexts.
    talk(&mut a, b"DONE\r\n");
    talk(&mut a, b"u UNSELECT\r\n");
    talk(&mut a, b"s SELECT INBOX\r\n");
    fx.deliver("INBOX", 1);
    assert_eq!(
        talk(&mut a, b"n NOOP\r\n"),
        "* 4 EXISTS\r\nn OK NOOP completed\r\n"
    );
}

#[test]
fn too_many_contexts_answer_noupdate_and_bad_combinations_are_refused() {
    let fx = Fx::new();
    let settings = ImapSettings {
        max_search_contexts: 1,
        ..ImapSettings::default()
    };
    fx.deliver("INBOX", 1);
    let mut a = fx.session(settings);
    talk(&mut a, b"s SELECT INBOX\r\n");
    // UPDATE alone answers the correlator only (RFC 4731's default ALL is for `()`).
    assert_eq!(
        talk(&mut a, b"t1 UID SEARCH RETURN (UPDATE) ALL\r\n"),
        "* ESEARCH (TAG \"t1\") UID\r\nt1 OK UID SEARCH completed\r\n"
    );
    assert_eq!(
        talk(&mut a, b"t2 UID SEARCH RETURN (ALL UPDATE) ALL\r\n"),
        "* ESEARCH (TAG \"t2\") UID ALL 1\r\n\
         * NO [NOUPDATE \"t2\"] Too many search contexts\r\n\
         t2 OK UID SEARCH completed\r\n"
    );
    // RFC 5267 4.3: a tag still naming a context cannot start another.
    assert_eq!(
        talk(&mut a, b"t1 UID SEARCH RETURN (UPDATE) ALL\r\n"),
        "t1 BAD Tag reuse\r\n"
    );
    // UPDATE does not interact with the other options: PARTIAL and SAVE answer as usual.
    assert_eq!(
        talk(
            &mut a,
            b"t3 UID SEARCH RETURN (SAVE PARTIAL 1:1 UPDATE) ALL\r\n"
        ),
        "* ESEARCH (TAG \"t3\") UID PARTIAL (1:1 1)\r\n\
         * NO [NOUPDATE \"t3\"] Too many search contexts\r\n\
         t3 OK UID SEARCH completed\r\n"
    );
    let user = fx.store.user("alice").expect("user");
    let inbox = user
        .open(&MailboxName::new("INBOX").expect("name"))
        .expect("open");
    inbox
        .deliver(&mut &b"Subject: x\n\nx\n"[..], 1 << 20)
        .expect("deliver");
    let got = talk(&mut a, b"n NOOP\r\n");
    assert!(
        got.contains("* ESEARCH (TAG \"t1\") UID ADDTO (0 2)\r\n"),
        "{got}"
    );
    assert!(!got.contains("t2"), "{got}");
    let caps = talk(&mut a, b"c CAPABILITY\r\n");
    assert!(caps.contains(" CONTEXT=SEARCH CONTEXT=SORT "), "{caps}");
}

#[test]
fn sequence_number_removefrom_goes_before_the_expunge() {
    let fx = Fx::new();
    let (mut a, mut b) = two(&fx, 3);
    assert_eq!(
        talk(&mut a, b"t4 SEARCH RETURN (UPDATE ALL) 2:3\r\n"),
        "* ESEARCH (TAG \"t4\") ALL 2:3\r\nt4 OK SEARCH completed\r\n"
    );
    talk(&mut b, b"d UID STORE 2 +FLAGS.SILENT (\\Deleted)\r\n");
    talk(&mut b, b"x EXPUNGE\r\n");
    // Message 2 leaves as number 2, before the EXPUNGE renumbers; `2:3` now matches only
    // UID 3 (message 3, now 2), which was in the result already.
    let got = talk(&mut a, b"n NOOP\r\n");
    assert!(
        got.starts_with("* ESEARCH (TAG \"t4\") REMOVEFROM (0 2)\r\n* 2 EXPUNGE\r\n"),
        "{got}"
    );
    assert_eq!(
        talk(&mut a, b"c CANCELUPDATE \"t4\" \"nothing\"\r\n"),
        "c NO Unknown tag \"nothing\"\r\n"
    );
    assert_eq!(
        talk(&mut a, b"c CANCELUPDATE \"t4\"\r\n"),
        "c NO Unknown tag \"t4\"\r\n",
        "cancelled by the first one"
    );
}

#[test]
fn own_expunge_removes_before_the_expunge_responses() {
    let fx = Fx::new();
    let (mut a, _b) = two(&fx, 3);
    talk(&mut a, b"t5 SEARCH RETURN (UPDATE) ALL\r\n");
    talk(&mut a, b"f STORE 2 +FLAGS.SILENT (\\Deleted)\r\n");
    assert_eq!(
        talk(&mut a, b"x EXPUNGE\r\n"),
        "* ESEARCH (TAG \"t5\") REMOVEFROM (0 2)\r\n* 2 EXPUNGE\r\nx OK EXPUNGE completed\r\n"
    );
    // MOVE expunges too.
    talk(&mut a, b"c CREATE Other\r\n");
    let got = talk(&mut a, b"m MOVE 1 Other\r\n");
    assert!(
        got.contains("* ESEARCH (TAG \"t5\") REMOVEFROM (0 1)\r\n* 1 EXPUNGE\r\n"),
        "{got}"
    );
}

/// 26-Nov-2026 10:00:00 +0000, the INTERNALDATE of the first message of the time tests.
const D: i64 = 1_795_687_200;

/// `a` and `b` on INBOX holding two messages dated D and D + 100 seconds.
fn dated_pair(fx: &Fx) -> (super::ImapSession, super::ImapSession) {
    let (mut a, mut b) = two(fx, 0);
    for date in ["26-Nov-2026 10:00:00 +0000", "26-Nov-2026 10:01:40 +0000"] {
        let cmd = format!("p APPEND INBOX \"{date}\" {{9+}}\r\nSubject: \r\n");
        assert!(talk(&mut b, cmd.as_bytes()).ends_with("APPEND completed\r\n"));
    }
    assert_eq!(
        talk(&mut a, b"n NOOP\r\n"),
        "* 2 EXISTS\r\nn OK NOOP completed\r\n"
    );
    (a, b)
}

fn at(secs: i64) -> Option<std::time::SystemTime> {
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs as u64))
}

#[test]
fn younger_and_older_results_follow_the_clock_after_commands_and_in_idle() {
    let fx = Fx::new();
    let (mut a, _b) = dated_pair(&fx);
    a.set_fake_now(D + 130);
    assert_eq!(
        talk(&mut a, b"t1 UID SEARCH RETURN (ALL UPDATE) YOUNGER 60\r\n"),
        "* ESEARCH (TAG \"t1\") UID ALL 2\r\nt1 OK UID SEARCH completed\r\n"
    );
    // Between commands without NOTIFY nothing may go out: no wake-up wanted.
    assert_eq!(a.context_deadline(), None);
    a.set_fake_now(D + 159);
    assert_eq!(talk(&mut a, b"n NOOP\r\n"), "n OK NOOP completed\r\n");
    // Message 2 (D + 100) stops being younger than 60 seconds at D + 160.
    a.set_fake_now(D + 160);
    assert_eq!(
        talk(&mut a, b"n NOOP\r\n"),
        "* ESEARCH (TAG \"t1\") UID REMOVEFROM (0 2)\r\nn OK NOOP completed\r\n"
    );
    // A sorted, message-number result: both become older than 200 seconds, one by one.
    assert_eq!(
        talk(
            &mut a,
            b"t2 SORT RETURN (ALL UPDATE) (REVERSE ARRIVAL) UTF-8 OLDER 200\r\n"
        ),
        "* ESEARCH (TAG \"t2\")\r\nt2 OK SORT completed\r\n"
    );
    assert_eq!(talk(&mut a, b"i IDLE\r\n"), "+ idling\r\n");
    // t1 has no crossing left; t2's next is message 1 at D + 200.
    assert_eq!(a.context_deadline(), at(D + 200));
    a.set_fake_now(D + 199);
    assert_eq!(text(a.context_tick()), "");
    a.set_fake_now(D + 200);
    assert_eq!(
        text(a.context_tick()),
        "* ESEARCH (TAG \"t2\") ADDTO (1 1)\r\n"
    );
    assert_eq!(a.context_deadline(), at(D + 300));
    a.set_fake_now(D + 300);
    assert_eq!(
        text(a.context_tick()),
        "* ESEARCH (TAG \"t2\") ADDTO (1 2)\r\n"
    );
    assert_eq!(a.context_deadline(), None);
    assert_eq!(talk(&mut a, b"DONE\r\n"), "i OK IDLE terminated\r\n");
}

#[test]
fn time_wake_ups_only_for_time_contexts_and_where_updates_may_go_out() {
    let fx = Fx::new();
    let (mut a, mut b) = dated_pair(&fx);
    a.set_fake_now(D + 10);
    talk(&mut a, b"t1 SEARCH RETURN (UPDATE) UNSEEN\r\n");
    assert_eq!(talk(&mut a, b"i IDLE\r\n"), "+ idling\r\n");
    assert_eq!(a.context_deadline(), None, "no time keys, no wake-up");
    talk(&mut a, b"DONE\r\n");
    // Nested under NOT and OR the keys still count.
    talk(
        &mut a,
        b"t2 SEARCH RETURN (UPDATE) OR SEEN NOT OLDER 30\r\n",
    );
    assert_eq!(
        a.context_deadline(),
        None,
        "between commands without NOTIFY"
    );
    assert_eq!(
        talk(
            &mut a,
            b"f NOTIFY SET (selected (MessageNew MessageExpunge))\r\n"
        ),
        "f OK NOTIFY completed\r\n"
    );
    assert_eq!(a.context_deadline(), at(D + 30));
    a.set_fake_now(D + 30);
    assert_eq!(
        text(a.context_tick()),
        "* ESEARCH (TAG \"t2\") REMOVEFROM (0 1)\r\n"
    );
    // A new message moves the next crossing to its own date.
    let cmd = b"p APPEND INBOX \"26-Nov-2026 10:02:00 +0000\" {9+}\r\nSubject: \r\n";
    assert!(talk(&mut b, cmd).ends_with("APPEND completed\r\n"));
    a.set_fake_now(D + 120);
    let got = text(a.notify_update());
    assert_eq!(
        got,
        "* 3 EXISTS\r\n* ESEARCH (TAG \"t1\") ADDTO (0 3)\r\n* ESEARCH (TAG \"t2\") ADDTO (0 3)\r\n"
    );
    assert_eq!(a.context_deadline(), at(D + 130));
    talk(&mut a, b"c CANCELUPDATE \"t2\"\r\n");
    assert_eq!(a.context_deadline(), None);
}
