//! UIDONLY (RFC 9586) rule by rule on the sans-IO session, byte for byte: which commands
//! get `BAD [UIDREQUIRED]` (sections 3, 3.2, 3.5, 3.7, 3.8) and which responses change
//! (sections 3.3, 3.4, 3.6).

use super::ImapSettings;
use super::ext_tests::{Fx, talk};

const REFUSED: &str = "message sequence numbers are not allowed after ENABLE UIDONLY";

/// A session with UIDONLY on, INBOX of `n` messages selected; what SELECT answered.
fn uidonly(fx: &Fx, n: usize) -> (super::ImapSession, String) {
    fx.deliver("INBOX", n);
    let mut s = fx.session(ImapSettings::default());
    assert_eq!(
        talk(&mut s, b"e ENABLE UIDONLY CONDSTORE QRESYNC\r\n"),
        "* ENABLED UIDONLY CONDSTORE QRESYNC\r\ne OK ENABLE completed\r\n"
    );
    let select = talk(&mut s, b"s SELECT INBOX\r\n");
    (s, select)
}

/// Sections 3.2 and 3.8: every command taking message numbers, SORT and THREAD too.
#[test]
fn commands_with_message_numbers_are_refused() {
    let fx = Fx::new();
    let (mut s, _) = uidonly(&fx, 2);
    for (line, name) in [
        ("FETCH 1 FLAGS", "FETCH"),
        ("STORE 1 +FLAGS (\\Seen)", "STORE"),
        ("SEARCH ALL", "SEARCH"),
        ("COPY 1 INBOX", "COPY"),
        ("MOVE 1 INBOX", "MOVE"),
        ("SORT (DATE) UTF-8 ALL", "SORT"),
        ("THREAD REFERENCES UTF-8 ALL", "THREAD"),
    ] {
        assert_eq!(
            talk(&mut s, format!("t {line}\r\n").as_bytes()),
            format!("t BAD [UIDREQUIRED] {name}: {REFUSED}\r\n"),
            "{line}"
        );
    }
}

/// Section 3.5: the `sequence-set` search key, also nested and in UID SORT and UID THREAD;
/// `UID` keys and `$` (the saved result, RFC 5182) stay allowed.
#[test]
fn sequence_set_search_keys_are_refused() {
    let fx = Fx::new();
    let (mut s, _) = uidonly(&fx, 2);
    for (line, name) in [
        ("UID SEARCH 1:2", "UID SEARCH"),
        ("UID SEARCH *", "UID SEARCH"),
        ("UID SEARCH NOT (SEEN 1)", "UID SEARCH"),
        ("UID SEARCH OR 1 UID 2", "UID SEARCH"),
        ("UID SEARCH RETURN (ALL) 1", "UID SEARCH"),
        ("UID SORT (DATE) UTF-8 1:2", "UID SORT"),
        ("UID THREAD REFERENCES UTF-8 1", "UID THREAD"),
    ] {
        assert_eq!(
            talk(&mut s, format!("t {line}\r\n").as_bytes()),
            format!("t BAD [UIDREQUIRED] {name}: {REFUSED}\r\n"),
            "{line}"
        );
    }
    assert_eq!(
        talk(&mut s, b"a UID SEARCH RETURN (SAVE) UID 2\r\n"),
        "a OK UID SEARCH completed\r\n"
    );
    assert_eq!(
        talk(&mut s, b"b UID SEARCH $ NOT DELETED\r\n"),
        "* SEARCH 2\r\nb OK UID SEARCH completed\r\n"
    );
    assert_eq!(
        talk(&mut s, b"c UID SORT (REVERSE SUBJECT) UTF-8 UID 1:*\r\n"),
        "* SORT 2 1\r\nc OK UID SORT completed\r\n"
    );
    assert_eq!(
        talk(&mut s, b"d UID THREAD ORDEREDSUBJECT UTF-8 ALL\r\n"),
        "* THREAD (1)(2)\r\nd OK UID THREAD completed\r\n"
    );
}

/// Section 3.7: the message sequence match data of QRESYNC names message numbers; SELECT
/// without it still answers, in UIDFETCH and VANISHED.
#[test]
fn qresync_sequence_match_data_is_refused() {
    let fx = Fx::new();
    let (mut s, select) = uidonly(&fx, 2);
    let validity = select
        .split("[UIDVALIDITY ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .expect("UIDVALIDITY")
        .to_string();
    assert_eq!(
        talk(
            &mut s,
            format!("q SELECT INBOX (QRESYNC ({validity} 1 1:2 (1:2 1:2)))\r\n").as_bytes()
        ),
        format!("q BAD [UIDREQUIRED] SELECT: {REFUSED}\r\n")
    );
    let out = talk(
        &mut s,
        format!("r EXAMINE INBOX (QRESYNC ({validity} 1 1:3))\r\n").as_bytes(),
    );
    assert!(out.contains("* 1 UIDFETCH (FLAGS () MODSEQ ("), "{out}");
    assert!(!out.contains(" FETCH "), "{out}");
}

/// Section 3 (no message number in any response): SELECT leaves out `[UNSEEN n]`, which
/// is one; EXISTS and RECENT are counts and stay (section 3.6).
#[test]
fn select_sends_no_unseen_message_number() {
    let fx = Fx::new();
    let (_, select) = uidonly(&fx, 2);
    assert!(!select.contains("UNSEEN"), "{select}");
    assert!(select.contains("* 2 EXISTS\r\n* 2 RECENT\r\n"), "{select}");
    // Without UIDONLY it is there.
    let mut plain = fx.session(ImapSettings::default());
    let out = talk(&mut plain, b"s SELECT INBOX\r\n");
    assert!(out.contains("* OK [UNSEEN 1] First unseen\r\n"), "{out}");
}

/// Sections 3.3 and 3.4 for what other sessions do: flag news and the FETCH of NOTIFY's
/// `MessageNew (fetch-att)` (RFC 5465 5.2) are UIDFETCH without the UID item, expunges are
/// VANISHED, EXISTS stays (section 3.6).
#[test]
fn news_from_other_sessions_are_uidfetch_and_vanished() {
    let fx = Fx::new();
    let (mut a, _) = uidonly(&fx, 2);
    let mut b = fx.session(ImapSettings::default());
    talk(&mut b, b"s SELECT INBOX\r\n");
    assert_eq!(
        talk(
            &mut a,
            b"n NOTIFY SET (selected (MessageNew (FLAGS) MessageExpunge FlagChange))\r\n"
        ),
        "n OK NOTIFY completed\r\n"
    );
    talk(&mut b, b"f STORE 1 +FLAGS.SILENT (\\Deleted)\r\n");
    talk(&mut b, b"x EXPUNGE\r\n");
    fx.deliver("INBOX", 1);
    let out = super::ext_tests::text(a.notify_update());
    let out: String = out
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("* OK [HIGHESTMODSEQ "))
        .collect();
    assert_eq!(
        out,
        "* VANISHED 1\r\n* 2 EXISTS\r\n* 2 RECENT\r\n* 3 UIDFETCH (FLAGS (\\Recent))\r\n"
    );
    talk(&mut b, b"f UID STORE 2 +FLAGS.SILENT (\\Flagged)\r\n");
    let out = super::ext_tests::text(a.notify_update());
    assert!(
        out.starts_with("* 2 UIDFETCH (FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{out}"
    );
}
