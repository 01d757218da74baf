use super::*;

/// Owned copy of an event, with literal data merged per literal, for comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ev {
    Line(Vec<u8>, bool),
    Lit(Literal),
    Data(Vec<u8>),
    Err(FramingError),
}

/// Feeds `input` in `chunk`-byte pieces; `decide` says whether to accept each literal.
pub(crate) fn run(
    limits: FramingLimits,
    input: &[u8],
    chunk: usize,
    mut decide: impl FnMut(&Literal) -> bool,
) -> Vec<Ev> {
    let mut f = Framer::new(limits);
    let mut out: Vec<Ev> = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        f.push(piece);
        while let Some(ev) = f.next_event() {
            match ev {
                Event::Line { data, complete } => out.push(Ev::Line(data.to_vec(), complete)),
                Event::LiteralAnnounced(lit) => {
                    out.push(Ev::Lit(lit));
                    if decide(&lit) {
                        assert!(f.accept_literal());
                    } else {
                        assert!(f.reject_command());
                    }
                }
                Event::LiteralData(d) => match out.last_mut() {
                    Some(Ev::Data(v)) => v.extend_from_slice(d),
                    _ => out.push(Ev::Data(d.to_vec())),
                },
                Event::Error(e) => out.push(Ev::Err(e)),
            }
        }
    }
    out
}

fn line(s: &str, complete: bool) -> Ev {
    Ev::Line(s.as_bytes().to_vec(), complete)
}

fn lit(len: u32, sync: bool, binary: bool) -> Ev {
    Ev::Lit(Literal { len, sync, binary })
}

#[test]
fn lines_and_literals() {
    let input = b"a NOOP\r\nb LOGIN {3}\r\nbob {4+}\r\npass\r\nc APPEND x ~{2}\r\n\0\x01\r\nd IDLE\r\nDONE\r\n";
    let got = run(FramingLimits::default(), input, 1, |_| true);
    assert_eq!(
        got,
        vec![
            line("a NOOP\r\n", true),
            line("b LOGIN {3}\r\n", false),
            lit(3, true, false),
            Ev::Data(b"bob".to_vec()),
            line(" {4+}\r\n", false),
            lit(4, false, false),
            Ev::Data(b"pass".to_vec()),
            line("\r\n", true),
            line("c APPEND x ~{2}\r\n", false),
            lit(2, true, true),
            Ev::Data(b"\0\x01".to_vec()),
            line("\r\n", true),
            line("d IDLE\r\n", true),
            line("DONE\r\n", true),
        ]
    );
}

#[test]
fn rejected_sync_literal_resumes_at_next_line() {
    // The client got no `+`, so the next thing it sends is a new command.
    let input = b"a APPEND nope {5}\r\nb NOOP\r\n";
    let got = run(FramingLimits::default(), input, 3, |_| false);
    assert_eq!(
        got,
        vec![
            line("a APPEND nope {5}\r\n", false),
            lit(5, true, false),
            line("b NOOP\r\n", true),
        ]
    );
}

#[test]
fn rejected_nonsync_literal_skips_data_and_rest_of_command() {
    let input = b"a APPEND nope {5+}\r\nhello {2+}\r\nxy\r\nb NOOP\r\n";
    let got = run(FramingLimits::default(), input, 2, |_| false);
    assert_eq!(
        got,
        vec![
            line("a APPEND nope {5+}\r\n", false),
            lit(5, false, false),
            line("b NOOP\r\n", true),
        ]
    );
}

