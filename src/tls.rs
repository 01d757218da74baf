//! TLS server configuration: the configured PEM pair, or a self-signed pair generated
//! once into `data_dir/tls/` so a fresh install speaks IMAPS/POP3S right away.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use roost_config::{Config, SniCert};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the TLS configuration could not be built; each message names the file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A configured or generated file does not exist.
    #[error("TLS {what} file {path} does not exist: fix `tls.{what}` in the config file")]
    Missing {
        /// `cert` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A file exists but could not be read or parsed as PEM.
    #[error("cannot read TLS {what} from {path}: {reason}")]
    Unreadable {
        /// `cert` or `key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        reason: String,
    },
    /// The key does not belong to the certificate, or rustls refused the pair.
    #[error("TLS certificate {cert} and key {key} cannot be used together: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// Only one of the generated pair is left on disk.
    #[error("found {present} but not {absent}: delete {present} to generate a new pair")]
    HalfPair {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        absent: PathBuf,
    },
    /// Generating or writing the self-signed pair failed.
    #[error("cannot create self-signed certificate in {dir}: {reason}")]
    Generate {
        /// `data_dir/tls`.
        dir: PathBuf,
        /// The underlying error.
        reason: String,
    },
}

/// Where the generated pair lives: `(cert, key)` under `data_dir/tls/`.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The acceptor for implicit TLS and STARTTLS, from `config.tls` or a generated pair.
pub fn acceptor(config: &Config) -> Result<TlsAcceptor, TlsError> {
    reloadable_acceptor(config).map(|(acceptor, _)| acceptor)
}

/// The acceptor and the certificate store behind it, to reload on SIGHUP.
pub fn reloadable_acceptor(config: &Config) -> Result<(TlsAcceptor, Arc<CertStore>), TlsError> {
    let (cert, key) = match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => ensure_self_signed(&config.data_dir)?,
    };
    let store = CertStore::load_with_sni(&cert, &key, &config.tls.sni)?;
    let server = config_for(Arc::clone(&store));
    Ok((TlsAcceptor::from(Arc::new(server)), store))
}

/// A rustls server config (ring provider, TLS 1.2 and 1.3 only) from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    Ok(config_for(CertStore::load(cert, key)?))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_for(store: Arc<CertStore>) -> ServerConfig {
    ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
        // Both versions are in the ring provider; this cannot fail.
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(store)
}

/// The certificates every new handshake picks from. [`CertStore::reload`] swaps them;
/// sessions past their handshake keep the keys they agreed on, so nothing is dropped.
#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    sni: Vec<SniCert>,
    current: RwLock<Arc<Pairs>>,
}

/// One loaded generation of certificates.
#[derive(Debug)]
struct Pairs {
    default: Arc<CertifiedKey>,
    /// Lowercase host names and `*.` patterns.
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl CertStore {
    /// Read the PEM pair; fails on a missing or unreadable file or a key of another cert.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<CertStore>, TlsError> {
        CertStore::load_with_sni(cert, key, &[])
    }

