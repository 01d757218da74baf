//! Maildir file names: `<base>[:2,<flags>]`, with Dovecot's `,S=<size>,W=<vsize>` in the base.
//!
//! Semantics follow Dovecot's maildir-filename.c: the base is everything before the first
//! `:`; only the `2,` info kind carries flags; system flags are the uppercase letters
//! `DFPRST`, keywords are `a`..`z` (index into `dovecot-keywords`); other letters are
//! ignored, as Dovecot ignores them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Separates the base from the info part.
pub const INFO_SEPARATOR: char = ':';

/// Maximum number of keywords a Maildir file name can carry (`a`..`z`).
pub const MAX_KEYWORDS: usize = 26;

/// The Maildir system flags of one message, as a bitset in letter order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

/// (flag, letter) in ASCII order, which is also the order Dovecot writes them.
const LETTERS: [(Flags, char); 6] = [
    (Flags::DRAFT, 'D'),
    (Flags::FLAGGED, 'F'),
    (Flags::PASSED, 'P'),
    (Flags::ANSWERED, 'R'),
    (Flags::SEEN, 'S'),
    (Flags::DELETED, 'T'),
];

impl Flags {
    /// No flags.
    pub const EMPTY: Flags = Flags(0);
    /// `D`: IMAP `\Draft`.
    pub const DRAFT: Flags = Flags(1);
    /// `F`: IMAP `\Flagged`.
    pub const FLAGGED: Flags = Flags(1 << 1);
    /// `P`: passed (forwarded); Dovecot shows it in IMAP as the `$Forwarded` keyword.
    pub const PASSED: Flags = Flags(1 << 2);
    /// `R`: replied, IMAP `\Answered`.
    pub const ANSWERED: Flags = Flags(1 << 3);
    /// `S`: IMAP `\Seen`.
    pub const SEEN: Flags = Flags(1 << 4);
    /// `T`: trashed, IMAP `\Deleted`.
    pub const DELETED: Flags = Flags(1 << 5);

    /// True when every flag of `other` is set here.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }
    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }
    /// Flags set in either.
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
    /// True when no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The raw bits (stable: the order of [`Flags::iter`]).
    pub fn bits(self) -> u8 {
        self.0
    }
    /// The flag for a Maildir letter, if it is one.
    pub fn from_letter(c: char) -> Option<Flags> {
        LETTERS.iter().find(|(_, l)| *l == c).map(|(f, _)| *f)
    }
    /// The Maildir letter of a single flag.
    pub fn letter(self) -> Option<char> {
        LETTERS.iter().find(|(f, _)| *f == self).map(|(_, l)| *l)
    }
    /// Each set flag on its own, in letter order.
    pub fn iter(self) -> impl Iterator<Item = Flags> {
        LETTERS
            .into_iter()
            .map(|(f, _)| f)
            .filter(move |f| self.contains(*f))
    }
}

/// Keyword indexes `0..26` present on a message (bit i = letter `a`+i).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeywordSet(pub u32);

impl KeywordSet {
    /// No keywords.
    pub const EMPTY: KeywordSet = KeywordSet(0);
    /// True when `index` is set (false for indexes >= 26).
    pub fn contains(self, index: usize) -> bool {
        index < MAX_KEYWORDS && self.0 & (1 << index) != 0
    }
    /// Sets `index`; returns false (and does nothing) for indexes >= 26.
    pub fn insert(&mut self, index: usize) -> bool {
        if index >= MAX_KEYWORDS {
            return false;
        }
        self.0 |= 1 << index;
        true
    }
    /// Clears `index`.
    pub fn remove(&mut self, index: usize) {
        if index < MAX_KEYWORDS {
            self.0 &= !(1 << index);
        }
    }
    /// True when no keyword is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The set indexes, ascending.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_KEYWORDS).filter(move |&i| self.contains(i))
    }
    /// The letter for a keyword index (`a` for 0).
    pub fn letter(index: usize) -> Option<char> {
        (index < MAX_KEYWORDS).then(|| char::from(b'a' + index as u8))
    }
}

