//! Auto TLS (`--auto-tls`, `--peer-auto-tls`): a self-signed certificate for the listen hosts, made once and
//! kept in `<data-dir>/fixtures/client` or `<data-dir>/fixtures/peer` as `cert.pem` and `key.pem`, as etcd
//! keeps it. An existing pair is reused, so a restarted member presents the same certificate.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::error::TlsError;
use crate::info::TlsInfo;

/// How long a generated certificate is valid (etcd's default `--self-signed-cert-validity` of one year).
const VALIDITY_DAYS: i64 = 365;

/// The auto-TLS certificate in `dir` for `hosts` (host names or IP addresses), made now if `dir` has none.
pub fn self_signed(dir: &Path, hosts: &[String]) -> Result<TlsInfo, TlsError> {
    let cert_file = dir.join("cert.pem");
    let key_file = dir.join("key.pem");
    let info = TlsInfo {
        cert_file: Some(cert_file.clone()),
        key_file: Some(key_file.clone()),
        self_signed: true,
        ..TlsInfo::default()
    };
    if cert_file.exists() && key_file.exists() {
        return Ok(info);
    }
    let fail = |reason: String| TlsError::AutoTls {
        dir: dir.to_path_buf(),
        reason,
    };
    let (cert_pem, key_pem) = generate(hosts).map_err(|e| fail(e.to_string()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| fail(e.to_string()))?;
    write_file(&key_file, key_pem.as_bytes(), 0o600).map_err(|e| fail(e.to_string()))?;
    write_file(&cert_file, cert_pem.as_bytes(), 0o644).map_err(|e| fail(e.to_string()))?;
    tracing::info!(dir = %dir.display(), ?hosts, "auto TLS: generated a self-signed certificate");
    Ok(info)
}

fn generate(hosts: &[String]) -> Result<(String, String), rcgen::Error> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "etcd");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now + time::Duration::days(VALIDITY_DAYS);
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    for host in hosts {
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into()?),
        };
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
