//! Known-answer tables for the command parser.

use std::num::NonZeroU32;

use crate::Secret;
use crate::command::{
    Command, Mechanism, MsgNum, ParseError, SaslResponse, parse_command, parse_sasl_response,
};

fn m(n: u32) -> MsgNum {
    MsgNum::new(NonZeroU32::new(n).expect("test numbers are non-zero"))
}

fn mech(s: &str) -> Mechanism {
    Mechanism::try_from(s).expect("valid test mechanism")
}

fn secret(b: &[u8]) -> Secret<Vec<u8>> {
    Secret::new(b.to_vec())
}

const DIGEST: &str = "c4c9334bac560ecc979e58001b3e22fb";

#[test]
fn good_commands() {
    let apop = format!("APOP mrose {DIGEST}");
    let cases: Vec<(&[u8], Command)> = vec![
        (b"USER alice", Command::User("alice".into())),
        (b"user alice", Command::User("alice".into())),
        (b"UsEr alice", Command::User("alice".into())),
        (b"USER  alice  ", Command::User("alice".into())),
        (b"USER a b", Command::User("a b".into())),
        (
            "USER j\u{f6}rg".as_bytes(),
            Command::User("j\u{f6}rg".into()),
        ),
        (b"PASS secret", Command::Pass(secret(b"secret"))),
        (b"PASS with space ", Command::Pass(secret(b"with space "))),
        (b"PASS  lead", Command::Pass(secret(b" lead"))),
        (b"pass \xff\xfe", Command::Pass(secret(b"\xff\xfe"))),
        (
            apop.as_bytes(),
            Command::Apop {
                name: "mrose".into(),
                digest: DIGEST.into(),
            },
        ),
        (b"AUTH", Command::AuthList),
        (b"AUTH ", Command::AuthList),
        (
            b"AUTH PLAIN",
            Command::Auth {
                mechanism: mech("PLAIN"),
                initial_response: None,
            },
        ),
        (
            b"auth plain",
            Command::Auth {
                mechanism: mech("PLAIN"),
                initial_response: None,
            },
        ),
        (
            b"AUTH PLAIN =",
            Command::Auth {
                mechanism: mech("PLAIN"),
                initial_response: Some(secret(b"")),
            },
        ),
        (
            b"AUTH PLAIN AGFsaWNlAHNlY3JldA==",
            Command::Auth {
                mechanism: mech("PLAIN"),
                initial_response: Some(secret(b"\0alice\0secret")),
            },
        ),
        (
            b"AUTH SCRAM-SHA-256",
            Command::Auth {
                mechanism: mech("SCRAM-SHA-256"),
                initial_response: None,
            },
        ),
        (
            b"AUTH X_1",
            Command::Auth {
                mechanism: mech("x_1"),
                initial_response: None,
            },
        ),
        (b"STLS", Command::Stls),
        (b"stls", Command::Stls),
        (b"CAPA", Command::Capa),
        (b"CAPA ", Command::Capa),
        (b"UTF8", Command::Utf8),
        (b"utf8", Command::Utf8),
        (b"STAT", Command::Stat),
        (b"NOOP", Command::Noop),
        (b"RSET", Command::Rset),
        (b"QUIT", Command::Quit),
        (b"quit", Command::Quit),
        (b"LIST", Command::List(None)),
        (b"LIST 1", Command::List(Some(m(1)))),
        (b"LIST  1  ", Command::List(Some(m(1)))),
        (b"LIST 0001", Command::List(Some(m(1)))),
        (b"LIST 4294967295", Command::List(Some(m(u32::MAX)))),
        (b"UIDL", Command::Uidl(None)),
        (b"uidl 7", Command::Uidl(Some(m(7)))),
        (b"RETR 1", Command::Retr(m(1))),
        (b"retr 12345", Command::Retr(m(12345))),
        (b"DELE 3", Command::Dele(m(3))),
        (
            b"TOP 1 0",
            Command::Top {
                msg: m(1),
                lines: 0,
            },
        ),
        (
            b"top 2 10",
            Command::Top {
                msg: m(2),
                lines: 10,
            },
        ),
        (
            b"TOP 2   10 ",
            Command::Top {
                msg: m(2),
                lines: 10,
            },
        ),
        (
            b"TOP 1 4294967295",
            Command::Top {
                msg: m(1),
                lines: u32::MAX,
            },
        ),
    ];
    for (line, want) in cases {
        assert_eq!(
            parse_command(line),
            Ok(want),
            "line {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn bad_commands() {
    use ParseError::*;
    let missing = |command, what| MissingArgument { command, what };
    let too_many = |command| TooManyArguments { command };
    let cases: Vec<(&[u8], ParseError)> = vec![
        (b"", Empty),
        (b" ", UnknownCommand),
        (b" STAT", UnknownCommand),
        (b"STAT\t", UnknownCommand),
        (b"XYZZY", UnknownCommand),
        (b"STATS", UnknownCommand),
        (b"LAST", UnknownCommand),
        (b"\xc3\xa9", UnknownCommand),
        (b"ST\xffAT", UnknownCommand),
        (b"STAT\0", ControlChar),
        (b"PASS a\0b", ControlChar),
        (b"USER a\rb", ControlChar),
        (b"USER", missing("USER", "a user name")),
        (b"USER ", missing("USER", "a user name")),
        (b"USER   ", missing("USER", "a user name")),
        (b"USER \xff", InvalidUtf8),
        (b"PASS", missing("PASS", "a password")),
        (b"PASS ", missing("PASS", "a password")),
        (b"APOP", missing("APOP", "a name and a digest")),
        (b"APOP mrose", missing("APOP", "a name and a digest")),
        (b"APOP mrose c4c9334bac560ecc979e58001b3e22f", InvalidDigest),
        (
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fbb",
            InvalidDigest,
        ),
        (
            b"APOP mrose C4C9334BAC560ECC979E58001B3E22FB",
            InvalidDigest,
        ),
        (
            b"APOP mrose g4c9334bac560ecc979e58001b3e22fb",
            InvalidDigest,
        ),
        (
            b"APOP mrose c4c9334bac560ecc979e58001b3e22fb x",
            too_many("APOP"),
        ),
        (b"AUTH PL@IN", InvalidMechanism),
        (b"AUTH ABCDEFGHIJKLMNOPQRSTU", InvalidMechanism),
        (b"AUTH PLAIN !!!!", InvalidBase64),
        (b"AUTH PLAIN AGFsaWNl=", InvalidBase64),
        (b"AUTH PLAIN == x", too_many("AUTH")),
        (b"STLS now", too_many("STLS")),
        (b"CAPA x", too_many("CAPA")),
        (b"UTF8 on", too_many("UTF8")),
        (b"STAT 1", too_many("STAT")),
        (b"NOOP 1", too_many("NOOP")),
        (b"RSET x", too_many("RSET")),
        (b"QUIT now", too_many("QUIT")),
        (b"LIST 0", MsgNumZero),
        (b"LIST 00", MsgNumZero),
        (b"LIST +1", InvalidMsgNum),
        (b"LIST -1", InvalidMsgNum),
        (b"LIST 1a", InvalidMsgNum),
        (b"LIST 0x10", InvalidMsgNum),
        (b"LIST \xd9\xa1", InvalidMsgNum),
        (b"LIST 1 2", too_many("LIST")),
        (b"LIST 4294967296", NumberTooLarge),
        (b"LIST 99999999999999999999999999999", NumberTooLarge),
        (b"LIST 00000000001", NumberTooLarge),
        (b"UIDL 0", MsgNumZero),
        (b"UIDL 1 1", too_many("UIDL")),
        (b"RETR", missing("RETR", "a message number")),
        (b"RETR ", missing("RETR", "a message number")),
        (b"RETR 0", MsgNumZero),
        (b"RETR one", InvalidMsgNum),
        (b"RETR 1 2", too_many("RETR")),
        (b"DELE", missing("DELE", "a message number")),
        (b"DELE -5", InvalidMsgNum),
        (b"TOP", missing("TOP", "a message number and a line count")),
        (b"TOP 1", missing("TOP", "a line count")),
        (b"TOP 0 1", MsgNumZero),
        (b"TOP 1 -1", InvalidLineCount),
        (b"TOP 1 +1", InvalidLineCount),
        (b"TOP 1 4294967296", NumberTooLarge),
        (b"TOP 1 2 3", too_many("TOP")),
    ];
    for (line, want) in cases {
        assert_eq!(
            parse_command(line),
            Err(want),
            "line {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn errors_read_as_sentences_on_the_wire() {
    let cases: &[(&[u8], &str)] = &[
        (b"FOO", "-ERR Unknown command.\r\n"),
        (b"RETR", "-ERR RETR needs a message number.\r\n"),
        (b"STAT 1", "-ERR Too many arguments for STAT.\r\n"),
        (b"LIST 0", "-ERR Message numbers start at 1.\r\n"),
        (b"", "-ERR Empty command line.\r\n"),
    ];
    assert_eq!(
        ParseError::LineTooLong.to_response().to_bytes(),
        b"-ERR Line too long.\r\n"
    );
    for &(line, want) in cases {
        let err = parse_command(line).expect_err("bad line");
        assert_eq!(String::from_utf8_lossy(&err.to_response().to_bytes()), want);
    }
}

#[test]
fn secrets_do_not_leak_through_debug() {
    let lines: &[&[u8]] = &[b"PASS hunter2", b"AUTH PLAIN AGFsaWNlAGh1bnRlcjI="];
    for &line in lines {
        let cmd = parse_command(line).expect("valid");
        let printed = format!("{cmd:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
    let sasl = parse_sasl_response(b"aHVudGVyMg==").expect("valid base64");
    assert!(!format!("{sasl:?}").contains("hunter2"));
    assert_eq!(sasl, SaslResponse::Data(secret(b"hunter2")));
}

#[test]
fn sasl_lines() {
    assert_eq!(parse_sasl_response(b"*"), Ok(SaslResponse::Cancel));
    assert_eq!(
        parse_sasl_response(b""),
        Ok(SaslResponse::Data(secret(b"")))
    );
    assert_eq!(
        parse_sasl_response(b"AGFsaWNlAHNlY3JldA=="),
        Ok(SaslResponse::Data(secret(b"\0alice\0secret")))
    );
    let bad: &[&[u8]] = &[b"**", b" *", b"abc", b"a b=", b"\0", b"AGFsaWNl="];
    for &line in bad {
        assert_eq!(
            parse_sasl_response(line),
            Err(ParseError::InvalidBase64),
            "{line:?}"
        );
    }
}

#[test]
fn msg_num_helpers() {
    assert_eq!(MsgNum::try_from(0), Err(ParseError::MsgNumZero));
    let n = MsgNum::try_from(3).expect("non-zero");
    assert_eq!((n.get(), n.index(), n.to_string()), (3, 2, "3".to_owned()));
    assert_eq!(parse_command(b"RETR 9").map(|c| c.name()), Ok("RETR"));
}

/// What a session would see for each frame: a command, a SASL line, or an
/// error sentence.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Cmd(Command),
    Sasl(SaslResponse),
    Err(String),
}

/// Framer and parser together, switching to SASL framing after AUTH the way
/// a session will; `chunk` is how many bytes each read returns.
fn run_session(stream: &[u8], chunk: usize) -> Vec<Seen> {
    use crate::framer::{Frame, FrameMode, LineFramer};
    let mut framer = LineFramer::default();
    let mut seen = Vec::new();
    for piece in stream.chunks(chunk) {
        let mut input = piece;
        while !input.is_empty() {
            let (used, frame) = framer.decode(input);
            input = &input[used..];
            let line = match frame {
                None => continue,
                Some(Frame::TooLong) => {
                    seen.push(Seen::Err("too long".into()));
                    continue;
                }
                Some(Frame::Line(line)) => line,
            };
            match framer.mode() {
                FrameMode::Command => match parse_command(&line) {
                    Ok(cmd) => {
                        if matches!(cmd, Command::Auth { .. }) {
                            framer.set_mode(FrameMode::Sasl);
                        }
                        seen.push(Seen::Cmd(cmd));
                    }
                    Err(e) => seen.push(Seen::Err(e.to_string())),
                },
                FrameMode::Sasl => {
                    match parse_sasl_response(&line) {
                        Ok(r) => seen.push(Seen::Sasl(r)),
                        Err(e) => seen.push(Seen::Err(e.to_string())),
                    }
                    framer.set_mode(FrameMode::Command);
                }
            }
        }
    }
    seen
}

#[test]
fn pipelined_session_is_the_same_at_every_chunk_size() {
    // The SASL line is longer than the 255-octet command limit on purpose:
    // it must only fit because AUTH switched the framer to SASL mode.
    let long_sasl = "QUFB".repeat(100);
    let mut stream = Vec::new();
    stream.extend_from_slice(b"CAPA\r\nAUTH PLAIN\r\n");
    stream.extend_from_slice(long_sasl.as_bytes());
    stream.extend_from_slice(b"\r\nAUTH LOGIN\r\n*\r\n");
    stream.extend_from_slice(long_sasl.as_bytes());
    stream.extend_from_slice(b"\r\nuser bob\nPASS x y\r\nSTAT\r\nTOP 1 0\r\nRETR 0\r\nQUIT\r\n");

    let want = vec![
        Seen::Cmd(Command::Capa),
        Seen::Cmd(Command::Auth {
            mechanism: mech("PLAIN"),
            initial_response: None,
        }),
        Seen::Sasl(SaslResponse::Data(secret(&b"AAA".repeat(100)))),
        Seen::Cmd(Command::Auth {
            mechanism: mech("LOGIN"),
            initial_response: None,
        }),
        Seen::Sasl(SaslResponse::Cancel),
        Seen::Err("too long".into()),
        Seen::Cmd(Command::User("bob".into())),
        Seen::Cmd(Command::Pass(secret(b"x y"))),
        Seen::Cmd(Command::Stat),
        Seen::Cmd(Command::Top {
            msg: m(1),
            lines: 0,
        }),
        Seen::Err("Message numbers start at 1.".into()),
        Seen::Cmd(Command::Quit),
    ];
    for chunk in 1..=64 {
        assert_eq!(run_session(&stream, chunk), want, "chunk size {chunk}");
    }
    assert_eq!(run_session(&stream, stream.len()), want);
}
