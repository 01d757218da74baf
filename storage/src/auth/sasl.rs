//! Server side of the SASL mechanisms both protocols offer: PLAIN (RFC 4616), LOGIN
//! (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195), SCRAM-SHA-1 (RFC 5802) and
//! SCRAM-SHA-256 (RFC 7677), plus APOP (RFC 1939), which is not SASL but checks the same
//! stored passwords.
//!
//! The exchange is transport-neutral: the protocol decodes base64 and frames lines, this
//! module only sees raw client data and returns raw challenges. SCRAM is our own code on
//! the `hmac`/`sha*` crates (the keys come from [`Credentials::scram`]) because it is small
//! and keeps one code path for derived and stored keys. Channel binding is not offered, so
//! only the `n` and `y` GS2 flags are accepted, and names are compared without SASLprep.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use rand::Rng;
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::authenticator::{AuthOutcome, Authenticator};
use super::cram::cram_md5_verify;
use super::credentials::{ScramAlgorithm, ScramCredentials};

/// Host part of CRAM-MD5 challenges and APOP timestamps when none is configured.
const DEFAULT_CHALLENGE_HOST: &str = "roost";

/// Why an exchange cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// A mechanism we do not implement.
    #[error("unsupported SASL mechanism {0:?}")]
    UnknownMechanism(String),
    /// PLAIN or LOGIN on a connection where cleartext passwords are refused.
    #[error("{0} is not allowed on this connection without TLS")]
    CleartextRefused(&'static str),
}

/// What the protocol does after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this challenge (raw bytes; the protocol base64-encodes it) and wait.
    Challenge(Vec<u8>),
    /// Authenticated as `user`.
    Success {
        /// The authenticated user name, as stored.
        user: String,
    },
    /// Wrong credentials, malformed client data or a client cancel.
    Failure,
    /// The check could not be done (user database unreadable); the client may retry.
    TempFailure,
}

enum State {
    PlainStart,
    LoginUser,
    LoginPass { user: String },
    CramMd5 { challenge: String },
    ScramFirst(ScramAlgorithm),
    ScramFinal(Box<ScramPending>),
    ScramAck { user: String },
    Done,
}

struct ScramPending {
    algorithm: ScramAlgorithm,
    /// None for an unknown user: the exchange goes on with decoy keys and fails at the end,
    /// so it does not reveal which users exist.
    user: Option<String>,
    keys: ScramCredentials,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

/// One SASL exchange on the server side.
pub struct SaslServer {
    auth: Arc<Authenticator>,
    mechanism: &'static str,
    state: State,
    /// The user name the client gave, once it did: failures are penalised per user too.
    tried: Option<String>,
}

impl std::fmt::Debug for SaslServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslServer")
            .field("mechanism", &self.mechanism)
            .finish_non_exhaustive()
    }
}

/// The mechanisms that can succeed for at least one user, strongest first.
/// PLAIN and LOGIN only when cleartext passwords are allowed on the connection.
pub fn mechanisms(auth: &Authenticator, cleartext_allowed: bool) -> Vec<&'static str> {
    let possible = auth.mechanisms_possible();
    let mut out = Vec::new();
    if possible.scram_sha256 {
        out.push("SCRAM-SHA-256");
    }
    if possible.scram_sha1 {
        out.push("SCRAM-SHA-1");
    }
    if possible.cram_md5 {
        out.push("CRAM-MD5");
    }
    if cleartext_allowed && !auth.is_empty() {
        out.push("PLAIN");
        out.push("LOGIN");
    }
    out
}

fn random_token() -> String {
    let bytes: [u8; 18] = rand::rng().random();
    BASE64.encode(bytes)
}

/// A fresh `<random.time@host>` string for an APOP greeting or a CRAM-MD5 challenge
/// (RFC 1939 "msg-id" syntax).
pub fn challenge_timestamp(host: &str) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let n: u64 = rand::rng().random();
    let host = if host.is_empty() {
        DEFAULT_CHALLENGE_HOST
    } else {
        host
    };
    format!("<{n:016x}.{secs}@{host}>")
}

