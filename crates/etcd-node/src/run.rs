//! Starting a member: listeners, raft, the apply loop, and the background duties (publishing this member's
//! attributes, the cluster version, TTL expiry ticks, the cached raft status).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use etcd_api::v2::{Method, Request};
use etcd_raft::{
    ApplyEvent, Bootstrap, EntryKind, HttpTransport, InitialMember, MemberChangeKind, RaftConfig,
    RaftNode, Role,
};
use etcd_store::{Applied, Store};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::cluster::{bind_address, parse_initial_cluster, parse_urls};
use crate::entry;
use crate::flags::Flags;
use crate::members;
use crate::server::{Server, State, StoreSnapshots, unix_nanos};

/// A running member.
pub struct Running {
    pub server: Arc<Server>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting connections, lets the requests in flight finish (a few seconds at most), then stops
    /// raft, which syncs and closes the log.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self
            .server
            .counters
            .proposals_pending
            .load(Ordering::Relaxed)
            > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.server.raft.shutdown().await;
        tracing::info!("stopped");
    }
}

/// Starts the member the flags describe.
pub async fn start(flags: &Flags) -> Result<Running> {
    let members = parse_initial_cluster(&flags.initial_cluster, &flags.initial_cluster_token)
        .map_err(anyhow::Error::msg)?;
    let advertise_peer = parse_urls(
        "initial-advertise-peer-urls",
        &flags.initial_advertise_peer_urls,
    )
    .map_err(anyhow::Error::msg)?;
    let client_urls = parse_urls("advertise-client-urls", &flags.advertise_client_urls)
        .map_err(anyhow::Error::msg)?;
    let listen_client =
        parse_urls("listen-client-urls", &flags.listen_client_urls).map_err(anyhow::Error::msg)?;
    let listen_peer =
        parse_urls("listen-peer-urls", &flags.listen_peer_urls).map_err(anyhow::Error::msg)?;
    let Some(me) = members.iter().find(|m| m.name == flags.name) else {
        bail!(
            "couldn't find local name {:?} in the initial cluster configuration",
            flags.name
        );
    };
    let mut mine = me.peer_urls.clone();
    mine.sort();
    let mut advertised = advertise_peer.clone();
    advertised.sort();
    if mine != advertised {
        bail!(
            "--initial-cluster has {}={} but --initial-advertise-peer-urls is {}",
            me.name,
            me.peer_urls.join(","),
            advertise_peer.join(",")
        );
    }
    // Certificates and keys are read now, so a bad file stops the member before anything is written.
    let tls = crate::tls::setup(
        flags,
        std::path::Path::new(&flags.data_dir()),
        &listen_client,
        &listen_peer,
    )?;
    // Who this member is: from its log when it has one (a restart), from the running cluster when joining it,
    // from the flags when founding a new cluster.
    let member_dir = PathBuf::from(flags.data_dir()).join("member");
    let wal_dir = (!flags.wal_dir.is_empty()).then(|| PathBuf::from(&flags.wal_dir));
    let recorded =
        etcd_raft::recorded_ids(&member_dir, wal_dir.as_deref()).context("reading the raft log")?;
    let (id, cluster_id, bootstrap, peers) = match recorded {
        Some((id, cluster_id)) => (id, cluster_id, Bootstrap::Join, Vec::new()),
        None if flags.initial_cluster_state == "existing" => {
            let others: Vec<String> = members
                .iter()
                .filter(|m| m.name != flags.name)
                .flat_map(|m| m.peer_urls.clone())
                .collect();
            let remote = crate::join::fetch(&others, tls.peer_dial.clone())
                .await
                .map_err(anyhow::Error::msg)
                .context("asking the cluster for its members")?;
            let Some((id, _)) = remote.members.iter().find(|(_, urls)| {
                let mut urls = urls.clone();
                urls.sort();
                urls == mine
            }) else {
                bail!(
                    "the cluster has no member with peer URLs {}: add it first (etcdctl member add)",
                    advertise_peer.join(",")
                );
            };
            let peers = remote
                .members
                .iter()
                .filter(|(m, _)| m != id)
                .cloned()
                .collect();
            (*id, remote.cluster_id, Bootstrap::Join, peers)
        }
        None => {
            let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
            let bootstrap = Bootstrap::NewCluster(
                members
                    .iter()
                    .map(|m| InitialMember {
                        id: m.id,
                        context: members::raft_attributes(&m.peer_urls, false).into_bytes(),
                    })
                    .collect(),
            );
            let peers = members
                .iter()
                .filter(|m| m.id != me.id)
                .map(|m| (m.id, m.peer_urls.clone()))
                .collect();
            (me.id, etcd_raft::cluster_id(&ids), bootstrap, peers)
        }
    };

    // Bind first, so a port in use is reported before anything is written.
    let client_listeners = bind_all("clients", &listen_client).await?;
    let peer_listeners = bind_all("peers", &listen_peer).await?;

    let mut config = RaftConfig::new(id, cluster_id).with_timing(
        Duration::from_millis(flags.heartbeat_interval),
        Duration::from_millis(flags.election_timeout),
    );
    config.snapshot_count = flags.snapshot_count.max(1);
    config.wal_dir = wal_dir;
    config.force_new_cluster = flags.force_new_cluster;
    let request_timeout = config.request_timeout;
    let state = Arc::new(RwLock::new(State {
        store: Store::new(),
        applied: 0,
    }));
    let transport = HttpTransport::with_tls(
        id,
        cluster_id,
        tokio::runtime::Handle::current(),
        tls.peer_dial.clone(),
    );
    for (peer, urls) in &peers {
        if let Some(url) = urls.first() {
            transport.add_peer(*peer, url);
        }
    }
    let (raft, applies) = RaftNode::start(
        config,
        &member_dir,
        bootstrap,
        Box::new(transport.clone()),
        Box::new(StoreSnapshots(state.clone())),
    )
    .with_context(|| format!("starting raft in {}", member_dir.display()))?;
    transport.attach(raft.clone());
    let mut server = Server::new(
        id,
        flags.name.clone(),
        cluster_id,
        flags.initial_cluster_token.clone(),
        client_urls,
        raft.clone(),
        transport,
        state,
        request_timeout,
    );
    server.cors = flags
        .cors
        .split(',')
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    server.strict_reconfig = flags.strict_reconfig_check;
    let server = Arc::new(server);
    // etcd reads /2/enabled once at start (its v2 auth check), which shows as one getsFail in the store stats.
    etcd_http::Backend::check_access(server.as_ref());
    tracing::info!(
        name = %flags.name,
        member = %format!("{id:x}"),
        cluster = %format!("{cluster_id:x}"),
        data_dir = %flags.data_dir(),
        "starting etcd-node"
    );

    let mut tasks = vec![
        tokio::spawn(apply_loop(server.clone(), applies)),
        tokio::spawn(watch_status(server.clone())),
        tokio::spawn(publish(server.clone())),
        tokio::spawn(expire_ttls(server.clone())),
    ];
    for (listener, url) in peer_listeners.into_iter().zip(&listen_peer) {
        tasks.push(crate::peer::serve(
            listener,
            crate::tls::TlsSetup::acceptor_for(&tls.peer, url),
            raft.clone(),
            server.clone(),
            cluster_id,
        ));
    }
    let client_acceptors: Vec<_> = listen_client
        .iter()
        .map(|url| crate::tls::TlsSetup::acceptor_for(&tls.client, url))
        .collect();
    // Clients are served once the member is ready, as etcd does: reads then see everything replayed.
    let backend = server.clone();
    let mut ready = server.ready.subscribe();
    tasks.push(tokio::spawn(async move {
        if ready.wait_for(|r| *r).await.is_err() {
            return;
        }
        let mut loops = tokio::task::JoinSet::new();
        for (listener, acceptor) in client_listeners.into_iter().zip(client_acceptors) {
            loops.spawn(etcd_http::serve_forever(
                listener,
                acceptor,
                backend.clone(),
            ));
        }
        while loops.join_next().await.is_some() {}
    }));
    for url in &listen_client {
        tracing::info!("serving client requests on {url}");
    }
    Ok(Running { server, tasks })
}

