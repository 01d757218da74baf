//! The self-reloading user database, on real files in temp directories.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::Md5;
use roost_storage::auth::{
    AuthOutcome, Authenticator, MechanismSupport, ScramAlgorithm, cram_md5_verify,
    set_password_hashed,
};

const USERS: &[u8] = include_bytes!("fixtures/auth/users.passwd");

fn users_file(contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users");
    std::fs::write(&path, contents).expect("write users");
    (dir, path)
}

fn is_ok(outcome: &AuthOutcome) -> bool {
    matches!(outcome, AuthOutcome::Ok(_))
}

#[test]
fn missing_file_means_no_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth = Authenticator::open(dir.path().join("absent")).expect("open");
    assert!(auth.is_empty());
    assert!(auth.user_names().is_empty());
    assert!(matches!(auth.verify("alice", b"x"), AuthOutcome::Failed));
    assert!(auth.lookup("alice").is_none());
    assert_eq!(auth.mechanisms_possible(), MechanismSupport::default());
}

#[test]
fn fixture_users_verify_and_bad_lines_are_skipped() {
    let (_dir, path) = users_file(USERS);
    let auth = Authenticator::open(&path).expect("open");
    assert_eq!(
        auth.user_names(),
        [
            "alice",
            "bob@example.org",
            "carol",
            "erin",
            "frank",
            "grace"
        ]
    );
    let table: [(&str, &[u8]); 4] = [
        ("alice", b"ecila"),
        ("bob@example.org", b"secret"),
        ("carol", b"secret"),
        ("erin", b"secret"),
    ];
    for (user, password) in table {
        assert!(is_ok(&auth.verify(user, password)), "{user}");
        assert!(
            matches!(auth.verify(user, b"wrong"), AuthOutcome::Failed),
            "{user}"
        );
    }
    let AuthOutcome::Ok(alice) = auth.verify("alice", b"ecila") else {
        panic!("alice");
    };
    assert_eq!(alice.uid, Some(1000));
    assert_eq!(alice.home, Some(PathBuf::from("/home/alice")));
    assert_eq!(alice.extra.len(), 2);
    // The first alice line wins over the later duplicate.
    assert!(matches!(
        auth.verify("alice", b"duplicate-is-ignored"),
        AuthOutcome::Failed
    ));
    // The password never leaks through Debug.
    assert!(!format!("{alice:?}").contains("ecila"));
    // A user with no password cannot log in; a broken hash is the server's problem.
    assert!(matches!(auth.verify("grace", b""), AuthOutcome::Failed));
    assert!(matches!(
        auth.verify("frank", b"x"),
        AuthOutcome::TempFail(_)
    ));
    // dave's line has a bad uid, so dave does not exist.
    assert!(auth.lookup("dave").is_none());
}

#[test]
fn credentials_drive_cram_md5_and_scram() {
    let (_dir, path) = users_file(USERS);
    let auth = Authenticator::open(&path).expect("open");
    let challenge = b"<12345.1@roost.test>";
    let mut mac = Hmac::<Md5>::new_from_slice(b"secret").expect("key");
    mac.update(challenge);
    let response: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let carol = auth.credentials("carol").expect("carol");
    let context = carol.cram_md5_context().expect("cram context");
    assert!(cram_md5_verify(&context, challenge, &response));
    assert!(carol.plaintext().is_none());

    let alice = auth.credentials("alice").expect("alice");
    assert_eq!(alice.plaintext(), Some(&b"ecila"[..]));
    let keys = alice.scram(ScramAlgorithm::Sha256).expect("derived");
    assert!(keys.matches(b"ecila"));

    assert!(
        auth.credentials("bob@example.org")
            .and_then(|c| c.cram_md5_context())
            .is_none()
    );
    assert!(auth.credentials("nobody").is_none());
}

