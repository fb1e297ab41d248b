# syntax=docker/dockerfile:1.7
# The exchange image: one static binary, pg_dump/pg_restore for the backup
# subcommands, CA certificates for S3, and nothing else.

# Go matches go.work's toolchain (1.26.8); bookworm is the Debian the
# service is developed and tested on.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not refetch modules. Only the
# service module is built: GOWORK=off keeps the infra module's (large)
# dependency graph out of the image build.
COPY service/go.mod service/go.sum ./service/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd service && GOWORK=off go mod download
COPY service/ ./service/
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd service && GOWORK=off CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/crypto-exchange/exchange/service/internal/buildinfo.Version=${VERSION}" \
      -o /out/exchange ./cmd/exchange

# Alpine keeps the image small (~35 MB with the PostgreSQL client). Its
# postgresql17-client matches the PostgreSQL 17 server the platform deploys:
# pg_dump must be at least the server's major version.
FROM alpine:3.22.2 AS runtime
RUN apk add --no-cache ca-certificates tzdata postgresql17-client \
 && addgroup -S -g 65532 exchange \
 && adduser -S -D -H -u 65532 -G exchange -s /sbin/nologin exchange
COPY --from=build /out/exchange /usr/local/bin/exchange
# Non-root; the pod's securityContext also sets runAsNonRoot and a
# read-only root filesystem (scratch space is an emptyDir at /tmp).
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/exchange"]
CMD ["serve"]
