//! `etcd-node`: an etcd server and cluster member (v3 gRPC and the v2 API on one client port). With no flags it starts a single-member cluster on
//! `http://localhost:2379` (clients) and `http://localhost:2380` (peers), data in `default.etcd`, as etcd does.

mod auth_options;
mod cluster;
mod config_file;
#[cfg(test)]
mod deploy_check;
mod etcd_args;
mod flags;
mod go_duration;
mod member;
mod peer;
mod peer_members;
mod proxy_mode;
#[cfg(test)]
mod reference;
mod serving;
mod snapshot_command;
mod tls;
mod v3_proxy_command;

use anyhow::Result;
use clap::{CommandFactory, Parser};

/// mimalloc instead of the system allocator: see the workspace manifest for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process: mimalloc's arenas on huge pages made a stored key cost 2.0 KB
/// of resident memory instead of 1.2 KB (etcd 3.4.23: 1.7 KB), for no measurable speed.
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    let refused = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0;
    if refused {
        // Only memory use depends on it; the server runs the same.
        eprintln!("etcd-node: could not turn transparent huge pages off; memory use may be higher");
    }
}

fn main() -> std::process::ExitCode {
    disable_transparent_huge_pages();
    // `etcd-node snapshot …`: etcdutl's offline snapshot commands, not a member.
    if std::env::args_os().nth(1).is_some_and(|a| a == "snapshot") {
        return match snapshot_command::run(std::env::args_os().skip(1).collect()) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    // `etcd-node grpc-proxy start …` and `etcd-node gateway start …`: etcd's v3 proxies, not a member.
    let first = std::env::args_os().nth(1);
    if let Some(which) = first.filter(|a| a == "grpc-proxy" || a == "gateway") {
        return run_proxy_command(&which);
    }
    let known: Vec<String> = flags::Flags::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    let args = etcd_args::normalise(std::env::args_os(), &known);
    if let Err(e) = etcd_args::refuse_not_implemented(&args, std::env::vars_os()) {
        eprintln!("etcd-node: {e}");
        return std::process::ExitCode::from(2);
    }
    let mut flags = flags::Flags::parse_from(args);
    if let Some(path) = flags.config_file.clone() {
        flags = match config_file::load(&path) {
            Ok(flags) => flags,
            Err(e) => {
                eprintln!("etcd-node: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    }
    // Once, here, for members and proxies alike, before logging starts (it depends on --log-outputs).
    if let Err(e) = flags.validate() {
        eprintln!("etcd-node: {e}");
        return std::process::ExitCode::from(2);
    }
    let level = flags.level.as_str();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},raft=warn")));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if flags.logs_to_stdout() == Some(true) {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_writer(std::io::stdout)
            .init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etcd-node: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(flags)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etcd-node: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a v3 proxy subcommand with logs on stderr at `info` (or `RUST_LOG`).
fn run_proxy_command(which: &std::ffi::OsStr) -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let result = tokio::runtime::Runtime::new()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| {
            runtime.block_on(async {
                if which == "gateway" {
                    v3_proxy_command::gateway(args).await
                } else {
                    v3_proxy_command::grpc_proxy(args).await
                }
            })
        });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etcd-node: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(flags: flags::Flags) -> Result<()> {
    if flags.proxy_mode != flags::ProxyMode::Off {
        let proxy = proxy_mode::start(&flags).await?;
        wait_for_signal().await;
        tracing::info!("received a shutdown signal, stopping the proxy");
        proxy.shutdown().await;
        return Ok(());
    }
    let member = member::start(&flags).await?;
    let server = member.running.server.clone();
    let removed_by_peers = server.removed_by_peers();
    let fatal = tokio::select! {
        _ = wait_for_signal() => {
            tracing::info!("received a shutdown signal, stopping");
            None
        }
        reason = server.stopped() => match reason {
            etcd_server::StopReason::Removed => None,
            etcd_server::StopReason::Fatal(why) => Some(why),
        },
        _ = removed_by_peers.notified() => {
            tracing::warn!("a peer says this member was removed from the cluster; shutting down");
            None
        }
    };
    member.shutdown().await;
    match fatal {
        Some(why) => anyhow::bail!("{why}"),
        None => Ok(()),
    }
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
