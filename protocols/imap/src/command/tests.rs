use super::*;
use crate::types::{FlagPerm, SeqNum, SeqRange};

fn ok(input: &str) -> Command {
    match parse_command(input.as_bytes()) {
        Ok(Parsed::Command(c)) => c,
        other => panic!("{input:?}: {other:?}"),
    }
}

fn body(input: &str) -> CommandBody {
    ok(input).body
}

fn err(input: &[u8]) -> CommandError {
    match parse_command(input) {
        Err(e) => e,
        other => panic!(
            "{:?}: expected error, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn a(s: &str) -> AString {
    AString::try_from(s).unwrap()
}

fn mbx(s: &str) -> Mailbox {
    Mailbox::try_from(s).unwrap()
}

fn set(s: &str) -> SeqSet {
    SeqSet::try_from(s).unwrap()
}

fn atom(s: &str) -> Atom {
    Atom::try_from(s).unwrap()
}

#[test]
fn simple_commands() {
    use CommandBody as C;
    let table = [
        ("a CAPABILITY\r\n", C::Capability),
        ("a noop\r\n", C::Noop),
        ("a LOGOUT\r\n", C::Logout),
        ("a STARTTLS\r\n", C::StartTls),
        ("a NAMESPACE\r\n", C::Namespace),
        ("a IDLE\r\n", C::Idle),
        ("a CHECK\r\n", C::Check),
        ("a CLOSE\r\n", C::Close),
        ("a UNSELECT\r\n", C::Unselect),
        ("a EXPUNGE\r\n", C::Expunge),
        ("a EXPUNGE\n", C::Expunge),
    ];
    for (input, want) in table {
        assert_eq!(body(input), want, "{input:?}");
    }
    assert_eq!(ok("x1.y CAPABILITY\r\n").tag.as_str(), "x1.y");
}

#[test]
fn auth_commands() {
    let CommandBody::Login { username, password } = body("a LOGIN bob \"p\\\"w\\\\\"\r\n") else {
        panic!()
    };
    assert_eq!(username, a("bob"));
    assert_eq!(password.expose().as_bytes(), b"p\"w\\");
    assert!(!format!("{:?}", body("a LOGIN bob secret\r\n")).contains("secret"));
    let CommandBody::Login { username, password } = body("a LOGIN {3}\r\nbob {2+}\r\npw\r\n")
    else {
        panic!()
    };
    assert_eq!(
        (username.as_bytes(), password.expose().as_bytes()),
        (&b"bob"[..], &b"pw"[..])
    );

    let CommandBody::Authenticate {
        mechanism,
        initial_response,
    } = body("a AUTHENTICATE PLAIN AGJvYgBwdw==\r\n")
    else {
        panic!()
    };
    assert_eq!(mechanism, atom("PLAIN"));
    assert_eq!(initial_response.unwrap().expose(), "AGJvYgBwdw==");
    let CommandBody::Authenticate {
        initial_response, ..
    } = body("a AUTHENTICATE PLAIN =\r\n")
    else {
        panic!()
    };
    assert_eq!(initial_response.unwrap().expose(), "");
    assert!(matches!(
        body("a AUTHENTICATE SCRAM-SHA-256\r\n"),
        CommandBody::Authenticate {
            initial_response: None,
            ..
        }
    ));
    assert_eq!(
        body("a ENABLE IMAP4rev2 UTF8=ACCEPT\r\n"),
        CommandBody::Enable(vec![atom("IMAP4rev2"), atom("UTF8=ACCEPT")])
    );
}

#[test]
fn mailbox_commands() {
    use CommandBody as C;
    let table = [
        (
            "a SELECT inbox\r\n",
            C::Select {
                mailbox: Mailbox::Inbox,
                params: vec![],
            },
        ),
        (
            "a EXAMINE \"Sent Items\"\r\n",
            C::Examine {
                mailbox: mbx("Sent Items"),
                params: vec![],
            },
        ),
        (
            "a SELECT INBOX (CONDSTORE)\r\n",
            C::Select {
                mailbox: Mailbox::Inbox,
                params: vec![SelectParam::CondStore],
            },
        ),
        ("a CREATE a.b\r\n", C::Create(mbx("a.b"))),
        ("a CREATE ~archive\r\n", C::Create(mbx("~archive"))),
        (
            "a LIST ~ ~x*\r\n",
            C::List {
                select: vec![],
                reference: "~".into(),
                patterns: vec!["~x*".into()],
                ret: vec![],
            },
        ),
        ("a DELETE {3}\r\nx y\r\n", C::Delete(mbx("x y"))),
        (
            "a RENAME a b\r\n",
            C::Rename {
                from: mbx("a"),
                to: mbx("b"),
            },
        ),
        (
            "a SUBSCRIBE Entw&APw-rfe\r\n",
            C::Subscribe(mbx("Entw&APw-rfe")),
        ),
        ("a UNSUBSCRIBE x\r\n", C::Unsubscribe(mbx("x"))),
        (
            "a LIST \"\" *\r\n",
            C::List {
                select: vec![],
                reference: String::new(),
                patterns: vec!["*".into()],
                ret: vec![],
            },
        ),
        (
            "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX% \"Sent*\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE)\r\n",
            C::List {
                select: vec![ListSelect::Subscribed, ListSelect::RecursiveMatch],
                reference: String::new(),
                patterns: vec!["INBOX%".into(), "Sent*".into()],
                ret: vec![
                    ListReturn::Children,
                    ListReturn::Status(vec![StatusItem::Messages, StatusItem::Unseen]),
                    ListReturn::SpecialUse,
                ],
            },
        ),
        (
            "a LSUB \"\" %\r\n",
            C::Lsub {
                reference: String::new(),
                pattern: "%".into(),
            },
        ),
        (
            "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ)\r\n",
            C::Status {
                mailbox: Mailbox::Inbox,
                items: vec![
                    StatusItem::Messages,
                    StatusItem::UidNext,
                    StatusItem::UidValidity,
                    StatusItem::Unseen,
                    StatusItem::Deleted,
                    StatusItem::Size,
                    StatusItem::Recent,
                    StatusItem::HighestModSeq,
                ],
            },
        ),
    ];
    for (input, want) in table {
        assert_eq!(body(input), want, "{input:?}");
    }
    let CommandBody::Select { params, .. } = body(
        "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:3 4:6)))\r\n",
    ) else {
        panic!()
    };
    assert_eq!(
        params,
        vec![SelectParam::QResync {
            uid_validity: NonZeroU32::new(67890007).unwrap(),
            mod_seq: 20050715194045000,
            known_uids: Some(set("41,43:211,214:541")),
            seq_match: Some((set("1:3"), set("4:6"))),
        }]
    );
}

#[test]
fn append_stops_at_message_literal() {
    let CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
    } = body("a APPEND Drafts (\\Seen $Forwarded) \" 7-Feb-1994 21:52:25 -0800\" {310}\r\n")
    else {
        panic!()
    };
    assert_eq!(mailbox, mbx("Drafts"));
    assert_eq!(flags, vec![Flag::Seen, Flag::Keyword(atom("$Forwarded"))]);
    assert_eq!(date.unwrap().to_string(), " 7-Feb-1994 21:52:25 -0800");
    assert_eq!(
        message,
        MessageLiteral {
            len: 310,
            sync: true,
            binary: false,
            utf8: false,
        }
    );
    let CommandBody::Append { message, flags, .. } = body("a APPEND x ~{5+}\r\n") else {
        panic!()
    };
    assert!(message.binary && !message.sync && flags.is_empty());
    let CommandBody::Append { message, .. } = body("a APPEND x (\\Seen) utf8 (~{5}\r\n") else {
        panic!()
    };
    assert!(message.binary && message.sync && message.utf8);
    // A mailbox literal before the message literal is collected as usual.
    assert_eq!(parse_command(b"a APPEND {3}\r\n"), Ok(Parsed::NeedsLiteral));
    assert!(matches!(
        body("a APPEND {3}\r\nabc () {1}\r\n"),
        CommandBody::Append { .. }
    ));
}

#[test]
fn needs_literal_only_when_valid_so_far() {
    assert_eq!(parse_command(b"a LOGIN {3}\r\n"), Ok(Parsed::NeedsLiteral));
    assert_eq!(
        parse_command(b"a LOGIN {3}\r\nbob {2}\r\n"),
        Ok(Parsed::NeedsLiteral)
    );
    assert_eq!(
        parse_command(b"a LOGIN {3}\r\nbo"),
        Ok(Parsed::NeedsLiteral)
    );
    assert_eq!(err(b"a FETCH x {3}\r\n").kind, CommandErrorKind::Syntax);
    assert_eq!(
        err(b"a LOGIN ~{3}\r\n").kind,
        CommandErrorKind::UnexpectedLiteral8
    );
}

#[test]
fn search_commands() {
    use SearchKey as K;
    let d = |s| Date::try_from(s).unwrap();
    let CommandBody::Search {
        uid,
        ret,
        charset,
        criteria,
    } = body(
        "a UID SEARCH RETURN (MIN MAX COUNT SAVE ALL) CHARSET UTF-8 OR (FROM bob SINCE 1-Feb-1994) NOT UID 1:* 2,4 HEADER X-Foo \"\" LARGER 10000000000\r\n",
    )
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        ret,
        Some(vec![
            SearchReturn::Min,
            SearchReturn::Max,
            SearchReturn::Count,
            SearchReturn::Save,
            SearchReturn::All
        ])
    );
    assert_eq!(charset, Some(a("UTF-8")));
    assert_eq!(
        criteria,
        K::And(vec![
            K::Or(
                Box::new(K::And(vec![K::From(a("bob")), K::Since(d("1-Feb-1994"))])),
                Box::new(K::Not(Box::new(K::Uid(set("1:*")))))
            ),
            K::SequenceSet(set("2,4")),
            K::Header(a("X-Foo"), a("")),
            K::Larger(10_000_000_000),
        ])
    );
    let every = "a SEARCH ALL ANSWERED BCC x BEFORE 1-Jan-2000 BODY x CC x DELETED DRAFT FLAGGED FROM x HEADER a b KEYWORD $k LARGER 1 NEW NOT SEEN OLD ON \"2-Jan-2000\" OR SEEN DRAFT RECENT SEEN SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000 SINCE 1-Jan-2000 SMALLER 5 SUBJECT x TEXT x TO x UID $ UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD $k UNSEEN 1:* (SEEN) MODSEQ 5 OLDER 60 YOUNGER 60\r\n";
    let CommandBody::Search { criteria, ret, .. } = body(every) else {
        panic!()
    };
    assert_eq!(ret, None);
    let K::And(keys) = criteria else { panic!() };
    assert_eq!(keys.len(), 40);
    assert_eq!(
        body("a SEARCH RETURN () seen\r\n"),
        CommandBody::Search {
            uid: false,
            ret: Some(vec![]),
            charset: None,
            criteria: K::Seen
        }
    );
}

