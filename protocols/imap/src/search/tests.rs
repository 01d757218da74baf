use roost_storage::{FlagOp, Flags};

use super::*;
use crate::command::{CommandBody, Parsed, parse_command};
use crate::fetch::testbox::TestBox;

// 2019-01-03 12:00:00 UTC
const JAN3: i64 = 1_546_516_800;
const DAY: i64 = 86_400;
const NOW: i64 = JAN3 + 30 * DAY;

fn key(text: &str) -> SearchKey {
    let line = format!("a SEARCH {text}\r\n");
    match parse_command(line.as_bytes()) {
        Ok(Parsed::Command(c)) => match c.body {
            CommandBody::Search { criteria, .. } => criteria,
            other => panic!("{text}: {other:?}"),
        },
        other => panic!("{text}: {other:?}"),
    }
}

fn astr(s: &str) -> AString {
    AString::try_from(s).unwrap()
}

const M1: &[u8] = b"From: Alice <alice@example.org>\nTo: bob@example.com\nCc: carol@example.net\n\
Subject: Hello world\nDate: Thu, 03 Jan 2019 12:00:00 +0000\n\nFirst body with apples\n";
const M2: &[u8] = b"From: =?ISO-8859-1?Q?Andr=E9?= <andre@example.fr>\nTo: alice@example.org\n\
Bcc: secret@example.org\nSubject: =?UTF-8?B?w4RyZ2Vy?= report\n\
Date: Sat, 05 Jan 2019 23:30:00 -0800\nX-Priority: 1\nMIME-Version: 1.0\n\
Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n\
caf=E9 au lait\n";
const M3: &[u8] = b"From: robot@example.com\nSubject: parts\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=xx\n\n--xx\nContent-Type: text/plain\n\
Content-Transfer-Encoding: base64\n\nYmFuYW5hcyBpbiBiYXNlNjQ=\n--xx\n\
Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n\
c2VjcmV0d29yZA==\n--xx--\n";

/// Four messages covering flags, keywords, dates, sizes, encodings and structure.
fn fixture() -> (TestBox, Vec<MessageInfo>) {
    let tb = TestBox::new();
    tb.add(M1, Flags::SEEN.union(Flags::ANSWERED), &["work"], JAN3);
    tb.add(M2, Flags::FLAGGED, &["$Junk"], JAN3 + 2 * DAY + 3600);
    tb.add(
        M3,
        Flags::DELETED.union(Flags::DRAFT).union(Flags::PASSED),
        &[],
        JAN3 + 10 * DAY,
    );
    let big = format!(
        "Subject: big\nDate: 1 Feb 99 10:00 GMT\n\n{}\n",
        "x".repeat(5000)
    );
    tb.add(big.as_bytes(), Flags::default(), &[], NOW - 100);
    // A later change gives message 1 the highest modseq.
    tb.mailbox
        .store(&[1], FlagOp::Add, Flags::default(), &["later".into()], None)
        .unwrap();
    let m = tb.messages();
    (tb, m)
}

fn run(tb: &TestBox, m: &[MessageInfo], saved: Option<&[u32]>, k: &SearchKey) -> Vec<u32> {
    let names = tb.mailbox.keyword_names();
    let env = SearchEnv {
        mailbox: &tb.mailbox,
        keyword_names: &names,
        messages: m,
        // UIDs 3 and 4 are new to this session.
        recent_from_uid: 3,
        saved,
        now: NOW,
    };
    search(&env, k).unwrap_or_else(|e| panic!("{k:?}: {e}"))
}

