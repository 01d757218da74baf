//! Cross-check against the real Dovecot: what doveadm writes we read, what we write it reads,
//! and our uidlist lock excludes it. Fails without doveadm unless ROOST_SKIP_DOVECOT=1.

use std::time::Duration;

use roost_storage::maildir::filename::{self, Flags};
use roost_storage::maildir::keywords::read_keywords;
use roost_storage::maildir::names::MailboxName;
use roost_storage::maildir::subscriptions::{read_subscriptions, write_subscriptions};
use roost_storage::maildir::uidlist::{DOVECOT_STALE_AFTER, UidlistLock, read_uidlist, stamp};
use roost_storage::maildir::{MaildirError, create_maildir_dirs};
use roost_testkit::Dovecot;
use roost_testkit::maildir::message_names;

fn msg(subject: &str) -> Vec<u8> {
    format!("From: a@example.org\r\nSubject: {subject}\r\n\r\nbody {subject}\r\n").into_bytes()
}

#[test]
fn dovecot_written_maildir_reads_back() -> Result<(), MaildirError> {
    let Some(dv) = Dovecot::start() else {
        return Ok(());
    };
    for s in ["one", "two", "three"] {
        dv.save("INBOX", &msg(s));
    }
    dv.doveadm(&["mailbox", "create", "Entwürfe"]);
    dv.save("Entwürfe", &msg("draft"));
    dv.doveadm(&[
        "flags",
        "add",
        "\\Seen $Label1",
        "mailbox",
        "INBOX",
        "uid",
        "1",
    ]);
    dv.doveadm(&["mailbox", "subscribe", "Entwürfe"]);

    // INBOX uidlist: uids 1..3, each naming a file that exists.
    let (list, _) = read_uidlist(&dv.maildir)?.expect("INBOX has a dovecot-uidlist");
    assert_eq!(
        list.records.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(list.next_uid >= 4);
    assert!(list.guid.as_ref().is_some_and(|g| g.len() == 32));
    let files = message_names(&dv.maildir);
    assert_eq!(files.len(), 3);
    let file_of = |base: &str| {
        files
            .iter()
            .find(|f| filename::parse(f).base == base)
            .unwrap_or_else(|| panic!("no file for {base} in {files:?}"))
            .clone()
    };

    // Keyword table and flags in the file name of uid 1.
    let keywords = read_keywords(&dv.maildir)?;
    let label = keywords
        .index_of("$Label1")
        .expect("$Label1 in dovecot-keywords");
    let first = file_of(list.records[0].base());
    let first = filename::parse(&first);
    assert!(first.flags.contains(Flags::SEEN));
    assert!(first.keywords.contains(label));
    assert_eq!(first.flags.iter().count(), 1);
    let second = file_of(list.records[1].base());
    let second = filename::parse(&second);
    assert!(second.flags.is_empty() && second.keywords.is_empty());
    // Dovecot stores LF line ends: S= is the LF size, W= the CRLF size (RFC822.SIZE).
    let crlf = msg("two").len() as u64;
    assert_eq!((second.size, second.vsize), (Some(crlf - 4), Some(crlf)));

    // The folder directory decodes to the UTF-8 name, and our encoding finds it.
    let mut folders = Vec::new();
    for e in std::fs::read_dir(&dv.maildir).map_err(|e| MaildirError::io(&dv.maildir, e))? {
        let e = e.map_err(|e| MaildirError::io(&dv.maildir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && e.path().is_dir() {
            folders.push(MailboxName::from_dir_name(&name)?);
        }
    }
    let drafts = MailboxName::new("Entwürfe")?;
    assert_eq!(folders, std::slice::from_ref(&drafts));
    let dir = dv.maildir.join(drafts.dir_name().expect("not INBOX"));
    let (flist, _) = read_uidlist(&dir)?.expect("folder uidlist");
    assert_eq!(flist.records.len(), 1);
    assert!(dir.join("maildirfolder").is_file());

    assert_eq!(read_subscriptions(&dv.maildir)?, ["Entwürfe"]);
    Ok(())
}

#[test]
fn dovecot_reads_what_we_write() -> Result<(), MaildirError> {
    let Some(dv) = Dovecot::start() else {
        return Ok(());
    };
    dv.save("INBOX", &msg("seed"));
    // A folder made by us, subscriptions written by us.
    let name = MailboxName::new("Archiv.2024 ä&ö")?;
    let dir = dv.maildir.join(name.dir_name().expect("not INBOX"));
    create_maildir_dirs(&dir)?;
    write_subscriptions(
        &dv.maildir,
        &["Archiv.2024 ä&ö".into(), "INBOX".into()],
        true,
    )?;
    // Our uidlist rewrite (same content, our render) must keep Dovecot's UIDs intact.
    let (list, _) = read_uidlist(&dv.maildir)?.expect("uidlist");
    let lock = UidlistLock::acquire(&dv.maildir, Duration::from_secs(5), DOVECOT_STALE_AFTER)?;
    lock.commit(&list, true)?;
    dv.chown_tree(&dv.maildir);

    let listed = dv.doveadm(&["mailbox", "list"]);
    assert!(
        listed.lines().any(|l| l == "Archiv.2024 ä&ö"),
        "{listed}\n{}",
        dv.log()
    );
    let subscribed = dv.doveadm(&["mailbox", "list", "-s"]);
    let mut subs: Vec<&str> = subscribed.lines().collect();
    subs.sort_unstable();
    assert_eq!(subs, ["Archiv.2024 ä&ö", "INBOX"], "{}", dv.log());
    let uids = dv.doveadm(&["fetch", "uid", "mailbox", "INBOX", "all"]);
    assert_eq!(uids.trim(), "uid: 1", "{}", dv.log());
    dv.save("Archiv.2024 ä&ö", &msg("into our folder"));
    let (flist, _) = read_uidlist(&dir)?.expect("Dovecot wrote a uidlist in our folder");
    assert_eq!(flist.records.len(), 1);
    Ok(())
}

#[test]
fn our_uidlist_lock_excludes_dovecot() -> Result<(), MaildirError> {
    let Some(dv) = Dovecot::start() else {
        return Ok(());
    };
    dv.save("INBOX", &msg("first"));
    let list_path = dv.maildir.join("dovecot-uidlist");
    let before = stamp(&list_path)?;
    let lock = UidlistLock::acquire(&dv.maildir, Duration::from_secs(5), DOVECOT_STALE_AFTER)?;

    // Saving only try-locks: the mail lands in new/ without a UID, the list is untouched.
    dv.save("INBOX", &msg("second"));
    assert_eq!(
        stamp(&list_path)?,
        before,
        "Dovecot rewrote the uidlist under our lock"
    );

    // A sync has to assign the UID, so it waits for us (Dovecot polls up to every 3 s).
    let mut child = dv.spawn(&["fetch", "uid", "mailbox", "INBOX", "all"], b"");
    std::thread::sleep(Duration::from_millis(1500));
    let early = child
        .try_wait()
        .map_err(|e| MaildirError::io("doveadm", e))?;
    if early.is_some() {
        let _ = child.kill();
    }
    assert!(
        early.is_none(),
        "doveadm synced while we held the lock: {early:?}"
    );
    assert_eq!(stamp(&list_path)?, before);
    drop(lock);
    let out = child
        .wait_with_output()
        .map_err(|e| MaildirError::io("doveadm", e))?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // doveadm's flow formatter separates messages with a form feed line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let uids: Vec<&str> = stdout.lines().filter(|l| l.starts_with("uid:")).collect();
    assert_eq!(uids, ["uid: 1", "uid: 2"], "{stdout:?}");
    let (list, _) = read_uidlist(&dv.maildir)?.expect("uidlist");
    assert_eq!(
        list.records.iter().map(|r| r.uid).collect::<Vec<_>>(),
        [1, 2]
    );
    Ok(())
}
