//! etcd-server's errors as gRPC statuses: etcd's codes and exact texts.

use etcd_server::{Caller, ErrorClass, Server, V3Error};

use crate::metrics::Method;
use tonic::{Code, Status};

/// The status etcd answers `e` with.
pub(crate) fn status(e: V3Error) -> Status {
    let code = match e.class() {
        ErrorClass::InvalidArgument => Code::InvalidArgument,
        ErrorClass::OutOfRange => Code::OutOfRange,
        ErrorClass::Unavailable => Code::Unavailable,
        ErrorClass::ResourceExhausted => Code::ResourceExhausted,
        ErrorClass::Canceled => Code::Cancelled,
        ErrorClass::NotFound => Code::NotFound,
        ErrorClass::FailedPrecondition => Code::FailedPrecondition,
        ErrorClass::Unknown => Code::Unknown,
        ErrorClass::Internal => Code::Internal,
        ErrorClass::DataLoss => Code::DataLoss,
        ErrorClass::Unimplemented => Code::Unimplemented,
        ErrorClass::PermissionDenied => Code::PermissionDenied,
        ErrorClass::Unauthenticated => Code::Unauthenticated,
    };
    Status::new(code, e.to_string())
}

/// etcd's `hasleader` metadata: a client that sets it wants no answer from a member without a leader.
pub(crate) fn require_leader(
    metadata: &tonic::metadata::MetadataMap,
    server: &Server,
) -> Result<(), Status> {
    let wants_leader = metadata
        .get("hasleader")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "true");
    if wants_leader && !server.has_leader() {
        return Err(status(V3Error::NoLeader));
    }
    Ok(())
}

/// etcd's rule for learners: they serve `Status` and serializable `Range` only (`Range` checks the latter
/// itself); every other call, streams included, is refused.
pub(crate) fn refuse_learner(server: &Server, allowed: bool) -> Result<(), Status> {
    if !allowed && server.is_learner() {
        return Err(status(V3Error::NotSupportedForLearner));
    }
    Ok(())
}

pub(crate) use etcd_tls::ClientCommonName;

/// Who a call comes from: its `token` metadata (or `authorization`, which etcd's gateway forwards), else its
/// client certificate's common name.
pub(crate) fn caller<T>(server: &Server, request: &tonic::Request<T>) -> Result<Caller, V3Error> {
    let (token, common_name) = identity(request);
    server.caller(token, common_name)
}

/// The caller of a call to `method`, as etcd 3.5 resolves it there: most calls refuse a token that is not
/// valid (Unauthenticated); the admin-only maintenance calls refuse it with the auth package's own text (code
/// Unknown); and the calls etcd never asks who is calling do not look at the token at all.
pub(crate) fn caller_of<T>(
    method: Method,
    server: &Server,
    request: &tonic::Request<T>,
) -> Result<Caller, V3Error> {
    match method {
        Method::Status
        | Method::MemberList
        | Method::LeaseTimeToLive
        | Method::LeaseLeases
        | Method::LeaseKeepAlive
        | Method::MoveLeader => Ok(Caller::anonymous()),
        Method::Hash
        | Method::HashKv
        | Method::Defragment
        | Method::Snapshot
        | Method::Downgrade => caller(server, request).map_err(|e| match e {
            V3Error::Auth(e) => V3Error::AuthUnknown(e),
            other => other,
        }),
        _ => caller(server, request),
    }
}

/// What names a call's caller: its token (`token`, or `authorization` as etcd's gateway forwards it) and its
/// client certificate's common name.
pub(crate) fn identity<T>(request: &tonic::Request<T>) -> (Option<&str>, Option<&str>) {
    let metadata = request.metadata();
    let token = metadata
        .get("token")
        .or_else(|| metadata.get("authorization"))
        .and_then(|v| v.to_str().ok());
    let common_name = request
        .extensions()
        .get::<ClientCommonName>()
        .map(|cn| cn.0.as_str());
    (token, common_name)
}

/// Rewrites the status tonic answers a request above the size limit with (`OutOfRange`, its own text) into the
/// one etcd's gRPC answers: `ResourceExhausted`, `grpc: received message larger than max (N vs. LIMIT)`.
pub(crate) fn etcd_size_error(headers: &mut hyper::HeaderMap) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    if status.code() != Code::OutOfRange {
        return;
    }
    let numbers: Vec<&str> = status
        .message()
        .strip_prefix("Error, decoded message length too large: found ")
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let [found, limit] = numbers[..] {
        let etcd = Status::resource_exhausted(format!(
            "grpc: received message larger than max ({found} vs. {limit})"
        ));
        let _ = etcd.add_header(headers);
    }
}
