# syntax=docker/dockerfile:1
# One image per program, from one file:
#   docker build --target time-service -t chrono/time-service:0.1.0 .
#   docker build --target date-service -t chrono/date-service:0.1.0 .
#   docker build --target client       -t chrono/client:0.1.0 .
# tests/deploy checks this file against the code (ports, flags, health checks) and
# builds and runs the same wheel the same way, since CI has no Docker engine.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel is built from, so that an edit to tests or docs keeps the cache.
COPY pyproject.toml README.md ./
COPY generated/ generated/
COPY chrono_domain/ chrono_domain/
COPY chrono_server/ chrono_server/
COPY time_service/ time_service/
COPY date_service/ date_service/
COPY client/ client/
RUN pip wheel --no-deps --wheel-dir /wheels .
# A venv without pip: the runtime image gets chrono and its runtime dependencies, no
# installer and none of the dev tools.
RUN python -m venv --without-pip /opt/chrono \
 && pip --python /opt/chrono/bin/python install /wheels/chrono-*.whl

FROM ${PYTHON_IMAGE} AS runtime
# A fixed uid, so that Kubernetes' runAsNonRoot can check it and mounted secrets can be
# given to it; no home and no shell, as nothing logs in.
RUN groupadd --system --gid 10001 chrono \
 && useradd --system --uid 10001 --gid chrono --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin chrono
COPY --from=builder /opt/chrono /opt/chrono
# Python caches no bytecode and the time service writes nothing, so the root filesystem
# can be mounted read-only; the date service writes only to its volume (below).
ENV PATH=/opt/chrono/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /
# Numeric, because Kubernetes cannot verify runAsNonRoot against a user name.
USER 10001:10001
# The servers drain on SIGTERM: NOT_SERVING, end watches, finish calls for --grace s.
STOPSIGNAL SIGTERM

FROM runtime AS time-service
# 9091 serves /metrics when --metrics-port 9091 is passed (compose and Kubernetes do).
EXPOSE 50051 9091
HEALTHCHECK --interval=10s --timeout=10s --start-period=10s --retries=3 \
    CMD ["chrono", "health", "time", "--time-target", "127.0.0.1:50051"]
# The default host is loopback, unreachable from outside the container.
ENTRYPOINT ["time-service", "--host", "0.0.0.0"]

FROM runtime AS date-service
# Custom calendars: with no --database (DATE_SERVICE_DATABASE), an SQLite file at
# $XDG_STATE_HOME/chrono/date-service.db, so /var/lib/chrono/date-service.db here. That
# folder, owned by the uid, is the one place it may write on a read-only root, and a
# volume so that the calendars outlive the container. It suits one container only:
# replicas must share one PostgreSQL instead (deploy/README.md).
USER root
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/chrono
USER 10001:10001
ENV XDG_STATE_HOME=/var/lib
VOLUME ["/var/lib/chrono"]
EXPOSE 50052 9092
HEALTHCHECK --interval=10s --timeout=10s --start-period=10s --retries=3 \
    CMD ["chrono", "health", "date", "--date-target", "127.0.0.1:50052"]
ENTRYPOINT ["date-service", "--host", "0.0.0.0"]

FROM runtime AS client
ENTRYPOINT ["chrono"]
