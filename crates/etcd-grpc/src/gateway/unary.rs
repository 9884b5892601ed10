//! A unary call through the gateway: one JSON document in, one out.

use hyper::StatusCode;
use prost::Message;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::service::Routes;

use super::Request;
use super::grpc;
use super::json::read_one;
use super::reply::{Answer, error, json_answer};

/// One unary call: a JSON document in, the gRPC service, a JSON document out.
pub(super) async fn call<Req, Resp>(
    routes: Routes,
    path: &'static str,
    body: Request,
    token: Option<hyper::header::HeaderValue>,
) -> Answer
where
    Req: Message + DeserializeOwned + Default,
    Resp: Message + Serialize + Default,
{
    let request: Req = match read_one(body).await {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let body = tonic::body::Body::new(http_body_util::Full::new(grpc::frame(&request)));
    let reply = match grpc::call(routes, path, token, body).await {
        Ok(mut replies) => replies.next::<Resp>().await,
        Err(status) => Err(status),
    };
    match reply {
        Ok(reply) => match serde_json::to_string(&reply.unwrap_or_default()) {
            Ok(json) => {
                let mut r = json_answer(StatusCode::OK, json);
                r.headers_mut().insert(
                    "Grpc-Metadata-Content-Type",
                    hyper::header::HeaderValue::from_static("application/grpc"),
                );
                r
            }
            Err(e) => error(tonic::Code::Internal, &e.to_string()),
        },
        Err(status) => error(status.code(), status.message()),
    }
}
