//! `etcd-node snapshot restore|status FILE`: etcdutl's snapshot commands, with its flags, for the files
//! `etcdctl snapshot save` writes from an etcd-node member.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use crate::cluster::{own_member, parse_initial_cluster, parse_urls};

/// etcd-node's offline snapshot tools (etcdutl's `snapshot` commands).
#[derive(Debug, Parser)]
#[command(name = "etcd-node snapshot")]
pub struct SnapshotCommand {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Makes the data directory of a new cluster's member from a snapshot file.
    Restore(RestoreArgs),
    /// Shows a snapshot file's hash, revision, total keys and size.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
struct RestoreArgs {
    /// The snapshot file (from `etcdctl snapshot save`).
    file: PathBuf,
    /// Path to the data directory (default: `<name>.etcd`).
    #[arg(long, default_value = "")]
    data_dir: String,
    /// Path to the WAL directory (default: inside the data directory).
    #[arg(long, default_value = "")]
    wal_dir: String,
    /// Human-readable name for this member.
    #[arg(long, default_value = "default")]
    name: String,
    /// Initial cluster configuration for restore bootstrap.
    #[arg(long, default_value = "default=http://localhost:2380")]
    initial_cluster: String,
    /// Initial cluster token for the etcd cluster during restore bootstrap.
    #[arg(long, default_value = "etcd-cluster")]
    initial_cluster_token: String,
    /// List of this member's peer URLs to advertise to the rest of the cluster.
    #[arg(long, default_value = "http://localhost:2380")]
    initial_advertise_peer_urls: String,
    /// Ignore the snapshot's hash (required for a database copied from a data directory).
    #[arg(long)]
    skip_hash_check: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The snapshot file.
    file: PathBuf,
    /// Output format.
    #[arg(short = 'w', long = "write-out", value_enum, default_value = "simple")]
    write_out: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Simple,
    Table,
    Json,
}

/// Runs `etcd-node snapshot …` with `args` (the words after `etcd-node`).
pub fn run(args: Vec<std::ffi::OsString>) -> Result<()> {
    let command = SnapshotCommand::parse_from(args);
    match command.command {
        Command::Restore(args) => restore(&args),
        Command::Status(args) => status(&args),
    }
}

fn restore(args: &RestoreArgs) -> Result<()> {
    let members = parse_initial_cluster(&args.initial_cluster, &args.initial_cluster_token)
        .map_err(anyhow::Error::msg)?;
    let advertised = parse_urls(
        "initial-advertise-peer-urls",
        &args.initial_advertise_peer_urls,
    )
    .map_err(anyhow::Error::msg)?;
    let me = own_member(&members, &args.name, &advertised).map_err(anyhow::Error::msg)?;
    let data_dir = if args.data_dir.is_empty() {
        PathBuf::from(format!("{}.etcd", args.name))
    } else {
        PathBuf::from(&args.data_dir)
    };
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    let config = etcd_server::RestoreConfig {
        snapshot: args.file.clone(),
        data_dir: data_dir.clone(),
        wal_dir: (!args.wal_dir.is_empty()).then(|| PathBuf::from(&args.wal_dir)),
        id: me.id,
        cluster_id: etcd_raft::cluster_id(&ids),
        members: members
            .iter()
            .map(|m| etcd_raft::InitialMember {
                id: m.id,
                context: etcd_server::member_context(&m.peer_urls),
            })
            .collect(),
        skip_hash_check: args.skip_hash_check,
    };
    etcd_server::restore_snapshot(&config)?;
    eprintln!(
        "restored snapshot {} into {} (member {:x} of cluster {:x}, {} members)",
        args.file.display(),
        data_dir.display(),
        config.id,
        config.cluster_id,
        members.len()
    );
    Ok(())
}

fn status(args: &StatusArgs) -> Result<()> {
    let s = etcd_server::snapshot_status(&args.file)?;
    let size = go_humanize_bytes(s.total_size);
    match args.write_out {
        Format::Simple => println!("{:x}, {}, {}, {size}", s.hash, s.revision, s.total_keys),
        Format::Json => println!(
            "{{\"hash\":{},\"revision\":{},\"totalKey\":{},\"totalSize\":{}}}",
            s.hash, s.revision, s.total_keys, s.total_size
        ),
        Format::Table => {
            let cells = [
                format!("{:x}", s.hash),
                s.revision.to_string(),
                s.total_keys.to_string(),
                size,
            ];
            print!(
                "{}",
                table(&["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"], &cells)
            );
        }
    }
    Ok(())
}

/// A one-row table as etcdutl draws it (header and cells centred, numbers right-aligned).
fn table(headers: &[&str], cells: &[String]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .zip(cells)
        .map(|(h, c)| h.len().max(c.len()))
        .collect();
    let rule: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let centre = |text: &str, width: usize| {
        let pad = width - text.len();
        let left = pad / 2;
        format!(" {}{}{} |", " ".repeat(left), text, " ".repeat(pad - left))
    };
    let head: String = headers
        .iter()
        .zip(&widths)
        .map(|(h, w)| centre(h, *w))
        .collect();
    let row: String = cells
        .iter()
        .zip(&widths)
        .map(|(c, w)| format!(" {c:>w$} |"))
        .collect();
    format!("{rule}|{head}\n{rule}|{row}\n{rule}")
}

/// Bytes as go-humanize's `Bytes` writes them (SI units, "29 kB", "2.1 MB"), as etcdutl prints sizes.
fn go_humanize_bytes(n: u64) -> String {
    if n < 10 {
        return format!("{n} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let exponent = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let exponent = exponent.min(units.len() - 1);
    let value = (n as f64 / 1000f64.powi(exponent as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", units[exponent])
    } else {
        format!("{value:.0} {}", units[exponent])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_go_humanize_writes_them() {
        assert_eq!(go_humanize_bytes(5), "5 B");
        assert_eq!(go_humanize_bytes(28_672), "29 kB");
        assert_eq!(go_humanize_bytes(2_101_248), "2.1 MB");
        assert_eq!(go_humanize_bytes(999), "999 B");
    }

    #[test]
    fn the_status_table_is_drawn_as_etcdutl_draws_it() {
        let cells = ["cf08a6b5", "2", "7", "29 kB"].map(str::to_owned);
        assert_eq!(
            table(&["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"], &cells),
            "+----------+----------+------------+------------+\n\
             |   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |\n\
             +----------+----------+------------+------------+\n\
             | cf08a6b5 |        2 |          7 |      29 kB |\n\
             +----------+----------+------------+------------+\n"
        );
    }
}
