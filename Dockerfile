# syntax=docker/dockerfile:1.7
# Stratus container image: build the release binary on Debian bookworm (glibc, x86_64), run it on
# bookworm-slim as uid 10001 with nothing else but CA certificates and the RDS CA bundle.
#
#   docker build -t stratus .
#   docker run --rm -p 8000:8000 --read-only --tmpfs /tmp -v stratus-data:/data \
#     -e DATABASE_URL=sqlite:///data/stratus.db stratus
#
# scripts/run-like-task.sh builds the same binary (cargo build --release --locked) and runs it the way
# the ECS task definition does, since no container engine runs on the development machines.

ARG RUST_IMAGE=rust:1.95.0-bookworm
ARG RUNTIME_IMAGE=debian:12.12-slim

############################################################################################
# Dependencies first (cargo-chef): the slow layer is rebuilt only when Cargo.lock changes.
############################################################################################
FROM ${RUST_IMAGE} AS chef
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin stratus \
 && install -D -m 0755 target/release/stratus /out/stratus \
 && /out/stratus --version

############################################################################################
# Runtime
############################################################################################
FROM ${RUNTIME_IMAGE} AS runtime

# ca-certificates is left unpinned on purpose: it is the trust store and should take Debian's
# updates; RUNTIME_IMAGE fixes the release, and an exact pin would vanish from the archive at the
# next point release and break the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 stratus \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin stratus \
 && install -d -o 10001 -g 10001 -m 0750 /data

# RDS CA bundle for DATABASE_URL=...?sslmode=verify-full (PGSSLROOTCERT below). The ECS task
# definition sets the same path (infra/modules/ecs_service, local.rds_ca_bundle_path).
# The build fails unless the download has this digest: a changed bundle is reviewed, not trusted
# blindly. This one holds 102 CA certificates (the G1 roots and intermediates of every commercial
# region up to mx-central-1, none expired). When AWS publishes a new bundle (a new region), the
# build stops with a digest mismatch: fetch it, check the certificates
# (openssl storeutl -noout -text -certs global-bundle.pem), then put `sha256sum` of it here.
ADD --checksum=sha256:05c6b4a9bf4daa95c888711481e19cc8e2e11aed4de8db759f51f4a6fce64917 --chmod=0644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem

COPY --from=builder /out/stratus /usr/local/bin/stratus

ENV STRATUS_LISTEN=0.0.0.0:8000 \
    STRATUS_LOG_FORMAT=json \
    PGSSLROOTCERT=/etc/ssl/certs/rds-global-bundle.pem \
    DATABASE_URL=sqlite:///data/stratus.db

# /data is only for the embedded SQLite default; in AWS the app uses RDS or DynamoDB and the root
# filesystem is read-only.
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8000

# Shallow liveness (GET /health/live); the ALB checks the deep /health separately.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/stratus", "healthcheck"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/stratus"]
CMD ["serve"]
