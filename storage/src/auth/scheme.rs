//! Dovecot password schemes: `{SCHEME}encoded` strings, hashing and verification.
//!
//! Encodings follow what `doveadm pw -s SCHEME` prints (Dovecot 2.3): salted SHA-2
//! is `base64(digest(password + salt) + salt)` with a 4-byte salt, plain SHA-2 is
//! base64 of the digest, CRAM-MD5 is the hex HMAC-MD5 context (see [`super::cram`]),
//! SCRAM is `iterations,salt_b64,stored_key_b64,server_key_b64`, and the crypt
//! family is the usual `$id$...` string.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::{self, SaltString};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rand::Rng;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::AuthError;
use super::cram::{cram_md5_context, decode_hex, encode_hex};
use super::credentials::{ScramAlgorithm, ScramCredentials};

/// The scheme new passwords get: what Dovecot recommends today.
pub const DEFAULT_SCHEME: Scheme = Scheme::Argon2id;

/// Dovecot's ARGON2ID defaults as `doveadm pw -s ARGON2ID` prints them: m=65536,t=3,p=1.
const ARGON2ID_PARAMS: (u32, u32, u32) = (65_536, 3, 1);
/// Dovecot's ARGON2I defaults as `doveadm pw -s ARGON2I` prints them: m=32768,t=4,p=1.
const ARGON2I_PARAMS: (u32, u32, u32) = (32_768, 4, 1);
/// Argon2 salt length Dovecot uses (16 bytes, 22 base64 characters).
const ARGON2_SALT_LEN: usize = 16;
/// Refuse stored Argon2 hashes asking for more than 1 GiB: one login must not be able
/// to exhaust the server's memory because of a typo in the users file.
const ARGON2_MAX_M_COST_KIB: u32 = 1024 * 1024;
/// Highest bcrypt cost accepted from the users file (a few seconds per check);
/// cost 31 would stall a login thread for days.
const BCRYPT_MAX_COST: u32 = 16;
/// Highest SHA-crypt `rounds=` accepted from the users file (about a second per
/// check); glibc allows 999,999,999.
const SHA_CRYPT_MAX_ROUNDS: usize = 1_000_000;
/// Dovecot's BLF-CRYPT default cost (`$2y$05$`).
const BCRYPT_COST: u32 = 5;
/// SHA-crypt salt length Dovecot generates (16 characters, the maximum).
const SHA_CRYPT_SALT_LEN: usize = 16;
/// Salt length of Dovecot's SSHA256/SSHA512 (4 bytes).
const SSHA_SALT_LEN: usize = 4;
/// Salt length of Dovecot's SCRAM hashes (16 bytes).
pub(crate) const SCRAM_SALT_LEN: usize = 16;
/// Dovecot's SCRAM iteration count; RFC 7677 asks for at least 4096.
pub(crate) const SCRAM_ITERATIONS: u32 = 4096;
/// Upper bound on stored SCRAM iterations so one login has bounded CPU cost.
pub(crate) const SCRAM_MAX_ITERATIONS: u32 = 10_000_000;

/// Base64 as Dovecot reads it: standard alphabet, padding optional.
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
/// The crypt(3) salt alphabet; 64 symbols, so `byte % 64` is unbiased.
const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A Dovecot password scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Cleartext, `{PLAIN}secret`.
    Plain,
    /// Cleartext under its other name, `{CLEAR}secret` (also read as `{CLEARTEXT}`).
    Clear,
    /// glibc SHA-512 crypt, `$6$salt$hash`.
    Sha512Crypt,
    /// glibc SHA-256 crypt, `$5$salt$hash`.
    Sha256Crypt,
    /// bcrypt, `$2y$05$...`.
    BlfCrypt,
    /// Argon2id in PHC format.
    Argon2id,
    /// Argon2i in PHC format.
    Argon2i,
    /// Salted SHA-512: base64(sha512(password + salt) + salt).
    Ssha512,
    /// Salted SHA-256: base64(sha256(password + salt) + salt).
    Ssha256,
    /// Unsalted SHA-512, base64 (or hex with `.HEX`).
    Sha512,
    /// Unsalted SHA-256, base64 (or hex with `.HEX`).
    Sha256,
    /// HMAC-MD5 context for CRAM-MD5, 64 hex digits.
    CramMd5,
    /// SCRAM-SHA-256 keys: `iterations,salt,stored_key,server_key`.
    ScramSha256,
    /// SCRAM-SHA-1 keys: `iterations,salt,stored_key,server_key`.
    ScramSha1,
}