/// Raw-bit conversions and set differences, for the index and STORE.
impl Flags {
    /// Flags from raw bits as returned by [`Flags::bits`]; unknown bits are dropped.
    pub fn from_bits(bits: u8) -> Flags {
        Flags(bits & 0b11_1111)
    }
    /// Flags set here but not in `other`.
    pub fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
}

/// Raw-bit conversions and set operations, for the index and STORE.
impl KeywordSet {
    /// Keywords from raw bits; bits 26 and above are dropped.
    pub fn from_bits(bits: u32) -> KeywordSet {
        KeywordSet(bits & ((1 << MAX_KEYWORDS) - 1))
    }
    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// Keywords set in either.
    pub fn union(self, other: KeywordSet) -> KeywordSet {
        KeywordSet(self.0 | other.0)
    }
    /// Keywords set here but not in `other`.
    pub fn difference(self, other: KeywordSet) -> KeywordSet {
        KeywordSet(self.0 & !other.0)
    }
}

/// A Maildir file name split into its parts. Parsing never fails: unknown parts are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedName<'a> {
    /// Everything before the first `:` (the unique part, stored in `dovecot-uidlist`).
    pub base: &'a str,
    /// `S=` field of the base: the physical size in bytes.
    pub size: Option<u64>,
    /// `W=` field of the base: the size with CRLF line endings (RFC822.SIZE).
    pub vsize: Option<u64>,
    /// System flags from the `:2,` info.
    pub flags: Flags,
    /// Keyword letters from the `:2,` info.
    pub keywords: KeywordSet,
    /// True when the name has a `:2,` info part (files in `cur/` always should).
    pub has_info: bool,
}

/// Splits a Maildir file name; `1234.M5P6.host,S=10,W=12:2,FRa` gives base, sizes and flags.
pub fn parse(filename: &str) -> ParsedName<'_> {
    let (base, info) = match filename.split_once(INFO_SEPARATOR) {
        Some((b, i)) => (b, Some(i)),
        None => (filename, None),
    };
    let mut parsed = ParsedName {
        base,
        size: base_field(base, 'S'),
        vsize: base_field(base, 'W'),
        flags: Flags::EMPTY,
        keywords: KeywordSet::EMPTY,
        has_info: false,
    };
    if let Some(letters) = info.and_then(|i| i.strip_prefix("2,")) {
        parsed.has_info = true;
        for c in letters.chars() {
            if let Some(f) = Flags::from_letter(c) {
                parsed.flags.insert(f);
            } else if c.is_ascii_lowercase() {
                parsed.keywords.insert(usize::from(c as u8 - b'a'));
            }
        }
    }
    parsed
}

/// The value of a `,<key>=<digits>` field in the base (the first field is the unique name).
fn base_field(base: &str, key: char) -> Option<u64> {
    base.split(',').skip(1).find_map(|field| {
        let value = field.strip_prefix(key)?.strip_prefix('=')?;
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value.parse().ok()
    })
}

/// `base:2,` followed by flag letters, then keyword letters, in ASCII order (as Dovecot writes).
pub fn with_flags(base: &str, flags: Flags, keywords: KeywordSet) -> String {
    let mut out = String::with_capacity(base.len() + 12);
    out.push_str(base);
    out.push(INFO_SEPARATOR);
    out.push_str("2,");
    out.extend(flags.iter().filter_map(Flags::letter));
    out.extend(keywords.iter().filter_map(KeywordSet::letter));
    out
}

static DELIVERY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new unique base: `<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,W=<vsize>`.
///
/// `Q<n>` is a process-wide counter, so names stay unique within one microsecond and
/// across threads. `/` and `:` in the host name would break the path or the info part, so
/// they are written as `\057` and `\072` (the Maildir spec's escapes).
pub fn new_unique_base(size: u64, vsize: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = DELIVERY_COUNTER.fetch_add(1, Ordering::Relaxed);
    let host = escape_hostname(&super::hostname());
    format!(
        "{}.M{}P{}Q{}.{},S={},W={}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        host,
        size,
        vsize
    )
}

