//! Control files written by a real Dovecot 2.3 (see fixtures/maildir/README.md).

use std::path::PathBuf;

use roost_storage::maildir::keywords::KeywordNames;
use roost_storage::maildir::uidlist::Uidlist;
use roost_storage::maildir::{MaildirError, filename, subscriptions};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/maildir")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn rewritten_uidlist_roundtrips_byte_for_byte() -> Result<(), MaildirError> {
    let text = fixture("dovecot-uidlist.rewritten");
    let list = Uidlist::parse(&text)?;
    assert_eq!(list.uid_validity, 1795685845);
    assert_eq!(list.next_uid, 4);
    assert_eq!(
        list.guid.as_deref(),
        Some("a853362ad5fd076b222a000083ecc375")
    );
    let uids: Vec<u32> = list.records.iter().map(|r| r.uid).collect();
    assert_eq!(uids, [1, 3], "uid 2 was expunged");
    let sizes: Vec<_> = list
        .records
        .iter()
        .map(|r| filename::parse(r.base()).size)
        .collect();
    assert_eq!(sizes, [Some(30), Some(32)]);
    assert_eq!(list.render(), text);
    Ok(())
}

#[test]
fn appended_uidlist_raises_next_uid() -> Result<(), MaildirError> {
    let text = fixture("dovecot-uidlist.appended");
    let list = Uidlist::parse(&text)?;
    assert_eq!(list.records.len(), 1);
    assert_eq!(list.next_uid, 2, "header says N1 but uid 1 exists");
    // Rendering writes what Dovecot itself writes on its next rewrite.
    assert_eq!(list.render(), text.replacen(" N1 ", " N2 ", 1));
    Ok(())
}

#[test]
fn keywords_and_subscriptions_fixtures() -> Result<(), MaildirError> {
    let text = fixture("dovecot-keywords");
    let k = KeywordNames::parse(&text);
    assert_eq!(k.index_of("$label1"), Some(0));
    assert_eq!(k.index_of("$Label2"), Some(1));
    assert_eq!(k.render(), text);

    let tmp = tempfile::tempdir().map_err(|e| MaildirError::io("tempdir", e))?;
    let subs = fixture("subscriptions");
    std::fs::write(tmp.path().join("subscriptions"), &subs)
        .map_err(|e| MaildirError::io("w", e))?;
    let names = subscriptions::read_subscriptions(tmp.path())?;
    assert_eq!(names, ["Entwürfe", "a.b"]);
    subscriptions::write_subscriptions(tmp.path(), &names, false)?;
    let back = std::fs::read_to_string(tmp.path().join("subscriptions"))
        .map_err(|e| MaildirError::io("r", e))?;
    assert_eq!(back, subs, "our v2 output is byte-identical to Dovecot's");
    Ok(())
}