#[test]
fn fetch_commands() {
    use FetchAttribute as F;
    let nz = |n| NonZeroU32::new(n).unwrap();
    let CommandBody::Fetch { items, set: s, .. } = body("a FETCH 1:* ALL\r\n") else {
        panic!()
    };
    assert_eq!((items, s), (FetchItems::All, set("1:*")));
    assert!(matches!(
        body("a FETCH 1 fast\r\n"),
        CommandBody::Fetch {
            items: FetchItems::Fast,
            ..
        }
    ));
    assert!(matches!(
        body("a FETCH 1 FULL\r\n"),
        CommandBody::Fetch {
            items: FetchItems::Full,
            ..
        }
    ));
    let CommandBody::Fetch {
        uid,
        items,
        modifiers,
        ..
    } = body(
        "a UID FETCH 1,2:4 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID RFC822 RFC822.HEADER RFC822.TEXT MODSEQ BODY[] BODY.PEEK[HEADER.FIELDS (From \"Subject\")]<0.100> BODY[1.2.MIME] BODY[3.TEXT] BODY[HEADER.FIELDS.NOT (X)] BODY[2] BINARY[1]<5.10> BINARY.PEEK[] BINARY.SIZE[1.1]) (CHANGEDSINCE 12345 VANISHED)\r\n",
    )
    else {
        panic!()
    };
    assert!(uid);
    assert_eq!(
        modifiers,
        vec![FetchModifier::ChangedSince(12345), FetchModifier::Vanished]
    );
    let FetchItems::List(items) = items else {
        panic!()
    };
    assert_eq!(
        items,
        vec![
            F::Flags,
            F::InternalDate,
            F::Rfc822Size,
            F::Envelope,
            F::Body,
            F::BodyStructure,
            F::Uid,
            F::Rfc822,
            F::Rfc822Header,
            F::Rfc822Text,
            F::ModSeq,
            F::BodySection {
                peek: false,
                section: Section::default(),
                partial: None
            },
            F::BodySection {
                peek: true,
                section: Section {
                    part: vec![],
                    text: Some(SectionText::HeaderFields(vec![a("From"), a("Subject")]))
                },
                partial: Some(Partial {
                    offset: 0,
                    len: nz(100)
                })
            },
            F::BodySection {
                peek: false,
                section: Section {
                    part: vec![nz(1), nz(2)],
                    text: Some(SectionText::Mime)
                },
                partial: None
            },
            F::BodySection {
                peek: false,
                section: Section {
                    part: vec![nz(3)],
                    text: Some(SectionText::Text)
                },
                partial: None
            },
            F::BodySection {
                peek: false,
                section: Section {
                    part: vec![],
                    text: Some(SectionText::HeaderFieldsNot(vec![a("X")]))
                },
                partial: None
            },
            F::BodySection {
                peek: false,
                section: Section {
                    part: vec![nz(2)],
                    text: None
                },
                partial: None
            },
            F::Binary {
                peek: false,
                part: vec![nz(1)],
                partial: Some(Partial {
                    offset: 5,
                    len: nz(10)
                })
            },
            F::Binary {
                peek: true,
                part: vec![],
                partial: None
            },
            F::BinarySize {
                part: vec![nz(1), nz(1)]
            },
        ]
    );
}

