//! `roost import` started as root drops to the `run_as` account like `roost deliver`: the
//! mail and the import state it writes belong to the server's account, and a root-only
//! input file named by a relative path is still read.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::privs::{config_with_user, is_root, uid_of, walk};
use common::roost;

#[test]
fn import_started_as_root_writes_files_the_server_account_owns() {
    if !is_root() {
        eprintln!("skipped: needs root to test the privilege drop of roost import");
        return;
    }
    let (uid, gid) = uid_of("mail").expect("the mail account exists on Debian");
    let tmp = tempfile::tempdir().unwrap();
    let (data, _) = config_with_user(tmp.path(), "una");
    // Root's own file, which the mail account could not open.
    let mbox = tmp.path().join("old.mbox");
    std::fs::write(
        &mbox,
        "From a@example.org Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody 1\n\n\
         From b@example.org Mon Jan  1 00:00:01 2024\nSubject: two\n\nbody 2\n",
    )
    .unwrap();
    std::fs::set_permissions(&mbox, std::fs::Permissions::from_mode(0o600)).unwrap();
    let import = roost()
        .current_dir(tmp.path())
        .args([
            "import",
            "mbox",
            "old.mbox",
            "--user",
            "una",
            "-c",
            "roost.yaml",
        ])
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    let maildir = data.join("mail/una/Maildir");
    let messages = std::fs::read_dir(maildir.join("cur"))
        .unwrap()
        .chain(std::fs::read_dir(maildir.join("new")).unwrap())
        .count();
    assert_eq!(messages, 2, "{import:?}");
    let mut seen = 0;
    for entry in walk(&maildir).into_iter().chain(walk(&data.join("import"))) {
        let md = std::fs::metadata(&entry).unwrap();
        assert_eq!((md.uid(), md.gid()), (uid, gid), "{}", entry.display());
        seen += 1;
    }
    assert!(
        seen >= 7,
        "Maildir, its directories, two messages, the import state"
    );
}
