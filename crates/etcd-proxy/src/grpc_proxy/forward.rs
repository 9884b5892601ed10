//! Any other gRPC call, forwarded as it is: headers, message frames and trailers pass through untouched, so
//! every RPC the member serves (Cluster, Maintenance, Auth, Lock, Election, and any added later) works through
//! the proxy with no code of its own.

use tonic::codegen::Service;

use super::upstream::Upstream;

pub(crate) async fn forward(
    upstream: &Upstream,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<tonic::body::Body> {
    let (index, mut channel) = upstream.channel();
    // etcd's proxy relays Cluster through its Go client (see `as_etcd_proxy`), the other services with their
    // generated clients, which keep the member's codes.
    let through_client = request.uri().path().starts_with("/etcdserverpb.Cluster/");
    let (mut parts, body) = request.into_parts();
    // The channel puts the member's scheme and authority in front of the path.
    if let Some(path) = parts.uri.path_and_query().cloned() {
        parts.uri = path.into();
    }
    let request = hyper::Request::from_parts(parts, tonic::body::Body::new(body));
    let answer = match std::future::poll_fn(|cx| channel.poll_ready(cx)).await {
        Ok(()) => channel.call(request).await,
        Err(e) => Err(e),
    };
    match answer {
        // An error answered before any message is in the headers ("trailers only"): the one place to change it.
        Ok(mut response) => {
            if let Some(status) = tonic::Status::from_header_map(response.headers())
                && through_client
                && status.code() != tonic::Code::Ok
            {
                let _ = super::metadata::as_etcd_proxy(status).add_header(response.headers_mut());
            }
            response
        }
        Err(e) => {
            upstream.failed(index);
            tonic::Status::unavailable(format!("grpc-proxy: {e}")).into_http()
        }
    }
}
