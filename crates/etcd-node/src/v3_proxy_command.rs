//! `etcd-node grpc-proxy start` and `etcd-node gateway start`: etcd's v3 proxies, with etcd's flags.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::serving::Serving;

/// How long a proxy's connections may take to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(10);

/// etcd's v3 gRPC proxy.
#[derive(Debug, Parser)]
#[command(name = "etcd-node grpc-proxy")]
pub struct GrpcProxyCommand {
    #[command(subcommand)]
    command: GrpcProxyStart,
}

#[derive(Debug, Subcommand)]
enum GrpcProxyStart {
    /// Starts the proxy.
    Start(GrpcProxyArgs),
}

#[derive(Debug, clap::Args)]
struct GrpcProxyArgs {
    /// Comma-separated etcd cluster endpoints.
    #[arg(long, default_value = "127.0.0.1:2379", value_delimiter = ',')]
    endpoints: Vec<String>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:23790")]
    listen_addr: String,
    /// The address the proxy registers under `--resolver-prefix`.
    #[arg(long, default_value = "127.0.0.1:23790")]
    advertise_client_url: String,
    /// Prefix to register the proxy under for endpoint discovery (MemberList through the proxy then lists the
    /// proxies registered there).
    #[arg(long, default_value = "")]
    resolver_prefix: String,
    /// Lease TTL of the registration, in seconds (required with `--resolver-prefix`).
    #[arg(long, default_value_t = 0)]
    resolver_ttl: i64,
    /// Verify the members' certificates with this CA bundle.
    #[arg(long, default_value = "")]
    cacert: String,
    /// Identify to the members with this TLS certificate.
    #[arg(long, default_value = "")]
    cert: String,
    /// The key of `--cert`.
    #[arg(long, default_value = "")]
    key: String,
    /// Do not verify the members' certificates (unsafe).
    #[arg(long)]
    insecure_skip_tls_verify: bool,
    /// Prefix every key of KV, Watch and Lease with this namespace.
    #[arg(long, default_value = "")]
    namespace: String,
    /// The proxy's data directory (its auto-TLS certificate is kept there).
    #[arg(long, default_value = "default.proxy")]
    data_dir: String,
    /// Identify secure connections to the proxy with this TLS certificate file.
    #[arg(long, default_value = "")]
    cert_file: String,
    /// The key of `--cert-file`.
    #[arg(long, default_value = "")]
    key_file: String,
    /// Verify the certificates of the proxy's clients with this CA bundle (client certificates required).
    #[arg(long, default_value = "")]
    trusted_ca_file: String,
    /// Revoked client certificates.
    #[arg(long, default_value = "")]
    client_crl_file: String,
    /// Serve TLS with a generated (self-signed) certificate.
    #[arg(long)]
    auto_tls: bool,
    /// Also serve `/metrics` on this address (`host:port` or `http://host:port`).
    #[arg(long, default_value = "")]
    metrics_addr: String,
}

/// etcd's L4 gateway.
#[derive(Debug, Parser)]
#[command(name = "etcd-node gateway")]
pub struct GatewayCommand {
    #[command(subcommand)]
    command: GatewayStart,
}

#[derive(Debug, Subcommand)]
enum GatewayStart {
    /// Starts the gateway.
    Start(GatewayArgs),
}

#[derive(Debug, clap::Args)]
struct GatewayArgs {
    /// Comma-separated etcd cluster endpoints.
    #[arg(long, default_value = "127.0.0.1:2379", value_delimiter = ',')]
    endpoints: Vec<String>,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:23790")]
    listen_addr: String,
    /// How long an endpoint that refused a connection is left out (a Go duration).
    #[arg(long, default_value = "1m0s", value_parser = crate::go_duration::parse)]
    retry_delay: Duration,
    /// DNS domain to discover the endpoints from (not supported yet).
    #[arg(long, default_value = "")]
    discovery_srv: String,
}

