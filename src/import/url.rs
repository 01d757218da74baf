//! `pop3://`, `pop3s://`, `imap://` and `imaps://` URLs of the old server.

/// The protocol spoken to the old server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// POP3 (RFC 1939).
    Pop3,
    /// IMAP4rev1 (RFC 3501).
    Imap,
}

impl Protocol {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        }
    }
}

/// A parsed server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// POP3 or IMAP.
    pub protocol: Protocol,
    /// TLS from the first byte (`pop3s`, `imaps`); otherwise STARTTLS/STLS when offered.
    pub implicit_tls: bool,
    /// Host name or IP address (without brackets).
    pub host: String,
    /// Port (the scheme's default when not given).
    pub port: u16,
}

impl ServerUrl {
    /// url = scheme "://" host [":" port] ["/"] ; host = name / IPv4 / "[" IPv6 "]"
    pub fn parse(s: &str) -> Result<ServerUrl, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("{s:?} is not a URL like imaps://host:993"))?;
        let (protocol, implicit_tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "pop3" => (Protocol::Pop3, false, 110),
            "pop3s" => (Protocol::Pop3, true, 995),
            "imap" => (Protocol::Imap, false, 143),
            "imaps" => (Protocol::Imap, true, 993),
            other => {
                return Err(format!(
                    "unknown scheme {other:?}: use pop3, pop3s, imap or imaps"
                ));
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '@', '?', '#']) {
            return Err(format!(
                "{s:?}: only scheme://host[:port] is accepted (user and password are options)"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{s:?}: unclosed '['"))?;
            match after {
                "" => (h, None),
                p => (
                    h,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| format!("{s:?}: junk after ']'"))?,
                    ),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{s:?}: no host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("{s:?}: bad port {p:?}"))?,
        };
        Ok(ServerUrl {
            protocol,
            implicit_tls,
            host: host.to_string(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        let ok = [
            (
                "pop3://old.example.org",
                Protocol::Pop3,
                false,
                "old.example.org",
                110,
            ),
            (
                "pop3s://old.example.org:1995",
                Protocol::Pop3,
                true,
                "old.example.org",
                1995,
            ),
            (
                "IMAP://127.0.0.1:1143/",
                Protocol::Imap,
                false,
                "127.0.0.1",
                1143,
            ),
            ("imaps://[::1]", Protocol::Imap, true, "::1", 993),
            ("imaps://[::1]:994", Protocol::Imap, true, "::1", 994),
        ];
        for (s, protocol, implicit_tls, host, port) in ok {
            let want = ServerUrl {
                protocol,
                implicit_tls,
                host: host.into(),
                port,
            };
            assert_eq!(ServerUrl::parse(s), Ok(want), "{s}");
        }
        for bad in [
            "old.example.org",
            "http://x",
            "imap://",
            "imap://h:0",
            "imap://h:99999",
            "imap://u:p@h",
            "imap://h/INBOX",
            "imap://[::1",
            "imap://[::1]x",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
