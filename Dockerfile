# One image per cell: `docker build --build-arg CELL=suite -t suite .` (CELL: an app under apps/).
# The build stage compiles the cell with the pinned toolchain; the image is distroless (glibc and
# CA certificates, no shell), runs as the non-root user 65532, and writes only to /data (run it
# with a read-only root filesystem: `docker run --read-only -v cell-data:/data …`).
#
# The contract below (user, environment, port, data directory, entrypoint, health check) is
# tested without a container engine by apps/suite/tests/cell.rs
# (`the_image_contract_holds_for_the_binary`), which runs the binary as this file says.

ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-bookworm AS build
ARG CELL=suite
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p "${CELL}" && cp "target/release/${CELL}" /cell && mkdir /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /cell /cell
# The image has no shell to mkdir with: an empty /data owned by the cell's user, so a volume
# mounted there (Docker copies an image directory's owner to a new volume) is writable.
COPY --from=build --chown=65532:65532 /data /data
ENV CELL__CELL__DATA_DIR=/data CELL__HTTP__BIND=0.0.0.0 CELL__HTTP__PORT=8080 CELL__TELEMETRY__LOG_FORMAT=json
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["/cell", "health"]
ENTRYPOINT ["/cell"]
CMD ["serve"]
