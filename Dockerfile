# A small image with a static etcd-node binary.
#   docker build -t etcd-node:latest .
#   docker run -p 2379:2379 -p 2380:2380 etcd-node:latest \
#     --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls http://127.0.0.1:2379
# Stage 1: build a static (musl) binary. ring needs a C compiler for the musl target: musl-tools.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl -p etcd-node \
    && install -D -m 0755 target/x86_64-unknown-linux-musl/release/etcd-node /out/etcd-node \
    && mkdir -p /out/data

# Stage 2: nothing but the binary (and CA certificates for dialing https:// peers without a CA file).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/etcd-node /usr/local/bin/etcd-node
COPY --from=build --chown=65532:65532 /out/data /var/lib/etcd-node
WORKDIR /var/lib/etcd-node
ENV ETCD_DATA_DIR=/var/lib/etcd-node/data
VOLUME ["/var/lib/etcd-node"]
EXPOSE 2379 2380
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/etcd-node"]