#[test]
fn overlong_line_resyncs() {
    let limits = FramingLimits {
        max_line_len: 16,
        ..FramingLimits::default()
    };
    let input = b"a NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nb NOOP\r\n";
    for chunk in 1..=8 {
        let got = run(limits, input, chunk, |_| true);
        assert_eq!(
            got,
            vec![
                Ev::Err(FramingError::LineTooLong { limit: 16 }),
                line("b NOOP\r\n", true),
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn overlong_line_with_nonsync_literal_skips_literal() {
    let limits = FramingLimits {
        max_line_len: 16,
        ..FramingLimits::default()
    };
    let input = b"a LOGIN xxxxxxxxxxxxxxxxxxxxxxxxxxxxx {3+}\r\nabc\r\nb NOOP\r\n";
    let got = run(limits, input, 5, |_| true);
    assert_eq!(
        got,
        vec![
            Ev::Err(FramingError::LineTooLong { limit: 16 }),
            line("b NOOP\r\n", true),
        ]
    );
}

#[test]
fn literal_over_limit_is_refused_before_data() {
    let input = b"a APPEND x {52428801}\r\nb NOOP\r\n";
    let got = run(FramingLimits::default(), input, 7, |_| true);
    assert_eq!(
        got,
        vec![
            Ev::Err(FramingError::LiteralTooLarge {
                len: 52_428_801,
                limit: 50 * 1024 * 1024,
                sync: true
            }),
            line("b NOOP\r\n", true),
        ]
    );
    let limits = FramingLimits {
        max_literal_len: 4,
        ..FramingLimits::default()
    };
    let got = run(limits, b"a X {6+}\r\nabcdef\r\nb NOOP\r\n", 1, |_| true);
    assert_eq!(
        got,
        vec![
            Ev::Err(FramingError::LiteralTooLarge {
                len: 6,
                limit: 4,
                sync: false
            }),
            line("b NOOP\r\n", true),
        ]
    );
}

#[test]
fn literal_length_beyond_32_bits() {
    let got = run(
        FramingLimits::default(),
        b"a LOGIN {4294967296}\r\nb NOOP\r\n",
        4,
        |_| true,
    );
    assert_eq!(
        got,
        vec![
            Ev::Err(FramingError::LiteralLengthInvalid {
                digits: "4294967296".into(),
                sync: true
            }),
            line("b NOOP\r\n", true),
        ]
    );
    let mut f = Framer::default();
    f.push(b"a LOGIN {99999999999999999999999+}\r\nb NOOP\r\n");
    let Some(Event::Error(e)) = f.next_event() else {
        panic!("expected an error");
    };
    assert!(e.is_fatal());
    assert!(f.is_dead());
    assert_eq!(f.next_event(), None);
}

#[test]
fn command_size_limit() {
    let limits = FramingLimits {
        max_command_len: 30,
        ..FramingLimits::default()
    };
    let input = b"a LOGIN {10}\r\n0123456789 {10+}\r\n0123456789\r\nb NOOP\r\n";
    let got = run(limits, input, 3, |_| true);
    assert_eq!(
        got,
        vec![
            line("a LOGIN {10}\r\n", false),
            lit(10, true, false),
            Ev::Data(b"0123456789".to_vec()),
            Ev::Err(FramingError::CommandTooLong { limit: 30 }),
            line("b NOOP\r\n", true),
        ]
    );
}

#[test]
fn not_announcements() {
    for l in ["a X {}\r\n", "a X {1a}\r\n", "a X 12}\r\n", "a X {+}\r\n"] {
        let got = run(FramingLimits::default(), l.as_bytes(), 1, |_| true);
        assert_eq!(got, vec![line(l, true)], "{l}");
    }
}

#[test]
fn no_decision_no_progress() {
    let mut f = Framer::default();
    f.push(b"a LOGIN {3}\r\nabc\r\n");
    assert!(matches!(f.next_event(), Some(Event::Line { .. })));
    assert!(matches!(f.next_event(), Some(Event::LiteralAnnounced(_))));
    assert!(f.awaiting_decision());
    assert_eq!(f.next_event(), None);
    assert_eq!(f.buffered(), 5);
    assert!(f.accept_literal());
    assert_eq!(f.next_event(), Some(Event::LiteralData(b"abc")));
    assert!(!f.accept_literal());
}
