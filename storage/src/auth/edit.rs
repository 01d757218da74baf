//! Users-file editing for `roost user add|passwd|del|list`.
//!
//! Every edit rewrites the whole file atomically (temporary file in the same
//! directory, fsync, rename, fsync of the directory) so a server reading it
//! concurrently sees either the old or the new file, never half of one; concurrent
//! editors take turns on a directory lock so no edit is lost. Lines that
//! are not the edited user's stay byte for byte as they were.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::AuthError;
use super::passwd_file::{is_skippable, lines, parse_passwd_file};
use super::scheme::{DEFAULT_SCHEME, hash_password, parse_stored};

/// Longest accepted user name: one path component on common file systems.
const MAX_USER_NAME_BYTES: usize = 255;
/// Mode of a users file we create: it holds password hashes.
const NEW_FILE_MODE: u32 = 0o600;
/// Mode of directories we create for it.
const NEW_DIR_MODE: u32 = 0o700;

/// Checks that `name` can be a passwd-file user and a mail directory name.
pub fn validate_user_name(name: &str) -> Result<(), AuthError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_USER_NAME_BYTES {
        Some("longer than 255 bytes")
    } else if name.contains(':') {
        Some("contains ':'")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else if name.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else if name == "." || name == ".." {
        Some("is '.' or '..'")
    } else if name.starts_with('#') {
        // The line would read as a comment.
        Some("starts with '#'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(AuthError::InvalidUserName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Checks that a stored password string is understood and fits in one passwd field.
fn validate_stored(stored: &str) -> Result<(), AuthError> {
    if stored.contains(':') {
        return Err(AuthError::InvalidPassword(
            "':' cannot be stored in a passwd-file",
        ));
    }
    if stored.chars().any(char::is_control) {
        return Err(AuthError::InvalidPassword(
            "control characters cannot be stored",
        ));
    }
    parse_stored(stored).map(|_| ())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> AuthError + '_ {
    move |source| AuthError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Serialises editors: an exclusive lock on the directory holding the users file.
/// Locking the file itself would not do, since every edit replaces its inode.
/// The lock is released when the returned handle is dropped.
fn lock_dir(path: &Path) -> Result<File, AuthError> {
    let dir = parent_dir(path);
    let handle = File::open(&dir).map_err(io_err(&dir))?;
    handle.lock().map_err(io_err(&dir))?;
    Ok(handle)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The file's bytes and metadata, or nothing if it does not exist yet.
fn read_existing(path: &Path) -> Result<Option<(Vec<u8>, fs::Metadata)>, AuthError> {
    match fs::read(path) {
        Ok(bytes) => {
            let meta = fs::metadata(path).map_err(io_err(path))?;
            Ok(Some((bytes, meta)))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Byte ranges `(start, end_without_newline, end_with_newline)` of the lines for `name`.
fn user_lines(contents: &[u8], name: &str) -> Vec<(usize, usize, usize)> {
    let mut found = Vec::new();
    let mut start = 0;
    for (_, line) in lines(contents) {
        let raw_end = start + line.len();
        // `lines` strips one '\r'; step over it and the '\n' to reach the next line.
        let mut next = raw_end;
        if contents.get(next) == Some(&b'\r') {
            next += 1;
        }
        if contents.get(next) == Some(&b'\n') {
            next += 1;
        }
        let user = line.split(|b| *b == b':').next().unwrap_or_default();
        if !is_skippable(line) && line.contains(&b':') && user == name.as_bytes() {
            found.push((start, raw_end, next));
        }
        if next == start {
            break;
        }
        start = next;
    }
    found
}

/// Replaces `path` with `contents` atomically, keeping the old file's mode and owner.
fn write_atomic(path: &Path, contents: &[u8], old: Option<&fs::Metadata>) -> Result<(), AuthError> {
    let dir = parent_dir(path);
    let file_name = path.file_name().ok_or_else(|| {
        io_err(path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let tmp = dir.join(format!(
        ".{}.roost-tmp.{}.{:016x}",
        file_name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let mode = old.map_or(NEW_FILE_MODE, |m| m.mode() & 0o7777);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode given to open().
        file.set_permissions(Permissions::from_mode(mode))?;
        if let Some(old) = old
            && let Ok(new) = file.metadata()
            && (new.uid(), new.gid()) != (old.uid(), old.gid())
            && let Err(e) = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))
        {
            tracing::warn!(path = %path.display(), error = %e, "could not keep the users file's owner");
        }
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

/// Adds `name` with an `{ARGON2ID}` hash of `password`. Creates the file (mode 0600)
/// and its parent directories if missing; fails if the user exists.
pub fn add_user(path: &Path, name: &str, password: &[u8]) -> Result<(), AuthError> {
    validate_user_name(name)?;
    check_password(password)?;
    add_user_hashed(path, name, &hash_password(DEFAULT_SCHEME, password)?)
}

/// Adds `name` with an already hashed `{SCHEME}...` password (e.g. imported from
/// another server). Same rules as [`add_user`].
pub fn add_user_hashed(path: &Path, name: &str, stored: &str) -> Result<(), AuthError> {
    validate_user_name(name)?;
    validate_stored(stored)?;
    let dir = parent_dir(path);
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(NEW_DIR_MODE)
            .create(&dir)
            .map_err(io_err(&dir))?;
    }
    let _lock = lock_dir(path)?;
    let (mut contents, meta) = match read_existing(path)? {
        Some((bytes, meta)) => (bytes, Some(meta)),
        None => (Vec::new(), None),
    };
    if !user_lines(&contents, name).is_empty() {
        return Err(AuthError::UserExists(name.to_owned()));
    }
    if !contents.is_empty() && !contents.ends_with(b"\n") {
        contents.push(b'\n');
    }
    contents.extend_from_slice(format!("{name}:{stored}\n").as_bytes());
    write_atomic(path, &contents, meta.as_ref())
}

/// Replaces the password of `name` with an `{ARGON2ID}` hash, keeping uid, home and
/// extra fields.
pub fn set_password(path: &Path, name: &str, password: &[u8]) -> Result<(), AuthError> {
    validate_user_name(name)?;
    check_password(password)?;
    set_password_hashed(path, name, &hash_password(DEFAULT_SCHEME, password)?)
}

/// Replaces the stored password string of `name` with `stored`.
pub fn set_password_hashed(path: &Path, name: &str, stored: &str) -> Result<(), AuthError> {
    validate_stored(stored)?;
    let _lock = lock_dir(path)?;
    let Some((contents, meta)) = read_existing(path)? else {
        return Err(AuthError::NoSuchUser(name.to_owned()));
    };
    // The first entry is the one that counts; later duplicates are ignored on load.
    let Some(&(start, end, _)) = user_lines(&contents, name).first() else {
        return Err(AuthError::NoSuchUser(name.to_owned()));
    };
    let field_start = start + name.len() + 1;
    let field_end = contents[field_start..end]
        .iter()
        .position(|b| *b == b':')
        .map_or(end, |i| field_start + i);
    let mut updated = Vec::with_capacity(contents.len() + stored.len());
    updated.extend_from_slice(&contents[..field_start]);
    updated.extend_from_slice(stored.as_bytes());
    updated.extend_from_slice(&contents[field_end..]);
    write_atomic(path, &updated, Some(&meta))
}

/// Removes every line of `name`.
pub fn delete_user(path: &Path, name: &str) -> Result<(), AuthError> {
    let _lock = match lock_dir(path) {
        Ok(lock) => lock,
        Err(AuthError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Err(AuthError::NoSuchUser(name.to_owned()));
        }
        Err(e) => return Err(e),
    };
    let Some((contents, meta)) = read_existing(path)? else {
        return Err(AuthError::NoSuchUser(name.to_owned()));
    };
    let found = user_lines(&contents, name);
    if found.is_empty() {
        return Err(AuthError::NoSuchUser(name.to_owned()));
    }
    let mut updated = Vec::with_capacity(contents.len());
    let mut kept_from = 0;
    for (start, _, next) in found {
        updated.extend_from_slice(&contents[kept_from..start]);
        kept_from = next;
    }
    updated.extend_from_slice(&contents[kept_from..]);
    write_atomic(path, &updated, Some(&meta))
}

/// The user names in the file, in file order; a missing file has none.
/// Malformed lines are skipped (see [`parse_passwd_file`]).
pub fn list_users(path: &Path) -> Result<Vec<String>, AuthError> {
    let Some((contents, _)) = read_existing(path)? else {
        return Ok(Vec::new());
    };
    let (users, _) = parse_passwd_file(&contents);
    Ok(users.into_iter().map(|u| u.name).collect())
}

fn check_password(password: &[u8]) -> Result<(), AuthError> {
    if password.is_empty() {
        return Err(AuthError::InvalidPassword("empty"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_rules() {
        for good in ["a", "jo@example.org", "x.y-z_1", "ü", &"a".repeat(255)] {
            assert!(validate_user_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(256);
        for bad in [
            "", "a:b", "a b", "a\tb", "a\u{0}", "a/b", ".", "..", "#x", &long, "a\u{85}b",
        ] {
            assert!(
                matches!(
                    validate_user_name(bad),
                    Err(AuthError::InvalidUserName { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn finds_user_lines_with_crlf_and_no_final_newline() {
        let text = b"# a:b\nalice:x\r\nbob:y:1\nalice:z";
        assert_eq!(user_lines(text, "alice"), vec![(6, 13, 15), (23, 30, 30)]);
        assert_eq!(user_lines(text, "bob"), vec![(15, 22, 23)]);
        assert!(user_lines(text, "# a").is_empty());
        assert!(user_lines(text, "ali").is_empty());
    }
}