impl Scheme {
    /// Every scheme, in the order of the brief's list.
    pub const ALL: [Scheme; 14] = [
        Scheme::Plain,
        Scheme::Clear,
        Scheme::Sha512Crypt,
        Scheme::Sha256Crypt,
        Scheme::BlfCrypt,
        Scheme::Argon2id,
        Scheme::Argon2i,
        Scheme::Ssha512,
        Scheme::Ssha256,
        Scheme::Sha512,
        Scheme::Sha256,
        Scheme::CramMd5,
        Scheme::ScramSha256,
        Scheme::ScramSha1,
    ];

    /// The name Dovecot uses inside `{...}`.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Plain => "PLAIN",
            Scheme::Clear => "CLEAR",
            Scheme::Sha512Crypt => "SHA512-CRYPT",
            Scheme::Sha256Crypt => "SHA256-CRYPT",
            Scheme::BlfCrypt => "BLF-CRYPT",
            Scheme::Argon2id => "ARGON2ID",
            Scheme::Argon2i => "ARGON2I",
            Scheme::Ssha512 => "SSHA512",
            Scheme::Ssha256 => "SSHA256",
            Scheme::Sha512 => "SHA512",
            Scheme::Sha256 => "SHA256",
            Scheme::CramMd5 => "CRAM-MD5",
            Scheme::ScramSha256 => "SCRAM-SHA-256",
            Scheme::ScramSha1 => "SCRAM-SHA-1",
        }
    }

    /// Whether the scheme stores the password itself.
    pub fn is_plaintext(self) -> bool {
        matches!(self, Scheme::Plain | Scheme::Clear)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheme {
    type Err = AuthError;

    /// Case-insensitive Dovecot name; `CLEARTEXT` is read as [`Scheme::Clear`].
    fn from_str(s: &str) -> Result<Self, AuthError> {
        if s.eq_ignore_ascii_case("CLEARTEXT") {
            return Ok(Scheme::Clear);
        }
        Scheme::ALL
            .into_iter()
            .find(|scheme| scheme.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| AuthError::UnknownScheme(s.to_owned()))
    }
}

/// How the binary part of a digest scheme is written (`{SHA256.HEX}` vs `{SHA256}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Default,
    Hex,
    Base64,
}

/// A stored password split into scheme, encoding and the text after the prefix.
#[derive(Debug)]
pub(crate) struct Stored<'a> {
    pub(crate) scheme: Scheme,
    encoding: Encoding,
    pub(crate) body: &'a str,
}

/// Splits `{SCHEME[.HEX|.B64]}body`, `{CRYPT}$id$...` or a bare `$id$...` string.
pub(crate) fn parse_stored(stored: &str) -> Result<Stored<'_>, AuthError> {
    let Some(rest) = stored.strip_prefix('{') else {
        return Ok(Stored {
            scheme: crypt_scheme(stored)?,
            encoding: Encoding::Default,
            body: stored,
        });
    };
    let Some((name, body)) = rest.split_once('}') else {
        return Err(AuthError::UnknownScheme(stored.chars().take(32).collect()));
    };
    if name.eq_ignore_ascii_case("CRYPT") {
        return Ok(Stored {
            scheme: crypt_scheme(body)?,
            encoding: Encoding::Default,
            body,
        });
    }
    let (base, encoding) = match name.rsplit_once('.') {
        Some((base, enc)) if enc.eq_ignore_ascii_case("HEX") => (base, Encoding::Hex),
        Some((base, enc))
            if enc.eq_ignore_ascii_case("B64") || enc.eq_ignore_ascii_case("BASE64") =>
        {
            (base, Encoding::Base64)
        }
        _ => (name, Encoding::Default),
    };
    let scheme: Scheme = base.parse()?;
    let binary = matches!(
        scheme,
        Scheme::Ssha512 | Scheme::Ssha256 | Scheme::Sha512 | Scheme::Sha256 | Scheme::CramMd5
    );
    if encoding != Encoding::Default && !binary {
        return Err(AuthError::UnknownScheme(name.to_owned()));
    }
    Ok(Stored {
        scheme,
        encoding,
        body,
    })
}

