//! etcd's JSON gateway on the client port: `POST /v3/<service>/<method>` with a JSON body, answered in JSON.
//!
//! The gateway is a gRPC client of this member's own services, as etcd's grpc-gateway is: a request is turned
//! into the protobuf message (proto3's JSON mapping: proto field names or lowerCamelCase, int64 as strings,
//! bytes as base64, enums by name or number, unknown fields ignored), sent through the same routing service
//! that serves gRPC (so every RPC has one implementation, its checks and its errors), and the answer written
//! back in the mapping etcd's gateway writes (proto field names, unset fields left out). The `Authorization`
//! header carries the auth token. Errors are `{"error","code","message"}` with the gRPC code and the HTTP
//! status grpc-gateway gives that code.
//!
//! Paths are etcd's, under `/v3/`, and as etcd 3.4 also under `/v3beta/` and `/v3alpha/`, with its aliases
//! (`/v3/kv/lease/…`). The streaming RPCs (Watch, LeaseKeepAlive, Snapshot, Observe) are served as
//! grpc-gateway serves them: see `stream`.

mod grpc;
mod json;
mod reply;
mod stream;
mod unary;

use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use tonic::service::Routes;

use etcd_proto::etcdserverpb as pb;
use etcd_proto::{v3electionpb as election, v3lockpb as lock};

use reply::{Answer, plain};

/// The gateway's answer to one call, boxed (the table holds one function per method).
type BoxAnswer = std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send>>;

/// One gateway method: the routes, the request body and the `Authorization` header in, its answer out.
type Call = fn(Routes, Request, Option<HeaderValue>) -> BoxAnswer;

/// A request body, and the most JSON read from it for one message.
pub(super) struct Request {
    body: hyper::body::Incoming,
    json_limit: usize,
}

macro_rules! unary {
    ($path:literal, $req:ty, $resp:ty) => {
        (|routes, body, token| Box::pin(unary::call::<$req, $resp>(routes, $path, body, token)))
            as Call
    };
}

macro_rules! bidi {
    ($path:literal, $req:ty, $resp:ty) => {
        (|routes, body, token| Box::pin(stream::bidi::<$req, $resp>(routes, $path, body, token)))
            as Call
    };
}

macro_rules! server_stream {
    ($path:literal, $req:ty, $resp:ty) => {
        (|routes, body, token| {
            Box::pin(stream::server_stream::<$req, $resp>(
                routes, $path, body, token,
            ))
        }) as Call
    };
}

