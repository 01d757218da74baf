//! `roost user`, `roost pw` and `roost deliver` against the real binary and real files.

mod common;

use std::path::{Path, PathBuf};

use common::{config_yaml, roost};
use roost_testkit::StoreBuilder;
use roost_testkit::maildir::files;
use roost_testkit::process::output_with_input;

struct Env {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    data: PathBuf,
}

fn env_with(extra: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("roost.yaml");
    // `extra` holds settings under `limits:`, merged into the common config's section.
    let yaml = config_yaml(&data).replace("limits:\n", &format!("limits:\n{extra}"));
    std::fs::write(&config, yaml).unwrap();
    Env {
        _tmp: tmp,
        config,
        data,
    }
}

/// Run `roost ARGS -c CONFIG` with `stdin`; (exit code, stdout, stderr).
fn run(config: &Path, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    // The command may reject its arguments and exit before reading stdin: not an error.
    let out = output_with_input(roost().args(args).arg("-c").arg(config), stdin);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn user_add_list_passwd_del() {
    let e = env_with("");
    let users = e.data.join("users");
    let (code, _, err) = run(
        &e.config,
        &["user", "add", "alice", "--password-stdin"],
        b"s3cret\n",
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(text.starts_with("alice:{ARGON2ID}$argon2id$"), "{text}");
    assert!(!text.contains("s3cret"));

    let (code, _, err) = run(
        &e.config,
        &["user", "add", "alice", "--password-stdin"],
        b"x\n",
    );
    assert_eq!(code, 73, "{err}");
    assert!(err.contains("already exists"), "{err}");

    run(
        &e.config,
        &["user", "add", "bob", "--password-stdin"],
        b"pw\n",
    );
    let (code, out, _) = run(&e.config, &["user", "list"], b"");
    assert_eq!(code, 0);
    assert_eq!(out, "alice\nbob\n");

    let before = std::fs::read_to_string(&users).unwrap();
    let (code, _, err) = run(
        &e.config,
        &["user", "passwd", "alice", "--password-stdin"],
        b"new\n",
    );
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(&users).unwrap();
    assert_ne!(before, after);
    assert!(after.contains("\nbob:"), "other users kept: {after}");

    let (code, _, err) = run(
        &e.config,
        &["user", "passwd", "nobody", "--password-stdin"],
        b"x\n",
    );
    assert_eq!(code, 67, "{err}");

    let (code, _, err) = run(&e.config, &["user", "del", "alice"], b"");
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&e.config, &["user", "list"], b"");
    assert_eq!(out, "bob\n");
}

#[test]
fn pw_prints_dovecot_style_hashes() {
    let out = roost()
        .args(["pw", "-s", "SHA512-CRYPT", "-p", "secret"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(hash.starts_with("{SHA512-CRYPT}$6$"), "{hash}");
    assert!(roost_storage::auth::verify_password(hash.trim(), b"secret").unwrap());

    let out = roost().args(["pw", "-p", "secret"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("{ARGON2ID}"));

    let out = roost()
        .args(["pw", "-s", "NOPE", "-p", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOPE"));
}

#[test]
fn deliver_writes_safely_and_answers_with_sysexits() {
    let e = env_with("  max_message_size: 1000\n");
    let msg = b"From: a@example.org\nSubject: hi\n\nhello\n";

    let (code, _, err) = run(&e.config, &["deliver", "--user", "carol"], msg);
    assert_eq!(code, 67, "unknown user: {err}");
    assert!(err.contains("carol"), "{err}");

    run(
        &e.config,
        &["user", "add", "carol", "--password-stdin"],
        b"pw\n",
    );
    let (code, out, err) = run(&e.config, &["deliver", "--user", "carol"], msg);
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty());
    let maildir = e.data.join("mail/carol/Maildir");
    let new = files(&maildir.join("new"));
    assert_eq!(new.len(), 1);
    assert_eq!(std::fs::read(&new[0]).unwrap(), msg);
    assert!(files(&maildir.join("tmp")).is_empty());
    let uidlist = std::fs::read_to_string(maildir.join("dovecot-uidlist")).unwrap();
    assert!(uidlist.starts_with("3 V"), "{uidlist}");
    assert!(uidlist.contains("\n1 "), "{uidlist}");

    let (code, _, err) = run(
        &e.config,
        &["deliver", "--user", "carol", "--mailbox", "Nope"],
        msg,
    );
    assert_eq!(code, 73, "{err}");
    assert!(err.contains("Nope"), "{err}");

    let (code, _, err) = run(
        &e.config,
        &["deliver", "--user", "carol", "--mailbox", "a..b"],
        msg,
    );
    assert_eq!(code, 65, "{err}");

    let big = vec![b'x'; 2000];
    let (code, _, err) = run(&e.config, &["deliver", "--user", "carol"], &big);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("1000"), "{err}");
    assert_eq!(
        files(&maildir.join("new")).len(),
        1,
        "nothing partial shown"
    );
    assert!(
        files(&maildir.join("tmp")).is_empty(),
        "nothing left in tmp/"
    );

    // The special-use folders exist after a login, not after a delivery; a second delivery
    // gets the next UID.
    let (code, _, _) = run(&e.config, &["deliver", "--user", "carol"], msg);
    assert_eq!(code, 0);
    let uidlist = std::fs::read_to_string(maildir.join("dovecot-uidlist")).unwrap();
    assert!(uidlist.contains("\n2 "), "{uidlist}");
}

#[test]
fn mailbox_view_shows_imap_and_pop3_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("roost.yaml");
    let yaml = format!(
        "{}pop3:\n  deleted_keyword: \"$POP3Deleted\"\n",
        config_yaml(&data)
    );
    std::fs::write(&config, yaml).unwrap();
    run(
        &config,
        &["user", "add", "dora", "--password-stdin"],
        b"pw\n",
    );
    for i in 0..3 {
        let msg = format!("Subject: {i}\n\nbody {i}\n");
        let (code, _, err) = run(&config, &["deliver", "--user", "dora"], msg.as_bytes());
        assert_eq!(code, 0, "{err}");
    }
    // Flags as IMAP clients would set them; message 2 was "deleted" by a POP3 client.
    {
        use roost_storage::{FlagOp, Flags, MailboxName};
        let store = StoreBuilder::new(&data.join("mail"))
            .mailbox_options(Default::default())
            .autocreate(false)
            .build();
        let mb = store
            .user("dora")
            .unwrap()
            .open(&MailboxName::new("INBOX").unwrap())
            .unwrap();
        mb.store(&[1], FlagOp::Add, Flags::SEEN, &["Work".into()], None)
            .unwrap();
        mb.store(
            &[2],
            FlagOp::Add,
            Flags::default(),
            &["$POP3Deleted".into()],
            None,
        )
        .unwrap();
        store.flush_all(true);
    }
    let (code, out, err) = run(&config, &["mailbox", "view", "dora"], b"");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("dora INBOX: 3 messages, UIDVALIDITY "),
        "{out}"
    );
    assert_eq!(lines[1], "POP3 lists 2 of them.", "{out}");
    let row = |uid: u32| {
        *lines
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(&uid.to_string()))
            .unwrap_or_else(|| panic!("no row for UID {uid}:\n{out}"))
    };
    let (imap1, pop1) = row(1).split_once('|').unwrap();
    assert!(imap1.contains("\\Seen Work"), "{out}");
    let pop1: Vec<&str> = pop1.split_whitespace().collect();
    assert_eq!(pop1[0], "1", "{out}");
    assert_eq!(pop1[1].len(), 16, "Dovecot-style UIDL: {out}");
    assert!(row(2).contains("(hidden by pop3.deleted_keyword)"), "{out}");
    let pop3: Vec<&str> = row(3)
        .split_once('|')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(pop3[0], "2", "POP3 numbers skip the hidden message: {out}");

    let (code, _, err) = run(&config, &["mailbox", "view", "dora", "Nope"], b"");
    assert_eq!(code, 73, "{err}");
    let (code, _, err) = run(&config, &["mailbox", "view", "nobody"], b"");
    assert_eq!(code, 67, "{err}");
}
