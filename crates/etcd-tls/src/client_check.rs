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
    /// `--peer-cert-allowed-hostname`: a host name (or IP address) the certificate must be valid for.
    pub(crate) allowed_hostname: Option<String>,
}

/// Whether the certificate is valid for `host` as Go's `VerifyHostname` decides it: an IP address against the
/// IP SANs, a name against the DNS SANs (case-insensitive, a leading `*` label matching one label).
pub(crate) fn valid_for_host(cert: &[u8], host: &str) -> bool {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else {
        return false;
    };
    let Ok(Some(san)) = parsed.subject_alternative_name() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return san.value.general_names.iter().any(|name| match name {
            x509_parser::extensions::GeneralName::IPAddress(bytes) => match ip {
                std::net::IpAddr::V4(v4) => *bytes == v4.octets().as_slice(),
                std::net::IpAddr::V6(v6) => *bytes == v6.octets().as_slice(),
            },
            _ => false,
        });
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    san.value.general_names.iter().any(|name| match name {
        x509_parser::extensions::GeneralName::DNSName(pattern) => {
            name_matches(&pattern.trim_end_matches('.').to_ascii_lowercase(), &host)
        }
        _ => false,
    })
}

fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => pattern == host,
    }
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
        if let Some(host) = &self.allowed_hostname
            && !valid_for_host(end_entity, host)
        {
            tracing::warn!(allowed = %host, "refused a peer certificate: not valid for the allowed hostname");
            return Err(bad_certificate());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_match_as_go_matches_them() {
        assert!(name_matches("etcd.example.com", "etcd.example.com"));
        assert!(name_matches("*.example.com", "etcd.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("etcd.example.com", "other.example.com"));
    }
}
