//! Table-driven tests of the view's update rules, in the manner of go-imap's tracker_test.

use std::sync::Arc;

use roost_storage::{
    Changes, Flags, KeywordSet, Mailbox, MailboxName, MailboxOptions, MessageInfo,
};

use super::{Update, View, date_time, ranges_to_set, set_ranges, uid_gaps, unix_time};

fn msg(uid: u32, flags: Flags) -> MessageInfo {
    MessageInfo {
        save_date: None,
        uid,
        flags,
        keywords: KeywordSet::default(),
        modseq: 1,
        internal_date: 0,
        size: 10,
        vsize: Some(10),
        pop3_uidl: None,
    }
}

fn mailbox(dir: &tempfile::TempDir) -> Arc<Mailbox> {
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    let name = MailboxName::new("INBOX").unwrap();
    Arc::new(Mailbox::open(name, dir.path().to_path_buf(), MailboxOptions::default()).unwrap())
}

struct Case {
    name: &'static str,
    known: &'static [u32],
    expunged: &'static [u32],
    /// (uid, seen)
    changed: &'static [(u32, bool)],
    allow_expunge: bool,
    want: &'static [Update],
    /// UIDs the client knows afterwards.
    after: &'static [u32],
}

const CASES: &[Case] = &[
    Case {
        name: "nothing",
        known: &[1, 2, 3],
        expunged: &[],
        changed: &[],
        allow_expunge: true,
        want: &[],
        after: &[1, 2, 3],
    },
    Case {
        name: "expunges are sent highest first so each number is valid",
        known: &[1, 2, 3, 4],
        expunged: &[2, 4],
        changed: &[],
        allow_expunge: true,
        want: &[Update::Expunge(4), Update::Expunge(2)],
        after: &[1, 3],
    },
    Case {
        name: "expunge held back during FETCH/STORE/SEARCH",
        known: &[1, 2, 3],
        expunged: &[2],
        changed: &[],
        allow_expunge: false,
        want: &[],
        after: &[1, 2, 3],
    },
    Case {
        name: "new mail is EXISTS even when expunges wait",
        known: &[1, 2],
        expunged: &[1],
        changed: &[(5, false)],
        allow_expunge: false,
        want: &[Update::Exists(3), Update::Recent(0)],
        after: &[1, 2, 5],
    },
    Case {
        name: "flag change of a known message",
        known: &[1, 2, 3],
        expunged: &[],
        changed: &[(2, true)],
        allow_expunge: true,
        want: &[Update::Flags(2)],
        after: &[1, 2, 3],
    },
    Case {
        name: "flag change reported with the number after expunges",
        known: &[1, 2, 3],
        expunged: &[1],
        changed: &[(3, true)],
        allow_expunge: true,
        want: &[Update::Expunge(1), Update::Flags(2)],
        after: &[2, 3],
    },
    Case {
        name: "expunged unknown UID and a vanished new message are ignored",
        known: &[1],
        expunged: &[7, 9],
        changed: &[],
        allow_expunge: true,
        want: &[],
        after: &[1],
    },
    Case {
        name: "unchanged flags (our own STORE) are not reported",
        known: &[1, 2],
        expunged: &[],
        changed: &[(1, false)],
        allow_expunge: true,
        want: &[],
        after: &[1, 2],
    },
    Case {
        name: "flag change of a message waiting to be expunged is not reported",
        known: &[1, 2],
        expunged: &[2],
        changed: &[(2, true)],
        allow_expunge: false,
        want: &[],
        after: &[1, 2],
    },
];

#[test]
fn update_rules() {
    let dir = tempfile::tempdir().unwrap();
    let mb = mailbox(&dir);
    for case in CASES {
        let known = case.known.iter().map(|&u| msg(u, Flags::EMPTY)).collect();
        let mut view = View::from_parts(Arc::clone(&mb), known, 1);
        let changes = Changes {
            highest_modseq: 2,
            expunged: case.expunged.to_vec(),
            changed: case
                .changed
                .iter()
                .map(|&(u, seen)| msg(u, if seen { Flags::SEEN } else { Flags::EMPTY }))
                .collect(),
            complete: true,
        };
        let got = view.apply(changes, case.allow_expunge);
        assert_eq!(got, case.want, "{}", case.name);
        let uids: Vec<u32> = view.messages().iter().map(|m| m.uid).collect();
        assert_eq!(uids, case.after, "{}", case.name);
    }
}

