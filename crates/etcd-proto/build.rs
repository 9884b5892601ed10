//! Generates the v3 API from `../../proto` with a pure-Rust protobuf compiler (no system `protoc`).

use std::path::PathBuf;

const FILES: &[&str] = &[
    "mvccpb/kv.proto",
    "authpb/auth.proto",
    "etcdserverpb/rpc.proto",
    "v3lockpb/v3lock.proto",
    "v3electionpb/v3election.proto",
    "etcdrs/entry.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    for file in FILES {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(FILES, [&root])?;
    if std::env::var_os("CARGO_FEATURE_JSON").is_some() {
        let out = PathBuf::from(std::env::var("OUT_DIR")?);
        let bytes = prost::Message::encode_to_vec(&descriptors);
        // etcd's gateway writes the proto field names (grpc-gateway's OrigName), not lowerCamelCase.
        pbjson_build::Builder::new()
            .register_descriptors(&bytes)?
            .preserve_proto_field_names()
            .ignore_unknown_fields()
            .out_dir(&out)
            .build(&[
                ".mvccpb",
                ".authpb",
                ".etcdserverpb",
                ".v3lockpb",
                ".v3electionpb",
            ])?;
    }
    // The services only with the `grpc` feature: without it, the generated code needs prost alone.
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure()
        .build_client(grpc)
        .build_server(grpc)
        .compile_fds(descriptors)?;
    Ok(())
}