/// Checks an APOP command (RFC 1939 section 7): `digest` must be the lowercase hex
/// MD5 of `timestamp` followed by the user's password, which must be stored in clear.
pub fn apop_verify(auth: &Authenticator, user: &str, timestamp: &str, digest: &str) -> SaslStep {
    let Some(creds) = auth.credentials(user) else {
        return SaslStep::Failure;
    };
    let Some(password) = creds.plaintext() else {
        return SaslStep::Failure;
    };
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(password);
    let want: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if bool::from(
        want.as_bytes()
            .ct_eq(digest.to_ascii_lowercase().as_bytes()),
    ) {
        SaslStep::Success {
            user: user.to_owned(),
        }
    } else {
        SaslStep::Failure
    }
}

impl SaslServer {
    /// Starts an exchange for `mech` (case-insensitive).
    pub fn start(
        mech: &str,
        auth: &Arc<Authenticator>,
        cleartext_allowed: bool,
    ) -> Result<SaslServer, SaslError> {
        let upper = mech.to_ascii_uppercase();
        let (mechanism, state) = match upper.as_str() {
            "PLAIN" => ("PLAIN", State::PlainStart),
            "LOGIN" => ("LOGIN", State::LoginUser),
            "CRAM-MD5" => (
                "CRAM-MD5",
                State::CramMd5 {
                    challenge: challenge_timestamp(DEFAULT_CHALLENGE_HOST),
                },
            ),
            "SCRAM-SHA-1" => ("SCRAM-SHA-1", State::ScramFirst(ScramAlgorithm::Sha1)),
            "SCRAM-SHA-256" => ("SCRAM-SHA-256", State::ScramFirst(ScramAlgorithm::Sha256)),
            _ => return Err(SaslError::UnknownMechanism(mech.to_owned())),
        };
        if matches!(mechanism, "PLAIN" | "LOGIN") && !cleartext_allowed {
            return Err(SaslError::CleartextRefused(mechanism));
        }
        Ok(SaslServer {
            auth: Arc::clone(auth),
            mechanism,
            state,
            tried: None,
        })
    }

