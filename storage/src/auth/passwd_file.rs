//! Dovecot passwd-file parsing.
//!
//! `user:password:uid:gid:gecos:home:shell:extra_fields`, where everything after the
//! password is optional, `#` starts a comment line and `extra_fields` is a
//! space-separated list of `key=value` or bare `key` (Dovecot wiki, "passwd-file").

use std::path::PathBuf;

use super::AuthError;
use super::edit::validate_user_name;
use super::secret::Secret;

/// One user from a passwd-file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    /// Login name, possibly `user@domain`.
    pub name: String,
    /// The stored password string, `{SCHEME}...`; empty means no password login.
    pub password: Secret<String>,
    /// Numeric user id for mail storage access, if given.
    pub uid: Option<u32>,
    /// Numeric group id, if given.
    pub gid: Option<u32>,
    /// Free-form description, if given.
    pub gecos: Option<String>,
    /// Home directory, if given.
    pub home: Option<PathBuf>,
    /// Shell (unused by mail access, kept for round-tripping), if given.
    pub shell: Option<String>,
    /// Extra fields in file order: `key=value` gives `(key, Some(value))`, bare `key`
    /// gives `(key, None)`.
    pub extra: Vec<(String, Option<String>)>,
}

/// Parses one non-comment line. `line_no` (1-based) goes into the error.
///
/// passwd-line = user ":" password [":" uid [":" gid [":" gecos [":" home [":" shell [":" extra]]]]]]
pub fn parse_line(line: &str, line_no: usize) -> Result<UserEntry, AuthError> {
    let bad = |reason: String| AuthError::MalformedLine {
        line: line_no,
        reason,
    };
    // Extra fields may themselves contain ':' (e.g. a path value), so split at most 8 ways.
    let fields: Vec<&str> = line.splitn(8, ':').collect();
    let [name, password, ..] = fields[..] else {
        return Err(bad("missing ':' after the user name".to_owned()));
    };
    validate_user_name(name).map_err(|e| bad(e.to_string()))?;
    if password.chars().any(char::is_control) {
        return Err(bad("control character in the password field".to_owned()));
    }
    let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());
    let number = |i: usize, what: &str| -> Result<Option<u32>, AuthError> {
        field(i)
            .map(|f| {
                f.parse::<u32>()
                    .map_err(|_| bad(format!("{what} {f:?} is not a number")))
            })
            .transpose()
    };
    let extra = field(7)
        .map(|f| {
            f.split(' ')
                .filter(|kv| !kv.is_empty())
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (kv.to_owned(), None),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(UserEntry {
        name: name.to_owned(),
        password: Secret::new(password.to_owned()),
        uid: number(2, "uid")?,
        gid: number(3, "gid")?,
        gecos: field(4).map(str::to_owned),
        home: field(5).map(PathBuf::from),
        shell: field(6).map(str::to_owned),
        extra,
    })
}

/// Whether a raw line carries no user: blank or a `#` comment.
pub(crate) fn is_skippable(line: &[u8]) -> bool {
    let trimmed = line.trim_ascii();
    trimmed.is_empty() || trimmed.starts_with(b"#")
}

/// Splits file contents into lines without their `\n` (and a `\r` before it).
pub(crate) fn lines(contents: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    contents
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// Parses a whole passwd-file. Bad lines do not stop the rest: they come back as
/// errors next to the users that did parse. A repeated user name keeps the first
/// entry (as Dovecot does) and reports the later line.
pub fn parse_passwd_file(contents: &[u8]) -> (Vec<UserEntry>, Vec<AuthError>) {
    let mut users: Vec<UserEntry> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut errors = Vec::new();
    for (line_no, raw) in lines(contents) {
        if is_skippable(raw) {
            continue;
        }
        let parsed = std::str::from_utf8(raw)
            .map_err(|_| AuthError::MalformedLine {
                line: line_no,
                reason: "not valid UTF-8".to_owned(),
            })
            .and_then(|line| parse_line(line, line_no));
        match parsed {
            Ok(entry) if !seen.insert(entry.name.clone()) => {
                errors.push(AuthError::MalformedLine {
                    line: line_no,
                    reason: format!("user {:?} already defined earlier; ignored", entry.name),
                })
            }
            Ok(entry) => users.push(entry),
            Err(e) => errors.push(e),
        }
    }
    (users, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines() {
        let full = parse_line(
            "jo@example.org:{PLAIN}pw:1000:100:Jo Doe:/home/jo:/bin/false:quota_rule=*:storage=1G nopassword mail=maildir:~/Mail",
            1,
        )
        .expect("full line");
        assert_eq!(full.name, "jo@example.org");
        assert_eq!(full.password.expose(), "{PLAIN}pw");
        assert_eq!((full.uid, full.gid), (Some(1000), Some(100)));
        assert_eq!(full.gecos.as_deref(), Some("Jo Doe"));
        assert_eq!(full.home, Some(PathBuf::from("/home/jo")));
        assert_eq!(full.shell.as_deref(), Some("/bin/false"));
        assert_eq!(
            full.extra,
            vec![
                ("quota_rule".to_owned(), Some("*:storage=1G".to_owned())),
                ("nopassword".to_owned(), None),
                ("mail".to_owned(), Some("maildir:~/Mail".to_owned())),
            ]
        );

        let short = parse_line("bob:{SHA256}x", 2).expect("two fields");
        assert_eq!(
            (short.uid, short.home.clone(), short.extra.len()),
            (None, None, 0)
        );
        let empties = parse_line("bob:{SHA256}x::::::", 3).expect("empty fields");
        assert_eq!(empties, short);
        let no_password = parse_line("carol:", 4).expect("empty password");
        assert_eq!(no_password.password.expose(), "");
        let home_only = parse_line("dave:x::::/srv/dave", 5).expect("home only");
        assert_eq!(home_only.home, Some(PathBuf::from("/srv/dave")));
        assert_eq!(home_only.shell, None);
    }

    #[test]
    fn malformed_lines() {
        let table = [
            ("nocolon", "missing ':'"),
            (":{PLAIN}x", "empty"),
            ("a b:{PLAIN}x", "whitespace"),
            ("../x:{PLAIN}x", "'/'"),
            ("..:{PLAIN}x", "'.' or '..'"),
            ("u:{PLAIN}x:12ab", "uid \"12ab\""),
            ("u:{PLAIN}x:-1", "uid \"-1\""),
            ("u:{PLAIN}x:1:4294967296", "gid \"4294967296\""),
            ("u:{PLAIN}a\u{7}b", "control character"),
        ];
        for (line, reason) in table {
            match parse_line(line, 42) {
                Err(AuthError::MalformedLine {
                    line: 42,
                    reason: r,
                }) => {
                    assert!(r.contains(reason), "{line:?}: {r}")
                }
                other => panic!("{line:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn file_skips_bad_lines_and_keeps_the_rest() {
        let contents = b"# users\n\nalice:{PLAIN}a\r\n   # indented comment\nbroken\nbob:{PLAIN}b:x\n\xff\xfe:{PLAIN}c\ncarol:{PLAIN}c\nalice:{PLAIN}second\n";
        let (users, errors) = parse_passwd_file(contents);
        let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "carol"]);
        assert_eq!(users[0].password.expose(), "{PLAIN}a", "CR is stripped");
        let lines: Vec<usize> = errors
            .iter()
            .map(|e| match e {
                AuthError::MalformedLine { line, .. } => *line,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lines, [5, 6, 7, 9]);
    }
}
