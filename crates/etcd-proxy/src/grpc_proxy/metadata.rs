//! What a client's call carries to the member: its metadata (the auth `token`, `hasleader`, …).

use tonic::metadata::{KeyAndValueRef, MetadataMap};

/// `message` as a request to the member, with the client's metadata.
pub(crate) fn upstream_request<T>(metadata: &MetadataMap, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let out = request.metadata_mut();
    for entry in metadata.iter() {
        if let KeyAndValueRef::Ascii(key, value) = entry {
            // The transport's own headers are the proxy's to set.
            if !matches!(
                key.as_str(),
                "te" | "content-type" | "user-agent" | "grpc-timeout" | "grpc-accept-encoding"
            ) {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    request
}

/// Whether the call names a user: its answers may then differ from another caller's.
pub(crate) fn has_identity(metadata: &MetadataMap) -> bool {
    metadata.contains_key("token") || metadata.contains_key("authorization")
}

/// The status a client gets through the proxy for the member's `status`. etcd's proxy relays calls through its
/// Go client, which turns the errors it knows (etcd's own, `etcdserver: …`) into plain errors that gRPC then
/// sends with code Unknown; the text is kept. Clients match these errors by text, so answering as etcd's proxy
/// does keeps them working the same.
pub(crate) fn as_etcd_proxy(status: tonic::Status) -> tonic::Status {
    if status.code() != tonic::Code::Unknown && status.message().starts_with("etcdserver: ") {
        tonic::Status::unknown(status.message().to_owned())
    } else {
        status
    }
}
