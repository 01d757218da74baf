//! What the protocol drivers tell storage's login record: who logged in, how, from
//! where, and with which client (the IMAP ID's name and version, also when the client
//! sends ID only after logging in).

use std::net::IpAddr;
use std::sync::Arc;

use roost_storage::logins::{self, LoginEvent, LoginLog};

/// One connection's view of the login record.
pub struct LoginRecorder {
    log: Arc<LoginLog>,
    protocol: &'static str,
    ip: String,
    /// Who logged in on this connection, once someone did.
    user: Option<String>,
    /// The raw ID text last recorded, so an unchanged ID is not recorded again.
    seen_id: Option<String>,
}

impl LoginRecorder {
    /// A recorder for one connection of `protocol` (`"imap"`, `"pop3"`) from `ip`.
    pub fn new(log: &Arc<LoginLog>, protocol: &'static str, ip: IpAddr) -> Self {
        LoginRecorder {
            log: Arc::clone(log),
            protocol,
            ip: ip.to_string(),
            user: None,
            seen_id: None,
        }
    }

    /// A login succeeded; `id` is the client's ID text as the IMAP session keeps it.
    pub fn logged_in(&mut self, user: &str, mechanism: &str, tls: bool, id: Option<&str>) {
        let client = id.and_then(client_from_id);
        self.log.record(&LoginEvent {
            user,
            protocol: self.protocol,
            client: client.as_deref(),
            ip: &self.ip,
            tls,
            mechanism,
            at: logins::now(),
        });
        self.user = Some(user.to_owned());
        self.seen_id = id.map(str::to_owned);
    }

    /// After each command: an ID sent after the login names the client of that login.
    pub fn check_id(&mut self, id: Option<&str>) {
        let (Some(user), Some(id)) = (&self.user, id) else {
            return;
        };
        if self.seen_id.as_deref() == Some(id) {
            return;
        }
        if let Some(client) = client_from_id(id) {
            self.log.set_client(user, self.protocol, &client);
        }
        self.seen_id = Some(id.to_owned());
    }
}

/// `name version` from the ID text the IMAP session logs (`name="x" version="y" ...`,
/// values quoted as Rust debug strings or `NIL`); `None` without a name.
pub fn client_from_id(id: &str) -> Option<String> {
    let fields = parse_id_text(id);
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.clone())
            .filter(|v| !v.trim().is_empty())
    };
    let name = get("name")?;
    Some(match get("version") {
        Some(version) => format!("{name} {version}"),
        None => name,
    })
}

/// Splits `k="v" k2=NIL` into pairs; escapes in values are undone for `\"` and `\\`
/// (other escapes are kept as written, which is good enough for a report).
fn parse_id_text(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().to_owned();
        if let Some(after) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = after.char_indices();
            let mut end = after.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\'))) => value.push(e),
                        Some((_, e)) => {
                            value.push('\\');
                            value.push(e);
                        }
                        None => {}
                    },
                    c => value.push(c),
                }
            }
            out.push((key, Some(value)));
            rest = after[end..].trim_start();
        } else {
            let (word, tail) = after.split_once(' ').unwrap_or((after, ""));
            out.push((key, (word != "NIL").then(|| word.to_owned())));
            rest = tail.trim_start();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_from_id_text() {
        let table = [
            (
                r#"name="Thunderbird" version="128.3.1""#,
                Some("Thunderbird 128.3.1"),
            ),
            (r#"vendor="x" name="K-9 Mail""#, Some("K-9 Mail")),
            (r#"name="say \"hi\"" version=NIL"#, Some(r#"say "hi""#)),
            (r#"NAME="a=b c" VERSION="1""#, Some("a=b c 1")),
            (r#"version="1""#, None),
            (r#"name="""#, None),
            ("name=NIL", None),
            ("", None),
            (r#"name="unterminated"#, Some("unterminated")),
        ];
        for (text, want) in table {
            assert_eq!(client_from_id(text).as_deref(), want, "{text}");
        }
    }
}