/// The scheme of a crypt(3)-style string, recognised by its `$id$` prefix.
fn crypt_scheme(hash: &str) -> Result<Scheme, AuthError> {
    let table: [(&str, Scheme); 7] = [
        ("$6$", Scheme::Sha512Crypt),
        ("$5$", Scheme::Sha256Crypt),
        ("$2y$", Scheme::BlfCrypt),
        ("$2b$", Scheme::BlfCrypt),
        ("$2a$", Scheme::BlfCrypt),
        ("$argon2id$", Scheme::Argon2id),
        ("$argon2i$", Scheme::Argon2i),
    ];
    table
        .into_iter()
        .find(|(prefix, _)| hash.starts_with(prefix))
        .map(|(_, scheme)| scheme)
        .ok_or_else(|| {
            if hash.starts_with('$') {
                let shown: String = hash.chars().take(12).collect();
                AuthError::UnknownScheme(format!("crypt {shown}..."))
            } else {
                AuthError::UnknownScheme("(no {SCHEME} prefix)".to_owned())
            }
        })
}

fn malformed(scheme: Scheme, reason: impl Into<String>) -> AuthError {
    AuthError::MalformedHash {
        scheme: scheme.name(),
        reason: reason.into(),
    }
}

fn hashing(scheme: Scheme, reason: impl fmt::Display) -> AuthError {
    AuthError::Hashing {
        scheme: scheme.name(),
        reason: reason.to_string(),
    }
}

/// Hashes `password` with `scheme` and a fresh random salt, returning the full
/// `{SCHEME}...` string Dovecot would accept.
///
/// Plaintext schemes need a UTF-8 password (the users file is text).
pub fn hash_password(scheme: Scheme, password: &[u8]) -> Result<String, AuthError> {
    let body = match scheme {
        Scheme::Plain | Scheme::Clear => std::str::from_utf8(password)
            .map_err(|_| hashing(scheme, "a plaintext password must be UTF-8"))?
            .to_owned(),
        Scheme::Sha512Crypt => {
            let salt = crypt_salt();
            let params = sha_crypt::Sha512Params::default();
            let hash = sha_crypt::sha512_crypt_b64(password, &salt, &params)
                .map_err(|e| hashing(scheme, format!("{e:?}")))?;
            format!("$6${}${hash}", String::from_utf8_lossy(&salt))
        }
        Scheme::Sha256Crypt => {
            let salt = crypt_salt();
            let params = sha_crypt::Sha256Params::default();
            let hash = sha_crypt::sha256_crypt_b64(password, &salt, &params)
                .map_err(|e| hashing(scheme, format!("{e:?}")))?;
            format!("$5${}${hash}", String::from_utf8_lossy(&salt))
        }
        Scheme::BlfCrypt => bcrypt::hash_with_result(password, BCRYPT_COST)
            .map_err(|e| hashing(scheme, e))?
            .format_for_version(bcrypt::Version::TwoY),
        Scheme::Argon2id => argon2_hash(
            scheme,
            argon2::Algorithm::Argon2id,
            ARGON2ID_PARAMS,
            password,
        )?,
        Scheme::Argon2i => {
            argon2_hash(scheme, argon2::Algorithm::Argon2i, ARGON2I_PARAMS, password)?
        }
        Scheme::Ssha512 => {
            let salt: [u8; SSHA_SALT_LEN] = rand::rng().random();
            let mut raw = Sha512::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize()
                .to_vec();
            raw.extend_from_slice(&salt);
            B64.encode(raw)
        }
        Scheme::Ssha256 => {
            let salt: [u8; SSHA_SALT_LEN] = rand::rng().random();
            let mut raw = Sha256::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize()
                .to_vec();
            raw.extend_from_slice(&salt);
            B64.encode(raw)
        }
        Scheme::Sha512 => B64.encode(Sha512::digest(password)),
        Scheme::Sha256 => B64.encode(Sha256::digest(password)),
        Scheme::CramMd5 => encode_hex(&cram_md5_context(password)),
        Scheme::ScramSha256 => {
            scram_body(&ScramCredentials::derive(ScramAlgorithm::Sha256, password))
        }
        Scheme::ScramSha1 => scram_body(&ScramCredentials::derive(ScramAlgorithm::Sha1, password)),
    };
    Ok(format!("{{{}}}{body}", scheme.name()))
}

