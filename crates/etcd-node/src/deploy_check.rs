//! Checks of the deployment files under `deploy/` and the `Dockerfile` against the flags they configure: every
//! `ETCD_*` variable they set exists, and the Kubernetes objects fit together (names, selectors, probes,
//! volumes, the initial cluster). Compiled for tests only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use yaml_rust2::{Yaml, YamlLoader};

use crate::flags::Flags;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The environment variables of every flag.
fn known_variables() -> BTreeSet<String> {
    Flags::command()
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect()
}

fn documents(relative: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn kind<'a>(docs: &'a [Yaml], kind: &str) -> Vec<&'a Yaml> {
    docs.iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

/// `name → value` of a container's `env`.
fn env_of(container: &Yaml) -> Vec<(String, String)> {
    container["env"]
        .as_vec()
        .map(|vars| {
            vars.iter()
                .filter_map(|v| {
                    let name = v["name"].as_str()?.to_owned();
                    let value = v["value"].as_str().unwrap_or_default().to_owned();
                    Some((name, value))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check_variables(what: &str, names: impl IntoIterator<Item = String>) {
    let known = known_variables();
    for name in names {
        if name.starts_with("ETCD_") {
            assert!(
                known.contains(&name),
                "{what}: {name} is not a variable etcd-node reads"
            );
        }
    }
}

#[test]
fn the_systemd_unit_and_its_environment_file_use_real_settings() {
    let unit = read("deploy/systemd/etcd-node.service");
    for line in [
        "ExecStart=/usr/local/bin/etcd-node",
        "EnvironmentFile=/etc/etcd-node/etcd-node.env",
        "StateDirectory=etcd-node",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "KillSignal=SIGTERM",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "etcd-node.service lacks {line}"
        );
    }
    let env = read("deploy/systemd/etcd-node.env");
    let names: Vec<String> = env
        .lines()
        .map(|l| l.trim_start_matches('#'))
        .filter_map(|l| l.split_once('=').map(|(n, _)| n.to_owned()))
        .collect();
    assert!(names.len() >= 10);
    check_variables("etcd-node.env", names);
    assert!(env.contains("ETCD_DATA_DIR=/var/lib/etcd-node/"));
}

#[test]
fn the_kubernetes_manifests_fit_together() {
    let docs: Vec<Yaml> = ["services.yaml", "statefulset.yaml", "pdb.yaml"]
        .iter()
        .flat_map(|f| documents(&format!("deploy/kubernetes/{f}")))
        .collect();
    let sets = kind(&docs, "StatefulSet");
    assert_eq!(sets.len(), 1);
    let set = sets[0];
    let name = set["metadata"]["name"].as_str().expect("name");
    let spec = &set["spec"];
    assert_eq!(spec["replicas"].as_i64(), Some(3));
    assert_eq!(spec["podManagementPolicy"].as_str(), Some("Parallel"));
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(&spec["selector"]["matchLabels"], labels);

    // The peers' headless Service gives the stable names; the client Service selects the same pods.
    let services = kind(&docs, "Service");
    let headless_name = spec["serviceName"].as_str().expect("serviceName");
    let headless = services
        .iter()
        .find(|s| s["metadata"]["name"].as_str() == Some(headless_name))
        .expect("the serviceName Service exists");
    assert_eq!(headless["spec"]["clusterIP"].as_str(), Some("None"));
    assert_eq!(
        headless["spec"]["publishNotReadyAddresses"].as_bool(),
        Some(true)
    );
    for s in &services {
        assert_eq!(
            &s["spec"]["selector"], labels,
            "{:?}",
            s["metadata"]["name"]
        );
    }

    let container = &spec["template"]["spec"]["containers"][0];
    let env = env_of(container);
    check_variables("statefulset.yaml", env.iter().map(|(n, _)| n.clone()));
    let value = |n: &str| {
        env.iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{n} is set"))
    };
    assert_eq!(value("ETCD_NAME"), "$(POD_NAME)");
    let initial = value("ETCD_INITIAL_CLUSTER");
    let members: Vec<&str> = initial.split(',').collect();
    assert_eq!(members.len(), 3, "{initial}");
    for (i, m) in members.iter().enumerate() {
        let (member, url) = m.split_once('=').expect("name=url");
        assert_eq!(member, format!("{name}-{i}"));
        assert!(
            url.starts_with(&format!("http://{name}-{i}.{headless_name}.")),
            "{url}"
        );
        assert!(url.ends_with(":2380"), "{url}");
    }
    assert!(value("ETCD_INITIAL_ADVERTISE_PEER_URLS").contains(&format!(".{headless_name}.")));
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/health")
    );
    assert!(!container["livenessProbe"].is_badvalue());

    // The data directory is on the claimed volume.
    let claim = spec["volumeClaimTemplates"][0]["metadata"]["name"]
        .as_str()
        .expect("a volume claim");
    let mount = container["volumeMounts"]
        .as_vec()
        .and_then(|m| m.iter().find(|m| m["name"].as_str() == Some(claim)))
        .expect("the claim is mounted");
    let mount_path = mount["mountPath"].as_str().expect("mountPath");
    assert!(value("ETCD_DATA_DIR").starts_with(mount_path));

    let budgets = kind(&docs, "PodDisruptionBudget");
    assert_eq!(budgets.len(), 1);
    assert_eq!(budgets[0]["spec"]["minAvailable"].as_i64(), Some(2));
    assert_eq!(&budgets[0]["spec"]["selector"]["matchLabels"], labels);

    // The TLS variant: known variables, https everywhere, files from the mounted Secret.
    let patch = &documents("deploy/kubernetes/tls/statefulset-tls.yaml")[0];
    let tls_container = &patch["spec"]["template"]["spec"]["containers"][0];
    let tls_env = env_of(tls_container);
    check_variables(
        "statefulset-tls.yaml",
        tls_env.iter().map(|(n, _)| n.clone()),
    );
    let tls_mount = tls_container["volumeMounts"][0]["mountPath"]
        .as_str()
        .expect("TLS mount");
    for (n, v) in &tls_env {
        if n.ends_with("_URLS") || n == "ETCD_INITIAL_CLUSTER" {
            assert!(!v.contains("http://"), "{n}={v}");
        }
        if n.ends_with("_FILE") {
            assert!(v.starts_with(tls_mount), "{n}={v}");
        }
    }
    assert_eq!(
        patch["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"].as_str(),
        Some("etcd-node-tls")
    );
    for k in [
        "deploy/kubernetes/kustomization.yaml",
        "deploy/kubernetes/tls/kustomization.yaml",
    ] {
        assert!(!documents(k).is_empty());
    }
}

#[test]
fn the_dockerfile_builds_a_static_etcd_node_in_two_stages() {
    let docker = read("Dockerfile");
    let stages = docker.lines().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(stages, 2);
    assert!(docker.contains("--target x86_64-unknown-linux-musl -p etcd-node"));
    assert!(docker.contains("--locked"));
    assert!(docker.contains("ENTRYPOINT [\"/usr/local/bin/etcd-node\"]"));
    assert!(docker.contains("EXPOSE 2379 2380"));
}
