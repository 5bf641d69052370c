# syntax=docker/dockerfile:1

# Build a static binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/reportbot .

# Run it as a non-root user on an image with nothing else in it.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reportbot /reportbot
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/reportbot"]
