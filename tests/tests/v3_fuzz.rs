//! gRPC requests with every field at its extremes (issue 20): KV, Txn, Compact and Lease calls with arbitrary
//! keys, bounds, revisions, limits, enum values that do not exist, leases and TTLs, against a running etcd-node.
//! Each call is answered (a response or an error status) within a timeout, and the member still serves
//! afterwards: no panic, no hang.

use std::time::Duration;

use etcd_proto::etcdserverpb::compare::TargetUnion;
use etcd_proto::etcdserverpb::kv_client::KvClient;
use etcd_proto::etcdserverpb::lease_client::LeaseClient;
use etcd_proto::etcdserverpb::request_op::Request as OpRequest;
use etcd_proto::etcdserverpb::{
    CompactionRequest, Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest,
    LeaseTimeToLiveRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use etcd_tests as common;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tonic::transport::Channel;

use common::{Flavor, Server};

/// One call of the fuzzed set.
#[derive(Debug, Clone)]
enum Call {
    Range(RangeRequest),
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact(CompactionRequest),
    Grant(LeaseGrantRequest),
    Revoke(LeaseRevokeRequest),
    TimeToLive(LeaseTimeToLiveRequest),
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(vec![0]),
        Just(vec![0xff; 3]),
        proptest::collection::vec(any::<u8>(), 0..12),
        "[a-c]{1,3}".prop_map(String::into_bytes),
    ]
}

/// Integers at the edges etcd's checks sit on, and anything.
fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(-1),
        Just(1),
        Just(i64::MIN),
        Just(i64::MAX),
        -5i64..50,
        any::<i64>(),
    ]
}

fn enum_value() -> impl Strategy<Value = i32> {
    prop_oneof![0i32..5, any::<i32>()]
}

fn range() -> impl Strategy<Value = RangeRequest> {
    (
        (bytes(), bytes(), int(), int(), enum_value(), enum_value()),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        (int(), int(), int(), int()),
    )
        .prop_map(
            |(
                (key, range_end, limit, revision, sort_order, sort_target),
                (serializable, keys_only, count_only),
                (a, b, c, d),
            )| RangeRequest {
                key,
                range_end,
                limit,
                revision,
                sort_order,
                sort_target,
                serializable,
                keys_only,
                count_only,
                min_mod_revision: a,
                max_mod_revision: b,
                min_create_revision: c,
                max_create_revision: d,
            },
        )
}

fn put() -> impl Strategy<Value = PutRequest> {
    (
        bytes(),
        bytes(),
        int(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(key, value, lease, prev_kv, ignore_value, ignore_lease)| PutRequest {
                key,
                value,
                lease,
                prev_kv,
                ignore_value,
                ignore_lease,
            },
        )
}

fn delete() -> impl Strategy<Value = DeleteRangeRequest> {
    (bytes(), bytes(), any::<bool>()).prop_map(|(key, range_end, prev_kv)| DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    })
}

fn compare() -> impl Strategy<Value = Compare> {
    let target = prop_oneof![
        int().prop_map(TargetUnion::Version),
        int().prop_map(TargetUnion::CreateRevision),
        int().prop_map(TargetUnion::ModRevision),
        bytes().prop_map(TargetUnion::Value),
        int().prop_map(TargetUnion::Lease),
    ];
    (
        enum_value(),
        enum_value(),
        bytes(),
        bytes(),
        proptest::option::of(target),
    )
        .prop_map(|(result, target, key, range_end, target_union)| Compare {
            result,
            target,
            key,
            range_end,
            target_union,
        })
}

fn request_op() -> impl Strategy<Value = RequestOp> {
    let leaf = prop_oneof![
        range().prop_map(OpRequest::RequestRange),
        put().prop_map(OpRequest::RequestPut),
        delete().prop_map(OpRequest::RequestDeleteRange),
    ];
    proptest::option::of(leaf).prop_map(|request| RequestOp { request })
}

