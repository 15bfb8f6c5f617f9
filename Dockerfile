# syntax=docker/dockerfile:1
#
# One image with every Evently binary: the six services, load-simulator and evently-tail
# (every [[bin]] of the workspace).
# Compose and Kubernetes pick the service with `command:`; the default is the gateway.
#
#   docker build -t evently:local .
#   docker run --rm evently:local booking-service
#
# Stages:
#   chef     - the Rust toolchain plus cargo-chef (installed once, cached)
#   planner  - reduces the workspace to its manifests (recipe.json)
#   builder  - builds the dependencies from the recipe (the cached layer: it only
#              changes when a Cargo.toml or Cargo.lock changes), then the workspace
#   runtime  - debian slim, the binaries, a non-root user

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.77
# librdkafka is built from source by rdkafka-sys (bundled, the version the
# services are tested with); it needs a C toolchain, make and zlib headers,
# which the full rust image already has. cmake is for a future `cmake-build`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/* \
 && cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Dependencies only: this layer is reused until a manifest or the lock file changes.
RUN cargo chef cook --release --workspace --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && find target/release -maxdepth 1 -type f -perm -u+x -exec cp {} /out/ \; \
 && ls -l /out

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to a managed MongoDB/PostgreSQL; curl: container health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 evently \
 && useradd --system --uid 10001 --gid evently --home-dir /app --shell /usr/sbin/nologin evently \
 && mkdir -p /app/config /var/lib/evently/auth \
 && chown -R evently:evently /app /var/lib/evently
WORKDIR /app
COPY --from=builder /out/ /usr/local/bin/
# /var/lib/evently/auth is where auth keeps a generated signing key; a named volume
# mounted there starts with this directory's owner, so the non-root user can write.
# Settings come from the environment (`<SERVICE>__SECTION__KEY`, DATABASE_URL,
# KAFKA_BROKERS, ...); an optional file may be mounted at /app/config/<service>.toml.
ENV EVENTLY_CONFIG_DIR=/app/config \
    RUST_LOG=info
USER 10001:10001
EXPOSE 8080 8081 8082 8083 8084 8085
STOPSIGNAL SIGTERM
CMD ["gateway-service"]
