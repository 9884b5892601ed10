//! The TLS flags turned into what the listeners and the peer transport need, with etcd's rules: certificate
//! files win over auto TLS, an `https://` listen URL needs a certificate, an `http://` one ignores it, and every
//! file is read at start so a bad one stops the member with its name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use etcd_tls::{ClientConfig, TlsAcceptor, TlsInfo};

use crate::flags::Flags;

/// TLS for the client and peer listeners and for dialing peers.
pub struct TlsSetup {
    /// For `https://` client listen URLs.
    pub client: Option<TlsAcceptor>,
    /// For `https://` peer listen URLs.
    pub peer: Option<TlsAcceptor>,
    /// For dialing `https://` peers.
    pub peer_dial: Option<Arc<ClientConfig>>,
    /// For dialing members' `https://` client URLs with the client TLS flags (the proxy's way to members).
    pub client_dial: Option<Arc<ClientConfig>>,
}

impl TlsSetup {
    /// The acceptor for a listen URL: `Some` for `https://`.
    pub fn acceptor_for(acceptor: &Option<TlsAcceptor>, url: &str) -> Option<TlsAcceptor> {
        (url.starts_with("https://") || url.starts_with("unixs://"))
            .then(|| acceptor.clone())
            .flatten()
    }

    /// The acceptor for a port that serves `urls` (one address): TLS when one of them is `https://`, plain HTTP
    /// beside it when another is `http://`.
    pub fn acceptor_for_port(
        acceptor: &Option<TlsAcceptor>,
        urls: &[String],
    ) -> Option<TlsAcceptor> {
        let tls = urls.iter().find_map(|u| Self::acceptor_for(acceptor, u))?;
        if urls.iter().any(|u| u.starts_with("http://")) {
            Some(tls.with_plain_http())
        } else {
            Some(tls)
        }
    }
}

fn path(flag: &str) -> Option<PathBuf> {
    (!flag.is_empty()).then(|| PathBuf::from(flag))
}

/// Host names and addresses of URLs, for an auto-TLS certificate.
fn hosts(urls: &[String]) -> Vec<String> {
    urls.iter()
        .filter_map(|u| {
            let rest = u.split_once("://")?.1;
            let authority = rest.split('/').next()?;
            let host = match authority.strip_prefix('[') {
                Some(v6) => v6.split(']').next()?,
                None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
            };
            Some(host.to_owned())
        })
        .collect()
}

struct Side<'a> {
    what: &'a str,
    cert_flag: &'a str,
    cert_file: &'a str,
    key_file: &'a str,
    auto: bool,
    fixtures: PathBuf,
    listen: &'a [String],
}

/// One side's TLS info: the certificate files, or auto TLS, or none.
fn info(side: Side<'_>, extra: impl FnOnce(TlsInfo) -> TlsInfo) -> Result<Option<TlsInfo>> {
    let files = TlsInfo {
        cert_file: path(side.cert_file),
        key_file: path(side.key_file),
        ..TlsInfo::default()
    };
    let base = if !files.is_empty() {
        if side.auto {
            tracing::warn!(
                "ignoring {} auto TLS since certificate files are given",
                side.what
            );
        }
        files
    } else if side.auto {
        etcd_tls::self_signed(&side.fixtures, &hosts(side.listen))
            .with_context(|| format!("{} auto TLS", side.what))?
    } else {
        let https = side.listen.iter().find(|u| u.starts_with("https://"));
        if let Some(url) = https {
            bail!(
                "TLS key/cert ({}, {}) must be provided for {} url {url} with HTTPS scheme",
                side.cert_flag,
                side.cert_flag.replace("cert-file", "key-file"),
                side.what
            );
        }
        return Ok(None);
    };
    Ok(Some(extra(base)))
}

/// Builds the TLS set-up from the flags; reads and checks every file now.
pub fn setup(
    flags: &Flags,
    data_dir: &Path,
    listen_client: &[String],
    listen_peer: &[String],
) -> Result<TlsSetup> {
    let suites: Vec<String> = flags
        .cipher_suites
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let client = info(
        Side {
            what: "client",
            cert_flag: "--cert-file",
            cert_file: &flags.cert_file,
            key_file: &flags.key_file,
            auto: flags.auto_tls,
            fixtures: data_dir.join("fixtures").join("client"),
            listen: listen_client,
        },
        |base| TlsInfo {
            trusted_ca_file: path(&flags.trusted_ca_file),
            client_cert_auth: flags.client_cert_auth,
            crl_file: path(&flags.client_crl_file),
            cipher_suites: suites.clone(),
            ..base
        },
    )?;
    let peer = info(
        Side {
            what: "peer",
            cert_flag: "--peer-cert-file",
            cert_file: &flags.peer_cert_file,
            key_file: &flags.peer_key_file,
            auto: flags.peer_auto_tls,
            fixtures: data_dir.join("fixtures").join("peer"),
            listen: listen_peer,
        },
        |base| TlsInfo {
            trusted_ca_file: path(&flags.peer_trusted_ca_file),
            client_cert_auth: flags.peer_client_cert_auth,
            crl_file: path(&flags.peer_crl_file),
            allowed_cn: (!flags.peer_cert_allowed_cn.is_empty())
                .then(|| flags.peer_cert_allowed_cn.clone()),
            allowed_hostname: (!flags.peer_cert_allowed_hostname.is_empty())
                .then(|| flags.peer_cert_allowed_hostname.clone()),
            cipher_suites: suites.clone(),
            ..base
        },
    )?;
    let acceptor = |info: &Option<TlsInfo>, listen: &[String], what: &str| -> Result<_> {
        let Some(info) = info else { return Ok(None) };
        let config = info
            .server_config()
            .with_context(|| format!("{what} TLS"))?;
        if !listen.iter().any(|u| u.starts_with("https://")) {
            tracing::warn!(
                "{what} scheme is HTTP while key and cert files are present; ignoring key and cert files for listening"
            );
        }
        Ok(Some(TlsAcceptor::new(config)))
    };
    let client_acceptor = acceptor(&client, listen_client, "client")?;
    let peer_acceptor = acceptor(&peer, listen_peer, "peer")?;
    let peer_dial = match &peer {
        Some(info) => Some(info.client_config().context("peer TLS")?),
        None => None,
    };
    let client_dial = match &client {
        Some(info) => Some(info.client_config().context("client TLS")?),
        None => None,
    };
    Ok(TlsSetup {
        client: client_acceptor,
        peer: peer_acceptor,
        peer_dial,
        client_dial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_from_urls() {
        let urls = [
            "https://127.0.0.1:2379".to_owned(),
            "https://[::1]:2380".to_owned(),
            "https://node1.example:2379/".to_owned(),
        ];
        assert_eq!(hosts(&urls), ["127.0.0.1", "::1", "node1.example"]);
    }
}