#[test]
fn store_copy_move_expunge() {
    assert_eq!(
        body("a STORE 2:4 +FLAGS.SILENT (\\Deleted $Junk)\r\n"),
        CommandBody::Store {
            uid: false,
            set: set("2:4"),
            op: StoreOp {
                kind: StoreKind::Add,
                silent: true,
                flags: vec![Flag::Deleted, Flag::Keyword(atom("$Junk"))]
            },
            unchanged_since: None
        }
    );
    assert_eq!(
        body("a UID STORE 1 (UNCHANGEDSINCE 7) -FLAGS \\Seen \\Flagged\r\n"),
        CommandBody::Store {
            uid: true,
            set: set("1"),
            op: StoreOp {
                kind: StoreKind::Remove,
                silent: false,
                flags: vec![Flag::Seen, Flag::Flagged]
            },
            unchanged_since: Some(7)
        }
    );
    assert!(matches!(
        body("a STORE 1 FLAGS ()\r\n"),
        CommandBody::Store {
            op: StoreOp {
                kind: StoreKind::Replace,
                ..
            },
            ..
        }
    ));
    assert_eq!(
        body("a UID COPY 1:3 Trash\r\n"),
        CommandBody::Copy {
            uid: true,
            set: set("1:3"),
            mailbox: mbx("Trash")
        }
    );
    assert_eq!(
        body("a MOVE $ Trash\r\n"),
        CommandBody::Move {
            uid: false,
            set: SeqSet::Saved,
            mailbox: mbx("Trash")
        }
    );
    assert_eq!(
        body("a UID EXPUNGE 3:*\r\n"),
        CommandBody::UidExpunge(SeqSet::Ranges(vec![SeqRange {
            from: SeqNum::Value(NonZeroU32::new(3).unwrap()),
            to: SeqNum::Last
        }]))
    );
    let _ = FlagPerm::Wildcard;
}