    /// The mechanism name, upper-case, for logs.
    pub fn mechanism(&self) -> &'static str {
        self.mechanism
    }

    /// The user name the client claimed so far (not necessarily an existing user).
    pub fn tried_user(&self) -> Option<&str> {
        self.tried.as_deref()
    }

    /// Feeds the client's next data (`None` for "no initial response") and says what
    /// to do next. After `Success`, `Failure` or `TempFailure` the exchange is over and
    /// further steps fail.
    pub fn step(&mut self, client_data: Option<&[u8]>) -> SaslStep {
        let state = std::mem::replace(&mut self.state, State::Done);
        match (state, client_data) {
            (State::PlainStart, None) => {
                self.state = State::PlainStart;
                SaslStep::Challenge(Vec::new())
            }
            (State::PlainStart, Some(data)) => self.plain(data),
            (State::LoginUser, None) => {
                self.state = State::LoginUser;
                SaslStep::Challenge(b"Username:".to_vec())
            }
            (State::LoginUser, Some(data)) => match std::str::from_utf8(data) {
                Ok(user) if !user.is_empty() => {
                    self.state = State::LoginPass {
                        user: user.to_owned(),
                    };
                    SaslStep::Challenge(b"Password:".to_vec())
                }
                _ => SaslStep::Failure,
            },
            (State::LoginPass { user }, Some(pass)) => self.verify(&user, pass),
            (State::CramMd5 { challenge }, None) => {
                let out = challenge.clone().into_bytes();
                self.state = State::CramMd5 { challenge };
                SaslStep::Challenge(out)
            }
            (State::CramMd5 { challenge }, Some(data)) => self.cram(&challenge, data),
            (State::ScramFirst(alg), None) => {
                self.state = State::ScramFirst(alg);
                SaslStep::Challenge(Vec::new())
            }
            (State::ScramFirst(alg), Some(data)) => self.scram_first(alg, data),
            (State::ScramFinal(p), Some(data)) => self.scram_final(*p, data),
            (State::ScramAck { user }, Some(b"")) => SaslStep::Success { user },
            _ => SaslStep::Failure,
        }
    }

    fn verify(&mut self, user: &str, password: &[u8]) -> SaslStep {
        self.tried = Some(user.to_owned());
        match self.auth.verify(user, password) {
            AuthOutcome::Ok(entry) => SaslStep::Success { user: entry.name },
            AuthOutcome::Failed => SaslStep::Failure,
            AuthOutcome::TempFail(_) => SaslStep::TempFailure,
        }
    }

    /// `message = [authzid] UTF8NUL authcid UTF8NUL passwd` (RFC 4616 section 2).
    fn plain(&mut self, data: &[u8]) -> SaslStep {
        let mut parts = data.split(|&b| b == 0);
        let (Some(authz), Some(authc), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return SaslStep::Failure;
        };
        let Ok(user) = std::str::from_utf8(authc) else {
            return SaslStep::Failure;
        };
        // We have no proxy authorization: authzid must be absent or the same user.
        if user.is_empty() || (!authz.is_empty() && authz != authc) {
            return SaslStep::Failure;
        }
        self.verify(user, pass)
    }

    /// `response = user SP digest` (RFC 2195 section 2).
    fn cram(&mut self, challenge: &str, data: &[u8]) -> SaslStep {
        let Ok(text) = std::str::from_utf8(data) else {
            return SaslStep::Failure;
        };
        let Some((user, digest)) = text.rsplit_once(' ') else {
            return SaslStep::Failure;
        };
        self.tried = Some(user.to_owned());
        let context = match self.auth.credentials(user) {
            Some(c) => c.cram_md5_context(),
            None => None,
        };
        match context {
            Some(ctx) if cram_md5_verify(&ctx, challenge.as_bytes(), digest) => SaslStep::Success {
                user: user.to_owned(),
            },
            _ => SaslStep::Failure,
        }
    }

    /// `client-first-message = gs2-header client-first-message-bare`,
    /// `gs2-header = gs2-cbind-flag "," [ authzid ] ","` (RFC 5802 section 7).
    fn scram_first(&mut self, algorithm: ScramAlgorithm, data: &[u8]) -> SaslStep {
        let Ok(text) = std::str::from_utf8(data) else {
            return SaslStep::Failure;
        };
        let Some(parsed) = parse_client_first(text) else {
            return SaslStep::Failure;
        };
        self.tried = Some(parsed.user.clone());
        let creds = self.auth.credentials(&parsed.user);
        let (user, keys) = match creds.and_then(|c| c.scram(algorithm)) {
            Some(keys) => (Some(parsed.user.clone()), keys),
            None => (None, decoy_keys(algorithm)),
        };
        if parsed.authzid.as_deref().is_some_and(|a| a != parsed.user) {
            return SaslStep::Failure;
        }
        let nonce = format!("{}{}", parsed.client_nonce, random_token());
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&keys.salt),
            keys.iterations
        );
        let out = server_first.clone().into_bytes();
        self.state = State::ScramFinal(Box::new(ScramPending {
            algorithm,
            user,
            keys,
            gs2_header: parsed.gs2_header,
            client_first_bare: parsed.bare,
            server_first,
            nonce,
        }));
        SaslStep::Challenge(out)
    }

    /// `client-final-message = channel-binding "," nonce ["," extensions] "," proof`.
    fn scram_final(&mut self, p: ScramPending, data: &[u8]) -> SaslStep {
        let Ok(text) = std::str::from_utf8(data) else {
            return SaslStep::Failure;
        };
        let Some((without_proof, proof_b64)) = text.rsplit_once(",p=") else {
            return SaslStep::Failure;
        };
        let mut attrs = without_proof.split(',');
        let (Some(cbind), Some(nonce)) = (attrs.next(), attrs.next()) else {
            return SaslStep::Failure;
        };
        let want_cbind = format!("c={}", BASE64.encode(p.gs2_header.as_bytes()));
        if cbind != want_cbind || nonce.strip_prefix("r=") != Some(p.nonce.as_str()) {
            return SaslStep::Failure;
        }
        let Ok(proof) = BASE64.decode(proof_b64) else {
            return SaslStep::Failure;
        };
        let auth_message = format!(
            "{},{},{}",
            p.client_first_bare, p.server_first, without_proof
        );
        let signature = hmac(p.algorithm, &p.keys.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return SaslStep::Failure;
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let ok = bool::from(hash(p.algorithm, &client_key).ct_eq(&p.keys.stored_key));
        match (ok, p.user) {
            (true, Some(user)) => {
                let server_sig = hmac(p.algorithm, &p.keys.server_key, auth_message.as_bytes());
                self.state = State::ScramAck { user };
                SaslStep::Challenge(format!("v={}", BASE64.encode(server_sig)).into_bytes())
            }
            _ => SaslStep::Failure,
        }
    }
}

