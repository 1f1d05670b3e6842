# Builds the `amity` binary and runs it on a slim Debian.
#
# Dependencies are compiled in a layer of their own (cargo-chef), keyed only on the manifests
# (every Cargo.toml, Cargo.lock, .cargo/config.toml): a change to the project's own source
# rebuilds only the workspace crates, not the hundreds of crates they depend on. Plain layer
# caching: no cache mounts or other BuildKit-only features.
#
#   docker build -t amity:local .

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# cargo-chef itself, built once and cached (pinned: `cook` and `prepare` must agree).
FROM ${RUST_IMAGE} AS chef
RUN cargo install cargo-chef --version 0.1.78 --locked
WORKDIR /src

# The recipe: the workspace's manifests with the source stripped out. It changes only when a
# dependency or a manifest does, so the `cook` layer below stays cached across source edits.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
# Nothing from the build context before `cook`: its layer depends on recipe.json alone (which
# also carries .cargo/config.toml, e.g. LIBSQLITE3_FLAGS), so a fresh clone with new file
# times still finds it cached.
RUN cargo chef cook --release --locked -p amity --recipe-path recipe.json
# Now the real source (the whole context: crates/**, migrations, including files the server
# embeds at compile time). Only the workspace crates compile from here on.
COPY . .
RUN cargo build --release --locked -p amity \
    && install -m 0755 target/release/amity /usr/local/bin/amity

FROM ${RUNTIME_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/amity --shell /usr/sbin/nologin amity \
    && mkdir -p /var/lib/amity && chown amity /var/lib/amity
COPY --from=build /usr/local/bin/amity /usr/local/bin/amity
USER amity
WORKDIR /var/lib/amity
ENV AMITY_LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["amity"]
CMD ["serve"]