#[test]
fn bad_commands_and_their_classes() {
    use CommandErrorKind as E;
    let table: &[(&[u8], Option<&str>, E)] = &[
        (b"\r\n", None, E::MissingTag),
        (b"a+ NOOP\r\n", None, E::MissingTag),
        (b"a\r\n", Some("a"), E::Syntax),
        (b"a \r\n", Some("a"), E::UnknownCommand),
        (b"a\0 NOOP\r\n", None, E::Nul),
        (b"a FOO\r\n", Some("a"), E::UnknownCommand),
        (b"a UID FOO 1\r\n", Some("a"), E::Syntax),
        (b"a NOOP extra\r\n", Some("a"), E::Syntax),
        (b"a NOOP\r\nb NOOP\r\n", Some("a"), E::Syntax),
        (b"a LOGIN bob\r\n", Some("a"), E::Syntax),
        (b"a LOGIN bob \"pw\r\n", Some("a"), E::Syntax),
        (b"a LOGIN bob \"p\0w\"\r\n", Some("a"), E::Nul),
        (b"a LOGIN bob \"p\xffw\"\r\n", Some("a"), E::BadUtf8),
        (b"a LOGIN bob {3}\r\np\0w\r\n", Some("a"), E::Nul),
        (b"a LOGIN bob p\0w\r\n", Some("a"), E::Nul),
        (b"a SELECT\r\n", Some("a"), E::Syntax),
        (b"a STATUS INBOX (MESSAGES\r\n", Some("a"), E::Unbalanced),
        (b"a STATUS INBOX (MESSAGES))\r\n", Some("a"), E::Unbalanced),
        (b"a STATUS INBOX (BOGUS)\r\n", Some("a"), E::Syntax),
        (b"a STATUS INBOX ()\r\n", Some("a"), E::Syntax),
        (
            b"a FETCH 0 FLAGS\r\n",
            Some("a"),
            E::Invalid(ValueError::Invalid("sequence number")),
        ),
        (
            b"a FETCH 1:4294967296 FLAGS\r\n",
            Some("a"),
            E::NumberTooLarge,
        ),
        (b"a FETCH 1 (FLAGS\r\n", Some("a"), E::Unbalanced),
        (b"a FETCH 1 BODY[1.MIM]\r\n", Some("a"), E::Syntax),
        (b"a FETCH 1 BODY[MIME]\r\n", Some("a"), E::Syntax),
        (b"a FETCH 1 BODY[]<1.0>\r\n", Some("a"), E::Syntax),
        (b"a FETCH 1 FLAGSX\r\n", Some("a"), E::Syntax),
        (
            b"a STORE 1 FLAGS \\Recent\r\n",
            Some("a"),
            E::Invalid(ValueError::Invalid("flag: \\Recent cannot be set")),
        ),
        (b"a STORE 1 XFLAGS \\Seen\r\n", Some("a"), E::Syntax),
        (b"a SEARCH\r\n", Some("a"), E::Syntax),
        (
            b"a SEARCH BEFORE 30-Feb-2000\r\n",
            Some("a"),
            E::Invalid(ValueError::Invalid("date")),
        ),
        (b"a SEARCH (SEEN\r\n", Some("a"), E::Unbalanced),
        (b"a SEARCH SEEN)\r\n", Some("a"), E::Unbalanced),
        (
            b"a SEARCH LARGER 99999999999999999999\r\n",
            Some("a"),
            E::NumberTooLarge,
        ),
        (b"a SEARCH BOGUS\r\n", Some("a"), E::Syntax),
        (
            b"a APPEND x (\\Seen) \"bad date\" {3}\r\n",
            Some("a"),
            E::Invalid(ValueError::Invalid("date-time")),
        ),
        (b"a APPEND x {3}\r\nabc\r\n", Some("a"), E::Syntax),
        (b"a APPEND x\r\n", Some("a"), E::Syntax),
        (
            b"a SELECT \"a\x01b\"\r\n",
            Some("a"),
            E::Invalid(ValueError::Forbidden {
                what: "mailbox",
                byte: 1,
            }),
        ),
        (b"a ENABLE\r\n", Some("a"), E::Syntax),
    ];
    for (input, tag, kind) in table {
        let e = err(input);
        assert_eq!(
            (e.tag.as_ref().map(Tag::as_str), &e.kind),
            (*tag, kind),
            "{:?}: {}",
            String::from_utf8_lossy(input),
            e.message
        );
        assert!(!e.message.is_empty());
    }
}