/// Binds a listener for each URL.
async fn bind_all(what: &str, urls: &[String]) -> Result<Vec<tokio::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(urls.len());
    for url in urls {
        let addr = bind_address(url).map_err(anyhow::Error::msg)?;
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("listening for {what} on {url}"))?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Applies committed entries to the store in order, answers their waiters, reports progress to raft.
async fn apply_loop(server: Arc<Server>, mut applies: UnboundedReceiver<ApplyEvent>) {
    while let Some(event) = applies.recv().await {
        let mut results = Vec::new();
        let applied = {
            let mut state = server.write_state();
            match event {
                ApplyEvent::Snapshot { index, term, data } => {
                    if let Err(e) = state.store.recover(&data) {
                        tracing::error!(
                            "cannot restore the store from the snapshot at {index}: {e}"
                        );
                    }
                    state.applied = index;
                    server.position.0.store(index, Ordering::Relaxed);
                    server.position.1.store(term, Ordering::Relaxed);
                }
                ApplyEvent::Entries(entries) => {
                    for e in entries {
                        match e.kind {
                            EntryKind::Normal(data) if !data.is_empty() => {
                                match entry::decode(&data) {
                                    Some((request, proposed_at)) => {
                                        let result = state.store.apply(&request, proposed_at);
                                        server
                                            .counters
                                            .proposals_applied
                                            .fetch_add(1, Ordering::Relaxed);
                                        results.push((request.id, result));
                                    }
                                    None => tracing::warn!(
                                        index = e.index,
                                        "skipped an entry that is not a v2 request"
                                    ),
                                }
                            }
                            EntryKind::Normal(_) => {}
                            EntryKind::MemberChange { change, applied } => {
                                if applied {
                                    members::apply_change(&mut state.store, &change);
                                    follow_member_change(&server, &change);
                                }
                            }
                        }
                        state.applied = e.index;
                        server
                            .counters
                            .proposals_committed
                            .fetch_add(1, Ordering::Relaxed);
                        server.position.0.store(e.index, Ordering::Relaxed);
                        server.position.1.store(e.term, Ordering::Relaxed);
                    }
                }
            }
            state.applied
        };
        for (id, result) in results {
            let event = match result {
                Ok(Applied::Write(event) | Applied::Read(event)) => Ok(event),
                Ok(Applied::Expired(_)) => continue,
                Err(e) => Err(e),
            };
            server.resolve(id, event);
        }
        server.raft.report_applied(applied);
    }
}

