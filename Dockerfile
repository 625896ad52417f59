# syntax=docker/dockerfile:1
#
# The reefguide server image: `reefguide serve` as a non-root user on Debian bookworm.
#
#   docker build -t reefguide .                # or: podman build --format docker -t reefguide .
#   docker run -p 5000:5000 -v reefguide-data:/var/lib/reefguide reefguide
#
# With no configuration it serves on port 5000 with SQLite and a development key in
# /var/lib/reefguide (mount a volume there to keep them); configure it with REEFGUIDE_*
# variables or a reefguide.toml in /var/lib/reefguide (see the README). `cargo xtask image`
# builds it offline from registries, on local base images (see xtask/src/image.rs).
#
# Podman builds it with `--format docker`: the OCI image format has no HEALTHCHECK.

# Any Debian bookworm image with a Rust toolchain (cargo on PATH), a C compiler and make.
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
# Any Debian bookworm image (the binary links glibc 2.36 dynamically); it needs bash for the
# health check and useradd for the user.
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS builder
# The workspace's release profile keeps line tables, which make the binary about 350 MB; the
# image's has none (about 75 MB, symbols kept), and the build skips generating them.
# `--build-arg CARGO_PROFILE_RELEASE_DEBUG=line-tables-only` keeps them.
ARG CARGO_PROFILE_RELEASE_DEBUG=none
WORKDIR /src
COPY . .
# The crates and the target directory live in cache mounts, so a rebuild after a source
# change recompiles only the workspace's crates; the binary is copied out of the mount.
RUN --mount=type=cache,id=reefguide-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=reefguide-target,target=/src/target \
    cargo build --release --locked -p reefguide-http-actix --bin reefguide \
    && cp target/release/reefguide /usr/local/bin/reefguide

FROM ${RUNTIME_IMAGE}
ARG UID=10001
RUN groupadd --system --gid "${UID}" reefguide \
    && useradd --system --uid "${UID}" --gid reefguide --home-dir /var/lib/reefguide \
        --no-create-home --shell /usr/sbin/nologin reefguide \
    && install -d -o reefguide -g reefguide -m 0750 /var/lib/reefguide
# The AWS SDK's HTTPS client (S3, ECS) reads the system's CA certificates.
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /usr/local/bin/reefguide /usr/local/bin/reefguide
USER reefguide:reefguide
WORKDIR /var/lib/reefguide
# Listen on every interface of the container; the data (SQLite database, development key,
# local result store, storage signing key) goes to the working directory.
ENV REEFGUIDE_HOST=0.0.0.0 \
    REEFGUIDE_DATA_DIR=/var/lib/reefguide
EXPOSE 5000
# No curl in the image: bash's /dev/tcp asks /api/health/live (liveness: 200 while the
# process serves, whatever the database, so a database outage never gets containers replaced;
# load balancers check readiness, /api/health). It follows REEFGUIDE_PORT or PORT, as the
# server does.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${REEFGUIDE_PORT:-${PORT:-5000}} && printf 'GET /api/health/live HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"]
ENTRYPOINT ["/usr/local/bin/reefguide"]
CMD ["serve"]
