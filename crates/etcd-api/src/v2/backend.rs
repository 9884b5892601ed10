//! What the v2 API needs from the server behind it. The server (`etcd-server`) implements [`Backend`]; the
//! HTTP layer (`etcd-http`) serves it and knows nothing of raft or the store; neither knows the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{Error, Event, LeaderStats, Request, SelfStats, StoreStats};

/// A boxed future, as the backend's async methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The events of one watch, in order; `None` once it has ended.
pub trait EventStream: Send + Unpin {
    /// Polls for the next event.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Event>>>;
}

/// The raft position reported in `X-Raft-Index` and `X-Raft-Term`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RaftPosition {
    /// The committed index.
    pub index: u64,
    /// The current term.
    pub term: u64,
}

/// A cluster member as the members API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its ID.
    pub id: u64,
    /// Its name; empty until it has started and published it.
    pub name: String,
    /// Its peer URLs.
    pub peer_urls: Vec<String>,
    /// Its client URLs; empty until it has started.
    pub client_urls: Vec<String>,
}

/// Why a membership change failed, with the status etcd answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberError {
    /// 404 `No such member: <id>`.
    NotFound(u64),
    /// 410 `Member permanently removed: <id>`.
    Removed(u64),
    /// 409 `membership: peerURL exists`.
    PeerUrlExists,
    /// 409 `membership: ID exists`.
    IdExists,
    /// 500 `Internal Server Error`: too few members started for the change (`--strict-reconfig-check`).
    NotEnoughStarted,
    /// 500 `Internal Server Error`: members have not been reachable long enough (`--strict-reconfig-check`).
    Unhealthy,
    /// 500 `Internal Server Error`: a learner would exceed `--max-learners` (v3 only: v2 adds no learners).
    TooManyLearners,
    /// 500 `Internal Server Error` (timeouts, refused changes).
    Internal,
}

/// What `/version` reports: this member's etcd version and the cluster's (`not_decided` until the leader sets
/// it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    /// `etcdserver`.
    pub server: String,
    /// `etcdcluster`.
    pub cluster: String,
}

/// The server behind the HTTP layer.
pub trait Backend: Send + Sync + 'static {
    /// The cluster's ID, for `X-Etcd-Cluster-Id`.
    fn cluster_id(&self) -> u64;
    /// The raft position now.
    fn raft_position(&self) -> RaftPosition;
    /// The CORS origins allowed (`--cors`); `*` allows every origin.
    fn cors_origins(&self) -> Vec<String> {
        vec!["*".to_owned()]
    }
    /// etcd's read of `/2/enabled` when a member starts (its v2 auth check), which shows in the store stats.
    fn check_access(&self) {}
    /// `--client-cert-auth`: a client certificate's common name names the user of a request without
    /// credentials.
    fn client_cert_auth(&self) -> bool {
        false
    }
    /// A local (possibly stale) read.
    fn get(&self, path: &str, recursive: bool) -> Result<Event, Error>;
    /// Registers a watch; returns its events and the store index at registration.
    fn watch(
        &self,
        path: &str,
        recursive: bool,
        stream: bool,
        since: u64,
    ) -> Result<(Box<dyn EventStream>, u64), Error>;
    /// Runs a request through raft (writes and quorum reads) and returns its event.
    fn propose(&self, request: Request) -> BoxFuture<'_, Result<Arc<Event>, Error>>;
    /// `/v2/stats/store`.
    fn store_stats(&self) -> StoreStats;
    /// `/v2/stats/self`.
    fn self_stats(&self) -> SelfStats;
    /// `/v2/stats/leader`, or `None` when this member is not the leader.
    fn leader_stats(&self) -> Option<LeaderStats>;
    /// Every member, sorted by ID.
    fn members(&self) -> Vec<Member>;
    /// The leader, if one is known.
    fn leader(&self) -> Option<Member>;
    /// Adds a member with these peer URLs.
    fn add_member(&self, peer_urls: Vec<String>) -> BoxFuture<'_, Result<Member, MemberError>>;
    /// Removes a member.
    fn remove_member(&self, id: u64) -> BoxFuture<'_, Result<(), MemberError>>;
    /// Changes a member's peer URLs.
    fn update_member(
        &self,
        id: u64,
        peer_urls: Vec<String>,
    ) -> BoxFuture<'_, Result<(), MemberError>>;
    /// `/health` as etcd 3.5 answers it: `None` when healthy, else why ("ALARM NOSPACE", "RAFT NO LEADER", …).
    /// Active alarms named in `excluded` are ignored; with `serializable` the read made is member-local.
    fn health(&self, excluded: Vec<String>, serializable: bool) -> BoxFuture<'_, Option<String>>;
    /// The checks of `/readyz` (`ready`) or `/livez`, in order: each one's name and, when it fails, why.
    fn probes(&self, ready: bool) -> BoxFuture<'_, Vec<(&'static str, Option<String>)>>;
    /// The versions `/version` reports.
    fn versions(&self) -> Versions;
    /// What `/metrics` shows.
    fn metrics(&self) -> Vec<crate::metrics::MetricFamily>;
}

/// A member's peer URLs checked as etcd checks them (`types.NewURLs`; for the v2 members API and v3's Cluster): at least one; each trimmed, with an
/// http(s) or unix(s) scheme, a `host:port` and no path; returned sorted.
pub fn checked_peer_urls(urls: Vec<String>) -> Result<Vec<String>, String> {
    if urls.is_empty() {
        return Err("no valid URLs given".to_owned());
    }
    let mut checked = Vec::with_capacity(urls.len());
    for url in urls {
        let url = url.trim().to_owned();
        let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
        if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {url}"
            ));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, after) = rest.split_at(end);
        let port_colon = match host.strip_prefix('[') {
            Some(v6) => v6.split_once(']').is_some_and(|(_, p)| p.starts_with(':')),
            None => host.matches(':').count() == 1,
        };
        if !port_colon {
            return Err(format!(
                "URL address does not have the form \"host:port\": {url}"
            ));
        }
        if after.starts_with('/') {
            return Err(format!("URL must not contain a path: {url}"));
        }
        checked.push(url);
    }
    checked.sort();
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls_are_checked_as_etcd_checks_them() {
        let check =
            |urls: &[&str]| checked_peer_urls(urls.iter().map(|u| (*u).to_owned()).collect());
        assert_eq!(check(&[]), Err("no valid URLs given".to_owned()));
        assert_eq!(
            check(&["http://1.2.3.4"]),
            Err("URL address does not have the form \"host:port\": http://1.2.3.4".to_owned())
        );
        assert_eq!(
            check(&["http://1.2.3.4:5/"]),
            Err("URL must not contain a path: http://1.2.3.4:5/".to_owned())
        );
        assert_eq!(
            check(&["ftp://x:1"]),
            Err("URL scheme must be http, https, unix, or unixs: ftp://x:1".to_owned())
        );
        assert_eq!(
            check(&["http://b:2", " http://a:1", "https://[::1]:3"]),
            Ok(vec![
                "http://a:1".to_owned(),
                "http://b:2".to_owned(),
                "https://[::1]:3".to_owned()
            ])
        );
    }
}