/// Keeps the transport's peer list in step with membership.
fn follow_member_change(server: &Server, change: &etcd_raft::MemberChange) {
    if change.node_id == server.id {
        if change.kind == MemberChangeKind::RemoveMember {
            tracing::warn!("this member was removed from the cluster; shutting down");
            server.removed.notify_one();
        }
        return;
    }
    match change.kind {
        MemberChangeKind::RemoveMember => server.transport.remove_peer(change.node_id),
        _ => {
            #[derive(serde::Deserialize)]
            struct Peers {
                #[serde(rename = "peerURLs")]
                peer_urls: Vec<String>,
            }
            if let Ok(peers) = serde_json::from_slice::<Peers>(&change.context)
                && let Some(url) = peers.peer_urls.first()
            {
                server.transport.add_peer(change.node_id, url);
            }
        }
    }
}

/// Caches the raft status for the HTTP layer and counts leader changes.
async fn watch_status(server: Arc<Server>) {
    let mut last_leader = 0;
    loop {
        if let Ok(status) = server.raft.status().await {
            if status.leader != last_leader {
                if status.leader != 0 {
                    server
                        .counters
                        .leader_changes
                        .fetch_add(1, Ordering::Relaxed);
                    *server
                        .leader_since
                        .write()
                        .unwrap_or_else(|p| p.into_inner()) = Some(SystemTime::now());
                }
                last_leader = status.leader;
            }
            *server.status.write().unwrap_or_else(|p| p.into_inner()) = Some(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publishes this member's name and client URLs, then (on the leader) the cluster version, as etcd does.
async fn publish(server: Arc<Server>) {
    let attributes = Request {
        method: Method::Put,
        path: format!("/0/members/{:x}/attributes", server.id),
        val: members::attributes(&server.name, &server.client_urls),
        ..Request::default()
    };
    while server.propose_request(attributes.clone()).await.is_err() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::info!("published this member's attributes to the cluster; ready to serve clients");
    server.ready.send_replace(true);
    loop {
        let is_leader = server.raft.leadership().role == Role::Leader;
        let decided = etcd_http::Backend::versions(server.as_ref()).1 != "not_decided";
        if decided {
            return;
        }
        if is_leader {
            let version = Request {
                method: Method::Put,
                path: "/0/version".to_owned(),
                val: "3.4.0".to_owned(),
                ..Request::default()
            };
            if server.propose_request(version).await.is_ok() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// On the leader, proposes a SYNC with its clock every 500 ms while keys with a TTL exist.
async fn expire_ttls(server: Arc<Server>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let is_leader = server.raft.leadership().role == Role::Leader;
        let has_ttls = server
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .store
            .has_ttl_keys();
        if is_leader && has_ttls {
            let sync = Request {
                method: Method::Sync,
                time: unix_nanos(),
                ..Request::default()
            };
            // Fire and forget: nobody waits for a SYNC's result.
            let raft = server.raft.clone();
            let bytes = entry::encode(&sync, unix_nanos());
            tokio::spawn(async move {
                let _ = raft.propose(bytes).await;
            });
        }
    }
}
