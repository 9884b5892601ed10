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