    /// Read the default pair and every `tls.sni` pair.
    pub fn load_with_sni(
        cert: &Path,
        key: &Path,
        sni: &[SniCert],
    ) -> Result<Arc<CertStore>, TlsError> {
        let current = load_pairs(cert, key, sni)?;
        Ok(Arc::new(CertStore {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            sni: sni.to_vec(),
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Read the same files again. On any error every certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(load_pairs(&self.cert, &self.key, &self.sni)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The default certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    /// The pair for a requested host name (exact, then one-label wildcard, then default).
    fn pick(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let pairs = Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()));
        let Some(name) = server_name.map(str::to_ascii_lowercase) else {
            return Arc::clone(&pairs.default);
        };
        let wildcard = name.split_once('.').map(|(_, rest)| format!("*.{rest}"));
        pairs
            .by_name
            .get(&name)
            .or_else(|| wildcard.and_then(|w| pairs.by_name.get(&w)))
            .unwrap_or(&pairs.default)
            .clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()))
    }
}

fn load_pairs(cert: &Path, key: &Path, sni: &[SniCert]) -> Result<Pairs, TlsError> {
    let default = Arc::new(load_pair(cert, key)?);
    let mut by_name = HashMap::new();
    for entry in sni {
        let pair = Arc::new(load_pair(&entry.cert, &entry.key)?);
        for name in &entry.names {
            by_name.insert(name.to_ascii_lowercase(), Arc::clone(&pair));
        }
    }
    Ok(Pairs { default, by_name })
}

fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    for (what, path) in [("cert", cert), ("key", key)] {
        if !path.exists() {
            return Err(TlsError::Missing {
                what,
                path: path.to_path_buf(),
            });
        }
    }
    let unreadable = |what, path: &Path, reason: String| TlsError::Unreadable {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable("cert", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(unreadable(
            "cert",
            cert,
            "no CERTIFICATE block found".to_string(),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        let reason = match e {
            rustls_pki_types::pem::Error::NoItemsFound => "no PRIVATE KEY block found".to_string(),
            other => other.to_string(),
        };
        unreadable("key", key, reason)
    })?;
    CertifiedKey::from_der(chain, private, &provider()).map_err(|e| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reuse `data_dir/tls/{cert,key}.pem`, or generate them (key 0600, dir 0700).
pub fn ensure_self_signed(data_dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key) = generated_paths(data_dir);
    match (cert.exists(), key.exists()) {
        (true, true) => return Ok((cert, key)),
        (true, false) => {
            return Err(TlsError::HalfPair {
                present: cert,
                absent: key,
            });
        }
        (false, true) => {
            return Err(TlsError::HalfPair {
                present: key,
                absent: cert,
            });
        }
        (false, false) => {}
    }
    let dir = data_dir.join("tls");
    let fail = |reason: String| TlsError::Generate {
        dir: dir.clone(),
        reason,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| fail(e.to_string()))?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(host) = hostname().filter(|h| h != "localhost") {
        names.push(host);
    }
    // A hostname that is not a valid DNS name (rare) must not stop the server.
    let pair = rcgen::generate_simple_self_signed(names.clone())
        .or_else(|_| rcgen::generate_simple_self_signed(names[..3].to_vec()))
        .map_err(|e| fail(e.to_string()))?;
    // Key first, each via a temporary file and rename, so a crash never leaves a
    // certificate without its key.
    write_atomically(&key, pair.signing_key.serialize_pem().as_bytes(), 0o600)
        .map_err(|e| fail(e.to_string()))?;
    write_atomically(&cert, pair.cert.pem().as_bytes(), 0o644).map_err(|e| fail(e.to_string()))?;
    tracing::warn!(
        cert = %cert.display(),
        "no tls.cert/tls.key configured: generated a self-signed certificate; \
         clients will warn until you configure a real one"
    );
    Ok((cert, key))
}

fn write_atomically(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("pem.tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success
    // unless truncated, which the search for NUL below handles.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&buf[..end]).ok()?;
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generates_once_with_private_modes_and_reuses() {
        let tmp = tempfile::tempdir().unwrap();
        let (cert, key) = ensure_self_signed(tmp.path()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&tmp.path().join("tls")), 0o700);
        let first = fs::read(&cert).unwrap();
        server_config(&cert, &key).unwrap();
        ensure_self_signed(tmp.path()).unwrap();
        assert_eq!(fs::read(&cert).unwrap(), first, "pair must be reused");
    }

    #[test]
    fn half_pair_is_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, key) = ensure_self_signed(tmp.path()).unwrap();
        fs::remove_file(&key).unwrap();
        let err = ensure_self_signed(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("key.pem") && err.contains("delete"), "{err}");
    }

    #[test]
    fn missing_garbage_and_mismatched_files_are_clear_errors() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let (cert_a, key_a) = ensure_self_signed(a.path()).unwrap();
        let (_, key_b) = ensure_self_signed(b.path()).unwrap();

        let nowhere = a.path().join("nope.pem");
        let err = server_config(&nowhere, &key_a).unwrap_err().to_string();
        assert!(
            err.contains("nope.pem") && err.contains("tls.cert"),
            "{err}"
        );

        let garbage = a.path().join("garbage.pem");
        fs::write(&garbage, "hello\n").unwrap();
        let err = server_config(&garbage, &key_a).unwrap_err().to_string();
        assert!(
            err.contains("garbage.pem") && err.contains("CERTIFICATE"),
            "{err}"
        );
        let err = server_config(&cert_a, &garbage).unwrap_err().to_string();
        assert!(
            err.contains("garbage.pem") && err.contains("PRIVATE KEY"),
            "{err}"
        );

        let err = server_config(&cert_a, &key_b).unwrap_err().to_string();
        assert!(err.contains("cannot be used together"), "{err}");
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_default() {
        let tmp = tempfile::tempdir().unwrap();
        let pair = |dir: &str| {
            let d = tmp.path().join(dir);
            ensure_self_signed(&d).unwrap()
        };
        let (c0, k0) = pair("default");
        let (c1, k1) = pair("one");
        let (c2, k2) = pair("two");
        let sni = vec![
            SniCert {
                names: vec!["Mail.Example.org".into()],
                cert: c1,
                key: k1,
            },
            SniCert {
                names: vec!["*.example.net".into()],
                cert: c2.clone(),
                key: k2,
            },
        ];
        let store = CertStore::load_with_sni(&c0, &k0, &sni).unwrap();
        let leaf = |name: Option<&str>| store.pick(name).cert[0].clone();
        let default = leaf(None);
        let one = leaf(Some("mail.example.org"));
        let two = leaf(Some("imap.example.net"));
        assert_ne!(default, one);
        assert_ne!(default, two);
        assert_ne!(one, two);
        assert_eq!(leaf(Some("MAIL.example.ORG")), one);
        assert_eq!(
            leaf(Some("example.net")),
            default,
            "a wildcard needs a label"
        );
        assert_eq!(leaf(Some("a.b.example.net")), default, "one label only");
        assert_eq!(leaf(Some("other.org")), default);
        // A broken SNI pair fails the reload as a whole and changes nothing.
        std::fs::write(&c2, "junk").unwrap();
        assert!(store.reload().is_err());
        assert_eq!(leaf(Some("imap.example.net")), two);
    }
}
