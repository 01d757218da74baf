use super::*;
use crate::testing::assert_imap_codec_parses;
use crate::types::{AString, Atom, SeqSet};

fn t(s: &str) -> Text {
    Text::try_from(s).unwrap()
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::try_from(s).unwrap()
}

fn atom(s: &str) -> Atom {
    Atom::try_from(s).unwrap()
}

fn tagged(kind: StatusKind, code: Option<Code>) -> Response {
    Response::Tagged {
        tag: tag("a1"),
        kind,
        code,
        text: t("done"),
    }
}

/// Known answers: response, exact bytes, and whether imap-codec knows this response.
fn table() -> Vec<(Response, &'static str, bool)> {
    use Code::*;
    let set = |s| SeqSet::try_from(s).unwrap();
    let mut v = vec![
        (tagged(StatusKind::Ok, None), "a1 OK done\r\n", true),
        (
            tagged(StatusKind::No, Some(TryCreate)),
            "a1 NO [TRYCREATE] done\r\n",
            true,
        ),
        (
            tagged(StatusKind::Bad, Some(Parse)),
            "a1 BAD [PARSE] done\r\n",
            true,
        ),
        (
            Response::Untagged {
                kind: StatusKind::Ok,
                code: Some(PermanentFlags(vec![
                    FlagPerm::Flag(Flag::Seen),
                    FlagPerm::Flag(Flag::Keyword(atom("$Junk"))),
                    FlagPerm::Wildcard,
                ])),
                text: t("Limited"),
            },
            "* OK [PERMANENTFLAGS (\\Seen $Junk \\*)] Limited\r\n",
            true,
        ),
        (
            Response::PreAuth {
                code: None,
                text: t("hello"),
            },
            "* PREAUTH hello\r\n",
            true,
        ),
        (
            Response::Bye {
                code: Some(Unavailable),
                text: t("shutting down"),
            },
            "* BYE [UNAVAILABLE] shutting down\r\n",
            true,
        ),
        (Response::Continue(t("Ready")), "+ Ready\r\n", true),
        (
            Response::ContinueBase64(
                "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+".into(),
            ),
            "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
            true,
        ),
        (
            Response::Data(Data::Capability(vec![
                crate::types::Capability::Imap4Rev1,
                crate::types::Capability::Imap4Rev2,
                crate::types::Capability::StartTls,
                crate::types::Capability::LoginDisabled,
                crate::types::Capability::Auth(atom("PLAIN")),
                crate::types::Capability::Other(atom("LITERAL+")),
            ])),
            "* CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED AUTH=PLAIN LITERAL+\r\n",
            true,
        ),
        (
            Response::Data(Data::Enabled(vec![atom("IMAP4rev2")])),
            "* ENABLED IMAP4rev2\r\n",
            true,
        ),
        (
            Response::Data(Data::List(ListEntry {
                attributes: vec![MailboxAttr::HasNoChildren, MailboxAttr::Sent],
                delimiter: Some('.'),
                mailbox: "Sent Items".into(),
                extended: vec![],
            })),
            "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent Items\"\r\n",
            true,
        ),
        (
            Response::Data(Data::List(ListEntry {
                attributes: vec![MailboxAttr::NoSelect],
                delimiter: Some('\\'),
                mailbox: String::new(),
                extended: vec![],
            })),
            "* LIST (\\Noselect) \"\\\\\" \"\"\r\n",
            true,
        ),
        (
            Response::Data(Data::List(ListEntry {
                attributes: vec![],
                delimiter: None,
                mailbox: "a\r\nb".into(),
                extended: vec![],
            })),
            "* LIST () NIL {4}\r\na\r\nb\r\n",
            true,
        ),
        (
            Response::Data(Data::List(ListEntry {
                attributes: vec![MailboxAttr::Subscribed],
                delimiter: Some('.'),
                mailbox: "Foo".into(),
                extended: vec![ListExtended::ChildInfoSubscribed],
            })),
            "* LIST (\\Subscribed) \".\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
            // imap-codec 2.0.0-alpha.10 has no mbox-list-extended in responses; the RFC 5258
            // example is byte-identical.
            false,
        ),
        (
            Response::Data(Data::Lsub(ListEntry {
                attributes: vec![],
                delimiter: Some('.'),
                mailbox: "Entw&APw-rfe".into(),
                extended: vec![],
            })),
            "* LSUB () \".\" Entw&APw-rfe\r\n",
            true,
        ),
        (
            Response::Data(Data::Status {
                mailbox: "INBOX".into(),
                items: vec![
                    (StatusItem::Messages, 17),
                    (StatusItem::UidNext, 4392),
                    (StatusItem::UidValidity, 3857529045),
                    (StatusItem::Unseen, 0),
                    (StatusItem::Deleted, 1),
                    (StatusItem::Size, 123456),
                ],
                mailbox_id: None,
            }),
            "* STATUS INBOX (MESSAGES 17 UIDNEXT 4392 UIDVALIDITY 3857529045 UNSEEN 0 DELETED 1 SIZE 123456)\r\n",
            true,
        ),
        (
            Response::Data(Data::Flags(vec![
                Flag::Answered,
                Flag::Flagged,
                Flag::Deleted,
                Flag::Seen,
                Flag::Draft,
            ])),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
            true,
        ),
        (Response::Data(Data::Exists(23)), "* 23 EXISTS\r\n", true),
        (Response::Data(Data::Recent(0)), "* 0 RECENT\r\n", true),
        (
            Response::Data(Data::Expunge(nz(3))),
            "* 3 EXPUNGE\r\n",
            true,
        ),
        (
            Response::Data(Data::Search(vec![], None)),
            "* SEARCH\r\n",
            true,
        ),
        (
            Response::Data(Data::Search(vec![nz(2), nz(84)], None)),
            "* SEARCH 2 84\r\n",
            true,
        ),
        (
            Response::Data(Data::Search(vec![nz(2)], Some(917162500))),
            "* SEARCH 2 (MODSEQ 917162500)\r\n",
            true,
        ),
        (
            Response::Data(Data::ESearch(ESearch {
                tag: Some(tag("a1")),
                uid: true,
                min: Some(nz(2)),
                max: Some(nz(9)),
                all: Some(set("2,4:9")),
                partial: None,
                count: Some(7),
                modseq: None,
            })),
            "* ESEARCH (TAG \"a1\") UID MIN 2 MAX 9 ALL 2,4:9 COUNT 7\r\n",
            false,
        ),
        // RFC 7162 3.1.5, with ESEARCH.
        (
            Response::Data(Data::ESearch(ESearch {
                tag: Some(tag("a")),
                uid: false,
                min: None,
                max: None,
                all: Some(set("1:3,5")),
                partial: None,
                count: None,
                modseq: Some(1236),
            })),
            "* ESEARCH (TAG \"a\") ALL 1:3,5 MODSEQ 1236\r\n",
            false,
        ),
        // RFC 7162 3.2.10 examples.
        (
            Response::Data(Data::Vanished {
                earlier: false,
                uids: set("405,407,410,425"),
            }),
            "* VANISHED 405,407,410,425\r\n",
            true,
        ),
        (
            Response::Data(Data::Vanished {
                earlier: true,
                uids: set("300:310,405,411"),
            }),
            "* VANISHED (EARLIER) 300:310,405,411\r\n",
            true,
        ),
        // RFC 2971 3.3, and a value that needs a literal.
        (
            Response::Data(Data::Id(vec![
                ("name".into(), "Cyrus".into()),
                ("version".into(), "1.5".into()),
            ])),
            "* ID (\"name\" \"Cyrus\" \"version\" \"1.5\")\r\n",
            true,
        ),
        (
            Response::Data(Data::Id(vec![("x".into(), "a\"b\r\n".into())])),
            "* ID (\"x\" {5}\r\na\"b\r\n)\r\n",
            true,
        ),
        (Response::Data(Data::Id(Vec::new())), "* ID NIL\r\n", true),
        (
            Response::Data(Data::Namespace {
                personal: vec![(String::new(), Some('.'))],
                other: vec![],
                shared: vec![],
            }),
            "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n",
            true,
        ),
        (
            Response::Data(Data::Fetch {
                seq: nz(12),
                items: vec![
                    FetchItem::Flags(vec![Flag::Seen, Flag::Recent]),
                    FetchItem::Uid(nz(4827313)),
                    FetchItem::InternalDate(
                        DateTime::try_from("17-Jul-1996 02:44:25 -0700").unwrap(),
                    ),
                    FetchItem::Rfc822Size(4286),
                    FetchItem::BodySection {
                        section: Section::default(),
                        origin: None,
                        data: Some(b"Subject: hi\r\n\r\nbody\r\n".to_vec()),
                    },
                    FetchItem::BodySection {
                        section: Section {
                            part: vec![nz(1), nz(2)],
                            text: Some(SectionText::HeaderFields(vec![
                                AString::try_from("From").unwrap(),
                                AString::try_from("X Y").unwrap(),
                            ])),
                        },
                        origin: Some(0),
                        data: Some(b"plain".to_vec()),
                    },
                    FetchItem::BodySection {
                        section: Section {
                            part: vec![nz(3)],
                            text: Some(SectionText::Mime),
                        },
                        origin: None,
                        data: None,
                    },
                    FetchItem::Rfc822Header(Some(b"\"q\\\"".to_vec())),
                    FetchItem::Rfc822Text(Some("caf\u{e9}".as_bytes().to_vec())),
                    FetchItem::Rfc822(None),
                ],
            }),
            "* 12 FETCH (FLAGS (\\Seen \\Recent) UID 4827313 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 BODY[] {21}\r\nSubject: hi\r\n\r\nbody\r\n BODY[1.2.HEADER.FIELDS (From \"X Y\")]<0> \"plain\" BODY[3.MIME] NIL RFC822.HEADER \"\\\"q\\\\\\\"\" RFC822.TEXT {5}\r\ncaf\u{e9} RFC822 NIL)\r\n",
            true,
        ),
        (
            Response::Data(Data::Fetch {
                seq: nz(1),
                items: vec![FetchItem::Envelope(Box::new(Envelope {
                    date: Some(b"Wed, 17 Jul 1996 02:23:25 -0700".to_vec()),
                    subject: Some(b"IMAP4rev1 WG mtg summary".to_vec()),
                    from: vec![Address {
                        name: Some(b"Terry Gray".to_vec()),
                        adl: None,
                        mailbox: Some(b"gray".to_vec()),
                        host: Some(b"cac.washington.edu".to_vec()),
                    }],
                    message_id: Some(b"<B27397-0100000@cac.washington.edu>".to_vec()),
                    ..Envelope::default()
                }))],
            }),
            "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700\" \"IMAP4rev1 WG mtg summary\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) NIL NIL NIL NIL NIL NIL \"<B27397-0100000@cac.washington.edu>\"))\r\n",
            true,
        ),
        (
            Response::Data(Data::Fetch {
                seq: nz(1),
                items: vec![
                    FetchItem::ModSeq(624140003),
                    FetchItem::BinarySize {
                        part: vec![nz(1)],
                        size: 30,
                    },
                    FetchItem::Binary {
                        part: vec![nz(1)],
                        origin: None,
                        data: Some(b"a\0b".to_vec()),
                    },
                ],
            }),
            "* 1 FETCH (MODSEQ (624140003) BINARY.SIZE[1] 30 BINARY[1] ~{3}\r\na\0b)\r\n",
            false,
        ),
    ];
    let codes: Vec<(Code, &str)> = vec![
        (Alert, "ALERT"),
        (BadCharset(vec![]), "BADCHARSET"),
        (
            BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]),
            "BADCHARSET (UTF-8 US-ASCII)",
        ),
        (
            Capability(vec![crate::types::Capability::Imap4Rev2]),
            "CAPABILITY IMAP4rev2",
        ),
        (ReadOnly, "READ-ONLY"),
        (ReadWrite, "READ-WRITE"),
        (UidNext(nz(4392)), "UIDNEXT 4392"),
        (UidValidity(nz(3857529045)), "UIDVALIDITY 3857529045"),
        (Unseen(nz(12)), "UNSEEN 12"),
        (
            AppendUid {
                uid_validity: nz(38505),
                uids: set("3955"),
            },
            "APPENDUID 38505 3955",
        ),
        (
            CopyUid {
                uid_validity: nz(38505),
                source: set("304,319:320"),
                dest: set("3956:3958"),
            },
            "COPYUID 38505 304,319:320 3956:3958",
        ),
        (UidNotSticky, "UIDNOTSTICKY"),
        (NonExistent, "NONEXISTENT"),
        (AlreadyExists, "ALREADYEXISTS"),
        (TooBig, "TOOBIG"),
        (OverQuota, "OVERQUOTA"),
        (InUse, "INUSE"),
        (ServerBug, "SERVERBUG"),
        (ClientBug, "CLIENTBUG"),
        (Cannot, "CANNOT"),
        (Limit, "LIMIT"),
        (ExpungeIssued, "EXPUNGEISSUED"),
        (ContactAdmin, "CONTACTADMIN"),
        (NoPerm, "NOPERM"),
        (AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (AuthorizationFailed, "AUTHORIZATIONFAILED"),
        (PrivacyRequired, "PRIVACYREQUIRED"),
        (Expired, "EXPIRED"),
        (HasChildren, "HASCHILDREN"),
        (Closed, "CLOSED"),
        (HighestModSeq(715194045007), "HIGHESTMODSEQ 715194045007"),
        (NoModSeq, "NOMODSEQ"),
        (Modified(set("7,9")), "MODIFIED 7,9"),
    ];
    for (code, text) in codes {
        let bytes: &'static str = Box::leak(format!("a1 NO [{text}] done\r\n").into_boxed_str());
        v.push((tagged(StatusKind::No, Some(code)), bytes, true));
    }
    v
}

