# scorehost container image: build stage with the pinned toolchain, small non-root runtime.
#   docker build -t scorehost .
#   docker run -p 5001:5001 -v $PWD/models:/mnt/models:ro \
#     -v $PWD/deployments.toml:/etc/scorehost/deployments.toml:ro scorehost
# Entry scripts (.wasm) and models are not baked in: mount them (deploy/kubernetes/ does).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# rust-toolchain.toml pins 1.95.0; the release build compiles the server only.
RUN cargo build --release --locked -p scorehost --bin scorehost \
    && strip target/release/scorehost

FROM debian:bookworm-slim
# ca-certificates: none needed (no outbound TLS); tini-like init not needed: scorehost
# handles SIGTERM itself (stops accepting, finishes requests under way, exits 0).
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin scorehost \
    && mkdir -p /var/cache/scorehost \
    && chown 10001:10001 /var/cache/scorehost
COPY --from=build /src/target/release/scorehost /usr/local/bin/scorehost
USER 10001:10001
ENV SCOREHOST_CACHE_DIR=/var/cache/scorehost
# 5001: scoring (as the Azure ML server); 9090: /metrics for the scraper.
EXPOSE 5001 9090
ENTRYPOINT ["/usr/local/bin/scorehost", "serve"]
CMD ["--config", "/etc/scorehost/deployments.toml", "--addr", "0.0.0.0:5001", "--metrics-addr", "0.0.0.0:9090", "--log-format", "json"]