#[test]
fn key_table() {
    let (tb, m) = fixture();
    let top = m[0].modseq;
    assert!(m[1..].iter().all(|x| x.modseq < top));
    let cases: &[(&str, &[u32])] = &[
        ("ALL", &[1, 2, 3, 4]),
        ("ANSWERED", &[1]),
        ("UNANSWERED", &[2, 3, 4]),
        ("DELETED", &[3]),
        ("UNDELETED", &[1, 2, 4]),
        ("DRAFT", &[3]),
        ("UNDRAFT", &[1, 2, 4]),
        ("FLAGGED", &[2]),
        ("UNFLAGGED", &[1, 3, 4]),
        ("SEEN", &[1]),
        ("UNSEEN", &[2, 3, 4]),
        ("RECENT", &[3, 4]),
        ("NEW", &[3, 4]),
        ("OLD", &[1, 2]),
        ("KEYWORD work", &[1]),
        ("KEYWORD WORK", &[1]),
        ("KEYWORD later", &[1]),
        ("KEYWORD $Junk", &[2]),
        ("KEYWORD $Forwarded", &[3]),
        ("KEYWORD nosuch", &[]),
        ("UNKEYWORD nosuch", &[1, 2, 3, 4]),
        ("UNKEYWORD work", &[2, 3, 4]),
        ("BEFORE 4-Jan-2019", &[1]),
        ("BEFORE 3-Jan-2019", &[]),
        ("ON 3-Jan-2019", &[1]),
        ("ON 5-Jan-2019", &[2]),
        ("SINCE 5-Jan-2019", &[2, 3, 4]),
        ("ON 13-Jan-2019", &[3]),
        // The Date: header's own date, whatever its zone (RFC 3501); 99 is 1999; no
        // Date: (message 3) is 1-Jan-1970, as in Dovecot.
        ("SENTBEFORE 4-Jan-2019", &[1, 3, 4]),
        ("SENTON 5-Jan-2019", &[2]),
        ("SENTON 1-Feb-1999", &[4]),
        ("SENTON 1-Jan-1970", &[3]),
        ("SENTSINCE 3-Jan-2019", &[1, 2]),
        ("NOT SENTSINCE 3-Jan-2019", &[3, 4]),
        ("LARGER 1000", &[4]),
        ("SMALLER 1000", &[1, 2, 3]),
        ("LARGER 5000000", &[]),
        ("FROM alice", &[1]),
        ("FROM ANDRE@EXAMPLE", &[2]),
        ("TO alice", &[2]),
        ("CC carol", &[1]),
        ("BCC secret", &[2]),
        ("SUBJECT HELLO", &[1]),
        ("SUBJECT report", &[2]),
        ("SUBJECT \"\"", &[1, 2, 3, 4]),
        ("HEADER X-Priority 1", &[2]),
        ("HEADER x-priority \"\"", &[2]),
        ("HEADER Date \"\"", &[1, 2, 4]),
        ("HEADER Content-Type multipart", &[3]),
        ("BODY apples", &[1]),
        ("BODY bananas", &[3]),
        // Attachments are not text; the subject is not body.
        ("BODY secretword", &[]),
        ("BODY hello", &[]),
        ("TEXT hello", &[1]),
        ("TEXT APPLES", &[1]),
        ("TEXT robot", &[3]),
        // TEXT covers MIME part headers too; BODY does not.
        ("TEXT octet-stream", &[3]),
        ("BODY octet-stream", &[]),
        ("UID 2:3", &[2, 3]),
        ("UID *", &[4]),
        ("UID 10:*", &[4]),
        ("UID 1,4", &[1, 4]),
        ("2,4", &[2, 4]),
        ("3:*", &[3, 4]),
        ("*", &[4]),
        ("NOT SEEN", &[2, 3, 4]),
        ("OR SEEN FLAGGED", &[1, 2]),
        ("(SEEN ANSWERED)", &[1]),
        ("SEEN FLAGGED", &[]),
        ("NOT (OR DELETED DRAFT)", &[1, 2, 4]),
        (
            "OR (FROM alice BODY apples) (SUBJECT big LARGER 10)",
            &[1, 4],
        ),
        ("SEEN SUBJECT nosuch", &[]),
        ("OLDER 1000", &[1, 2, 3]),
        ("YOUNGER 1000", &[4]),
        (&*format!("MODSEQ {top}"), &[1]),
        ("MODSEQ 1", &[1, 2, 3, 4]),
    ];
    for (text, want) in cases {
        assert_eq!(run(&tb, &m, None, &key(text)), *want, "{text}");
    }
}

#[test]
fn non_ascii_strings_match_decoded_text() {
    let (tb, m) = fixture();
    let cases: &[(SearchKey, &[u32])] = &[
        (SearchKey::Subject(astr("ärger")), &[2]),
        (SearchKey::Subject(astr("ÄRGER REP")), &[2]),
        (SearchKey::From(astr("andré")), &[2]),
        (SearchKey::Body(astr("CAFÉ")), &[2]),
        (SearchKey::Text(astr("Ärger")), &[2]),
        (SearchKey::Text(astr("café au")), &[2]),
    ];
    for (k, want) in cases {
        assert_eq!(run(&tb, &m, None, k), *want, "{k:?}");
    }
    let bad = SearchKey::Not(Box::new(SearchKey::Body(
        AString::try_from(vec![b'a', 0xff]).unwrap(),
    )));
    let names = tb.mailbox.keyword_names();
    let env = SearchEnv {
        mailbox: &tb.mailbox,
        keyword_names: &names,
        messages: &m,
        recent_from_uid: u32::MAX,
        saved: None,
        now: NOW,
    };
    assert!(matches!(
        search(&env, &bad),
        Err(SearchError::BadCharset(_))
    ));
    // u32::MAX: nothing is recent.
    assert_eq!(search(&env, &key("RECENT")).unwrap(), Vec::<u32>::new());
    assert_eq!(search(&env, &key("OLD")).unwrap(), [1, 2, 3, 4]);
}

