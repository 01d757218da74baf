//! The readers of files a local user or another program can write: `dovecot-uidlist`,
//! `dovecot-keywords`, the users file (Dovecot passwd-file), Roost's index. Arbitrary bytes
//! must give a value or an error, never a panic; what parses must render and parse again.
//!
//! The first byte picks the reader.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roost_storage::auth::parse_passwd_file;
use roost_storage::index::IndexFile;
use roost_storage::maildir::keywords::KeywordNames;
use roost_storage::maildir::uidlist::Uidlist;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(list) = Uidlist::parse(&text) {
                let again = Uidlist::parse(&list.render()).expect("rendered uidlist parses");
                assert_eq!(again.render(), list.render(), "uidlist render is stable");
                assert!(list.records.windows(2).all(|w| w[0].uid < w[1].uid));
                assert!(list.records.iter().all(|r| r.uid < list.next_uid));
            }
        }
        1 => {
            let text = String::from_utf8_lossy(rest);
            let k = KeywordNames::parse(&text);
            let again = KeywordNames::parse(&k.render());
            assert_eq!(again.render(), k.render(), "keywords render is stable");
        }
        2 => {
            let (users, _errors) = parse_passwd_file(rest);
            assert!(users.iter().all(|u| !u.name.is_empty() && !u.name.contains(':')));
        }
        _ => {
            if let Ok(idx) = IndexFile::decode(rest) {
                assert_eq!(IndexFile::decode(&idx.encode()).ok(), Some(idx));
            }
        }
    }
});
