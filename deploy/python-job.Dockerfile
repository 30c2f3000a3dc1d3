# Container image of a Python (DataPy) job using the Kafka sidecar, here the
# orders job. Build from the repository root:
#
#   docker build -f deploy/python-job.Dockerfile -t orders-job:latest .
#
# For another job, replace the COPY of examples/orders_job and the CMD.

FROM debian:12-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
COPY proto /src/proto
COPY clients/python /src/clients/python
# The client's build step generates its gRPC stubs from proto/ (grpcio-tools).
RUN /opt/venv/bin/pip install --no-cache-dir /src/clients/python duckdb

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
COPY examples/orders_job /app
# The job's DuckDB file lives here; mount a volume to keep it.
RUN mkdir -p /data && chgrp 0 /data && chmod 0775 /data
WORKDIR /app
USER 1001
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    KAFKA_SIDECAR_ADDRESS=unix:///var/run/kafka-sidecar/sidecar.sock
# The job's StreamController turns SIGTERM into a clean stop: the current
# message finishes, its ack reaches the sidecar, and the stream closes.
STOPSIGNAL SIGTERM
CMD ["python3", "orders_job.py", "--context", "/app/context.json"]
