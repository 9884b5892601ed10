//! The `v3lockpb.Lock` and `v3electionpb.Election` gRPC services (which etcdctl does not use: its `lock` and
//! `elect` run the same recipes client-side) against etcd-node and etcd 3.5.1 side by side: the same calls give
//! the same answers, revisions included, once cluster IDs, terms and lease IDs are masked; a second contender
//! waits until the first lets go.

use std::time::Duration;

use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::{LeaseGrantRequest, LeaseRevokeRequest, ResponseHeader};
use etcd_proto::mvccpb::KeyValue;
use etcd_proto::v3electionpb::election_client::ElectionClient;
use etcd_proto::v3electionpb::{
    CampaignRequest, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest, ResignRequest,
};
use etcd_proto::v3lockpb::lock_client::LockClient;
use etcd_proto::v3lockpb::{LockRequest, UnlockRequest};
use etcd_tests as common;
use tonic::transport::Channel;

use common::{Flavor, cluster};

/// Writes what each call answered, in a form that two clusters share.
struct Transcript {
    lines: Vec<String>,
    leases: Vec<(i64, &'static str)>,
}

impl Transcript {
    fn lease(&self, id: i64) -> String {
        self.leases
            .iter()
            .find(|(l, _)| *l == id)
            .map_or_else(|| id.to_string(), |(_, name)| (*name).to_owned())
    }

    fn bytes(&self, b: &[u8]) -> String {
        let mut s = String::from_utf8_lossy(b).into_owned();
        for (id, name) in &self.leases {
            s = s.replace(&format!("{id:x}"), name);
        }
        s
    }

    fn header(h: Option<&ResponseHeader>) -> String {
        h.map_or_else(|| "no header".to_owned(), |h| format!("rev {}", h.revision))
    }

    fn kv(&self, kv: Option<&KeyValue>) -> String {
        kv.map_or_else(
            || "no kv".to_owned(),
            |kv| {
                format!(
                    "{}={} create {} mod {} version {} lease {}",
                    self.bytes(&kv.key),
                    self.bytes(&kv.value),
                    kv.create_revision,
                    kv.mod_revision,
                    kv.version,
                    self.lease(kv.lease)
                )
            },
        )
    }

    fn leader_key(&self, k: Option<&LeaderKey>) -> String {
        k.map_or_else(
            || "no leader key".to_owned(),
            |k| {
                format!(
                    "{} {} rev {} lease {}",
                    self.bytes(&k.name),
                    self.bytes(&k.key),
                    k.rev,
                    self.lease(k.lease)
                )
            },
        )
    }

    fn leader(&self, r: &LeaderResponse) -> String {
        format!(
            "{} {}",
            Self::header(r.header.as_ref()),
            self.kv(r.kv.as_ref())
        )
    }

    fn say(&mut self, what: &str, answer: String) {
        self.lines.push(format!("{what}: {answer}"));
    }

