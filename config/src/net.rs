//! IP networks in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`), for allow-lists.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IP network: an address and a prefix length; host bits must be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a network could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    #[error("`{0}` is not an IP network (write e.g. 192.0.2.0/24 or 2001:db8::/32)")]
    Address(String),
    /// The prefix is not a number within the address family's bits.
    #[error("`{0}`: the prefix length must be 0 to 32 for IPv4, 0 to 128 for IPv6")]
    Prefix(String),
    /// Bits set after the prefix usually mean a typo in the prefix or the address.
    #[error("`{text}` has host bits set; did you mean {suggest}?")]
    HostBits {
        /// What was written.
        text: String,
        /// The network it contains.
        suggest: String,
    },
}

impl Cidr {
    /// The network `addr/prefix`; a bare address is a single host (/32 or /128).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, CidrError> {
        let text = format!("{addr}/{prefix}");
        if prefix > bits(addr) {
            return Err(CidrError::Prefix(text));
        }
        let cidr = Cidr { addr, prefix };
        let network = cidr.network();
        if network != addr {
            return Err(CidrError::HostBits {
                text,
                suggest: format!("{network}/{prefix}"),
            });
        }
        Ok(cidr)
    }

    /// Whether `ip` is in this network; an IPv4-mapped IPv6 address counts as its IPv4 one,
    /// since dual-stack listeners report IPv4 clients that way.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask(u32::from(ip).into(), 32, self.prefix) == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask(u128::from(ip), 128, self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let m = mask(u32::from(a).into(), 32, self.prefix);
                IpAddr::V4(u32::try_from(m).unwrap_or(0).into())
            }
            IpAddr::V6(a) => IpAddr::V6(mask(u128::from(a), 128, self.prefix).into()),
        }
    }
}

fn bits(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// `value` (of `width` bits) with everything after the first `prefix` bits cleared.
fn mask(value: u128, width: u32, prefix: u8) -> u128 {
    let host_bits = width - u32::from(prefix);
    if host_bits >= 128 {
        0
    } else {
        (value >> host_bits) << host_bits
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(text.to_string()))?;
        let prefix = match prefix {
            None => bits(addr),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| CidrError::Prefix(text.to_string()))?
            }
            Some(_) => return Err(CidrError::Prefix(text.to_string())),
        };
        Cidr::new(addr, prefix)
    }
}

impl TryFrom<String> for Cidr {
    type Error = CidrError;

    fn try_from(text: String) -> Result<Cidr, CidrError> {
        text.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = [
            ("127.0.0.0/8", "127.0.0.0/8"),
            ("192.0.2.7", "192.0.2.7/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("::1", "::1/128"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("::/0", "::/0"),
        ];
        for (text, shown) in ok {
            assert_eq!(text.parse::<Cidr>().unwrap().to_string(), shown, "{text}");
        }
        let bad = [
            ("", "not an IP network"),
            ("10.0.0.0/", "prefix"),
            ("10.0.0.0/33", "prefix"),
            ("10.0.0.0/+8", "prefix"),
            ("::/129", "prefix"),
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
            ("2001:db8::1/32", "did you mean 2001:db8::/32"),
            ("example.com/24", "not an IP network"),
        ];
        for (text, want) in bad {
            let err = text.parse::<Cidr>().unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn contains_table() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let net = |s: &str| s.parse::<Cidr>().unwrap();
        let table = [
            ("127.0.0.0/8", "127.0.0.1", true),
            ("127.0.0.0/8", "127.255.255.255", true),
            ("127.0.0.0/8", "128.0.0.1", false),
            ("127.0.0.0/8", "::ffff:127.0.0.2", true),
            ("127.0.0.0/8", "::1", false),
            ("192.0.2.1/32", "192.0.2.1", true),
            ("192.0.2.1/32", "192.0.2.2", false),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "2001:db8::1", false),
            ("::1/128", "::1", true),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("::/0", "::1", true),
        ];
        for (n, i, want) in table {
            assert_eq!(net(n).contains(ip(i)), want, "{n} contains {i}");
        }
    }
}