#[test]
fn saved_result_and_empty_mailbox() {
    let (tb, m) = fixture();
    let saved = [m[0].uid, m[2].uid];
    assert_eq!(run(&tb, &m, Some(&saved), &key("$")), [1, 3]);
    assert_eq!(run(&tb, &m, Some(&saved), &key("UID $")), [1, 3]);
    assert_eq!(run(&tb, &m, Some(&saved), &key("NOT $")), [2, 4]);
    // Nothing saved: `$` is the empty set.
    assert_eq!(run(&tb, &m, None, &key("$")), Vec::<u32>::new());
    // A session view that is a prefix of the mailbox: `*` is its last message.
    assert_eq!(run(&tb, &m[..2], None, &key("*")), [2]);
    let empty = TestBox::new();
    let names = empty.mailbox.keyword_names();
    let env = SearchEnv {
        mailbox: &empty.mailbox,
        keyword_names: &names,
        messages: &[],
        recent_from_uid: u32::MAX,
        saved: None,
        now: NOW,
    };
    assert_eq!(search(&env, &key("ALL")).unwrap(), Vec::<u32>::new());
    assert_eq!(search(&env, &key("UID *")).unwrap(), Vec::<u32>::new());
}

#[test]
fn index_keys_need_no_message_file() {
    let (tb, m) = fixture();
    tb.hide_files();
    // Flags, sets, dates and sizes (cached in the index) answer without files; a content
    // key behind a failing cheap key is never evaluated.
    assert_eq!(run(&tb, &m, None, &key("SEEN")), [1]);
    assert_eq!(run(&tb, &m, None, &key("LARGER 1000 UNSEEN")), [4]);
    assert_eq!(run(&tb, &m, None, &key("OR FLAGGED BODY x")), [2]);
    assert_eq!(
        run(&tb, &m, None, &key("NOT NOT SINCE 5-Jan-2019")),
        [2, 3, 4]
    );
    // Content keys on vanished files match nothing (NOT inverts that).
    assert_eq!(run(&tb, &m, None, &key("SUBJECT hello")), Vec::<u32>::new());
}

#[test]
fn cheap_keys_are_moved_first() {
    use SearchKey as K;
    let got = cheap_first(&key("(BODY x (SUBJECT y SEEN)) OR TEXT z 1:2 LARGER 5"));
    // AND members sorted stably by cost (index, header, body); OR's cheap branch first.
    let want = K::And(vec![
        K::Larger(5),
        K::And(vec![
            K::And(vec![K::Seen, K::Subject(astr("y"))]),
            K::Body(astr("x")),
        ]),
        K::Or(
            Box::new(K::SequenceSet(SeqSet::try_from("1:2").unwrap())),
            Box::new(K::Text(astr("z"))),
        ),
    ]);
    assert_eq!(got, want);
}

#[test]
fn rfc5322_dates() {
    type Ymd = (u16, u8, u8);
    let cases: &[(&str, Option<Ymd>)] = &[
        ("Thu, 03 Jan 2019 12:00:00 +0000", Some((2019, 1, 3))),
        ("3 jan 2019 12:00 GMT", Some((2019, 1, 3))),
        ("Mon,  1 Feb 99 10:00 GMT", Some((1999, 2, 1))),
        ("1 Mar 05 00:00 +0100", Some((2005, 3, 1))),
        ("1 Mar 105 00:00 +0100", Some((2005, 3, 1))),
        ("31 Feb 2019", None),
        ("yesterday", None),
        ("", None),
        ("1 Foo 2019", None),
    ];
    for (s, want) in cases {
        let got = parse_rfc5322_date(s).map(|d| (d.year, d.month, d.day));
        assert_eq!(got, *want, "{s:?}");
    }
}

/// HEADER reads only up to the blank line, in chunks: a header longer than one chunk is
/// still searched whole, the body is not mistaken for header, and a BODY key on the same
/// message then reads the rest.
#[test]
fn header_keys_read_the_header_only_and_body_keys_the_rest() {
    let tb = TestBox::new();
    let long = format!(
        "X-Filler: {}\r\nSubject: needle late in a long header\r\n\r\nX-Fake: in the body\r\nbody text\r\n",
        "f".repeat(3 * HEAD_CHUNK)
    );
    tb.add(long.as_bytes(), Flags::default(), &[], JAN3);
    tb.add(b"Subject: none\n\nbody only\n", Flags::default(), &[], JAN3);
    tb.add(
        b"Subject: no body, no blank line",
        Flags::default(),
        &[],
        JAN3,
    );
    let m = tb.messages();
    let q = |k: &str| run(&tb, &m, None, &key(k));
    assert_eq!(q("HEADER Subject needle"), [1]);
    assert!(q("HEADER X-Fake body").is_empty());
    assert_eq!(q("HEADER Subject needle BODY \"body text\""), [1]);
    assert_eq!(q("HEADER Subject blank"), [3]);
    assert_eq!(q("SENTBEFORE 1-Jan-2030"), [1, 2, 3]);
    assert!(has_header_end(b"\r\n"));
    assert!(has_header_end(b"A: b\r\n\r\nbody"));
    assert!(has_header_end(b"A: b\n\nbody"));
    assert!(!has_header_end(b"A: b\r\nC: d\r\n"));
}