    fn error(status: &tonic::Status) -> String {
        format!("{:?} {}", status.code(), status.message())
    }
}

async fn clients(
    url: &str,
) -> (
    LeaseClient<Channel>,
    LockClient<Channel>,
    ElectionClient<Channel>,
) {
    let channel = Channel::from_shared(url.to_owned())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    (
        LeaseClient::new(channel.clone()),
        LockClient::new(channel.clone()),
        ElectionClient::new(channel),
    )
}

/// Whether `call` is still waiting after a while.
async fn still_waiting<T>(call: &mut tokio::task::JoinHandle<T>) -> bool {
    tokio::time::timeout(Duration::from_millis(1500), call)
        .await
        .is_err()
}

/// Grants a 30 s lease that the transcript calls `name`.
async fn grant(lease: &mut LeaseClient<Channel>, t: &mut Transcript, name: &'static str) -> i64 {
    let id = lease
        .lease_grant(LeaseGrantRequest { ttl: 30, id: 0 })
        .await
        .expect("grant")
        .into_inner()
        .id;
    t.leases.push((id, name));
    id
}

/// Runs the lock and election calls against `first` (and a second contender through `second`).
async fn script(first: &str, second: &str) -> Vec<String> {
    let (mut lease, mut lock, mut election) = clients(first).await;
    let (_, mut lock2, mut election2) = clients(second).await;
    let mut t = Transcript {
        lines: Vec::new(),
        leases: Vec::new(),
    };
    let a = grant(&mut lease, &mut t, "A").await;
    let b = grant(&mut lease, &mut t, "B").await;
    let c = grant(&mut lease, &mut t, "C").await;

    // Lock: the holder, a waiter that gets it on unlock, and one whose lease ends while it waits.
    let held = lock
        .lock(LockRequest {
            name: b"door".to_vec(),
            lease: a,
        })
        .await
        .expect("lock")
        .into_inner();
    t.say(
        "lock A",
        format!(
            "{} {}",
            Transcript::header(held.header.as_ref()),
            t.bytes(&held.key)
        ),
    );
    let mut waiting = tokio::spawn(async move {
        lock2
            .lock(LockRequest {
                name: b"door".to_vec(),
                lease: b,
            })
            .await
    });
    assert!(still_waiting(&mut waiting).await, "B locked a held lock");
    let unlocked = lock
        .unlock(UnlockRequest {
            key: held.key.clone(),
        })
        .await
        .expect("unlock")
        .into_inner();
    t.say("unlock A", Transcript::header(unlocked.header.as_ref()));
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("B gets the lock once A unlocks")
        .expect("task")
        .expect("lock B")
        .into_inner();
    t.say(
        "lock B",
        format!(
            "{} {}",
            Transcript::header(got.header.as_ref()),
            t.bytes(&got.key)
        ),
    );
    let mut lock3 = lock.clone();
    let mut doomed = tokio::spawn(async move {
        lock3
            .lock(LockRequest {
                name: b"door".to_vec(),
                lease: c,
            })
            .await
    });
    assert!(still_waiting(&mut doomed).await, "C locked a held lock");
    lease
        .lease_revoke(LeaseRevokeRequest { id: c })
        .await
        .expect("revoke C");
    lease
        .lease_revoke(LeaseRevokeRequest { id: b })
        .await
        .expect("revoke B");
    let doomed = tokio::time::timeout(Duration::from_secs(10), doomed)
        .await
        .expect("C's lock ends")
        .expect("task");
    t.say(
        "lock C after its lease ended",
        match doomed {
            Ok(r) => format!(
                "{} {}",
                Transcript::header(r.get_ref().header.as_ref()),
                t.bytes(&r.get_ref().key)
            ),
            Err(e) => Transcript::error(&e),
        },
    );
    let unknown = lock
        .lock(LockRequest {
            name: b"door".to_vec(),
            lease: 0x1234,
        })
        .await;
    t.say(
        "lock with an unknown lease",
        unknown.map_or_else(
            |e| Transcript::error(&e),
            |r| format!("{:?}", r.get_ref().key),
        ),
    );

    // Election.
    let none = election
        .leader(LeaderRequest {
            name: b"vote".to_vec(),
        })
        .await;
    t.say(
        "leader of nobody",
        none.map_or_else(|e| Transcript::error(&e), |r| t.leader(r.get_ref())),
    );
    let campaign = election
        .campaign(CampaignRequest {
            name: b"vote".to_vec(),
            lease: a,
            value: b"v1".to_vec(),
        })
        .await
        .expect("campaign")
        .into_inner();
    t.say(
        "campaign A",
        format!(
            "{} {}",
            Transcript::header(campaign.header.as_ref()),
            t.leader_key(campaign.leader.as_ref())
        ),
    );
    let leader_key = campaign.leader.clone().expect("leader key");
    let mut observer = election
        .observe(LeaderRequest {
            name: b"vote".to_vec(),
        })
        .await
        .expect("observe")
        .into_inner();
    let observed = observer
        .message()
        .await
        .expect("observe")
        .expect("a leader");
    t.say("observe", t.leader(&observed));
    let proclaimed = election
        .proclaim(ProclaimRequest {
            leader: Some(leader_key.clone()),
            value: b"v2".to_vec(),
        })
        .await
        .expect("proclaim")
        .into_inner();
    t.say(
        "proclaim v2",
        Transcript::header(proclaimed.header.as_ref()),
    );
    let observed = observer.message().await.expect("observe").expect("a value");
    t.say("observe", t.leader(&observed));
    let now = election
        .leader(LeaderRequest {
            name: b"vote".to_vec(),
        })
        .await
        .expect("leader")
        .into_inner();
    t.say("leader", t.leader(&now));
    let b = grant(&mut lease, &mut t, "D").await;
    let mut rival = tokio::spawn(async move {
        election2
            .campaign(CampaignRequest {
                name: b"vote".to_vec(),
                lease: b,
                value: b"w1".to_vec(),
            })
            .await
    });
    assert!(still_waiting(&mut rival).await, "two leaders at once");
    let not_leader = election
        .proclaim(ProclaimRequest {
            leader: Some(LeaderKey {
                rev: leader_key.rev + 100,
                ..leader_key.clone()
            }),
            value: b"x".to_vec(),
        })
        .await;
    t.say(
        "proclaim by a stale leader key",
        not_leader.map_or_else(|e| Transcript::error(&e), |_| "accepted".to_owned()),
    );
    let resigned = election
        .resign(ResignRequest {
            leader: Some(leader_key.clone()),
        })
        .await
        .expect("resign")
        .into_inner();
    t.say("resign A", Transcript::header(resigned.header.as_ref()));
    let took_over = tokio::time::timeout(Duration::from_secs(10), rival)
        .await
        .expect("D leads once A resigns")
        .expect("task")
        .expect("campaign D")
        .into_inner();
    t.say(
        "campaign D",
        format!(
            "{} {}",
            Transcript::header(took_over.header.as_ref()),
            t.leader_key(took_over.leader.as_ref())
        ),
    );
    let observed = observer
        .message()
        .await
        .expect("observe")
        .expect("the new leader");
    t.say("observe", t.leader(&observed));
    let again = election
        .resign(ResignRequest {
            leader: Some(leader_key),
        })
        .await;
    t.say(
        "resign A again",
        again.map_or_else(
            |e| Transcript::error(&e),
            |r| Transcript::header(r.get_ref().header.as_ref()),
        ),
    );
    t.lines
}

fn compare(n: usize) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut transcripts = Vec::new();
    for flavor in [Flavor::EtcdNode, Flavor::Etcd35] {
        let members = cluster(flavor, n);
        let (first, second) = (&members[0], &members[n - 1]);
        transcripts.push(runtime.block_on(script(&first.client_url, &second.client_url)));
    }
    assert_eq!(transcripts[0].join("\n"), transcripts[1].join("\n"));
}

#[test]
fn lock_and_election_services_answer_as_etcds_on_one_member() {
    compare(1);
}

#[test]
fn lock_and_election_services_answer_as_etcds_on_three_members() {
    compare(3);
}