struct ClientFirst {
    gs2_header: String,
    authzid: Option<String>,
    user: String,
    client_nonce: String,
    bare: String,
}

/// `saslname` decoding: `=2C` is `,` and `=3D` is `=`; any other `=` is invalid.
fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3)?;
        out.push(match code {
            "2C" => ',',
            "3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

fn parse_client_first(text: &str) -> Option<ClientFirst> {
    let mut it = text.splitn(3, ',');
    let flag = it.next()?;
    let authz = it.next()?;
    let bare = it.next()?;
    // "p=" asks for channel binding, which we do not offer.
    if flag != "n" && flag != "y" {
        return None;
    }
    let authzid = match authz {
        "" => None,
        a => Some(decode_saslname(a.strip_prefix("a=")?)?),
    };
    let mut attrs = bare.split(',');
    let user_attr = attrs.next()?;
    if user_attr.starts_with("m=") {
        return None; // mandatory extensions we do not know
    }
    let user = decode_saslname(user_attr.strip_prefix("n=")?)?;
    let client_nonce = attrs.next()?.strip_prefix("r=")?;
    if user.is_empty() || client_nonce.is_empty() || client_nonce.contains(',') {
        return None;
    }
    Some(ClientFirst {
        gs2_header: format!("{flag},{authz},"),
        authzid,
        user,
        client_nonce: client_nonce.to_owned(),
        bare: bare.to_owned(),
    })
}

fn decoy_keys(algorithm: ScramAlgorithm) -> ScramCredentials {
    let mut rng = rand::rng();
    let mut random = |n: usize| (0..n).map(|_| rng.random::<u8>()).collect::<Vec<u8>>();
    ScramCredentials {
        algorithm,
        iterations: 4096,
        salt: random(16),
        stored_key: random(algorithm.digest_len()),
        server_key: random(algorithm.digest_len()),
    }
}

fn hmac(algorithm: ScramAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    match algorithm {
        ScramAlgorithm::Sha1 => match <Hmac<Sha1> as Mac>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
        ScramAlgorithm::Sha256 => match <Hmac<Sha256> as Mac>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        },
    }
}

fn hash(algorithm: ScramAlgorithm, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match algorithm {
        ScramAlgorithm::Sha1 => Sha1::digest(data).to_vec(),
        ScramAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_with(lines: &str) -> (tempfile::TempDir, Arc<Authenticator>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users");
        std::fs::write(&path, lines).expect("write users");
        let auth = Authenticator::open(&path).expect("open users");
        (dir, Arc::new(auth))
    }

    fn users() -> (tempfile::TempDir, Arc<Authenticator>) {
        let sha =
            crate::auth::hash_password(crate::auth::Scheme::Sha512Crypt, b"hashed").expect("hash");
        let scram =
            crate::auth::hash_password(crate::auth::Scheme::ScramSha256, b"pencil").expect("hash");
        auth_with(&format!("alice:{{PLAIN}}secret\nbob:{sha}\nuser:{scram}\n"))
    }

    fn success(user: &str) -> SaslStep {
        SaslStep::Success {
            user: user.to_owned(),
        }
    }

    #[test]
    fn plain_with_and_without_initial_response() {
        let (_d, auth) = users();
        let mut s = SaslServer::start("plain", &auth, true).expect("start");
        assert_eq!(s.step(Some(b"\0alice\0secret")), success("alice"));
        let mut s = SaslServer::start("PLAIN", &auth, true).expect("start");
        assert_eq!(s.step(None), SaslStep::Challenge(Vec::new()));
        assert_eq!(s.step(Some(b"bob\0bob\0hashed")), success("bob"));
        let cases: [&[u8]; 6] = [
            b"\0alice\0wrong",
            b"\0nobody\0secret",
            b"bob\0alice\0secret",
            b"\0alice",
            b"\0alice\0secret\0x",
            b"\0\0secret",
        ];
        for bad in cases {
            let mut s = SaslServer::start("PLAIN", &auth, true).expect("start");
            assert_eq!(s.step(Some(bad)), SaslStep::Failure, "{bad:?}");
            assert_eq!(s.step(Some(b"\0alice\0secret")), SaslStep::Failure);
        }
        assert_eq!(
            SaslServer::start("PLAIN", &auth, false).err(),
            Some(SaslError::CleartextRefused("PLAIN"))
        );
        assert!(matches!(
            SaslServer::start("GSSAPI", &auth, true),
            Err(SaslError::UnknownMechanism(_))
        ));
    }

    #[test]
    fn login_asks_user_then_password() {
        let (_d, auth) = users();
        let mut s = SaslServer::start("LOGIN", &auth, true).expect("start");
        assert_eq!(s.step(None), SaslStep::Challenge(b"Username:".to_vec()));
        assert_eq!(
            s.step(Some(b"alice")),
            SaslStep::Challenge(b"Password:".to_vec())
        );
        assert_eq!(s.step(Some(b"secret")), success("alice"));
        // Initial response is the user name.
        let mut s = SaslServer::start("LOGIN", &auth, true).expect("start");
        assert_eq!(
            s.step(Some(b"alice")),
            SaslStep::Challenge(b"Password:".to_vec())
        );
        assert_eq!(s.step(Some(b"nope")), SaslStep::Failure);
        assert!(SaslServer::start("LOGIN", &auth, false).is_err());
    }

    fn hmac_md5_hex(key: &[u8], data: &[u8]) -> String {
        let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).expect("any key");
        mac.update(data);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn cram_md5_against_plaintext_and_stored_context() {
        let cram = crate::auth::hash_password(crate::auth::Scheme::CramMd5, b"tanstaaftanstaaf")
            .expect("hash");
        let (_d, auth) = auth_with(&format!("tim:{cram}\nalice:{{PLAIN}}secret\n"));
        for (user, pass, ok) in [
            ("tim", "tanstaaftanstaaf", true),
            ("alice", "secret", true),
            ("tim", "wrong", false),
            ("ghost", "secret", false),
        ] {
            let mut s = SaslServer::start("CRAM-MD5", &auth, false).expect("start");
            let SaslStep::Challenge(ch) = s.step(None) else {
                panic!("no challenge")
            };
            assert!(ch.starts_with(b"<") && ch.ends_with(b">"));
            let resp = format!("{user} {}", hmac_md5_hex(pass.as_bytes(), &ch));
            let want = if ok { success(user) } else { SaslStep::Failure };
            assert_eq!(s.step(Some(resp.as_bytes())), want, "{user}/{pass}");
        }
        let mut s = SaslServer::start("CRAM-MD5", &auth, false).expect("start");
        let _ = s.step(None);
        assert_eq!(s.step(Some(b"no-space")), SaslStep::Failure);
    }

    /// A client side of SCRAM, written from RFC 5802 section 3.
    fn scram_client(
        alg: ScramAlgorithm,
        s: &mut SaslServer,
        user: &str,
        pass: &[u8],
        nonce: &str,
    ) -> SaslStep {
        let bare = format!("n={user},r={nonce}");
        let SaslStep::Challenge(first) = s.step(Some(format!("n,,{bare}").as_bytes())) else {
            panic!("no server-first")
        };
        let first = String::from_utf8(first).expect("utf8");
        let mut r = "";
        let mut salt = Vec::new();
        let mut iters = 0;
        for attr in first.split(',') {
            match attr.split_at(2) {
                ("r=", v) => r = v,
                ("s=", v) => salt = BASE64.decode(v).expect("salt"),
                ("i=", v) => iters = v.parse().expect("iters"),
                _ => {}
            }
        }
        assert!(r.starts_with(nonce));
        let keys = ScramCredentials::derive_with(alg, pass, &salt, iters);
        let without_proof = format!("c=biws,r={r}");
        let auth_message = format!("{bare},{first},{without_proof}");
        let mut salted = vec![0u8; alg.digest_len()];
        match alg {
            ScramAlgorithm::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(pass, &salt, iters, &mut salted),
            ScramAlgorithm::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(pass, &salt, iters, &mut salted)
            }
        }
        let client_key = hmac(alg, &salted, b"Client Key");
        let sig = hmac(alg, &keys.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let fin = format!("{without_proof},p={}", BASE64.encode(proof));
        match s.step(Some(fin.as_bytes())) {
            SaslStep::Challenge(v) => {
                let server_sig = hmac(alg, &keys.server_key, auth_message.as_bytes());
                assert_eq!(v, format!("v={}", BASE64.encode(server_sig)).into_bytes());
                s.step(Some(b""))
            }
            other => other,
        }
    }

    #[test]
    fn scram_sha256_and_sha1_end_to_end() {
        let (_d, auth) = users();
        for (mech, alg) in [
            ("SCRAM-SHA-256", ScramAlgorithm::Sha256),
            ("SCRAM-SHA-1", ScramAlgorithm::Sha1),
        ] {
            let mut s = SaslServer::start(mech, &auth, false).expect("start");
            assert_eq!(
                scram_client(alg, &mut s, "alice", b"secret", "abc"),
                success("alice")
            );
            let mut s = SaslServer::start(mech, &auth, false).expect("start");
            assert_eq!(
                scram_client(alg, &mut s, "alice", b"wrong", "abc"),
                SaslStep::Failure
            );
            let mut s = SaslServer::start(mech, &auth, false).expect("start");
            assert_eq!(
                scram_client(alg, &mut s, "ghost", b"secret", "abc"),
                SaslStep::Failure
            );
        }
        // Stored SCRAM-SHA-256 keys work for SHA-256 and not for SHA-1.
        let mut s = SaslServer::start("SCRAM-SHA-256", &auth, false).expect("start");
        let got = scram_client(ScramAlgorithm::Sha256, &mut s, "user", b"pencil", "rOprNG");
        assert_eq!(got, success("user"));
        let mut s = SaslServer::start("SCRAM-SHA-1", &auth, false).expect("start");
        let got = scram_client(ScramAlgorithm::Sha1, &mut s, "user", b"pencil", "rOprNG");
        assert_eq!(got, SaslStep::Failure);
    }

    /// RFC 7677 section 3: with the server nonce, salt and iteration count of the
    /// example, our proof check accepts the RFC's client-final and produces its
    /// server signature.
    #[test]
    fn rfc7677_example_vector() {
        let (_d, auth) = users();
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        let keys = ScramCredentials::derive_with(ScramAlgorithm::Sha256, b"pencil", &salt, 4096);
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server_first = format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let mut s = SaslServer {
            auth: Arc::clone(&auth),
            mechanism: "SCRAM-SHA-256",
            state: State::Done,
            tried: None,
        };
        let pending = ScramPending {
            algorithm: ScramAlgorithm::Sha256,
            user: Some("user".to_owned()),
            keys,
            gs2_header: "n,,".to_owned(),
            client_first_bare: "n=user,r=rOprNGfwEbeRWgbNEkqO".to_owned(),
            server_first,
            nonce: nonce.to_owned(),
        };
        let fin = format!("c=biws,r={nonce},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert_eq!(
            s.scram_final(pending, fin.as_bytes()),
            SaslStep::Challenge(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec())
        );
        assert_eq!(s.step(Some(b"")), success("user"));
    }

    #[test]
    fn scram_rejects_channel_binding_and_bad_messages() {
        let (_d, auth) = users();
        let bad: [&[u8]; 6] = [
            b"p=tls-unique,,n=alice,r=x",
            b"n,,m=ext,n=alice,r=x",
            b"n,,n=alice",
            b"n,,n=,r=x",
            b"n,a=bob,n=alice,r=x",
            b"garbage",
        ];
        for data in bad {
            let mut s = SaslServer::start("SCRAM-SHA-256", &auth, false).expect("start");
            assert_eq!(s.step(Some(data)), SaslStep::Failure, "{data:?}");
        }
        assert_eq!(decode_saslname("a=2Cb=3Dc"), Some("a,b=c".to_owned()));
        assert_eq!(decode_saslname("a=2"), None);
        assert_eq!(decode_saslname("a=41"), None);
    }

    #[test]
    fn advertised_mechanisms_follow_the_stored_hashes() {
        let (_d, auth) = users();
        assert_eq!(
            mechanisms(&auth, true),
            ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]
        );
        assert_eq!(
            mechanisms(&auth, false),
            ["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5"]
        );
        let sha = crate::auth::hash_password(crate::auth::Scheme::Sha512Crypt, b"x").expect("h");
        let (_d2, hashed) = auth_with(&format!("bob:{sha}\n"));
        assert_eq!(mechanisms(&hashed, true), ["PLAIN", "LOGIN"]);
        assert!(mechanisms(&hashed, false).is_empty());
        let (_d3, empty) = auth_with("");
        assert!(mechanisms(&empty, true).is_empty());
    }

    #[test]
    fn apop_needs_a_cleartext_password() {
        let (_d, auth) = users();
        let ts = "<1896.697170952@dbc.mtview.ca.us>";
        let mut md5 = Md5::new();
        md5.update(ts.as_bytes());
        md5.update(b"secret");
        let digest: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(apop_verify(&auth, "alice", ts, &digest), success("alice"));
        assert_eq!(
            apop_verify(&auth, "alice", "<other@x>", &digest),
            SaslStep::Failure
        );
        assert_eq!(apop_verify(&auth, "bob", ts, &digest), SaslStep::Failure);
        assert_eq!(apop_verify(&auth, "ghost", ts, &digest), SaslStep::Failure);
        // RFC 1939 section 7 example: timestamp + "tanstaaf".
        let (_d2, rfc) = auth_with("mrose:{PLAIN}tanstaaf\n");
        assert_eq!(
            apop_verify(&rfc, "mrose", ts, "c4c9334bac560ecc979e58001b3e22fb"),
            success("mrose")
        );
        let stamp = challenge_timestamp("mail.example");
        assert!(stamp.starts_with('<') && stamp.ends_with("@mail.example>"));
    }

    #[test]
    fn cancel_like_garbage_after_start_fails_cleanly() {
        let (_d, auth) = users();
        // The protocol turns a client "*" into Failure without calling step; a step
        // after the end also fails instead of panicking.
        let mut s = SaslServer::start("SCRAM-SHA-1", &auth, false).expect("start");
        assert_eq!(s.step(Some(b"\xff\xfe")), SaslStep::Failure);
        assert_eq!(s.step(Some(b"n,,n=alice,r=x")), SaslStep::Failure);
        assert_eq!(s.mechanism(), "SCRAM-SHA-1");
    }
}
