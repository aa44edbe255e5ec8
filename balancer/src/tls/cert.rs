//! The viewer certificate: read from PEM files, checked, and handed to
//! every new TLS handshake through a swappable slot.
//!
//! pingora's rustls listener takes its certificate once, when the
//! listener is built. Giving it a [`ResolvesServerCert`] instead lets the
//! balancer replace the certificate on reload: each handshake asks the
//! [`CertStore`] for the current one, connections already open keep the
//! one they were set up with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate/key pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Whether it is the key file (else the certificate file).
        key_file: bool,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The certificate file holds no usable PEM `CERTIFICATE` block.
    #[error("{}: no PEM certificate found ({reason})", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM reader saw.
        reason: String,
    },
    /// A certificate block does not hold a valid X.509 certificate.
    #[error("{}: not a valid certificate: {reason}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What rustls reported.
        reason: String,
    },
    /// The key file holds no PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{}: no PEM private key found ({reason})", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
        /// What the PEM reader saw.
        reason: String,
    },
    /// The private key is of a type or size rustls does not sign with.
    #[error("{}: unusable private key: {reason}", path.display())]
    KeyRejected {
        /// The file.
        path: PathBuf,
        /// What rustls reported.
        reason: String,
    },
    /// The private key does not belong to the leaf certificate.
    #[error("{}: private key does not match the certificate in {}", path.display(), cert.display())]
    KeyMismatch {
        /// The key file.
        path: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
}

impl CertError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CertError::Read { .. } => "tls_file_unreadable",
            CertError::NoCertificate { .. } => "tls_no_certificate",
            CertError::BadCertificate { .. } => "tls_bad_certificate",
            CertError::NoKey { .. } => "tls_no_private_key",
            CertError::KeyRejected { .. } => "tls_key_rejected",
            CertError::KeyMismatch { .. } => "tls_key_mismatch",
        }
    }
}

fn read(path: &Path, key_file: bool) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        key_file,
        source,
    })
}

/// A short reason that never quotes the file: a key file's lines are secret.
fn pem_reason(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::NoItemsFound => "the file has no matching PEM block",
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM block is not valid base64",
        pem::Error::SectionTooLarge => "a PEM block is too large",
        _ => "the PEM text cannot be read",
    }
}

/// Reads and checks a certificate chain and its private key.
///
/// The key must parse, be usable for signing and match the first (leaf)
/// certificate; a chain that rustls cannot parse is refused here rather
/// than at the first handshake.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, CertError> {
    let cert_pem = read(cert_path, false)?;
    let key_pem = read(key_path, true)?;
    let no_cert = |reason: &str| CertError::NoCertificate {
        path: cert_path.to_path_buf(),
        reason: reason.into(),
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| no_cert(pem_reason(&e)))?;
    if chain.is_empty() {
        return Err(no_cert(pem_reason(&pem::Error::NoItemsFound)));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| CertError::NoKey {
        path: key_path.to_path_buf(),
        reason: pem_reason(&e).into(),
    })?;
    // An explicit provider: validation runs before pingora installs the
    // process-wide default, and the result must not depend on that order.
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => CertError::KeyMismatch {
            path: key_path.to_path_buf(),
            cert: cert_path.to_path_buf(),
        },
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            CertError::BadCertificate {
                path: cert_path.to_path_buf(),
                reason: e.to_string(),
            }
        }
        other => CertError::KeyRejected {
            path: key_path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// SHA-256 of the leaf certificate in lowercase hex, for logs.
pub fn fingerprint(key: &CertifiedKey) -> String {
    key.cert
        .first()
        .map(|leaf| {
            pingora_core::tls::hash_certificate(leaf)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .unwrap_or_default()
}

/// The certificate new handshakes get; empty until TLS is set up.
#[derive(Debug, Default)]
pub struct CertStore {
    current: ArcSwapOption<CertifiedKey>,
}

impl CertStore {
    /// Makes `key` the certificate of every handshake from now on.
    pub fn install(&self, key: CertifiedKey) {
        tracing::info!(sha256 = %fingerprint(&key), "TLS certificate installed");
        self.current.store(Some(Arc::new(key)));
    }

    /// Whether a certificate was ever installed, i.e. a TLS port is open.
    pub fn is_active(&self) -> bool {
        self.current.load().is_some()
    }

    /// Re-reads the files and installs the pair only if it is valid; on
    /// error the certificate in use stays.
    pub fn reload(&self, cert_path: &Path, key_path: &Path) -> Result<(), CertError> {
        self.install(load(cert_path, key_path)?);
        Ok(())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // `None` aborts the handshake, which can only happen if the TLS
        // listener was started without a certificate: a bug, not an input.
        self.current.load_full()
    }
}
