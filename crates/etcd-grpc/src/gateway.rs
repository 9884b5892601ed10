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
//! (`/v3/kv/lease/…`). Streaming RPCs (Watch, LeaseKeepAlive, Snapshot, Observe) are not served here yet.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::service::Routes;

use etcd_proto::etcdserverpb as pb;
use etcd_proto::{v3electionpb as election, v3lockpb as lock};

/// The largest JSON body read (etcd's request limit plus room for the JSON encoding).
const MAX_BODY: usize = 8 << 20;

type Answer = hyper::Response<etcd_http::ResponseBody>;

/// The gateway's answer to one call, boxed (the table holds one function per method).
type BoxAnswer = std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send>>;

/// One gateway method: the routes, the JSON body and the `Authorization` header in, its answer out.
type Call = fn(Routes, Bytes, Option<hyper::header::HeaderValue>) -> BoxAnswer;

macro_rules! unary {
    ($path:literal, $req:ty, $resp:ty) => {
        (|routes, body, token| Box::pin(call::<$req, $resp>(routes, $path, body, token))) as Call
    };
}

/// The unary methods by their path after the version prefix.
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
) -> Answer {
    let Some(call) = method(rest) else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    if request.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let token = request.headers().get(hyper::header::AUTHORIZATION).cloned();
    let body = match http_body_util::Limited::new(request.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return error(tonic::Code::InvalidArgument, &e.to_string()),
    };
    call(routes, body, token).await
}

/// One unary call: JSON in, the gRPC service, JSON out.
async fn call<Req, Resp>(
    mut routes: Routes,
    path: &'static str,
    body: Bytes,
    token: Option<hyper::header::HeaderValue>,
) -> Answer
where
    Req: Message + DeserializeOwned + Default,
    Resp: Message + Serialize + Default,
{
    let request: Req = if body.iter().all(u8::is_ascii_whitespace) {
        Req::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => return error(tonic::Code::InvalidArgument, &e.to_string()),
        }
    };
    let message = request.encode_to_vec();
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(0);
    frame.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&message);
    let mut grpc = hyper::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(hyper::header::CONTENT_TYPE, "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        grpc = grpc.header("authorization", token);
    }
    let Ok(grpc) = grpc.body(tonic::body::Body::new(http_body_util::Full::new(
        Bytes::from(frame),
    ))) else {
        return error(tonic::Code::Internal, "gateway: cannot build the request");
    };
    let Ok(response) = tonic::codegen::Service::call(&mut routes, grpc).await;
    let (parts, body) = response.into_parts();
    if let Some(status) = tonic::Status::from_header_map(&parts.headers)
        && status.code() != tonic::Code::Ok
    {
        return error(status.code(), status.message());
    }
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(status) => return error(status.code(), status.message()),
    };
    if let Some(status) = collected
        .trailers()
        .and_then(tonic::Status::from_header_map)
        && status.code() != tonic::Code::Ok
    {
        return error(status.code(), status.message());
    }
    let bytes = collected.to_bytes();
    let reply = bytes
        .get(5..)
        .and_then(|m| Resp::decode(m).ok())
        .unwrap_or_default();
    match serde_json::to_string(&reply) {
        Ok(json) => {
            let mut r = json_answer(StatusCode::OK, json);
            r.headers_mut().insert(
                "Grpc-Metadata-Content-Type",
                hyper::header::HeaderValue::from_static("application/grpc"),
            );
            r
        }
        Err(e) => error(tonic::Code::Internal, &e.to_string()),
    }
}

/// `{"error","code","message"}` with the HTTP status grpc-gateway gives the code.
fn error(code: tonic::Code, message: &str) -> Answer {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
        code: i32,
        message: &'a str,
    }
    let json = serde_json::to_string(&Error {
        error: message,
        code: code as i32,
        message,
    })
    .unwrap_or_default();
    json_answer(http_status(code), json)
}

fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code as C;
    match code {
        C::Ok => StatusCode::OK,
        C::Cancelled => StatusCode::REQUEST_TIMEOUT,
        C::InvalidArgument | C::FailedPrecondition | C::OutOfRange => StatusCode::BAD_REQUEST,
        C::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        C::NotFound => StatusCode::NOT_FOUND,
        C::AlreadyExists | C::Aborted => StatusCode::CONFLICT,
        C::PermissionDenied => StatusCode::FORBIDDEN,
        C::Unauthenticated => StatusCode::UNAUTHORIZED,
        C::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        C::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        C::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        C::Unknown | C::Internal | C::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn json_answer(status: StatusCode, json: String) -> Answer {
    let mut r = hyper::Response::new(
        http_body_util::Full::new(Bytes::from(json))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A plain-text answer as Go's `http.Error` writes it.
fn plain(status: StatusCode, text: &str) -> Answer {
    let mut r = hyper::Response::new(
        http_body_util::Full::new(Bytes::from(format!("{text}\n")))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        "X-Content-Type-Options",
        hyper::header::HeaderValue::from_static("nosniff"),
    );
    r
}
