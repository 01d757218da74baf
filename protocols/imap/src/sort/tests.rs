//! Known answers for base subjects (RFC 5256 section 2.1), dates and comparison text.

use super::*;

#[test]
fn base_subject_table() {
    let cases = [
        ("Hello", "Hello", false),
        ("Re: Hello", "Hello", true),
        ("RE: re: Fwd: fw: Hello", "Hello", true),
        ("Re : Hello", "Hello", true),
        ("Re:Hello", "Hello", true),
        ("Re[2]: Hello", "Hello", true),
        ("[list] Re: Hello", "Hello", true),
        ("[list] Hello", "Hello", false),
        ("[only blob]", "[only blob]", false),
        ("[a] [b]", "[b]", false),
        ("Hello (fwd)", "Hello", true),
        ("Hello (FWD) (fwd)  ", "Hello", true),
        ("[fwd: Hello]", "Hello", true),
        ("[Fwd: Re: Hello (fwd)]", "Hello", true),
        (
            "  [blob] [other]  Re:   spaced \t   subject  ",
            "spaced subject",
            true,
        ),
        ("", "", false),
        ("Re:", "", true),
        ("Über café", "Über café", false),
        ("[unterminated Re: x", "[unterminated Re: x", false),
        ("fwdx: no", "fwdx: no", false),
    ];
    for (input, want, reply) in cases {
        assert_eq!(base_subject(input), (want.to_string(), reply), "{input:?}");
    }
}

#[test]
fn date_time_table() {
    let cases = [
        ("Mon, 1 Jan 2024 10:00:00 +0000", Some(1_704_103_200)),
        ("1 Jan 2024 09:00:00 -0500", Some(1_704_117_600)),
        ("Mon, 1 Jan 2024 05:00 EST", Some(1_704_103_200)),
        ("Mon, 1 Jan 24 10:00:00 +0000 (UTC)", Some(1_704_103_200)),
        ("Mon, 1 Jan 2024 10:00:00", Some(1_704_103_200)),
        ("garbage", None),
        ("Mon, 32 Jan 2024 10:00:00 +0000", None),
        ("Mon, 1 Jan 2024 25:00:00 +0000", None),
        ("Mon, 1 Jan 2024 10:00:00 +01", None),
    ];
    for (input, want) in cases {
        assert_eq!(parse_date_time(input), want, "{input:?}");
    }
}

#[test]
fn sort_text_uppercases_and_decomposes() {
    assert_eq!(sort_text("über café"), "U\u{308}BER CAFE\u{301}");
    assert!(sort_text("Über") < sort_text("["));
    assert_eq!(sort_text("straße"), "STRASSE");
}

#[test]
fn addresses_for_sorting() {
    let h = b"From: =?UTF-8?Q?J=C3=BCrgen?= <Jurgen@example.de>\nTo: <mary@example.com>\nCc: friends: a@b.c;\n\n";
    assert_eq!(first_mailbox(h, "From"), "Jurgen");
    assert_eq!(display_name(h, "From"), "Jürgen");
    assert_eq!(display_name(h, "To"), "mary@example.com");
    assert_eq!(first_mailbox(h, "Cc"), "friends");
    assert_eq!(display_name(h, "Bcc"), "");
}
