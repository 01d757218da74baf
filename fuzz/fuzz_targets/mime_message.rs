//! The MIME path on arbitrary message bytes: structure, envelope, every section form of
//! every part, BINARY, search text, and the cache blob round trip. Must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roost_mime::{
    BodyPart, PartKind, SectionSpec, SectionText, binary, body_structure, body_text, envelope,
    header_values, section,
};

fn part_paths(p: &BodyPart, path: &mut Vec<u32>, out: &mut Vec<Vec<u32>>, budget: &mut usize) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    out.push(path.clone());
    for (i, c) in p.children.iter().enumerate() {
        path.push(i as u32 + 1);
        part_paths(c, path, out, budget);
        path.pop();
    }
}

fuzz_target!(|msg: &[u8]| {
    let tree = body_structure(msg);
    let _ = tree.to_imap(true);
    let _ = tree.to_imap(false);
    let _ = envelope(msg).to_imap();
    let blob = tree.encode();
    let back = BodyPart::decode(&blob).expect("own encoding decodes");
    assert_eq!(back.encode(), blob, "cache blob round trip");
    // A forged or cut blob is an error, never a panic.
    let _ = BodyPart::decode(&blob[..blob.len() / 2]);
    let _ = BodyPart::decode(msg);

    let mut paths = Vec::new();
    let mut budget = 64;
    part_paths(&tree, &mut Vec::new(), &mut paths, &mut budget);
    paths.push(vec![9, 9, 9]); // a part that does not exist
    for part in paths {
        let texts = [
            None,
            Some(SectionText::Header),
            Some(SectionText::HeaderFields(vec!["Subject".into(), "X-".into()])),
            Some(SectionText::HeaderFieldsNot(vec!["From".into()])),
            Some(SectionText::Text),
            Some(SectionText::Mime),
        ];
        for text in texts {
            let spec = SectionSpec {
                part: part.clone(),
                text,
            };
            let _ = section(msg, &tree, &spec);
        }
        let _ = binary(msg, &tree, &part);
    }
    let _ = matches!(tree.kind, PartKind::Multipart);
    let _ = header_values(msg, "subject");
    let _ = body_text(msg);
});
