//! The command line as etcd (Go's `flag` package) reads it, turned into what clap reads: `-name x` is
//! `--name x`, and etcd flags this build does not implement are refused by name, on the command line and in
//! the environment, before anything starts.

use std::ffi::OsString;

/// etcd 3.4's flags that etcd-node does not implement (yet). Each is refused by name rather than ignored, so
/// a configuration carried over from etcd never silently loses a setting.
pub const NOT_IMPLEMENTED: &[&str] = &[
    "auto-compaction-mode",
    "auto-compaction-retention",
    "backend-batch-interval",
    "backend-batch-limit",
    "client-cert-allowed-hostname",
    "discovery",
    "discovery-fallback",
    "discovery-proxy",
    "discovery-srv",
    "discovery-srv-name",
    "enable-pprof",
    "experimental-backend-bbolt-freelist-type",
    "experimental-compaction-batch-limit",
    "experimental-enable-lease-checkpoint",
    "experimental-enable-v2v3",
    "experimental-peer-skip-client-san-verification",
    "experimental-warning-apply-duration",
    "experimental-watch-progress-notify-interval",
    "host-whitelist",
    "initial-election-tick-advance",
    "listen-metrics-urls",
    "log-package-levels",
    "max-snapshots",
    "max-wals",
    "metrics",
    "pre-vote",
];

/// The flag name an argument sets (`--name`, `-name`, `--name=x`, `-name=x`), if it looks like a flag.
fn flag_name(arg: &str) -> Option<&str> {
    let rest = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    let name = rest.split_once('=').map_or(rest, |(n, _)| n);
    (!name.is_empty() && !name.starts_with('-')).then_some(name)
}

/// `args` (the program name first) with Go's single-dash long flags written with two dashes, for the flags in
/// `known` (a value that happens to start with one dash is left alone).
pub fn normalise(args: impl IntoIterator<Item = OsString>, known: &[String]) -> Vec<OsString> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            let Some(text) = arg.to_str() else {
                return arg;
            };
            let single_dash = i > 0 && text.starts_with('-') && !text.starts_with("--");
            match flag_name(text) {
                Some(name) if single_dash && name.len() > 1 && known.iter().any(|k| k == name) => {
                    OsString::from(format!("-{text}"))
                }
                _ => arg,
            }
        })
        .collect()
}

/// Refuses an etcd flag this build does not implement, given on the command line or as its `ETCD_*`
/// variable.
pub fn refuse_not_implemented(
    args: &[OsString],
    env: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<(), String> {
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        if let Some(name) = flag_name(arg)
            && NOT_IMPLEMENTED.contains(&name)
        {
            return Err(format!(
                "etcd's flag --{name} is not implemented in etcd-node yet; remove it (etcd-node --help lists the flags it has)"
            ));
        }
    }
    for (key, _) in env {
        let Some(key) = key.to_str() else { continue };
        if let Some(name) = NOT_IMPLEMENTED.iter().find(|n| env_name(n) == key) {
            return Err(format!(
                "{key} is set, but etcd's flag --{name} is not implemented in etcd-node yet; unset it"
            ));
        }
    }
    Ok(())
}

/// etcd's variable for a flag: `ETCD_` and the name upper-cased, `-` as `_`.
fn env_name(flag: &str) -> String {
    format!("ETCD_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn single_dash_flags_read_as_go_reads_them() {
        let known = vec!["name".to_owned(), "data-dir".to_owned(), "cors".to_owned()];
        let out = normalise(
            os(&[
                "etcd-node",
                "-name",
                "x",
                "-data-dir=/d",
                "--cors",
                "-v",
                "-unknown",
            ]),
            &known,
        );
        assert_eq!(
            out,
            os(&[
                "etcd-node",
                "--name",
                "x",
                "--data-dir=/d",
                "--cors",
                "-v",
                "-unknown"
            ])
        );
    }

    #[test]
    fn unimplemented_flags_and_variables_are_refused_by_name() {
        let none = Vec::<(OsString, OsString)>::new();
        assert!(refuse_not_implemented(&os(&["etcd-node", "--name", "x"]), none.clone()).is_ok());
        let e = refuse_not_implemented(&os(&["etcd-node", "-pre-vote=true"]), none.clone())
            .expect_err("refused");
        assert!(e.contains("--pre-vote"), "{e}");
        let env = vec![(OsString::from("ETCD_DISCOVERY_SRV"), OsString::from("x"))];
        let e = refuse_not_implemented(&os(&["etcd-node"]), env).expect_err("refused");
        assert!(
            e.contains("ETCD_DISCOVERY_SRV") && e.contains("--discovery-srv"),
            "{e}"
        );
    }
}
