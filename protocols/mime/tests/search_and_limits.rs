//! Search text over corpus messages, and hostile nesting that must neither overflow the
//! stack nor lose the cache round trip.

use std::path::Path;

use roost_mime::{
    BodyPart, MAX_NESTING, PartKind, body_structure, body_text, contains_ci, header_values,
};

fn corpus(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn rfc2047_headers_decode_for_search() {
    let msg = corpus("rfc2047.eml");
    let from = header_values(&msg, "from");
    assert_eq!(from.len(), 1);
    assert!(contains_ci(&from[0], "JÜRGEN MÜLLER"), "{from:?}");
    let subject = header_values(&msg, "Subject");
    assert!(
        contains_ci(
            &subject[0],
            "if you can read this you understand the example."
        ),
        "{subject:?}"
    );
    assert!(header_values(&msg, "X-Missing").is_empty());
}

#[test]
fn body_text_has_decoded_text_parts_only() {
    let msg = corpus("attachments.eml");
    let text = body_text(&msg);
    assert!(contains_ci(&text, "CAFÉ and = sign"), "{text:?}");
    assert!(contains_ci(&text, "ünicode text"), "{text:?}");
    assert!(
        !text.contains("Hello\n"),
        "binary attachment leaked: {text:?}"
    );
    let inner = body_text(&corpus("rfc822.eml"));
    assert!(contains_ci(&inner, "inner text café"), "{inner:?}");
}

fn depth(p: &BodyPart) -> usize {
    1 + p.children.iter().map(depth).max().unwrap_or(0)
}

#[test]
fn ten_thousand_nested_multiparts_are_capped() {
    let n = 10_000;
    let mut msg = String::new();
    for i in 0..n {
        msg.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    msg.push_str("\ndeepest\n");
    let tree = body_structure(msg.as_bytes());
    assert_eq!(depth(&tree), MAX_NESTING);
    let blob = tree.encode();
    assert_eq!(BodyPart::decode(&blob).as_ref(), Ok(&tree));
    assert!(tree.to_imap(true).starts_with(b"(((("));
    let _ = body_text(msg.as_bytes());
}

#[test]
fn ten_thousand_nested_messages_are_capped() {
    let msg = "Content-Type: message/rfc822\n\n".repeat(10_000) + "Subject: x\n\nbody\n";
    let tree = body_structure(msg.as_bytes());
    assert_eq!(tree.kind, PartKind::Message);
    assert_eq!(depth(&tree), MAX_NESTING);
    // The deepest part is opaque: written as application/octet-stream, never a
    // message/rfc822 without an envelope.
    let out = String::from_utf8(tree.to_imap(true)).expect("ascii");
    assert!(out.contains("\"application\" \"octet-stream\""), "{out}");
    // Search must survive it too (mail-parser has its own nesting limit).
    let _ = body_text(msg.as_bytes());
}

/// Every prefix of every corpus message (a truncated file, a cut header, an open
/// quote...) goes through every entry point without a panic, and the cached tree of each
/// answers like the fresh one.
#[test]
fn truncated_corpus_messages_never_panic() {
    use roost_mime::{SectionSpec, SectionText, binary, envelope, section};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut checked = 0;
    for (_, full) in roost_testkit::maildir::read_files_with_extension(&dir, "eml") {
        let step = (full.len() / 300).max(1);
        for cut in (0..=full.len()).step_by(step) {
            let msg = &full[..cut];
            let tree = body_structure(msg);
            let cached = BodyPart::decode(&tree.encode()).expect("round trip");
            assert_eq!(cached, tree);
            let _ = envelope(msg).to_imap();
            let _ = tree.to_imap(true);
            for part in [
                vec![],
                vec![1],
                vec![2],
                vec![1, 1],
                vec![2, 1],
                vec![9, 9, 9],
            ] {
                for text in [
                    None,
                    Some(SectionText::Header),
                    Some(SectionText::Text),
                    Some(SectionText::Mime),
                    Some(SectionText::HeaderFields(vec!["subject".into()])),
                    Some(SectionText::HeaderFieldsNot(vec!["from".into()])),
                ] {
                    let spec = SectionSpec {
                        part: part.clone(),
                        text,
                    };
                    let _ = section(msg, &tree, &spec);
                }
                let _ = binary(msg, &tree, &part);
            }
            let _ = body_text(msg);
            let _ = header_values(msg, "subject");
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} prefixes");
}