fn crypt_salt() -> [u8; SHA_CRYPT_SALT_LEN] {
    let mut salt: [u8; SHA_CRYPT_SALT_LEN] = rand::rng().random();
    for b in &mut salt {
        *b = CRYPT_ALPHABET[usize::from(*b % 64)];
    }
    salt
}

fn argon2_hash(
    scheme: Scheme,
    algorithm: argon2::Algorithm,
    (m, t, p): (u32, u32, u32),
    password: &[u8],
) -> Result<String, AuthError> {
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(|e| hashing(scheme, e))?;
    let argon = Argon2::new(algorithm, argon2::Version::V0x13, params);
    let salt_bytes: [u8; ARGON2_SALT_LEN] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| hashing(scheme, e))?;
    let hash = argon
        .hash_password(password, &salt)
        .map_err(|e| hashing(scheme, e))?;
    Ok(hash.to_string())
}

fn scram_body(keys: &ScramCredentials) -> String {
    format!(
        "{},{},{},{}",
        keys.iterations,
        B64.encode(&keys.salt),
        B64.encode(&keys.stored_key),
        B64.encode(&keys.server_key)
    )
}

/// Checks `password` against a stored `{SCHEME}...` (or bare crypt-style) string.
///
/// `Ok(false)` is a wrong password; an unknown scheme or an undecodable hash is an
/// error, because it means the users file is broken, not that the client is wrong.
/// Every digest comparison is constant-time.
pub fn verify_password(stored: &str, password: &[u8]) -> Result<bool, AuthError> {
    let parsed = parse_stored(stored)?;
    let scheme = parsed.scheme;
    let body = parsed.body;
    match scheme {
        Scheme::Plain | Scheme::Clear => {
            // Hash both sides so the comparison time does not depend on the length.
            let a = Sha256::digest(body.as_bytes());
            let b = Sha256::digest(password);
            Ok(a.ct_eq(&b).into())
        }
        Scheme::Sha512Crypt | Scheme::Sha256Crypt => verify_sha_crypt(scheme, body, password),
        Scheme::BlfCrypt => {
            let cost = body.get(4..6).and_then(|c| c.parse::<u32>().ok());
            if cost.is_none_or(|c| c > BCRYPT_MAX_COST) {
                return Err(malformed(scheme, "missing or too high cost"));
            }
            bcrypt::verify(password, body).map_err(|e| malformed(scheme, e.to_string()))
        }
        Scheme::Argon2id | Scheme::Argon2i => verify_argon2(scheme, body, password),
        Scheme::Ssha512 => {
            let raw = decode_binary(scheme, parsed.encoding, body, None)?;
            verify_salted::<Sha512>(scheme, &raw, password)
        }
        Scheme::Ssha256 => {
            let raw = decode_binary(scheme, parsed.encoding, body, None)?;
            verify_salted::<Sha256>(scheme, &raw, password)
        }
        Scheme::Sha512 => {
            let raw = decode_binary(scheme, parsed.encoding, body, Some(64))?;
            Ok(Sha512::digest(password).ct_eq(&raw[..]).into())
        }
        Scheme::Sha256 => {
            let raw = decode_binary(scheme, parsed.encoding, body, Some(32))?;
            Ok(Sha256::digest(password).ct_eq(&raw[..]).into())
        }
        Scheme::CramMd5 => {
            let context = cram_context_of(&parsed)?;
            Ok(cram_md5_context(password).ct_eq(&context).into())
        }
        Scheme::ScramSha256 | Scheme::ScramSha1 => {
            let keys = parse_scram(scheme, body)?;
            Ok(keys.matches(password))
        }
    }
}

