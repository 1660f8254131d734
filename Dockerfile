# elastics-sec image: one static binary on an empty base, non-root, no shell.
#
#   docker build -t elastics-sec:0.1.0 .
#
# Base images are pinned by digest. The digests below are placeholders (all zeros) because
# this repository is built and tested offline; resolve the current ones before building:
#   docker buildx imagetools inspect docker.io/library/rust:1.95.0-slim-bookworm
# and keep them updated with Renovate or Dependabot. A zero digest fails the build loudly
# rather than pulling an unpinned image.

FROM docker.io/library/rust:1.95.0-slim-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000 AS build
# musl-gcc compiles aws-lc (the TLS crypto) for the static musl target; ca-certificates
# provides the bundle copied into the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 ca-certificates=20230311+deb12u1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same script tests/dockerfile_image.rs runs and checks (static, no interpreter).
RUN scripts/build-static.sh /out

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/elastics-sec /elastics-sec
# A numeric non-root user: no /etc/passwd in scratch, and Kubernetes' runAsNonRoot can
# verify a number.
USER 65532:65532
ENTRYPOINT ["/elastics-sec"]
LABEL org.opencontainers.image.title="elastics-sec" \
      org.opencontainers.image.description="Secrets and TLS certificates into tmpfs from AWS Secrets Manager and Azure Key Vault; deployment audit for CI" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/elastics-sec/elastics-sec"
