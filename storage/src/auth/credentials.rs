//! What challenge-response SASL mechanisms need to know about a user's password.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::Rng;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AuthError;
use super::cram::cram_md5_context;
use super::scheme::{self, SCRAM_ITERATIONS, SCRAM_SALT_LEN, Scheme};
use super::secret::Secret;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramAlgorithm {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl ScramAlgorithm {
    /// Digest length in bytes (also the length of StoredKey and ServerKey).
    pub fn digest_len(self) -> usize {
        match self {
            ScramAlgorithm::Sha1 => 20,
            ScramAlgorithm::Sha256 => 32,
        }
    }

    /// The SASL mechanism name.
    pub fn mechanism(self) -> &'static str {
        match self {
            ScramAlgorithm::Sha1 => "SCRAM-SHA-1",
            ScramAlgorithm::Sha256 => "SCRAM-SHA-256",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramAlgorithm::Sha1 => {
                let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramAlgorithm::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
            ScramAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// SaltedPassword := Hi(password, salt, i), i.e. PBKDF2 with HMAC (RFC 5802, 2.2).
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.digest_len()];
        match self {
            ScramAlgorithm::Sha1 => {
                pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out);
            }
            ScramAlgorithm::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
            }
        }
        out
    }
}

/// The server-side SCRAM secrets of RFC 5802 section 3 for one user.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// Which SCRAM variant these keys are for.
    pub algorithm: ScramAlgorithm,
    /// PBKDF2 iteration count sent to the client.
    pub iterations: u32,
    /// Salt sent to the client.
    pub salt: Vec<u8>,
    /// StoredKey := H(HMAC(SaltedPassword, "Client Key")).
    pub stored_key: Vec<u8>,
    /// ServerKey := HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("algorithm", &self.algorithm)
            .field("iterations", &self.iterations)
            .field("keys", &"<redacted>")
            .finish()
    }
}

impl ScramCredentials {
    /// Derives keys from a plaintext password with a fresh salt and Dovecot's
    /// iteration count.
    pub fn derive(algorithm: ScramAlgorithm, password: &[u8]) -> Self {
        let salt: [u8; SCRAM_SALT_LEN] = rand::rng().random();
        Self::derive_with(algorithm, password, &salt, SCRAM_ITERATIONS)
    }

    /// Derives keys from a plaintext password with a given salt and iteration count.
    pub fn derive_with(
        algorithm: ScramAlgorithm,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Self {
        let salted = algorithm.salted_password(password, salt, iterations);
        let client_key = algorithm.hmac(&salted, b"Client Key");
        ScramCredentials {
            algorithm,
            iterations,
            salt: salt.to_vec(),
            stored_key: algorithm.hash(&client_key),
            server_key: algorithm.hmac(&salted, b"Server Key"),
        }
    }

    /// Whether `password` produces these keys (constant-time comparison).
    pub fn matches(&self, password: &[u8]) -> bool {
        let other = Self::derive_with(self.algorithm, password, &self.salt, self.iterations);
        let same_stored = other.stored_key.ct_eq(&self.stored_key);
        let same_server = other.server_key.ct_eq(&self.server_key);
        (same_stored & same_server).into()
    }
}

#[derive(Clone, Debug)]
enum Kind {
    Plain(Secret<Vec<u8>>),
    CramMd5(Secret<[u8; 32]>),
    Scram(Secret<ScramCredentials>),
    /// A one-way hash: usable for PLAIN/LOGIN only.
    VerifyOnly,
}

/// What a user's stored password allows beyond plain verification.
#[derive(Clone, Debug)]
pub struct Credentials {
    kind: Kind,
}

impl Credentials {
    /// Classifies a stored `{SCHEME}...` string.
    pub fn from_stored(stored: &str) -> Result<Self, AuthError> {
        let parsed = scheme::parse_stored(stored)?;
        let kind = match parsed.scheme {
            Scheme::Plain | Scheme::Clear => {
                Kind::Plain(Secret::new(parsed.body.as_bytes().to_vec()))
            }
            Scheme::CramMd5 => Kind::CramMd5(Secret::new(scheme::cram_context_of(&parsed)?)),
            Scheme::ScramSha1 | Scheme::ScramSha256 => Kind::Scram(Secret::new(
                scheme::parse_scram(parsed.scheme, parsed.body)?,
            )),
            _ => Kind::VerifyOnly,
        };
        Ok(Credentials { kind })
    }

