//! Per-user protocol policy from the users file's extra fields.
//!
//! `protocols=imap` or `protocols=pop3,imap` limits which protocols a user may log in
//! with; no `protocols` field allows every protocol. The check runs after the password
//! was verified, so a refusal tells the user something true without helping a guesser.

use super::authenticator::Authenticator;
use super::passwd_file::UserEntry;

/// The extra field that lists a user's allowed protocols.
pub const PROTOCOLS_FIELD: &str = "protocols";

/// The default refusal text (`auth.protocol_denied_message`).
pub const DEFAULT_DENIED_MESSAGE: &str =
    "{protocol} is not enabled for this account; ask your administrator.";

/// Whether `entry` may log in with `protocol` (`"imap"`, `"pop3"`, compared without case).
///
/// The field's value is a comma-separated list; a bare `protocols` or an empty value
/// allows nothing, since an admin who wrote the field meant to restrict.
pub fn protocol_allowed(entry: &UserEntry, protocol: &str) -> bool {
    let Some((_, value)) = entry.extra.iter().find(|(k, _)| k == PROTOCOLS_FIELD) else {
        return true;
    };
    value.as_deref().unwrap_or("").split(',').any(|p| {
        let p = p.trim();
        !p.is_empty() && p.eq_ignore_ascii_case(protocol)
    })
}

/// The refusal text: `template` with every `{protocol}` replaced by `protocol`.
pub fn denied_message(template: &str, protocol: &str) -> String {
    template.replace("{protocol}", protocol)
}

impl Authenticator {
    /// Whether `user` may log in with `protocol`. A user no longer in the file (removed
    /// right after authenticating) is refused.
    pub fn protocol_allowed(&self, user: &str, protocol: &str) -> bool {
        self.lookup(user)
            .is_some_and(|e| protocol_allowed(&e, protocol))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::parse_line;

    #[test]
    fn protocols_field() {
        let table = [
            ("u:{PLAIN}x", "imap", true),
            ("u:{PLAIN}x", "pop3", true),
            ("u:{PLAIN}x:::::: quota=1G", "pop3", true),
            ("u:{PLAIN}x::::::protocols=imap", "imap", true),
            ("u:{PLAIN}x::::::protocols=imap", "pop3", false),
            ("u:{PLAIN}x::::::protocols=IMAP", "imap", true),
            ("u:{PLAIN}x::::::protocols=pop3,imap", "pop3", true),
            ("u:{PLAIN}x::::::protocols=pop3,imap", "imap", true),
            ("u:{PLAIN}x::::::protocols=pop3", "imap", false),
            ("u:{PLAIN}x::::::protocols=pop3", "pop", false),
            ("u:{PLAIN}x::::::protocols=", "imap", false),
            ("u:{PLAIN}x::::::protocols", "imap", false),
            ("u:{PLAIN}x::::::protocols=,", "pop3", false),
        ];
        for (line, proto, want) in table {
            let entry = parse_line(line, 1).expect("line parses");
            assert_eq!(protocol_allowed(&entry, proto), want, "{line} {proto}");
        }
    }

    #[test]
    fn message_template() {
        assert_eq!(
            denied_message("{protocol} is off for you", "POP3"),
            "POP3 is off for you"
        );
        assert_eq!(denied_message("no", "IMAP"), "no");
    }

    #[test]
    fn authenticator_lookup() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users");
        std::fs::write(&path, "a:{PLAIN}x::::::protocols=pop3\nb:{PLAIN}y\n").expect("write");
        let auth = Authenticator::open(&path).expect("open");
        assert!(auth.protocol_allowed("a", "pop3"));
        assert!(!auth.protocol_allowed("a", "imap"));
        assert!(auth.protocol_allowed("b", "imap"));
        assert!(!auth.protocol_allowed("nobody", "imap"));
    }
}
