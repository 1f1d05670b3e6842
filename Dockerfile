# Builds the `amity` binary and runs it on a slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p amity

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/amity amity \
    && mkdir -p /var/lib/amity && chown amity /var/lib/amity
COPY --from=build /src/target/release/amity /usr/local/bin/amity
USER amity
WORKDIR /var/lib/amity
ENV AMITY_LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["amity"]
CMD ["serve"]