#[test]
fn held_expunges_are_sent_at_the_next_allowed_moment() {
    let dir = tempfile::tempdir().unwrap();
    let mb = mailbox(&dir);
    let mut view = View::from_parts(mb, vec![msg(1, Flags::EMPTY), msg(2, Flags::EMPTY)], 1);
    let first = Changes {
        highest_modseq: 2,
        expunged: vec![1],
        changed: vec![],
        complete: true,
    };
    assert_eq!(view.apply(first, false), vec![]);
    assert!(view.is_expunged(1));
    // Nothing new in the feed, but the held expunge goes out now.
    let none = Changes {
        highest_modseq: 2,
        complete: true,
        ..Changes::default()
    };
    assert_eq!(view.apply(none, true), vec![Update::Expunge(1)]);
    assert_eq!(view.seq_of(2), Some(1));
}

#[test]
fn resolve_sequence_and_uid_sets() {
    let dir = tempfile::tempdir().unwrap();
    let mb = mailbox(&dir);
    let view = View::from_parts(
        mb,
        [3, 5, 9].iter().map(|&u| msg(u, Flags::EMPTY)).collect(),
        1,
    );
    let set = |s: &str| crate::types::SeqSet::try_from(s).unwrap();
    assert_eq!(view.resolve(&set("2:*"), false, None), vec![2, 3]);
    assert_eq!(view.resolve(&set("*:1"), false, None), vec![1, 2, 3]);
    assert_eq!(view.resolve(&set("4:9"), true, None), vec![2, 3]);
    // `n:*` with n above the highest UID still names the highest (RFC 9051 6.4.8).
    assert_eq!(view.resolve(&set("100:*"), true, None), vec![3]);
    assert_eq!(view.resolve(&set("$"), true, Some(&[9, 4])), vec![3]);
    assert!(view.seq_out_of_range(&set("4")));
    assert!(!view.seq_out_of_range(&set("1:3")));
}

#[test]
fn date_times_round_trip() {
    for (t, text) in [
        (0, " 1-Jan-1970 00:00:00 +0000"),
        (951_782_400, "29-Feb-2000 00:00:00 +0000"),
        (1_700_000_000, "14-Nov-2023 22:13:20 +0000"),
    ] {
        let dt = date_time(t);
        assert_eq!(dt.to_string(), text);
        assert_eq!(unix_time(&dt), t);
    }
    let dt = crate::types::DateTime::try_from(" 1-Feb-1994 21:52:25 -0800").unwrap();
    assert_eq!(
        date_time(unix_time(&dt)).to_string(),
        " 2-Feb-1994 05:52:25 +0000"
    );
}

#[test]
fn with_qresync_expunges_are_reported_by_uid_highest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mb = mailbox(&dir);
    let mut view = View::from_parts(
        mb,
        [3, 5, 9].iter().map(|&u| msg(u, Flags::EMPTY)).collect(),
        1,
    );
    view.report_vanished();
    let gone = Changes {
        highest_modseq: 4,
        expunged: vec![3, 9, 77],
        changed: vec![],
        complete: true,
    };
    assert_eq!(view.apply(gone.clone(), false), vec![]);
    assert_eq!(
        view.apply(gone, true),
        vec![Update::Vanished(9), Update::Vanished(3)]
    );
    assert_eq!(view.seq_of(5), Some(1));
    assert_eq!(view.modseq(), 4);
}

/// An inclusive UID range.
type Range = (u32, u32);