#[test]
fn error_messages_are_readable() {
    let e = err(b"a FETCH 1 (FLAGS\r\n");
    assert_eq!(e.message, "FETCH: unbalanced parentheses at end of command");
    let e = err(b"a LOGIN bob \"hunter\0two\"\r\n");
    assert_eq!(e.message, "LOGIN: NUL byte not allowed");
    let e = err(b"a FOOBAR x\r\n");
    assert_eq!(e.message, "Unknown command FOOBAR");
}

#[test]
fn deep_nesting_is_bounded() {
    let deep = format!("a SEARCH {}SEEN{}\r\n", "(".repeat(100), ")".repeat(100));
    assert_eq!(err(deep.as_bytes()).kind, CommandErrorKind::TooDeep);
    let nots = format!("a SEARCH {}SEEN\r\n", "NOT ".repeat(100_000));
    assert_eq!(err(nots.as_bytes()).kind, CommandErrorKind::TooDeep);
    let ok_depth = format!("a SEARCH {}SEEN{}\r\n", "(".repeat(30), ")".repeat(30));
    assert!(parse_command(ok_depth.as_bytes()).is_ok());
    let limits = ParserLimits {
        max_depth: 2,
        ..ParserLimits::default()
    };
    assert_eq!(
        parse_command_with(b"a SEARCH NOT NOT SEEN\r\n", &limits)
            .unwrap_err()
            .kind,
        CommandErrorKind::TooDeep
    );
}

