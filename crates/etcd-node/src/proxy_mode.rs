//! `--proxy on|readonly`: etcd-node as etcd's v2 proxy instead of a member. It serves the client URLs and
//! forwards to the cluster it finds through the `--initial-cluster` peer URLs (or the saved
//! `<data-dir>/proxy/cluster`).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use etcd_proxy::{ProxyConfig, RunningProxy};

use crate::cluster::{parse_initial_cluster, parse_urls};
use crate::flags::Flags;

/// Starts the proxy the flags describe.
pub async fn start(flags: &Flags) -> Result<RunningProxy> {
    let listen_client =
        parse_urls("listen-client-urls", &flags.listen_client_urls).map_err(anyhow::Error::msg)?;
    let members = parse_initial_cluster(&flags.initial_cluster, &flags.initial_cluster_token)
        .map_err(anyhow::Error::msg)?;
    let peer_urls: Vec<String> = members.iter().flat_map(|m| m.peer_urls.clone()).collect();
    let data_dir = flags.data_dir();
    // The proxy keeps its own files (the cluster file, auto-TLS certificates) under <data-dir>/proxy.
    let proxy_dir = Path::new(&data_dir).join("proxy");
    let tls = crate::tls::setup(flags, &proxy_dir, &listen_client, &[])?;
    let plain = etcd_tls::TlsInfo::default()
        .client_config()
        .context("TLS for dialing members")?;
    let peer_dial = tls.peer_dial.clone().unwrap_or_else(|| plain.clone());
    let mut config = ProxyConfig::new(peer_urls, peer_dial.clone());
    // As etcd: members are dialed with the client TLS flags, or the peer ones when there are none.
    config.member_tls = tls.client_dial.clone().unwrap_or_else(|| peer_dial.clone());
    config.readonly = flags.proxy_mode == crate::flags::ProxyMode::Readonly;
    config.failure_wait = Duration::from_millis(flags.proxy_failure_wait);
    config.refresh_interval = Duration::from_millis(flags.proxy_refresh_interval.max(1));
    config.dial_timeout = Duration::from_millis(flags.proxy_dial_timeout);
    config.write_timeout = Duration::from_millis(flags.proxy_write_timeout);
    config.read_timeout =
        (flags.proxy_read_timeout > 0).then(|| Duration::from_millis(flags.proxy_read_timeout));
    config.cluster_file = Some(etcd_proxy::cluster_file_path(Path::new(&data_dir)));
    config.max_request_bytes = usize::try_from(flags.max_request_bytes)
        .unwrap_or(usize::MAX)
        .max(10 * 1024 * 1024);
    config.cors = flags
        .cors
        .split(',')
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    let ports = crate::cluster::ports(&listen_client).map_err(anyhow::Error::msg)?;
    let bound = crate::member::bind_all("clients", &ports).await?;
    let listeners = bound
        .into_iter()
        .zip(&ports)
        .map(|(listener, (_, urls))| {
            (
                listener,
                crate::tls::TlsSetup::acceptor_for_port(&tls.client, urls),
            )
        })
        .collect();
    // Peers are asked as a joining member asks them (the same dialer: unix:// peers too).
    let peer_members =
        crate::peer_members::PeerMembers::new(Some(etcd_tls::ClientTls::new(peer_dial)));
    let running = etcd_proxy::start(config, listeners, std::sync::Arc::new(peer_members))?;
    for url in &listen_client {
        tracing::info!(mode = %flags.proxy, "proxy serving client requests on {url}");
    }
    Ok(running)
}
