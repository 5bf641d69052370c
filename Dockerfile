# syntax=docker/dockerfile:1

# Build a static binary, stamped with the commit of .git (reportbot version).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=auto -ldflags="-s -w" -o /out/reportbot .

# Run it as a non-root user on an image with nothing else in it (no shell, no curl:
# the healthcheck is the bot's own). The digest pins the image; the tag says which.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:b7bb25d9f7c31d2bdd1982feb4dafcaf137703c7075dbe2febb41c24212b946f
COPY --from=build /out/reportbot /reportbot
USER nonroot:nonroot
# 8080: HTTP_ADDR (interactions, sign-in, health); 9090: METRICS_ADDR, when set to it.
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=5s --retries=6 CMD ["/reportbot", "healthcheck"]
ENTRYPOINT ["/reportbot"]