/// Known answers for the range arithmetic behind `VANISHED (EARLIER)`.
#[test]
fn uid_gaps_and_set_ranges() {
    let set = |s: &str| crate::types::SeqSet::try_from(s).unwrap();
    let cases: &[(&str, u32, &[Range])] = &[
        ("1:10", 10, &[(1, 10)]),
        ("5:*", 8, &[(5, 8)]),
        ("*:5", 8, &[(5, 8)]),
        ("9:12", 8, &[]),
        ("7,1:3,2:5,20", 30, &[(1, 5), (7, 7), (20, 20)]),
        ("1:4294967295", 4294967295, &[(1, 4294967295)]),
    ];
    for (s, top, want) in cases {
        assert_eq!(set_ranges(&set(s), *top), *want, "{s} top {top}");
    }
    let gaps: &[(&[Range], &[u32], &[Range])] = &[
        (&[(1, 10)], &[], &[(1, 10)]),
        (&[(1, 10)], &[1, 2, 5, 10], &[(3, 4), (6, 9)]),
        (&[(1, 3), (5, 6)], &[4], &[(1, 3), (5, 6)]),
        // Adjacent singletons merge; present UIDs outside every range are ignored.
        (
            &[(2, 2), (3, 3), (4, 4), (9, 9)],
            &[1, 7],
            &[(2, 4), (9, 9)],
        ),
        (&[(1, 4294967295)], &[4294967295], &[(1, 4294967294)]),
        (
            &[(4294967295, 4294967295)],
            &[],
            &[(4294967295, 4294967295)],
        ),
        (&[(1, 5)], &[1, 2, 3, 4, 5], &[]),
    ];
    for (ranges, present, want) in gaps {
        assert_eq!(uid_gaps(ranges, present), *want, "{ranges:?} - {present:?}");
    }
    assert_eq!(
        ranges_to_set(&[(1, 3), (7, 7)]).map(|s| s.to_string()),
        Some("1:3,7".to_string())
    );
    assert_eq!(ranges_to_set(&[]), None);
}

#[test]
fn vanished_earlier_from_the_log_or_from_a_full_comparison() {
    let dir = tempfile::tempdir().unwrap();
    let mb = mailbox(&dir);
    // The client knows 3, 5 and 9 (9 gone but not yet reported); UIDNEXT is 10.
    let mut view = View::from_parts(
        mb,
        [3, 5, 9].iter().map(|&u| msg(u, Flags::EMPTY)).collect(),
        1,
    );
    view.pending_expunge.insert(9);
    let set = |s: &str| crate::types::SeqSet::try_from(s).unwrap();
    let log = |expunged: Vec<u32>, complete| Changes {
        highest_modseq: 9,
        expunged,
        changed: vec![],
        complete,
    };
    // From the log: only logged UIDs, within the set, not still counted, below UIDNEXT.
    assert_eq!(
        view.vanished_in(log(vec![8, 1, 2, 9, 12], true), None),
        vec![(1, 2), (8, 8)]
    );
    assert_eq!(
        view.vanished_in(log(vec![8, 1, 2], true), Some(&set("2:*"))),
        vec![(2, 2), (8, 8)]
    );
    // Log too short: every UID below UIDNEXT that the view lacks (RFC 7162 3.2.5.2
    // allows naming UIDs the client never knew).
    assert_eq!(
        view.vanished_in(log(vec![], false), None),
        vec![(1, 2), (4, 4), (6, 8)]
    );
    assert_eq!(
        view.vanished_in(log(vec![], false), Some(&set("4:6,100:*"))),
        vec![(4, 4), (6, 6)]
    );
}

#[test]
fn highest_modseq_is_news_only_once_and_never_past_a_held_expunge() {
    let dir = tempfile::tempdir().unwrap();
    let mb = mailbox(&dir);
    let mut view = View::from_parts(mb, vec![msg(1, Flags::EMPTY), msg(2, Flags::EMPTY)], 5);
    assert_eq!(view.take_modseq_news(), None);
    let gone = Changes {
        highest_modseq: 7,
        expunged: vec![1],
        changed: vec![],
        complete: true,
    };
    // Held back (FETCH may not announce it): the client must not skip past it.
    view.apply(gone, false);
    assert_eq!(view.take_modseq_news(), None);
    let none = Changes {
        highest_modseq: 7,
        complete: true,
        ..Changes::default()
    };
    view.apply(none.clone(), true);
    assert_eq!(view.take_modseq_news(), Some(7));
    view.apply(none, true);
    assert_eq!(view.take_modseq_news(), None);
}
