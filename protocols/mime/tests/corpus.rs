//! roost-mime against the Dovecot answers recorded next to each corpus message.

mod common;

use common::fixture::{ITEMS, compare, corpus, corpus_dir, read_records};

#[test]
fn corpus_matches_dovecot_fixtures() {
    let msgs = corpus();
    assert!(msgs.len() >= 20, "corpus went missing: {}", msgs.len());
    let mut bad = Vec::new();
    for (name, msg) in &msgs {
        let path = corpus_dir().join(format!("{name}.expected"));
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let records = read_records(&data);
        assert_eq!(records.len(), ITEMS.len(), "{name}: fixture out of date");
        bad.extend(compare(name, msg, &records));
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