#[test]
fn known_answers_and_imap_codec_agrees() {
    let enc = Encoder::default();
    for (resp, want, codec_knows) in table() {
        let got = enc.to_bytes(&resp);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want.as_bytes()),
            "{resp:?}"
        );
        if codec_knows {
            assert_imap_codec_parses(&got);
        }
    }
}

#[test]
fn utf8_mode_quotes_utf8() {
    let resp = Response::Data(Data::Status {
        mailbox: "Entwürfe".into(),
        items: vec![(StatusItem::Messages, 1)],
        mailbox_id: None,
    });
    let rev1 = Encoder { utf8: false }.to_bytes(&resp);
    assert_eq!(rev1, "* STATUS {9}\r\nEntwürfe (MESSAGES 1)\r\n".as_bytes());
    let rev2 = Encoder { utf8: true }.to_bytes(&resp);
    assert_eq!(rev2, "* STATUS \"Entwürfe\" (MESSAGES 1)\r\n".as_bytes());
    assert_imap_codec_parses(&rev1);
    assert_imap_codec_parses(&rev2);
}

#[test]
fn nil_mailbox_name_is_quoted() {
    let resp = Response::Data(Data::List(ListEntry {
        attributes: vec![],
        delimiter: Some('.'),
        mailbox: "NIL".into(),
        extended: vec![],
    }));
    let got = Encoder::default().to_bytes(&resp);
    assert_eq!(got, b"* LIST () \".\" \"NIL\"\r\n");
    assert_imap_codec_parses(&got);
}