#[test]
fn mechanisms_follow_what_is_stored() {
    let table: [(&str, MechanismSupport); 5] = [
        ("u:{SHA512-CRYPT}$6$a$b\n", MechanismSupport::default()),
        (
            "u:{SHA256}x\nv:{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56\n",
            MechanismSupport {
                cram_md5: true,
                ..Default::default()
            },
        ),
        (
            "u:{SCRAM-SHA-1}4096,xFaiiaPhXNbHeVeTIxreZw==,oRSWaMEqHNUWJ1FBddPSUhxF5cs=,la+bkBmUHC8w6EqXkV7jErqWpSE=\n",
            MechanismSupport {
                scram_sha1: true,
                ..Default::default()
            },
        ),
        (
            "u:{SCRAM-SHA-256}4096,1SCvYnblpnqq4T/l2pN4NA==,WmGzq7znM23dmTHjPOLQiS1MdcXTXuUZM08s/aaPLwI=,8Sl82d6syOsQrN2YZB3nLgvaQkympkcAZ74pC+3xHyA=\n",
            MechanismSupport {
                scram_sha256: true,
                ..Default::default()
            },
        ),
        (
            "u:{CLEAR}x\n",
            MechanismSupport {
                plaintext_stored: true,
                cram_md5: true,
                scram_sha1: true,
                scram_sha256: true,
            },
        ),
    ];
    for (contents, expected) in table {
        let (_dir, path) = users_file(contents.as_bytes());
        let auth = Authenticator::open(&path).expect("open");
        assert_eq!(auth.mechanisms_possible(), expected, "{contents}");
    }
}

fn wait_for_new_mtime(path: &Path) {
    // Coarse-mtime file systems: make sure the rewrite is visible as a change.
    let before = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime");
    while std::time::SystemTime::now() <= before + Duration::from_millis(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn edits_take_effect_without_restart() {
    let (_dir, path) = users_file(b"alice:{PLAIN}one\n");
    let auth = Authenticator::open(&path).expect("open");
    assert!(is_ok(&auth.verify("alice", b"one")));

    // Atomic replace (new inode), as `roost user passwd` does.
    set_password_hashed(&path, "alice", "{PLAIN}two").expect("passwd");
    assert!(matches!(auth.verify("alice", b"one"), AuthOutcome::Failed));
    assert!(is_ok(&auth.verify("alice", b"two")));

    // In-place rewrite of the same size, as an editor might do.
    wait_for_new_mtime(&path);
    std::fs::write(&path, b"alice:{PLAIN}3x3\n").expect("rewrite");
    assert!(is_ok(&auth.verify("alice", b"3x3")));

    // Appending a user.
    wait_for_new_mtime(&path);
    std::fs::write(&path, b"alice:{PLAIN}3x3\nbob:{PLAIN}b\n").expect("append");
    assert_eq!(auth.user_names(), ["alice", "bob"]);

    // Removing the file removes everyone.
    std::fs::remove_file(&path).expect("rm");
    assert!(auth.is_empty());
    assert!(matches!(auth.verify("alice", b"3x3"), AuthOutcome::Failed));
}

#[test]
fn shared_across_threads_while_the_file_changes() {
    let (_dir, path) = users_file(b"alice:{PLAIN}a\n");
    let auth = Arc::new(Authenticator::open(&path).expect("open"));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let auth = Arc::clone(&auth);
            std::thread::spawn(move || {
                for _ in 0..200 {
                    // alice's password never changes, only bob comes and goes.
                    assert!(is_ok(&auth.verify("alice", b"a")));
                }
            })
        })
        .collect();
    for i in 0..50 {
        let contents = if i % 2 == 0 {
            "alice:{PLAIN}a\nbob:{PLAIN}b\n"
        } else {
            "alice:{PLAIN}a\n"
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, contents).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
    }
    for r in readers {
        r.join().expect("reader thread");
    }
}

fn median_time(f: impl Fn()) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}

#[test]
fn unknown_user_and_wrong_password_look_the_same() {
    // A deliberately slow hash so the difference, if any, dwarfs scheduling noise.
    let slow = "{SHA512-CRYPT}$6$rounds=20000$kYce.d2CKI8HSMI1$ignored";
    let contents = format!("alice:{slow}\nbob:{{PLAIN}}b\n");
    let (_dir, path) = users_file(contents.as_bytes());
    let auth = Authenticator::open(&path).expect("open");

    let wrong = auth.verify("alice", b"guess");
    let unknown = auth.verify("mallory", b"guess");
    assert!(matches!(wrong, AuthOutcome::Failed), "{wrong:?}");
    assert!(matches!(unknown, AuthOutcome::Failed), "{unknown:?}");

    let t_wrong = median_time(|| {
        auth.verify("alice", b"guess");
    });
    let t_unknown = median_time(|| {
        auth.verify("mallory", b"guess");
    });
    // Without a decoy check an unknown user answers thousands of times faster.
    assert!(
        t_unknown * 3 > t_wrong && t_wrong * 3 > t_unknown,
        "wrong password {t_wrong:?} vs unknown user {t_unknown:?}"
    );
}
