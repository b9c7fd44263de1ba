# syntax=docker/dockerfile:1
#
# sealgate container image.
#
#   docker build -t sealgate .
#   docker run --rm -p 4180:4180 -e SEALGATE__SERVER__LISTEN=0.0.0.0:4180 sealgate
#
# The image runs the repository's config/sealgate.toml (copied to
# /etc/sealgate/), which is a development configuration. In production set:
#
#   SEALGATE__MODE=production
#   SEALGATE__SERVER__LISTEN=0.0.0.0:4180        (the default 127.0.0.1 is unreachable from outside the container)
#   SEALGATE__SERVER__PUBLIC_URL=https://auth.example.com
#
# and mount the key set, the same one on every replica (production refuses to
# start without it), read-only at the path below:
#
#   -v /srv/sealgate/sealgate.jwks.json:/var/lib/sealgate/keys/sealgate.jwks.json:ro
#
# (or give the set as a secret with `[keys] jwks`; see keys/README.md). The
# bundled users file holds the demo user, which production refuses: mount your
# own over /etc/sealgate/users.toml, or set SEALGATE__CREDENTIALS__ENABLED=false.

FROM rust:1-bookworm AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# `docker build --build-arg SEALGATE_COMMIT=$(git rev-parse --short=12 HEAD) .`
# puts the commit into `sealgate --version` (the build context has no .git).
ARG SEALGATE_COMMIT=unknown
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY config ./config
COPY benches ./benches
RUN cargo build --release --locked --bin sealgate \
    && install -m 0755 target/release/sealgate /usr/local/bin/sealgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 sealgate \
    && useradd --system --uid 10001 --gid sealgate --home-dir /var/lib/sealgate --shell /usr/sbin/nologin sealgate \
    && install -d -o sealgate -g sealgate -m 0750 /var/lib/sealgate /var/lib/sealgate/keys
COPY --from=builder /usr/local/bin/sealgate /usr/local/bin/sealgate
COPY config/ /etc/sealgate/
# Relative paths in the config resolve against the working directory, so
# name the files explicitly: the users file next to the config, the key set
# under the (writable) working directory.
ENV SEALGATE__CREDENTIALS__USERS_FILE=/etc/sealgate/users.toml \
    SEALGATE__KEYS__PATH=/var/lib/sealgate/keys/sealgate.jwks.json \
    SEALGATE__STORE__PATH=/var/lib/sealgate/data/sealgate.db
WORKDIR /var/lib/sealgate
USER sealgate
EXPOSE 4180
ENTRYPOINT ["/usr/local/bin/sealgate"]
CMD ["serve", "--config", "/etc/sealgate/sealgate.toml"]
