# syntax=docker/dockerfile:1
# keepclear: a static binary with the dashboard embedded, on a distroless,
# non-root base. Build: docker build -t keepclear .
# Run:   docker run -p 8080:8080 -v keepclear:/data keepclear
#        (PostgreSQL: -e KEEPCLEAR_DB=postgres://user:pass@host/db -e KEEPCLEAR_SECRET=…)

# 1. The dashboard's map libraries, from npm.
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev
COPY web/build.mjs ./
RUN npm run build

# 2. The Go binary, embedding the dashboard and the IANA tz database
#    (internal/tzdb/zoneinfo.zip, committed: the build needs no newer Go and
#    the image's own zoneinfo is never read unless --tzdata system).
#    The image's Go matches go.mod's go line.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/static/vendor ./web/static/vendor
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/keepclear ./cmd/keepclear \
 && mkdir -p /out/data

# 3. The image: the binary, the sample sites, a data volume owned by nonroot.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/keepclear /usr/local/bin/keepclear
COPY --from=build /src/fixtures/sites.geojson /app/fixtures/sites.geojson
COPY --from=build --chown=65532:65532 /out/data /data
ENV KEEPCLEAR_ADDR=0.0.0.0:8080 \
    KEEPCLEAR_DB=/data/keepclear.db \
    KEEPCLEAR_SITES=/app/fixtures/sites.geojson
VOLUME /data
EXPOSE 8080
USER nonroot:nonroot
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/keepclear", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/keepclear"]
CMD ["serve"]