#[test]
fn streamed_fetch_body() {
    let body = b"From: a@b\r\n\r\nhello\r\n";
    let mut wire = Vec::new();
    let mut out = Vec::new();
    let mut fw = FetchWriter::start(Encoder::default(), nz(7), &mut out);
    fw.item(&FetchItem::Uid(nz(42)));
    fw.literal_header(
        &StreamedItem::BodySection {
            section: Section::default(),
            origin: None,
        },
        body.len() as u64,
    );
    // The session flushes here and copies the message from its file.
    wire.append(fw.buffer());
    wire.extend_from_slice(body);
    fw.item(&FetchItem::Flags(vec![Flag::Seen]));
    fw.finish();
    wire.append(&mut out);
    assert_eq!(
        wire,
        b"* 7 FETCH (UID 42 BODY[] {20}\r\nFrom: a@b\r\n\r\nhello\r\n FLAGS (\\Seen))\r\n"
    );
    assert_imap_codec_parses(&wire);
}

#[test]
fn text_is_validated() {
    for bad in ["", "a\r\nb", "[ALERT] x", "nul\0"] {
        assert_eq!(
            Text::try_from(bad),
            Err(ResponseError::InvalidText),
            "{bad:?}"
        );
    }
    assert_eq!(Text::sanitized("a\r\n[b]").as_str(), "a  [b]");
    assert_eq!(Text::sanitized("[x").as_str(), " [x");
    assert_eq!(Text::sanitized("\r\n").as_str(), "Done");
}

