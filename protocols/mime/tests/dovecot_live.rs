//! Cross-checks against the real Dovecot: regenerates the corpus answers through its IMAP
//! server and compares them with what roost-mime produces.

mod common;

use common::fixture::{compare, corpus, corpus_dir, dovecot_answers, write_records};
use roost_testkit::Dovecot;

/// Rewrites every `tests/corpus/NAME.expected` from Dovecot's answers.
/// Run: `cargo test -p roost-mime --test dovecot_live -- --ignored regenerate_fixtures`.
#[test]
#[ignore = "rewrites the committed fixtures; run by hand after changing the corpus"]
fn regenerate_fixtures() {
    let Some(dv) = Dovecot::start() else { return };
    let msgs = corpus();
    let answers = dovecot_answers(&dv, &msgs);
    for ((name, _), records) in msgs.iter().zip(answers) {
        let path = corpus_dir().join(format!("{name}.expected"));
        std::fs::write(&path, write_records(&records)).expect("write fixture");
    }
}

/// Asks the installed Dovecot again and compares its answers with roost-mime's, so a
/// Dovecot upgrade or a stale fixture shows up. Fails without doveadm unless
/// `ROOST_SKIP_DOVECOT=1`.
#[test]
fn live_dovecot_agrees_with_roost_mime() {
    let Some(dv) = Dovecot::start() else { return };
    let msgs = corpus();
    let answers = dovecot_answers(&dv, &msgs);
    let mut bad = Vec::new();
    for ((name, msg), records) in msgs.iter().zip(&answers) {
        bad.extend(compare(name, msg, records));
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