#[test]
fn item_limits() {
    let limits = ParserLimits {
        max_items: 3,
        ..ParserLimits::default()
    };
    for input in [
        &b"a FETCH 1,2,3,4 FLAGS\r\n"[..],
        b"a SEARCH 1 2 3 4\r\n",
        b"a STORE 1 FLAGS (a b c d)\r\n",
        b"a STORE 1 FLAGS a b c d\r\n",
    ] {
        assert_eq!(
            parse_command_with(input, &limits).unwrap_err().kind,
            CommandErrorKind::TooManyItems,
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

/// Base-protocol commands without literals, accepted by both parsers (STARTTLS is behind a
/// feature in imap-codec, so it is only in the table above).
const BOTH_ACCEPT: &[&str] = &[
    "a CAPABILITY\r\n",
    "a NOOP\r\n",
    "a LOGOUT\r\n",
    "a AUTHENTICATE PLAIN\r\n",
    "a LOGIN bob \"p w\"\r\n",
    "a SELECT inbox\r\n",
    "a EXAMINE \"Sent Items\"\r\n",
    "a CREATE a.b\r\n",
    "a DELETE x\r\n",
    "a RENAME a b\r\n",
    "a SUBSCRIBE x\r\n",
    "a UNSUBSCRIBE x\r\n",
    "a LIST \"\" *\r\n",
    "a LIST \"\" %\r\n",
    "a LSUB \"\" %\r\n",
    "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)\r\n",
    "a CHECK\r\n",
    "a CLOSE\r\n",
    "a EXPUNGE\r\n",
    "a SEARCH CHARSET UTF-8 OR (FROM bob SINCE 1-Feb-1994) NOT UID 1:* 2,4 HEADER X-Foo \"\"\r\n",
    "a SEARCH ALL ANSWERED BCC x BEFORE 1-Jan-2000 BODY x CC x DELETED DRAFT FLAGGED FROM x HEADER a b KEYWORD $k LARGER 1 NEW NOT SEEN OLD ON 2-Jan-2000 OR SEEN DRAFT RECENT SEEN SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000 SINCE 1-Jan-2000 SMALLER 5 SUBJECT x TEXT x TO x UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD $k UNSEEN 1:* (SEEN)\r\n",
    "a FETCH 1:* ALL\r\n",
    "a FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID RFC822 RFC822.HEADER RFC822.TEXT BODY[] BODY.PEEK[HEADER.FIELDS (From \"Subject\")]<0.100> BODY[1.2.MIME] BODY[3.TEXT] BODY[HEADER.FIELDS.NOT (X)] BODY[2])\r\n",
    "a UID FETCH 1,2:4 FLAGS\r\n",
    "a STORE 2:4 +FLAGS.SILENT (\\Deleted $Junk)\r\n",
    "a UID STORE 1 -FLAGS (\\Seen)\r\n",
    "a COPY 1:3 Trash\r\n",
    "a UID COPY 1:3 Trash\r\n",
];

/// Malformed base commands both parsers refuse.
const BOTH_REFUSE: &[&[u8]] = &[
    b"a LOGIN bob\r\n",
    b"a SELECT\r\n",
    b"a STATUS INBOX (MESSAGES\r\n",
    b"a STATUS INBOX (BOGUS)\r\n",
    b"a FETCH 0 FLAGS\r\n",
    b"a FETCH 1 (FLAGS\r\n",
    b"a FETCH 1 BODY[MIME]\r\n",
    b"a FETCH 1 BODY[]<1.0>\r\n",
    b"a STORE 1 XFLAGS \\Seen\r\n",
    b"a SEARCH\r\n",
    b"a SEARCH (SEEN\r\n",
    b"a SEARCH BOGUS\r\n",
    b"a LOGIN bob \"p\0w\"\r\n",
    b"a NOOP extra\r\n",
];

#[test]
fn imap_codec_agrees_on_base_commands() {
    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    for input in BOTH_ACCEPT {
        assert!(
            matches!(parse_command(input.as_bytes()), Ok(Parsed::Command(_))),
            "roost refuses {input:?}"
        );
        match CommandCodec::new().decode(input.as_bytes()) {
            Ok((rest, _)) => assert!(rest.is_empty(), "{input:?}"),
            Err(e) => panic!("imap-codec refuses {input:?}: {e:?}"),
        }
    }
    for input in BOTH_REFUSE {
        assert!(parse_command(input).is_err(), "roost accepts {input:?}");
        let codec = CommandCodec::new().decode(input);
        assert!(
            !matches!(codec, Ok((rest, _)) if rest.is_empty()),
            "imap-codec accepts {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

/// RFC 2971 examples, NIL values, literals, and what is refused.
#[test]
fn id_command() {
    let b = |s: &str| s.as_bytes().to_vec();
    assert_eq!(body("a ID NIL\r\n"), CommandBody::Id(Vec::new()));
    assert_eq!(body("a ID ()\r\n"), CommandBody::Id(Vec::new()));
    assert_eq!(
        body("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" NIL)\r\n"),
        CommandBody::Id(vec![
            (b("name"), Some(b("sodr"))),
            (b("version"), Some(b("19.34"))),
            (b("vendor"), None),
        ])
    );
    assert_eq!(
        body("a ID (\"os\" {3+}\r\nx\"y)\r\n"),
        CommandBody::Id(vec![(b("os"), Some(b("x\"y")))])
    );
    // A field without a value, an atom instead of a string, no argument at all.
    for bad in [
        &b"a ID (\"name\")\r\n"[..],
        b"a ID (name \"x\")\r\n",
        b"a ID\r\n",
        b"a ID (\"name\" \"x\"\r\n",
    ] {
        let e = err(bad);
        assert_eq!(e.tag, Some(Tag::try_from("a").unwrap()), "{e:?}");
    }
}

/// RFC 7162 3.1.5: MODSEQ with and without the entry name.
#[test]
fn search_modseq_with_entry() {
    use CommandBody as C;
    for (line, n) in [
        ("a SEARCH MODSEQ 620162338\r\n", 620162338),
        (
            "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n",
            620162338,
        ),
        ("a SEARCH MODSEQ \"/flags/$Work\" PRIV 7\r\n", 7),
    ] {
        match body(line) {
            C::Search { criteria, .. } => assert_eq!(criteria, SearchKey::ModSeq(n), "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }
    let e = err(b"a SEARCH MODSEQ \"/flags/\\\\draft\" mine 5\r\n");
    assert_eq!(e.tag, Some(Tag::try_from("a").unwrap()));
}