/// Runs `etcd-node grpc-proxy …` (`args` from `grpc-proxy` on).
pub async fn grpc_proxy(args: Vec<std::ffi::OsString>) -> Result<()> {
    let GrpcProxyStart::Start(args) = GrpcProxyCommand::parse_from(args).command;
    if !args.resolver_prefix.is_empty() && args.resolver_ttl < 1 {
        bail!("invalid resolver-ttl {}", args.resolver_ttl);
    }
    if !args.resolver_prefix.is_empty() && args.advertise_client_url.is_empty() {
        bail!("--advertise-client-url is required with --resolver-prefix");
    }
    let tls = if args.cacert.is_empty() && args.cert.is_empty() && !args.insecure_skip_tls_verify {
        None
    } else {
        let info = etcd_tls::TlsInfo {
            cert_file: (!args.cert.is_empty()).then(|| args.cert.clone().into()),
            key_file: (!args.key.is_empty()).then(|| args.key.clone().into()),
            trusted_ca_file: (!args.cacert.is_empty()).then(|| args.cacert.clone().into()),
            self_signed: args.insecure_skip_tls_verify,
            ..etcd_tls::TlsInfo::default()
        };
        Some(info.client_config().context("TLS to the members")?)
    };
    let proxy = etcd_proxy::GrpcProxy::new(&etcd_proxy::GrpcProxyConfig {
        endpoints: args.endpoints.clone(),
        tls,
        namespace: args.namespace.clone(),
        resolver: (!args.resolver_prefix.is_empty()).then(|| etcd_proxy::Resolver {
            prefix: args.resolver_prefix.clone(),
            advertise: args.advertise_client_url.clone(),
            ttl: args.resolver_ttl,
            name: host_name(),
        }),
    })?;
    let server_tls = proxy_tls(&args)?;
    let listener = tokio::net::TcpListener::bind(&args.listen_addr)
        .await
        .with_context(|| format!("listen on {}", args.listen_addr))?;
    tracing::info!(
        "grpc-proxy listening for gRPC on {} ({}), forwarding to {:?}",
        args.listen_addr,
        if server_tls.is_some() { "TLS" } else { "plain" },
        args.endpoints
    );
    let serving = Serving::new();
    serving.tasks.spawn(
        proxy
            .clone()
            .serve(listener, server_tls, serving.shutdown.clone()),
    );
    if !args.metrics_addr.is_empty() {
        let addr = args.metrics_addr.trim_start_matches("http://");
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listen on {addr} for /metrics"))?;
        serving
            .tasks
            .spawn(proxy.serve_metrics(metrics, serving.shutdown.clone()));
    }
    crate::wait_for_signal().await;
    tracing::info!("received a shutdown signal, stopping the grpc-proxy");
    serving.stop(DRAIN).await;
    Ok(())
}

/// The TLS the proxy serves with: `--cert-file`/`--key-file` (with `--trusted-ca-file` to require client
/// certificates, `--client-crl-file` to refuse revoked ones), or `--auto-tls`'s certificate in the data
/// directory.
fn proxy_tls(args: &GrpcProxyArgs) -> Result<Option<etcd_tls::TlsAcceptor>> {
    let path = |p: &str| (!p.is_empty()).then(|| std::path::PathBuf::from(p));
    let mut info = etcd_tls::TlsInfo {
        cert_file: path(&args.cert_file),
        key_file: path(&args.key_file),
        trusted_ca_file: path(&args.trusted_ca_file),
        client_cert_auth: !args.trusted_ca_file.is_empty(),
        crl_file: path(&args.client_crl_file),
        ..etcd_tls::TlsInfo::default()
    };
    if info.cert_file.is_none() && args.auto_tls {
        let host = args
            .listen_addr
            .rsplit_once(':')
            .map_or(args.listen_addr.as_str(), |(host, _)| host)
            .to_owned();
        let dir = std::path::Path::new(&args.data_dir).join("fixtures/proxy");
        info = etcd_tls::self_signed(&dir, &[host]).context("auto TLS")?;
    }
    if info.cert_file.is_none() {
        return Ok(None);
    }
    let config = info.server_config().context("the proxy's TLS")?;
    Ok(Some(etcd_tls::TlsAcceptor::new(config)))
}

/// Runs `etcd-node gateway …` (`args` from `gateway` on).
pub async fn gateway(args: Vec<std::ffi::OsString>) -> Result<()> {
    let GatewayStart::Start(args) = GatewayCommand::parse_from(args).command;
    if !args.discovery_srv.is_empty() {
        bail!("--discovery-srv is not supported by etcd-node's gateway yet");
    }
    let gateway = Arc::new(etcd_proxy::TcpGateway::new(
        &args.endpoints,
        args.retry_delay,
    ));
    let listener = tokio::net::TcpListener::bind(&args.listen_addr)
        .await
        .with_context(|| format!("listen on {}", args.listen_addr))?;
    tracing::info!(
        "ready to proxy client requests to {:?} on {}",
        gateway.endpoints(),
        args.listen_addr
    );
    let serving = Serving::new();
    serving
        .tasks
        .spawn(gateway.serve(listener, serving.shutdown.clone()));
    crate::wait_for_signal().await;
    tracing::info!("received a shutdown signal, stopping the gateway");
    serving.stop(DRAIN).await;
    Ok(())
}

/// This machine's name, as etcd's proxy registers it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}
