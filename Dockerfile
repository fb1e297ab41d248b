# syntax=docker/dockerfile:1.7
# The exchange image: one static binary, pg_dump/pg_restore for the backup
# subcommands and CA certificates for S3, on a slim Debian. Why each choice
# and what it weighs: docs/delivery.md.
#
# Base images are pinned to exact versions written out in FROM, where
# Dependabot (docker ecosystem) finds and bumps them; digests are not pinned
# because none could be verified where this was written (docs/delivery.md).

# Go matches go.work's toolchain (1.26.8); bookworm is the Debian the
# service is developed and tested on.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Only the service module is built: GOWORK=off keeps the infra module's
# (large) dependency graph out of the image build. GOTOOLCHAIN=local builds
# with exactly this image's Go and never downloads another toolchain.
ENV CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN=local
# Dependencies first, so a source change does not refetch modules.
COPY service/go.mod service/go.sum ./service/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd service && go mod download && go mod verify
COPY service/ ./service/
# The deploy workflow passes the commit SHA; it is what `exchange` reports
# as its version (buildinfo.Version).
ARG VERSION=dev
# Reproducible: no file-system paths (-trimpath), no VCS stamp (the build
# context has no .git anyway), stripped symbols, the version from ldflags.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd service && go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X github.com/crypto-exchange/exchange/service/internal/buildinfo.Version=${VERSION}" \
      -o /out/exchange ./cmd/exchange

# Debian 13 (trixie), slim. pg_dump must be at least the server's major
# version and pg_restore must read what it writes: PG_MAJOR is the major of
# the PostgreSQL the platform deploys (the Bitnami 17.6.0 and CloudNativePG
# 17.6 images; a test keeps them equal). Debian 13's PostgreSQL is 17; within
# a release Debian ships only its patch and security updates. Debian rather
# than Alpine: the end-to-end test builds this very image where Debian's
# archive is reachable and no Alpine mirror is (docs/delivery.md, with what
# it costs: 174 MB against Alpine's estimated 44). No tzdata: the service
# works in UTC and loads no zones, and pg_dump leaves time zones to the
# server.
FROM debian:13.8-slim AS runtime
ARG PG_MAJOR=17
# --no-install-recommends keeps it to the client and what it links (plus
# the Perl that Debian's pg_wrapper scripts need: the package requires it).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates "postgresql-client-${PG_MAJOR}" \
 && rm -rf /var/lib/apt/lists/* \
 && "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_dump" --version | grep -q " ${PG_MAJOR}\." \
 && "/usr/lib/postgresql/${PG_MAJOR}/bin/pg_restore" --version | grep -q " ${PG_MAJOR}\." \
 && groupadd --gid 65532 exchange \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin exchange
# The backup commands run this directory's pg_dump/pg_restore, whatever else
# ends up on PATH (Debian's /usr/bin/pg_dump is a wrapper that picks a
# version).
ENV BACKUP_PG_BIN_DIR=/usr/lib/postgresql/${PG_MAJOR}/bin
COPY --from=build /out/exchange /usr/local/bin/exchange
# Non-root; the pod's securityContext also sets runAsNonRoot and a
# read-only root filesystem (scratch space is an emptyDir at /tmp).
USER 65532:65532
# 8080: the API and the site; 9090: metrics and the replicas' internal door.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/exchange"]
CMD ["serve"]