/// The methods by their path after the version prefix.
fn method(path: &str) -> Option<Call> {
    Some(match path {
        "/kv/range" => unary!(
            "/etcdserverpb.KV/Range",
            pb::RangeRequest,
            pb::RangeResponse
        ),
        "/kv/put" => unary!("/etcdserverpb.KV/Put", pb::PutRequest, pb::PutResponse),
        "/kv/deleterange" => unary!(
            "/etcdserverpb.KV/DeleteRange",
            pb::DeleteRangeRequest,
            pb::DeleteRangeResponse
        ),
        "/kv/txn" => unary!("/etcdserverpb.KV/Txn", pb::TxnRequest, pb::TxnResponse),
        "/kv/compaction" => unary!(
            "/etcdserverpb.KV/Compact",
            pb::CompactionRequest,
            pb::CompactionResponse
        ),
        "/lease/grant" => unary!(
            "/etcdserverpb.Lease/LeaseGrant",
            pb::LeaseGrantRequest,
            pb::LeaseGrantResponse
        ),
        "/lease/revoke" | "/kv/lease/revoke" => unary!(
            "/etcdserverpb.Lease/LeaseRevoke",
            pb::LeaseRevokeRequest,
            pb::LeaseRevokeResponse
        ),
        "/lease/timetolive" | "/kv/lease/timetolive" => unary!(
            "/etcdserverpb.Lease/LeaseTimeToLive",
            pb::LeaseTimeToLiveRequest,
            pb::LeaseTimeToLiveResponse
        ),
        "/lease/leases" | "/kv/lease/leases" => unary!(
            "/etcdserverpb.Lease/LeaseLeases",
            pb::LeaseLeasesRequest,
            pb::LeaseLeasesResponse
        ),
        "/cluster/member/add" => unary!(
            "/etcdserverpb.Cluster/MemberAdd",
            pb::MemberAddRequest,
            pb::MemberAddResponse
        ),
        "/cluster/member/remove" => unary!(
            "/etcdserverpb.Cluster/MemberRemove",
            pb::MemberRemoveRequest,
            pb::MemberRemoveResponse
        ),
        "/cluster/member/update" => unary!(
            "/etcdserverpb.Cluster/MemberUpdate",
            pb::MemberUpdateRequest,
            pb::MemberUpdateResponse
        ),
        "/cluster/member/list" => unary!(
            "/etcdserverpb.Cluster/MemberList",
            pb::MemberListRequest,
            pb::MemberListResponse
        ),
        "/cluster/member/promote" => unary!(
            "/etcdserverpb.Cluster/MemberPromote",
            pb::MemberPromoteRequest,
            pb::MemberPromoteResponse
        ),
        "/maintenance/alarm" => unary!(
            "/etcdserverpb.Maintenance/Alarm",
            pb::AlarmRequest,
            pb::AlarmResponse
        ),
        "/maintenance/status" => unary!(
            "/etcdserverpb.Maintenance/Status",
            pb::StatusRequest,
            pb::StatusResponse
        ),
        "/maintenance/defragment" => unary!(
            "/etcdserverpb.Maintenance/Defragment",
            pb::DefragmentRequest,
            pb::DefragmentResponse
        ),
        // etcd maps both Hash and HashKV to this path; Hash is the one that answers.
        "/maintenance/hash" => unary!(
            "/etcdserverpb.Maintenance/Hash",
            pb::HashRequest,
            pb::HashResponse
        ),
        "/maintenance/transfer-leadership" => unary!(
            "/etcdserverpb.Maintenance/MoveLeader",
            pb::MoveLeaderRequest,
            pb::MoveLeaderResponse
        ),
        "/maintenance/downgrade" => unary!(
            "/etcdserverpb.Maintenance/Downgrade",
            pb::DowngradeRequest,
            pb::DowngradeResponse
        ),
        "/auth/enable" => unary!(
            "/etcdserverpb.Auth/AuthEnable",
            pb::AuthEnableRequest,
            pb::AuthEnableResponse
        ),
        "/auth/disable" => unary!(
            "/etcdserverpb.Auth/AuthDisable",
            pb::AuthDisableRequest,
            pb::AuthDisableResponse
        ),
        "/auth/status" => unary!(
            "/etcdserverpb.Auth/AuthStatus",
            pb::AuthStatusRequest,
            pb::AuthStatusResponse
        ),
        "/auth/authenticate" => unary!(
            "/etcdserverpb.Auth/Authenticate",
            pb::AuthenticateRequest,
            pb::AuthenticateResponse
        ),
        "/auth/user/add" => unary!(
            "/etcdserverpb.Auth/UserAdd",
            pb::AuthUserAddRequest,
            pb::AuthUserAddResponse
        ),
        "/auth/user/get" => unary!(
            "/etcdserverpb.Auth/UserGet",
            pb::AuthUserGetRequest,
            pb::AuthUserGetResponse
        ),
        "/auth/user/list" => unary!(
            "/etcdserverpb.Auth/UserList",
            pb::AuthUserListRequest,
            pb::AuthUserListResponse
        ),
        "/auth/user/delete" => unary!(
            "/etcdserverpb.Auth/UserDelete",
            pb::AuthUserDeleteRequest,
            pb::AuthUserDeleteResponse
        ),
        "/auth/user/changepw" => unary!(
            "/etcdserverpb.Auth/UserChangePassword",
            pb::AuthUserChangePasswordRequest,
            pb::AuthUserChangePasswordResponse
        ),
        "/auth/user/grant" => unary!(
            "/etcdserverpb.Auth/UserGrantRole",
            pb::AuthUserGrantRoleRequest,
            pb::AuthUserGrantRoleResponse
        ),
        "/auth/user/revoke" => unary!(
            "/etcdserverpb.Auth/UserRevokeRole",
            pb::AuthUserRevokeRoleRequest,
            pb::AuthUserRevokeRoleResponse
        ),
        "/auth/role/add" => unary!(
            "/etcdserverpb.Auth/RoleAdd",
            pb::AuthRoleAddRequest,
            pb::AuthRoleAddResponse
        ),
        "/auth/role/get" => unary!(
            "/etcdserverpb.Auth/RoleGet",
            pb::AuthRoleGetRequest,
            pb::AuthRoleGetResponse
        ),
        "/auth/role/list" => unary!(
            "/etcdserverpb.Auth/RoleList",
            pb::AuthRoleListRequest,
            pb::AuthRoleListResponse
        ),
        "/auth/role/delete" => unary!(
            "/etcdserverpb.Auth/RoleDelete",
            pb::AuthRoleDeleteRequest,
            pb::AuthRoleDeleteResponse
        ),
        "/auth/role/grant" => unary!(
            "/etcdserverpb.Auth/RoleGrantPermission",
            pb::AuthRoleGrantPermissionRequest,
            pb::AuthRoleGrantPermissionResponse
        ),
        "/auth/role/revoke" => unary!(
            "/etcdserverpb.Auth/RoleRevokePermission",
            pb::AuthRoleRevokePermissionRequest,
            pb::AuthRoleRevokePermissionResponse
        ),
        "/lock/lock" => unary!("/v3lockpb.Lock/Lock", lock::LockRequest, lock::LockResponse),
        "/lock/unlock" => unary!(
            "/v3lockpb.Lock/Unlock",
            lock::UnlockRequest,
            lock::UnlockResponse
        ),
        "/election/campaign" => unary!(
            "/v3electionpb.Election/Campaign",
            election::CampaignRequest,
            election::CampaignResponse
        ),
        "/election/proclaim" => unary!(
            "/v3electionpb.Election/Proclaim",
            election::ProclaimRequest,
            election::ProclaimResponse
        ),
        "/election/leader" => unary!(
            "/v3electionpb.Election/Leader",
            election::LeaderRequest,
            election::LeaderResponse
        ),
        "/election/resign" => unary!(
            "/v3electionpb.Election/Resign",
            election::ResignRequest,
            election::ResignResponse
        ),
        "/watch" => bidi!(
            "/etcdserverpb.Watch/Watch",
            pb::WatchRequest,
            pb::WatchResponse
        ),
        "/lease/keepalive" => bidi!(
            "/etcdserverpb.Lease/LeaseKeepAlive",
            pb::LeaseKeepAliveRequest,
            pb::LeaseKeepAliveResponse
        ),
        "/maintenance/snapshot" => server_stream!(
            "/etcdserverpb.Maintenance/Snapshot",
            pb::SnapshotRequest,
            pb::SnapshotResponse
        ),
        "/election/observe" => server_stream!(
            "/v3electionpb.Election/Observe",
            election::LeaderRequest,
            election::LeaderResponse
        ),
        _ => return None,
    })
}

/// The path after a gateway version prefix, if `path` has one.
pub(crate) fn gateway_path(path: &str) -> Option<&str> {
    ["/v3", "/v3beta", "/v3alpha"].iter().find_map(|prefix| {
        path.strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/'))
    })
}

/// Answers a gateway request (`rest`: the path after the version prefix).
pub(crate) async fn answer(
    routes: Routes,
    rest: &str,
    request: hyper::Request<hyper::body::Incoming>,
    json_limit: usize,
) -> Answer {
    let Some(call) = method(rest) else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    if request.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let token = request.headers().get(hyper::header::AUTHORIZATION).cloned();
    let body = Request {
        body: request.into_body(),
        json_limit,
    };
    call(routes, body, token).await
}
