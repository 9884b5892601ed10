//! Running a member: the flags turned into etcd-server's configuration (who this member is, from its log, the
//! running cluster or the flags), the listeners bound, and the peer and client ports served.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use etcd_raft::{Bootstrap, HttpTransport, InitialMember};
use etcd_server::{Running, ServerConfig};

use crate::cluster::{own_member, parse_initial_cluster, parse_urls};
use crate::flags::Flags;
use crate::peer_members::PeerMembers;
use crate::serving::Serving;

/// How long the client ports may take to answer what they are answering at shutdown.
const CLIENT_DRAIN: Duration = Duration::from_secs(10);

/// A running member and the tasks serving its ports.
pub struct Member {
    pub running: Running,
    /// The client ports' accept loops (each waits for its connections before it ends).
    clients: Serving,
    /// The peer ports'.
    peers: Serving,
}

impl Member {
    /// The shutdown written down in ARCHITECTURE.md: the client ports stop accepting and finish the requests in
    /// flight (their proposals still reach the peers), then the member stops (its last proposals drained, its
    /// duties stopped, raft and the stores closed), then the peer ports stop.
    pub async fn shutdown(self) {
        // Watches and keepalives end now, as etcd ends them, instead of holding their connections open.
        self.running.server.begin_shutdown();
        self.clients.stop(CLIENT_DRAIN).await;
        self.running.shutdown().await;
        // Raft is stopped: nothing on the peer ports holds a client's request, so they are not waited for.
        self.peers.signal();
    }
}

