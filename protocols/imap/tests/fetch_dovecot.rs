//! FETCH of the session-dependent items (FLAGS with \Recent and keywords, INTERNALDATE,
//! RFC822.SIZE, UID, partial BODY and BINARY, HEADER.FIELDS echo) against Dovecot's `imap`
//! binary on the same message with the same flags and date. The MIME-derived items are
//! compared on the whole corpus by the unit tests (`fetch::tests::corpus_matches_dovecot`).

use roost_imap::command::{CommandBody, Parsed, parse_command};
use roost_imap::fetch::{FetchEnv, fetch_message};
use roost_storage::Flags;
use roost_testkit::maildir::{message_files, remove_dovecot_index, set_mtime};
use roost_testkit::store::{add_message, open};
use roost_testkit::{Dovecot, StoreBuilder};

const MSG: &[u8] = b"From: a@example.org\nSubject: hi\nX-Y: z\n\nbody\0x\nsecond line\n";
/// 2019-01-03 12:00:00 UTC: a one-digit day shows how the day is padded.
const DATE: i64 = 1_546_516_800;
const ITEMS: &str = "(FLAGS INTERNALDATE RFC822.SIZE UID BODY.PEEK[TEXT]<1.3> \
    BINARY.PEEK[1]<2.3> BODY.PEEK[HEADER.FIELDS (SUBJECT X-Y)] BODY.PEEK[]<1000.5> \
    RFC822.HEADER BINARY.SIZE[1] BODY.PEEK[TEXT] BINARY.PEEK[1])";

fn dovecot_answer() -> Option<Vec<u8>> {
    let dv = Dovecot::start()?;
    dv.save("INBOX", MSG);
    // INTERNALDATE of a Maildir message is its file's mtime; forget the index so Dovecot
    // reads it again (the message stays \Recent for the next session).
    for p in message_files(&dv.maildir) {
        set_mtime(&p, DATE);
    }
    remove_dovecot_index(&dv.maildir);
    let script = format!(
        "s SELECT INBOX\r\nb STORE 1 +FLAGS.SILENT (\\Flagged \\Answered $Forwarded work)\r\n\
         a FETCH 1 {ITEMS}\r\nz LOGOUT\r\n"
    );
    let out = dv.imap(script.as_bytes());
    let start = out
        .windows(13)
        .position(|w| w == b"* 1 FETCH (FL")
        .expect("FETCH answer");
    // The response ends at `)\r\n` followed by the next response (commands are pipelined,
    // so that may be the STORE's tagged OK).
    let rest = &out[start..];
    let end = (0..rest.len())
        .find(|&i| {
            rest[i..].starts_with(b")\r\n")
                && [&b"a OK"[..], b"b OK", b"* ", b"z "]
                    .iter()
                    .any(|next| rest[i + 3..].starts_with(next))
        })
        .expect("end of FETCH");
    Some(rest[..end + 3].to_vec())
}

#[test]
fn session_items_match_dovecot() {
    let Some(want) = dovecot_answer() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = StoreBuilder::new(tmp.path()).build();
    let mb = open(&store, "u", "INBOX");
    add_message(
        &mb,
        MSG,
        Flags::FLAGGED.union(Flags::ANSWERED),
        &["$Forwarded", "work"],
        DATE,
    );
    let info = mb.snapshot().expect("snapshot").messages.remove(0);
    let names = mb.keyword_names();
    let env = FetchEnv {
        mailbox: &mb,
        keyword_names: &names,
        utf8: false,
        recent: true,
    };
    let line = format!("a FETCH 1 {ITEMS}\r\n");
    let attrs = match parse_command(line.as_bytes()) {
        Ok(Parsed::Command(c)) => match c.body {
            CommandBody::Fetch { items, .. } => items.expand(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let got = fetch_message(&env, 1, &info, &attrs).expect("fetch");
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}
