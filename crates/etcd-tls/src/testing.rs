//! Certificates for tests (feature `testing`): a throw-away CA that issues client, server and peer
//! certificates and signs CRLs.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};

/// A certificate authority made for one test.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    /// The CA certificate, PEM.
    pub cert_pem: String,
    next_serial: std::cell::Cell<u64>,
}

/// A certificate and key issued by a [`TestCa`], written to files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate file (PEM).
    pub cert: PathBuf,
    /// The key file (PEM, PKCS#8).
    pub key: PathBuf,
    /// Its serial number, for revoking it.
    pub serial: u64,
}

fn fail(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Result<TestCa, String> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(fail)?;
        let cert = params.self_signed(&key).map_err(fail)?;
        Ok(TestCa {
            cert_pem: cert.pem(),
            params,
            key,
            next_serial: std::cell::Cell::new(1000),
        })
    }

    /// Writes the CA certificate to `path`.
    pub fn write_cert(&self, path: &Path) -> Result<PathBuf, String> {
        std::fs::write(path, &self.cert_pem).map_err(fail)?;
        Ok(path.to_path_buf())
    }

    /// Issues a certificate with Common Name `cn` for `hosts` (IP addresses or DNS names), good for both
    /// server and client authentication, and writes it to `<dir>/<file>.pem` and `<dir>/<file>-key.pem`.
    pub fn issue(
        &self,
        dir: &Path,
        file: &str,
        cn: &str,
        hosts: &[&str],
    ) -> Result<Issued, String> {
        let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let mut params = CertificateParams::new(hosts).map_err(fail)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        let serial = self.next_serial.get();
        self.next_serial.set(serial + 1);
        params.serial_number = Some(SerialNumber::from(serial));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().map_err(fail)?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(fail)?;
        let cert_path = dir.join(format!("{file}.pem"));
        let key_path = dir.join(format!("{file}-key.pem"));
        std::fs::write(&cert_path, cert.pem()).map_err(fail)?;
        std::fs::write(&key_path, key.serialize_pem()).map_err(fail)?;
        Ok(Issued {
            cert: cert_path,
            key: key_path,
            serial,
        })
    }

    /// Writes a new ECDSA P-256 key pair to `<dir>/<name>.key` (PKCS#8) and `<dir>/<name>.pub` (SubjectPublicKeyInfo),
    /// as JWT signers read them; answers (private, public).
    pub fn write_key_pair(dir: &Path, name: &str) -> Result<(PathBuf, PathBuf), String> {
        let key = KeyPair::generate().map_err(fail)?;
        let private = dir.join(format!("{name}.key"));
        let public = dir.join(format!("{name}.pub"));
        std::fs::write(&private, key.serialize_pem()).map_err(fail)?;
        std::fs::write(&public, key.public_key_pem()).map_err(fail)?;
        Ok((private, public))
    }

    /// Writes a CRL revoking `serials` to `path`.
    pub fn write_crl(&self, path: &Path, serials: &[u64]) -> Result<PathBuf, String> {
        let now = time::OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - time::Duration::minutes(1),
            next_update: now + time::Duration::days(1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: now - time::Duration::minutes(1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer = Issuer::from_params(&self.params, &self.key);
        let crl = params.signed_by(&issuer).map_err(fail)?;
        std::fs::write(path, crl.pem().map_err(fail)?).map_err(fail)?;
        Ok(path.to_path_buf())
    }
}
