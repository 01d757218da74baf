use super::*;
use crate::command::AppendPiece;
use crate::command::CommandErrorKind as K;
use crate::types::Mailbox;

/// Owned copy of an input; APPEND data chunks merged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Cmd(String),
    Cont,
    Data(Vec<u8>),
    AppendDone,
    /// MULTIAPPEND's next message, by announced length.
    Next(u32),
    /// CATENATE pieces and the next literal's length.
    Tail(Vec<AppendPiece>, Option<u32>),
    Line(Vec<u8>),
    Bad(Option<String>, K),
    Framing(FramingError),
}

/// Drives a reader like a session would: APPEND to "missing" is refused, IDLE switches to
/// line mode until DONE.
fn drive(input: &[u8], chunk: usize, framing: FramingLimits) -> Vec<Got> {
    let mut r = CommandReader::new(framing, ParserLimits::default());
    let mut got = Vec::new();
    for piece in input.chunks(chunk) {
        r.push(piece);
        while let Some(i) = r.next_input() {
            match i {
                Input::Command(c) => {
                    got.push(Got::Cmd(format!("{} {}", c.tag, c.body.name())));
                    match &c.body {
                        CommandBody::Append { mailbox, .. }
                        | CommandBody::Catenate {
                            mailbox,
                            literal: Some(_),
                            ..
                        } => {
                            if *mailbox == Mailbox::try_from("missing").unwrap() {
                                assert!(r.reject_command());
                            } else {
                                assert!(r.accept_append());
                            }
                        }
                        CommandBody::Idle => r.set_line_mode(true),
                        _ => {}
                    }
                }
                Input::SendContinuation => got.push(Got::Cont),
                Input::AppendData(d) => match got.last_mut() {
                    Some(Got::Data(v)) => v.extend_from_slice(d),
                    _ => got.push(Got::Data(d.to_vec())),
                },
                Input::AppendDone => got.push(Got::AppendDone),
                Input::AppendNext(n) => {
                    got.push(Got::Next(n.message.len));
                    assert!(r.accept_append());
                }
                Input::AppendTail(t) => {
                    got.push(Got::Tail(t.pieces, t.literal.map(|l| l.len)));
                    if t.literal.is_some() {
                        assert!(r.accept_append());
                    }
                }
                Input::Line(l) => {
                    let done = l.eq_ignore_ascii_case(b"DONE");
                    got.push(Got::Line(l.to_vec()));
                    if done {
                        r.set_line_mode(false);
                    }
                }
                Input::Bad(e) => got.push(Got::Bad(e.tag.map(|t| t.to_string()), e.kind)),
                Input::Framing(e) => got.push(Got::Framing(e)),
            }
        }
    }
    got
}

const TRANSCRIPT: &[u8] = b"a1 CAPABILITY\r\n\
a2 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n\
a3 SELECT \"INBOX\"\r\n\
a4 APPEND Drafts (\\Seen) {23}\r\nSubject: x\r\n\r\nhello {1}\r\n\
a5 APPEND missing {10}\r\n\
a6 APPEND missing {4+}\r\nabcd\r\n\
a7 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)])\r\n\
a8 FETCH\r\n\
a9 SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncaf\xc3\xa9 NOT SEEN\r\n\
b1 IDLE\r\nDONE\r\n\
b2 STORE 1 +FLAGS (\\Deleted)\r\n\
b3 LOGIN {3}\r\n\
b4 NOOP\r\n\
b5 APPEND Trash ~{3}\r\na\0b\r\n\
b6 APPEND x {0+}\r\n\r\n\
b7 BOGUS {3+}\r\nxyz\r\n\
b8 LOGOUT\r\n";

fn expected() -> Vec<Got> {
    let cmd = |s: &str| Got::Cmd(s.to_string());
    vec![
        cmd("a1 CAPABILITY"),
        Got::Cont,
        cmd("a2 LOGIN"),
        cmd("a3 SELECT"),
        cmd("a4 APPEND"),
        Got::Data(b"Subject: x\r\n\r\nhello {1}".to_vec()),
        Got::AppendDone,
        cmd("a5 APPEND"),
        cmd("a6 APPEND"),
        cmd("a7 UID FETCH"),
        Got::Bad(Some("a8".into()), K::Syntax),
        Got::Cont,
        cmd("a9 SEARCH"),
        cmd("b1 IDLE"),
        Got::Line(b"DONE".to_vec()),
        cmd("b2 STORE"),
        // `{3}` is accepted because the command is valid so far; the client then sends
        // "b4 N" as the literal and "OOP" ends the line, which is a syntax error.
        Got::Cont,
        Got::Bad(Some("b3".into()), K::Syntax),
        cmd("b5 APPEND"),
        Got::Data(b"a\0b".to_vec()),
        Got::AppendDone,
        cmd("b6 APPEND"),
        Got::AppendDone,
        Got::Bad(Some("b7".into()), K::UnknownCommand),
        cmd("b8 LOGOUT"),
    ]
}

