//! The check of a client's (or peer's) certificate: the CA's verification, then `--peer-cert-allowed-cn`'s
//! Common Name when one is set. A refusal is logged here with its reason and answered with the TLS alert Go's
//! servers send for any refused client certificate, `bad_certificate`: the refused side then logs etcd's words,
//! "remote error: tls: bad certificate".

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

/// Verifies as `inner` does, then refuses a certificate whose subject CN is not `allowed_cn` (when set).
#[derive(Debug)]
pub(crate) struct ClientCheck {
    pub(crate) inner: Arc<dyn ClientCertVerifier>,
    pub(crate) allowed_cn: Option<String>,
}

/// The error whose alert is `bad_certificate` (rustls maps `NotValidForName` to it).
fn bad_certificate() -> Error {
    Error::InvalidCertificate(CertificateError::NotValidForName)
}

/// The subject Common Names of a DER certificate.
pub(crate) fn common_names(cert: &[u8]) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else {
        return Vec::new();
    };
    parsed
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
        .collect()
}

impl ClientCertVerifier for ClientCheck {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(verified) => verified,
            Err(e) => {
                tracing::warn!(error = %e, "refused a client certificate");
                return Err(bad_certificate());
            }
        };
        let Some(allowed) = &self.allowed_cn else {
            return Ok(verified);
        };
        let names = common_names(end_entity);
        if names.contains(allowed) {
            Ok(verified)
        } else {
            tracing::warn!(allowed = %allowed, presented = ?names, "refused a peer certificate: CN not allowed");
            Err(bad_certificate())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
}