fn flat_txn() -> impl Strategy<Value = TxnRequest> {
    (
        proptest::collection::vec(compare(), 0..3),
        proptest::collection::vec(request_op(), 0..4),
        proptest::collection::vec(request_op(), 0..4),
    )
        .prop_map(|(compare, success, failure)| TxnRequest {
            compare,
            success,
            failure,
        })
}

fn txn() -> impl Strategy<Value = TxnRequest> {
    // One level of nesting: a txn inside a txn.
    (flat_txn(), flat_txn()).prop_map(|(mut outer, inner)| {
        outer.success.push(RequestOp {
            request: Some(OpRequest::RequestTxn(inner)),
        });
        outer
    })
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        range().prop_map(Call::Range),
        put().prop_map(Call::Put),
        delete().prop_map(Call::Delete),
        txn().prop_map(Call::Txn),
        (int(), any::<bool>()).prop_map(|(revision, physical)| Call::Compact(CompactionRequest {
            revision,
            physical
        })),
        (int(), int()).prop_map(|(ttl, id)| Call::Grant(LeaseGrantRequest { ttl, id })),
        int().prop_map(|id| Call::Revoke(LeaseRevokeRequest { id })),
        (int(), any::<bool>())
            .prop_map(|(id, keys)| Call::TimeToLive(LeaseTimeToLiveRequest { id, keys })),
    ]
}

/// Makes the call; `Err` only when it was not answered in time.
async fn make(
    kv: &mut KvClient<Channel>,
    lease: &mut LeaseClient<Channel>,
    call: Call,
) -> Result<(), String> {
    let answered = tokio::time::timeout(Duration::from_secs(20), async {
        match call {
            Call::Range(r) => kv.range(r).await.map(drop),
            Call::Put(r) => kv.put(r).await.map(drop),
            Call::Delete(r) => kv.delete_range(r).await.map(drop),
            Call::Txn(r) => kv.txn(r).await.map(drop),
            Call::Compact(r) => kv.compact(r).await.map(drop),
            Call::Grant(r) => lease.lease_grant(r).await.map(drop),
            Call::Revoke(r) => lease.lease_revoke(r).await.map(drop),
            Call::TimeToLive(r) => lease.lease_time_to_live(r).await.map(drop),
        }
    })
    .await;
    match answered {
        Err(_) => Err("no answer within 20 s".to_owned()),
        Ok(Err(status))
            if status.code() == tonic::Code::Unavailable
                || status.code() == tonic::Code::Internal =>
        {
            Err(format!("the member failed the call: {status:?}"))
        }
        Ok(_) => Ok(()),
    }
}

#[test]
fn requests_with_fields_at_their_extremes_are_answered_and_the_member_survives() {
    // The strategies' nested types are deep in a debug build: more stack than a test thread has.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(fuzz_a_member)
        .expect("a thread")
        .join()
        .expect("the fuzz run");
}

fn fuzz_a_member() {
    let server = Server::start(Flavor::EtcdNode);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let channel = runtime.block_on(async {
        Channel::from_shared(server.client_url.clone())
            .expect("url")
            .connect()
            .await
            .expect("connect")
    });
    let kv = KvClient::new(channel.clone());
    let lease = LeaseClient::new(channel);
    let cases: u32 = std::env::var("ETCD_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(400);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&call(), |call| {
        let (mut kv, mut lease) = (kv.clone(), lease.clone());
        runtime
            .block_on(make(&mut kv, &mut lease, call))
            .map_err(proptest::test_runner::TestCaseError::fail)
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    // Still serving, and still writing.
    let mut kv = kv;
    runtime.block_on(async {
        kv.put(PutRequest {
            key: b"after".to_vec(),
            value: b"fuzz".to_vec(),
            ..PutRequest::default()
        })
        .await
        .expect("the member still writes");
        let read = kv
            .range(RangeRequest {
                key: b"after".to_vec(),
                ..RangeRequest::default()
            })
            .await
            .expect("the member still reads")
            .into_inner();
        assert_eq!(read.kvs.len(), 1);
    });
}