#[test]
#[should_panic(expected = "imap-codec rejects")]
fn helper_catches_malformed_responses() {
    assert_imap_codec_parses(b"* 1 FETCH (UID 0 FLAGS (\\Seen)\r\n");
}

fn text_part(subtype: &str, octets: u32, lines: u32) -> BodyStructure {
    BodyStructure::Single {
        media_type: b"TEXT".to_vec(),
        subtype: subtype.as_bytes().to_vec(),
        fields: BodyFields {
            params: vec![(b"CHARSET".to_vec(), b"US-ASCII".to_vec())],
            id: None,
            description: None,
            encoding: b"7BIT".to_vec(),
            octets,
        },
        kind: SinglePartKind::Text { lines },
        extension: Some((None, BodyExtension::default())),
    }
}

#[test]
fn body_structure() {
    let attachment = BodyStructure::Single {
        media_type: b"APPLICATION".to_vec(),
        subtype: b"OCTET-STREAM".to_vec(),
        fields: BodyFields {
            params: vec![],
            id: Some(b"<x@y>".to_vec()),
            description: None,
            encoding: b"BASE64".to_vec(),
            octets: 4554,
        },
        kind: SinglePartKind::Basic,
        extension: Some((
            Some(b"md5".to_vec()),
            BodyExtension {
                disposition: Some(Disposition {
                    kind: b"attachment".to_vec(),
                    params: vec![(b"filename".to_vec(), b"a b.bin".to_vec())],
                }),
                language: vec![b"en".to_vec(), b"de".to_vec()],
                location: None,
            },
        )),
    };
    let inner = BodyStructure::Single {
        media_type: b"MESSAGE".to_vec(),
        subtype: b"RFC822".to_vec(),
        fields: BodyFields {
            encoding: b"7BIT".to_vec(),
            octets: 342,
            ..BodyFields::default()
        },
        kind: SinglePartKind::Message {
            envelope: Box::new(Envelope {
                subject: Some(b"inner".to_vec()),
                ..Envelope::default()
            }),
            body: Box::new(text_part("PLAIN", 20, 1)),
            lines: 12,
        },
        extension: None,
    };
    let b = BodyStructure::Multi {
        parts: vec![text_part("PLAIN", 1152, 23), attachment, inner],
        subtype: b"MIXED".to_vec(),
        extension: Some((
            vec![(b"BOUNDARY".to_vec(), b"xyz".to_vec())],
            BodyExtension::default(),
        )),
    };
    let enc = Encoder::default();
    let full = enc.to_bytes(&Response::Data(Data::Fetch {
        seq: nz(1),
        items: vec![FetchItem::BodyStructure(Box::new(b.clone()))],
    }));
    assert_eq!(
        String::from_utf8(full.clone()).unwrap(),
        "* 1 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23 NIL NIL NIL NIL)\
(\"APPLICATION\" \"OCTET-STREAM\" NIL \"<x@y>\" NIL \"BASE64\" 4554 \"md5\" (\"attachment\" (\"filename\" \"a b.bin\")) (\"en\" \"de\") NIL)\
(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 342 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 1 NIL NIL NIL NIL) 12) \
\"MIXED\" (\"BOUNDARY\" \"xyz\") NIL NIL NIL))\r\n"
    );
    assert_imap_codec_parses(&full);
    let plain = enc.to_bytes(&Response::Data(Data::Fetch {
        seq: nz(1),
        items: vec![FetchItem::Body(Box::new(b))],
    }));
    assert_eq!(
        String::from_utf8(plain.clone()).unwrap(),
        "* 1 FETCH (BODY ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 1152 23)\
(\"APPLICATION\" \"OCTET-STREAM\" NIL \"<x@y>\" NIL \"BASE64\" 4554)\
(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 342 (NIL \"inner\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 1) 12) \
\"MIXED\"))\r\n"
    );
    assert_imap_codec_parses(&plain);
}