/// The 32-byte context of a parsed `{CRAM-MD5}` value (hex by default).
pub(crate) fn cram_context_of(parsed: &Stored<'_>) -> Result<[u8; 32], AuthError> {
    let scheme = parsed.scheme;
    let raw = decode_binary(scheme, parsed.encoding, parsed.body, Some(32))?;
    raw.try_into()
        .map_err(|_| malformed(scheme, "expected a 32-byte context"))
}

/// Decodes the binary part of a digest scheme. `fixed_len` is the raw length a
/// fixed-size digest must have; like Dovecot, a body of exactly twice that many hex
/// digits is taken as hex even without `.HEX`.
fn decode_binary(
    scheme: Scheme,
    encoding: Encoding,
    body: &str,
    fixed_len: Option<usize>,
) -> Result<Vec<u8>, AuthError> {
    let hex_default = scheme == Scheme::CramMd5;
    let looks_hex = fixed_len.is_some_and(|n| body.len() == 2 * n)
        && body.bytes().all(|b| b.is_ascii_hexdigit());
    let raw = match encoding {
        Encoding::Hex => decode_hex_vec(body),
        Encoding::Default if hex_default || looks_hex => decode_hex_vec(body),
        Encoding::Default | Encoding::Base64 => B64.decode(body).ok(),
    }
    .ok_or_else(|| malformed(scheme, "not valid base64/hex"))?;
    if let Some(n) = fixed_len
        && raw.len() != n
    {
        return Err(malformed(
            scheme,
            format!("{} bytes, expected {n}", raw.len()),
        ));
    }
    Ok(raw)
}

fn decode_hex_vec(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(decode_hex::<1>)
                .map(|b| b[0])
        })
        .collect()
}

fn verify_salted<D: Digest>(
    scheme: Scheme,
    raw: &[u8],
    password: &[u8],
) -> Result<bool, AuthError> {
    let len = <D as Digest>::output_size();
    if raw.len() <= len {
        return Err(malformed(scheme, "no salt after the digest"));
    }
    let (digest, salt) = raw.split_at(len);
    let computed = D::new()
        .chain_update(password)
        .chain_update(salt)
        .finalize();
    Ok(computed.as_slice().ct_eq(digest).into())
}

/// `$6$[rounds=N$]salt$hash` (or `$5$`), as glibc's crypt(3) reads it.
fn verify_sha_crypt(scheme: Scheme, body: &str, password: &[u8]) -> Result<bool, AuthError> {
    let rest = body
        .strip_prefix(if scheme == Scheme::Sha512Crypt {
            "$6$"
        } else {
            "$5$"
        })
        .ok_or_else(|| malformed(scheme, "wrong $id$ prefix"))?;
    let mut parts: Vec<&str> = rest.split('$').collect();
    let rounds = match parts.first().and_then(|p| p.strip_prefix("rounds=")) {
        Some(n) => {
            let n: usize = n.parse().map_err(|_| malformed(scheme, "bad rounds="))?;
            parts.remove(0);
            if n > SHA_CRYPT_MAX_ROUNDS {
                return Err(malformed(scheme, format!("rounds={n} exceeds the limit")));
            }
            // glibc raises a too-low count instead of failing.
            Some(n.max(sha_crypt::ROUNDS_MIN))
        }
        None => None,
    };
    let [salt, hash] = parts[..] else {
        return Err(malformed(scheme, "expected salt$hash"));
    };
    let computed = if scheme == Scheme::Sha512Crypt {
        let params = match rounds {
            Some(n) => sha_crypt::Sha512Params::new(n),
            None => Ok(sha_crypt::Sha512Params::default()),
        }
        .map_err(|e| malformed(scheme, format!("{e:?}")))?;
        sha_crypt::sha512_crypt_b64(password, salt.as_bytes(), &params)
    } else {
        let params = match rounds {
            Some(n) => sha_crypt::Sha256Params::new(n),
            None => Ok(sha_crypt::Sha256Params::default()),
        }
        .map_err(|e| malformed(scheme, format!("{e:?}")))?;
        sha_crypt::sha256_crypt_b64(password, salt.as_bytes(), &params)
    }
    .map_err(|e| malformed(scheme, format!("{e:?}")))?;
    Ok(computed.as_bytes().ct_eq(hash.as_bytes()).into())
}

