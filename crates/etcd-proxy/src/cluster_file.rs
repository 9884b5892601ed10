//! `<data-dir>/proxy/cluster`: the peer URLs a proxy last knew, so a restarted proxy finds the cluster again.
//!
//! Format (etcd's, version 1 of this file): a JSON object `{"PeerURLs":["http://10.0.0.1:2380",...]}`. It is
//! replaced atomically: written to `cluster.bak`, synced, then renamed over `cluster`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ProxyError;

#[derive(Serialize, Deserialize)]
struct ClusterFile {
    #[serde(rename = "PeerURLs")]
    peer_urls: Vec<String>,
}

/// The cluster file of a proxy whose data directory is `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("proxy").join("cluster")
}

/// The peer URLs saved in `file`, or `None` when there is no such file.
pub fn load(file: &Path) -> Result<Option<Vec<String>>, ProxyError> {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ProxyError::ClusterFile(file.to_path_buf(), e.to_string())),
    };
    let parsed: ClusterFile = serde_json::from_slice(&bytes)
        .map_err(|e| ProxyError::ClusterFile(file.to_path_buf(), e.to_string()))?;
    Ok(Some(parsed.peer_urls))
}

/// Saves `peer_urls` to `file` atomically.
pub fn save(file: &Path, peer_urls: &[String]) -> Result<(), ProxyError> {
    let fail = |e: std::io::Error| ProxyError::ClusterFile(file.to_path_buf(), e.to_string());
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let json = serde_json::to_vec(&ClusterFile {
        peer_urls: peer_urls.to_vec(),
    })
    .map_err(|e| ProxyError::ClusterFile(file.to_path_buf(), e.to_string()))?;
    let tmp = file.with_extension("bak");
    let mut out = std::fs::File::create(&tmp).map_err(fail)?;
    out.write_all(&json).map_err(fail)?;
    out.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, file).map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_urls_load_back_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = path(dir.path());
        assert_eq!(load(&file).expect("no file"), None);
        let urls = vec![
            "http://127.0.0.1:2380".to_owned(),
            "http://[::1]:2380".to_owned(),
        ];
        save(&file, &urls).expect("save");
        assert_eq!(load(&file).expect("load"), Some(urls));
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            r#"{"PeerURLs":["http://127.0.0.1:2380","http://[::1]:2380"]}"#
        );
        std::fs::write(&file, "garbage").expect("write");
        assert!(load(&file).is_err());
    }
}
