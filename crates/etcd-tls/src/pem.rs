//! Certificates, keys and CRLs from PEM files: RSA, ECDSA and Ed25519 keys as PKCS#8, SEC1 or PKCS#1.

use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use crate::error::TlsError;

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        what,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads `path` first so that a missing or unreadable file is reported as such, not as bad PEM.
fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| file_error(what, path, e))
}

/// Every certificate in a PEM file; at least one.
pub(crate) fn certificates(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read("key file", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        file_error(
            "key file",
            path,
            format!("{e} (expected a PKCS#8, SEC1 or PKCS#1 PEM private key)"),
        )
    })
}

/// Every CRL in a PEM file; at least one.
pub(crate) fn crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = read("CRL file", path)?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error("CRL file", path, e))?;
    if crls.is_empty() {
        return Err(file_error("CRL file", path, "no PEM X509 CRL in it"));
    }
    Ok(crls)
}

/// A root store holding every certificate of a CA file.
pub(crate) fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates("trusted CA file", path)? {
        store
            .add(cert)
            .map_err(|e| file_error("trusted CA file", path, e))?;
    }
    Ok(store)
}

/// The system's trusted roots (Debian's bundle), for dialing with no CA file; empty if there is none.
pub(crate) fn system_roots() -> RootCertStore {
    let mut store = RootCertStore::empty();
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if let Ok(bytes) = std::fs::read(bundle) {
        for cert in CertificateDer::pem_slice_iter(&bytes).flatten() {
            let _ = store.add(cert);
        }
    }
    store
}
