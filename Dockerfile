# syntax=docker/dockerfile:1
#
# syncd container image: a static binary on distroless, running as non-root.
#
#   docker build --build-arg VERSION=v1.2.3 -t syncd:v1.2.3 .     (or: make image)
#   docker run --rm -v syncd-data:/data \
#     -e SYNCD_STREAMS=http://host.docker.internal:4437/v1/stream/chat syncd:v1.2.3
#
# Writable state: /data. The image's default database is the SQLite file
# /data/syncd.db; mount a volume there (docker) or an emptyDir/PVC (Kubernetes),
# since the rest of the filesystem is meant to be read-only. With Postgres
# (SYNCD_DATABASE_URL=postgres://...) nothing is written to disk.
# The ops endpoints (/metrics, /healthz, /readyz) listen on :9090, the default
# SYNCD_HTTP_ADDR.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# VERSION is what `syncd version` prints (make image passes `git describe`).
ARG VERSION=dev
# CGO_ENABLED=0: the SQLite driver is pure Go, so the binary is fully static
# and runs on an image without libc. -trimpath keeps build paths out of it.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/syncd ./cmd/syncd \
 && mkdir -p /out/data

# distroless/static: CA certificates (https streams, Postgres TLS), tzdata and
# /etc/passwd with the nonroot user (65532), no shell and no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="syncd" \
      org.opencontainers.image.description="Tails Durable Streams into Postgres or SQLite tables" \
      org.opencontainers.image.source="https://github.com/syncd-io/syncd" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/syncd /usr/local/bin/syncd
# /data belongs to nonroot so a fresh named volume mounted there (which copies
# the image directory's ownership) is writable without running as root.
COPY --from=build --chown=65532:65532 /out/data /data
# The binary's own default (sqlite:syncd.db, relative to the working
# directory) is not writable here; point it at the volume instead.
ENV SYNCD_DATABASE_URL=sqlite:/data/syncd.db
VOLUME ["/data"]
WORKDIR /data
EXPOSE 9090
USER nonroot:nonroot
ENTRYPOINT ["syncd"]
CMD ["run"]
