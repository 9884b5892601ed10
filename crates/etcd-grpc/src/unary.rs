//! One unary call: `hasleader` checked, the server's answer mapped to etcd's status, the call counted.

use std::sync::Arc;

use etcd_server::{Caller, Server, V3Error};
use tonic::{Request, Response, Status};

use crate::metrics::{GrpcMetrics, Method};
use crate::status::{caller_of, refuse_learner, require_leader, status};

/// Runs `run` for one unary call of `method`.
pub(crate) async fn call<Req, Resp, F>(
    server: &Arc<Server>,
    metrics: &GrpcMetrics,
    method: Method,
    request: Request<Req>,
    run: impl FnOnce(Arc<Server>, Req, Caller) -> F,
) -> Result<Response<Resp>, Status>
where
    F: std::future::Future<Output = Result<Resp, V3Error>>,
{
    call_with(server, metrics, method, request, run, status).await
}

/// [`call`], with the server's errors turned into statuses by `to_status`.
pub(crate) async fn call_with<Req, Resp, F>(
    server: &Arc<Server>,
    metrics: &GrpcMetrics,
    method: Method,
    request: Request<Req>,
    run: impl FnOnce(Arc<Server>, Req, Caller) -> F,
    to_status: fn(V3Error) -> Status,
) -> Result<Response<Resp>, Status>
where
    F: std::future::Future<Output = Result<Resp, V3Error>>,
{
    metrics.started(method);
    let learner_allowed = matches!(method, Method::Status | Method::Range);
    let admitted = require_leader(request.metadata(), server)
        .and_then(|()| refuse_learner(server, learner_allowed))
        .and_then(|()| caller_of(method, server, &request).map_err(to_status));
    let result = match admitted {
        Ok(who) => run(server.clone(), request.into_inner(), who)
            .await
            .map(Response::new)
            .map_err(to_status),
        Err(e) => Err(e),
    };
    let code = result
        .as_ref()
        .map_or_else(Status::code, |_| tonic::Code::Ok);
    metrics.handled(method, code);
    result
}
