//! FETCH PREVIEW (RFC 8970) against Dovecot's `imap` binary: the MIME corpus plus messages
//! aimed at the preview rules (quoted lines, HTML, skipped parts, charsets, the length
//! limit) go into both, and every `* n FETCH (PREVIEW ...)` must be byte-identical.

use std::path::PathBuf;

use roost_imap::fetch::{FetchEnv, fetch_message};
use roost_imap::types::FetchAttribute;
use roost_testkit::maildir::read_files_with_extension;
use roost_testkit::store::{corpus_inbox, open};
use roost_testkit::{Dovecot, StoreBuilder};

const EXTRA: &[&str] = &[
    "Subject: a\n\n> quoted line\nHello   world,\n\nthis is   the <b>body</b> text.\n-- \nsig\n",
    "Subject: a\nContent-Type: text/html; charset=utf-8\n\n<html><head><style>p{}</style></head><body><p>Hello &amp; caf&eacute; <b>bold</b></p>\n<p>Next   para</p></body></html>\n",
    "Subject: a\nContent-Type: text/html\n\nx<b>y</b>z a<br>b &lt;&gt;&nbsp;&#233;&#xe9;&quot;&bogus;&copy; <!-- c -->d<script>s</script>e<blockquote>q</blockquote>f <a href=\"x\">link</a> <img alt=\"pic\">\n",
    "Subject: a\nContent-Type: multipart/alternative; boundary=XX\n\n--XX\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 =\nsoft break\n\n\tTabs and\ttext\n--XX\nContent-Type: text/html\n\n<p>html</p>\n--XX--\n",
    "Subject: a\nContent-Type: image/png\n\nAAAA\n",
    "Subject: a\n\n> only quoted\n> more\n",
    "Subject: a\n\n> one\n>> two\n>   three\n",
    "Subject: a\n\n>quoted\nplain\n> again\n",
    "Subject: a\n\n\n",
    "Subject: a\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: image/png\n\nxx\n--B\nContent-Type: text/plain\n\ntext\n--B--\n",
    "Subject: a\nContent-Type: multipart/mixed; boundary=B\n\n--B\n\nfirst\n--B\nContent-Type: text/plain\n\nsecond\n--B--\n",
    "Subject: a\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n",
    "Subject: a\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nw7xiZXIgYWxsZXM=\n",
    "Subject: a\n\n\u{feff}bom text\n",
    "Subject: a\nContent-Type: text/plain; charset=utf-8\n\nthis \"has\" \\back\\slashes\\ and \"quotes\" \"\n",
];

fn messages() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../mime/tests/corpus");
    let mut out: Vec<Vec<u8>> = read_files_with_extension(&dir, "eml")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    out.extend(EXTRA.iter().map(|m| m.as_bytes().to_vec()));
    out.push(format!("Subject: a\n\n{}\n", "word ".repeat(60)).into_bytes());
    out.push(format!("Subject: a\n\nÜberall ünïcödé {}\n", "é".repeat(250)).into_bytes());
    out.push(format!("Subject: a\n\n> {}\n", "q".repeat(300)).into_bytes());
    out
}

/// Dovecot's `* n FETCH (...)\r\n` per message.
fn dovecot_answers(msgs: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    let dv = Dovecot::start()?;
    for m in msgs {
        dv.save("INBOX", m);
    }
    let out = dv.imap(b"s EXAMINE INBOX\r\nf FETCH 1:* (PREVIEW)\r\nz LOGOUT\r\n");
    let find = |pat: &[u8]| out.windows(pat.len()).position(|w| w == pat);
    let mut answers = Vec::new();
    for n in 1..=msgs.len() {
        let start = find(format!("* {n} FETCH (").as_bytes()).expect("FETCH answer");
        let end = find(format!("* {} FETCH (", n + 1).as_bytes())
            .or_else(|| find(b"f OK"))
            .expect("end of FETCH");
        answers.push(out[start..end].to_vec());
    }
    Some(answers)
}

#[test]
fn preview_matches_dovecot() {
    let msgs = messages();
    assert!(msgs.len() >= 35, "corpus went missing");
    let Some(want) = dovecot_answers(&msgs) else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mb = corpus_inbox(tmp.path(), &msgs);
    let infos = mb.snapshot().expect("snapshot").messages;
    let names = mb.keyword_names();
    let env = FetchEnv {
        mailbox: &mb,
        keyword_names: &names,
        utf8: false,
        recent: false,
    };
    let mut bad = Vec::new();
    for (round, lazy) in [(0, false), (1, true)] {
        for (i, info) in infos.iter().enumerate() {
            let got = fetch_message(
                &env,
                i as u32 + 1,
                info,
                &[FetchAttribute::Preview { lazy }],
            )
            .expect("fetch");
            // The second round is LAZY: everything is cached by then, so the same text.
            if got != want[i] {
                bad.push(format!(
                    "round {round} message {}:\n  Dovecot: {:?}\n  Roost:   {:?}",
                    i + 1,
                    String::from_utf8_lossy(&want[i]),
                    String::from_utf8_lossy(&got)
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn lazy_preview_is_nil_until_computed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mb = open(&StoreBuilder::new(tmp.path()).build(), "u", "INBOX");
    mb.deliver(&mut &b"Subject: a\n\nhello\n"[..], 1 << 20)
        .expect("deliver");
    let info = mb.snapshot().expect("snapshot").messages.remove(0);
    let names = mb.keyword_names();
    let env = FetchEnv {
        mailbox: &mb,
        keyword_names: &names,
        utf8: false,
        recent: false,
    };
    let fetch = |lazy| {
        String::from_utf8(
            fetch_message(&env, 1, &info, &[FetchAttribute::Preview { lazy }]).expect("fetch"),
        )
        .expect("utf-8")
    };
    assert_eq!(fetch(true), "* 1 FETCH (PREVIEW NIL)\r\n");
    assert_eq!(fetch(false), "* 1 FETCH (PREVIEW \"hello\")\r\n");
    assert_eq!(fetch(true), "* 1 FETCH (PREVIEW \"hello\")\r\n");
}
