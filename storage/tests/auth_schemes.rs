//! Password schemes against real Dovecot: a committed known-answer table made by
//! `doveadm pw`, plus live runs of `doveadm` in both directions.

use std::path::PathBuf;
use std::process::Command;

use roost_storage::auth::{AuthError, Scheme, hash_password, verify_password};

const FIXTURE: &str = include_str!("fixtures/auth/doveadm_hashes.tsv");

/// (scheme column, password, stored hash) rows of the fixture.
fn fixture_rows() -> Vec<(&'static str, &'static str, &'static str)> {
    FIXTURE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut cols = l.splitn(3, '\t');
            match (cols.next(), cols.next(), cols.next()) {
                (Some(s), Some(p), Some(h)) => (s, p, h),
                _ => panic!("bad fixture row {l:?}"),
            }
        })
        .collect()
}

#[test]
fn doveadm_known_answers_verify() {
    let rows = fixture_rows();
    assert!(rows.len() >= 50, "fixture lost rows: {}", rows.len());
    for (scheme, password, stored) in rows {
        assert_eq!(
            verify_password(stored, password.as_bytes()).ok(),
            Some(true),
            "{scheme} {password:?} {stored}"
        );
        // Prepended, not appended: bcrypt (like crypt(3)) ignores bytes after 72.
        let wrong = format!("x{password}");
        assert_eq!(
            verify_password(stored, wrong.as_bytes()).ok(),
            Some(false),
            "{scheme} wrong password accepted: {stored}"
        );
    }
}

#[test]
fn fixture_covers_every_scheme() {
    let rows = fixture_rows();
    for scheme in Scheme::ALL {
        let prefix = format!("{{{}}}", scheme.name());
        assert!(
            rows.iter().any(|(_, _, h)| h.starts_with(&prefix)),
            "no {prefix} row"
        );
    }
    for bare in [
        "$6$",
        "$5$",
        "$2y$",
        "$2b$",
        "$2a$",
        "$argon2id$",
        "$argon2i$",
    ] {
        assert!(
            rows.iter().any(|(_, _, h)| h.starts_with(bare)),
            "no bare {bare} row"
        );
    }
}

#[test]
fn unknown_schemes_are_errors() {
    for stored in ["{MD5-CRYPT}$1$x$y", "{NOPE}x", "plaintext", "$1$abc$def"] {
        assert!(
            matches!(
                verify_password(stored, b"x"),
                Err(AuthError::UnknownScheme(_))
            ),
            "{stored}"
        );
    }
}

/// Finds doveadm, or fails loudly unless the run opted out of Dovecot checks.
fn doveadm() -> Option<PathBuf> {
    if std::env::var_os("ROOST_SKIP_DOVECOT").is_some_and(|v| v == "1") {
        return None;
    }
    let candidates = [
        PathBuf::from("/usr/bin/doveadm"),
        PathBuf::from("/usr/local/bin/doveadm"),
    ];
    match candidates.into_iter().find(|p| p.exists()) {
        Some(p) => Some(p),
        None => panic!(
            "doveadm not found: install dovecot-core (apt-get install dovecot-core) \
             or set ROOST_SKIP_DOVECOT=1 to skip the Dovecot cross-checks"
        ),
    }
}

const LIVE_PASSWORD: &str = "Live pässword: 42";

#[test]
fn doveadm_generated_hashes_verify() {
    let Some(doveadm) = doveadm() else { return };
    for scheme in Scheme::ALL {
        let out = Command::new(&doveadm)
            .args(["pw", "-s", scheme.name(), "-p", LIVE_PASSWORD])
            .output()
            .expect("run doveadm pw");
        assert!(out.status.success(), "doveadm pw -s {scheme}: {out:?}");
        let stored = String::from_utf8(out.stdout).expect("utf-8 hash");
        let stored = stored.trim_end();
        assert_eq!(
            verify_password(stored, LIVE_PASSWORD.as_bytes()).ok(),
            Some(true),
            "{stored}"
        );
        assert_eq!(
            verify_password(stored, b"live password").ok(),
            Some(false),
            "{stored}"
        );
    }
}

/// Runs `doveadm pw -t stored -p password`; true if Dovecot says "(verified)".
fn doveadm_accepts(doveadm: &PathBuf, stored: &str, password: &str) -> bool {
    let out = Command::new(doveadm)
        .args(["pw", "-t", stored, "-p", password])
        .output()
        .expect("run doveadm pw -t");
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("(verified)")
}

#[test]
fn our_hashes_verify_in_doveadm() {
    let Some(doveadm) = doveadm() else { return };
    for scheme in Scheme::ALL {
        let stored = hash_password(scheme, LIVE_PASSWORD.as_bytes()).expect("hash");
        assert!(
            doveadm_accepts(&doveadm, &stored, LIVE_PASSWORD),
            "Dovecot rejected {stored}"
        );
        assert!(
            !doveadm_accepts(&doveadm, &stored, "Live pässword: 43"),
            "Dovecot accepted a wrong password for {stored}"
        );
    }
}

#[test]
fn default_argon2id_parameters_match_doveadm() {
    let stored = hash_password(Scheme::Argon2id, b"x").expect("hash");
    assert!(
        stored.starts_with("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$"),
        "{stored}"
    );
    let stored = hash_password(Scheme::Argon2i, b"x").expect("hash");
    assert!(
        stored.starts_with("{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$"),
        "{stored}"
    );
}