fn verify_argon2(scheme: Scheme, body: &str, password: &[u8]) -> Result<bool, AuthError> {
    let hash = PasswordHash::new(body).map_err(|e| malformed(scheme, e.to_string()))?;
    let expected = if scheme == Scheme::Argon2id {
        argon2::ARGON2ID_IDENT
    } else {
        argon2::ARGON2I_IDENT
    };
    if hash.algorithm != expected {
        return Err(malformed(
            scheme,
            format!("algorithm is {}", hash.algorithm),
        ));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(malformed(scheme, "missing salt or hash"));
    }
    let m_cost = hash.params.get_decimal("m").unwrap_or(0);
    if m_cost > ARGON2_MAX_M_COST_KIB {
        return Err(malformed(scheme, format!("m={m_cost} exceeds the limit")));
    }
    match Argon2::default().verify_password(password, &hash) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::Password) => Ok(false),
        Err(e) => Err(malformed(scheme, e.to_string())),
    }
}

/// `iterations,salt_b64,stored_key_b64,server_key_b64`.
pub(crate) fn parse_scram(scheme: Scheme, body: &str) -> Result<ScramCredentials, AuthError> {
    let algorithm = match scheme {
        Scheme::ScramSha1 => ScramAlgorithm::Sha1,
        _ => ScramAlgorithm::Sha256,
    };
    let [iterations, salt, stored_key, server_key] = body.split(',').collect::<Vec<_>>()[..] else {
        return Err(malformed(scheme, "expected 4 comma-separated fields"));
    };
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| malformed(scheme, "iteration count is not a number"))?;
    if !(SCRAM_ITERATIONS..=SCRAM_MAX_ITERATIONS).contains(&iterations) {
        return Err(malformed(
            scheme,
            format!("iteration count {iterations} out of range"),
        ));
    }
    let decode = |field: &str, what: &str| {
        B64.decode(field)
            .map_err(|_| malformed(scheme, format!("{what} is not base64")))
    };
    let keys = ScramCredentials {
        algorithm,
        iterations,
        salt: decode(salt, "salt")?,
        stored_key: decode(stored_key, "stored key")?,
        server_key: decode(server_key, "server key")?,
    };
    let len = algorithm.digest_len();
    if keys.stored_key.len() != len || keys.server_key.len() != len {
        return Err(malformed(scheme, format!("keys must be {len} bytes")));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for scheme in Scheme::ALL {
            assert_eq!(scheme.name().parse::<Scheme>().ok(), Some(scheme));
            assert_eq!(
                scheme.name().to_lowercase().parse::<Scheme>().ok(),
                Some(scheme)
            );
        }
        assert_eq!("cleartext".parse::<Scheme>().ok(), Some(Scheme::Clear));
        assert!(matches!(
            "MD4".parse::<Scheme>(),
            Err(AuthError::UnknownScheme(_))
        ));
    }

    #[test]
    fn prefix_forms() {
        let table: [(&str, Scheme); 8] = [
            ("{plain}x", Scheme::Plain),
            ("{SHA256.HEX}00", Scheme::Sha256),
            ("{sha512.b64}AA", Scheme::Sha512),
            ("{CRYPT}$6$salt$hash", Scheme::Sha512Crypt),
            ("$5$salt$hash", Scheme::Sha256Crypt),
            ("$2b$05$x", Scheme::BlfCrypt),
            ("$argon2i$v=19$x", Scheme::Argon2i),
            ("$argon2id$v=19$x", Scheme::Argon2id),
        ];
        for (stored, scheme) in table {
            assert_eq!(
                parse_stored(stored).map(|p| p.scheme).ok(),
                Some(scheme),
                "{stored}"
            );
        }
        for bad in [
            "secret",
            "{MD4}x",
            "{PLAIN",
            "$1$md5crypt$x",
            "{ARGON2ID.HEX}x",
            "",
        ] {
            assert!(
                matches!(parse_stored(bad), Err(AuthError::UnknownScheme(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn cheap_schemes_round_trip() {
        let cheap = Scheme::ALL
            .into_iter()
            .filter(|s| !matches!(s, Scheme::Argon2id | Scheme::Argon2i));
        for scheme in cheap {
            let stored = hash_password(scheme, b"p\xc3\xa4ss word").expect("hash");
            assert!(
                stored.starts_with(&format!("{{{}}}", scheme.name())),
                "{stored}"
            );
            assert!(
                verify_password(&stored, b"p\xc3\xa4ss word").expect("verify"),
                "{stored}"
            );
            assert!(
                !verify_password(&stored, b"p\xc3\xa4ss wore").expect("verify"),
                "{stored}"
            );
            assert!(!verify_password(&stored, b"").expect("verify"), "{stored}");
        }
    }

    #[test]
    fn salts_are_fresh() {
        for scheme in [Scheme::Sha512Crypt, Scheme::Ssha256, Scheme::ScramSha1] {
            let a = hash_password(scheme, b"same").expect("hash");
            let b = hash_password(scheme, b"same").expect("hash");
            assert_ne!(a, b, "{scheme}");
        }
    }

    #[test]
    fn malformed_hashes_are_errors_not_panics() {
        let bad = [
            "{SHA256}!!!",
            "{SHA256}AAAA",
            "{SSHA512}AAAA",
            "{CRAM-MD5}abc",
            "{SCRAM-SHA-1}4096,AA==",
            "{SCRAM-SHA-1}12,AAAA,AAAA,AAAA",
            "{SCRAM-SHA-256}x,AAAA,AAAA,AAAA",
            "{SHA512-CRYPT}$6$onlysalt",
            "{SHA512-CRYPT}$6$rounds=x$salt$hash",
            "{BLF-CRYPT}$2y$05$short",
            "{ARGON2ID}$argon2id$v=19$m=nope",
            "{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$MHoK4fYa+Kw/aFbQhs8M2w$dYeEYA6z5NQifWe4mgtXb8RROLctYQlWRN1ZeyR1yuU",
            "{ARGON2ID}$argon2id$v=19$m=4194304,t=1,p=1$MHoK4fYa+Kw/aFbQhs8M2w$dYeEYA6z5NQifWe4mgtXb8RROLctYQlWRN1ZeyR1yuU",
        ];
        for stored in bad {
            assert!(
                matches!(
                    verify_password(stored, b"x"),
                    Err(AuthError::MalformedHash { .. })
                ),
                "{stored}: {:?}",
                verify_password(stored, b"x")
            );
        }
    }

    #[test]
    fn truncated_and_costly_hashes_never_panic() {
        let cheap_argon = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8, 1, 1, Some(32)).expect("params"),
        )
        .hash_password(b"pw", &SaltString::encode_b64(&[1u8; 16]).expect("salt"))
        .expect("hash")
        .to_string();
        let mut hashes: Vec<String> = Scheme::ALL
            .into_iter()
            .filter(|s| !matches!(s, Scheme::Argon2id | Scheme::Argon2i))
            .map(|s| hash_password(s, b"pw").expect("hash"))
            .collect();
        hashes.push(format!("{{ARGON2ID}}{cheap_argon}"));
        for stored in &hashes {
            assert_eq!(verify_password(stored, b"pw").ok(), Some(true), "{stored}");
            for cut in 0..stored.len() {
                if let Some(prefix) = stored.get(..cut) {
                    let _ = verify_password(prefix, b"pw");
                }
            }
        }
        for costly in [
            "$2y$31$K1iYTKHNcvhfbagkQzoq2OiKdt5ZM9PxvG41yDUBScXgVNAcveEei",
            "$6$rounds=999999999$salt$hash",
        ] {
            assert!(
                matches!(
                    verify_password(costly, b"pw"),
                    Err(AuthError::MalformedHash { .. })
                ),
                "{costly}"
            );
        }
    }

    #[test]
    fn sha_crypt_with_rounds() {
        // glibc: crypt("Hello world!", "$5$rounds=10000$saltstringsaltstring").
        let stored = "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA";
        assert!(verify_password(stored, b"Hello world!").expect("verify"));
        assert!(!verify_password(stored, b"Hello world").expect("verify"));
    }
}
