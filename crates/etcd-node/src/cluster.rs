//! The initial cluster from the flags: members, their IDs as etcd computes them, and the cluster's ID.

use std::collections::BTreeMap;

/// One member of `--initial-cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMember {
    pub name: String,
    pub id: u64,
    pub peer_urls: Vec<String>,
}

/// Parses `name=url,name=url,...` (a name may repeat for several URLs) and computes the IDs.
pub fn parse_initial_cluster(text: &str, token: &str) -> Result<Vec<InitialMember>, String> {
    let mut urls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, url)) = part.split_once('=') else {
            return Err(format!("--initial-cluster: {part:?} is not name=url"));
        };
        check_url(url)?;
        // Two members on one URL would be one member with two names: etcd refuses it in these words.
        if urls.values().flatten().any(|u| u == url) {
            return Err(format!("initial cluster {text} has duplicate url"));
        }
        urls.entry(name.to_owned())
            .or_default()
            .push(url.to_owned());
    }
    if urls.is_empty() {
        return Err("--initial-cluster is empty".to_owned());
    }
    let mut members: Vec<InitialMember> = urls
        .into_iter()
        .map(|(name, peer_urls)| InitialMember {
            id: etcd_raft::member_id(&peer_urls, token, None),
            name,
            peer_urls,
        })
        .collect();
    members.sort_by_key(|m| m.id);
    Ok(members)
}

/// The member named `name` in the initial cluster, whose peer URLs must be the `advertised` ones (in any order).
pub fn own_member<'a>(
    members: &'a [InitialMember],
    name: &str,
    advertised: &[String],
) -> Result<&'a InitialMember, String> {
    let Some(me) = members.iter().find(|m| m.name == name) else {
        return Err(format!(
            "couldn't find local name {name:?} in the initial cluster configuration"
        ));
    };
    let mut mine = me.peer_urls.clone();
    mine.sort();
    let mut sorted = advertised.to_vec();
    sorted.sort();
    if mine != sorted {
        return Err(format!(
            "--initial-cluster has {}={} but --initial-advertise-peer-urls is {}",
            me.name,
            me.peer_urls.join(","),
            advertised.join(",")
        ));
    }
    Ok(me)
}

/// A comma-separated URL list flag.
pub fn parse_urls(flag: &str, text: &str) -> Result<Vec<String>, String> {
    let urls: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(format!("--{flag} is empty"));
    }
    for url in &urls {
        check_url(url).map_err(|e| format!("--{flag}: {e}"))?;
    }
    Ok(urls)
}

fn check_url(url: &str) -> Result<(), String> {
    match url.split_once("://") {
        Some(("http" | "https" | "unix" | "unixs", rest)) if !rest.is_empty() => Ok(()),
        _ => Err(format!(
            "URL scheme must be http, https, unix, or unixs: {url}"
        )),
    }
}

/// The listen URLs grouped by the address they bind, in first-seen order: `http://h:p` and `https://h:p` share one
/// listener, as in etcd (each connection is told apart by its first byte).
pub fn ports(urls: &[String]) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut ports: Vec<(String, Vec<String>)> = Vec::new();
    for url in urls {
        let addr = bind_address(url)?;
        match ports.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, same)) => same.push(url.clone()),
            None => ports.push((addr, vec![url.clone()])),
        }
    }
    Ok(ports)
}

/// What a listen URL binds: `host:port` of an `http(s)://host:port` URL (`localhost` binds the loopback
/// address), or `unix:<path>` for a `unix(s)://` URL, whose socket path is its `host:port` text (etcd's rule).
pub fn bind_address(url: &str) -> Result<String, String> {
    if let Some(rest) = url
        .strip_prefix("unix://")
        .or_else(|| url.strip_prefix("unixs://"))
    {
        let path = rest.split('/').next().unwrap_or_default();
        if path.is_empty() {
            return Err(format!("{url}: no socket path"));
        }
        return Ok(format!("unix:{path}"));
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("{url}: only http, https, unix and unixs URLs can be listened on")
        })?;
    let host_port = rest.split('/').next().unwrap_or_default();
    let (host, port) = host_port
        .rsplit_once(':')
        .ok_or_else(|| format!("{url}: missing port"))?;
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_flags_give_etcds_default_ids() {
        let members =
            parse_initial_cluster("default=http://localhost:2380", "etcd-cluster").expect("parse");
        assert_eq!(format!("{:x}", members[0].id), "8e9e05c52164694d");
        let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
        assert_eq!(
            format!("{:x}", etcd_raft::cluster_id(&ids)),
            "cdf818194e3a8c32"
        );
    }

    #[test]
    fn names_may_repeat_and_bad_input_is_refused() {
        let m = parse_initial_cluster("a=http://h1:2380,a=http://h2:2380,b=http://h3:2380", "t")
            .expect("parse");
        assert_eq!(m.len(), 2);
        assert!(m.iter().any(|m| m.peer_urls.len() == 2));
        assert!(parse_initial_cluster("a", "t").is_err());
        assert!(parse_initial_cluster("a=ftp://x:1", "t").is_err());
        assert_eq!(
            parse_initial_cluster("a=http://h:1,b=http://h:1", "t"),
            Err("initial cluster a=http://h:1,b=http://h:1 has duplicate url".to_owned())
        );
        assert_eq!(
            bind_address("http://localhost:2379").expect("addr"),
            "127.0.0.1:2379"
        );
        assert_eq!(
            bind_address("http://0.0.0.0:2379/").expect("addr"),
            "0.0.0.0:2379"
        );
    }
}