#[test]
fn transcript_whole() {
    assert_eq!(
        drive(TRANSCRIPT, TRANSCRIPT.len(), FramingLimits::default()),
        expected()
    );
}

#[test]
fn chunk_size_sweep() {
    let want = expected();
    for chunk in 1..=64 {
        assert_eq!(
            drive(TRANSCRIPT, chunk, FramingLimits::default()),
            want,
            "chunk size {chunk}"
        );
    }
}

#[test]
fn oversized_inline_literal_is_too_big() {
    let limits = FramingLimits {
        max_inline_literal: 4,
        ..FramingLimits::default()
    };
    let got = drive(b"a LOGIN {5}\r\nb NOOP\r\n", 3, limits);
    assert_eq!(
        got,
        vec![
            Got::Bad(Some("a".into()), K::LiteralTooBig),
            Got::Cmd("b NOOP".into())
        ]
    );
}

#[test]
fn invalid_prefix_gets_no_continuation() {
    // The mailbox is fine but `(` opens a list that cannot hold a literal here.
    let got = drive(
        b"a STATUS x ({3}\r\nb NOOP\r\n",
        1,
        FramingLimits::default(),
    );
    assert_eq!(
        got,
        vec![
            Got::Bad(Some("a".into()), K::Syntax),
            Got::Cmd("b NOOP".into())
        ]
    );
}

#[test]
fn framing_errors_surface_and_recover() {
    let limits = FramingLimits {
        max_line_len: 20,
        ..FramingLimits::default()
    };
    let got = drive(
        b"a NOOP aaaaaaaaaaaaaaaaaaaaaaaaa\r\nb NOOP\r\nc LOGIN {99999999999+}\r\n",
        4,
        limits,
    );
    assert_eq!(
        got,
        vec![
            Got::Framing(FramingError::LineTooLong { limit: 20 }),
            Got::Cmd("b NOOP".into()),
            // Overlong, and the announcement at its end cannot be skipped: fatal.
            Got::Framing(FramingError::LineTooLong { limit: 20 }),
            Got::Framing(FramingError::LiteralLengthInvalid {
                digits: "99999999999".into(),
                sync: false
            }),
        ]
    );
}

#[test]
fn multiappend_in_every_chunk_size() {
    let input = b"m1 APPEND Drafts {3}\r\nabc (\\Seen) \" 1-Feb-2024 10:00:00 +0100\" {2+}\r\nde ~{1}\r\nf\r\n\
m2 APPEND Drafts {1+}\r\nx (\\Seen {1+}\r\ny\r\nm3 NOOP\r\n";
    let want = vec![
        Got::Cmd("m1 APPEND".into()),
        Got::Data(b"abc".to_vec()),
        Got::Next(2),
        Got::Data(b"de".to_vec()),
        Got::Next(1),
        Got::Data(b"f".to_vec()),
        Got::AppendDone,
        Got::Cmd("m2 APPEND".into()),
        Got::Data(b"x".to_vec()),
        // A bad next-message header fails the command; its literal is skipped.
        Got::Bad(None, K::Syntax),
        Got::Cmd("m3 NOOP".into()),
    ];
    for chunk in 1..=input.len() {
        assert_eq!(
            drive(input, chunk, FramingLimits::default()),
            want,
            "chunk size {chunk}"
        );
    }
}

#[test]
fn catenate_text_parts_stream_in_every_chunk_size() {
    let input =
        b"c1 APPEND Drafts (\\Seen) CATENATE (URL \"/INBOX/;UID=1\" TEXT {3}\r\nabc URL {4}\r\n\
/x/y TEXT {2+}\r\nde) CATENATE (URL \"/a\") {1}\r\nf CATENATE (URL \"/b\")\r\n\
c2 APPEND Drafts CATENATE (TEXT {1+}\r\nx URL)\r\nc3 NOOP\r\n";
    let cat = |catenate| AppendPiece::Message {
        flags: Vec::new(),
        date: None,
        catenate,
    };
    let url = |u: &str| AppendPiece::Url(u.into());
    let want = vec![
        Got::Cmd("c1 APPEND".into()),
        Got::Data(b"abc".to_vec()),
        // A URL sent as a literal is collected inline, not streamed.
        Got::Cont,
        Got::Tail(vec![url("/x/y")], Some(2)),
        Got::Data(b"de".to_vec()),
        Got::Tail(
            vec![
                AppendPiece::CatenateEnd,
                cat(true),
                url("/a"),
                AppendPiece::CatenateEnd,
                cat(false),
            ],
            Some(1),
        ),
        Got::Data(b"f".to_vec()),
        Got::Tail(vec![cat(true), url("/b"), AppendPiece::CatenateEnd], None),
        Got::Cmd("c2 APPEND".into()),
        Got::Data(b"x".to_vec()),
        Got::Bad(None, K::Syntax),
        Got::Cmd("c3 NOOP".into()),
    ];
    for chunk in 1..=input.len() {
        assert_eq!(
            drive(input, chunk, FramingLimits::default()),
            want,
            "chunk size {chunk}"
        );
    }
}
