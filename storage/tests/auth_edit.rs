//! Users-file editing: atomic rewrites that leave every other line byte for byte.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use roost_storage::auth::{
    AuthError, AuthOutcome, Authenticator, add_user, add_user_hashed, delete_user, list_users,
    set_password, set_password_hashed, verify_password,
};
use roost_testkit::maildir::file_names;

/// Comments, CRLF lines, a malformed line, extra fields, a shadowed duplicate and no
/// final newline: everything an edit must carry over untouched.
const BEFORE: &[u8] = include_bytes!("fixtures/auth/edit_before.passwd");

fn users_file(contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users");
    std::fs::write(&path, contents).expect("write users");
    (dir, path)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read users")
}

#[test]
fn add_appends_and_keeps_everything_else() {
    let (dir, path) = users_file(BEFORE);
    add_user_hashed(&path, "dave@example.org", "{PLAIN}d").expect("add");
    let mut expected = BEFORE.to_vec();
    expected.extend_from_slice(b"\ndave@example.org:{PLAIN}d\n");
    assert_eq!(read(&path), expected);
    assert_eq!(
        file_names(dir.path()),
        ["users"],
        "no temp file left behind"
    );
}

#[test]
fn set_password_replaces_only_the_password_field() {
    let (_dir, path) = users_file(BEFORE);
    set_password_hashed(
        &path,
        "alice",
        "{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
    )
    .expect("passwd alice");
    set_password_hashed(&path, "bob", "{PLAIN}B").expect("passwd bob");
    let expected = String::from_utf8(BEFORE.to_vec())
        .expect("utf-8 fixture")
        .replace(
            "alice:{PLAIN}a:",
            "alice:{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=:",
        )
        .replace("bob:{PLAIN}b\r\n", "bob:{PLAIN}B\r\n");
    assert_eq!(String::from_utf8(read(&path)).expect("utf-8"), expected);
    let auth = Authenticator::open(&path).expect("open");
    let AuthOutcome::Ok(alice) = auth.verify("alice", b"secret") else {
        panic!("alice's new password");
    };
    assert_eq!(alice.extra.len(), 1, "extra fields kept");
}

#[test]
fn delete_removes_every_line_of_the_user_only() {
    let (_dir, path) = users_file(BEFORE);
    delete_user(&path, "bob").expect("del bob");
    let expected = String::from_utf8(BEFORE.to_vec())
        .expect("utf-8 fixture")
        .replace("bob:{PLAIN}b\r\n", "")
        .replace("\nbob:{PLAIN}shadowed", "\n");
    assert_eq!(String::from_utf8(read(&path)).expect("utf-8"), expected);
    assert_eq!(list_users(&path).expect("list"), ["alice", "carol"]);
    delete_user(&path, "alice").expect("del alice");
    assert!(
        String::from_utf8(read(&path))
            .expect("utf-8")
            .contains("# indented comment with alice:{PLAIN}nope"),
        "comment lines are never mistaken for users"
    );
}

#[test]
fn list_and_errors() {
    let (dir, path) = users_file(BEFORE);
    assert_eq!(list_users(&path).expect("list"), ["alice", "bob", "carol"]);
    assert!(
        list_users(&dir.path().join("absent"))
            .expect("missing")
            .is_empty()
    );
    assert!(matches!(
        add_user_hashed(&path, "alice", "{PLAIN}x"),
        Err(AuthError::UserExists(_))
    ));
    assert!(matches!(
        set_password_hashed(&path, "nobody", "{PLAIN}x"),
        Err(AuthError::NoSuchUser(_))
    ));
    assert!(matches!(
        delete_user(&path, "nobody"),
        Err(AuthError::NoSuchUser(_))
    ));
    assert!(matches!(
        delete_user(&dir.path().join("absent"), "x"),
        Err(AuthError::NoSuchUser(_))
    ));
    for bad in ["", "a:b", "a b", "a/b", "..", "#x", "tab\there"] {
        assert!(
            matches!(
                add_user_hashed(&path, bad, "{PLAIN}x"),
                Err(AuthError::InvalidUserName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        add_user_hashed(&path, "dave", "{PLAIN}a:b"),
        Err(AuthError::InvalidPassword(_))
    ));
    assert!(matches!(
        add_user_hashed(&path, "dave", "{PLAIN}a\nmallory:{PLAIN}m"),
        Err(AuthError::InvalidPassword(_))
    ));
    assert!(matches!(
        add_user_hashed(&path, "dave", "{NOPE}x"),
        Err(AuthError::UnknownScheme(_))
    ));
    assert!(matches!(
        add_user(&path, "dave", b""),
        Err(AuthError::InvalidPassword(_))
    ));
    assert_eq!(read(&path), BEFORE, "failed edits change nothing");
}

#[test]
fn add_creates_a_private_file_with_an_argon2id_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("etc/roost/users");
    add_user(&path, "alice", b"correct horse").expect("add");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = String::from_utf8(read(&path)).expect("utf-8");
    assert!(
        text.starts_with("alice:{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$"),
        "{text}"
    );
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text}");
    let stored = text
        .trim_end()
        .split_once(':')
        .map(|(_, p)| p)
        .expect("password");
    assert_eq!(verify_password(stored, b"correct horse").ok(), Some(true));

    set_password(&path, "alice", b"battery staple").expect("passwd");
    let text = String::from_utf8(read(&path)).expect("utf-8");
    let stored = text
        .trim_end()
        .split_once(':')
        .map(|(_, p)| p)
        .expect("password");
    assert!(stored.starts_with("{ARGON2ID}"));
    assert_eq!(verify_password(stored, b"battery staple").ok(), Some(true));
    assert_eq!(verify_password(stored, b"correct horse").ok(), Some(false));
}

#[test]
fn edits_keep_the_existing_mode() {
    let (_dir, path) = users_file(b"alice:{PLAIN}a\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    add_user_hashed(&path, "bob", "{PLAIN}b").expect("add");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn concurrent_editors_lose_nothing() {
    let (_dir, path) = users_file(b"# shared\n");
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..10 {
                    add_user_hashed(&path, &format!("u{t}-{i}"), "{PLAIN}x").expect("add");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    assert_eq!(list_users(&path).expect("list").len(), 80);
}
