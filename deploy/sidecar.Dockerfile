# Container image of the Kafka sidecar. Build from the repository root:
#
#   docker build -f deploy/sidecar.Dockerfile -t kafka-sidecar:latest .
#
# Both stages use Debian 12, whose packages the sidecar is written against
# (librdkafka 2.0.2, gRPC 1.51, protobuf 3.21).

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      librdkafka-dev libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev libspdlog-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY proto proto
COPY sidecar sidecar
COPY clients/cpp clients/cpp
COPY examples/cpp_job examples/cpp_job
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKAFKA_SIDECAR_BUILD_TESTS=OFF \
 && cmake --build build --target kafka-sidecar -j"$(nproc)" \
 && strip build/sidecar/kafka-sidecar

FROM debian:12-slim
# Runtime libraries only; the versions match the build stage's -dev packages.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      librdkafka1 libgrpc++1.51 libprotobuf32 libabsl20220623 libspdlog1.10 libfmt9 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/sidecar/kafka-sidecar /usr/local/bin/kafka-sidecar
# OpenShift runs containers as an arbitrary UID in group 0, so the socket
# folder belongs to group 0 and is group-writable.
RUN mkdir -p /var/run/kafka-sidecar \
 && chgrp 0 /var/run/kafka-sidecar \
 && chmod 0775 /var/run/kafka-sidecar
USER 1001
ENV SIDECAR_LISTEN_UNIX=/var/run/kafka-sidecar/sidecar.sock
# SIGTERM starts the drain; the sidecar exits 0 once every stream has closed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/kafka-sidecar"]
