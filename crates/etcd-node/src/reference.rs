//! The configuration reference (`docs/configuration.md`), generated from the flag definitions so that it
//! cannot drift: a test compares the file with what the flags say, and `cargo xtask docs` rewrites it. It is
//! compiled for tests only.

use clap::CommandFactory;

use crate::flags::Flags;

/// The reference as Markdown.
fn markdown() -> String {
    let command = Flags::command();
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from `etcd-node`'s flag definitions by `cargo xtask docs`; a test fails when this file is stale.\n\n\
         Every flag can also be set with its environment variable; a flag on the command line wins over the\n\
         variable. With `--config-file`, etcd's YAML file (keys are the flag names, plus the\n\
         `client-transport-security` and `peer-transport-security` sections) replaces both. An etcd 3.4 flag that\n\
         is not listed here is not implemented and is refused by name, as is its environment variable. As with\n\
         etcd, a flag may be written with one dash or two (`-name` or `--name`).\n\n\
         | flag | environment | default | meaning |\n|---|---|---|---|\n",
    );
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        let env = arg
            .get_env()
            .map(|e| format!("`{}`", e.to_string_lossy()))
            .unwrap_or_default();
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let default = match defaults.join(",") {
            d if d.is_empty() => String::new(),
            d => format!("`{d}`"),
        };
        let help = arg
            .get_help()
            .map(|h| h.to_string().replace('|', "\\|").replace('\n', " "))
            .unwrap_or_default();
        out.push_str(&format!("| `--{long}` | {env} | {default} | {help} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_configuration_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let generated = markdown();
        if std::env::var_os("ETCD_NODE_WRITE_DOCS").is_some() {
            std::fs::write(path, &generated).expect("write docs/configuration.md");
            return;
        }
        let current = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            current == generated,
            "docs/configuration.md is stale: run `cargo xtask docs` and commit the result"
        );
    }
}