/// Starts the member the flags describe.
pub async fn start(flags: &Flags) -> Result<Member> {
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
    // A member with a log takes its identity and cluster from it: the cluster flags are not read again (as
    // etcd ignores them then), so a restored or restarted member needs none.
    let me = match recorded {
        Some(_) => None,
        None => {
            Some(own_member(&members, &flags.name, &advertise_peer).map_err(anyhow::Error::msg)?)
        }
    };
    let (id, cluster_id, bootstrap, peers) = match (recorded, me) {
        (Some((id, cluster_id)), _) => (id, cluster_id, Bootstrap::Join, Vec::new()),
        (None, None) => bail!("no member of the initial cluster is this one"),
        (None, Some(me)) if flags.cluster_state == crate::flags::ClusterState::Existing => {
            let mut mine = me.peer_urls.clone();
            mine.sort();
            let others: Vec<String> = members
                .iter()
                .filter(|m| m.name != flags.name)
                .flat_map(|m| m.peer_urls.clone())
                .collect();
            let remote = PeerMembers::new(tls.peer_dial.clone().map(etcd_tls::ClientTls::new))
                .fetch(&others)
                .await
                .map_err(anyhow::Error::msg)
                .context("asking the cluster for its members")?;
            let Some(id) = remote.members.iter().find_map(|m| {
                let mut urls = m.peer_urls.clone();
                urls.sort();
                (urls == mine).then_some(m.id)
            }) else {
                bail!(
                    "the cluster has no member with peer URLs {}: add it first (etcdctl member add)",
                    advertise_peer.join(",")
                );
            };
            let peers = remote
                .members
                .into_iter()
                .filter(|m| m.id != id)
                .map(|m| (m.id, m.peer_urls))
                .collect();
            (id, remote.cluster_id, Bootstrap::Join, peers)
        }
        (None, Some(me)) => {
            let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
            let bootstrap = Bootstrap::NewCluster(
                members
                    .iter()
                    .map(|m| InitialMember {
                        id: m.id,
                        context: etcd_server::member_context(&m.peer_urls),
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
    let client_ports = crate::cluster::ports(&listen_client).map_err(anyhow::Error::msg)?;
    let peer_ports = crate::cluster::ports(&listen_peer).map_err(anyhow::Error::msg)?;
    let client_listeners = bind_all("clients", &client_ports).await?;
    let peer_listeners = bind_all("peers", &peer_ports).await?;

    let transport = HttpTransport::with_tls(
        id,
        cluster_id,
        tokio::runtime::Handle::current(),
        tls.peer_dial.clone().map(etcd_tls::ClientTls::new),
    );
    let max_request_bytes =
        usize::try_from(flags.max_request_bytes).context("--max-request-bytes is too large")?;
    let config = ServerConfig {
        name: flags.name.clone(),
        id,
        cluster_id,
        initial_cluster_token: flags.initial_cluster_token.clone(),
        bootstrap,
        peers,
        client_urls,
        data_dir: PathBuf::from(flags.data_dir()),
        wal_dir,
        heartbeat_interval: Duration::from_millis(flags.heartbeat_interval),
        election_timeout: Duration::from_millis(flags.election_timeout),
        snapshot_count: flags.snapshot_count,
        force_new_cluster: flags.force_new_cluster,
        cors: flags
            .cors
            .split(',')
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect(),
        strict_reconfig_check: flags.strict_reconfig_check,
        max_txn_ops: flags.max_txn_ops as usize,
        max_learners: flags.max_learners as usize,
        quota_backend_bytes: flags.quota_backend_bytes,
        corrupt_check_time: flags.experimental_corrupt_check_time,
        server_version: flags.server_version.clone(),
        snapshot_catchup_entries: flags.experimental_snapshot_catchup_entries,
        max_request_bytes,
        lease_checkpoint_interval: flags.experimental_lease_checkpoint_interval,
        auth: crate::auth_options::from_flags(flags)?,
    };
    let running = etcd_server::start(config, transport)?;
    let server = running.server.clone();

    let peers = Serving::new();
    for (listener, (_, urls)) in peer_listeners.into_iter().zip(&peer_ports) {
        peers.tasks.spawn(crate::peer::serve(
            listener,
            crate::tls::TlsSetup::acceptor_for_port(&tls.peer, urls),
            server.clone(),
            peers.shutdown.clone(),
        ));
    }
    let client_acceptors: Vec<_> = client_ports
        .iter()
        .map(|(_, urls)| crate::tls::TlsSetup::acceptor_for_port(&tls.client, urls))
        .collect();
    let options = etcd_grpc::ClientOptions {
        max_request_bytes,
        max_concurrent_streams: flags.max_concurrent_streams,
        keepalive_interval: flags.grpc_keepalive_interval,
        keepalive_timeout: flags.grpc_keepalive_timeout,
    };
    if flags.experimental_initial_corrupt_check {
        // Before any client is served, as etcd does: a member whose data differs from its peers' stops here.
        server.ready().await;
        if let Err(e) = server.initial_corruption_check().await {
            running.shutdown().await;
            peers.signal();
            bail!("{e}");
        }
    }
    // Clients are served once the member is ready, as etcd does: reads then see everything replayed.
    let routes = etcd_grpc::services(server.clone(), &options);
    let clients = Serving::new();
    for (listener, acceptor) in client_listeners.into_iter().zip(client_acceptors) {
        let (server, routes, options) = (server.clone(), routes.clone(), options.clone());
        let shutdown = clients.shutdown.clone();
        clients.tasks.spawn(async move {
            tokio::select! {
                _ = server.ready() => {}
                _ = shutdown.cancelled() => return,
            }
            etcd_grpc::serve_clients(listener, acceptor, routes, server, options, shutdown).await;
        });
    }
    for url in &listen_client {
        tracing::info!("serving client requests on {url}");
    }
    Ok(Member {
        running,
        clients,
        peers,
    })
}

/// Binds a listener for each port (an address and the URLs it serves): a TCP port, or a Unix socket (its file
/// removed when the listener is dropped).
pub(crate) async fn bind_all(
    what: &str,
    ports: &[(String, Vec<String>)],
) -> Result<Vec<etcd_tls::Bound>> {
    let mut listeners = Vec::with_capacity(ports.len());
    for (addr, urls) in ports {
        let context = || format!("listening for {what} on {}", urls.join(","));
        let listener = match addr.strip_prefix("unix:") {
            Some(path) => {
                etcd_tls::Bound::unix(std::path::Path::new(path)).with_context(context)?
            }
            None => tokio::net::TcpListener::bind(addr)
                .await
                .with_context(context)?
                .into(),
        };
        listeners.push(listener);
    }
    Ok(listeners)
}
