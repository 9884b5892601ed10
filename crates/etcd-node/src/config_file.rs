//! `--config-file`: etcd's YAML configuration, whose keys are the flag names. As in etcd, when a config file
//! is given the command-line flags and `ETCD_*` variables are ignored.

use clap::{CommandFactory, FromArgMatches};
use yaml_rust2::{Yaml, YamlLoader};

use crate::flags::Flags;

/// The flags the YAML file at `path` describes.
pub fn load(path: &str) -> Result<Flags, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config-file {path}: {e}"))?;
    let docs =
        YamlLoader::load_from_str(&text).map_err(|e| format!("--config-file {path}: {e}"))?;
    let Some(Yaml::Hash(map)) = docs.into_iter().next() else {
        return Err(format!(
            "--config-file {path}: not a YAML mapping of flag names to values"
        ));
    };
    let mut command = Flags::command();
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    let ids: Vec<String> = command
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    for id in ids {
        command = command.mut_arg(id, |a| a.env(None::<&str>));
    }
    let mut argv = vec!["etcd-node".to_owned()];
    let mut refused = Vec::new();
    for (key, value) in &map {
        let Some(key) = key.as_str() else {
            return Err(format!("--config-file {path}: a key is not a string"));
        };
        if let (Some(side), Yaml::Hash(section)) = (transport_security_prefix(key), value) {
            for (inner, value) in section {
                let (Some(inner), Some(value)) = (inner.as_str(), scalar(value)) else {
                    continue;
                };
                match security_flag(side, inner) {
                    Some(flag) if !value.is_empty() => argv.push(format!("--{flag}={value}")),
                    Some(_) => {}
                    None if value.is_empty() || value == "false" => {}
                    None => refused.push(format!("{key}.{inner}")),
                }
            }
            continue;
        }
        let value = match scalar(value) {
            Some(v) => v,
            None if is_empty(value) => continue,
            None => {
                refused.push(key.to_owned());
                continue;
            }
        };
        if key == "config-file" {
            continue;
        }
        if known.iter().any(|k| k == key) {
            argv.push(format!("--{key}={value}"));
        } else if !value.is_empty() && value != "false" && value != "0" {
            refused.push(key.to_owned());
        } else {
            tracing::warn!("--config-file: ignoring {key}, which etcd-node does not implement");
        }
    }
    if !refused.is_empty() {
        return Err(format!(
            "--config-file {path}: not implemented yet in etcd-node: {}",
            refused.join(", ")
        ));
    }
    let matches = command
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string())?;
    Flags::from_arg_matches(&matches).map_err(|e| e.to_string())
}

/// `client-transport-security` → `""`, `peer-transport-security` → `"peer-"`.
fn transport_security_prefix(key: &str) -> Option<&'static str> {
    match key {
        "client-transport-security" => Some(""),
        "peer-transport-security" => Some("peer-"),
        _ => None,
    }
}

/// The flag a key of a `*-transport-security` section stands for.
fn security_flag(prefix: &str, key: &str) -> Option<String> {
    let flag = match (prefix, key) {
        ("", "crl-file") => "client-crl-file".to_owned(),
        ("peer-", "allowed-cn") => "peer-cert-allowed-cn".to_owned(),
        (
            _,
            "cert-file" | "key-file" | "trusted-ca-file" | "client-cert-auth" | "auto-tls"
            | "crl-file",
        ) => {
            format!("{prefix}{key}")
        }
        _ => return None,
    };
    Some(flag)
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_empty(value: &Yaml) -> bool {
    match value {
        Yaml::Null => true,
        Yaml::Array(a) => a.is_empty(),
        Yaml::Hash(h) => h
            .values()
            .all(|v| is_empty(v) || matches!(v, Yaml::Boolean(false)) || v.as_str() == Some("")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("etcd.conf.yml");
        std::fs::write(&path, text).expect("write");
        (dir, path.display().to_string())
    }

    #[test]
    fn keys_are_flag_names() {
        let (_dir, path) = write(
            "name: infra1\ndata-dir: /var/lib/etcd\nsnapshot-count: 10000\nenable-v2: true\n\
             initial-cluster: 'infra1=http://10.0.0.1:2380'\nwal-dir:\nclient-transport-security:\n  cert-file:\n  client-cert-auth: false\n",
        );
        let flags = load(&path).expect("valid config");
        assert_eq!(flags.name, "infra1");
        assert_eq!(flags.data_dir(), "/var/lib/etcd");
        assert_eq!(flags.snapshot_count, 10000);
        assert!(flags.enable_v2);
        assert_eq!(flags.initial_cluster, "infra1=http://10.0.0.1:2380");
        assert_eq!(
            flags.listen_client_urls, "http://localhost:2379",
            "defaults stay etcd's"
        );
    }

    #[test]
    fn transport_security_sections_set_the_tls_flags() {
        let (_dir, path) = write(
            "client-transport-security:\n  cert-file: /c.pem\n  key-file: /c-key.pem\n  client-cert-auth: true\n  trusted-ca-file: /ca.pem\n  crl-file: /crl.pem\n  auto-tls: false\n\
             peer-transport-security:\n  cert-file: /p.pem\n  key-file: /p-key.pem\n  allowed-cn: peer\n  auto-tls: true\ncipher-suites: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n",
        );
        let flags = load(&path).expect("valid config");
        assert_eq!(flags.cert_file, "/c.pem");
        assert_eq!(flags.key_file, "/c-key.pem");
        assert!(flags.client_cert_auth && !flags.auto_tls);
        assert_eq!(flags.trusted_ca_file, "/ca.pem");
        assert_eq!(flags.client_crl_file, "/crl.pem");
        assert_eq!(flags.peer_cert_file, "/p.pem");
        assert_eq!(flags.peer_cert_allowed_cn, "peer");
        assert!(flags.peer_auto_tls);
        assert_eq!(flags.cipher_suites, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    }

    #[test]
    fn unimplemented_settings_are_refused_by_name() {
        let (_dir, path) = write(
            "name: a\nauto-compaction-retention: '1'\nclient-transport-security:\n  cert-file: /x.pem\n  ocsp: yes\n",
        );
        let err = load(&path).expect_err("refused");
        assert!(
            err.contains("auto-compaction-retention")
                && err.contains("client-transport-security.ocsp")
                && !err.contains("cert-file"),
            "{err}"
        );
        let (_dir, path) = write("- not a map\n");
        assert!(load(&path).is_err());
    }
}