    /// The password itself, if it is stored in clear (`{PLAIN}`/`{CLEAR}`).
    pub fn plaintext(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Plain(p) => Some(p.expose()),
            _ => None,
        }
    }

    /// The HMAC-MD5 context CRAM-MD5 needs, from a `{CRAM-MD5}` hash or the plaintext.
    pub fn cram_md5_context(&self) -> Option<[u8; 32]> {
        match &self.kind {
            Kind::Plain(p) => Some(cram_md5_context(p.expose())),
            Kind::CramMd5(c) => Some(*c.expose()),
            _ => None,
        }
    }

    /// SCRAM keys for `algorithm`, from a matching SCRAM hash or derived from the
    /// plaintext (fresh salt each call, 4096 iterations).
    pub fn scram(&self, algorithm: ScramAlgorithm) -> Option<ScramCredentials> {
        match &self.kind {
            Kind::Plain(p) => Some(ScramCredentials::derive(algorithm, p.expose())),
            Kind::Scram(keys) if keys.expose().algorithm == algorithm => {
                Some(keys.expose().clone())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3 example: user "user", password "pencil".
    #[test]
    fn rfc7677_scram_sha256_keys() {
        use base64::Engine;
        let salt = scheme::B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("b64");
        let keys = ScramCredentials::derive_with(ScramAlgorithm::Sha256, b"pencil", &salt, 4096);
        // ServerSignature = HMAC(ServerKey, AuthMessage); the RFC gives only the
        // signature, so check it through the AuthMessage.
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = ScramAlgorithm::Sha256.hmac(&keys.server_key, auth_message.as_bytes());
        assert_eq!(
            scheme::B64.encode(signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        assert!(keys.matches(b"pencil"));
        assert!(!keys.matches(b"pencil!"));
    }

    #[test]
    fn kinds() {
        let plain = Credentials::from_stored("{PLAIN}secret").expect("plain");
        assert_eq!(plain.plaintext(), Some(&b"secret"[..]));
        assert_eq!(plain.cram_md5_context(), Some(cram_md5_context(b"secret")));
        let derived = plain.scram(ScramAlgorithm::Sha1).expect("derived");
        assert!(derived.matches(b"secret"));

        let cram = Credentials::from_stored(
            "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
        )
        .expect("cram");
        assert_eq!(cram.plaintext(), None);
        assert_eq!(cram.cram_md5_context(), Some(cram_md5_context(b"secret")));
        assert!(cram.scram(ScramAlgorithm::Sha256).is_none());

        let scram = Credentials::from_stored(
            "{SCRAM-SHA-1}4096,xFaiiaPhXNbHeVeTIxreZw==,oRSWaMEqHNUWJ1FBddPSUhxF5cs=,la+bkBmUHC8w6EqXkV7jErqWpSE=",
        )
        .expect("scram");
        assert!(scram.scram(ScramAlgorithm::Sha256).is_none());
        assert!(scram.cram_md5_context().is_none());
        let keys = scram.scram(ScramAlgorithm::Sha1).expect("sha1 keys");
        assert_eq!(keys.iterations, 4096);
        assert!(keys.matches(b"secret"));
        assert!(!format!("{keys:?}").contains("stored_key"));

        let hashed =
            Credentials::from_stored("{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=")
                .expect("sha256");
        assert!(hashed.plaintext().is_none() && hashed.cram_md5_context().is_none());
        assert!(!format!("{plain:?}").contains("secret"));
    }
}
