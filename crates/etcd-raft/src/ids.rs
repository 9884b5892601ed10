//! Member and cluster IDs, computed exactly as etcd computes them, so the same flags give the same IDs.

use sha1::{Digest, Sha1};

/// The ID of a member: the first 8 bytes (big-endian) of SHA-1 over its peer URLs (sorted, concatenated),
/// the cluster token, and — for a member added at runtime — the Unix seconds of the moment it was added.
pub fn member_id(
    peer_urls: &[String],
    cluster_token: &str,
    added_at_unix_secs: Option<i64>,
) -> u64 {
    let mut urls: Vec<&str> = peer_urls.iter().map(String::as_str).collect();
    urls.sort_unstable();
    let mut hasher = Sha1::new();
    for url in urls {
        hasher.update(url.as_bytes());
    }
    hasher.update(cluster_token.as_bytes());
    if let Some(secs) = added_at_unix_secs {
        hasher.update(secs.to_string().as_bytes());
    }
    first_u64(&hasher.finalize())
}

/// The ID of a cluster: the first 8 bytes (big-endian) of SHA-1 over its members' IDs, sorted, each as 8
/// big-endian bytes.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut hasher = Sha1::new();
    for id in ids {
        hasher.update(id.to_be_bytes());
    }
    first_u64(&hasher.finalize())
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcds_default_member_and_cluster() {
        // `etcd` with no flags: peer URL http://localhost:2380, token etcd-cluster.
        let id = member_id(&["http://localhost:2380".to_owned()], "etcd-cluster", None);
        assert_eq!(format!("{id:x}"), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[id])), "cdf818194e3a8c32");
    }

    #[test]
    fn matches_a_real_etcd_3_4_23() {
        // Seen on etcd 3.4.23 --initial-cluster fresh=http://127.0.0.1:23802 (default token).
        let id = member_id(&["http://127.0.0.1:23802".to_owned()], "etcd-cluster", None);
        assert_eq!(format!("{id:x}"), "2943212f5e2cf73");
        assert_eq!(format!("{:x}", cluster_id(&[id])), "70f9cf875eabdc0b");
    }

    #[test]
    fn order_of_urls_and_ids_does_not_matter() {
        let a = vec!["http://b:2380".to_owned(), "http://a:2380".to_owned()];
        let b = vec!["http://a:2380".to_owned(), "http://b:2380".to_owned()];
        assert_eq!(member_id(&a, "t", None), member_id(&b, "t", None));
        assert_ne!(member_id(&a, "t", None), member_id(&a, "t", Some(1)));
        assert_eq!(cluster_id(&[1, 2, 3]), cluster_id(&[3, 1, 2]));
    }
}