fn escape_hostname(host: &str) -> String {
    host.replace('/', "\\057").replace(':', "\\072")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_known_names() {
        let p = parse("1795685845.M785638P10810.vm,S=32,W=36:2,FRab");
        assert_eq!(p.base, "1795685845.M785638P10810.vm,S=32,W=36");
        assert_eq!((p.size, p.vsize), (Some(32), Some(36)));
        assert!(p.has_info);
        assert_eq!(p.flags, Flags::FLAGGED.union(Flags::ANSWERED));
        assert_eq!(p.keywords.iter().collect::<Vec<_>>(), [0, 1]);

        let p = parse("1795685845.M745528P10803.vm,S=30,W=34");
        assert_eq!(p.base, "1795685845.M745528P10803.vm,S=30,W=34");
        assert!(!p.has_info);
        assert!(p.flags.is_empty() && p.keywords.is_empty());

        // Courier-style name without sizes, all flags, unknown letters ignored.
        let p = parse("123.456.host:2,DFPRSTXz9");
        assert_eq!((p.size, p.vsize), (None, None));
        assert_eq!(p.flags.iter().count(), 6);
        assert_eq!(p.keywords.iter().collect::<Vec<_>>(), [25]);

        // Another info kind: base still split, but no flags.
        let p = parse("123.host,S=5:1,experimental");
        assert_eq!(
            (p.base, p.size, p.has_info),
            ("123.host,S=5", Some(5), false)
        );

        // Garbage sizes are not sizes; the first field is the unique part, never a size.
        assert_eq!(parse("S=5,S=x,W=").size, None);
        assert_eq!(parse("a,S=12x").size, None);
        assert_eq!(parse("a,S=99999999999999999999999").size, None);
        assert_eq!(parse("a,W=7,S=8").vsize, Some(7));
        assert_eq!(parse("").base, "");
        assert!(parse("x:2,").has_info);
    }

    #[test]
    fn build_names() {
        let mut f = Flags::SEEN;
        f.insert(Flags::DRAFT);
        f.insert(Flags::DELETED);
        let mut k = KeywordSet::EMPTY;
        assert!(k.insert(2));
        assert!(k.insert(0));
        assert!(!k.insert(26));
        assert_eq!(with_flags("b", f, k), "b:2,DSTac");
        assert_eq!(with_flags("b", Flags::EMPTY, KeywordSet::EMPTY), "b:2,");
        let all = LETTERS.iter().fold(Flags::EMPTY, |a, (f, _)| a.union(*f));
        assert_eq!(
            with_flags("x", all, KeywordSet(0x3ff_ffff)),
            "x:2,DFPRSTabcdefghijklmnopqrstuvwxyz"
        );
        f.remove(Flags::SEEN);
        assert!(!f.contains(Flags::SEEN) && f.contains(Flags::DRAFT));
        // Round trip through parse.
        let name = with_flags("1.M2P3.h,S=4,W=5", f, k);
        let p = parse(&name);
        assert_eq!(
            (p.flags, p.keywords, p.size, p.vsize),
            (f, k, Some(4), Some(5))
        );
    }

    #[test]
    fn unique_bases_differ_and_parse() {
        let a = new_unique_base(10, 12);
        let b = new_unique_base(10, 12);
        assert_ne!(a, b);
        for base in [&a, &b] {
            let p = parse(base);
            assert_eq!(p.base, base.as_str());
            assert_eq!((p.size, p.vsize), (Some(10), Some(12)));
            assert!(!base.contains('/') && !base.contains(':'));
            assert!(base.contains(&format!("P{}Q", std::process::id())));
        }
        assert_eq!(escape_hostname("a/b:c"), "a\\057b\\072c");
    }
}
